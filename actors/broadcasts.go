package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Broadcasts (docs/ARCHITECTURE.md, "Broadcasts"). Each broadcast has
// one owner, a broadcast actor: it alone writes the broadcast's record,
// its recipients and their counts. It resolves the audience when the
// broadcast starts, paces the sends (engine.BroadcastPacer) and hands
// each recipient to a bounded pool of senders, outside the actor. A
// sender asks the recipient's conversation actor to write the template
// message (engine.SendBroadcast), creating the conversation if the
// contact has none on the number; the conversation actor first looks
// for the message the broadcast made before (the durable entry keyed
// by broadcast and contact, written in the message's batch), so a
// recipient gets one message however often its send is asked for
// (after a restart, a recipient left "sending" is asked again). The
// courier sends the message through the outbox like any reply, and the
// conversation actor tells the broadcast actor of every status of a
// broadcast message (sent, delivered, read, failed with Meta's code),
// and of a reply; the broadcast actor rolls them up.

// Broadcast errors.
var (
	// ErrBroadcastNotFound is returned for a broadcast that does not
	// exist in the workspace.
	ErrBroadcastNotFound = fmt.Errorf("actors: broadcast not found: %w", persistence.ErrNotFound)
)

const (
	// broadcastSenders bounds the recipients being written at once: few
	// enough that a broadcast's conversation writes leave the inbox's
	// requests their share of the machine, enough to keep the pace
	// (each write is one grouped commit).
	broadcastSenders = 64
	// broadcastTick is how often a sending broadcast hands out the sends
	// its pace allows.
	broadcastTick = 10 * time.Millisecond
	// broadcastFlush bounds how long recipient changes wait to be
	// committed together.
	broadcastFlush = 50 * time.Millisecond
	// broadcastPublishEvery throttles broadcast.updated to 4 a second
	// per broadcast.
	broadcastPublishEvery = 250 * time.Millisecond
	// broadcastTierWindow is the messaging tier's rolling window.
	broadcastTierWindow = 24 * time.Hour
)

type broadcastMetrics struct {
	messages   *prometheus.CounterVec
	sendSecs   prometheus.Histogram
	active     prometheus.Gauge
	backoffs   *prometheus.CounterVec
	recipients prometheus.Counter
	inFlight   prometheus.Gauge
}

func newBroadcastMetrics(reg prometheus.Registerer) *broadcastMetrics {
	m := &broadcastMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_broadcast_messages_total", Help: "Broadcast recipients reaching a status (sent, delivered, read, failed, replied, opted_out, skipped)."},
			[]string{"status"}),
		sendSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_broadcast_send_seconds", Help: "Time from a broadcast recipient's turn in the broadcast's pace (its send handed out) to Meta's acceptance of its message.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 20)}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_broadcasts_active", Help: "Broadcasts sending now."}),
		backoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_broadcast_backoffs_total", Help: "Broadcast sends that Meta throttled, by error code (131056 retries the recipient; 130429 and 131048 slow the broadcast)."},
			[]string{"code"}),
		recipients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_broadcast_recipients_total", Help: "Recipients resolved from broadcasts' audiences."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_broadcast_sends_in_flight", Help: "Broadcast recipients handed out by their broadcast's pace and not yet answered by Meta (bounded per broadcast by engine.BroadcastInFlightLimit)."}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.sendSecs, m.active, m.backoffs, m.recipients, m.inFlight)
	}
	return m
}

// broadcastRunner keeps the broadcast actors and the pool of senders.
type broadcastRunner struct {
	rt      *Runtime
	metrics *broadcastMetrics
	jobs    chan broadcastJob

	mu     sync.Mutex
	actors map[engine.ID]*actor.PID
	// stopped is set (under mu) by stop: from then on nothing is sent to
	// a broadcast actor, so no timer or sender races the actor system's
	// shutdown.
	stopped bool

	// tier counts, per number, the unique recipients sent to in the
	// rolling 24 hours (the messaging tier's limit).
	tierMu sync.Mutex
	tier   map[string]map[string]time.Time
}

func newBroadcastRunner(rt *Runtime, reg prometheus.Registerer) *broadcastRunner {
	return &broadcastRunner{rt: rt, metrics: newBroadcastMetrics(reg), jobs: make(chan broadcastJob, 4096),
		actors: map[engine.ID]*actor.PID{}, tier: map[string]map[string]time.Time{}}
}

// start starts the senders and the actors of the active broadcasts.
func (r *broadcastRunner) start() error {
	for range broadcastSenders {
		r.rt.goroutine("broadcast-sender", r.work)
	}
	active, err := r.rt.store.ActiveBroadcasts()
	if err != nil {
		return fmt.Errorf("reading active broadcasts: %w", err)
	}
	for _, p := range active {
		r.pid(p[0], p[1])
	}
	return nil
}

// pid returns the actor of broadcast (ws, id), spawning it.
func (r *broadcastRunner) pid(ws, id engine.ID) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.actors[id]; ok {
		return p
	}
	if r.stopped {
		return nil
	}
	a := &broadcastActor{r: r, rt: r.rt, ws: ws, id: id}
	p := r.rt.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a },
		actor.WithSupervisor(r.rt.supervisor), actor.WithDispatcher(r.rt.dispatcher)))
	r.actors[id] = p
	return p
}

// tell sends msg to broadcast (ws, id)'s actor; false once the runner
// is stopped.
func (r *broadcastRunner) tell(ws, id engine.ID, msg any) bool {
	p := r.pid(ws, id)
	return p != nil && r.send(p, msg)
}

