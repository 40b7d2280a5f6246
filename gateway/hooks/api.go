package hooks

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// redact returns w without its secret, as the API shows it after its
// creation.
func redact(w engine.Webhook) engine.Webhook {
	w.Secret = ""
	if w.Events == nil {
		w.Events = []engine.WebhookEvent{}
	}
	return w
}

// List returns the subscriptions of a workspace, oldest first, without
// their secrets.
func (s *Service) List(ws engine.ID) []engine.Webhook {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []engine.Webhook{}
	for _, h := range s.hooks {
		if h.WorkspaceID == ws {
			out = append(out, redact(*h))
		}
	}
	slices.SortFunc(out, func(a, b engine.Webhook) int { return a.ID.Compare(b.ID) })
	return out
}

// Get returns one subscription of a workspace, without its secret.
func (s *Service) Get(ws, id engine.ID) (engine.Webhook, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.hooks[id]
	if !ok || h.WorkspaceID != ws {
		return engine.Webhook{}, ErrNotFound
	}
	return redact(*h), nil
}

// Create adds a subscription (active) to a workspace and returns it with
// its secret.
func (s *Service) Create(ws engine.ID, ch engine.WebhookChange, now time.Time) (engine.Webhook, error) {
	on := true
	if ch.Active == nil {
		ch.Active = &on
	}
	w, err := engine.ApplyWebhook(engine.Webhook{ID: engine.NewID(now), WorkspaceID: ws, CreatedAt: now}, ch, now)
	if err != nil {
		return w, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hooks {
		if h.WorkspaceID == ws {
			n++
		}
	}
	if n >= engine.MaxWebhooks {
		return engine.Webhook{}, ErrTooMany
	}
	b := s.cfg.Store.NewBatch()
	b.PutWebhook(&w)
	if err := s.cfg.Store.Commit(b); err != nil {
		return engine.Webhook{}, fmt.Errorf("hooks: storing a webhook: %w", err)
	}
	s.hooks[w.ID] = &w
	s.refreshLocked()
	return w, nil
}

// Update changes a subscription; turning it on again clears its
// failures and delivers what waited.
func (s *Service) Update(ws, id engine.ID, ch engine.WebhookChange, now time.Time) (engine.Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[id]
	if !ok || h.WorkspaceID != ws {
		return engine.Webhook{}, ErrNotFound
	}
	w, err := engine.ApplyWebhook(*h, ch, now)
	if err != nil {
		return engine.Webhook{}, err
	}
	b := s.cfg.Store.NewBatch()
	b.PutWebhook(&w)
	if err := s.cfg.Store.Commit(b); err != nil {
		return engine.Webhook{}, fmt.Errorf("hooks: storing a webhook: %w", err)
	}
	*h = w
	s.refreshLocked()
	s.poke()
	return redact(w), nil
}

// Delete removes a subscription with its queued and logged deliveries.
func (s *Service) Delete(ws, id engine.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[id]
	if !ok || h.WorkspaceID != ws {
		return ErrNotFound
	}
	s.stageMu.Lock() // no staged batch of its deliveries left uncommitted
	defer s.stageMu.Unlock()
	b := s.cfg.Store.NewBatch()
	b.DeleteWebhook(ws, id)
	if err := s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("hooks: deleting a webhook: %w", err)
	}
	delete(s.hooks, id)
	s.refreshLocked()
	return nil
}

// Deliveries returns a subscription's deliveries, newest first: the
// pending ones (up to 100) and the finished ones the log keeps.
func (s *Service) Deliveries(ws, id engine.ID) ([]engine.WebhookDelivery, error) {
	if _, err := s.Get(ws, id); err != nil {
		return nil, err
	}
	pending, err := s.cfg.Store.PendingWebhookDeliveries(id, 0, persistence.MaxWebhookLog)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	done, err := s.cfg.Store.WebhookLog(id)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	out := append(pending, done...)
	slices.SortFunc(out, func(a, b engine.WebhookDelivery) int {
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	for i := range out {
		out[i].Body, out[i].Source = engine.WebhookDeliveryBody(&out[i]), nil
	}
	return out, nil
}

// Redeliver queues delivery seq of a subscription again, as a new
// delivery with the same event and body, and returns it.
func (s *Service) Redeliver(ws, id engine.ID, seq uint64, now time.Time) (engine.WebhookDelivery, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	h, ok := s.hooks[id]
	if !ok || h.WorkspaceID != ws {
		return engine.WebhookDelivery{}, ErrNotFound
	}
	old, err := s.cfg.Store.WebhookDelivery(id, seq)
	if err != nil {
		return engine.WebhookDelivery{}, ErrNotFound
	}
	d := engine.WebhookDelivery{ID: s.seq + 1, WebhookID: id, WorkspaceID: ws, Event: old.Event, OrderKey: old.OrderKey,
		Body: old.Body, Source: old.Source, State: engine.DeliveryPending, CreatedAt: now, RedeliveryOf: old.ID}
	b := s.cfg.Store.NewBatch()
	b.PutWebhookDelivery(&d)
	b.SetWebhookSeq(d.ID)
	if err := s.cfg.Store.Commit(b); err != nil {
		return engine.WebhookDelivery{}, fmt.Errorf("hooks: queueing a redelivery: %w", err)
	}
	s.seq = d.ID
	s.m.queued.Inc()
	s.poke()
	d.Body, d.Source = engine.WebhookDeliveryBody(&d), nil
	return d, nil
}

type metrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	queued     prometheus.Counter
	disabled   prometheus.Counter
	erased     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_webhook_deliveries_total",
			Help: "Outgoing webhook delivery attempts by result (delivered, retried, failed: the attempts ran out)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_webhook_delivery_duration_seconds",
			Help: "Time of one outgoing webhook attempt, request to response.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10)}),
		queued: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_webhook_deliveries_queued_total",
			Help: "Outgoing webhook deliveries written to the durable queue (redeliveries included)."}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_webhooks_disabled_total",
			Help: "Webhook subscriptions turned off after persistent failure."}),
		erased: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_webhook_deliveries_erased_total",
			Help: "Queued or logged outgoing webhook deliveries removed because they named an erased contact."}),
	}
	for _, r := range []string{ResultDelivered, ResultRetried, ResultFailed} {
		m.deliveries.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.duration, m.queued, m.disabled, m.erased)
	}
	return m
}
