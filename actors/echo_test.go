package actors_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// An Instagram echo held while its send was in flight survives a restart:
// the courier sends the message again at start, and its answer merges the
// echo (one message, the person's timer not pushed by our own echo).
func TestHeldEchoSurvivesRestart(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{gate: make(chan struct{}, 1)}
	h := newHarness(t, func(c *actors.Config) { c.Sender = sender })
	ig := func(extID, text string, echo bool) engine.Inbound {
		return engine.Inbound{WorkspaceID: h.ws, Channel: engine.ChannelInstagram, ChannelAccountID: "ig-1",
			ExternalUserID: "igsid-1", ChannelMessageID: extID, Echo: echo,
			Content: engine.Content{Kind: engine.KindText, Text: text}}
	}
	conv := h.ingest(ig("ig-in-1", "hi", false))[0].ConversationID
	h.exec(conv, engine.SendHuman{UserID: "agent-1", Content: engine.Content{Kind: engine.KindText, Text: "hello"}})
	timer := h.conv(conv).AIResumesAt
	mid := fmt.Sprintf("wamid.%s.%d", conv, 2) // what recordingSender answers for seq 2

	h.advance(time.Minute)
	res := h.ingest(ig(mid, "hello", true))
	require.True(t, res[0].Held)
	require.Zero(t, res[0].Seq)
	held, err := h.store.HeldEchoes(h.ws, conv)
	require.NoError(t, err)
	require.Len(t, held, 1)

	h.restartCut(50 * time.Millisecond) // the send in flight is cut short; the outbox entry stays
	sender.gate <- struct{}{}
	eventually(t, 5*time.Second, func() error {
		if m := h.messages(conv)[0]; m.Status != engine.StatusSent {
			return fmt.Errorf("status %s", m.Status)
		}
		return nil
	})
	ms := h.messages(conv)
	require.Len(t, ms, 2)
	require.Equal(t, mid, ms[0].ChannelMessageID)
	require.Equal(t, engine.SenderHuman, ms[0].Sender.Kind)
	held, err = h.store.HeldEchoes(h.ws, conv)
	require.NoError(t, err)
	require.Empty(t, held)
	require.Equal(t, timer, h.conv(conv).AIResumesAt, "our own echo is no human activity")
	res = h.ingest(ig(mid, "hello", true)) // a redelivery
	require.True(t, res[0].Duplicate)
}
