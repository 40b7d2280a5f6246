package actors_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// harness is a runtime over a real Pebble store in a temp dir, driven by a
// fake clock.
type harness struct {
	t     *testing.T
	dir   string
	clock *clockwork.FakeClock
	store *persistence.Store
	rt    *actors.Runtime
	cfg   actors.Config
	ws    engine.ID
}

func newHarness(t *testing.T, tweak func(*actors.Config)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: clockwork.NewFakeClockAt(t0), ws: engine.NewID(t0)}
	h.cfg = actors.Config{Clock: h.clock}
	if tweak != nil {
		tweak(&h.cfg)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	s, err := persistence.Open(persistence.Options{Dir: h.dir})
	require.NoError(h.t, err)
	cfg := h.cfg
	cfg.Store = s
	rt, err := actors.New(cfg)
	require.NoError(h.t, err)
	require.NoError(h.t, rt.Start())
	h.store, h.rt = s, rt
}

func (h *harness) stop() {
	if h.rt == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(h.t, h.rt.Shutdown(ctx))
	require.NoError(h.t, h.store.Close())
	h.rt, h.store = nil, nil
}

// restart stops the runtime and the store and opens both again on the
// same directory, as after a process restart.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

// restartCut restarts with a Shutdown whose deadline passes after d: a
// send still in flight then is cut short, as when the drain timeout ends,
// and its outbox entry stays for the next start.
func (h *harness) restartCut(d time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = h.rt.Shutdown(ctx) // the deadline error when a send was cut short
	require.NoError(h.t, h.store.Close())
	h.rt, h.store = nil, nil
	h.start()
}

func (h *harness) inbound(user, extID, text string) engine.Inbound {
	return engine.Inbound{
		WorkspaceID: h.ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: "phone-1",
		ExternalUserID: user, ContactName: "Customer " + user, ChannelMessageID: extID,
		Content: engine.Content{Kind: engine.KindText, Text: text},
	}
}

func (h *harness) ingest(ins ...engine.Inbound) []actors.IngestResult {
	h.t.Helper()
	res, err := h.rt.Ingest(context.Background(), ins)
	require.NoError(h.t, err)
	for _, r := range res {
		require.NoError(h.t, r.Err)
	}
	return res
}

// say ingests one customer text message and returns its conversation.
func (h *harness) say(user, extID, text string) engine.ID {
	h.t.Helper()
	return h.ingest(h.inbound(user, extID, text))[0].ConversationID
}

func (h *harness) exec(conv engine.ID, cmd engine.Command) engine.Result {
	h.t.Helper()
	res, err := h.rt.Execute(context.Background(), h.ws, conv, cmd)
	require.NoError(h.t, err)
	return res
}

func (h *harness) conv(id engine.ID) engine.Conversation {
	h.t.Helper()
	c, err := h.rt.Conversation(h.ws, id)
	require.NoError(h.t, err)
	return c
}

func (h *harness) messages(id engine.ID) []engine.Message {
	h.t.Helper()
	ms, err := h.rt.Messages(h.ws, id, 0, 1000)
	require.NoError(h.t, err)
	return ms
}

// advance moves the fake clock and lets the timekeeper see the new time.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	actors.Kick(h.rt)
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoAgent answers every customer message at once with "AI: <text>".
type echoAgent struct {
	calls  atomic.Int64
	mu     sync.Mutex
	byConv map[engine.ID]int
}

func (a *echoAgent) callsFor(conv engine.ID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byConv[conv]
}

func (a *echoAgent) Reply(_ context.Context, in actors.AIContext) (actors.AIAnswer, error) {
	a.calls.Add(1)
	a.mu.Lock()
	if a.byConv == nil {
		a.byConv = map[engine.ID]int{}
	}
	a.byConv[in.Request.ConversationID]++
	a.mu.Unlock()
	last := ""
	for _, m := range in.History {
		if m.Sender.Kind == engine.SenderCustomer {
			last = m.Text
			break
		}
	}
	return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "AI: " + last}, Reasoning: "echo"}, nil
}

// gatedAgent holds every call until the test releases it.
type gatedAgent struct {
	started chan actors.AIContext
	release chan actors.AIAnswer
}

func newGatedAgent() *gatedAgent {
	return &gatedAgent{started: make(chan actors.AIContext, 16), release: make(chan actors.AIAnswer)}
}

func (a *gatedAgent) Reply(ctx context.Context, in actors.AIContext) (actors.AIAnswer, error) {
	a.started <- in
	select {
	case ans := <-a.release:
		return ans, nil
	case <-ctx.Done():
		return actors.AIAnswer{}, ctx.Err()
	}
}

// recordingSender plays a channel's send API: it records each send and
// answers with a channel message id, or with the error fail returns.
type recordingSender struct {
	mu    sync.Mutex
	sent  []actors.Outbound
	n     int
	gate  chan struct{} // if set, each send waits for a token
	fail  func(o actors.Outbound, attempt int) error
	tries map[uint64]int
}

func (s *recordingSender) Send(ctx context.Context, o actors.Outbound) (string, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == nil {
		s.tries = map[uint64]int{}
	}
	s.tries[o.Message.Seq]++
	if s.fail != nil {
		if err := s.fail(o, s.tries[o.Message.Seq]); err != nil {
			return "", err
		}
	}
	s.n++
	s.sent = append(s.sent, o)
	return fmt.Sprintf("wamid.%s.%d", o.Message.ConversationID, o.Message.Seq), nil
}

func (s *recordingSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}
