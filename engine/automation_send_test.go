package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// An automation's message (send_canned) goes out as the AI's through the
// courier, keeps its run tag, and leaves the mode alone; it is refused to
// a blocked contact and outside the channel's window, like any reply.
func TestSendAutomated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
	mode := h.conv.Mode
	res := h.do(engine.SendAutomated{Content: txt("Thanks, we will call you"), Tag: "automation run x action 0"}, at(time.Minute))
	require.Len(t, res.Send, 1)
	m := res.Send[0]
	require.Equal(t, engine.DirOut, m.Direction)
	require.Equal(t, engine.SenderAI, m.Sender.Kind)
	require.Equal(t, engine.StatusSending, m.Status)
	require.Equal(t, "automation run x action 0", m.Reasoning)
	require.Equal(t, mode, res.Conversation.Mode, "an automation does not take over")
	require.Nil(t, res.AskAI)

	h.fail(engine.SendAutomated{Content: txt("")}, at(2*time.Minute), engine.ErrInvalid)
	h.fail(engine.SendAutomated{Content: txt("late")}, at(48*time.Hour), engine.ErrOutsideWindow)
	h.do(engine.SetBlocked{Blocked: true}, at(3*time.Minute))
	h.fail(engine.SendAutomated{Content: txt("again")}, at(4*time.Minute), engine.ErrBlocked)
}
