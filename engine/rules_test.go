package engine_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// t0 is the fixed "now" the tests start from; no test reads a clock.
var t0 = time.Date(2025, time.March, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// txt is a text message content.
func txt(s string) engine.Content { return engine.Content{Kind: engine.KindText, Text: s} }

// harness is one conversation with its message log kept in a map, the way
// an actor keeps them: Apply results are committed into it.
type harness struct {
	t    *testing.T
	conv engine.Conversation
	msgs map[uint64]engine.Message
	set  engine.Settings
	ids  engine.IDSource
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	c := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWhatsApp, "acct-1",
		engine.NewID(t0), "user-1", t0)
	c.LastInboundAt = t0 // the customer wrote: the 24-hour window is open
	return &harness{t: t, conv: c, msgs: map[uint64]engine.Message{}, ids: engine.SeededIDs(1)}
}

func (h *harness) lookup(seq uint64) (engine.Message, bool) {
	m, ok := h.msgs[seq]
	return m, ok
}

// try applies cmd without committing the result.
func (h *harness) try(cmd engine.Command, now time.Time) (engine.Result, error) {
	return engine.Apply(h.conv, cmd, now, h.ids, h.set, h.lookup)
}

// do applies cmd, requires it to succeed, checks the invariants every
// result must satisfy, and commits the result.
func (h *harness) do(cmd engine.Command, now time.Time) engine.Result {
	h.t.Helper()
	before := h.conv.Clone()
	res, err := h.try(cmd, now)
	require.NoError(h.t, err, "%T", cmd)
	checkResult(h.t, before, res, now)
	h.commit(res)
	return res
}

// fail applies cmd, requires the error target and an empty result, and
// checks the conversation passed in is untouched.
func (h *harness) fail(cmd engine.Command, now time.Time, target error) {
	h.t.Helper()
	before := h.conv.Clone()
	res, err := h.try(cmd, now)
	require.ErrorIs(h.t, err, target, "%T", cmd)
	require.Zero(h.t, res, "a failed command must return an empty result")
	require.Equal(h.t, before, h.conv)
}

// noop applies cmd and requires it to do nothing at all: no message, no
// event, nothing to send, no AI request and the header unchanged.
func (h *harness) noop(cmd engine.Command, now time.Time) {
	h.t.Helper()
	before := h.conv.Clone()
	res := h.do(cmd, now)
	requireNothing(h.t, before, res)
}

func requireNothing(t *testing.T, before engine.Conversation, res engine.Result) {
	t.Helper()
	require.Empty(t, res.Messages)
	require.Empty(t, res.Events)
	require.Empty(t, res.Send)
	require.Nil(t, res.AskAI)
	require.Equal(t, before, res.Conversation)
}

func (h *harness) commit(res engine.Result) {
	h.conv = res.Conversation
	for _, m := range res.Messages {
		h.msgs[m.Seq] = m
	}
}

// checkResult checks what every successful Apply must produce: events that
// carry the workspace, conversation and time; a message.created event per
// new message in seq order; a conversation.updated event exactly when the
// header changed; new seqs numbered on from the old LastSeq; Send a subset
// of Messages.
func checkResult(t *testing.T, before engine.Conversation, res engine.Result, now time.Time) {
	t.Helper()
	c := res.Conversation
	var created, updated []uint64
	for _, e := range res.Events {
		require.Equal(t, c.WorkspaceID, e.WorkspaceID, "event %s workspace", e.Type)
		require.Equal(t, c.ID, e.ConversationID, "event %s conversation", e.Type)
		require.True(t, e.At.Equal(now), "event %s at %v, want %v", e.Type, e.At, now)
		if e.Type == engine.EventConversationDeleted {
			require.Nil(t, e.Conversation)
		} else {
			require.NotNil(t, e.Conversation, "event %s", e.Type)
			require.Equal(t, c, *e.Conversation, "event %s carries the new header", e.Type)
		}
		switch e.Type {
		case engine.EventMessageCreated:
			require.NotNil(t, e.Message)
			created = append(created, e.Message.Seq)
		case engine.EventMessageUpdated:
			require.NotNil(t, e.Message)
			updated = append(updated, e.Message.Seq)
		case engine.EventHandoff:
			require.NotNil(t, e.Message, "a handoff event carries its system message")
		default:
			require.Nil(t, e.Message, "event %s", e.Type)
		}
	}
	var newSeqs, changedSeqs []uint64
	for _, m := range res.Messages {
		require.Equal(t, c.WorkspaceID, m.WorkspaceID)
		require.Equal(t, c.ID, m.ConversationID)
		if m.Seq > before.LastSeq {
			newSeqs = append(newSeqs, m.Seq)
			require.True(t, m.CreatedAt.Equal(now))
			require.NotEqual(t, engine.ZeroID, m.ID)
		} else {
			changedSeqs = append(changedSeqs, m.Seq)
		}
	}
	require.Equal(t, newSeqs, created, "one message.created per new message, in seq order")
	require.Equal(t, changedSeqs, updated, "one message.updated per changed message")
	for i, s := range newSeqs {
		require.Equal(t, before.LastSeq+uint64(i)+1, s, "new seqs follow the old LastSeq")
	}
	require.Equal(t, before.LastSeq+uint64(len(newSeqs)), c.LastSeq)

	headerChanged := !reflect.DeepEqual(before, c)
	require.Equal(t, headerChanged && !c.Deleted, hasEvent(res, engine.EventConversationUpdated),
		"conversation.updated exactly when the header changed")
	require.Equal(t, c.Deleted, hasEvent(res, engine.EventConversationDeleted))

	for _, s := range res.Send {
		require.Contains(t, res.Messages, s)
		require.Equal(t, engine.DirOut, s.Direction)
		require.Equal(t, engine.StatusSending, s.Status)
	}
	if res.Discarded {
		requireNothing(t, before, res)
	}
	if res.AskAI != nil {
		require.Equal(t, engine.AIRequest{WorkspaceID: c.WorkspaceID, ConversationID: c.ID,
			LastCustomerSeq: c.LastCustomerSeq, ModeEpoch: c.ModeEpoch, Purpose: res.AskAI.Purpose}, *res.AskAI)
	}
}

func hasEvent(res engine.Result, typ engine.EventType) bool {
	return slices.ContainsFunc(res.Events, func(e engine.Event) bool { return e.Type == typ })
}

func eventTypes(res engine.Result) []engine.EventType {
	var ts []engine.EventType
	for _, e := range res.Events {
		ts = append(ts, e.Type)
	}
	return ts
}

// requireSystem requires res to have created exactly one message, a system
// entry of the log, and returns it.
func requireSystem(t *testing.T, res engine.Result) engine.Message {
	t.Helper()
	require.Len(t, res.Messages, 1)
	m := res.Messages[0]
	require.Equal(t, engine.KindSystem, m.Kind)
	require.Equal(t, engine.DirInternal, m.Direction)
	require.Equal(t, engine.SenderSystem, m.Sender.Kind)
	require.NotEmpty(t, m.Text)
	return m
}

// ---------------------------------------------------------------------------
// Receive and folders (docs/ARCHITECTURE.md, invariant 6)

func TestReceiveStoresCustomerMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sent := at(-time.Second)
	res := h.do(engine.Receive{ChannelMessageID: "wamid.1", Content: txt("hello"), SentAt: sent, ContactName: "Ana"}, at(time.Minute))

	require.Len(t, res.Messages, 1)
	m := res.Messages[0]
	require.Equal(t, uint64(1), m.Seq)
	require.Equal(t, engine.DirIn, m.Direction)
	require.Equal(t, engine.Sender{Kind: engine.SenderCustomer}, m.Sender)
	require.Equal(t, txt("hello"), m.Content)
	require.Equal(t, "wamid.1", m.ChannelMessageID)
	require.Equal(t, sent, m.SentAt)
	require.Empty(t, m.Status, "inbound messages have no delivery status")
	require.Empty(t, res.Send)

	c := res.Conversation
	require.Equal(t, "Ana", c.ContactName)
	require.Equal(t, uint64(1), c.LastCustomerSeq)
	require.Equal(t, at(time.Minute), c.LastInboundAt)
	require.Equal(t, at(time.Minute), c.LastActivityAt)
	require.Equal(t, "hello", c.Preview)
	require.True(t, c.AwaitingReply)
	require.Equal(t, 1, c.UnreadCount)
	require.NotNil(t, res.AskAI)
	require.Equal(t, engine.AIRequest{WorkspaceID: c.WorkspaceID, ConversationID: c.ID, LastCustomerSeq: 1}, *res.AskAI)
	require.Equal(t, []engine.EventType{engine.EventMessageCreated, engine.EventConversationUpdated}, eventTypes(res))

	// A later message without a profile name keeps the known name.
	res = h.do(engine.Receive{ChannelMessageID: "wamid.2", Content: txt("again")}, at(2*time.Minute))
	require.Equal(t, "Ana", res.Conversation.ContactName)
	require.Equal(t, uint64(2), res.Conversation.LastCustomerSeq)
	require.Equal(t, 2, res.Conversation.UnreadCount)
}

func TestReceiveFoldersAndBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setup      []engine.Command
		wantFolder engine.Folder
		wantUnread int // from 0
		wantAskAI  bool
	}{
		{name: "open stays open", wantFolder: engine.FolderOpen, wantUnread: 1, wantAskAI: true},
		{name: "solved reopens", setup: []engine.Command{engine.MoveFolder{Folder: engine.FolderSolved}},
			wantFolder: engine.FolderOpen, wantUnread: 1, wantAskAI: true},
		{name: "archived reopens", setup: []engine.Command{engine.MoveFolder{Folder: engine.FolderArchived}},
			wantFolder: engine.FolderOpen, wantUnread: 1, wantAskAI: true},
		{name: "pending reopens, the AI answers", setup: []engine.Command{engine.MoveFolder{Folder: engine.FolderPending}},
			wantFolder: engine.FolderOpen, wantUnread: 1, wantAskAI: true},
		{name: "pending in manual mode reopens, no AI", setup: []engine.Command{engine.TakeOver{UserID: "u1"}, engine.MoveFolder{Folder: engine.FolderPending}},
			wantFolder: engine.FolderOpen, wantUnread: 1},
		{name: "pending and blocked stays pending", setup: []engine.Command{engine.MoveFolder{Folder: engine.FolderPending}, engine.SetBlocked{Blocked: true}},
			wantFolder: engine.FolderPending},
		{name: "spam stays spam, no AI", setup: []engine.Command{engine.MoveFolder{Folder: engine.FolderSpam}},
			wantFolder: engine.FolderSpam, wantUnread: 1},
		{name: "manual mode: unread, no AI", setup: []engine.Command{engine.TakeOver{UserID: "u1"}},
			wantFolder: engine.FolderOpen, wantUnread: 1},
		{name: "paused: unread, no AI", setup: []engine.Command{engine.PauseAI{UserID: "u1"}},
			wantFolder: engine.FolderOpen, wantUnread: 1},
		{name: "blocked: kept, no unread, no AI", setup: []engine.Command{engine.SetBlocked{Blocked: true}},
			wantFolder: engine.FolderOpen},
		{name: "blocked in spam", setup: []engine.Command{engine.MoveFolder{Folder: engine.FolderSpam}, engine.SetBlocked{Blocked: true}},
			wantFolder: engine.FolderSpam},
		{name: "unblocked again counts", setup: []engine.Command{engine.SetBlocked{Blocked: true}, engine.SetBlocked{Blocked: false}},
			wantFolder: engine.FolderOpen, wantUnread: 1, wantAskAI: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for _, cmd := range tc.setup {
				h.do(cmd, t0)
			}
			require.Zero(t, h.conv.UnreadCount)
			res := h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi there")}, at(time.Minute))

			require.Len(t, res.Messages, 1, "the message is always stored")
			require.Equal(t, engine.DirIn, res.Messages[0].Direction)
			require.Equal(t, "hi there", res.Messages[0].Text)
			require.Equal(t, tc.wantFolder, res.Conversation.Folder)
			require.Equal(t, tc.wantUnread, res.Conversation.UnreadCount)
			require.Equal(t, tc.wantAskAI, res.AskAI != nil, "AskAI")
			require.Empty(t, res.Send)
		})
	}
}

func TestSendHumanToBlockedIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
	h.do(engine.SetBlocked{Blocked: true}, t0)

	h.fail(engine.SendHuman{UserID: "u1", Content: txt("answer")}, at(time.Minute), engine.ErrBlocked)
	// Even invalid content reports the block (nothing is sent to a blocked contact).
	h.fail(engine.SendHuman{UserID: "u1", Content: txt("")}, at(time.Minute), engine.ErrBlocked)

	h.do(engine.SetBlocked{Blocked: false}, at(2*time.Minute))
	res := h.do(engine.SendHuman{UserID: "u1", Content: txt("answer")}, at(3*time.Minute))
	require.Len(t, res.Send, 1)
}

// ---------------------------------------------------------------------------
// Mode and timer (docs/ARCHITECTURE.md, invariant 4)

// humanCommands are the three human activities that take a conversation over.
func humanCommands() []struct {
	name string
	cmd  engine.Command
} {
	return []struct {
		name string
		cmd  engine.Command
	}{
		{"take over", engine.TakeOver{UserID: "u1"}},
		{"send human", engine.SendHuman{UserID: "u1", Content: txt("a person here")}},
		{"echo", engine.Echo{ChannelMessageID: "wamid.echo", Content: txt("from the phone"), SentAt: at(-time.Second)}},
	}
}

func TestHumanActivityTakesOver(t *testing.T) {
	t.Parallel()
	settings := []struct {
		name  string
		s     engine.Settings
		delay time.Duration
	}{
		{"default", engine.Settings{}, 15 * time.Minute},
		{"custom", engine.Settings{AIResumeAfter: 40 * time.Minute}, 40 * time.Minute},
		{"negative means default", engine.Settings{AIResumeAfter: -time.Minute}, 15 * time.Minute},
	}
	for _, hc := range humanCommands() {
		for _, st := range settings {
			t.Run(hc.name+"/"+st.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t)
				h.set = st.s
				h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
				require.Equal(t, engine.ModeAI, h.conv.Mode)
				h.conv.NeedsHuman = true // the AI asked for a person
				epoch := h.conv.ModeEpoch

				now := at(time.Minute)
				res := h.do(hc.cmd, now)
				c := res.Conversation
				require.Equal(t, engine.ModeManual, c.Mode)
				require.Equal(t, now.Add(st.delay), c.AIResumesAt)
				require.Equal(t, epoch+1, c.ModeEpoch)
				require.False(t, c.AIPaused)
				require.False(t, c.NeedsHuman, "a person is on it")
				require.Nil(t, res.AskAI)

				require.Len(t, res.Messages, 1)
				m := res.Messages[0]
				switch cmd := hc.cmd.(type) {
				case engine.TakeOver:
					requireSystem(t, res)
					require.Empty(t, res.Send)
					require.True(t, c.AwaitingReply, "taking over answers nothing")
				case engine.SendHuman:
					require.Equal(t, engine.DirOut, m.Direction)
					require.Equal(t, engine.Sender{Kind: engine.SenderHuman, UserID: "u1"}, m.Sender)
					require.Equal(t, engine.StatusSending, m.Status)
					require.Equal(t, now, m.StatusAt)
					require.Equal(t, []engine.Message{m}, res.Send)
					require.False(t, c.AwaitingReply)
					require.Equal(t, m.Seq, c.LastOutboundSeq)
					require.Equal(t, engine.StatusSending, c.LastOutboundStatus)
				case engine.Echo:
					require.Equal(t, engine.DirOut, m.Direction)
					require.Equal(t, engine.Sender{Kind: engine.SenderHuman}, m.Sender)
					require.Equal(t, engine.StatusSent, m.Status, "an echo was already sent")
					require.Equal(t, cmd.ChannelMessageID, m.ChannelMessageID)
					require.Equal(t, cmd.SentAt, m.SentAt)
					require.Empty(t, res.Send, "an echo must not be sent again")
					require.False(t, c.AwaitingReply)
					require.Equal(t, engine.StatusSent, c.LastOutboundStatus)
					require.Equal(t, "from the phone", c.Preview)
				}
			})
		}
	}
}

