package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Invariant 1 (docs/ARCHITECTURE.md): an acknowledged ingest is committed — visible in the store
// the moment Ingest returns, and still there after a restart.
func TestIngestAckedIsCommitted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var ins []engine.Inbound
	for i := range 20 {
		ins = append(ins, h.inbound(fmt.Sprintf("user-%d", i%4), fmt.Sprintf("wamid.%d", i), fmt.Sprintf("hello %d", i)))
	}
	res := h.ingest(ins...)
	for i, r := range res {
		m, err := h.store.Message(h.ws, r.ConversationID, r.Seq)
		require.NoError(t, err, "message %d not in the store when Ingest returned", i)
		require.Equal(t, ins[i].ChannelMessageID, m.ChannelMessageID)
	}
	h.restart()
	for _, r := range res {
		_, err := h.store.Message(h.ws, r.ConversationID, r.Seq)
		require.NoError(t, err)
	}
	// Messages of one user share a conversation, in order.
	ms := h.messages(res[0].ConversationID)
	require.Len(t, ms, 5)
	require.Equal(t, "hello 16", ms[0].Text)
	require.Equal(t, "hello 0", ms[4].Text)
	c := h.conv(res[0].ConversationID)
	require.Equal(t, 5, c.UnreadCount)
	require.Equal(t, "Customer user-0", c.ContactName)
}

// Invariant 2 (docs/ARCHITECTURE.md): a replayed delivery is stored once, within one request and
// across requests, across restarts.
func TestIngestExactlyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	in := h.inbound("u1", "wamid.dup", "hi")
	res := h.ingest(in, in)
	require.False(t, res[0].Duplicate)
	require.True(t, res[1].Duplicate)
	require.Equal(t, res[0].Seq, res[1].Seq)
	res = h.ingest(in)
	require.True(t, res[0].Duplicate)
	require.Equal(t, uint64(1), res[0].Seq)
	h.restart()
	res = h.ingest(in)
	require.True(t, res[0].Duplicate)
	ms := h.messages(res[0].ConversationID)
	require.Len(t, ms, 1)
	require.Equal(t, 1, h.conv(res[0].ConversationID).UnreadCount)
}

