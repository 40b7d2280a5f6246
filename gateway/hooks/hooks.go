// Package hooks delivers outgoing webhooks: a workspace's subscriptions
// (URL, secret, events) receive its events as signed JSON POSTs
// (docs/ARCHITECTURE.md, "Outgoing webhooks").
//
// The conversation and contact actors hand it each batch of events
// before they commit it (Stage, an actors.EventOutbox): the deliveries
// those events make are written into the same batch, so they are durable
// with the events themselves and cost no fsync of their own. A dispatcher reads the queue and
// hands the due deliveries to a bounded pool of workers, at most one in
// flight per subscription and conversation (or contact), so that each
// receiver sees a conversation's events in order. A failed attempt is
// tried again on the retry schedule (engine.WebhookRetryAfter) on the
// injected clock; a subscription failing for a day is turned off. A slow
// or dead receiver holds a worker at most for the request timeout and
// never holds ingest: what waits is in Pebble, not in memory.
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Label values of parley_webhook_deliveries_total.
const (
	ResultDelivered = "delivered"
	ResultRetried   = "retried"
	ResultFailed    = "failed"
)

// Defaults and bounds.
const (
	// DefaultWorkers is how many deliveries are in flight at once.
	DefaultWorkers = 4
	// DefaultTimeout bounds one attempt.
	DefaultTimeout = 10 * time.Second
	// scanLimit bounds the pending deliveries read per subscription per
	// dispatch round.
	scanLimit = 256
	// maxResponse bounds the response body read (and dropped).
	maxResponse = 64 << 10
)

// ErrNotFound: no such subscription or delivery in the workspace.
var ErrNotFound = errors.New("hooks: not found")

// ErrTooMany: the workspace has engine.MaxWebhooks subscriptions.
var ErrTooMany = errors.New("hooks: too many webhooks")

// Config configures a Service.
type Config struct {
	// Store holds the subscriptions and the delivery queue. Required.
	Store *persistence.Store
	// Clock times the retries and the signatures; nil means the real
	// clock.
	Clock clockwork.Clock
	// HTTPClient sends the deliveries; nil means a client that follows
	// no redirect. Its Timeout is set from Timeout when zero.
	HTTPClient *http.Client
	// Workers bounds the deliveries in flight; zero means
	// DefaultWorkers.
	Workers int
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// Publish, when set, is told when a failing subscription is turned
	// off (a webhook.disabled event for the workspace's web apps).
	Publish func([]engine.Event)
	// Logger receives the log; nil discards it.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

type flight struct{ hook, key engine.ID }

type result struct{ f flight }

// Service owns the webhook subscriptions and delivers their events.
// Create it with New, start it with Start, feed it with Stage, stop it with
// Shutdown.
type Service struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	m      *metrics

	// mu holds every read-check-write of a subscription, with its
	// commit: the service is their one owner. Commits that need a
	// subscription to stay as it is (queued deliveries, a success that
	// changes nothing) hold it for reading, so that they are grouped
	// into one fsync.
	mu    sync.RWMutex
	hooks map[engine.ID]*engine.Webhook
	// stageMu is held for reading by every batch that Stage wrote
	// deliveries into, until it is committed, and for writing by Delete,
	// so that no delivery of a deleted subscription lands after its
	// deletion. Attempts do not take it: a failing subscription never
	// holds ingest.
	stageMu sync.RWMutex
	// seqMu holds the delivery seq, with the commit that uses it.
	seqMu sync.Mutex
	seq   uint64
	// active is a copy of the active subscriptions by workspace, read
	// by Stage without a lock.
	active atomic.Pointer[map[engine.ID][]engine.Webhook]

	wake    chan struct{}
	jobs    chan engine.WebhookDelivery
	results chan result

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	stopOnce  sync.Once
}

// New returns a Service with the subscriptions read from the store.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("hooks: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if client.Timeout == 0 {
		c := *client
		c.Timeout = cfg.Timeout
		client = &c
	}
	s := &Service{cfg: cfg, client: client, log: cfg.Logger, m: newMetrics(cfg.Registerer), hooks: map[engine.ID]*engine.Webhook{},
		wake: make(chan struct{}, 1),
		jobs: make(chan engine.WebhookDelivery), results: make(chan result, cfg.Workers)}
	wss, err := cfg.Store.Workspaces()
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	for _, ws := range wss {
		hs, err := cfg.Store.Webhooks(ws.ID)
		if err != nil {
			return nil, fmt.Errorf("hooks: %w", err)
		}
		for i := range hs {
			s.hooks[hs[i].ID] = &hs[i]
		}
	}
	if s.seq, err = cfg.Store.WebhookSeq(); err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	last, err := cfg.Store.LastWebhookDeliverySeq()
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	s.seq = max(s.seq, last)
	s.refreshLocked()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// refreshLocked rebuilds Stage's copy of the active subscriptions.