func TestSecondHumanActivityPushesTimer(t *testing.T) {
	t.Parallel()
	for _, first := range humanCommands() {
		for _, second := range humanCommands() {
			t.Run(first.name+"/then/"+second.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t)
				h.do(first.cmd, t0)
				require.Equal(t, at(15*time.Minute), h.conv.AIResumesAt)
				epoch := h.conv.ModeEpoch

				res := h.do(second.cmd, at(5*time.Minute))
				require.Equal(t, engine.ModeManual, res.Conversation.Mode)
				require.Equal(t, at(20*time.Minute), res.Conversation.AIResumesAt)
				require.Equal(t, epoch, res.Conversation.ModeEpoch, "no mode change, no new epoch")
				if _, ok := second.cmd.(engine.TakeOver); ok {
					// Already taken over: the timer moves, nothing is logged again.
					require.Empty(t, res.Messages)
					require.Equal(t, []engine.EventType{engine.EventConversationUpdated}, eventTypes(res))
				}

				// The first deadline is stale now; the pushed one fires.
				h.noop(engine.AIResumeDue{Due: at(15 * time.Minute)}, at(15*time.Minute))
				res = h.do(engine.AIResumeDue{Due: at(20 * time.Minute)}, at(20*time.Minute))
				require.Equal(t, engine.ModeAI, res.Conversation.Mode)
			})
		}
	}
}

func TestPauseAIHasNoTimer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)

	res := h.do(engine.PauseAI{UserID: "u1"}, at(time.Minute))
	requireSystem(t, res)
	c := res.Conversation
	require.Equal(t, engine.ModeManual, c.Mode)
	require.True(t, c.AIPaused)
	require.True(t, c.AIResumesAt.IsZero())
	require.Equal(t, uint64(1), c.ModeEpoch)
	require.Nil(t, res.AskAI)

	// Human replies keep the pause: still no timer.
	res = h.do(engine.SendHuman{UserID: "u1", Content: txt("answer")}, at(2*time.Minute))
	require.Equal(t, engine.ModeManual, res.Conversation.Mode)
	require.True(t, res.Conversation.AIPaused)
	require.True(t, res.Conversation.AIResumesAt.IsZero())
	res = h.do(engine.Echo{ChannelMessageID: "e1", Content: txt("from phone")}, at(3*time.Minute))
	require.True(t, res.Conversation.AIPaused)
	require.True(t, res.Conversation.AIResumesAt.IsZero())
	require.Equal(t, uint64(1), res.Conversation.ModeEpoch)

	// No timer fires a paused conversation.
	h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("hello?")}, at(4*time.Minute))
	h.noop(engine.AIResumeDue{Due: at(17 * time.Minute)}, at(17*time.Minute))
	h.noop(engine.AIResumeDue{}, at(time.Hour))

	// Taking over a paused conversation sets the timer again.
	res = h.do(engine.TakeOver{UserID: "u2"}, at(time.Hour))
	require.False(t, res.Conversation.AIPaused)
	require.Equal(t, at(time.Hour+15*time.Minute), res.Conversation.AIResumesAt)
	require.Equal(t, uint64(1), res.Conversation.ModeEpoch)
	requireSystem(t, res)
}

func TestPauseAIClearsRunningTimer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.TakeOver{UserID: "u1"}, t0)
	res := h.do(engine.PauseAI{UserID: "u1"}, at(time.Minute))
	require.True(t, res.Conversation.AIResumesAt.IsZero())
	require.True(t, res.Conversation.AIPaused)
	require.Equal(t, uint64(1), res.Conversation.ModeEpoch, "already manual: same epoch")
	h.noop(engine.AIResumeDue{Due: at(15 * time.Minute)}, at(15*time.Minute))
}

func TestAIResumeDue(t *testing.T) {
	t.Parallel()
	due := at(16 * time.Minute) // TakeOver at t0+1m
	tests := []struct {
		name      string
		setup     []engine.Command // applied at t0+1m after a customer message at t0
		fireDue   time.Time
		fireAt    time.Time
		resumed   bool
		wantAskAI bool
	}{
		{name: "on time, customer waiting", setup: []engine.Command{engine.TakeOver{UserID: "u1"}},
			fireDue: due, fireAt: due, resumed: true, wantAskAI: true},
		{name: "late, customer waiting", setup: []engine.Command{engine.TakeOver{UserID: "u1"}},
			fireDue: due, fireAt: due.Add(3 * time.Hour), resumed: true, wantAskAI: true},
		{name: "customer answered", setup: []engine.Command{engine.SendHuman{UserID: "u1", Content: txt("done")}},
			fireDue: due, fireAt: due, resumed: true},
		{name: "customer answered from the phone", setup: []engine.Command{engine.Echo{ChannelMessageID: "e", Content: txt("done")}},
			fireDue: due, fireAt: due, resumed: true},
		{name: "waiting but spam", setup: []engine.Command{engine.TakeOver{UserID: "u1"}, engine.MoveFolder{Folder: engine.FolderSpam}},
			fireDue: due, fireAt: due, resumed: true},
		{name: "waiting but blocked", setup: []engine.Command{engine.TakeOver{UserID: "u1"}, engine.SetBlocked{Blocked: true}},
			fireDue: due, fireAt: due, resumed: true},
		{name: "before the deadline", setup: []engine.Command{engine.TakeOver{UserID: "u1"}},
			fireDue: due, fireAt: due.Add(-time.Nanosecond)},
		{name: "stale deadline", setup: []engine.Command{engine.TakeOver{UserID: "u1"}},
			fireDue: due.Add(-time.Minute), fireAt: due},
		{name: "deadline from the future", setup: []engine.Command{engine.TakeOver{UserID: "u1"}},
			fireDue: due.Add(time.Minute), fireAt: due.Add(time.Minute)},
		{name: "already resumed by a person", setup: []engine.Command{engine.TakeOver{UserID: "u1"}, engine.ResumeAI{UserID: "u1"}},
			fireDue: due, fireAt: due},
		{name: "paused", setup: []engine.Command{engine.TakeOver{UserID: "u1"}, engine.PauseAI{UserID: "u1"}},
			fireDue: due, fireAt: due},
		{name: "never taken over", fireDue: due, fireAt: due},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
			for _, cmd := range tc.setup {
				h.do(cmd, at(time.Minute))
			}
			if !tc.resumed {
				h.noop(engine.AIResumeDue{Due: tc.fireDue}, tc.fireAt)
				return
			}
			epoch := h.conv.ModeEpoch
			res := h.do(engine.AIResumeDue{Due: tc.fireDue}, tc.fireAt)
			requireSystem(t, res)
			c := res.Conversation
			require.Equal(t, engine.ModeAI, c.Mode)
			require.True(t, c.AIResumesAt.IsZero())
			require.False(t, c.AIPaused)
			require.Equal(t, epoch+1, c.ModeEpoch)
			require.Equal(t, tc.wantAskAI, res.AskAI != nil, "AskAI")
			require.Empty(t, res.Send)
			require.Equal(t, []engine.EventType{engine.EventMessageCreated, engine.EventConversationUpdated}, eventTypes(res))

			// The timer fired once: firing it again does nothing.
			h.noop(engine.AIResumeDue{Due: tc.fireDue}, tc.fireAt)
		})
	}
}