// send sends msg to pid unless the runner is stopped (the timers' and
// senders' way in: under mu, so none sends once stop has begun).
func (r *broadcastRunner) send(pid *actor.PID, msg any) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.rt.system.Root.Send(pid, msg)
	return true
}

// stop stops every broadcast actor (their timers with them) and waits
// for them, before the actor system shuts down; their state is durable.
func (r *broadcastRunner) stop() {
	r.mu.Lock()
	r.stopped = true
	pids := make([]*actor.PID, 0, len(r.actors))
	for _, p := range r.actors {
		pids = append(pids, p)
	}
	r.mu.Unlock()
	for _, p := range pids {
		_ = r.rt.system.Root.StopFuture(p).Wait()
	}
}

// call runs op in the broadcast's actor and waits for its answer.
func (r *broadcastRunner) call(ctx context.Context, ws, id engine.ID, op func(a *broadcastActor) (engine.Broadcast, error)) (engine.Broadcast, error) {
	m := &bcCall{op: op, reply: make(chan bcReply, 1)}
	if !r.tell(ws, id, m) {
		return engine.Broadcast{}, ErrShuttingDown
	}
	select {
	case res := <-m.reply:
		return res.b, res.err
	case <-ctx.Done():
		return engine.Broadcast{}, ctx.Err()
	}
}

// Messages of a broadcast actor.
type (
	bcCall struct {
		op    func(a *broadcastActor) (engine.Broadcast, error)
		reply chan bcReply
	}
	bcReply struct {
		b   engine.Broadcast
		err error
	}
	bcTick  struct{}
	bcFlush struct{}
	// bcMade is a sender's answer: the recipient's message exists (ref,
	// with its status as it stands), or err says why it could not be
	// written.
	bcMade struct {
		contact engine.ID
		msg     engine.Message
		err     error
	}
	// bcStatus is a broadcast message's new status, from its
	// conversation's actor.
	bcStatus struct {
		contact engine.ID
		msg     engine.Message
	}
	// bcReplied is a reply of the contact within the reply window.
	bcReplied struct {
		contact engine.ID
		at      time.Time
	}
	// bcOptedOut is the contact opting out after the broadcast.
	bcOptedOut struct{ contact engine.ID }
)

type broadcastJob struct {
	ws, id  engine.ID
	account string
	r       engine.BroadcastRecipient
	content engine.Content
}

// broadcastActor owns one broadcast.
type broadcastActor struct {
	r      *broadcastRunner
	rt     *Runtime
	ws, id engine.ID
	pid    *actor.PID

	loaded bool
	b      engine.Broadcast
	tmpl   engine.Template
	pacer  *engine.BroadcastPacer
	// recips holds the recipients of a started broadcast that are not
	// final yet, by contact; queue the ones ready to send, in order;
	// retry the ones waiting for their RetryAt.
	recips map[engine.ID]*engine.BroadcastRecipient
	queue  []engine.ID
	retry  []engine.ID
	// inflight holds the recipients handed to the senders whose send
	// Meta has not answered yet (engine.BroadcastInFlightLimit).
	inflight map[engine.ID]bool
	// dirty recipients and the broadcast itself wait for the next flush.
	dirty        map[engine.ID]bool
	dirtyB       bool
	flushArmed   bool
	tickArmed    bool
	lastPub      time.Time
	pubArmed     bool
	sentSinceBO  int
	ticker       clockwork.Timer
	flusher      clockwork.Timer
	publisher    clockwork.Timer
	countedAsRun bool
}

// Receive handles one message, one at a time.
func (a *broadcastActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.pid = ctx.Self()
		a.loaded = false
		if err := a.load(); err != nil {
			a.rt.log.Error("Loading broadcast", "broadcast", a.id, "err", err)
		}
	case *actor.Stopping:
		// What the last 50 ms changed is committed before the actor goes.
		if a.loaded && (len(a.dirty) > 0 || a.dirtyB) {
			if err := a.flush(); err != nil {
				a.rt.log.Error("Committing broadcast recipients at stop", "broadcast", a.id, "err", err)
			}
		}
		a.stopTimers()
	case *actor.Restarting:
		a.stopTimers()
	case *bcCall:
		if err := a.ensure(); err != nil {
			m.reply <- bcReply{err: err}
			return
		}
		b, err := m.op(a)
		m.reply <- bcReply{b, err}
	case *bcTick:
		a.tickArmed = false
		if a.ensure() == nil {
			a.tick()
		}
	case *bcFlush:
		a.flushArmed = false
		if err := a.flush(); err != nil {
			a.rt.log.Error("Committing broadcast recipients", "broadcast", a.id, "err", err)
			a.armFlush()
		}
	case *bcPublish:
		// The deferred update, of the broadcast as committed.
		a.pubArmed = false
		if len(a.dirty) > 0 || a.dirtyB {
			if err := a.flush(); err != nil {
				a.armFlush()
			}
		} else {
			a.publish(true)
		}
	case *bcMade:
		if a.ensure() == nil {
			a.made(m)
		}
	case *bcStatus:
		if a.ensure() == nil {
			a.status(m.contact, &m.msg)
		}
	case *bcReplied:
		if a.ensure() == nil {
			a.progress(m.contact, engine.RecipientReplied, m.at, nil)
		}
	case *bcOptedOut:
		if a.ensure() == nil {
			a.progress(m.contact, engine.RecipientOptedOut, a.rt.clock.Now().UTC(), nil)
		}
	}
}

type bcPublish struct{}

