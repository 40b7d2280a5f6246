package channels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/prometheus/client_golang/prometheus"
)

// Names of Messenger and Instagram senders come from the channels' user
// profile APIs: their webhooks carry only the sender's id. After an
// inbound message from an unnamed contact is committed, the webhook
// handler queues a lookup (never waiting for it); a few workers ask the
// Graph API and hand the name to the runtime as a rename of the
// conversation and its contact. Answers are cached per (channel, account,
// user), so a busy sender costs one Graph call per ProfileTTL.
const (
	// DefaultProfileWorkers bounds concurrent profile lookups.
	DefaultProfileWorkers = 2
	// DefaultProfileTTL is how long a profile answer (a name, or none:
	// no consent, no permission, an unknown user) is kept.
	DefaultProfileTTL = 24 * time.Hour
	// profileQueueLen bounds the lookups waiting for a worker; more are
	// dropped (and asked for again at the sender's next message).
	profileQueueLen = 1024
	// profileCacheMax bounds the cached answers.
	profileCacheMax = 100_000
	// profileRetryMin and profileRetryMax bound the wait before a lookup
	// that failed for a transient reason is tried again (doubling).
	profileRetryMin = time.Minute
	profileRetryMax = time.Hour
	// profileRatePause is how long an account that hit a rate limit gets
	// no lookups; profileTokenPause the same after its token was refused
	// (every user of the account would get the same answer).
	profileRatePause  = 5 * time.Minute
	profileTokenPause = time.Hour
	// profileCallTimeout bounds one Graph call and one rename.
	profileCallTimeout = 15 * time.Second
)

// Values of parley_profile_lookups_total's result label.
const (
	profileFound       = "found"        // Graph gave a name
	profileNoName      = "no_name"      // Graph answered with no name
	profileCached      = "cached"       // a cached name, no Graph call
	profileDenied      = "denied"       // a permanent error: consent, permission, token, unknown user
	profileRateLimited = "rate_limited" // a rate limit: the account pauses
	profileFailed      = "failed"       // a transient error: retried after a backoff
	profileDropped     = "dropped"      // the queue was full
)

// profileKey names one user of one channel account.
type profileKey struct {
	ch            engine.Channel
	account, user string
}

// profileEntry is what is known of a user's profile.
type profileEntry struct {
	pending bool      // a lookup is queued or running
	known   bool      // Graph answered (name may be empty) until until
	name    string    // the display name, when known and not empty
	until   time.Time // known: expiry; otherwise: no lookup before
	fails   int       // transient failures in a row
}

// profileJob is one lookup (or, with name set, one cached name to give).
type profileJob struct {
	ws, conv engine.ID
	key      profileKey
	name     string
}

// Renamer names a conversation's contact from its channel profile
// (actors.Runtime.RenameFromProfile).
type Renamer interface {
	RenameFromProfile(ctx context.Context, ws, conv engine.ID, name string) (engine.Contact, bool, error)
}

// ProfilesConfig configures a Profiles pool. Renamer, Graph, Accounts and
// Clock are required.
type ProfilesConfig struct {
	// Renamer receives the names found (the runtime).
	Renamer Renamer
	// Graph asks the user profile APIs.
	Graph *meta.Client
	// Accounts gives each account's access token.
	Accounts Accounts
	// Clock dates cache entries, backoffs and pauses (the runtime's).
	Clock clockwork.Clock
	// Workers bounds concurrent lookups; zero means
	// DefaultProfileWorkers.
	Workers int
	// TTL is how long an answer is cached; zero means DefaultProfileTTL.
	TTL time.Duration
	// Logger receives failed lookups; nil discards them.
	Logger *slog.Logger
	// Registerer receives parley_profile_lookups_total; nil registers
	// none.
	Registerer prometheus.Registerer
}