// TestAIResumeDueLogNamesTheConfiguredDelay: the system entry written when
// the timer fires must not claim a delay other than the workspace's.
func TestAIResumeDueLogNamesTheConfiguredDelay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.set = engine.Settings{AIResumeAfter: 30 * time.Minute}
	h.do(engine.TakeOver{UserID: "u1"}, t0)
	res := h.do(engine.AIResumeDue{Due: at(30 * time.Minute)}, at(30*time.Minute))
	m := requireSystem(t, res)
	require.NotContains(t, m.Text, "15 minutes", "the workspace resumes the AI after 30 minutes")
}

func TestResumeAI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     []engine.Command
		wantAskAI bool
	}{
		{name: "taken over, customer waiting", setup: []engine.Command{engine.Receive{ChannelMessageID: "m", Content: txt("?")}, engine.TakeOver{UserID: "u1"}}, wantAskAI: true},
		{name: "taken over, customer answered", setup: []engine.Command{engine.Receive{ChannelMessageID: "m", Content: txt("?")}, engine.SendHuman{UserID: "u1", Content: txt("!")}}},
		{name: "paused", setup: []engine.Command{engine.PauseAI{UserID: "u1"}}},
		{name: "paused, customer waiting", setup: []engine.Command{engine.PauseAI{UserID: "u1"}, engine.Receive{ChannelMessageID: "m", Content: txt("?")}}, wantAskAI: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for _, cmd := range tc.setup {
				h.do(cmd, t0)
			}
			require.Equal(t, engine.ModeManual, h.conv.Mode)
			epoch := h.conv.ModeEpoch
			res := h.do(engine.ResumeAI{UserID: "u1"}, at(time.Minute))
			requireSystem(t, res)
			require.Equal(t, engine.ModeAI, res.Conversation.Mode)
			require.True(t, res.Conversation.AIResumesAt.IsZero())
			require.False(t, res.Conversation.AIPaused)
			require.Equal(t, epoch+1, res.Conversation.ModeEpoch)
			require.Equal(t, tc.wantAskAI, res.AskAI != nil, "AskAI")

			// Resuming an AI conversation does nothing.
			h.noop(engine.ResumeAI{UserID: "u1"}, at(2*time.Minute))
		})
	}
}

func TestModeEpochCountsModeChanges(t *testing.T) {
	t.Parallel()
	resumeDue := func(c engine.Conversation) engine.Command { return engine.AIResumeDue{Due: c.AIResumesAt} }
	fixed := func(cmd engine.Command) func(engine.Conversation) engine.Command {
		return func(engine.Conversation) engine.Command { return cmd }
	}
	steps := []struct {
		cmd       func(engine.Conversation) engine.Command
		wantMode  engine.Mode
		wantEpoch uint64
	}{
		{fixed(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}), engine.ModeAI, 0},
		{fixed(engine.TakeOver{UserID: "u1"}), engine.ModeManual, 1},
		{fixed(engine.TakeOver{UserID: "u1"}), engine.ModeManual, 1},
		{fixed(engine.SendHuman{UserID: "u1", Content: txt("a")}), engine.ModeManual, 1},
		{fixed(engine.ResumeAI{}), engine.ModeAI, 2},
		{fixed(engine.ResumeAI{}), engine.ModeAI, 2},
		{fixed(engine.SendHuman{UserID: "u1", Content: txt("b")}), engine.ModeManual, 3},
		{fixed(engine.PauseAI{}), engine.ModeManual, 3},
		{fixed(engine.ResumeAI{}), engine.ModeAI, 4},
		{fixed(engine.PauseAI{}), engine.ModeManual, 5},
		{fixed(engine.TakeOver{}), engine.ModeManual, 5},
		{resumeDue, engine.ModeAI, 6},
		{fixed(engine.Echo{ChannelMessageID: "e1", Content: txt("c")}), engine.ModeManual, 7},
		{resumeDue, engine.ModeAI, 8},
		{fixed(engine.MoveFolder{Folder: engine.FolderSolved}), engine.ModeAI, 8},
		{fixed(engine.Receive{ChannelMessageID: "m2", Content: txt("d")}), engine.ModeAI, 8},
	}
	h := newHarness(t)
	now := t0
	for i, st := range steps {
		cmd := st.cmd(h.conv)
		res := h.do(cmd, now)
		require.Equal(t, st.wantMode, res.Conversation.Mode, "step %d %T", i, cmd)
		require.Equal(t, st.wantEpoch, res.Conversation.ModeEpoch, "step %d %T", i, cmd)
		if !h.conv.AIResumesAt.IsZero() {
			now = h.conv.AIResumesAt
		} else {
			now = now.Add(time.Minute)
		}
	}
}

// ---------------------------------------------------------------------------
// AI replies (docs/ARCHITECTURE.md, invariant 5)

func TestAIReply(t *testing.T) {
	t.Parallel()
	resumeDue := func(c engine.Conversation) engine.Command { return engine.AIResumeDue{Due: c.AIResumesAt} }
	fixed := func(cmd engine.Command) func(engine.Conversation) engine.Command {
		return func(engine.Conversation) engine.Command { return cmd }
	}
	tests := []struct {
		name    string
		between []func(engine.Conversation) engine.Command // after the request, before the reply
		mangle  func(*engine.AIRequest)
		discard bool
	}{
		{name: "accepted"},
		{name: "accepted after unrelated changes", between: []func(engine.Conversation) engine.Command{
			fixed(engine.SetTag{Tag: "vip"}), fixed(engine.MarkRead{}), fixed(engine.Assign{UserID: "u2"})}},
		{name: "human took over", between: []func(engine.Conversation) engine.Command{fixed(engine.TakeOver{UserID: "u1"})}, discard: true},
		{name: "human replied from the inbox", between: []func(engine.Conversation) engine.Command{
			fixed(engine.SendHuman{UserID: "u1", Content: txt("me first")})}, discard: true},
		{name: "human replied from the phone", between: []func(engine.Conversation) engine.Command{
			fixed(engine.Echo{ChannelMessageID: "e1", Content: txt("me first")})}, discard: true},
		{name: "AI paused", between: []func(engine.Conversation) engine.Command{fixed(engine.PauseAI{UserID: "u1"})}, discard: true},
		{name: "newer customer message", between: []func(engine.Conversation) engine.Command{
			fixed(engine.Receive{ChannelMessageID: "m2", Content: txt("one more thing")})}, discard: true},
		{name: "manual and back to ai by a person", between: []func(engine.Conversation) engine.Command{
			fixed(engine.TakeOver{UserID: "u1"}), fixed(engine.ResumeAI{UserID: "u1"})}, discard: true},
		{name: "manual and back to ai by the timer", between: []func(engine.Conversation) engine.Command{
			fixed(engine.TakeOver{UserID: "u1"}), resumeDue}, discard: true},
		{name: "paused and resumed", between: []func(engine.Conversation) engine.Command{
			fixed(engine.PauseAI{UserID: "u1"}), fixed(engine.ResumeAI{UserID: "u1"})}, discard: true},
		{name: "moved to spam", between: []func(engine.Conversation) engine.Command{
			fixed(engine.MoveFolder{Folder: engine.FolderSpam})}, discard: true},
		{name: "contact blocked", between: []func(engine.Conversation) engine.Command{
			fixed(engine.SetBlocked{Blocked: true})}, discard: true},
		{name: "request for an older customer message", mangle: func(r *engine.AIRequest) { r.LastCustomerSeq-- }, discard: true},
		{name: "request from another epoch", mangle: func(r *engine.AIRequest) { r.ModeEpoch++ }, discard: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			res := h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("how much?")}, t0)
			require.NotNil(t, res.AskAI)
			req := *res.AskAI
			now := at(time.Minute)
			for _, step := range tc.between {
				h.do(step(h.conv), now)
				if !h.conv.AIResumesAt.IsZero() {
					now = h.conv.AIResumesAt
				}
			}
			if tc.mangle != nil {
				tc.mangle(&req)
			}
			before := h.conv
			now = now.Add(time.Second)
			reply := engine.AIReply{Request: req, Content: txt("It costs 10 EUR."), Reasoning: "price list"}
			res = h.do(reply, now)

			if tc.discard {
				require.True(t, res.Discarded)
				requireNothing(t, before, res)
				return
			}
			require.False(t, res.Discarded)
			require.Len(t, res.Messages, 1)
			m := res.Messages[0]
			require.Equal(t, engine.DirOut, m.Direction)
			require.Equal(t, engine.Sender{Kind: engine.SenderAI}, m.Sender)
			require.Equal(t, txt("It costs 10 EUR."), m.Content)
			require.Equal(t, engine.StatusSending, m.Status)
			require.Equal(t, now, m.StatusAt)
			require.Equal(t, "price list", m.Reasoning)
			require.Equal(t, []engine.Message{m}, res.Send)
			require.Nil(t, res.AskAI)

			c := res.Conversation
			require.False(t, c.AwaitingReply)
			require.Equal(t, m.Seq, c.LastOutboundSeq)
			require.Equal(t, engine.StatusSending, c.LastOutboundStatus)
			require.Equal(t, "It costs 10 EUR.", c.Preview)
			require.Equal(t, engine.ModeAI, c.Mode, "an AI reply is not human activity")
			require.True(t, c.AIResumesAt.IsZero())
			require.Equal(t, before.ModeEpoch, c.ModeEpoch)
			require.Equal(t, []engine.EventType{engine.EventMessageCreated, engine.EventConversationUpdated}, eventTypes(res))
		})
	}
}

func TestAIReplyToTheNewestRequestIsAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("a")}, t0).AskAI
	newer := *h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("b")}, at(time.Second)).AskAI
	require.NotEqual(t, old, newer)

	res := h.do(engine.AIReply{Request: old, Content: txt("stale")}, at(2*time.Second))
	require.True(t, res.Discarded)
	res = h.do(engine.AIReply{Request: newer, Content: txt("fresh")}, at(3*time.Second))
	require.False(t, res.Discarded)
	require.Len(t, res.Send, 1)
	require.Equal(t, "fresh", res.Send[0].Text)

	// After a takeover and the timer, the request made on resuming is accepted.
	h.do(engine.Receive{ChannelMessageID: "m3", Content: txt("c")}, at(4*time.Second))
	h.do(engine.TakeOver{UserID: "u1"}, at(5*time.Second))
	res = h.do(engine.AIResumeDue{Due: h.conv.AIResumesAt}, h.conv.AIResumesAt)
	require.NotNil(t, res.AskAI)
	res = h.do(engine.AIReply{Request: *res.AskAI, Content: txt("back")}, at(time.Hour))
	require.False(t, res.Discarded)
	require.Len(t, res.Send, 1)
}

func TestAIReplyInvalidContent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("a")}, t0).AskAI
	h.fail(engine.AIReply{Request: req, Content: txt("  ")}, at(time.Second), engine.ErrInvalid)
}

// ---------------------------------------------------------------------------
// Other commands

func TestMoveFolder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to engine.Folder
		wantErr  bool
		wantNoop bool
	}{
		{from: engine.FolderOpen, to: engine.FolderSolved},
		{from: engine.FolderOpen, to: engine.FolderSpam},
		{from: engine.FolderOpen, to: engine.FolderArchived},
		{from: engine.FolderSolved, to: engine.FolderOpen},
		{from: engine.FolderSpam, to: engine.FolderOpen},
		{from: engine.FolderArchived, to: engine.FolderSolved},
		{from: engine.FolderOpen, to: engine.FolderPending},
		{from: engine.FolderPending, to: engine.FolderSolved},
		{from: engine.FolderPending, to: engine.FolderPending, wantNoop: true},
		{from: engine.FolderOpen, to: engine.FolderOpen, wantNoop: true},
		{from: engine.FolderSpam, to: engine.FolderSpam, wantNoop: true},
		{from: engine.FolderOpen, to: "trash", wantErr: true},
		{from: engine.FolderOpen, to: "", wantErr: true},
		{from: engine.FolderOpen, to: "Open", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(string(tc.from)+"->"+string(tc.to), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tc.from != engine.FolderOpen {
				h.do(engine.MoveFolder{Folder: tc.from}, t0)
			}
			cmd := engine.MoveFolder{Folder: tc.to, UserID: "u1"}
			switch {
			case tc.wantErr:
				h.fail(cmd, at(time.Minute), engine.ErrInvalid)
			case tc.wantNoop:
				h.noop(cmd, at(time.Minute))
			default:
				res := h.do(cmd, at(time.Minute))
				require.Equal(t, tc.to, res.Conversation.Folder)
				m := requireSystem(t, res)
				require.Contains(t, m.Text, string(tc.to))
			}
		})
	}
}

func TestSetTag(t *testing.T) {
	t.Parallel()
	full := make([]string, engine.MaxTags)
	for i := range full {
		full[i] = "t" + strings.Repeat("x", i)
	}
	long := strings.Repeat("é", engine.MaxTagBytes/2) // exactly MaxTagBytes bytes
	tests := []struct {
		name     string
		tags     []string
		cmd      engine.SetTag
		wantTags []string
		wantErr  bool
	}{
		{name: "add to none", cmd: engine.SetTag{Tag: "vip"}, wantTags: []string{"vip"}},
		{name: "add keeps sorted", tags: []string{"b", "d"}, cmd: engine.SetTag{Tag: "c"}, wantTags: []string{"b", "c", "d"}},
		{name: "add first", tags: []string{"b", "d"}, cmd: engine.SetTag{Tag: "a"}, wantTags: []string{"a", "b", "d"}},
		{name: "add trims", cmd: engine.SetTag{Tag: "  vip\t"}, wantTags: []string{"vip"}},
		{name: "add existing is idempotent", tags: []string{"a", "vip"}, cmd: engine.SetTag{Tag: "vip"}, wantTags: []string{"a", "vip"}},
		{name: "add priority", tags: []string{"a"}, cmd: engine.SetTag{Tag: engine.PriorityTag}, wantTags: []string{"a", engine.PriorityTag}},
		{name: "remove", tags: []string{"a", "b", "c"}, cmd: engine.SetTag{Tag: "b", Remove: true}, wantTags: []string{"a", "c"}},
		{name: "remove last one", tags: []string{"a"}, cmd: engine.SetTag{Tag: "a", Remove: true}, wantTags: []string{}},
		{name: "remove trims", tags: []string{"a", "b"}, cmd: engine.SetTag{Tag: " a ", Remove: true}, wantTags: []string{"b"}},
		{name: "remove absent is a no-op", tags: []string{"a"}, cmd: engine.SetTag{Tag: "z", Remove: true}, wantTags: []string{"a"}},
		{name: "max bytes", cmd: engine.SetTag{Tag: long}, wantTags: []string{long}},
		{name: "over max bytes", cmd: engine.SetTag{Tag: long + "x"}, wantErr: true},
		{name: "empty", cmd: engine.SetTag{Tag: ""}, wantErr: true},
		{name: "blank", cmd: engine.SetTag{Tag: " \t\n"}, wantErr: true},
		{name: "empty remove", tags: []string{"a"}, cmd: engine.SetTag{Tag: "", Remove: true}, wantErr: true},
		{name: "invalid utf-8", cmd: engine.SetTag{Tag: "a\xffb"}, wantErr: true},
		{name: "one tag too many", tags: full, cmd: engine.SetTag{Tag: "new"}, wantErr: true},
		{name: "full, existing tag", tags: full, cmd: engine.SetTag{Tag: full[3]}, wantTags: full},
		{name: "full, remove", tags: full, cmd: engine.SetTag{Tag: full[0], Remove: true}, wantTags: full[1:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.conv.Tags = slices.Clone(tc.tags)
			if tc.wantErr {
				h.fail(tc.cmd, t0, engine.ErrInvalid)
				return
			}
			changed := !slices.Equal(tc.tags, tc.wantTags)
			res := h.do(tc.cmd, t0)
			if len(tc.wantTags) == 0 {
				require.Empty(t, res.Conversation.Tags)
			} else {
				require.Equal(t, tc.wantTags, res.Conversation.Tags)
			}
			require.True(t, slices.IsSorted(res.Conversation.Tags))
			require.Empty(t, res.Messages)
			if changed {
				require.Equal(t, []engine.EventType{engine.EventConversationUpdated}, eventTypes(res))
			} else {
				require.Empty(t, res.Events)
			}
			for _, tag := range tc.wantTags {
				require.True(t, res.Conversation.HasTag(tag))
			}
		})
	}
}

