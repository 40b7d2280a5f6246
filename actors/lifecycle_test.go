package actors_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A panic in one conversation restarts that actor from disk; its caller
// gets an error; other conversations are untouched.
func TestSupervisionRestartsFromDisk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.say("a", "a-1", "hello")
	b := h.say("b", "b-1", "hello")
	h.exec(a, engine.SetTag{Tag: "vip"})
	pidB := actors.ActorPID(h.rt, h.ws, b)
	require.NotEmpty(t, pidB)

	require.ErrorIs(t, actors.Panic(h.rt, h.ws, a), actors.ErrActorFailed)

	// A works again, with the state it had committed.
	h.say("a", "a-2", "still there?")
	c := h.conv(a)
	require.Equal(t, []string{"vip"}, c.Tags)
	require.Equal(t, uint64(2), c.LastSeq)
	require.Equal(t, 2, c.UnreadCount)
	require.Len(t, h.messages(a), 2)
	// B was not restarted and keeps working.
	require.Equal(t, pidB, actors.ActorPID(h.rt, h.ws, b))
	h.say("b", "b-2", "hi")
	require.Equal(t, uint64(2), h.conv(b).LastSeq)
	// Repeated failures do not take the actor (or the system) down.
	for range 5 {
		require.ErrorIs(t, actors.Panic(h.rt, h.ws, a), actors.ErrActorFailed)
	}
	h.say("a", "a-3", "and now?")
	require.Equal(t, uint64(3), h.conv(a).LastSeq)
}

// Idle actors are passivated; the next message re-activates them from
// disk with their state.
func TestPassivationAndReactivation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	convs := h.sayEach(50)
	h.exec(convs[7], engine.Assign{UserID: "agent-7"})
	require.Equal(t, int64(50), h.rt.Stats().ActiveConversations)
	require.Equal(t, 50, h.rt.PassivateIdle(h.clock.Now()))
	require.Zero(t, h.rt.Stats().ActiveConversations)
	activations := h.rt.Stats().Activations

	h.say("u7", "m7-2", "again")
	c := h.conv(convs[7])
	require.Equal(t, "agent-7", c.AssigneeID)
	require.Equal(t, uint64(2), c.LastSeq)
	require.Equal(t, activations+1, h.rt.Stats().Activations)
	require.Equal(t, int64(1), h.rt.Stats().ActiveConversations)
}

// sayEach has users u0..u<n-1> say "hi" (message ids m0...) and returns
// their conversations.
func (h *harness) sayEach(n int) []engine.ID {
	var convs []engine.ID
	for i := range n {
		convs = append(convs, h.say(fmt.Sprintf("u%d", i), fmt.Sprintf("m%d", i), "hi"))
	}
	return convs
}

// A passivated conversation leaves nothing in the thread cache, and its
// next message still finds it through the thread index.
func TestPassivationForgetsThreads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	convs := h.sayEach(20)
	require.Equal(t, 20, actors.KnownThreads(h.rt))
	require.Equal(t, 20, h.rt.PassivateIdle(h.clock.Now()))
	eventually(t, 5*time.Second, func() error {
		if n := actors.KnownThreads(h.rt); n != 0 {
			return fmt.Errorf("%d threads cached", n)
		}
		return nil
	})
	require.Equal(t, convs[3], h.say("u3", "m3-2", "again"))
	require.Equal(t, uint64(2), h.conv(convs[3]).LastSeq)
}

// The sweeper passivates on the injected clock.
func TestIdleSweeper(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *actors.Config) { c.IdleTimeout = time.Minute })
	h.say("u1", "m1", "hi")
	require.Equal(t, int64(1), h.rt.Stats().ActiveConversations)
	eventually(t, 5*time.Second, func() error {
		h.clock.Advance(30 * time.Second)
		if n := h.rt.Stats().ActiveConversations; n != 0 {
			return fmt.Errorf("%d active", n)
		}
		return nil
	})
}