// Two new messages from the same new user, ingested concurrently, land in
// one conversation with one contact.
func TestConcurrentFirstMessagesShareConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var wg sync.WaitGroup
	ids := make([]engine.ID, 16)
	for i := range ids {
		wg.Go(func() {
			res, err := h.rt.Ingest(context.Background(), []engine.Inbound{h.inbound("newbie", fmt.Sprintf("m%d", i), "hey")})
			if err == nil && res[0].Err == nil {
				ids[i] = res[0].ConversationID
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	require.Len(t, h.messages(ids[0]), 16)
	n, err := h.store.CountConversations(h.ws)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	contact, ok, err := h.store.ContactByIdentity(h.ws, engine.ChannelWhatsApp, "newbie")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, h.conv(ids[0]).ContactID, contact)
}

func TestIngestRejectsInvalidWithoutStoring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	bad := h.inbound("u1", "", "no id")
	empty := h.inbound("u1", "m-empty", "   ")
	good := h.inbound("u1", "m-good", "fine")
	res, err := h.rt.Ingest(context.Background(), []engine.Inbound{bad, empty, good})
	require.NoError(t, err)
	require.ErrorIs(t, res[0].Err, engine.ErrInvalid)
	require.ErrorIs(t, res[1].Err, engine.ErrInvalid)
	require.NoError(t, res[2].Err)
	ms := h.messages(res[2].ConversationID)
	require.Len(t, ms, 1)
	require.Equal(t, "fine", ms[0].Text)
	require.Zero(t, h.rt.Stats().InFlight)
}

// Invariant 3 (docs/ARCHITECTURE.md): statuses only move forward, and a status that arrives
// before the send call returned the channel's id is kept and applied.
func TestDeliveryStatusEarlyAndOutOfOrder(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{gate: make(chan struct{})}
	h := newHarness(t, func(c *actors.Config) { c.Sender = sender })
	conv := h.say("u1", "in-1", "hello")
	res := h.exec(conv, engine.SendHuman{UserID: "agent-1", Content: engine.Content{Kind: engine.KindText, Text: "hi there"}})
	require.Len(t, res.Send, 1)
	seq := res.Send[0].Seq
	extID := fmt.Sprintf("wamid.%s.%d", conv, seq)
	require.Equal(t, engine.StatusSending, h.mustMessage(conv, seq).Status)

	// The channel reports read, then delivered, before our send call
	// returned: both are kept.
	report := func(s engine.DeliveryStatus) engine.StatusReport {
		return engine.StatusReport{WorkspaceID: h.ws, Channel: engine.ChannelWhatsApp, ChannelMessageID: extID, Status: s, At: h.clock.Now()}
	}
	require.NoError(t, h.rt.ApplyStatus(context.Background(), []engine.StatusReport{report(engine.StatusRead), report(engine.StatusDelivered)}))
	require.Equal(t, engine.StatusSending, h.mustMessage(conv, seq).Status)

	sender.gate <- struct{}{} // the send call returns the id
	eventually(t, 5*time.Second, func() error {
		if s := h.mustMessage(conv, seq).Status; s != engine.StatusRead {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	m := h.mustMessage(conv, seq)
	require.Equal(t, extID, m.ChannelMessageID)
	require.Equal(t, engine.StatusRead, h.conv(conv).LastOutboundStatus)
	orphans, err := h.store.OrphanStatuses(h.ws, engine.ChannelWhatsApp, extID)
	require.NoError(t, err)
	require.Empty(t, orphans)
	outbox, err := h.store.Outbox()
	require.NoError(t, err)
	require.Empty(t, outbox)

	// A late "delivered" does not move it back; "failed" after read is
	// terminal.
	require.NoError(t, h.rt.ApplyStatus(context.Background(), []engine.StatusReport{report(engine.StatusDelivered)}))
	require.Equal(t, engine.StatusRead, h.mustMessage(conv, seq).Status)
	f := report(engine.StatusFailed)
	f.ErrorCode, f.ErrorReason = "131047", "Re-engagement message"
	require.NoError(t, h.rt.ApplyStatus(context.Background(), []engine.StatusReport{f, report(engine.StatusRead)}))
	m = h.mustMessage(conv, seq)
	require.Equal(t, engine.StatusFailed, m.Status)
	require.Equal(t, "131047", m.ErrorCode)
}

func (h *harness) mustMessage(conv engine.ID, seq uint64) engine.Message {
	h.t.Helper()
	m, err := h.store.Message(h.ws, conv, seq)
	require.NoError(h.t, err)
	return m
}

// A permanent send error fails the message with its code; a retry really
// sends it again.
func TestSendFailureAndRetry(t *testing.T) {
	t.Parallel()
	failing := true
	var mu sync.Mutex
	sender := &recordingSender{fail: func(actors.Outbound, int) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return &actors.SendError{Code: "131047", Reason: "outside the 24-hour window"}
		}
		return nil
	}}
	h := newHarness(t, func(c *actors.Config) { c.Sender = sender })
	conv := h.say("u1", "in-1", "hello")
	seq := h.exec(conv, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: "x"}}).Send[0].Seq
	eventually(t, 5*time.Second, func() error {
		if s := h.mustMessage(conv, seq).Status; s != engine.StatusFailed {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	require.Equal(t, "outside the 24-hour window", h.mustMessage(conv, seq).ErrorReason)
	require.Zero(t, sender.count())

	mu.Lock()
	failing = false
	mu.Unlock()
	h.exec(conv, engine.Retry{Seq: seq})
	eventually(t, 5*time.Second, func() error {
		if s := h.mustMessage(conv, seq).Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	require.Equal(t, 1, sender.count())
}

// A temporary error is retried with backoff (on the injected clock) and
// the message is sent.
func TestSendTemporaryErrorRetried(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{fail: func(_ actors.Outbound, attempt int) error {
		if attempt < 3 {
			return &actors.SendError{Code: "130429", Reason: "rate limit", Temporary: true}
		}
		return nil
	}}
	h := newHarness(t, func(c *actors.Config) { c.Sender = sender })
	conv := h.say("u1", "in-1", "hello")
	seq := h.exec(conv, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: "x"}}).Send[0].Seq
	eventually(t, 5*time.Second, func() error {
		h.clock.Advance(time.Second) // the backoff waits on the fake clock
		if s := h.mustMessage(conv, seq).Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	require.Equal(t, 1, sender.count())
}

// A message accepted as sending is sent after a restart: the outbox is
// durable. Here the channel never answers: Shutdown gives up on the send
// when its deadline passes (or finds it still queued) and the next start
// sends it.
func TestOutboxSurvivesRestart(t *testing.T) {
	t.Parallel()
	blocked := &recordingSender{gate: make(chan struct{})} // never answers
	h := newHarness(t, func(c *actors.Config) { c.Sender = blocked })
	conv := h.say("u1", "in-1", "hello")
	seq := h.exec(conv, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: "x"}}).Send[0].Seq
	sender := &recordingSender{}
	h.cfg.Sender = sender
	h.restartCut(200 * time.Millisecond)
	eventually(t, 5*time.Second, func() error {
		if s := h.mustMessage(conv, seq).Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	require.Equal(t, 1, sender.count())
}

// Invariant 4 (docs/ARCHITECTURE.md): a human takes over; 15 minutes after the last human
// activity the AI resumes, logs it, and answers the waiting customer. The
// timer fires for a passivated conversation and after a restart.
func TestAIResumesAfterHumanActivity(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{}; c.AIDebounce = -1 })
	conv := h.say("u1", "in-1", "hello")
	eventually(t, 5*time.Second, func() error { // the AI answered in AI mode
		if agent.calls.Load() != 1 {
			return errors.New("no AI call")
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if h.conv(conv).AwaitingReply {
			return errors.New("AI reply not stored")
		}
		return nil
	})

	h.exec(conv, engine.TakeOver{UserID: "agent-1"})
	c := h.conv(conv)
	require.Equal(t, engine.ModeManual, c.Mode)
	require.Equal(t, t0.Add(15*time.Minute), c.AIResumesAt)

	// Ten minutes later the human replies: the timer moves.
	h.advance(10 * time.Minute)
	h.exec(conv, engine.SendHuman{UserID: "agent-1", Content: engine.Content{Kind: engine.KindText, Text: "I'm here"}})
	require.Equal(t, t0.Add(25*time.Minute), h.conv(conv).AIResumesAt)
	h.say("u1", "in-2", "thanks, one more question") // the customer waits

	// At the old deadline nothing happens (the timer moved).
	h.advance(6 * time.Minute)
	require.Equal(t, engine.ModeManual, h.conv(conv).Mode)

	// Passivate everything and restart: the timer is on disk.
	eventually(t, 5*time.Second, func() error { // the courier's report may still be in flight
		h.rt.PassivateIdle(h.clock.Now())
		if n := h.rt.Stats().ActiveConversations; n != 0 {
			return fmt.Errorf("%d active", n)
		}
		return nil
	})
	h.restart()
	callsBefore := agent.calls.Load()
	h.advance(10 * time.Minute)
	eventually(t, 5*time.Second, func() error {
		actors.Kick(h.rt)
		c := h.conv(conv)
		if c.Mode != engine.ModeAI || !c.AIResumesAt.IsZero() {
			return fmt.Errorf("mode %s resumes %v", c.Mode, c.AIResumesAt)
		}
		return nil
	})
	// The AI answers the waiting customer.
	eventually(t, 5*time.Second, func() error {
		if agent.calls.Load() == callsBefore {
			return errors.New("AI not asked after reactivation")
		}
		if ms := h.messages(conv); ms[0].Sender.Kind != engine.SenderAI {
			return fmt.Errorf("newest message is from %s", ms[0].Sender.Kind)
		}
		return nil
	})
	var system []string
	for _, m := range h.messages(conv) {
		if m.Sender.Kind == engine.SenderSystem {
			system = append(system, m.Text)
		}
	}
	require.Contains(t, system, "AI resumed after 15 minutes without human activity")
	timers, _, err := h.store.DueTimers(h.clock.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, timers, "the spent timer is removed")
}

// A human pause has no timer: the AI does not come back by itself.
func TestPauseHasNoTimer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	conv := h.say("u1", "in-1", "hello")
	h.exec(conv, engine.PauseAI{UserID: "a"})
	h.advance(24 * time.Hour)
	actors.Kick(h.rt)
	c := h.conv(conv)
	require.Equal(t, engine.ModeManual, c.Mode)
	require.True(t, c.AIResumesAt.IsZero())
	timers, _, err := h.store.DueTimers(h.clock.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, timers)
}

// Invariant 5 (docs/ARCHITECTURE.md): a reply computed while a human took over is discarded and
// never sent; so is one computed before a newer customer message, which
// gets its own answer.
func TestNoAIReplyOverAHuman(t *testing.T) {
	t.Parallel()
	agent := newGatedAgent()
	sender := &recordingSender{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = sender; c.AIDebounce = -1 })
	conv := h.say("u1", "in-1", "hello")
	<-agent.started // the AI is thinking
	h.exec(conv, engine.TakeOver{UserID: "agent-1"})
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "too late"}}
	// The actor was never blocked by the AI call: commands went through
	// while it was pending. Now the stale reply must be dropped.
	h.exec(conv, engine.MarkRead{}) // a barrier: the reply was handled before this
	eventually(t, 5*time.Second, func() error {
		for _, m := range h.messages(conv) {
			if m.Sender.Kind == engine.SenderAI {
				return fmt.Errorf("AI reply stored: %q", m.Text)
			}
		}
		return nil
	})
	require.Zero(t, sender.count())
}

