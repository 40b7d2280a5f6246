package actors

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Messages understood by a conversation actor. Each carries its own reply
// channel (buffered, so the actor never blocks on a caller that left).

type ingestMsg struct {
	items []ingestItem
	reply chan []IngestResult
}

type ingestItem struct {
	in     *engine.Inbound
	thread pendingThread
}

type commandMsg struct {
	cmd   engine.Command
	reply chan commandReply
}

type commandReply struct {
	res engine.Result
	err error
}

type statusMsg struct {
	report engine.StatusReport
	seq    uint64
	reply  chan error
}

type timerMsg struct {
	t    persistence.Timer
	done chan error
}

// deliveryMsg is the courier's report on one send.
type deliveryMsg struct {
	seq   uint64
	extID string
	err   *SendError
	done  chan struct{} // closed when handled; may be nil
}

// attemptMsg is the courier's report of a send attempt that failed for
// now: the outbox entry keeps the count so that the retry budget spans
// restarts.
type attemptMsg struct {
	seq      uint64
	attempts int
	done     chan struct{} // closed when handled
}

type aiReplyMsg struct {
	req engine.AIRequest
	ans AIAnswer
	// settled: the pool chose not to answer req; only its backstop goes.
	settled bool
}

// panicMsg makes the actor panic; tests use it to prove supervision.
type panicMsg struct{ reply chan error }

// watermarkMsg moves every outbound message sent at or before at (or, with
// upToSeq set, numbered at or below it) to status.
type watermarkMsg struct {
	status  engine.DeliveryStatus
	at      time.Time
	upToSeq uint64
	reply   chan error
}

// pingMsg asks whether the conversation exists, without writing: a
// barrier for tests and a probe of activation time for benchmarks.
type pingMsg struct{ reply chan bool }

// conversationActor owns one conversation. Its state is the header as last
// committed; the message log stays in Pebble.
type conversationActor struct {
	rt      *Runtime
	ws, id  engine.ID
	e       *entry
	conv    *engine.Conversation // nil: no such conversation on disk
	loadErr error
	// reported is the profile name the channel last reported in this
	// activation, handed to the contact's actor already.
	reported string
}

func (rt *Runtime) conversationProps(ws, id engine.ID, e *entry) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &conversationActor{rt: rt, ws: ws, id: id, e: e}
	}, actor.WithSupervisor(rt.supervisor), actor.WithDispatcher(rt.dispatcher))
}

// Receive handles one message. A panic answers the caller with
// ErrActorFailed and then escalates to the supervisor, which restarts the
// actor: the new instance reloads its state from disk.
func (a *conversationActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.load()
		return
	case *actor.Stopping:
		// Passivated (or shut down): the thread cache keeps busy
		// conversations only, so an idle one costs no memory (its next
		// message reads the thread index).
		if a.conv != nil {
			a.rt.dir.forget(a.conv)
		}
		return
	case *actor.Restarting, *actor.Stopped:
		return
	case *ingestMsg, *commandMsg, *statusMsg, *timerMsg, *deliveryMsg, *attemptMsg, *aiReplyMsg, *panicMsg, *pingMsg, *watermarkMsg,
		*renamedMsg, *retentionMsg, *broadcastSendMsg:
		defer a.e.pending.Add(-1)
		defer func() {
			if r := recover(); r != nil {
				a.rt.log.Error("Conversation actor panicked; restarting from disk",
					"conversation", a.id, "panic", r)
				a.fail(msg, ErrActorFailed)
				panic(r)
			}
		}()
		a.handle(msg)
	}
}

func (a *conversationActor) load() {
	a.conv, a.loadErr = loadState(func() (engine.Conversation, error) { return a.rt.store.Conversation(a.ws, a.id) })
	if a.loadErr != nil {
		a.rt.log.Error("Loading conversation", "conversation", a.id, "err", a.loadErr)
	}
}

