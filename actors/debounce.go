package actors

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
)

// maxDebounceWindows caps how long a burst can delay its answer: a
// customer who keeps typing gets an answer at most this many windows after
// their first message.
const maxDebounceWindows = 4

// debouncer holds AI requests for a short window so that a burst of
// customer messages gets one answer: each new request for a conversation
// replaces the held one (it carries the newest LastCustomerSeq) and
// restarts the window. Timers run on the runtime's clock, so tests move
// them with the fake clock. Held requests live in memory; the durable
// backstop (pending.go) asks again for one a restart lost.
type debouncer struct {
	rt *Runtime
	// mu guards pending and closed; the timers' callbacks take it too.
	mu      sync.Mutex
	pending map[convKey]*heldRequest
	closed  bool
}

type heldRequest struct {
	req   engine.AIRequest
	first time.Time
	timer clockwork.Timer
}

func newDebouncer(rt *Runtime) *debouncer {
	return &debouncer{rt: rt, pending: map[convKey]*heldRequest{}}
}

// request holds req for window (restarting the window of a held request
// of the same conversation), then hands it to the agent pool.
func (d *debouncer) request(req engine.AIRequest, window time.Duration) {
	k := convKey{ws: req.WorkspaceID, conv: req.ConversationID}
	now := d.rt.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	h := &heldRequest{req: req, first: now}
	if old := d.pending[k]; old != nil {
		old.timer.Stop()
		if old.req.ModeEpoch == req.ModeEpoch {
			h.first = old.first // the same burst
		}
	}
	wait := min(window, h.first.Add(maxDebounceWindows*window).Sub(now))
	h.timer = d.rt.clock.AfterFunc(max(wait, 0), func() { d.fire(k, h) })
	d.pending[k] = h
}

// fire runs on the clock's timer goroutine: it only hands the request to
// the pool, which never blocks.
func (d *debouncer) fire(k convKey, h *heldRequest) {
	d.mu.Lock()
	if d.closed || d.pending[k] != h {
		d.mu.Unlock()
		return
	}
	delete(d.pending, k)
	d.mu.Unlock()
	d.rt.agents.submit(h.req)
}

// held returns how many requests wait for their window to end.
func (d *debouncer) held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// stop drops every held request and stops their timers.
func (d *debouncer) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for k, h := range d.pending {
		h.timer.Stop()
		delete(d.pending, k)
	}
}