// Profiles is the bounded pool of profile lookups and their cache.
// NewProfiles starts nothing; Start starts the workers and Shutdown stops
// them. Want may be called before Start: lookups wait in the queue.
type Profiles struct {
	log      *slog.Logger
	rt       Renamer
	graph    *meta.Client
	accounts Accounts
	clock    clockwork.Clock
	ttl      time.Duration
	workers  int
	jobs     chan profileJob
	lookups  *prometheus.CounterVec

	mu     sync.Mutex
	cache  map[profileKey]*profileEntry
	paused map[profileKey]time.Time // by account (user empty): no lookups before

	runMu   sync.Mutex // guards started, stopped, cancel
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewProfiles returns a pool and registers its metric; it starts nothing.
func NewProfiles(cfg ProfilesConfig) (*Profiles, error) {
	switch {
	case cfg.Renamer == nil:
		return nil, errors.New("channels: ProfilesConfig.Renamer is required")
	case cfg.Graph == nil:
		return nil, errors.New("channels: ProfilesConfig.Graph is required")
	case cfg.Accounts == nil:
		return nil, errors.New("channels: ProfilesConfig.Accounts is required")
	case cfg.Clock == nil:
		return nil, errors.New("channels: ProfilesConfig.Clock is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultProfileWorkers
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultProfileTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Profiles{log: cfg.Logger, rt: cfg.Renamer, graph: cfg.Graph, accounts: cfg.Accounts, clock: cfg.Clock,
		ttl: cfg.TTL, workers: cfg.Workers, jobs: make(chan profileJob, profileQueueLen),
		cache: map[profileKey]*profileEntry{}, paused: map[profileKey]time.Time{},
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_profile_lookups_total",
			Help: "Messenger and Instagram sender names looked up in the channels' user profile APIs, by channel and result.",
		}, []string{"channel", "result"}),
	}
	for _, ch := range []engine.Channel{engine.ChannelMessenger, engine.ChannelInstagram} {
		for _, r := range []string{profileFound, profileNoName, profileCached, profileDenied, profileRateLimited, profileFailed, profileDropped} {
			p.lookups.WithLabelValues(string(ch), r)
		}
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(p.lookups); err != nil {
			return nil, fmt.Errorf("channels: registering metrics: %w", err)
		}
	}
	return p, nil
}

// hasProfileAPI reports whether the channel has a user profile API the
// gateway asks.
func hasProfileAPI(ch engine.Channel) bool {
	return ch == engine.ChannelMessenger || ch == engine.ChannelInstagram
}

// Want is called after the inbound message in has been committed to
// conversation conv whose contact is unnamed (actors.Unnamed: the caller
// checks): for a Messenger or Instagram sender it queues a lookup, unless
// one is on its way, the answer is cached, or the account is paused. It
// never blocks.
func (p *Profiles) Want(in *engine.Inbound, conv engine.ID) {
	if !hasProfileAPI(in.Channel) || in.Echo {
		return
	}
	key := profileKey{in.Channel, in.ChannelAccountID, in.ExternalUserID}
	job := profileJob{ws: in.WorkspaceID, conv: conv, key: key}
	now := p.clock.Now()
	p.mu.Lock()
	e := p.cache[key]
	switch {
	case e != nil && e.pending:
		p.mu.Unlock()
		return
	case e != nil && now.Before(e.until):
		p.mu.Unlock()
		if e.known && e.name != "" {
			// Named before, but this conversation is not (the rename
			// failed, or it is a new conversation): give the name again.
			job.name = e.name
			p.enqueue(job, nil)
		}
		return
	case now.Before(p.paused[profileKey{ch: key.ch, account: key.account}]):
		p.mu.Unlock()
		return
	}
	if e == nil {
		p.evictLocked(now)
		e = &profileEntry{}
		p.cache[key] = e
	}
	e.pending = true
	p.mu.Unlock()
	p.enqueue(job, e)
}

// enqueue queues job without waiting; when the queue is full the job is
// dropped and e (the entry it was pending on, if any) is released.
func (p *Profiles) enqueue(job profileJob, e *profileEntry) {
	select {
	case p.jobs <- job:
	default:
		p.lookups.WithLabelValues(string(job.key.ch), profileDropped).Inc()
		if e != nil {
			p.mu.Lock()
			e.pending = false
			p.mu.Unlock()
		}
	}
}

// evictLocked makes room for one more entry: it drops expired ones, and
// if none had expired, some others (a dropped answer costs one more
// Graph call at the user's next message).
func (p *Profiles) evictLocked(now time.Time) {
	if len(p.cache) < profileCacheMax {
		return
	}
	for k, e := range p.cache {
		if !e.pending && !now.Before(e.until) {
			delete(p.cache, k)
		}
	}
	for k, e := range p.cache {
		if len(p.cache) < profileCacheMax*9/10 {
			break
		}
		if !e.pending {
			delete(p.cache, k)
		}
	}
	for k, until := range p.paused {
		if !now.Before(until) {
			delete(p.paused, k)
		}
	}
}

// Start starts the workers. Calling it again, or after Shutdown, does
// nothing.
func (p *Profiles) Start() {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if p.started || p.stopped {
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for range p.workers {
		p.wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("parley", "profiles"), func(ctx context.Context) {
			defer p.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-p.jobs:
					p.run(ctx, j)
				}
			}
		})
	}
}

