package meta

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
)

// Default send rates, from Meta's documented throughput of the WhatsApp
// Cloud API, the Messenger Send API and the Instagram messaging API.
const (
	// DefaultWhatsAppRate is a registered business number's default
	// throughput, in messages per second.
	DefaultWhatsAppRate = 80
	// DefaultMessengerRate is the Send API limit per Page, in calls per
	// second, for text, links, reactions and stickers.
	DefaultMessengerRate = 300
	// DefaultInstagramRate is the Send API limit per Instagram
	// professional account, in calls per second.
	DefaultInstagramRate = 300
	// DefaultHeavyMediaRate is the Messenger (and, unconfirmed, Instagram)
	// limit for audio and video sends, in calls per second.
	DefaultHeavyMediaRate = 10
	// DefaultPairInterval is WhatsApp's pair rate: one message per 6 s to
	// the same user.
	DefaultPairInterval = 6 * time.Second
	// DefaultPairBurst is how many messages WhatsApp lets a business send
	// to one user in a burst.
	DefaultPairBurst = 45
)

// RateLimits sets the token buckets of a RateLimiter. Rates are tokens
// per second and a bucket holds one second's worth (at least one token).
// Zero means the documented default; a negative value turns that limit
// off.
type RateLimits struct {
	// WhatsApp is the per phone number rate; zero means 80/s. Numbers
	// shared with the WhatsApp Business app are limited to 20/s and
	// upgraded ones to 1000/s by Meta.
	WhatsApp float64
	// Messenger is the per Page rate; zero means 300/s.
	Messenger float64
	// Instagram is the per account rate; zero means 300/s.
	Instagram float64
	// HeavyMedia is the per Page or Instagram account rate for audio and
	// video sends; zero means 10/s.
	HeavyMedia float64
	// PairInterval is how often WhatsApp lets a business message one
	// user once the burst is spent; zero means 6 s.
	PairInterval time.Duration
	// PairBurst is the WhatsApp per-user burst; zero means 45.
	PairBurst int
}

func (l RateLimits) withDefaults() RateLimits {
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	deff(&l.WhatsApp, DefaultWhatsAppRate)
	deff(&l.Messenger, DefaultMessengerRate)
	deff(&l.Instagram, DefaultInstagramRate)
	deff(&l.HeavyMedia, DefaultHeavyMediaRate)
	if l.PairInterval == 0 {
		l.PairInterval = DefaultPairInterval
	}
	if l.PairBurst == 0 {
		l.PairBurst = DefaultPairBurst
	}
	return l
}

// LimitKey names the account a bucket belongs to: a WhatsApp
// phone_number_id, a Messenger Page id or an Instagram account id.
type LimitKey struct {
	Channel engine.Channel
	Account string
}

// SendClass says which of an account's buckets a send draws from.
type SendClass uint8

// Send classes.
const (
	// SendStandard is text, links, reactions, stickers, images and
	// documents.
	SendStandard SendClass = iota
	// SendHeavyMedia is audio and video on Messenger and Instagram. On
	// WhatsApp it counts as SendStandard.
	SendHeavyMedia
)

// ClassOf returns the send class of content of kind k on channel ch.
func ClassOf(ch engine.Channel, k engine.MessageKind) SendClass {
	if ch != engine.ChannelWhatsApp && (k == engine.KindAudio || k == engine.KindVideo) {
		return SendHeavyMedia
	}
	return SendStandard
}

// pairSweepEvery is how often (in clock time) WaitPair drops the buckets
// of recipients that are back to a full burst.
const pairSweepEvery = time.Minute

// RateLimiter keeps a token bucket per (channel, account, class) and, for
// WhatsApp, one per (phone number, recipient). Waiters reserve a token and
// sleep on the injected clock until it is due; a waiter whose context
// ends gives its token back. It is safe for concurrent use.
type RateLimiter struct {
	clock  clockwork.Clock
	limits RateLimits
	// accountRate, when set, gives an account its own standard rate
	// (>0), such as a WhatsApp number upgraded to 1000/s (its messaging
	// tier: SetAccountRates).
	accountRate atomic.Pointer[func(LimitKey) float64]

	// mu guards the bucket maps and the sweep time.
	mu struct {
		sync.Mutex
		accounts  map[accountBucketKey]*tokenBucket
		pairs     map[pairKey]*tokenBucket
		lastSweep time.Time
	}
}

type accountBucketKey struct {
	LimitKey
	class SendClass
}

type pairKey struct {
	account, recipient string
}

