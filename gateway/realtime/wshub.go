package realtime

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Hub serves the WebSocket route and owns its connections. It writes
// subscribers' events from a few shard goroutines instead of one
// goroutine per connection: a state change that reaches a thousand
// subscribers would otherwise make a thousand goroutines runnable at
// once, and the ingest path (webhook handlers, committers, the WAL) would
// queue behind them. A shard writes with non-blocking writes only; a
// connection whose socket does not take a whole frame is handed to its
// own session goroutine until it catches up, so one slow client never
// holds a shard.
//
// A Hub is built by New, which starts nothing; Start runs the shards and
// Shutdown closes the connections and stops them.
type Hub struct {
	cfg     Config
	metrics *metrics
	sockets sockets
	shards  []*wsShard
	next    atomic.Uint64
	// wait overrides wsWriteWait when set (nanoseconds; tests).
	wait atomic.Int64
	// ping overrides wsPingEvery when set (nanoseconds; tests).
	ping atomic.Int64

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newHub(n int) *Hub {
	h := &Hub{shards: make([]*wsShard, n), metrics: unregisteredMetrics()}
	for i := range h.shards {
		h.shards[i] = &wsShard{wake: make(chan struct{}, 1)}
	}
	return h
}

// wsShard is one writer goroutine and the sessions with events to write.
type wsShard struct {
	mu    sync.Mutex
	ready []*wsSession
	wake  chan struct{}
	// frame is the shard goroutine's buffer for the frames it writes
	// (one session at a time), kept across flushes: a burst that queues
	// many events per session does not allocate a frame per session.
	frame []byte
}

// wsShardCount is the number of shards: enough to keep every core busy
// writing, few enough that a burst stays a handful of runnable
// goroutines.
func wsShardCount() int { return max(2, runtime.GOMAXPROCS(0)) }

// writeWait is how long a session's write may wait for its client.
func (h *Hub) writeWait() time.Duration {
	if d := h.wait.Load(); d > 0 {
		return time.Duration(d)
	}
	return wsWriteWait
}

// pingEvery is how often a session pings its client.
func (h *Hub) pingEvery() time.Duration {
	if d := h.ping.Load(); d > 0 {
		return time.Duration(d)
	}
	return wsPingEvery
}

// assign picks the shard of a new connection, round robin.
func (h *Hub) assign() *wsShard {
	return h.shards[h.next.Add(1)%uint64(len(h.shards))]
}

// mark queues sess for a flush. It is called by the broadcaster with a
// stream locked: it only appends and signals.
func (sh *wsShard) mark(sess *wsSession) {
	sh.mu.Lock()
	if !sess.queued {
		sess.queued = true
		sh.ready = append(sh.ready, sess)
	}
	sh.mu.Unlock()
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

func (sh *wsShard) run(ctx context.Context) {
	var batch []*wsSession
	for {
		select {
		case <-ctx.Done():
			return
		case <-sh.wake:
		}
		sh.mu.Lock()
		batch, sh.ready = sh.ready, batch[:0]
		for _, sess := range batch {
			sess.queued = false
		}
		sh.mu.Unlock()
		for i, sess := range batch {
			sess.flush()
			batch[i] = nil
		}
	}
}
