package actors_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// rememberingAgent answers with the facts it is given and records the
// memories it was shown.
type rememberingAgent struct {
	mu    sync.Mutex
	facts []engine.Fact
	seen  [][]string
}

func (a *rememberingAgent) Reply(_ context.Context, in actors.AIContext) (actors.AIAnswer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var texts []string
	for _, m := range in.Memories {
		texts = append(texts, m.Text)
	}
	a.seen = append(a.seen, texts)
	return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "noted"}, Remember: a.facts}, nil
}

func (a *rememberingAgent) shown() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen
}

// The agent sees the contact's memories, and the facts its answer asks to
// keep are stored by the contact's actor after the answer: tidied, without duplicates or bad
// text, within the cap.
func TestAgentRemembersFacts(t *testing.T) {
	t.Parallel()
	agent := &rememberingAgent{facts: []engine.Fact{{Text: "  prefers   email ", Type: engine.MemoryPreference}, {Text: "prefers email"},
		{Text: ""}, {Text: strings.Repeat("x", engine.MaxMemoryBytes+1)}, {Text: "has a dog\nnamed Rex", Type: "pet"}}}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{}; c.AIDebounce = -1 })
	conv := h.say("u1", "in-1", "hi")
	contact := h.conv(conv).ContactID
	var ms []engine.Memory
	eventually(t, 5*time.Second, func() error {
		var err error
		if ms, err = h.store.Memories(h.ws, contact, 100); err != nil || len(ms) != 2 {
			return fmt.Errorf("memories %v %v", ms, err)
		}
		return nil
	})
	require.Equal(t, "prefers email", ms[0].Text)
	require.Equal(t, "has a dog named Rex", ms[1].Text)
	require.Equal(t, engine.MemoryPreference, ms[0].Type)
	require.Equal(t, engine.MemoryFact, ms[1].Type, "a type that is none of engine.MemoryTypes is a fact")
	require.Equal(t, engine.MemoryAI, ms[0].Source)
	require.Equal(t, h.ws, ms[0].WorkspaceID)

	h.say("u1", "in-2", "me again")
	eventually(t, 5*time.Second, func() error {
		if len(agent.shown()) != 2 {
			return fmt.Errorf("asked %d times", len(agent.shown()))
		}
		return nil
	})
	require.Empty(t, agent.shown()[0])
	require.Equal(t, []string{"prefers email", "has a dog named Rex"}, agent.shown()[1], "the agent sees them")
	h.exec(conv, engine.MarkRead{})
	ms, err := h.store.Memories(h.ws, contact, 100)
	require.NoError(t, err)
	require.Len(t, ms, 2, "the same facts again are not stored twice")
}

// A contact's memories stop at engine.MaxMemories.
func TestAgentMemoriesAreCapped(t *testing.T) {
	t.Parallel()
	var facts []engine.Fact
	for i := range engine.MaxMemories + 5 {
		facts = append(facts, engine.Fact{Text: fmt.Sprintf("fact %d", i)})
	}
	agent := &rememberingAgent{facts: facts}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{}; c.AIDebounce = -1 })
	conv := h.say("u1", "in-1", "hi")
	eventually(t, 5*time.Second, func() error {
		if len(aiTexts(h.messages(conv))) != 1 {
			return fmt.Errorf("no answer yet")
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error { // the contact's actor stores them after the answer
		if ms, err := h.store.Memories(h.ws, h.conv(conv).ContactID, 1000); err != nil || len(ms) != engine.MaxMemories {
			return fmt.Errorf("%d memories, %v", len(ms), err)
		}
		return nil
	})
}