func TestMarkReadUnread(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		unread     int
		cmd        engine.Command
		wantUnread int
	}{
		{"read clears", 3, engine.MarkRead{}, 0},
		{"read when read", 0, engine.MarkRead{}, 0},
		{"unread when read", 0, engine.MarkUnread{}, 1},
		{"unread keeps count", 3, engine.MarkUnread{}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for i := range tc.unread {
				h.do(engine.Receive{ChannelMessageID: fmt.Sprint("m", i), Content: txt("x")}, t0)
			}
			require.Equal(t, tc.unread, h.conv.UnreadCount)
			res := h.do(tc.cmd, at(time.Minute))
			require.Equal(t, tc.wantUnread, res.Conversation.UnreadCount)
			require.Empty(t, res.Messages)
			require.Equal(t, tc.unread != tc.wantUnread, hasEvent(res, engine.EventConversationUpdated))
		})
	}
}

func TestAssign(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.do(engine.Assign{UserID: "u1"}, t0)
	require.Equal(t, "u1", res.Conversation.AssigneeID)
	require.Equal(t, []engine.EventType{engine.EventConversationUpdated}, eventTypes(res))
	h.noop(engine.Assign{UserID: "u1"}, t0)
	res = h.do(engine.Assign{UserID: "u2"}, t0)
	require.Equal(t, "u2", res.Conversation.AssigneeID)
	res = h.do(engine.Assign{}, t0)
	require.Empty(t, res.Conversation.AssigneeID)
	h.noop(engine.Assign{}, t0)
}

// TestAssignEventSaysWhoAndByWhom: the conversation.updated of an
// assignment carries the assignee and who assigned (for the
// notifications); unassigning or another change carries none.
func TestAssignEventSaysWhoAndByWhom(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	by := engine.NewID(t0)
	res := h.do(engine.Assign{UserID: "u1", By: by}, t0)
	require.Len(t, res.Events, 1)
	require.Equal(t, &engine.Assignment{UserID: "u1", By: by}, res.Events[0].Assigned)
	res = h.do(engine.Assign{}, t0)
	require.Nil(t, res.Events[0].Assigned)
	res = h.do(engine.MarkUnread{}, t0)
	require.Nil(t, res.Events[0].Assigned)
}

func TestFollowUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	now := at(time.Hour)
	// A person's reminder: in manual mode a due follow-up is logged for the
	// person (in AI mode the AI writes it, see TestFollowUpByAI).
	h.do(engine.PauseAI{UserID: "u1"}, now)

	h.fail(engine.ScheduleFollowUp{At: now, UserID: "u1"}, now, engine.ErrInvalid)
	h.fail(engine.ScheduleFollowUp{At: now.Add(-time.Second), UserID: "u1"}, now, engine.ErrInvalid)
	h.fail(engine.ScheduleFollowUp{UserID: "u1"}, now, engine.ErrInvalid)

	// Nothing to cancel, nothing due.
	h.noop(engine.CancelFollowUp{UserID: "u1"}, now)
	h.noop(engine.FollowUpDue{}, now)

	first := now.Add(24 * time.Hour)
	res := h.do(engine.ScheduleFollowUp{At: first, UserID: "u1"}, now)
	require.Equal(t, first, res.Conversation.FollowUpAt)
	requireSystem(t, res)
	require.Equal(t, []engine.EventType{engine.EventMessageCreated, engine.EventFollowUpScheduled, engine.EventConversationUpdated}, eventTypes(res))

	// Moving it makes the first deadline stale.
	second := now.Add(48 * time.Hour)
	res = h.do(engine.ScheduleFollowUp{At: second, UserID: "u1"}, now)
	require.Equal(t, second, res.Conversation.FollowUpAt)
	h.noop(engine.FollowUpDue{Due: first}, first)
	h.noop(engine.FollowUpDue{Due: second}, second.Add(-time.Nanosecond))

	res = h.do(engine.FollowUpDue{Due: second}, second)
	require.True(t, res.Conversation.FollowUpAt.IsZero())
	requireSystem(t, res)
	require.True(t, hasEvent(res, engine.EventFollowUpDue))
	h.noop(engine.FollowUpDue{Due: second}, second) // fires once

	// Cancelled follow-ups never fire.
	third := second.Add(time.Hour)
	h.do(engine.ScheduleFollowUp{At: third}, second)
	res = h.do(engine.CancelFollowUp{UserID: "u1"}, second)
	require.True(t, res.Conversation.FollowUpAt.IsZero())
	requireSystem(t, res)
	require.Equal(t, []engine.EventType{engine.EventMessageCreated, engine.EventFollowUpCancelled, engine.EventConversationUpdated}, eventTypes(res))
	h.noop(engine.FollowUpDue{Due: third}, third)
}

func TestSetCSAT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		score int
		ok    bool
	}{{-1, false}, {0, false}, {1, true}, {3, true}, {5, true}, {6, false}, {100, false}} {
		t.Run(fmt.Sprint(tc.score), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if !tc.ok {
				h.fail(engine.SetCSAT{Score: tc.score}, t0, engine.ErrInvalid)
				return
			}
			res := h.do(engine.SetCSAT{Score: tc.score}, t0)
			require.Equal(t, tc.score, res.Conversation.CSAT)
		})
	}
}

func TestSetBlocked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.noop(engine.SetBlocked{Blocked: false}, t0)
	res := h.do(engine.SetBlocked{Blocked: true}, t0)
	require.True(t, res.Conversation.Blocked)
	requireSystem(t, res)
	h.noop(engine.SetBlocked{Blocked: true}, t0)
	res = h.do(engine.SetBlocked{Blocked: false}, t0)
	require.False(t, res.Conversation.Blocked)
	requireSystem(t, res)
}

func TestSetUnsubscribed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.noop(engine.SetUnsubscribed{Unsubscribed: false}, t0)
	res := h.do(engine.SetUnsubscribed{Unsubscribed: true}, t0)
	require.True(t, res.Conversation.Unsubscribed)
	require.Equal(t, []engine.EventType{engine.EventConversationUpdated}, eventTypes(res))
	h.noop(engine.SetUnsubscribed{Unsubscribed: true}, t0)
}

