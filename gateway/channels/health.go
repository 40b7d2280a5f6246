package channels

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Channel health (docs/ARCHITECTURE.md, "Channel health"): each channel
// account has a health record of its own, written only by the Health
// monitor's loop goroutine. Checks run in a bounded pool of workers, each
// a cheap call through the account's channel's HealthChecker; sends
// report what they reveal (Report). A change is committed in one batch
// and published as a channel.health event after the commit.
const (
	// DefaultHealthInterval is how often every account is checked.
	DefaultHealthInterval = 10 * time.Minute
	// DefaultHealthWorkers bounds concurrent checks.
	DefaultHealthWorkers = 2
	// healthCheckTimeout bounds one check.
	healthCheckTimeout = 15 * time.Second
	// healthQueueLen bounds the checks waiting for a worker; more are
	// dropped (the next pass asks again).
	healthQueueLen = 1024
	// healthReportQueueLen bounds the send reports waiting for the loop;
	// more are dropped.
	healthReportQueueLen = 256
	// healthRecheckAfter is how long after the last check a send's
	// transient failure asks for another.
	healthRecheckAfter = time.Minute
)

// HealthChecker checks one account of a channel. A channel (the Meta
// ones today; email or the web chat later) implements it and is named in
// HealthConfig.Checkers. Check returns the account's state with a reason
// and the channel's code; it must end when ctx does.
type HealthChecker interface {
	Check(ctx context.Context, acct engine.ChannelAccount) engine.HealthResult
}

// MetaChecker checks WhatsApp, Messenger and Instagram accounts with one
// cheap Graph read of the account's node (meta.Client.CheckAccount),
// classified by meta.HealthOf.
type MetaChecker struct {
	Graph *meta.Client
}

// Check implements HealthChecker.
func (m MetaChecker) Check(ctx context.Context, acct engine.ChannelAccount) engine.HealthResult {
	return meta.HealthOf(m.Graph.CheckAccount(ctx, acct.Channel, acct.AccountID, acct.AccessToken))
}

// HealthAccounts gives the monitor the connected accounts (the gateway's
// account registry).
type HealthAccounts interface {
	Get(ch engine.Channel, id string) (engine.ChannelAccount, bool)
	All() []engine.ChannelAccount
}

// Publisher receives the events of committed changes (the runtime's
// broadcaster).
type Publisher interface {
	Publish(events []engine.Event)
}

// HealthConfig configures a Health monitor. Store, Accounts, Publisher
// and Clock are required.
type HealthConfig struct {
	Store     *persistence.Store
	Accounts  HealthAccounts
	Publisher Publisher
	// Checkers checks accounts by channel; a channel without one is
	// never checked (it stays unknown unless its sends report).
	Checkers map[engine.Channel]HealthChecker
	// Clock drives the periodic checks and dates the records (the
	// runtime's).
	Clock clockwork.Clock
	// Interval is how often every account is checked; zero means
	// DefaultHealthInterval. Negative turns the monitor's own work off:
	// no checks at start, on a schedule or when an account changes, and
	// send reports are ignored; CheckNow still checks.
	Interval time.Duration
	// Workers bounds concurrent checks; zero means DefaultHealthWorkers.
	Workers int
	// Logger receives state changes and failed writes; nil discards them.
	Logger *slog.Logger
	// Registerer receives parley_channel_accounts and
	// parley_channel_health_checks_total; nil registers none.
	Registerer prometheus.Registerer
}

// HealthView is an account's health as the API and the channel.health
// event show it.
type HealthView struct {
	State  engine.HealthState `json:"state"`
	Reason string             `json:"reason"`
	Code   string             `json:"code"`
	// Since and CheckedAt are null while the account was never checked.
	Since     *time.Time `json:"since"`
	CheckedAt *time.Time `json:"checked_at"`
}

// ViewHealth shows h (the zero record shows unknown).
func ViewHealth(h engine.ChannelHealth) HealthView {
	v := HealthView{State: h.State, Reason: h.Reason, Code: h.Code}
	if v.State == "" {
		v.State = engine.HealthUnknown
	}
	if !h.Since.IsZero() {
		t := h.Since.UTC()
		v.Since = &t
	}
	if !h.CheckedAt.IsZero() {
		t := h.CheckedAt.UTC()
		v.CheckedAt = &t
	}
	return v
}

