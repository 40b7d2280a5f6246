package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

const (
	sending   = engine.StatusSending
	sent      = engine.StatusSent
	delivered = engine.StatusDelivered
	read      = engine.StatusRead
	failed    = engine.StatusFailed
)

func TestDeliveryStatusValid(t *testing.T) {
	t.Parallel()
	for _, s := range []engine.DeliveryStatus{sending, sent, delivered, read, failed} {
		require.True(t, s.Valid(), s)
	}
	for _, s := range []engine.DeliveryStatus{"", "Sent", "queued", "deleted", " read"} {
		require.False(t, s.Valid(), s)
	}
}

// TestNextStatus is invariant 3 (docs/ARCHITECTURE.md) as a table: forward only, read may skip
// delivered, late and repeated reports are ignored, failed fails anything
// not failed and nothing moves a failed message.
func TestNextStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cur     engine.DeliveryStatus
		next    engine.DeliveryStatus
		want    engine.DeliveryStatus
		changed bool
	}{
		// forward
		{"sending to sent", sending, sent, sent, true},
		{"sent to delivered", sent, delivered, delivered, true},
		{"delivered to read", delivered, read, read, true},
		{"sending to delivered skips sent", sending, delivered, delivered, true},
		{"sending to read", sending, read, read, true},
		{"read may skip delivered", sent, read, read, true},
		// backward: late reports
		{"late delivered after read", read, delivered, read, false},
		{"late sent after read", read, sent, read, false},
		{"late sent after delivered", delivered, sent, delivered, false},
		{"sending after sent", sent, sending, sent, false},
		{"sending after read", read, sending, read, false},
		// duplicates
		{"duplicate sending", sending, sending, sending, false},
		{"duplicate sent", sent, sent, sent, false},
		{"duplicate delivered", delivered, delivered, delivered, false},
		{"duplicate read", read, read, read, false},
		// failure from anywhere not failed
		{"sending fails", sending, failed, failed, true},
		{"sent fails", sent, failed, failed, true},
		{"delivered fails", delivered, failed, failed, true},
		{"read fails", read, failed, failed, true},
		// failed is terminal
		{"failed stays on sending", failed, sending, failed, false},
		{"failed stays on sent", failed, sent, failed, false},
		{"failed stays on delivered", failed, delivered, failed, false},
		{"failed stays on read", failed, read, failed, false},
		{"duplicate failed", failed, failed, failed, false},
		// invalid reports
		{"unknown status from sending", sending, "queued", sending, false},
		{"empty status from sent", sent, "", sent, false},
		{"unknown status from failed", failed, "bogus", failed, false},
		{"capitalised status", sending, "READ", sending, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, changed := engine.NextStatus(tc.cur, tc.next)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.changed, changed)
		})
	}
}

// TestNextStatusOrderIndependent: whatever order a set of reports arrives
// in, the message ends in the same status.
func TestNextStatusOrderIndependent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reports []engine.DeliveryStatus
		want    engine.DeliveryStatus
	}{
		{[]engine.DeliveryStatus{sent, delivered, read}, read},
		{[]engine.DeliveryStatus{sent, delivered, delivered, sent}, delivered},
		{[]engine.DeliveryStatus{sent, delivered, read, failed}, failed},
		{[]engine.DeliveryStatus{read, failed, "bogus", sent}, failed},
		{[]engine.DeliveryStatus{sent, "", read}, read},
	}
	for _, tc := range tests {
		for _, perm := range permutations(tc.reports) {
			cur := sending
			for _, r := range perm {
				cur, _ = engine.NextStatus(cur, r)
			}
			require.Equal(t, tc.want, cur, "reports in order %v", perm)
		}
	}
}