func (a *broadcastActor) stopTimers() {
	for _, t := range []clockwork.Timer{a.ticker, a.flusher, a.publisher} {
		if t != nil {
			t.Stop()
		}
	}
	a.tickArmed, a.flushArmed, a.pubArmed = false, false, false
}

func (a *broadcastActor) ensure() error {
	if a.loaded {
		return nil
	}
	return a.load()
}

// load reads the broadcast and, once started, its recipients not final
// yet: those left sending by a stop are asked for again (their message,
// if made, is found, not made twice).
func (a *broadcastActor) load() error {
	b, err := a.rt.store.Broadcast(a.ws, a.id)
	if errors.Is(err, persistence.ErrNotFound) {
		return ErrBroadcastNotFound
	}
	if err != nil {
		return err
	}
	a.b = b
	a.recips = map[engine.ID]*engine.BroadcastRecipient{}
	a.queue, a.retry = nil, nil
	a.dirty = map[engine.ID]bool{}
	a.r.metrics.inFlight.Sub(float64(len(a.inflight)))
	a.inflight = map[engine.ID]bool{}
	a.pacer = engine.NewBroadcastPacer(b.RatePerSecond)
	a.pacer.SetLevel(b.BackoffLevel, a.rt.clock.Now())
	if b.Resolved {
		now := a.rt.clock.Now()
		err := a.rt.store.EachBroadcastRecipient(a.ws, a.id, engine.ZeroID, func(r *engine.BroadcastRecipient) bool {
			switch r.Status {
			case engine.RecipientQueued, engine.RecipientSending:
				rc := *r
				a.recips[r.ContactID] = &rc
				if !r.RetryAt.IsZero() && r.RetryAt.After(now) {
					a.retry = append(a.retry, r.ContactID)
				} else {
					a.queue = append(a.queue, r.ContactID)
				}
			case engine.RecipientSent, engine.RecipientDelivered, engine.RecipientRead:
				if now.Sub(r.SentAt) < broadcastTierWindow {
					a.r.countTier(a.b.AccountID, r.Phone, r.SentAt)
				}
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	if b.State == engine.BroadcastSending || b.State == engine.BroadcastScheduled {
		if err := a.loadTemplate(); err != nil {
			return err
		}
	}
	a.loaded = true
	a.running()
	a.armTick(0)
	return nil
}

func (a *broadcastActor) loadTemplate() error {
	t, err := a.rt.store.Template(a.ws, a.b.WABAID, a.b.Template.Name, a.b.Template.Language)
	if err != nil {
		return fmt.Errorf("reading the broadcast's template: %w", err)
	}
	a.tmpl = t
	return nil
}

// running keeps the active gauge.
func (a *broadcastActor) running() {
	on := a.b.State == engine.BroadcastSending
	if on != a.countedAsRun {
		a.countedAsRun = on
		if on {
			a.r.metrics.active.Inc()
		} else {
			a.r.metrics.active.Dec()
		}
	}
}

func (a *broadcastActor) armTick(d time.Duration) {
	if a.tickArmed || !a.b.Active() || a.b.State == engine.BroadcastPaused {
		return
	}
	a.tickArmed = true
	pid, r := a.pid, a.r
	a.ticker = a.rt.clock.AfterFunc(d, func() { r.send(pid, &bcTick{}) })
}

func (a *broadcastActor) armFlush() {
	if a.flushArmed {
		return
	}
	a.flushArmed = true
	pid, r := a.pid, a.r
	a.flusher = a.rt.clock.AfterFunc(broadcastFlush, func() { r.send(pid, &bcFlush{}) })
}

// tick starts a due broadcast and hands out the sends its pace allows.
func (a *broadcastActor) tick() {
	now := a.rt.clock.Now()
	switch a.b.State {
	case engine.BroadcastScheduled:
		if wait := a.b.ScheduledAt.Sub(now); wait > 0 {
			a.armTick(wait)
			return
		}
		if err := a.begin(now); err != nil {
			a.rt.log.Error("Starting broadcast", "broadcast", a.id, "err", err)
			a.armTick(time.Second)
			return
		}
	case engine.BroadcastSending:
	default:
		return
	}
	// Recipients whose retry came due go back in the queue.
	if len(a.retry) > 0 {
		keep := a.retry[:0]
		for _, c := range a.retry {
			if r := a.recips[c]; r != nil && !r.RetryAt.After(now) {
				a.queue = append(a.queue, c)
			} else if r != nil {
				keep = append(keep, c)
			}
		}
		a.retry = keep
	}
	if now.Before(a.b.BackoffUntil) {
		a.armTick(a.b.BackoffUntil.Sub(now))
		return
	}
	room := engine.BroadcastInFlightLimit(a.b.RatePerSecond) - len(a.inflight)
	n := a.pacer.Allowed(now, min(len(a.queue), cap(a.r.jobs)-len(a.r.jobs), max(room, 0)))
	var jobs []broadcastJob
	for _, c := range a.queue[:n] {
		r := a.recips[c]
		if r == nil {
			continue
		}
		if ok, wait := a.r.tierAllows(a.b.Tier, a.b.AccountID, r.Phone, now); !ok {
			// The number's messaging tier is used up: wait for the
			// window to free a place.
			a.queue = append(a.queue[:0], a.queue[len(jobs):]...)
			a.commitSending(jobs, now)
			a.armTick(wait)
			return
		}
		ct, err := a.rt.store.Contact(a.ws, c)
		var content engine.Content
		if err == nil {
			content, err = engine.BroadcastMessage(&a.b, a.tmpl, &ct)
		}
		if err != nil {
			skip := engine.SkipVariables
			if errors.Is(err, persistence.ErrNotFound) {
				skip = engine.SkipContactGone
			}
			a.setStatus(r, engine.RecipientSkipped, now)
			r.SkipReason = skip
			continue
		}
		a.setStatus(r, engine.RecipientSending, now)
		if !a.inflight[c] {
			a.inflight[c] = true
			a.r.metrics.inFlight.Inc()
		}
		r.Attempts++
		r.RetryAt, r.QueuedAt = time.Time{}, now.UTC()
		jobs = append(jobs, broadcastJob{ws: a.ws, id: a.id, account: a.b.AccountID, r: *r, content: content})
	}
	a.queue = a.queue[n:]
	a.commitSending(jobs, now)
	if a.finishIfDone(now) {
		return
	}
	a.armTick(broadcastTick)
}

// commitSending writes the recipients about to be sent as sending,
// durably, before they are handed to the senders.
func (a *broadcastActor) commitSending(jobs []broadcastJob, now time.Time) {
	if err := a.flush(); err != nil {
		a.rt.log.Error("Committing broadcast recipients before their send", "broadcast", a.id, "err", err)
		// Not sent: back to the queue, tried again next tick.
		for _, j := range jobs {
			if r := a.recips[j.r.ContactID]; r != nil {
				a.setStatus(r, engine.RecipientQueued, now)
				a.queue = append(a.queue, j.r.ContactID)
			}
		}
		return
	}
	for _, j := range jobs {
		a.r.countTier(a.b.AccountID, j.r.Phone, now)
		a.r.jobs <- j
	}
}

// begin resolves the audience into recipients and starts sending.
func (a *broadcastActor) begin(now time.Time) error {
	if err := a.loadTemplate(); err != nil {
		return err
	}
	if !a.b.Resolved {
		entries, err := a.rt.ResolveBroadcastAudience(context.Background(), a.ws, &a.b.Audience, true)
		if err != nil {
			return err
		}
		b := a.rt.store.NewBatch()
		counts := engine.BroadcastCounts{}
		var queue []engine.ID
		recips := map[engine.ID]*engine.BroadcastRecipient{}
		for i := range entries {
			e := &entries[i]
			if e.ContactID == engine.ZeroID {
				continue
			}
			r := &engine.BroadcastRecipient{BroadcastID: a.id, ContactID: e.ContactID, Name: e.Name, Phone: e.Phone,
				Status: engine.RecipientQueued, QueuedAt: now.UTC(), UpdatedAt: now.UTC()}
			if e.Skip != "" {
				r.Status, r.SkipReason = engine.RecipientSkipped, e.Skip
			} else {
				queue = append(queue, e.ContactID)
				recips[e.ContactID] = r
			}
			counts.Add(r.Status)
			b.PutBroadcastRecipient(a.ws, r)
		}
		nb := a.b
		nb.Counts, nb.Resolved = counts, true
		nb.State, nb.StartedAt = engine.BroadcastSending, now.UTC()
		b.PutBroadcast(&nb)
		if err := a.rt.store.Commit(b); err != nil {
			b.Close()
			return fmt.Errorf("committing the broadcast's recipients: %w", err)
		}
		a.r.metrics.recipients.Add(float64(len(entries)))
		a.r.metrics.messages.WithLabelValues("skipped").Add(float64(counts.Skipped))
		a.b, a.recips, a.queue = nb, recips, queue
	} else {
		a.b.State, a.b.StartedAt = engine.BroadcastSending, now.UTC()
		a.dirtyB = true
		if err := a.flush(); err != nil {
			return err
		}
	}
	a.running()
	return nil
}

// finishIfDone completes a sending broadcast with nobody left to send
// to or waiting for Meta's answer.
func (a *broadcastActor) finishIfDone(now time.Time) bool {
	if a.b.State != engine.BroadcastSending || a.b.Counts.Queued > 0 {
		return false
	}
	st, err := engine.BroadcastTransition(&a.b, engine.BroadcastComplete)
	if err != nil {
		return false
	}
	a.b.State, a.b.FinishedAt = st, now.UTC()
	a.dirtyB = true
	if err := a.flush(); err != nil {
		a.rt.log.Error("Completing broadcast", "broadcast", a.id, "err", err)
		a.armFlush()
	}
	a.running()
	return true
}

// setStatus moves r to s with the counts.
func (a *broadcastActor) setStatus(r *engine.BroadcastRecipient, s engine.RecipientStatus, now time.Time) {
	if s != engine.RecipientSending && a.inflight[r.ContactID] {
		delete(a.inflight, r.ContactID)
		a.r.metrics.inFlight.Dec()
	}
	if r.Status == s {
		return
	}
	a.b.Counts.Move(r.Status, s)
	r.Status, r.UpdatedAt = s, now.UTC()
	a.dirty[r.ContactID], a.dirtyB = true, true
	if s != engine.RecipientSending && s != engine.RecipientQueued {
		a.r.metrics.messages.WithLabelValues(string(s)).Inc()
	}
	a.armFlush()
}

// recipient returns the recipient of contact, reading it if it is final
// already (a status or reply after the send).
func (a *broadcastActor) recipient(contact engine.ID) *engine.BroadcastRecipient {
	if r := a.recips[contact]; r != nil {
		return r
	}
	r, err := a.rt.store.BroadcastRecipient(a.ws, a.id, contact)
	if err != nil {
		return nil
	}
	a.recips[contact] = &r
	return &r
}

// made records a sender's answer.
func (a *broadcastActor) made(m *bcMade) {
	r := a.recips[m.contact]
	if r == nil {
		return
	}
	now := a.rt.clock.Now()
	if m.err != nil {
		switch {
		case errors.Is(m.err, engine.ErrBlocked):
			a.setStatus(r, engine.RecipientSkipped, now)
			r.SkipReason = engine.SkipBlocked
		case errors.Is(m.err, engine.ErrBroadcastUnsubscribed):
			a.setStatus(r, engine.RecipientSkipped, now)
			r.SkipReason = engine.SkipUnsubscribed
		case errors.Is(m.err, ErrShuttingDown), errors.Is(m.err, context.Canceled):
			// Left sending: asked again at the next start.
		default:
			a.setStatus(r, engine.RecipientFailed, now)
			r.ErrorCode, r.ErrorReason = "internal", m.err.Error()
		}
		a.finishIfDone(now)
		return
	}
	r.ConversationID, r.Seq = m.msg.ConversationID, m.msg.Seq
	a.dirty[r.ContactID] = true
	a.armFlush()
	a.status(m.contact, &m.msg)
}

// status rolls a broadcast message's status up to its recipient.
func (a *broadcastActor) status(contact engine.ID, msg *engine.Message) {
	now := a.rt.clock.Now()
	r := a.recipient(contact)
	if r == nil || msg.Seq != r.Seq && r.Seq != 0 {
		return
	}
	if r.Seq == 0 {
		r.ConversationID, r.Seq = msg.ConversationID, msg.Seq
	}
	switch msg.Status {
	case engine.StatusSending:
		return
	case engine.StatusFailed:
		if r.Status != engine.RecipientSending {
			a.progress(contact, engine.RecipientFailed, now, msg)
			return
		}
		a.failed(r, msg, now)
	case engine.StatusSent, engine.StatusDelivered, engine.StatusRead:
		next := map[engine.DeliveryStatus]engine.RecipientStatus{engine.StatusSent: engine.RecipientSent,
			engine.StatusDelivered: engine.RecipientDelivered, engine.StatusRead: engine.RecipientRead}[msg.Status]
		if r.Status == engine.RecipientSending {
			// Meta accepted it: sent, whatever the report (a delivered
			// report may come first).
			r.SentAt = now.UTC()
			r.MessageID = msg.ChannelMessageID
			a.r.metrics.sendSecs.Observe(now.Sub(r.QueuedAt).Seconds())
			a.sentSinceBO++
			if lv := engine.BroadcastRecovered(a.b.BackoffLevel, a.sentSinceBO); lv != a.b.BackoffLevel {
				a.b.BackoffLevel, a.sentSinceBO = lv, 0
				a.pacer.SetLevel(lv, now)
			}
			if next != engine.RecipientSent {
				a.setStatus(r, engine.RecipientSent, now)
			}
		}
		if r.MessageID == "" {
			r.MessageID = msg.ChannelMessageID
		}
		a.progress(contact, next, now, msg)
	}
	a.finishIfDone(now)
}

// failed decides what a failed send does (engine.BroadcastOnError).
func (a *broadcastActor) failed(r *engine.BroadcastRecipient, msg *engine.Message, now time.Time) {
	d := engine.BroadcastOnError(msg.ErrorCode, r.Attempts, a.b.BackoffLevel, now)
	switch d.Action {
	case engine.BroadcastFail:
		a.setStatus(r, engine.RecipientFailed, now)
		r.ErrorCode, r.ErrorReason = msg.ErrorCode, msg.ErrorReason
		return
	case engine.BroadcastBackoff:
		a.b.BackoffLevel, a.b.BackoffUntil, a.sentSinceBO = d.BackoffLevel, d.BackoffUntil, 0
		a.pacer.SetLevel(d.BackoffLevel, now)
		a.dirtyB = true
	}
	a.r.metrics.backoffs.WithLabelValues(msg.ErrorCode).Inc()
	r.ErrorCode, r.ErrorReason = msg.ErrorCode, msg.ErrorReason
	r.RetryAt, r.QueuedAt = d.RetryAt.UTC(), d.RetryAt.UTC()
	a.setStatus(r, engine.RecipientQueued, now)
	a.retry = append(a.retry, r.ContactID)
	a.armTick(0)
}

// progress moves a recipient forward (engine.NextRecipientStatus).
func (a *broadcastActor) progress(contact engine.ID, s engine.RecipientStatus, now time.Time, msg *engine.Message) {
	r := a.recipient(contact)
	if r == nil {
		return
	}
	next, ok := engine.NextRecipientStatus(r.Status, s)
	if !ok {
		return
	}
	if s == engine.RecipientFailed && msg != nil {
		r.ErrorCode, r.ErrorReason = msg.ErrorCode, msg.ErrorReason
	}
	a.setStatus(r, next, now)
	if next == engine.RecipientOptedOut {
		a.queue = slices.DeleteFunc(a.queue, func(c engine.ID) bool { return c == contact })
		a.retry = slices.DeleteFunc(a.retry, func(c engine.ID) bool { return c == contact })
	}
	a.finishIfDone(now)
}

// flush commits the changed recipients and the broadcast in one batch.
func (a *broadcastActor) flush() error {
	if len(a.dirty) == 0 && !a.dirtyB {
		return nil
	}
	b := a.rt.store.NewBatch()
	for c := range a.dirty {
		if r := a.recips[c]; r != nil {
			b.PutBroadcastRecipient(a.ws, r)
		}
	}
	b.PutBroadcast(&a.b)
	if err := a.rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing broadcast %s: %w", a.id, err)
	}
	for c := range a.dirty {
		if r := a.recips[c]; r != nil && r.Status != engine.RecipientQueued && r.Status != engine.RecipientSending {
			delete(a.recips, c) // final for the send: read again if a status comes
		}
	}
	clear(a.dirty)
	a.dirtyB = false
	a.publish(false)
	return nil
}

// publish sends broadcast.updated with the broadcast as committed, at
// most every 250 ms (force: the throttle's deferred one, or now for a
// state change).
func (a *broadcastActor) publish(force bool) {
	now := a.rt.clock.Now()
	if !force && now.Sub(a.lastPub) < broadcastPublishEvery {
		if !a.pubArmed {
			a.pubArmed = true
			pid, r := a.pid, a.r
			a.publisher = a.rt.clock.AfterFunc(broadcastPublishEvery-now.Sub(a.lastPub), func() { r.send(pid, &bcPublish{}) })
		}
		return
	}
	a.lastPub = now
	b := a.b
	a.rt.bc.Publish([]engine.Event{{Type: engine.EventBroadcastUpdated, WorkspaceID: a.ws, At: now.UTC(), Data: &b}})
}

// control applies a pause, resume or cancel.
func (a *broadcastActor) control(action engine.BroadcastAction) (engine.Broadcast, error) {
	st, err := engine.BroadcastTransition(&a.b, action)
	if err != nil {
		return a.b, err
	}
	now := a.rt.clock.Now()
	a.b.State = st
	if st == engine.BroadcastCancelled {
		a.b.FinishedAt = now.UTC()
		a.queue, a.retry = nil, nil
	}
	a.dirtyB = true
	if err := a.flush(); err != nil {
		return a.b, err
	}
	a.running()
	if st == engine.BroadcastSending || st == engine.BroadcastScheduled {
		if a.tmpl.Name == "" {
			if err := a.loadTemplate(); err != nil {
				return a.b, err
			}
		}
		a.armTick(0)
	}
	return a.b, nil
}

// work is a sender: it writes each job's message through the recipient's
// conversation actor.
func (r *broadcastRunner) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.jobs:
			msg, err := r.rt.sendBroadcastMessage(ctx, &j)
			r.tell(j.ws, j.id, &bcMade{contact: j.r.ContactID, msg: msg, err: err})
		}
	}
}

