package channels_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// healthAccounts is a channels.HealthAccounts over a map.
type healthAccounts struct {
	mu sync.Mutex
	by map[string]engine.ChannelAccount
}

func (a *healthAccounts) Get(ch engine.Channel, id string) (engine.ChannelAccount, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, ok := a.by[string(ch)+"/"+id]
	return acct, ok
}

func (a *healthAccounts) All() []engine.ChannelAccount {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]engine.ChannelAccount, 0, len(a.by))
	for _, acct := range a.by {
		out = append(out, acct)
	}
	return out
}

// events records what is published.
type events struct {
	mu  sync.Mutex
	got []engine.Event
}

func (e *events) Publish(evs []engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, evs...)
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

// slowChecker answers connected after release is closed, counting the
// checks running at once.
type slowChecker struct {
	release       chan struct{}
	running, peak atomic.Int32
	calls         atomic.Int32
}

func (c *slowChecker) Check(ctx context.Context, _ engine.ChannelAccount) engine.HealthResult {
	c.calls.Add(1)
	n := c.running.Add(1)
	defer c.running.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return engine.HealthResult{State: engine.HealthConnected}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The checks run in the bounded pool (never more than Workers at once),
// each account's result is recorded once and published as it changes,
// a record left by a disconnected account is dropped by the next pass,
// and CheckNow refuses before Start and after Shutdown.
func TestHealthMonitorPoolAndLifecycle(t *testing.T) {
	t.Parallel()
	store, err := persistence.Open(persistence.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	ws := engine.ID{1}
	accts := &healthAccounts{by: map[string]engine.ChannelAccount{}}
	for i := range 10 {
		id := fmt.Sprint(1000 + i)
		accts.by["whatsapp/"+id] = engine.ChannelAccount{WorkspaceID: ws, Channel: engine.ChannelWhatsApp, AccountID: id, AccessToken: "tok"}
	}
	// A record of an account disconnected while Parley was down.
	b := store.NewBatch()
	b.PutChannelHealth(&engine.ChannelHealth{WorkspaceID: ws, Channel: engine.ChannelMessenger, AccountID: "GONE", State: engine.HealthExpired})
	require.NoError(t, store.Commit(b))

	checker := &slowChecker{release: make(chan struct{})}
	pub := &events{}
	clock := clockwork.NewFakeClock()
	h, err := channels.NewHealth(channels.HealthConfig{Store: store, Accounts: accts, Publisher: pub, Clock: clock,
		Checkers: map[engine.Channel]channels.HealthChecker{engine.ChannelWhatsApp: checker}, Workers: 2})
	require.NoError(t, err)
	_, err = h.CheckNow(context.Background(), engine.ChannelWhatsApp, "1000")
	require.ErrorIs(t, err, channels.ErrHealthStopped, "not started")
	require.Equal(t, engine.HealthExpired, h.Get(engine.ChannelMessenger, "GONE").State, "loaded from the store")

	h.Start()
	waitFor(t, "two checks running", func() bool { return checker.running.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 2, checker.peak.Load(), "never more checks at once than workers")
	require.Equal(t, engine.HealthUnknown, h.Get(engine.ChannelMessenger, "GONE").State, "the pass dropped the orphan record")
	close(checker.release)
	waitFor(t, "every account connected", func() bool { return pub.count() == 10 })
	for i := range 10 {
		require.Equal(t, engine.HealthConnected, h.Get(engine.ChannelWhatsApp, fmt.Sprint(1000+i)).State)
	}
	all, err := store.ChannelHealths()
	require.NoError(t, err)
	require.Len(t, all, 10)

	// A check that finds nothing new records checked_at and publishes
	// nothing.
	clock.Advance(time.Minute)
	rec, err := h.CheckNow(context.Background(), engine.ChannelWhatsApp, "1003")
	require.NoError(t, err)
	require.Equal(t, clock.Now().UTC(), rec.CheckedAt)
	require.Equal(t, 10, pub.count())

	h.Shutdown()
	_, err = h.CheckNow(context.Background(), engine.ChannelWhatsApp, "1000")
	require.ErrorIs(t, err, channels.ErrHealthStopped, "stopped")
	h.AccountChanged(engine.ChannelWhatsApp, "1000") // after Shutdown: nothing, and no goroutine left behind
	h.Report(accts.by["whatsapp/1000"], nil)
}
