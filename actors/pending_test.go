package actors_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// pendingTimers returns the AI backstop timers stored, due any time.
func pendingTimers(t *testing.T, h *harness) []persistence.Timer {
	t.Helper()
	due, _, err := h.store.DueTimers(t0.Add(1000*time.Hour), 1000)
	require.NoError(t, err)
	var out []persistence.Timer
	for _, tm := range due {
		if tm.Kind == persistence.TimerAIPending {
			out = append(out, tm)
		}
	}
	return out
}

// A customer message waiting for the AI survives a restart inside the
// debounce window: the backstop timer stored with the message is found at
// startup, the AI is asked again after a window, and the customer gets
// exactly one answer.
func TestWaitingForAISurvivesRestart(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	sender := &recordingSender{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = sender }) // 2 s window
	conv := h.say("u1", "in-1", "where is my order?")
	require.False(t, h.conv(conv).AIPendingAt.IsZero(), "the backstop is set with the message")
	require.Len(t, pendingTimers(t, h), 1)
	h.advance(time.Second)
	h.restart() // the held request is gone with the old runtime
	eventually(t, 5*time.Second, func() error {
		if actors.HeldAIRequests(h.rt) != 1 {
			return fmt.Errorf("not recovered")
		}
		return nil
	})
	require.Zero(t, agent.calls.Load())
	h.advance(2 * time.Second)
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 || got[0] != "AI: where is my order?" {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	h.exec(conv, engine.MarkRead{}) // barrier
	require.True(t, h.conv(conv).AIPendingAt.IsZero(), "the answer removed the backstop")
	require.Empty(t, pendingTimers(t, h))
	h.advance(time.Hour)
	h.restart()
	h.exec(conv, engine.MarkRead{})
	require.Equal(t, int64(1), agent.calls.Load(), "answered exactly once")
	require.Len(t, aiTexts(h.messages(conv)), 1)
	require.Equal(t, 1, sender.count())
}

// Without a restart, a request lost on the way (the agent queue was full)
// is asked again when its backstop fires.
func TestBackstopAsksAgainForADroppedRequest(t *testing.T) {
	t.Parallel()
	agent := newGatedAgent()
	h := newHarness(t, func(c *actors.Config) {
		c.Agent, c.Sender, c.AIDebounce = agent, &recordingSender{}, -1
		c.AgentWorkers, c.AgentQueue = 1, 1
	})
	a := h.say("ua", "in-a", "first")
	<-agent.started                   // the worker holds a
	h.say("ub", "in-b", "second")     // queued
	c := h.say("uc", "in-c", "third") // dropped: the queue is full
	due := h.conv(c).AIPendingAt
	require.False(t, due.IsZero())
	answer := actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "answer"}}
	agent.release <- answer // a
	<-agent.started         // b
	agent.release <- answer
	eventually(t, 5*time.Second, func() error { // a's and b's answers removed their backstops
		if len(pendingTimers(t, h)) != 1 {
			return fmt.Errorf("%d backstops", len(pendingTimers(t, h)))
		}
		return nil
	})
	require.Empty(t, aiTexts(h.messages(c)), "c was dropped")
	h.advance(due.Sub(h.clock.Now()))
	select {
	case in := <-agent.started:
		require.Equal(t, c, in.Request.ConversationID)
	case <-time.After(5 * time.Second):
		t.Fatal("the AI was not asked again")
	}
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "late but there"}}
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(c)); len(got) != 1 {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.Len(t, aiTexts(h.messages(a)), 1)
}

// In the ordinary course the answer removes the backstop in its own
// batch: nothing is asked twice.
func TestAnswerRemovesTheBackstop(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{} })
	conv := h.say("u1", "in-1", "hi")
	h.advance(2 * time.Second)
	eventually(t, 5*time.Second, func() error {
		if len(aiTexts(h.messages(conv))) != 1 {
			return fmt.Errorf("no answer yet")
		}
		return nil
	})
	require.True(t, h.conv(conv).AIPendingAt.IsZero())
	require.Empty(t, pendingTimers(t, h))
	h.advance(10 * time.Minute)
	h.exec(conv, engine.MarkRead{})
	require.Equal(t, int64(1), agent.calls.Load())
}

// A person taking over during the lost window removes the backstop: the
// AI does not answer over the human after the restart (docs/ARCHITECTURE.md, invariant 5).
func TestBackstopYieldsToAHuman(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{} })
	conv := h.say("u1", "in-1", "hello?")
	h.advance(time.Second)
	h.restart()
	h.exec(conv, engine.TakeOver{UserID: "agent-1"})
	require.True(t, h.conv(conv).AIPendingAt.IsZero())
	require.Empty(t, pendingTimers(t, h))
	h.advance(5 * time.Minute)
	h.exec(conv, engine.MarkRead{})
	require.Zero(t, agent.calls.Load())
}

// An AI call cut by a restart is asked again after it.
func TestAICallCutByRestartIsAskedAgain(t *testing.T) {
	t.Parallel()
	agent := newGatedAgent()
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{}; c.AIDebounce = -1 })
	conv := h.say("u1", "in-1", "hello")
	first := <-agent.started
	h.restart() // cancels the call in flight; the startup recovery asks again
	var second actors.AIContext
	select {
	case second = <-agent.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the AI was not asked again")
	}
	require.Equal(t, first.Request.LastCustomerSeq, second.Request.LastCustomerSeq)
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "hi there"}}
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.True(t, h.conv(conv).AIPendingAt.IsZero())
}