// HealthEvent is the data of a channel.health event.
type HealthEvent struct {
	Channel   engine.Channel `json:"channel"`
	AccountID string         `json:"account_id"`
	Health    HealthView     `json:"health"`
}

// ErrHealthStopped is returned by CheckNow when the monitor is not
// running.
var ErrHealthStopped = errors.New("channels: the health monitor is not running")

type healthKey struct {
	ch engine.Channel
	id string
}

// healthJob is one check for a worker.
type healthJob struct {
	acct engine.ChannelAccount
}

// healthResult is a check's or a send's verdict for the loop.
type healthResult struct {
	key  healthKey
	acct engine.ChannelAccount
	r    engine.HealthResult
	// ok is false for a send that said nothing definite: the loop may
	// ask for a check instead.
	ok bool
	// fromSend marks a send's report.
	fromSend bool
}

// healthRequest asks the loop for a check (done, if set, gets the
// record after it), or, with gone set, tells it an account was
// disconnected.
type healthRequest struct {
	key  healthKey
	done chan engine.ChannelHealth
	gone bool
}

// Health is the channel health monitor. NewHealth starts nothing; Start
// starts the loop and the workers and Shutdown stops them.
type Health struct {
	cfg     HealthConfig
	log     *slog.Logger
	jobs    chan healthJob
	results chan healthResult
	reports chan healthResult
	reqs    chan healthRequest
	checks  *prometheus.CounterVec

	mu sync.RWMutex // guards by; only the loop writes it
	by map[healthKey]engine.ChannelHealth

	runMu   sync.Mutex // guards started, stopped, cancel, done
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the loop has stopped
	wg      sync.WaitGroup
}

// NewHealth loads the health records and registers the metrics; it
// starts nothing.
func NewHealth(cfg HealthConfig) (*Health, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"Store", cfg.Store != nil}, {"Accounts", cfg.Accounts != nil}, {"Publisher", cfg.Publisher != nil}, {"Clock", cfg.Clock != nil}} {
		if !f.set {
			return nil, fmt.Errorf("channels: HealthConfig.%s is required", f.name)
		}
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultHealthInterval
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultHealthWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	all, err := cfg.Store.ChannelHealths()
	if err != nil {
		return nil, fmt.Errorf("channels: loading channel health: %w", err)
	}
	h := &Health{cfg: cfg, log: cfg.Logger, jobs: make(chan healthJob, healthQueueLen),
		results: make(chan healthResult), reports: make(chan healthResult, healthReportQueueLen),
		reqs: make(chan healthRequest), by: make(map[healthKey]engine.ChannelHealth, len(all)), done: make(chan struct{}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_channel_health_checks_total",
			Help: "Checks of channel accounts' health, by channel and the state they found.",
		}, []string{"channel", "state"}),
	}
	for _, chn := range []engine.Channel{engine.ChannelWhatsApp, engine.ChannelMessenger, engine.ChannelInstagram, engine.ChannelEmail} {
		for _, st := range engine.HealthStates[1:] {
			h.checks.WithLabelValues(string(chn), string(st))
		}
	}
	for _, rec := range all {
		h.by[healthKey{rec.Channel, rec.AccountID}] = rec
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(h.checks); err != nil {
			return nil, fmt.Errorf("channels: registering metrics: %w", err)
		}
		if err := cfg.Registerer.Register(healthCollector{h}); err != nil {
			return nil, fmt.Errorf("channels: registering metrics: %w", err)
		}
	}
	return h, nil
}

// Get returns the health of an account (the unknown state when it has no
// record).
func (h *Health) Get(ch engine.Channel, id string) engine.ChannelHealth {
	h.mu.RLock()
	rec, ok := h.by[healthKey{ch, id}]
	h.mu.RUnlock()
	if !ok {
		return engine.ChannelHealth{Channel: ch, AccountID: id, State: engine.HealthUnknown}
	}
	return rec
}

// Start starts the loop and the workers; the first pass over every
// account runs at once (unless Interval is negative). Calling it again,
// or after Shutdown, does nothing.
func (h *Health) Start() {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.started || h.stopped {
		return
	}
	h.started = true
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	for range h.cfg.Workers {
		h.wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("parley", "channel-health"), func(ctx context.Context) {
			defer h.wg.Done()
			h.worker(ctx)
		})
	}
	h.wg.Add(1)
	go pprof.Do(ctx, pprof.Labels("parley", "channel-health"), func(ctx context.Context) {
		defer h.wg.Done()
		defer close(h.done)
		h.loop(ctx)
	})
}