// tierAllows reports whether the number may reach waID now within its
// messaging tier, and if not how long until a place frees.
func (r *broadcastRunner) tierAllows(tier, account, waID string, now time.Time) (bool, time.Duration) {
	limit, _, _ := engine.BroadcastTierLimit(tier)
	if limit == 0 {
		return true, 0
	}
	r.tierMu.Lock()
	defer r.tierMu.Unlock()
	m := r.tier[account]
	if _, ok := m[waID]; ok || len(m) < limit {
		return true, 0
	}
	oldest := now
	for k, t := range m {
		if now.Sub(t) >= broadcastTierWindow {
			delete(m, k)
			continue
		}
		if t.Before(oldest) {
			oldest = t
		}
	}
	if len(m) < limit {
		return true, 0
	}
	return false, oldest.Add(broadcastTierWindow).Sub(now)
}

func (r *broadcastRunner) countTier(account, waID string, at time.Time) {
	r.tierMu.Lock()
	defer r.tierMu.Unlock()
	m := r.tier[account]
	if m == nil {
		m = map[string]time.Time{}
		r.tier[account] = m
	}
	if t, ok := m[waID]; !ok || at.After(t) {
		m[waID] = at
	}
}

// CreateBroadcast stores a new broadcast (checked by the caller with
// engine.ValidateBroadcast) and starts its actor, which starts it at
// its time.
func (rt *Runtime) CreateBroadcast(ctx context.Context, b engine.Broadcast) (engine.Broadcast, error) {
	if err := rt.enter(); err != nil {
		return engine.Broadcast{}, err
	}
	defer rt.ops.Done()
	batch := rt.store.NewBatch()
	batch.PutBroadcast(&b)
	if err := rt.store.Commit(batch); err != nil {
		batch.Close()
		return engine.Broadcast{}, fmt.Errorf("committing a new broadcast: %w", err)
	}
	rt.casts.pid(b.WorkspaceID, b.ID)
	return b, nil
}