func permutations(s []engine.DeliveryStatus) [][]engine.DeliveryStatus {
	if len(s) <= 1 {
		return [][]engine.DeliveryStatus{append([]engine.DeliveryStatus(nil), s...)}
	}
	var out [][]engine.DeliveryStatus
	for i := range s {
		rest := append(append([]engine.DeliveryStatus(nil), s[:i]...), s[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]engine.DeliveryStatus{s[i]}, p...))
		}
	}
	return out
}

// statusHarness returns a conversation whose log is
//
//	1 inbound customer message
//	2 outbound AI reply, sending
//	3 internal system entry (taken over)
//	4 outbound human reply, sending (the last outbound message)
func statusHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	req := *h.do(engine.Receive{ChannelMessageID: "in.1", Content: txt("hi")}, t0).AskAI
	h.do(engine.AIReply{Request: req, Content: txt("hello")}, t0)
	h.do(engine.TakeOver{UserID: "u1"}, t0)
	h.do(engine.SendHuman{UserID: "u1", Content: txt("a person")}, t0)
	require.Equal(t, uint64(4), h.conv.LastOutboundSeq)
	require.Equal(t, engine.DirOut, h.msgs[2].Direction)
	require.Equal(t, engine.DirInternal, h.msgs[3].Direction)
	return h
}