// Shutdown stops the loop and the workers and waits for them; checks in
// flight are cut short and not recorded.
func (h *Health) Shutdown() {
	h.runMu.Lock()
	h.stopped = true
	cancel := h.cancel
	h.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.wg.Wait()
}

// CheckNow checks an account at once (joining a check in flight) and
// returns its record after the check. It fails when ctx ends first or
// the monitor is not running.
func (h *Health) CheckNow(ctx context.Context, ch engine.Channel, id string) (engine.ChannelHealth, error) {
	h.runMu.Lock()
	running := h.started && !h.stopped
	h.runMu.Unlock()
	if !running {
		return engine.ChannelHealth{}, ErrHealthStopped
	}
	done := make(chan engine.ChannelHealth, 1)
	select {
	case h.reqs <- healthRequest{key: healthKey{ch, id}, done: done}:
	case <-h.done:
		return engine.ChannelHealth{}, ErrHealthStopped
	case <-ctx.Done():
		return engine.ChannelHealth{}, fmt.Errorf("channels: checking %s/%s: %w", ch, id, ctx.Err())
	}
	select {
	case rec := <-done:
		return rec, nil
	case <-h.done:
		return engine.ChannelHealth{}, ErrHealthStopped
	case <-ctx.Done():
		return engine.ChannelHealth{}, fmt.Errorf("channels: checking %s/%s: %w", ch, id, ctx.Err())
	}
}

// AccountChanged tells the monitor that an account was connected, changed
// (a new token) or disconnected: it checks the account at once, or drops
// its record. It never blocks the caller for long (a goroutine of the
// monitor's hands the request over).
func (h *Health) AccountChanged(ch engine.Channel, id string) {
	_, present := h.cfg.Accounts.Get(ch, id)
	if present && h.cfg.Interval < 0 {
		return
	}
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if !h.started || h.stopped {
		return
	}
	req := healthRequest{key: healthKey{ch, id}, gone: !present}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case h.reqs <- req:
		case <-h.done:
		}
	}()
}

// Report tells the monitor how a send on acct ended (err is the send
// call's error, nil for a success). A success returns an account to
// connected, a refused token (Graph 190 or 102) marks it expired at once,
// a locked or blocked account in error (meta.SendHealth); a transient
// failure asks for a check when none ran for a minute. It never blocks:
// with the queue full the report is dropped (the next check decides).
func (h *Health) Report(acct engine.ChannelAccount, err error) {
	if h.cfg.Interval < 0 {
		return
	}
	r, ok := meta.SendHealth(err)
	switch acct.Channel {
	case engine.ChannelAPI:
		// Every delivery says how the integrator's webhook is doing.
		r, ok = apichannel.HealthOf(err), true
	case engine.ChannelEmail:
		r, ok = EmailSendHealth(err)
	}
	if !ok && !meta.Classify(err).Temporary {
		return // about one message or recipient: nothing of the account
	}
	key := healthKey{acct.Channel, acct.AccountID}
	if ok && r.State == engine.HealthConnected && h.Get(key.ch, key.id).State == engine.HealthConnected {
		return // the common case: nothing to learn
	}
	select {
	case h.reports <- healthResult{key: key, acct: acct, r: r, ok: ok, fromSend: true}:
	default:
	}
}