// ControlBroadcast pauses, resumes or cancels a broadcast through its
// actor; engine.ErrBroadcastState when its state does not allow it.
func (rt *Runtime) ControlBroadcast(ctx context.Context, ws, id engine.ID, action engine.BroadcastAction) (engine.Broadcast, error) {
	if err := rt.enter(); err != nil {
		return engine.Broadcast{}, err
	}
	defer rt.ops.Done()
	if _, err := rt.store.Broadcast(ws, id); errors.Is(err, persistence.ErrNotFound) {
		return engine.Broadcast{}, ErrBroadcastNotFound
	} else if err != nil {
		return engine.Broadcast{}, err
	}
	return rt.casts.call(ctx, ws, id, func(a *broadcastActor) (engine.Broadcast, error) { return a.control(action) })
}

// Broadcast returns a broadcast as its actor has it (counts not yet
// committed included) when the actor runs, else as stored.
func (rt *Runtime) Broadcast(ctx context.Context, ws, id engine.ID) (engine.Broadcast, error) {
	b, err := rt.store.Broadcast(ws, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return b, ErrBroadcastNotFound
	}
	if err != nil || !b.Active() {
		return b, err
	}
	return rt.casts.call(ctx, ws, id, func(a *broadcastActor) (engine.Broadcast, error) {
		if err := a.flush(); err != nil {
			return a.b, err
		}
		return a.b, nil
	})
}