// allCommands is one valid instance of every command.
func allCommands() []engine.Command {
	return []engine.Command{
		engine.Receive{ChannelMessageID: "m", Content: txt("x")},
		engine.Echo{ChannelMessageID: "e", Content: txt("x")},
		engine.SendHuman{UserID: "u", Content: txt("x")},
		engine.TakeOver{}, engine.PauseAI{}, engine.ResumeAI{},
		engine.AIResumeDue{Due: t0},
		engine.AIReply{Content: txt("x")},
		engine.MoveFolder{Folder: engine.FolderSolved},
		engine.SetTag{Tag: "x"},
		engine.MarkRead{}, engine.MarkUnread{},
		engine.Assign{UserID: "u"},
		engine.ScheduleFollowUp{At: t0.Add(time.Hour)}, engine.CancelFollowUp{}, engine.FollowUpDue{Due: t0},
		engine.SetCSAT{Score: 5}, engine.SetBlocked{Blocked: true}, engine.SetUnsubscribed{Unsubscribed: true},
		engine.UpdateStatus{Seq: 1, Status: engine.StatusRead}, engine.Retry{Seq: 1},
		engine.Delete{},
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
	res := h.do(engine.Delete{}, at(time.Minute))
	require.True(t, res.Conversation.Deleted)
	require.Empty(t, res.Messages)
	require.Nil(t, res.AskAI)
	require.Equal(t, []engine.EventType{engine.EventConversationDeleted}, eventTypes(res))

	for _, cmd := range allCommands() {
		h.fail(cmd, at(2*time.Minute), engine.ErrDeleted)
	}
}

func TestApplyNilCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fail(nil, t0, engine.ErrInvalid)
}

// TestEventsOnlyWhenSomethingChanged: commands that change nothing produce
// no event at all, and a change to a message alone no conversation.updated.
func TestEventsOnlyWhenSomethingChanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
	req := *h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("hi")}, t0).AskAI
	h.do(engine.AIReply{Request: req, Content: txt("first")}, t0)    // seq 3
	h.do(engine.SendHuman{UserID: "u1", Content: txt("second")}, t0) // seq 4
	h.do(engine.MarkRead{}, t0)
	h.do(engine.SetTag{Tag: "vip"}, t0)
	h.do(engine.Assign{UserID: "u1"}, t0)

	for _, cmd := range []engine.Command{
		engine.MarkRead{}, engine.SetTag{Tag: "vip"}, engine.SetTag{Tag: "other", Remove: true},
		engine.Assign{UserID: "u1"}, engine.MoveFolder{Folder: engine.FolderOpen},
		engine.SetBlocked{}, engine.SetUnsubscribed{}, engine.CancelFollowUp{},
		engine.UpdateStatus{Seq: 3, Status: engine.StatusSending},
	} {
		h.noop(cmd, at(time.Minute))
	}

	// seq 3 is not the last outbound message: its status is not in the header.
	res := h.do(engine.UpdateStatus{Seq: 3, Status: engine.StatusDelivered, At: at(time.Minute)}, at(time.Minute))
	require.Equal(t, []engine.EventType{engine.EventMessageUpdated}, eventTypes(res))
	require.Equal(t, engine.StatusSending, res.Conversation.LastOutboundStatus)
	// seq 4 is.
	res = h.do(engine.UpdateStatus{Seq: 4, Status: engine.StatusDelivered, At: at(time.Minute)}, at(time.Minute))
	require.Equal(t, []engine.EventType{engine.EventMessageUpdated, engine.EventConversationUpdated}, eventTypes(res))
	require.Equal(t, engine.StatusDelivered, res.Conversation.LastOutboundStatus)
}

// TestEventsCarryIdentity checks, on a long mixed script, that every event
// names its workspace, conversation and time and carries the new header
// (checkResult does the checking on every step).
func TestEventsCarryIdentity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	now := t0
	var n int
	step := func(cmd engine.Command) engine.Result {
		now = now.Add(time.Minute)
		res := h.do(cmd, now)
		n += len(res.Events)
		for _, e := range res.Events {
			require.Equal(t, h.conv.WorkspaceID, e.WorkspaceID)
			require.Equal(t, h.conv.ID, e.ConversationID)
			require.Equal(t, now, e.At)
		}
		return res
	}
	req := step(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}).AskAI
	step(engine.AIReply{Request: *req, Content: txt("hello")})
	step(engine.UpdateStatus{Seq: 2, Status: engine.StatusSent, ChannelMessageID: "out1"})
	step(engine.TakeOver{UserID: "u1"})
	step(engine.SendHuman{UserID: "u1", Content: txt("me")})
	step(engine.UpdateStatus{Seq: 4, Status: engine.StatusFailed, ErrorCode: "131047"})
	step(engine.Retry{Seq: 4})
	step(engine.SetTag{Tag: "vip"})
	step(engine.ScheduleFollowUp{At: now.Add(time.Hour)})
	step(engine.MoveFolder{Folder: engine.FolderSolved})
	step(engine.Delete{})
	require.Greater(t, n, 10)
}