func (s *Service) refreshLocked() {
	m := map[engine.ID][]engine.Webhook{}
	for _, h := range s.hooks {
		if h.Active {
			m[h.WorkspaceID] = append(m[h.WorkspaceID], *h)
		}
	}
	for ws := range m {
		slices.SortFunc(m[ws], func(a, b engine.Webhook) int { return a.ID.Compare(b.ID) })
	}
	s.active.Store(&m)
}

// Start starts the dispatcher and the workers.
// Calling it again does nothing.
func (s *Service) Start() {
	s.startOnce.Do(func() {
		s.goDo("webhook-dispatch", s.dispatch)
		for range s.cfg.Workers {
			s.goDo("webhook-deliver", s.work)
		}
		s.poke()
	})
}

func (s *Service) goDo(label string, f func(context.Context)) {
	s.wg.Add(1)
	go pprof.Do(s.ctx, pprof.Labels("parley", label), func(ctx context.Context) {
		defer s.wg.Done()
		f(ctx)
	})
}

// Shutdown cancels the attempts in progress (they stay queued and go at the next start) and
// stops the goroutines. Safe to call more than once.
func (s *Service) Shutdown() {
	s.stopOnce.Do(func() {
		s.startOnce.Do(func() {})
		s.cancel()
		s.wg.Wait()
	})
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// putDeliveries writes into b the deliveries of evs to the subscriptions
// of act that want them, numbered after seq, and returns the last seq
// given and how many were written.
func (s *Service) putDeliveries(b *persistence.Batch, evs []engine.Event, act map[engine.ID][]engine.Webhook, seq uint64, now time.Time) (uint64, int) {
	n := 0
	for i := range evs {
		subs := act[evs[i].WorkspaceID]
		if len(subs) == 0 {
			continue
		}
		outs := engine.WebhookSourcedOuts(&evs[i], func(e engine.WebhookEvent) bool {
			for j := range subs {
				if subs[j].Wants(e) {
					return true
				}
			}
			return false
		})
		for _, o := range outs {
			for j := range subs {
				if !subs[j].Wants(o.Event) {
					continue
				}
				seq++
				n++
				b.PutWebhookDelivery(&engine.WebhookDelivery{ID: seq, WebhookID: subs[j].ID, WorkspaceID: subs[j].WorkspaceID,
					Event: o.Event, OrderKey: o.OrderKey, Body: o.Body, Source: o.Source, State: engine.DeliveryPending, CreatedAt: now})
			}
		}
	}
	return seq, n
}

// Stage writes the deliveries of events into b, the batch that commits
// them (actors.EventOutbox): a committed event has its deliveries queued
// in the same fsync, so none is lost to a crash and a busy subscription
// costs ingest no commit of its own. It holds the subscriptions for
// reading (stageMu, not the lock of the attempts) until done is called,
// after b's commit, so that a subscription deleted meanwhile cannot leave
// deliveries behind; done also wakes the dispatcher. done is nil when
// nothing was staged.
func (s *Service) Stage(b *persistence.Batch, events []engine.Event) (done func()) {
	act := *s.active.Load()
	if len(act) == 0 {
		return nil
	}
	wanted := false
	for i := range events {
		if _, ok := act[events[i].WorkspaceID]; ok {
			wanted = true
			break
		}
	}
	if !wanted {
		return nil
	}
	s.stageMu.RLock()
	s.seqMu.Lock()
	seq, n := s.putDeliveries(b, events, *s.active.Load(), s.seq, s.cfg.Clock.Now().UTC())
	if n == 0 {
		s.seqMu.Unlock()
		s.stageMu.RUnlock()
		return nil
	}
	s.seq = seq
	b.SetWebhookSeq(seq) // a lower bound: see persistence.Store.LastWebhookDeliverySeq
	s.seqMu.Unlock()
	s.m.queued.Add(float64(n))
	return func() {
		s.stageMu.RUnlock()
		s.poke()
	}
}

// dispatch hands the due deliveries to the workers, one in flight per
// subscription and order key, until ctx ends.
func (s *Service) dispatch(ctx context.Context) {
	inflight := map[flight]bool{}
	var next time.Time
	for {
		// With every worker busy nothing can start: the queue is read
		// again when one is free (a result), keeping the retry time.
		if len(inflight) < s.cfg.Workers {
			next = s.dispatchRound(ctx, inflight)
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = s.cfg.Clock.After(max(next.Sub(s.cfg.Clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case r := <-s.results:
			delete(inflight, r.f)
		case <-s.wake:
		case <-timer:
		}
	}
}

// dispatchRound starts what is due and returns when the next retry
// falls (zero for none).
func (s *Service) dispatchRound(ctx context.Context, inflight map[flight]bool) time.Time {
	var next time.Time
	now := s.cfg.Clock.Now()
	full := false
	for _, subs := range *s.active.Load() {
		for _, h := range subs {
			seen := map[engine.ID]bool{}
			n := 0
			err := s.cfg.Store.VisitWebhookDeliveryHeads(h.ID, 0, func(d *engine.WebhookDelivery) bool {
				n++
				f := flight{h.ID, d.OrderKey}
				if seen[d.OrderKey] {
					return n < scanLimit // behind an earlier delivery of the same conversation
				}
				seen[d.OrderKey] = true
				if inflight[f] {
					return n < scanLimit
				}
				if d.NextAt.After(now) {
					if next.IsZero() || d.NextAt.Before(next) {
						next = d.NextAt
					}
					return n < scanLimit
				}
				select {
				case s.jobs <- *d:
					inflight[f] = true
					return n < scanLimit
				case <-ctx.Done():
				default:
					// Every worker is busy: a result starts the next round.
				}
				full = true
				return false
			})
			if err != nil {
				s.log.Error("Reading webhook deliveries", "webhook", h.ID, "err", err)
			}
			if full {
				return next
			}
		}
	}
	return next
}

// work delivers what the dispatcher hands it until ctx ends.
func (s *Service) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-s.jobs:
			s.deliver(ctx, d)
			select {
			case s.results <- result{flight{d.WebhookID, d.OrderKey}}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// deliver makes one attempt at d and commits its outcome.
func (s *Service) deliver(ctx context.Context, d engine.WebhookDelivery) {
	s.mu.RLock()
	h, ok := s.hooks[d.WebhookID]
	var hook engine.Webhook
	if ok {
		hook = *h
		// The dispatcher read the delivery without its source: read it
		// whole. Erased (EraseContact) since: not sent.
		full, pending, err := s.cfg.Store.PendingWebhookDelivery(d.WebhookID, d.ID)
		if err != nil {
			s.log.Error("Reading a webhook delivery", "webhook", d.WebhookID, "delivery", d.ID, "err", err)
		}
		ok = err == nil && pending
		d = full
	}
	s.mu.RUnlock()
	if !ok || !hook.Active {
		return
	}
	status, latency, errText := s.post(ctx, &hook, &d)
	if ctx.Err() != nil {
		return // cut by Shutdown: still queued, sent again at the next start
	}
	now := s.cfg.Clock.Now().UTC()
	d = engine.DeliveryAttempted(d, status, latency, errText, now)
	s.m.duration.Observe(latency.Seconds())
	switch d.State {
	case engine.DeliveryDelivered:
		s.m.deliveries.WithLabelValues(ResultDelivered).Inc()
	case engine.DeliveryPending:
		s.m.deliveries.WithLabelValues(ResultRetried).Inc()
	default:
		s.m.deliveries.WithLabelValues(ResultFailed).Inc()
	}
	if err := s.commitAttempt(&d, now); err != nil {
		s.log.Error("Recording a webhook delivery", "webhook", d.WebhookID, "delivery", d.ID, "err", err)
	}
}

// commitAttempt writes a delivery's outcome with its subscription's
// failures, in one batch.
func (s *Service) commitAttempt(d *engine.WebhookDelivery, now time.Time) error {
	delivered := d.State == engine.DeliveryDelivered
	s.mu.RLock()
	h, ok := s.hooks[d.WebhookID]
	if ok && delivered && h.Failures == 0 {
		// The usual case: the subscription does not change.
		err := s.commitOutcome(d, nil)
		s.mu.RUnlock()
		return err
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok = s.hooks[d.WebhookID]
	if !ok {
		return nil // deleted meanwhile, with its queue
	}
	next, disabled := engine.WebhookAttempted(*h, delivered, now)
	changed := next.Failures != h.Failures || next.Active != h.Active
	var put *engine.Webhook
	if changed {
		put = &next
	}
	if err := s.commitOutcome(d, put); err != nil {
		return err
	}
	if changed {
		*h = next
	}
	if disabled {
		s.refreshLocked()
		s.m.disabled.Inc()
		s.log.Warn("Webhook turned off after persistent failure", "webhook", h.ID, "url", h.URL, "reason", h.DisabledReason)
		if s.cfg.Publish != nil {
			pub := next
			pub.Secret = ""
			s.cfg.Publish([]engine.Event{{Type: engine.EventWebhookDisabled, WorkspaceID: h.WorkspaceID, At: now, Data: &pub}})
		}
	}
	return nil
}

// commitOutcome commits d after an attempt, back in the queue or into
// the log, with the subscription h when it changed (nil when not).
func (s *Service) commitOutcome(d *engine.WebhookDelivery, h *engine.Webhook) error {
	// An erasure (EraseContact) or a subscription's deletion may have
	// removed the delivery while it was on its way: its outcome is not
	// written back. The caller holds s.mu, which they take for writing.
	if ok, err := s.cfg.Store.WebhookDeliveryPending(d.WebhookID, d.ID); err != nil || !ok {
		return err
	}
	b := s.cfg.Store.NewBatch()
	if d.State == engine.DeliveryPending {
		b.PutWebhookDelivery(d)
	} else {
		keep, err := s.cfg.Store.WebhookLogSeqs(d.WebhookID)
		if err != nil {
			b.Close()
			return err
		}
		b.FinishWebhookDelivery(d, keep)
	}
	if h != nil {
		b.PutWebhook(h)
	}
	return s.cfg.Store.Commit(b)
}

// post sends d to the subscription's URL, signed now, and returns the
// status code (0 when none came), the time taken and the error.
func (s *Service) post(ctx context.Context, h *engine.Webhook, d *engine.WebhookDelivery) (int, time.Duration, string) {
	// The body is made now from the event as committed (its Source), not
	// on the ingest path.
	body := engine.WebhookDeliveryBody(d)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Webhooks/1")
	req.Header.Set(engine.WebhookSignatureHeader, engine.SignWebhook(h.Secret, s.cfg.Clock.Now(), body))
	req.Header.Set(engine.WebhookEventHeader, string(d.Event))
	req.Header.Set(engine.WebhookDeliveryHeader, fmt.Sprint(d.ID))
	began := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, time.Since(began), err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	_ = resp.Body.Close()
	latency := time.Since(began)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, latency, "HTTP " + resp.Status
	}
	return resp.StatusCode, latency, ""
}

// EraseContact removes from the queues and delivery logs of the
// workspace's subscriptions every delivery that names an erased contact
// (docs/ARCHITECTURE.md, "Retention, legal hold, export and erasure"):
// those ordered by one of keys (the contact, its conversations) and
// those whose body holds one of needles (its ids, its identities'
// external ids, its phone and email; a merged contact's deliveries carry
// its identities). It runs after the contact's erasure committed, so no
// new delivery names it; it holds the subscriptions for writing, so that
// no attempt on its way writes an erased delivery back (commitOutcome),
// and waits for the batches being staged. It returns how many
// deliveries it removed.
func (s *Service) EraseContact(ws engine.ID, keys []engine.ID, needles [][]byte) (int, error) {
	s.mu.Lock() // before stageMu, as Delete takes them
	defer s.mu.Unlock()
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	names := func(d *engine.WebhookDelivery) bool {
		if slices.Contains(keys, d.OrderKey) {
			return true
		}
		body := engine.WebhookDeliveryBody(d)
		for _, n := range needles {
			if len(n) > 0 && bytes.Contains(body, n) {
				return true
			}
		}
		return false
	}
	b := s.cfg.Store.NewBatch()
	n := 0
	for _, h := range s.hooks {
		if h.WorkspaceID != ws {
			continue
		}
		err := s.cfg.Store.VisitWebhookDeliveries(h.ID, 0, func(d *engine.WebhookDelivery) bool {
			if names(d) {
				b.DeleteWebhookDelivery(h.ID, d.ID)
				n++
			}
			return true
		})
		if err != nil {
			b.Close()
			return 0, fmt.Errorf("hooks: erasing deliveries of %s: %w", h.ID, err)
		}
		logged, err := s.cfg.Store.WebhookLog(h.ID)
		if err != nil {
			b.Close()
			return 0, fmt.Errorf("hooks: erasing deliveries of %s: %w", h.ID, err)
		}
		for i := range logged {
			if names(&logged[i]) {
				b.DeleteWebhookDelivery(h.ID, logged[i].ID)
				n++
			}
		}
	}
	if n == 0 {
		b.Close()
		return 0, nil
	}
	if err := s.cfg.Store.Commit(b); err != nil {
		b.Close()
		return 0, fmt.Errorf("hooks: erasing deliveries: %w", err)
	}
	s.m.erased.Add(float64(n))
	return n, nil
}

// ForgetWorkspace drops the subscriptions of a workspace being deleted
// from the service: nothing more is sent for them and no attempt on its
// way writes them back. Their records and deliveries go with the
// workspace's keys (persistence.Store.DeleteWorkspaceSystemKeys and the
// workspace's range).
func (s *Service) ForgetWorkspace(ws engine.ID) {
	s.mu.Lock() // before stageMu, as Delete takes them
	defer s.mu.Unlock()
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	for id, h := range s.hooks {
		if h.WorkspaceID == ws {
			delete(s.hooks, id)
		}
	}
	s.refreshLocked()
}