func (h *Health) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-h.jobs:
			checker := h.cfg.Checkers[job.acct.Channel]
			cctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
			r := checker.Check(cctx, job.acct)
			cancel()
			if ctx.Err() != nil {
				return // cut short by Shutdown: not a verdict on the account
			}
			select {
			case h.results <- healthResult{key: healthKey{job.acct.Channel, job.acct.AccountID}, acct: job.acct, r: r, ok: true}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// loop is the only writer of the health records.
func (h *Health) loop(ctx context.Context) {
	// inflight holds the waiters of each account's check in flight.
	inflight := map[healthKey][]chan engine.ChannelHealth{}
	answer := func(key healthKey, waiters []chan engine.ChannelHealth) {
		rec := h.Get(key.ch, key.id)
		for _, w := range waiters {
			w <- rec
		}
	}
	// dispatch queues a check of the account, unless one is in flight
	// (the waiters join it).
	dispatch := func(key healthKey, waiters ...chan engine.ChannelHealth) {
		if cur, ok := inflight[key]; ok {
			inflight[key] = append(cur, waiters...)
			return
		}
		acct, ok := h.cfg.Accounts.Get(key.ch, key.id)
		if !ok || h.cfg.Checkers[key.ch] == nil {
			answer(key, waiters)
			return
		}
		select {
		case h.jobs <- healthJob{acct: acct}:
			inflight[key] = waiters
		default: // the queue is full: the next pass asks again
			answer(key, waiters)
		}
	}
	pass := func() {
		present := map[healthKey]bool{}
		for _, acct := range h.cfg.Accounts.All() {
			key := healthKey{acct.Channel, acct.AccountID}
			present[key] = true
			dispatch(key)
		}
		h.mu.RLock()
		var orphans []healthKey
		for key := range h.by {
			if !present[key] {
				orphans = append(orphans, key)
			}
		}
		h.mu.RUnlock()
		for _, key := range orphans {
			h.drop(key)
		}
	}
	var tick <-chan time.Time
	if h.cfg.Interval > 0 {
		t := h.cfg.Clock.NewTicker(h.cfg.Interval)
		defer t.Stop()
		tick = t.Chan()
		pass()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			pass()
		case req := <-h.reqs:
			if req.gone {
				if _, ok := h.cfg.Accounts.Get(req.key.ch, req.key.id); !ok {
					h.drop(req.key)
				}
				continue
			}
			if req.done == nil {
				dispatch(req.key)
			} else {
				dispatch(req.key, req.done)
			}
		case res := <-h.results:
			waiters := inflight[res.key]
			delete(inflight, res.key)
			if acct, ok := h.cfg.Accounts.Get(res.key.ch, res.key.id); ok && acct.AccessToken != res.acct.AccessToken {
				// The token changed while the old one was checked: that
				// verdict is stale, check the new one.
				dispatch(res.key, waiters...)
				continue
			}
			h.apply(res)
			answer(res.key, waiters)
		case res := <-h.reports:
			if !res.ok {
				cur := h.Get(res.key.ch, res.key.id)
				if h.cfg.Clock.Since(cur.CheckedAt) >= healthRecheckAfter {
					dispatch(res.key)
				}
				continue
			}
			h.apply(res)
		}
	}
}

// apply records a verdict on an account that is still connected, in one
// synced batch, and publishes channel.health after the commit when what
// a person sees changed.
func (h *Health) apply(res healthResult) {
	acct, ok := h.cfg.Accounts.Get(res.key.ch, res.key.id)
	if !ok || acct.WorkspaceID != res.acct.WorkspaceID || acct.AccessToken != res.acct.AccessToken {
		return // disconnected, or given a new token, meanwhile
	}
	if !res.fromSend {
		h.checks.WithLabelValues(string(res.key.ch), string(res.r.State)).Inc()
	}
	cur := h.Get(res.key.ch, res.key.id)
	if cur.WorkspaceID != acct.WorkspaceID {
		cur = engine.ChannelHealth{WorkspaceID: acct.WorkspaceID, Channel: acct.Channel, AccountID: acct.AccountID, State: engine.HealthUnknown}
	}
	now := h.cfg.Clock.Now().UTC()
	next, changed := engine.ApplyHealth(cur, res.r, now)
	if next == cur {
		return
	}
	b := h.cfg.Store.NewBatch()
	b.PutChannelHealth(&next)
	if err := h.cfg.Store.Commit(b); err != nil {
		h.log.Error("Storing a channel account's health failed", "channel", acct.Channel, "account", acct.AccountID, "err", err)
		return
	}
	h.mu.Lock()
	h.by[res.key] = next
	h.mu.Unlock()
	if changed {
		level := slog.LevelInfo
		if next.State != engine.HealthConnected {
			level = slog.LevelWarn
		}
		h.log.Log(context.Background(), level, "Channel account health changed", "channel", acct.Channel, "account", acct.AccountID,
			"state", next.State, "code", next.Code, "reason", next.Reason)
		h.cfg.Publisher.Publish([]engine.Event{{Type: engine.EventChannelHealth, WorkspaceID: acct.WorkspaceID, At: now,
			Data: HealthEvent{Channel: acct.Channel, AccountID: acct.AccountID, Health: ViewHealth(next)}}})
	}
}