func TestStaleAIReplyForOlderCustomerMessage(t *testing.T) {
	t.Parallel()
	agent := newGatedAgent()
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{}; c.AIDebounce = -1 })
	conv := h.say("u1", "in-1", "first")
	first := <-agent.started
	h.say("u1", "in-2", "second")
	second := <-agent.started
	require.Equal(t, uint64(1), first.Request.LastCustomerSeq)
	require.Equal(t, uint64(2), second.Request.LastCustomerSeq)
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "answer to first"}}
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "answer to second"}}
	eventually(t, 5*time.Second, func() error {
		var ai []string
		for _, m := range h.messages(conv) {
			if m.Sender.Kind == engine.SenderAI {
				ai = append(ai, m.Text)
			}
		}
		if len(ai) != 1 || ai[0] != "answer to second" {
			return fmt.Errorf("AI messages %q", ai)
		}
		return nil
	})
}

// Invariant 6 (docs/ARCHITECTURE.md): a new message reopens a solved conversation; spam stays
// spam with no AI reply; a blocked contact's message is kept with no
// unread and no AI, and sending to them is refused.
func TestFoldersAndBlockedContacts(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	// One agent worker: requests are answered in the order they were
	// made, so a call for a control conversation is a barrier.
	h := newHarness(t, func(c *actors.Config) {
		c.Agent = agent
		c.Sender = &recordingSender{}
		c.AgentWorkers = 1
		c.AIDebounce = -1
	})
	barrier := func(n int) {
		t.Helper()
		conv := h.say("control", fmt.Sprintf("control-%d", n), "ping")
		eventually(t, 5*time.Second, func() error {
			if agent.callsFor(conv) < n {
				return errors.New("control conversation not answered yet")
			}
			return nil
		})
	}

	solved := h.say("s", "s-1", "hi")
	h.exec(solved, engine.MoveFolder{Folder: engine.FolderSolved})
	h.say("s", "s-2", "back again")
	require.Equal(t, engine.FolderOpen, h.conv(solved).Folder)
	archived := h.say("a", "a-1", "hi")
	h.exec(archived, engine.MoveFolder{Folder: engine.FolderArchived})
	h.say("a", "a-2", "back again")
	require.Equal(t, engine.FolderOpen, h.conv(archived).Folder)

	spam := h.say("p", "p-1", "buy now")
	barrier(1)
	require.Equal(t, 1, agent.callsFor(spam))
	h.exec(spam, engine.MoveFolder{Folder: engine.FolderSpam})
	h.say("p", "p-2", "buy more")
	require.Equal(t, engine.FolderSpam, h.conv(spam).Folder)

	blocked := h.say("b", "b-1", "hello")
	barrier(2)
	require.Equal(t, 1, agent.callsFor(blocked))
	h.exec(blocked, engine.MarkRead{})
	h.exec(blocked, engine.SetBlocked{Blocked: true})
	h.say("b", "b-2", "let me in")
	c := h.conv(blocked)
	require.Zero(t, c.UnreadCount)
	require.Equal(t, "let me in", h.messages(blocked)[0].Text)
	_, err := h.rt.Execute(context.Background(), h.ws, blocked, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: "x"}})
	require.ErrorIs(t, err, engine.ErrBlocked)

	barrier(3)
	require.Equal(t, 1, agent.callsFor(spam), "spam got an AI call")
	require.Equal(t, 1, agent.callsFor(blocked), "a blocked contact got an AI call")
}