// BroadcastOptOut tells a broadcast that contact opted out after it (an
// opt-out keyword in reply).
func (rt *Runtime) BroadcastOptOut(ws, broadcast, contact engine.ID) {
	rt.casts.tell(ws, broadcast, &bcOptedOut{contact: contact})
}

// BroadcastAudienceEntry is one contact (or CSV row) of a resolved
// audience: ContactID is zero for a CSV row of no contact yet (when not
// creating them); Skip says why it gets nothing.
type BroadcastAudienceEntry struct {
	ContactID engine.ID
	Name      string
	Phone     string // the WhatsApp id, or the CSV row's phone
	Skip      string
	Contact   *engine.Contact
}

// ResolveBroadcastAudience lists an audience's contacts, each once: a
// segment's members, the contacts with any of the tags, the contacts
// named, and the CSV's rows (matched to contacts by phone; with create,
// a row of no contact becomes one, Source import). Blocked and
// unsubscribed contacts and contacts with no WhatsApp are listed with
// their skip reason (engine.BroadcastAddress); so is a CSV row whose
// phone is not valid. At most engine.MaxBroadcastRecipients.
func (rt *Runtime) ResolveBroadcastAudience(ctx context.Context, ws engine.ID, aud *engine.BroadcastAudience, create bool) ([]BroadcastAudienceEntry, error) {
	var out []BroadcastAudienceEntry
	seen := map[engine.ID]bool{}
	seenPhone := map[string]bool{}
	add := func(c *engine.Contact) {
		if seen[c.ID] || len(out) >= engine.MaxBroadcastRecipients {
			return
		}
		seen[c.ID] = true
		wa, skip := engine.BroadcastAddress(c)
		if skip == "" && seenPhone[wa] {
			skip = engine.SkipDuplicate
		}
		if wa != "" {
			seenPhone[wa] = true
		}
		cc := *c
		out = append(out, BroadcastAudienceEntry{ContactID: c.ID, Name: c.Profile.Name, Phone: wa, Skip: skip, Contact: &cc})
	}
	if aud.SegmentID != "" {
		seg, err := engine.ParseID(aud.SegmentID)
		if err != nil {
			return nil, fmt.Errorf("%w: bad segment id", engine.ErrInvalid)
		}
		cursor := ""
		for {
			page, err := rt.store.SegmentMembers(ws, seg, cursor, 500)
			if err != nil {
				return nil, err
			}
			for i := range page.Contacts {
				add(&page.Contacts[i])
			}
			if page.NextCursor == "" || len(out) >= engine.MaxBroadcastRecipients {
				break
			}
			cursor = page.NextCursor
		}
	}
	if len(aud.Tags) > 0 {
		cursor := ""
		for {
			page, err := rt.store.Contacts(ws, cursor, 500)
			if err != nil {
				return nil, err
			}
			for i := range page.Contacts {
				c := &page.Contacts[i]
				if slices.ContainsFunc(c.Tags, func(t string) bool { return slices.Contains(aud.Tags, t) }) {
					add(c)
				}
			}
			if page.NextCursor == "" || len(out) >= engine.MaxBroadcastRecipients {
				break
			}
			cursor = page.NextCursor
		}
	}
	for _, s := range aud.ContactIDs {
		id, err := engine.ParseID(s)
		if err != nil {
			continue
		}
		c, err := rt.store.Contact(ws, id)
		if errors.Is(err, persistence.ErrNotFound) {
			if !seen[id] {
				seen[id] = true
				out = append(out, BroadcastAudienceEntry{ContactID: engine.ZeroID, Phone: "", Skip: engine.SkipNotInWorkspace, Name: s})
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		add(&c)
	}
	if aud.CSV != "" {
		rows, err := engine.ParseBroadcastCSV(aud.CSV)
		if err != nil {
			return nil, err
		}
		var made []*engine.Contact
		now := rt.clock.Now().UTC()
		for _, row := range rows {
			if row.Phone == "" {
				out = append(out, BroadcastAudienceEntry{Name: row.Name, Skip: engine.SkipInvalidPhone, Phone: fmt.Sprintf("line %d", row.Line)})
				continue
			}
			wa := row.Phone[1:]
			id, ok, err := rt.store.ContactByKeys(ws, engine.IdentityKeys(engine.ChannelWhatsApp, wa))
			if err != nil {
				return nil, err
			}
			if ok {
				c, err := rt.store.Contact(ws, id)
				if err == nil {
					add(&c)
					continue
				}
			}
			if seenPhone[wa] {
				continue
			}
			seenPhone[wa] = true
			if !create {
				out = append(out, BroadcastAudienceEntry{Name: row.Name, Phone: wa})
				continue
			}
			// The new contact's WhatsApp identity is the number the
			// broadcast sends to: written now, in the import's batch, so
			// its first conversation has no identity to tell its actor.
			c := &engine.Contact{ID: engine.NewID(now), WorkspaceID: ws, Profile: engine.Profile{Name: row.Name, Phone: row.Phone},
				Identities: []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: wa}},
				Source:     engine.SourceImport, CreatedAt: now, UpdatedAt: now}
			made = append(made, c)
			out = append(out, BroadcastAudienceEntry{ContactID: c.ID, Name: row.Name, Phone: wa, Contact: c})
		}
		if len(made) > 0 {
			if err := rt.ImportContacts(ctx, made); err != nil {
				return nil, fmt.Errorf("creating the csv's new contacts: %w", err)
			}
		}
	}
	return out, nil
}