// loadState reads the record an actor owns: nil when there is none.
func loadState[T any](get func() (T, error)) (*T, error) {
	v, err := get()
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// fail answers msg's caller with err.
func (a *conversationActor) fail(msg any, err error) {
	switch m := msg.(type) {
	case *ingestMsg:
		res := make([]IngestResult, len(m.items))
		for i := range res {
			res[i].Err = err
		}
		a.rt.inflight.Add(-int64(len(m.items)))
		m.reply <- res
	case *commandMsg:
		m.reply <- commandReply{err: err}
	case *statusMsg:
		m.reply <- err
	case *timerMsg:
		m.done <- err
	case *deliveryMsg:
		if m.done != nil {
			close(m.done)
		}
	case *attemptMsg:
		close(m.done)
	case *panicMsg:
		m.reply <- err
	case *pingMsg:
		m.reply <- false
	case *watermarkMsg:
		m.reply <- err
	case *renamedMsg:
		if m.done != nil {
			close(m.done)
		}
	case *retentionMsg:
		m.reply <- retentionReply{err: err}
	case *broadcastSendMsg:
		m.reply <- broadcastSendReply{err: err}
	}
}

func (a *conversationActor) handle(msg any) {
	if a.loadErr != nil {
		a.load() // a transient read error: try again
		if a.loadErr != nil {
			a.fail(msg, fmt.Errorf("loading conversation: %w", a.loadErr))
			return
		}
	}
	switch m := msg.(type) {
	case *ingestMsg:
		a.ingest(m)
	case *commandMsg:
		res, err := a.command(m.cmd)
		m.reply <- commandReply{res, err}
	case *broadcastSendMsg:
		msg, err := a.broadcastSend(m)
		m.reply <- broadcastSendReply{msg, err}
	case *statusMsg:
		m.reply <- a.status(m)
	case *timerMsg:
		m.done <- a.timer(m.t)
	case *deliveryMsg:
		if err := a.delivery(m); err != nil {
			a.rt.log.Error("Recording delivery", "conversation", a.id, "seq", m.seq, "err", err)
		}
		if m.done != nil {
			close(m.done)
		}
	case *attemptMsg:
		if err := a.attempt(m); err != nil {
			a.rt.log.Error("Recording a send attempt", "conversation", a.id, "seq", m.seq, "err", err)
		}
		close(m.done)
	case *aiReplyMsg:
		if m.settled {
			if err := a.settled(m.req); err != nil {
				a.rt.log.Error("Clearing the AI backstop", "conversation", a.id, "err", err)
			}
			return
		}
		if err := a.aiReply(m); err != nil {
			a.rt.log.Error("Recording AI reply", "conversation", a.id, "err", err)
		}
	case *panicMsg:
		panic("conversation actor: panic requested")
	case *pingMsg:
		m.reply <- a.conv != nil
	case *watermarkMsg:
		m.reply <- a.watermark(m)
	case *renamedMsg:
		if err := a.renamed(m); err != nil {
			a.rt.log.Error("Showing the contact's new name", "conversation", a.id, "err", err)
		}
		if m.done != nil {
			close(m.done)
		}
	case *retentionMsg:
		m.reply <- a.retain(m)
	}
}

// txn accumulates the rules applied for one actor message into one batch.
type txn struct {
	a       *conversationActor
	b       *persistence.Batch
	now     time.Time
	old     *engine.Conversation
	cur     engine.Conversation
	created bool
	changed map[uint64]engine.Message
	events  []engine.Event
	sends   []engine.Message
	ask     *engine.AIRequest
	askNow  bool // ask without the debounce window
	timers  bool
	post    []func() // run after a successful commit

	// The conversation's agent, resolved once (see policy).
	resolved bool
	hasAgent bool
	pol      AgentPolicy
}

// policy returns whether the conversation has an agent, and its policy,
// resolved once per transaction (the channel account does not change in
// one; a change of assistant takes effect from the next). A transaction without a conversation yet has none.
func (t *txn) policy() (bool, AgentPolicy) {
	if !t.resolved && t.cur.ID != engine.ZeroID {
		t.resolved = true
		if agents := t.a.rt.cfg.Agents; agents != nil {
			agent, pol := agents.Resolve(t.cur.WorkspaceID, t.cur.Channel, t.cur.ChannelAccountID, t.cur.Assistant())
			t.hasAgent, t.pol = agent != nil, pol
		}
	}
	return t.hasAgent, t.pol
}

func (a *conversationActor) begin() *txn {
	t := &txn{a: a, b: a.rt.store.NewBatch(), now: a.rt.clock.Now(), old: a.conv}
	if a.conv != nil {
		t.cur = a.conv.Clone()
	}
	return t
}

func (t *txn) lookup(seq uint64) (engine.Message, bool) {
	if m, ok := t.changed[seq]; ok {
		return m, true
	}
	m, err := t.a.rt.store.Message(t.a.ws, t.a.id, seq)
	return m, err == nil
}

func (t *txn) apply(cmd engine.Command) (engine.Result, error) {
	res, err := engine.Apply(t.cur, cmd, t.now, t.a.rt.cfg.IDs, t.settings(), t.lookup)
	if err != nil {
		return res, err
	}
	t.cur = res.Conversation
	if res.Handoff != "" || res.Reactivated || res.FollowUpSent || res.SurveySent {
		r := res
		t.post = append(t.post, func() { t.a.rt.aiMetrics.observe(&r) })
	}
	if t.changed == nil {
		t.changed = map[uint64]engine.Message{}
	}
	for i := range res.Messages {
		m := &res.Messages[i]
		t.changed[m.Seq] = *m
		t.b.PutMessage(m, t.cur.Channel)
	}
	if f := res.Feedback; f != nil {
		// The user's previous rating of the message, whose index entry
		// the new one replaces.
		prev, err := t.a.rt.store.OptionalFeedback(f.WorkspaceID, f.ConversationID, f.Seq, f.UserID)
		if err != nil {
			return engine.Result{}, fmt.Errorf("reading the previous rating: %w", err)
		}
		t.b.PutFeedback(prev, f)
	}
	t.events = append(t.events, res.Events...)
	t.broadcastMessages(&res)
	for _, m := range res.Send {
		t.b.PutOutbox(m.WorkspaceID, m.ConversationID, m.Seq)
		t.sends = append(t.sends, m)
	}
	if res.AskAI != nil {
		t.ask = res.AskAI
	}
	return res, nil
}

// commit writes the batch with the header and its indexes, and once it is
// durable makes it the actor's state, publishes the events and starts the
// slow work (sends, AI).
func (t *txn) commit() error {
	a := t.a
	if t.cur.Deleted {
		// DeleteConversation was added by the caller.
	} else if t.cur.ID != engine.ZeroID {
		t.pendingAI()
		t.b.PutConversation(t.old, &t.cur)
		t.timers = t.old == nil || !t.old.AIResumesAt.Equal(t.cur.AIResumesAt) || !t.old.FollowUpAt.Equal(t.cur.FollowUpAt) ||
			!t.old.AIPendingAt.Equal(t.cur.AIPendingAt)
	}
	figures := t.analytics()
	staged := a.rt.stageEvents(t.b, t.events)
	start := time.Now()
	err := a.rt.store.Commit(t.b)
	staged()
	if err != nil {
		return fmt.Errorf("committing conversation %s: %w", a.id, err)
	}
	a.rt.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	a.rt.metrics.business.observe(figures)
	if t.cur.Deleted {
		a.rt.dir.forget(&t.cur)
		a.conv = nil
	} else if t.cur.ID != engine.ZeroID {
		c := t.cur
		a.conv = &c
	}
	if t.created {
		a.rt.dir.committed(&t.cur)
	}
	for _, f := range t.post {
		f()
	}
	if !t.cur.Deleted && t.cur.ID != engine.ZeroID {
		// What segments look at (docs/ARCHITECTURE.md, "Segments"): the
		// contact's actor keeps it.
		wrote := t.old == nil || t.cur.LastInboundAt.After(t.old.LastInboundAt)
		retagged := t.old == nil && len(t.cur.Tags) > 0 || t.old != nil && !slices.Equal(t.old.Tags, t.cur.Tags)
		if wrote || retagged {
			var last time.Time
			if wrote {
				last = t.cur.LastInboundAt
			}
			a.rt.activityLater(a.ws, t.cur.ContactID, last, retagged, t.created)
		}
	}
	a.rt.bc.Publish(t.events)
	if t.timers {
		for _, due := range []time.Time{t.cur.AIResumesAt, t.cur.FollowUpAt, t.cur.AIPendingAt} {
			if !due.IsZero() {
				a.rt.tk.kickAt(due)
			}
		}
	}
	for _, m := range t.sends {
		a.rt.courier.enqueue(Outbound{Conversation: t.cur, Message: m})
	}
	switch {
	case t.ask == nil || a.conv == nil:
	case t.askNow:
		a.rt.agents.submit(*t.ask)
	default:
		a.rt.askAI(*t.ask, t)
	}
	return nil
}

func (t *txn) abort() { t.b.Close() }

func (a *conversationActor) ingest(m *ingestMsg) {
	// The slots are released before the reply, so that a caller who got
	// its answer sees them free (and on any other way out).
	released := false
	release := func() {
		if !released {
			released = true
			a.rt.inflight.Add(-int64(len(m.items)))
		}
	}
	defer release()
	results := make([]IngestResult, len(m.items))
	t := a.begin()
	seen := map[string]uint64{} // channel message id → seq, within this batch
	for i, it := range m.items {
		in := it.in
		results[i].ConversationID = a.id
		if seq, ok := seen[in.ChannelMessageID]; ok {
			results[i].Duplicate, results[i].Seq = true, seq
			continue
		}
		ref, dup, err := a.rt.store.LookupChannelMessage(a.ws, in.Channel, in.ChannelMessageID)
		if err != nil {
			results[i].Err = err
			continue
		}
		if dup {
			results[i].Duplicate, results[i].Seq = true, ref.Seq
			continue
		}
		if held, err := t.holdEcho(in); err != nil || held {
			results[i].Err, results[i].Held = err, held
			continue
		}
		if t.cur.ID == engine.ZeroID {
			if err := t.create(in, it.thread); err != nil {
				results[i].Err = err
				continue
			}
		} else if in.ContactName != "" && !in.Echo && in.ContactName != a.reported {
			// The contact's actor decides whether the contact takes the
			// name, and tells this conversation if it does.
			a.reported = in.ContactName
			ws, contact, name, previous := a.ws, t.cur.ContactID, in.ContactName, t.cur.ContactName
			t.post = append(t.post, func() { a.rt.fromChannelLater(ws, contact, nil, name, previous) })
		}
		in = t.broadcastReply(in)
		cmd := in.Command()
		if r, ok := cmd.(engine.Receive); ok {
			r.ContactName = "" // the header shows the contact's name, which the contact's actor keeps
			cmd = r
		}
		res, err := t.apply(cmd)
		if err != nil {
			results[i].Err = err
			continue
		}
		results[i].Seq, results[i].ContactName = res.Messages[0].Seq, t.cur.ContactName
		seen[in.ChannelMessageID] = results[i].Seq
		if res.OptOut != engine.OptOutNone {
			// The contact's subscription follows: its actor decides.
			ws, contact, unsub, kw := a.ws, t.cur.ContactID, res.OptOut == engine.OptOutUnsubscribe, in.Content.Text
			t.post = append(t.post, func() { a.rt.subscriptionLater(ws, contact, unsub, kw) })
			if unsub {
				t.optedOutOfBroadcast()
			}
		}
		if in.Referral != nil && !in.Echo && t.cur.Campaign != nil {
			// The contact's first touch, if it has none: its actor decides.
			ws, contact, cp := a.ws, t.cur.ContactID, *t.cur.Campaign
			t.post = append(t.post, func() { a.rt.firstTouchLater(ws, contact, &cp) })
		}
		if !in.Echo && in.Content.Kind == engine.KindText && in.Content.Text != "" {
			ws, contact, text := a.ws, t.cur.ContactID, in.Content.Text // the customer's words, not the business's
			t.post = append(t.post, func() { a.rt.lang.offer(ws, contact, text) })
		}
	}
	if err := t.commit(); err != nil {
		t.abort()
		for i := range results {
			if results[i].Err == nil && !results[i].Duplicate {
				results[i].Err = err
			}
		}
		a.load() // the in-memory state was not changed; reload to be sure
	}
	release()
	m.reply <- results
}

// holdEcho keeps an echo aside when it may be one of the conversation's
// own sends still waiting for the channel's answer (see
// engine.EchoesUnmarked); it reports whether it did.
func (t *txn) holdEcho(in *engine.Inbound) (bool, error) {
	if !in.Echo || !engine.EchoesUnmarked(in.Channel) || t.cur.ID == engine.ZeroID || t.created {
		return false, nil
	}
	inflight, err := t.a.rt.store.OutboxOf(t.a.ws, t.a.id)
	if err != nil || len(inflight) == 0 {
		return false, err
	}
	t.b.PutHeldEcho(t.a.ws, t.a.id, &persistence.HeldEcho{ChannelMessageID: in.ChannelMessageID, Content: in.Content, SentAt: in.SentAt})
	t.post = append(t.post, t.a.rt.metrics.echoesHeld.Inc)
	return true, nil
}

// settleEchoes reconciles the echoes held while sends were in flight, now
// that send seq is answered (extID is the channel's id for it, empty if
// it failed): the echo with that id is the message coming back and merges
// into it (no second message, no mode change); once no other send is in
// flight, the echoes left were a person's and are stored as such.
func (t *txn) settleEchoes(seq uint64, extID string) error {
	a := t.a
	held, err := a.rt.store.HeldEchoes(a.ws, a.id)
	if err != nil || len(held) == 0 {
		return err
	}
	inflight, err := a.rt.store.OutboxOf(a.ws, a.id)
	if err != nil {
		return err
	}
	others := slices.ContainsFunc(inflight, func(s uint64) bool { return s != seq })
	for _, e := range held {
		switch {
		case extID != "" && e.ChannelMessageID == extID:
			t.b.DeleteHeldEcho(a.ws, a.id, e.ChannelMessageID)
			t.post = append(t.post, a.rt.metrics.echoesMerged.Inc)
		case !others:
			t.b.DeleteHeldEcho(a.ws, a.id, e.ChannelMessageID)
			if _, dup, err := a.rt.store.LookupChannelMessage(a.ws, t.cur.Channel, e.ChannelMessageID); err != nil || dup {
				if err != nil {
					return err
				}
				continue
			}
			if _, err := t.apply(engine.Echo{ChannelMessageID: e.ChannelMessageID, Content: e.Content, SentAt: e.SentAt}); err != nil &&
				!errors.Is(err, engine.ErrInvalid) {
				return err
			}
		}
	}
	return nil
}

// create starts a new conversation (and, for a new channel user, a new
// contact) in this transaction. The header shows the contact's name. A
// new contact is written in the conversation's first batch (no actor owns
// its id yet), so that a conversation never names a missing contact; an
// existing one hears of the sender's identity and profile name from its
// actor after the commit.
func (t *txn) create(in *engine.Inbound, th pendingThread) error {
	a := t.a
	c := engine.NewConversation(a.id, a.ws, in.Channel, in.ChannelAccountID, th.contact, in.ExternalUserID, t.now)
	c.Thread = in.Thread
	if p, ok := a.rt.cfg.Agents.(AssistantPicker); ok {
		c.AssistantID = p.AssistantFor(a.ws, in.Channel, in.ChannelAccountID)
	}
	ident := engine.Identity{Channel: in.Channel, ExternalID: in.ExternalUserID}
	ct, err := a.rt.store.Contact(a.ws, th.contact)
	switch {
	case err == nil:
		// The same new user's thread on another account committed the
		// contact first: its actor owns it now.
		th.newContact = false
	case !errors.Is(err, persistence.ErrNotFound):
		return fmt.Errorf("reading contact: %w", err)
	}
	if th.newContact {
		c.ContactName = in.ContactName
		src := engine.SourceChat
		if in.Source.Valid() {
			src = in.Source
		}
		nc := engine.Contact{
			ID: th.contact, WorkspaceID: a.ws, Profile: engine.Profile{Name: in.ContactName},
			ChannelName: in.ContactName, Identities: []engine.Identity{ident},
			Source: src, CreatedAt: t.now, UpdatedAt: t.now,
		}
		engine.EnrichPhone(&nc) // a WhatsApp id is the customer's number: its country
		t.b.PutContact(nil, &nc)
	} else {
		c.ContactName = ct.Profile.Name
		if !slices.Contains(ct.Identities, ident) || in.ContactName != "" && !in.Echo && in.ContactName != ct.ChannelName {
			var name string
			if !in.Echo {
				name = in.ContactName
			}
			ws, contact, previous := a.ws, th.contact, c.ContactName
			t.post = append(t.post, func() { a.rt.fromChannelLater(ws, contact, &ident, name, previous) })
		}
	}
	if !in.Echo {
		a.reported = in.ContactName
	}
	t.cur, t.created = c, true
	t.events = append(t.events, engine.Event{Type: engine.EventConversationCreated, WorkspaceID: a.ws,
		ConversationID: a.id, At: t.now, Conversation: &c, NewContact: th.newContact})
	return nil
}

func (a *conversationActor) command(cmd engine.Command) (engine.Result, error) {
	if a.conv == nil {
		return engine.Result{}, ErrNotFound
	}
	t := a.begin()
	res, err := t.apply(cmd)
	if err != nil {
		t.abort()
		return engine.Result{}, err
	}
	if res.Conversation.Deleted {
		ids, err := a.rt.store.ChannelMessageIDs(a.ws, a.id)
		if err != nil {
			t.abort()
			return engine.Result{}, err
		}
		t.b.DeleteConversation(a.conv, ids)
	}
	if err := t.commit(); err != nil {
		t.abort()
		return engine.Result{}, err
	}
	return res, nil
}

func (a *conversationActor) status(m *statusMsg) error {
	if a.conv == nil {
		return nil // deleted since: nothing to update
	}
	t := a.begin()
	r := m.report
	if _, err := t.apply(engine.UpdateStatus{Seq: m.seq, Status: r.Status, At: r.At,
		ErrorCode: r.ErrorCode, ErrorReason: r.ErrorReason}); err != nil {
		t.abort()
		if errors.Is(err, engine.ErrNoSuchMessage) {
			return nil
		}
		return err
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}

func (a *conversationActor) timer(tm persistence.Timer) error {
	if tm.Kind == persistence.TimerAIPending {
		return a.pendingDue(tm)
	}
	t := a.begin()
	if a.conv != nil {
		var cmd engine.Command = engine.AIResumeDue{Due: tm.Due}
		if tm.Kind == persistence.TimerFollowUp {
			cmd = engine.FollowUpDue{Due: tm.Due}
		}
		if _, err := t.apply(cmd); err != nil {
			t.abort()
			return err
		}
	}
	// A timer whose deadline no longer matches the header is stale, and
	// one that fired is spent (the header moved on): its entry goes.
	if a.conv == nil || !timerDue(&t.cur, tm.Kind).Equal(tm.Due) {
		t.b.DeleteTimer(tm)
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}

func timerDue(c *engine.Conversation, k persistence.TimerKind) time.Time {
	if k == persistence.TimerFollowUp {
		return c.FollowUpAt
	}
	return c.AIResumesAt
}

func (a *conversationActor) delivery(m *deliveryMsg) error {
	if a.conv == nil {
		return nil
	}
	t := a.begin()
	t.b.DeleteOutbox(a.ws, a.id, m.seq)
	if m.err != nil {
		if _, err := t.apply(engine.UpdateStatus{Seq: m.seq, Status: engine.StatusFailed, At: t.now,
			ErrorCode: m.err.Code, ErrorReason: m.err.Reason}); err != nil && !errors.Is(err, engine.ErrNoSuchMessage) {
			t.abort()
			return err
		}
		if err := t.settleEchoes(m.seq, ""); err != nil {
			t.abort()
			return err
		}
		if err := t.commit(); err != nil {
			t.abort()
			return err
		}
		return nil
	}
	// The channel message id becomes known in this commit. Status reports
	// that arrived before it were kept as orphans; hold the id's lock so
	// none can slip in between reading them and committing the id.
	mu := a.rt.dir.statusLock(a.ws, a.conv.Channel, m.extID)
	mu.Lock()
	defer mu.Unlock()
	orphans, err := a.rt.store.OrphanStatuses(a.ws, a.conv.Channel, m.extID)
	if err != nil {
		t.abort()
		return err
	}
	steps := []engine.UpdateStatus{{Seq: m.seq, Status: engine.StatusSent, At: t.now, ChannelMessageID: m.extID}}
	for _, o := range orphans {
		steps = append(steps, engine.UpdateStatus{Seq: m.seq, Status: o.Status, At: o.At, ErrorCode: o.ErrorCode, ErrorReason: o.ErrorReason})
	}
	for _, s := range steps {
		if _, err := t.apply(s); err != nil && !errors.Is(err, engine.ErrNoSuchMessage) {
			t.abort()
			return err
		}
	}
	if len(orphans) > 0 {
		t.b.DeleteOrphans(a.ws, a.conv.Channel, m.extID)
	}
	if err := t.settleEchoes(m.seq, m.extID); err != nil {
		t.abort()
		return err
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}

// attempt records the failed attempts of a message still sending on its
// outbox entry. A message whose outcome is recorded (or that is gone)
// has no entry to update.
func (a *conversationActor) attempt(m *attemptMsg) error {
	if a.conv == nil {
		return nil
	}
	msg, err := a.rt.store.Message(a.ws, a.id, m.seq)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if msg.Direction != engine.DirOut || msg.Status != engine.StatusSending {
		return nil
	}
	b := a.rt.store.NewBatch()
	b.PutOutboxAttempts(a.ws, a.id, m.seq, m.attempts)
	if err := a.rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing send attempts: %w", err)
	}
	return nil
}

func (a *conversationActor) aiReply(m *aiReplyMsg) error {
	if a.conv == nil {
		return nil
	}
	t := a.begin()
	ans := m.ans
	if ans.FollowUpAt.IsZero() && ans.FollowUpAfter > 0 {
		ans.FollowUpAt = t.now.Add(ans.FollowUpAfter)
	}
	res, err := t.apply(engine.AIReply{Request: m.req, Content: ans.Content, Reasoning: ans.Reasoning,
		Handoff: ans.Handoff, FollowUpAt: ans.FollowUpAt, FollowUpReason: ans.FollowUpReason, Sources: ans.Sources})
	if errors.Is(err, engine.ErrInvalid) {
		// The agent answered something that cannot be sent: the customer
		// must not wait for nobody, a person takes it.
		a.rt.log.Warn("AI reply invalid; handing off", "conversation", a.id, "err", err)
		res, err = t.apply(engine.AIReply{Request: m.req, Reasoning: ans.Reasoning,
			Handoff: "the AI agent's reply could not be sent"})
	}
	if err != nil {
		t.abort()
		return err
	}
	if res.Discarded {
		t.abort()
		a.rt.metrics.aiDiscarded.Inc()
		return nil
	}
	// The contact's actor takes the contact values before the memories
	// (tests wait for a memory to know the write was handled).
	if len(ans.Contact) > 0 && t.cur.ContactID != engine.ZeroID {
		ws, contact, seq, values := a.ws, t.cur.ContactID, m.req.LastCustomerSeq, ans.Contact
		t.post = append(t.post, func() { a.rt.aiContactWriteLater(ws, contact, a.id, seq, values) })
	}
	if len(ans.Remember) > 0 && t.cur.ContactID != engine.ZeroID {
		ws, contact, facts := a.ws, t.cur.ContactID, ans.Remember
		t.post = append(t.post, func() { a.rt.rememberLater(ws, contact, a.id, facts) })
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}

// watermarkScan bounds how far back a watermark looks for messages to
// move; older ones were moved by earlier watermarks.
const watermarkScan = 500

func (a *conversationActor) watermark(m *watermarkMsg) error {
	if a.conv == nil {
		return nil
	}
	t := a.begin()
	var before uint64
	scanned := 0
scan:
	for scanned < watermarkScan {
		page, err := a.rt.store.Messages(a.ws, a.id, before, 100)
		if err != nil {
			t.abort()
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, msg := range page {
			before = msg.Seq
			scanned++
			if msg.Direction != engine.DirOut {
				continue
			}
			sent := msg.SentAt
			if sent.IsZero() {
				sent = msg.CreatedAt
			}
			if (m.upToSeq != 0 && msg.Seq > m.upToSeq) || (m.upToSeq == 0 && sent.After(m.at)) {
				continue
			}
			if next, ok := engine.NextStatus(msg.Status, m.status); !ok || next == msg.Status {
				if msg.Status != engine.StatusFailed {
					break scan // already there: everything older was moved before
				}
				continue
			}
			if _, err := t.apply(engine.UpdateStatus{Seq: msg.Seq, Status: m.status, At: m.at}); err != nil {
				t.abort()
				return err
			}
		}
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}