// Messenger watermarks move every outbound message sent up to them;
// Instagram's read receipt moves the named message and every one before.
func TestWatermarks(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{}
	h := newHarness(t, func(c *actors.Config) { c.Sender = sender })
	in := h.inbound("psid-1", "mid.in.1", "hello")
	in.Channel = engine.ChannelMessenger
	conv := h.ingest(in)[0].ConversationID
	var seqs []uint64
	for i := range 3 {
		seq := h.exec(conv, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: fmt.Sprint(i)}}).Send[0].Seq
		seqs = append(seqs, seq)
		// Each message is sent (its SentAt taken) before the clock moves.
		eventually(t, 5*time.Second, func() error {
			if st := h.mustMessage(conv, seq).Status; st != engine.StatusSent {
				return fmt.Errorf("seq %d %s", seq, st)
			}
			return nil
		})
		h.advance(time.Minute)
	}
	// Delivered up to just after the second message was sent.
	w := actors.Watermark{WorkspaceID: h.ws, Channel: engine.ChannelMessenger, ChannelAccountID: "phone-1",
		ExternalUserID: "psid-1", Status: engine.StatusDelivered, At: h.mustMessage(conv, seqs[1]).SentAt}
	require.NoError(t, h.rt.ApplyWatermark(context.Background(), w))
	require.Equal(t, engine.StatusDelivered, h.mustMessage(conv, seqs[0]).Status)
	require.Equal(t, engine.StatusDelivered, h.mustMessage(conv, seqs[1]).Status)
	require.Equal(t, engine.StatusSent, h.mustMessage(conv, seqs[2]).Status)
	// Read by message id: the last one and all before.
	w = actors.Watermark{WorkspaceID: h.ws, Channel: engine.ChannelMessenger, ChannelAccountID: "phone-1",
		ExternalUserID: "psid-1", Status: engine.StatusRead, At: h.clock.Now(), MessageID: h.mustMessage(conv, seqs[2]).ChannelMessageID}
	require.NoError(t, h.rt.ApplyWatermark(context.Background(), w))
	for _, s := range seqs {
		require.Equal(t, engine.StatusRead, h.mustMessage(conv, s).Status)
	}
	require.Equal(t, engine.StatusRead, h.conv(conv).LastOutboundStatus)
	// A late delivered watermark changes nothing; unknown users are ignored.
	w.Status, w.MessageID = engine.StatusDelivered, ""
	require.NoError(t, h.rt.ApplyWatermark(context.Background(), w))
	require.Equal(t, engine.StatusRead, h.mustMessage(conv, seqs[0]).Status)
	w.ExternalUserID = "nobody"
	require.NoError(t, h.rt.ApplyWatermark(context.Background(), w))
}

