package realtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Hub. Required fields say so.
type Config struct {
	// Broadcaster is the engine's event stream (the runtime's
	// Broadcaster) that the connections subscribe to. Required.
	Broadcaster *actors.Broadcaster
	// Authenticate checks the upgrade request's credentials (the token
	// in the Authorization header; a "token" query parameter is moved
	// there first) and returns the caller's workspace and user. Its
	// error is returned to Fiber as is. Required.
	Authenticate func(c *fiber.Ctx) (workspace, user engine.ID, err error)
	// Credential, when set, names the credential (the token) an
	// admitted upgrade request used, after Authenticate: what
	// CloseCredentials closes the connections of.
	Credential func(c *fiber.Ctx) string
	// Registerer receives the WebSocket metrics; nil registers none.
	Registerer prometheus.Registerer
	// Shards is the number of shard goroutines that write events; zero
	// means one per core, at least two.
	Shards int
	// Presence, when set, is told of the web app's presence: a
	// connection counts for its user from its first presence frame (the
	// web app sends one when it connects; an integration's connection
	// sends none and never counts) until it closes.
	Presence PresenceReporter
}

// PresenceReporter receives what the connections report of their users'
// presence (the owner of presence is the gateway's presence tracker).
type PresenceReporter interface {
	// Connected: a connection of user began to count.
	Connected(workspace, user engine.ID)
	// Disconnected: a connection that counted closed.
	Disconnected(workspace, user engine.ID)
	// Report: the user was active ("active"), set themselves away
	// ("away") or back ("online").
	Report(workspace, user engine.ID, state string)
}

// Error is a refused upgrade request: the HTTP status, a stable code and
// a message, for the server's JSON error body.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// New builds a Hub and registers its metrics. It starts no goroutine.
func New(cfg Config) (*Hub, error) {
	switch {
	case cfg.Broadcaster == nil:
		return nil, errors.New("realtime: Config.Broadcaster is required")
	case cfg.Authenticate == nil:
		return nil, errors.New("realtime: Config.Authenticate is required")
	}
	if cfg.Shards <= 0 {
		cfg.Shards = wsShardCount()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	h := newHub(cfg.Shards)
	h.cfg, h.metrics = cfg, m
	return h, nil
}

// Handler is the route's handler (GET /api/v1/ws): it admits the upgrade
// request, then upgrades it and serves the connection until it ends.
func (h *Hub) Handler() fiber.Handler {
	upgrade := websocket.New(h.serve, websocket.Config{ReadBufferSize: wsReadBuffer, WriteBufferPool: &libraryWriteBuffers})
	return func(c *fiber.Ctx) error {
		if err := h.admit(c); err != nil {
			return err
		}
		return upgrade(c)
	}
}

// Memory an idle connection keeps (docs/ARCHITECTURE.md, "Realtime
// fan-out and memory per connection"). The library's reader keeps a
// buffer of wsReadBuffer bytes for the connection's life; a client sends
// pings and small subscribe frames, and a longer frame is read through
// it. The library's own writer is muted (muteLibrary): every frame is
// written by the session, so the library gets a pool instead of a write
// buffer per connection, which it would only take from to write a data
// frame, and never does.
const wsReadBuffer = 512

var libraryWriteBuffers sync.Pool

// Start runs the shards until ctx ends or Shutdown. It is called before
// the route serves; a second call, or one after Shutdown, does nothing.
func (h *Hub) Start(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return
	}
	h.started = true
	ctx, h.cancel = context.WithCancel(ctx)
	for _, sh := range h.shards {
		h.wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("parley", "ws-shard"), func(ctx context.Context) {
			defer h.wg.Done()
			sh.run(ctx)
		})
	}
}

// Shutdown sends every connection a going-away close frame and closes
// it (a connection opened after is refused), then stops the shards and
// waits for them until ctx ends. Safe to call more than once.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.sockets.closeAll()
	h.mu.Lock()
	h.started = true // a Start after this starts nothing
	if h.cancel != nil {
		h.cancel()
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("realtime: shutdown: %w", ctx.Err())
	}
}

// CloseSignedOut is the close code of a connection whose token was
// revoked (a sign-out): the client must sign in again.
const CloseSignedOut = 4401

// CloseCredentials closes, with code CloseSignedOut, the connections
// opened with any of the credentials given (Config.Credential's names),
// once their tokens are revoked.
func (h *Hub) CloseCredentials(creds ...string) {
	if len(creds) == 0 {
		return
	}
	h.sockets.closeWhere(func(sess *wsSession) bool { return sess.cred != "" && slices.Contains(creds, sess.cred) })
}

// SetWriteWait sets how long a write may wait for its client before the
// connection is dropped as slow (10 s until set); for tests.
func (h *Hub) SetWriteWait(d time.Duration) { h.wait.Store(int64(d)) }