// NewRateLimiter returns a limiter with limits (zero fields mean the
// defaults) on clock (nil means the real clock).
func NewRateLimiter(clock clockwork.Clock, limits RateLimits) *RateLimiter {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	l := &RateLimiter{clock: clock, limits: limits.withDefaults()}
	l.mu.accounts = make(map[accountBucketKey]*tokenBucket)
	l.mu.pairs = make(map[pairKey]*tokenBucket)
	l.mu.lastSweep = clock.Now()
	return l
}

// Wait blocks until the account named by key may make one send of class,
// or ctx ends (returning ctx.Err(), also when it had ended before the
// call). Channels and limits turned off return at once.
func (l *RateLimiter) Wait(ctx context.Context, key LimitKey, class SendClass) error {
	if key.Channel == engine.ChannelWhatsApp {
		class = SendStandard
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rate := l.rate(key.Channel, class)
	if f := l.accountRate.Load(); f != nil && class == SendStandard {
		if r := (*f)(key); r > 0 {
			rate = r
		}
	}
	if rate <= 0 {
		return nil
	}
	now := l.clock.Now()
	l.mu.Lock()
	k := accountBucketKey{key, class}
	b := l.mu.accounts[k]
	if b == nil {
		b = newTokenBucket(rate, max(rate, 1), now)
		l.mu.accounts[k] = b
	} else if b.rate != rate {
		b.refillLocked(now)
		b.rate, b.burst = rate, max(rate, 1)
	}
	wait := b.reserveLocked(now)
	l.mu.Unlock()
	return l.sleep(ctx, b, wait)
}

// SetAccountRates gives accounts their own standard send rate: f
// returns it (messages per second) for an account, or 0 for the
// channel's configured rate.
func (l *RateLimiter) SetAccountRates(f func(LimitKey) float64) { l.accountRate.Store(&f) }

// WaitPair blocks until the WhatsApp phone number account may send one
// more message to recipient (the pair rate limit), or ctx ends.
func (l *RateLimiter) WaitPair(ctx context.Context, account, recipient string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.limits.PairInterval <= 0 || l.limits.PairBurst <= 0 {
		return nil
	}
	now := l.clock.Now()
	l.mu.Lock()
	if now.Sub(l.mu.lastSweep) >= pairSweepEvery {
		l.sweepPairsLocked(now)
	}
	k := pairKey{account, recipient}
	b := l.mu.pairs[k]
	if b == nil {
		b = newTokenBucket(1/l.limits.PairInterval.Seconds(), float64(l.limits.PairBurst), now)
		l.mu.pairs[k] = b
	}
	wait := b.reserveLocked(now)
	l.mu.Unlock()
	return l.sleep(ctx, b, wait)
}

func (l *RateLimiter) rate(ch engine.Channel, class SendClass) float64 {
	if class == SendHeavyMedia {
		return l.limits.HeavyMedia
	}
	switch ch {
	case engine.ChannelWhatsApp:
		return l.limits.WhatsApp
	case engine.ChannelMessenger:
		return l.limits.Messenger
	case engine.ChannelInstagram:
		return l.limits.Instagram
	}
	return 0
}

// sleep waits out a reservation. If ctx ends first the token goes back to
// b.
func (l *RateLimiter) sleep(ctx context.Context, b *tokenBucket, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	t := l.clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		b.cancelLocked(l.clock.Now())
		l.mu.Unlock()
		return ctx.Err()
	}
}

// sweepPairsLocked forgets pair buckets that have refilled to a full
// burst: a fresh bucket would behave the same.
func (l *RateLimiter) sweepPairsLocked(now time.Time) {
	l.mu.lastSweep = now
	for k, b := range l.mu.pairs {
		if b.fullLocked(now) {
			delete(l.mu.pairs, k)
		}
	}
}

// tokenBucket is a token bucket; it may go negative, which records the
// reservations of waiters. Its fields are guarded by RateLimiter.mu.
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst float64, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *tokenBucket) refillLocked(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// reserveLocked takes a token and returns how long until it is due.
func (b *tokenBucket) reserveLocked(now time.Time) time.Duration {
	b.refillLocked(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-b.tokens / b.rate * float64(time.Second)))
}

// cancelLocked gives back a reserved token that was not used.
func (b *tokenBucket) cancelLocked(now time.Time) {
	b.refillLocked(now)
	b.tokens = min(b.burst, b.tokens+1)
}

func (b *tokenBucket) fullLocked(now time.Time) bool {
	b.refillLocked(now)
	return b.tokens >= b.burst
}