// A new profile name from the channel renames the contact, unless a
// person renamed it.
func TestContactNameFollowsChannel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	conv := h.say("u1", "m1", "hi")
	contactID := h.conv(conv).ContactID
	in := h.inbound("u1", "m2", "again")
	in.ContactName = "Ana María"
	h.ingest(in)
	// The contact's actor renames the contact, then its conversations.
	eventually(t, 5*time.Second, func() error {
		if n := h.conv(conv).ContactName; n != "Ana María" {
			return fmt.Errorf("header name %q", n)
		}
		return nil
	})
	c, err := h.store.Contact(h.ws, contactID)
	require.NoError(t, err)
	require.Equal(t, "Ana María", c.Profile.Name)
	require.Equal(t, engine.SourceChat, c.Source)
}

// The runtime takes its message ids from Config.IDs: two runtimes given
// sources of one seed, fed the same messages at the same (fake) times,
// give them the same ids.
func TestRuntimeMessageIDsComeFromConfig(t *testing.T) {
	t.Parallel()
	run := func() []engine.ID {
		h := newHarness(t, func(c *actors.Config) { c.IDs = engine.SeededIDs(3) })
		conv := h.say("u1", "wamid.1", "hi")
		h.advance(time.Second)
		h.say("u1", "wamid.2", "again")
		h.exec(conv, engine.TakeOver{UserID: "agent-1"})
		var ids []engine.ID
		for _, m := range h.messages(conv) {
			ids = append(ids, m.ID)
		}
		return ids
	}
	a := run()
	require.Len(t, a, 3)
	require.Equal(t, a, run())
}