// sendBroadcastMessage has the recipient's conversation on the number
// write the broadcast's message (creating the conversation if the
// contact has none there), or return the one written before.
func (rt *Runtime) sendBroadcastMessage(ctx context.Context, j *broadcastJob) (engine.Message, error) {
	if err := rt.enter(); err != nil {
		return engine.Message{}, err
	}
	defer rt.ops.Done()
	tag := engine.BroadcastSendTag(j.id, j.r.ContactID)
	in := &engine.Inbound{WorkspaceID: j.ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: j.account,
		ExternalUserID: j.r.Phone, ChannelMessageID: tag}
	// No ContactName: the recipient's name is the contact's own, not one
	// the channel reported, so the new conversation tells the contact's
	// actor nothing (the contact has its WhatsApp identity already, or
	// hears of it once).
	th, err := rt.dir.resolveFor(in, j.r.ContactID)
	if err != nil {
		return engine.Message{}, fmt.Errorf("resolving the recipient's conversation: %w", err)
	}
	m := &broadcastSendMsg{in: in, thread: th, broadcast: j.id, contact: j.r.ContactID,
		cmd: engine.SendBroadcast{Content: j.content, Tag: tag}, retry: j.r.Attempts > 1, reply: make(chan broadcastSendReply, 1)}
	rt.dir.send(j.ws, th.conv, m)
	select {
	case r := <-m.reply:
		return r.msg, r.err
	case <-ctx.Done():
		return engine.Message{}, ctx.Err()
	}
}