// drop deletes the record of a disconnected account.
func (h *Health) drop(key healthKey) {
	h.mu.RLock()
	_, ok := h.by[key]
	h.mu.RUnlock()
	if !ok {
		return
	}
	b := h.cfg.Store.NewBatch()
	b.DeleteChannelHealth(key.ch, key.id)
	if err := h.cfg.Store.Commit(b); err != nil {
		h.log.Error("Deleting a channel account's health failed", "channel", key.ch, "account", key.id, "err", err)
		return
	}
	h.mu.Lock()
	delete(h.by, key)
	h.mu.Unlock()
}

// healthCollector exposes parley_channel_accounts{channel,state}: the
// connected accounts by channel and health state, counted at scrape
// time (3 channels × 5 states at most: no per-account label).
type healthCollector struct{ h *Health }

var channelAccountsDesc = prometheus.NewDesc("parley_channel_accounts",
	"Connected channel accounts by channel and health state (unknown, connected, expired, unreachable, error).",
	[]string{"channel", "state"}, nil)

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- channelAccountsDesc }

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[healthKey]int{} // channel, state
	for _, acct := range c.h.cfg.Accounts.All() {
		st := c.h.Get(acct.Channel, acct.AccountID).State
		counts[healthKey{acct.Channel, string(st)}]++
	}
	for _, chn := range []engine.Channel{engine.ChannelWhatsApp, engine.ChannelMessenger, engine.ChannelInstagram, engine.ChannelEmail} {
		for _, st := range engine.HealthStates {
			ch <- prometheus.MustNewConstMetric(channelAccountsDesc, prometheus.GaugeValue,
				float64(counts[healthKey{chn, string(st)}]), string(chn), string(st))
		}
	}
}

// Observe records what a channel's own long-running work (an email
// account's IMAP poller) learnt of an account: a refused login marks it
// expired at once, a successful session connected. Like Report, it never
// blocks, and a connected result on a connected account is dropped.
func (h *Health) Observe(acct engine.ChannelAccount, r engine.HealthResult) {
	if h.cfg.Interval < 0 || r.State == "" || r.State == engine.HealthUnknown {
		return
	}
	key := healthKey{acct.Channel, acct.AccountID}
	if r.State == engine.HealthConnected && h.Get(key.ch, key.id).State == engine.HealthConnected {
		return
	}
	select {
	case h.reports <- healthResult{key: key, acct: acct, r: r, ok: true, fromSend: true}:
	default:
	}
}

// EmailSendHealth is what a send on an email account says of the
// account: a success connected; a refused SMTP login (code "auth")
// expired; a TLS failure error. Other failures (a refused recipient, a
// busy server) say nothing definite (ok false).
func EmailSendHealth(err error) (r engine.HealthResult, ok bool) {
	if err == nil {
		return engine.HealthResult{State: engine.HealthConnected}, true
	}
	var se *ports.SendError
	if !errors.As(err, &se) {
		return r, false
	}
	switch se.Code {
	case "auth":
		return engine.HealthResult{State: engine.HealthExpired, Reason: "The SMTP server refused the login", Code: "auth"}, true
	case "tls":
		return engine.HealthResult{State: engine.HealthError, Reason: se.Reason, Code: "tls"}, true
	}
	return r, false
}

// EmailChecker checks an email account by logging in to its SMTP
// submission server as a send would (email.Check).
type EmailChecker struct {
	// TLS configures TLS with the servers; nil means the system roots.
	TLS *tls.Config
}

// Check implements HealthChecker.
func (c EmailChecker) Check(ctx context.Context, acct engine.ChannelAccount) engine.HealthResult {
	sub := email.SubmissionOf(acct)
	sub.TLS = c.TLS
	r := email.Check(ctx, sub)
	if mb, ok := email.IMAPMailboxOf(acct); ok && r.State == engine.HealthConnected {
		// A mailbox read over IMAP must let Parley in too.
		mb.TLS = c.TLS
		r = email.CheckIMAP(ctx, mb)
	}
	return r
}