func TestApplyUpdateStatus(t *testing.T) {
	t.Parallel()
	type wantMsg struct {
		status      engine.DeliveryStatus
		statusAt    time.Time
		cmid        string
		errCode     string
		errReason   string
		sentAtIsSet bool
	}
	tAt := at(time.Minute)
	tests := []struct {
		name     string
		before   []engine.UpdateStatus // applied first
		cmd      engine.UpdateStatus
		wantErr  error
		want     *wantMsg // nil: the command changes nothing
		wantLast engine.DeliveryStatus
	}{
		{name: "sent with the channel id",
			cmd:      engine.UpdateStatus{Seq: 4, Status: sent, At: tAt, ChannelMessageID: "wamid.4"},
			want:     &wantMsg{status: sent, statusAt: tAt, cmid: "wamid.4", sentAtIsSet: true},
			wantLast: sent},
		{name: "older message: header keeps the last one's status",
			cmd:      engine.UpdateStatus{Seq: 2, Status: delivered, At: tAt, ChannelMessageID: "wamid.2"},
			want:     &wantMsg{status: delivered, statusAt: tAt, cmid: "wamid.2", sentAtIsSet: true},
			wantLast: sending},
		{name: "read skips delivered",
			before:   []engine.UpdateStatus{{Seq: 4, Status: sent, At: t0, ChannelMessageID: "wamid.4"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: read, At: tAt},
			want:     &wantMsg{status: read, statusAt: tAt, cmid: "wamid.4", sentAtIsSet: true},
			wantLast: read},
		{name: "channel id alone on a duplicate status",
			cmd:      engine.UpdateStatus{Seq: 4, Status: sending, At: tAt, ChannelMessageID: "wamid.4"},
			want:     &wantMsg{status: sending, statusAt: t0, cmid: "wamid.4"},
			wantLast: sending},
		{name: "status before the channel id, id after it",
			before:   []engine.UpdateStatus{{Seq: 4, Status: read, At: t0}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: sent, At: tAt, ChannelMessageID: "wamid.4"},
			want:     &wantMsg{status: read, statusAt: t0, cmid: "wamid.4", sentAtIsSet: true},
			wantLast: read},
		{name: "channel id is never overwritten",
			before:   []engine.UpdateStatus{{Seq: 4, Status: sent, At: t0, ChannelMessageID: "wamid.4"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: sent, At: tAt, ChannelMessageID: "other"},
			wantLast: sent},
		{name: "failed keeps the error",
			cmd:      engine.UpdateStatus{Seq: 4, Status: failed, At: tAt, ErrorCode: "131047", ErrorReason: "re-engagement window"},
			want:     &wantMsg{status: failed, statusAt: tAt, errCode: "131047", errReason: "re-engagement window"},
			wantLast: failed},
		{name: "failed after read",
			before:   []engine.UpdateStatus{{Seq: 4, Status: read, At: t0, ChannelMessageID: "wamid.4"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: failed, At: tAt, ErrorCode: "x"},
			want:     &wantMsg{status: failed, statusAt: tAt, cmid: "wamid.4", errCode: "x", sentAtIsSet: true},
			wantLast: failed},
		{name: "late delivered after read",
			before:   []engine.UpdateStatus{{Seq: 4, Status: read, At: t0, ChannelMessageID: "wamid.4"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: delivered, At: tAt},
			wantLast: read},
		{name: "duplicate report",
			before:   []engine.UpdateStatus{{Seq: 4, Status: delivered, At: t0, ChannelMessageID: "wamid.4"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: delivered, At: tAt, ChannelMessageID: "wamid.4"},
			wantLast: delivered},
		{name: "failed is terminal",
			before:   []engine.UpdateStatus{{Seq: 4, Status: failed, At: t0, ErrorCode: "1"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: read, At: tAt},
			wantLast: failed},
		{name: "second failure keeps the first error",
			before:   []engine.UpdateStatus{{Seq: 4, Status: failed, At: t0, ErrorCode: "1"}},
			cmd:      engine.UpdateStatus{Seq: 4, Status: failed, At: tAt, ErrorCode: "2"},
			wantLast: failed},
		{name: "inbound message", cmd: engine.UpdateStatus{Seq: 1, Status: read, At: tAt}, wantErr: engine.ErrNoSuchMessage},
		{name: "system entry", cmd: engine.UpdateStatus{Seq: 3, Status: read, At: tAt}, wantErr: engine.ErrNoSuchMessage},
		{name: "unknown seq", cmd: engine.UpdateStatus{Seq: 5, Status: read, At: tAt}, wantErr: engine.ErrNoSuchMessage},
		{name: "seq zero", cmd: engine.UpdateStatus{Seq: 0, Status: read, At: tAt}, wantErr: engine.ErrNoSuchMessage},
		{name: "unknown status", cmd: engine.UpdateStatus{Seq: 4, Status: "queued", At: tAt}, wantErr: engine.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := statusHarness(t)
			for _, u := range tc.before {
				h.do(u, u.At)
			}
			if tc.wantErr != nil {
				h.fail(tc.cmd, tAt, tc.wantErr)
				return
			}
			old := h.msgs[tc.cmd.Seq]
			before := h.conv.Clone()
			res := h.do(tc.cmd, tAt)
			require.Equal(t, tc.wantLast, res.Conversation.LastOutboundStatus)
			require.Empty(t, res.Send)
			require.Nil(t, res.AskAI)
			if tc.want == nil {
				requireNothing(t, before, res)
				require.Equal(t, old, h.msgs[tc.cmd.Seq])
				return
			}
			require.Len(t, res.Messages, 1)
			m := res.Messages[0]
			require.Equal(t, tc.cmd.Seq, m.Seq)
			require.Equal(t, old.ID, m.ID)
			require.Equal(t, old.Content, m.Content)
			require.Equal(t, old.Sender, m.Sender)
			require.Equal(t, tc.want.status, m.Status)
			require.Equal(t, tc.want.statusAt, m.StatusAt)
			require.Equal(t, tc.want.cmid, m.ChannelMessageID)
			require.Equal(t, tc.want.errCode, m.ErrorCode)
			require.Equal(t, tc.want.errReason, m.ErrorReason)
			require.Equal(t, tc.want.sentAtIsSet, !m.SentAt.IsZero())
			require.Equal(t, engine.EventMessageUpdated, res.Events[0].Type)
			require.Equal(t, m, *res.Events[0].Message)
		})
	}
}

func TestApplyUpdateStatusWithoutLookup(t *testing.T) {
	t.Parallel()
	h := statusHarness(t)
	res, err := engine.Apply(h.conv, engine.UpdateStatus{Seq: 4, Status: sent}, t0, engine.NewID, engine.Settings{}, nil)
	require.ErrorIs(t, err, engine.ErrNoSuchMessage)
	require.Zero(t, res)
}

func TestRetry(t *testing.T) {
	t.Parallel()
	failedAt := at(time.Minute)
	retryAt := at(2 * time.Minute)

	t.Run("failed message is sent again", func(t *testing.T) {
		t.Parallel()
		h := statusHarness(t)
		h.do(engine.UpdateStatus{Seq: 4, Status: failed, At: failedAt, ErrorCode: "131047", ErrorReason: "window"}, failedAt)
		old := h.msgs[4]

		res := h.do(engine.Retry{Seq: 4}, retryAt)
		require.Len(t, res.Messages, 1)
		m := res.Messages[0]
		require.Equal(t, old.ID, m.ID)
		require.Equal(t, uint64(4), m.Seq)
		require.Equal(t, sending, m.Status)
		require.Equal(t, retryAt, m.StatusAt)
		require.Empty(t, m.ErrorCode)
		require.Empty(t, m.ErrorReason)
		require.Equal(t, []engine.Message{m}, res.Send)
		require.Equal(t, sending, res.Conversation.LastOutboundStatus)
		require.Equal(t, []engine.EventType{engine.EventMessageUpdated, engine.EventConversationUpdated}, eventTypes(res))

		// After the retry the status moves forward again.
		res = h.do(engine.UpdateStatus{Seq: 4, Status: sent, At: at(3 * time.Minute), ChannelMessageID: "wamid.4"}, at(3*time.Minute))
		require.Equal(t, sent, res.Messages[0].Status)
		require.Equal(t, sent, res.Conversation.LastOutboundStatus)
	})

	t.Run("older AI message", func(t *testing.T) {
		t.Parallel()
		h := statusHarness(t)
		h.do(engine.UpdateStatus{Seq: 2, Status: failed, At: failedAt}, failedAt)
		res := h.do(engine.Retry{Seq: 2}, retryAt)
		require.Len(t, res.Send, 1)
		require.Equal(t, engine.SenderAI, res.Send[0].Sender.Kind)
		require.Equal(t, sending, res.Conversation.LastOutboundStatus, "header follows the last message only")
		require.Equal(t, []engine.EventType{engine.EventMessageUpdated}, eventTypes(res))
	})

	errs := []struct {
		name    string
		setup   []engine.Command
		seq     uint64
		wantErr error
	}{
		{name: "sending", seq: 4, wantErr: engine.ErrNotFailed},
		{name: "sent", setup: []engine.Command{engine.UpdateStatus{Seq: 4, Status: sent}}, seq: 4, wantErr: engine.ErrNotFailed},
		{name: "read", setup: []engine.Command{engine.UpdateStatus{Seq: 4, Status: read}}, seq: 4, wantErr: engine.ErrNotFailed},
		{name: "retried already", setup: []engine.Command{engine.UpdateStatus{Seq: 4, Status: failed}, engine.Retry{Seq: 4}}, seq: 4, wantErr: engine.ErrNotFailed},
		{name: "blocked", setup: []engine.Command{engine.UpdateStatus{Seq: 4, Status: failed}, engine.SetBlocked{Blocked: true}}, seq: 4, wantErr: engine.ErrBlocked},
		{name: "inbound", seq: 1, wantErr: engine.ErrNoSuchMessage},
		{name: "system entry", seq: 3, wantErr: engine.ErrNoSuchMessage},
		{name: "unknown", seq: 99, wantErr: engine.ErrNoSuchMessage},
		{name: "zero", seq: 0, wantErr: engine.ErrNoSuchMessage},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := statusHarness(t)
			for _, cmd := range tc.setup {
				h.do(cmd, failedAt)
			}
			h.fail(engine.Retry{Seq: tc.seq}, retryAt, tc.wantErr)
		})
	}
}