type broadcastSendMsg struct {
	in        *engine.Inbound
	thread    pendingThread
	broadcast engine.ID
	contact   engine.ID
	cmd       engine.SendBroadcast
	// retry asks for a throttled message to be sent again.
	retry bool
	reply chan broadcastSendReply
}

type broadcastSendReply struct {
	msg engine.Message
	err error
}

// broadcastSend writes a broadcast's message in this conversation, with
// its idempotency entry, unless the entry says it was written before.
func (a *conversationActor) broadcastSend(m *broadcastSendMsg) (engine.Message, error) {
	ref, ok, err := a.rt.store.BroadcastMessage(a.ws, m.broadcast, m.contact)
	if err != nil {
		return engine.Message{}, err
	}
	if ok {
		msg, err := a.rt.store.Message(a.ws, ref.ConversationID, ref.Seq)
		if err != nil || !m.retry || msg.Status != engine.StatusFailed || !engine.BroadcastThrottled(msg.ErrorCode) ||
			ref.ConversationID != a.id {
			return msg, err
		}
		// Meta throttled it and the broadcast's pace says try again now.
		t := a.begin()
		res, err := t.apply(engine.Retry{Seq: msg.Seq})
		if err != nil {
			t.abort()
			return msg, err
		}
		if err := t.commit(); err != nil {
			t.abort()
			a.load()
			return msg, err
		}
		return res.Messages[0], nil
	}
	t := a.begin()
	if t.cur.ID == engine.ZeroID {
		if err := t.create(m.in, m.thread); err != nil {
			t.abort()
			return engine.Message{}, err
		}
	}
	res, err := t.apply(m.cmd)
	if err != nil {
		t.abort()
		return engine.Message{}, err
	}
	msg := res.Messages[0]
	t.b.PutBroadcastMessage(a.ws, m.broadcast, m.contact, a.id, msg.Seq, t.now)
	if err := t.commit(); err != nil {
		t.abort()
		a.load()
		return engine.Message{}, err
	}
	return msg, nil
}

// broadcastMessages tells the broadcasts of the broadcast messages a
// transaction changed (after its commit).
func (t *txn) broadcastMessages(res *engine.Result) {
	for i := range res.Messages {
		m := res.Messages[i]
		if m.Sender.Kind != engine.SenderBroadcast || m.Direction != engine.DirOut || m.Status == engine.StatusSending {
			continue
		}
		bc, contact, ok := engine.ParseBroadcastSendTag(m.Reasoning)
		if !ok {
			continue
		}
		rt, ws := t.a.rt, t.a.ws
		t.post = append(t.post, func() { rt.casts.tell(ws, bc, &bcStatus{contact: contact, msg: m}) })
	}
}

// broadcastReply gives a customer's message its broadcast's attribution
// when a broadcast reached the conversation within
// engine.BroadcastReplyWindow, and tells the broadcast of the reply.
func (t *txn) broadcastReply(in *engine.Inbound) *engine.Inbound {
	if in.Echo || in.Referral != nil || t.cur.ID == engine.ZeroID || t.cur.Channel != engine.ChannelWhatsApp {
		return in
	}
	a := t.a
	bc, contact, at, ok, err := a.rt.store.LastBroadcast(a.ws, a.id)
	if err != nil || !ok || t.now.Sub(at) > engine.BroadcastReplyWindow {
		return in
	}
	if t.cur.Campaign != nil && t.cur.Campaign.Source == engine.CampaignSourceBroadcast && t.cur.Campaign.Ref == bc.String() {
		return in // replied already: the attribution stands
	}
	b, err := a.rt.store.Broadcast(a.ws, bc)
	if err != nil {
		return in
	}
	cp := *in
	cp.Referral = b.Campaign()
	rt, ws, now := a.rt, a.ws, t.now
	t.post = append(t.post, func() { rt.casts.tell(ws, bc, &bcReplied{contact: contact, at: now}) })
	return &cp
}