// In-flight ingest is bounded: beyond it callers get ErrOverloaded at
// once, and the slots are released when messages commit.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *actors.Config) { c.MaxInFlight = 4 })
	batch := func(n, round int) []engine.Inbound {
		var ins []engine.Inbound
		for i := range n {
			ins = append(ins, h.inbound(fmt.Sprintf("u%d", i), fmt.Sprintf("r%d-m%d", round, i), "hi"))
		}
		return ins
	}
	_, err := h.rt.Ingest(context.Background(), batch(5, 0))
	require.ErrorIs(t, err, actors.ErrOverloaded)
	require.Zero(t, h.rt.Stats().InFlight)
	n, err := h.store.CountConversations(h.ws)
	require.NoError(t, err)
	require.Zero(t, n, "a refused batch stores nothing")

	// Under concurrent load, every call either commits or is refused,
	// and the in-flight count never passes the bound.
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused, ok := 0, 0
	stop := make(chan struct{})
	maxSeen := int64(0)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if f := h.rt.Stats().InFlight; f > maxSeen {
				mu.Lock()
				maxSeen = max(maxSeen, f)
				mu.Unlock()
			}
			runtime.Gosched()
		}
	}()
	for g := range 16 {
		wg.Go(func() {
			for r := range 20 {
				_, err := h.rt.Ingest(context.Background(), batch(2, g*100+r+1))
				mu.Lock()
				if err != nil {
					require.ErrorIs(t, err, actors.ErrOverloaded)
					refused++
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-polled // the poller reads h.rt, which the cleanup clears
	require.Equal(t, 320, refused+ok)
	require.Positive(t, ok)
	mu.Lock()
	require.LessOrEqual(t, maxSeen, int64(4))
	mu.Unlock()
	require.Zero(t, h.rt.Stats().InFlight)
	t.Logf("accepted %d, refused %d", ok, refused)
}

// Shutdown refuses new work, and Execute on unknown ids reports
// ErrNotFound without leaking across workspaces.
func TestShutdownAndNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	conv := h.say("u1", "m1", "hi")
	other := engine.NewID(t0)
	_, err := h.rt.Execute(context.Background(), other, conv, engine.MarkRead{})
	require.ErrorIs(t, err, actors.ErrNotFound, "another workspace's id")
	_, err = h.rt.Execute(context.Background(), h.ws, engine.NewID(t0), engine.MarkRead{})
	require.ErrorIs(t, err, actors.ErrNotFound)
	_, err = h.rt.Messages(other, conv, 0, 10)
	require.ErrorIs(t, err, actors.ErrNotFound)
	_, err = h.rt.Execute(context.Background(), h.ws, conv, engine.Receive{})
	require.ErrorIs(t, err, engine.ErrInvalid, "channel-only commands are not inbox actions")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.rt.Shutdown(ctx))
	require.NoError(t, h.rt.Shutdown(ctx), "idempotent")
	_, err = h.rt.Ingest(context.Background(), []engine.Inbound{h.inbound("u1", "m2", "late")})
	require.ErrorIs(t, err, actors.ErrShuttingDown)
	_, err = h.rt.Execute(context.Background(), h.ws, conv, engine.MarkRead{})
	require.ErrorIs(t, err, actors.ErrShuttingDown)
}

// Deleting a conversation removes it for good; the next message from the
// same user starts a new conversation.
func TestDeleteConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	conv := h.say("u1", "m1", "hi")
	h.exec(conv, engine.TakeOver{UserID: "a"})
	h.exec(conv, engine.Delete{})
	_, err := h.rt.Conversation(h.ws, conv)
	require.ErrorIs(t, err, actors.ErrNotFound)
	_, ok, err := h.store.LookupChannelMessage(h.ws, engine.ChannelWhatsApp, "m1")
	require.NoError(t, err)
	require.False(t, ok)
	timers, _, err := h.store.DueTimers(h.clock.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, timers)
	again := h.say("u1", "m2", "hello again")
	require.NotEqual(t, conv, again)
	require.Equal(t, uint64(1), h.conv(again).LastSeq)
}