// TestApplyDoesNotModifyInput: Apply works on a copy; the caller's
// conversation, including the backing array of its Tags, is untouched and
// the result shares no Tags storage with it.
func TestApplyDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	cmds := append(allCommands(),
		engine.SetTag{Tag: "a"}, engine.SetTag{Tag: "c"}, engine.SetTag{Tag: "zz"},
		engine.SetTag{Tag: "b", Remove: true}, engine.SetTag{Tag: "d", Remove: true},
		engine.UpdateStatus{Seq: 2, Status: engine.StatusFailed, ChannelMessageID: "x", ErrorCode: "e"},
		engine.Retry{Seq: 3},
	)
	for _, cmd := range cmds {
		t.Run(reflect.TypeOf(cmd).Name(), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0).AskAI
			h.do(engine.AIReply{Request: req, Content: txt("hello")}, t0) // seq 2
			h.do(engine.SendHuman{UserID: "u", Content: txt("me")}, t0)   // seq 3
			h.do(engine.UpdateStatus{Seq: 3, Status: engine.StatusFailed, ErrorCode: "e"}, t0)

			// Tags with spare capacity: an in-place append, sort or delete
			// would show in the backing array.
			backing := []string{"b", "d", "spare1", "spare2", "spare3"}
			h.conv.Tags = backing[:2]
			in := h.conv
			want := in.Clone()
			wantBacking := slices.Clone(backing)
			msgs := make(map[uint64]engine.Message, len(h.msgs))
			for k, v := range h.msgs {
				msgs[k] = v
			}

			res, err := engine.Apply(in, cmd, at(time.Minute), engine.NewID, engine.Settings{}, h.lookup)
			if err != nil {
				require.Zero(t, res)
			}
			require.Equal(t, want, in)
			require.Equal(t, wantBacking, backing)
			require.Equal(t, msgs, h.msgs, "Apply must not change stored messages")

			if len(res.Conversation.Tags) > 0 {
				res.Conversation.Tags[0] = "mutated"
				require.Equal(t, wantBacking, backing, "result Tags alias the input")
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Content validation

func TestContentValidation(t *testing.T) {
	t.Parallel()
	img := &engine.Media{Ref: "media-1", MimeType: "image/jpeg"}
	tests := []struct {
		name    string
		content engine.Content
		ok      bool
	}{
		{"text", txt("hello"), true},
		{"text with spaces around", txt("  hello  "), true},
		{"text at max size", txt(strings.Repeat("a", engine.MaxTextBytes)), true},
		{"empty text", txt(""), false},
		{"blank text", txt(" \n\t "), false},
		{"invalid utf-8", txt("hi \xff there"), false},
		{"truncated utf-8", txt(string([]byte("é")[:1])), false},
		{"oversize text", txt(strings.Repeat("a", engine.MaxTextBytes+1)), false},
		{"oversize multibyte text", txt(strings.Repeat("é", engine.MaxTextBytes/2+1)), false},
		{"image", engine.Content{Kind: engine.KindImage, Media: img}, true},
		{"image with caption", engine.Content{Kind: engine.KindImage, Text: "look", Media: img}, true},
		{"image without media", engine.Content{Kind: engine.KindImage}, false},
		{"video without media", engine.Content{Kind: engine.KindVideo, Text: "x"}, false},
		{"audio without media", engine.Content{Kind: engine.KindAudio}, false},
		{"document without media", engine.Content{Kind: engine.KindDocument}, false},
		{"sticker without media", engine.Content{Kind: engine.KindSticker}, false},
		{"image with invalid utf-8 text", engine.Content{Kind: engine.KindImage, Text: "\xc3", Media: img}, false},
		{"location", engine.Content{Kind: engine.KindLocation, Location: &engine.Location{Latitude: 1, Longitude: 2}}, true},
		{"contacts", engine.Content{Kind: engine.KindContacts, Contacts: []byte(`[{}]`)}, true},
		{"interactive", engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{Type: "button", Title: "Yes"}}, true},
		{"reaction", engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: "m", Emoji: "👍"}}, true},
		{"unsupported", engine.Content{Kind: engine.KindUnsupported, UnsupportedType: "poll"}, true},
		{"no kind", engine.Content{Text: "hello"}, false},
		{"unknown kind", engine.Content{Kind: "gif", Text: "hello"}, false},
		{"kind in capitals", engine.Content{Kind: "TEXT", Text: "hello"}, false},
		{"system kind from outside", engine.Content{Kind: engine.KindSystem, Text: "AI resumed"}, false},
	}
	commands := []struct {
		name string
		cmd  func(req engine.AIRequest, c engine.Content) engine.Command
	}{
		{"receive", func(_ engine.AIRequest, c engine.Content) engine.Command {
			return engine.Receive{ChannelMessageID: "m2", Content: c}
		}},
		{"echo", func(_ engine.AIRequest, c engine.Content) engine.Command {
			return engine.Echo{ChannelMessageID: "e1", Content: c}
		}},
		{"send human", func(_ engine.AIRequest, c engine.Content) engine.Command {
			return engine.SendHuman{UserID: "u1", Content: c}
		}},
		{"ai reply", func(req engine.AIRequest, c engine.Content) engine.Command {
			return engine.AIReply{Request: req, Content: c}
		}},
	}
	for _, tc := range tests {
		for _, cc := range commands {
			t.Run(tc.name+"/"+cc.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t)
				req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0).AskAI
				cmd := cc.cmd(req, tc.content)
				if !tc.ok {
					h.fail(cmd, at(time.Minute), engine.ErrInvalid)
					return
				}
				res := h.do(cmd, at(time.Minute))
				require.Len(t, res.Messages, 1)
				require.Equal(t, tc.content, res.Messages[0].Content)
				require.Equal(t, tc.content.Preview(), res.Conversation.Preview)
			})
		}
	}
}

// FuzzApplyReceive feeds arbitrary text and kinds to Receive: Apply never
// panics, and either rejects the content as invalid or stores a message
// with exactly that text and a valid UTF-8 preview.
func FuzzApplyReceive(f *testing.F) {
	f.Add("hello", "text", false)
	f.Add("", "text", false)
	f.Add("   ", "text", false)
	f.Add("\xff\xfe", "text", false)
	f.Add("caption", "image", true)
	f.Add("", "image", false)
	f.Add("", "location", false)
	f.Add("x", "system", false)
	f.Add("x", "", false)
	f.Add(strings.Repeat("ü", 200), "text", false)
	f.Add(strings.Repeat("a", engine.MaxTextBytes+1), "text", false)
	f.Fuzz(func(t *testing.T, text, kind string, withMedia bool) {
		c := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWebChat, "acct", engine.NewID(t0), "u", t0)
		content := engine.Content{Kind: engine.MessageKind(kind), Text: text}
		if withMedia {
			content.Media = &engine.Media{Ref: "r", Caption: "cap"}
		}
		res, err := engine.Apply(c, engine.Receive{ChannelMessageID: "m1", Content: content}, t0, engine.NewID, engine.Settings{}, nil)
		if err != nil {
			require.ErrorIs(t, err, engine.ErrInvalid)
			require.Zero(t, res)
			return
		}
		require.True(t, utf8.ValidString(text), "accepted invalid UTF-8")
		require.LessOrEqual(t, len(text), engine.MaxTextBytes)
		require.Len(t, res.Messages, 1)
		require.Equal(t, text, res.Messages[0].Text)
		require.Equal(t, engine.MessageKind(kind), res.Messages[0].Kind)
		require.True(t, utf8.ValidString(res.Conversation.Preview))
		require.LessOrEqual(t, utf8.RuneCountInString(res.Conversation.Preview), 121)
		require.Equal(t, uint64(1), res.Conversation.LastSeq)
		checkResult(t, c, res, t0)
	})
}

// ---------------------------------------------------------------------------
// Ids

// TestApplyIsDeterministicWithASeededIDSource applies the same commands
// twice with sources of the same seed: the results, message ids
// included, are identical; another seed gives other ids.
func TestApplyIsDeterministicWithASeededIDSource(t *testing.T) {
	t.Parallel()
	ws, conv, contact := engine.ID{1}, engine.ID{2}, engine.ID{3}
	run := func(seed uint64) []engine.Result {
		c := engine.NewConversation(conv, ws, engine.ChannelWhatsApp, "acct-1", contact, "user-1", t0)
		s := engine.Settings{Agent: engine.AgentRules{AutoCSAT: true}}
		ids := engine.SeededIDs(seed)
		var out []engine.Result
		for i, cmd := range []engine.Command{
			engine.Receive{ChannelMessageID: "m1", Content: txt("hi")},
			engine.SendHuman{UserID: "u", Content: txt("hello")},
			engine.SendHuman{UserID: "u", Content: txt("anything else?")},
			engine.MoveFolder{Folder: engine.FolderSolved}, // a system message and the survey
		} {
			res, err := engine.Apply(c, cmd, at(time.Duration(i)*time.Millisecond), ids, s, nil)
			require.NoError(t, err)
			out = append(out, res)
			c = res.Conversation
		}
		return out
	}
	a, b := run(7), run(7)
	require.Equal(t, a, b)
	other := run(8)
	require.NotEqual(t, a[0].Messages[0].ID, other[0].Messages[0].ID)
	last := a[len(a)-1].Messages
	require.Len(t, last, 3) // moved, handed back to the AI, the survey
	require.Negative(t, last[0].ID.Compare(last[1].ID), "ids made back to back sort in order")
}

func TestApplyWithoutIDSourceIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := engine.Apply(h.conv, engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0, nil, engine.Settings{}, nil)
	require.ErrorIs(t, err, engine.ErrInvalid)
	require.Zero(t, res)
}

// A person's command names them on the system message it causes; the
// AI's resumption after the timer names no one.
func TestSystemMessagesNameTheirUser(t *testing.T) {
	h := newHarness(t)
	h.do(engine.TakeOver{UserID: "u-ann"}, at(time.Minute))
	h.do(engine.MoveFolder{Folder: engine.FolderSolved, UserID: "u-bob"}, at(2*time.Minute))
	var got []string
	for _, m := range h.msgs {
		if m.Kind == engine.KindSystem {
			got = append(got, m.Text+"|"+m.Sender.UserID)
		}
	}
	require.Contains(t, got, "Taken over|u-ann")
	require.Contains(t, got, "Moved to solved|u-bob")
}