// Shutdown stops the workers and waits for them to end; lookups still
// queued are dropped (asked for again at the sender's next message). Safe
// to call more than once, and without Start.
func (p *Profiles) Shutdown() {
	p.runMu.Lock()
	p.stopped = true
	cancel := p.cancel
	p.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
}

// run does one job: a lookup (unless it carries a cached name), then the
// rename.
func (p *Profiles) run(ctx context.Context, j profileJob) {
	ch := string(j.key.ch)
	name := j.name
	if name != "" {
		p.lookups.WithLabelValues(ch, profileCached).Inc()
	} else {
		var ok bool
		if name, ok = p.lookup(ctx, j.key); !ok || name == "" {
			return
		}
	}
	rctx, cancel := context.WithTimeout(ctx, profileCallTimeout)
	defer cancel()
	if _, _, err := p.rt.RenameFromProfile(rctx, j.ws, j.conv, name); err != nil {
		// The name stays cached: the sender's next message gives it again.
		p.log.Warn("Naming a contact from its profile failed", "channel", ch, "conversation", j.conv, "err", err)
	}
}

// lookup asks the Graph API for key's profile and caches the answer. ok
// is false when there was none to have (the account is gone, or the call
// failed).
func (p *Profiles) lookup(ctx context.Context, key profileKey) (name string, ok bool) {
	ch := string(key.ch)
	acct, found := p.accounts.Get(key.ch, key.account)
	if !found {
		p.settle(key, func(e *profileEntry, now time.Time) { e.until = now.Add(profileRetryMin) })
		return "", false
	}
	cctx, cancel := context.WithTimeout(ctx, profileCallTimeout)
	defer cancel()
	prof, err := p.graph.FetchProfile(cctx, key.ch, acct.AccessToken, key.user)
	if err == nil {
		name = prof.DisplayName()
		result := profileFound
		if name == "" {
			result = profileNoName
		}
		p.lookups.WithLabelValues(ch, result).Inc()
		p.settle(key, func(e *profileEntry, now time.Time) {
			e.known, e.name, e.until, e.fails = true, name, now.Add(p.ttl), 0
		})
		return name, true
	}
	if ctx.Err() != nil {
		p.settle(key, func(*profileEntry, time.Time) {}) // shutting down: ask again next time
		return "", false
	}
	kind := meta.ProfileErrorKind(err)
	p.log.Warn("Looking up a sender's profile failed", "channel", ch, "account", key.account, "user", key.user,
		"kind", kind, "err", err)
	switch kind {
	case meta.ProfilePermanent:
		p.lookups.WithLabelValues(ch, profileDenied).Inc()
		p.settle(key, func(e *profileEntry, now time.Time) {
			e.known, e.name, e.until, e.fails = true, "", now.Add(p.ttl), 0
			if meta.IsTokenError(err) {
				p.paused[profileKey{ch: key.ch, account: key.account}] = now.Add(profileTokenPause)
			}
		})
	case meta.ProfileRateLimited:
		p.lookups.WithLabelValues(ch, profileRateLimited).Inc()
		p.settle(key, func(e *profileEntry, now time.Time) {
			e.until = now.Add(p.backoff(e))
			p.paused[profileKey{ch: key.ch, account: key.account}] = now.Add(profileRatePause)
		})
	default:
		p.lookups.WithLabelValues(ch, profileFailed).Inc()
		p.settle(key, func(e *profileEntry, now time.Time) { e.until = now.Add(p.backoff(e)) })
	}
	return "", false
}

// backoff counts one more transient failure of e and returns the wait
// before the next try: profileRetryMin doubling up to profileRetryMax.
func (p *Profiles) backoff(e *profileEntry) time.Duration {
	e.fails++
	d := profileRetryMin
	for i := 1; i < e.fails && d < profileRetryMax; i++ {
		d *= 2
	}
	return min(d, profileRetryMax)
}

// settle ends key's pending lookup, with f updating its entry under the
// lock.
func (p *Profiles) settle(key profileKey, f func(e *profileEntry, now time.Time)) {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.cache[key]
	if e == nil {
		e = &profileEntry{}
		p.cache[key] = e
	}
	e.pending = false
	f(e, now)
}