// holdingSender plays a channel that takes hold to answer each send; it
// counts the calls and signals each one's start.
type holdingSender struct {
	hold    time.Duration
	started chan struct{}
	calls   atomic.Int64
}

func (s *holdingSender) Send(ctx context.Context, o actors.Outbound) (string, error) {
	n := s.calls.Add(1)
	s.started <- struct{}{}
	select {
	case <-time.After(s.hold):
		return fmt.Sprintf("wamid.held.%d", n), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// A send in flight when Shutdown begins is waited for and its answer is
// recorded, so the next start does not send it again (docs/ARCHITECTURE.md,
// invariant 2); a send still queued keeps its outbox entry and goes at
// the next start.
func TestShutdownRecordsSendInFlight(t *testing.T) {
	t.Parallel()
	held := &holdingSender{hold: 300 * time.Millisecond, started: make(chan struct{}, 4)}
	h := newHarness(t, func(c *actors.Config) { c.Sender = held; c.CourierWorkers = 1 })
	conv := h.say("u1", "in-1", "hello")
	first := h.exec(conv, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: "one"}}).Send[0].Seq
	<-held.started // the channel has the first send; the second waits for the only worker
	second := h.exec(conv, engine.SendHuman{UserID: "a", Content: engine.Content{Kind: engine.KindText, Text: "two"}}).Send[0].Seq

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.rt.Shutdown(ctx))
	require.Equal(t, int64(1), held.calls.Load(), "no send starts once Shutdown began")
	m := h.mustMessage(conv, first)
	require.Equal(t, engine.StatusSent, m.Status, "the answer of the send in flight is recorded")
	require.Equal(t, "wamid.held.1", m.ChannelMessageID)
	require.Equal(t, engine.StatusSending, h.mustMessage(conv, second).Status)
	outbox, err := h.store.Outbox()
	require.NoError(t, err)
	require.Len(t, outbox, 1)
	require.Equal(t, second, outbox[0].Seq, "only the queued send stays in the outbox")
	require.NoError(t, h.store.Close())
	h.rt, h.store = nil, nil

	again := &recordingSender{}
	h.cfg.Sender = again
	h.start()
	eventually(t, 5*time.Second, func() error {
		if s := h.mustMessage(conv, second).Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	require.Equal(t, 1, again.count(), "after the restart only the queued send goes out")
	again.mu.Lock()
	require.Equal(t, second, again.sent[0].Message.Seq)
	again.mu.Unlock()
	require.Equal(t, "wamid.held.1", h.mustMessage(conv, first).ChannelMessageID)
}
