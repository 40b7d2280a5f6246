package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// shardGoroutines counts the goroutines labelled as hub shards.
func shardGoroutines(t *testing.T) int {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("goroutine").WriteTo(&buf, 1))
	n := 0
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(rec, `"parley":"ws-shard"`) {
			continue
		}
		for line := range strings.SplitSeq(rec, "\n") {
			if count, _, ok := strings.Cut(line, " @ "); ok {
				c, err := strconv.Atoi(count)
				require.NoError(t, err, "goroutine record %q", rec)
				n += c
				break
			}
		}
	}
	return n
}

// TestHubLifecycle: New starts no goroutine, Start runs the shards and
// Shutdown stops them before it returns. Not parallel: it counts the
// process's shard goroutines.
func TestHubLifecycle(t *testing.T) {
	require.Zero(t, shardGoroutines(t))
	h, err := New(Config{Broadcaster: actors.NewBroadcaster("test", 16, 16), Shards: 3,
		Authenticate: func(*fiber.Ctx) (engine.ID, engine.ID, error) { return engine.ID{}, engine.ID{}, nil }})
	require.NoError(t, err)
	require.Zero(t, shardGoroutines(t), "New started goroutines")
	h.Start(context.Background())
	h.Start(context.Background()) // a second Start starts nothing more
	require.Eventually(t, func() bool { return shardGoroutines(t) == 3 }, 5*time.Second, time.Millisecond)
	require.NoError(t, h.Shutdown(context.Background()))
	require.Zero(t, shardGoroutines(t), "Shutdown returned before the shards stopped")
	require.NoError(t, h.Shutdown(context.Background()), "a second Shutdown")
	h.Start(context.Background())
	require.Zero(t, shardGoroutines(t), "Start after Shutdown")
}

// TestNewChecksConfig: the required fields, and metrics that cannot be
// registered twice.
func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	auth := func(*fiber.Ctx) (engine.ID, engine.ID, error) { return engine.ID{}, engine.ID{}, nil }
	_, err := New(Config{Authenticate: auth})
	require.ErrorContains(t, err, "Broadcaster is required")
	_, err = New(Config{Broadcaster: actors.NewBroadcaster("test", 16, 16)})
	require.ErrorContains(t, err, "Authenticate is required")
	reg := prometheus.NewRegistry()
	_, err = New(Config{Broadcaster: actors.NewBroadcaster("test", 16, 16), Authenticate: auth, Registerer: reg})
	require.NoError(t, err)
	_, err = New(Config{Broadcaster: actors.NewBroadcaster("test", 16, 16), Authenticate: auth, Registerer: reg})
	require.ErrorContains(t, err, "registering metrics")
}

// TestHandler serves the hub's handler from a real Fiber server: the
// upgrade is refused with the hub's errors (not a WebSocket request, a
// bad filter or seq) or Authenticate's, and admitted with a token in the
// query; the connection gets the hello, then the caller's workspace's
// events; Shutdown closes it with 1001. The metrics keep their names.
func TestHandler(t *testing.T) {
	t.Parallel()
	bc := actors.NewBroadcaster("ep", 64, 64)
	ws, user := engine.NewID(time.Unix(1, 0)), engine.NewID(time.Unix(2, 0))
	errDenied := fiber.NewError(fiber.StatusUnauthorized, "denied")
	reg := prometheus.NewRegistry()
	h, err := New(Config{Broadcaster: bc, Registerer: reg, Authenticate: func(c *fiber.Ctx) (engine.ID, engine.ID, error) {
		if c.Get(fiber.HeaderAuthorization) != "Bearer good" {
			return engine.ID{}, engine.ID{}, errDenied
		}
		return ws, user, nil
	}})
	require.NoError(t, err)
	h.Start(context.Background())
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ErrorHandler: func(c *fiber.Ctx, err error) error {
		var re *Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &re):
			return c.Status(re.Status).JSON(fiber.Map{"code": re.Code, "message": re.Message})
		case errors.As(err, &fe):
			return c.Status(fe.Code).JSON(fiber.Map{"code": "fiber", "message": fe.Message})
		}
		return c.SendStatus(fiber.StatusInternalServerError)
	}})
	app.Get("/api/v1/ws", h.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()
	base := "ws://" + ln.Addr().String() + "/api/v1/ws?"

	resp, err := http.Get("http://" + ln.Addr().String() + "/api/v1/ws?token=good")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
	require.JSONEq(t, `{"code":"upgrade_required","message":"this route speaks WebSocket"}`, string(body))

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for _, tc := range []struct {
		query  string
		status int
		body   string
	}{
		{"token=bad", http.StatusUnauthorized, `{"code":"fiber","message":"denied"}`},
		{"", http.StatusUnauthorized, `{"code":"fiber","message":"denied"}`},
		{"token=good&channel=fax", http.StatusBadRequest, `{"code":"bad_query","message":"bad subscription filter"}`},
		{"token=good&conversation_id=x", http.StatusBadRequest, `{"code":"bad_query","message":"bad subscription filter"}`},
		{"token=good&seq=-1", http.StatusBadRequest, `{"code":"bad_query","message":"seq must be a non-negative integer"}`},
	} {
		_, resp, err := d.Dial(base+tc.query, nil)
		require.Error(t, err, tc.query)
		require.NotNil(t, resp, tc.query)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, tc.query)
		require.JSONEq(t, tc.body, string(body), tc.query)
	}

	conn, _, err := d.Dial(base+"token=good", nil)
	require.NoError(t, err)
	defer conn.Close()
	read := func() map[string]any {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, msg, err := conn.ReadMessage()
		require.NoError(t, err)
		var f map[string]any
		require.NoError(t, json.Unmarshal(msg, &f), string(msg))
		return f
	}
	require.Equal(t, map[string]any{"type": "hello", "epoch": "ep", "seq": 0.0}, read())
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.subscribers) == 1 }, 5*time.Second, time.Millisecond)
	bc.Publish([]engine.Event{{Type: "other.workspace", WorkspaceID: engine.NewID(time.Unix(3, 0))}})
	bc.Publish([]engine.Event{{Type: "message.created", WorkspaceID: ws}})
	ev := read()
	require.Equal(t, "message.created", ev["type"])
	require.Equal(t, 1.0, ev["seq"])

	require.NoError(t, h.Shutdown(context.Background()))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.subscribers) == 0 }, 5*time.Second, time.Millisecond)

	n, err := testutil.GatherAndCount(reg, "parley_gateway_websocket_subscribers", "parley_gateway_websocket_slow_disconnects_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

// TestParseClientFrame: client frames are decoded as strictly as API
// bodies: valid UTF-8, no unknown field, nothing after the frame.
func TestParseClientFrame(t *testing.T) {
	t.Parallel()
	for frame, ok := range map[string]bool{
		`{"type":"ping"}`:   true,
		` {"type":"ping"} `: true,
		`{"type":"subscribe","filter":{"channel":"whatsapp"},"resume":{"epoch":"e","seq":3}}`: true,
		`{"type":"subscribe"}`:               true,
		``:                                   false,
		`  `:                                 false,
		"{\"type\":\"ping\",\"x\":\"\xff\"}": false,
		`{"type":"ping","extra":1}`:          false,
		`{"type":"ping"} {}`:                 false,
		`{"type":"ping"}x`:                   false,
		`{"type":"pong"}`:                    false,
		`{"type":"subscribe","filter":{"nope":1}}`:   false,
		`{"type":"subscribe","filter":{"folder":1}}`: false,
		`null`: false,
		`{"type":"ping"` + strings.Repeat(" ", wsMaxFrame) + `}`: false,
	} {
		_, err := parseClientFrame([]byte(frame))
		require.Equal(t, ok, err == nil, "%.60q: %v", frame, err)
	}
}

// TestIdleSessionKeepsNoGoroutine: an idle connection's session
// goroutine runs only to send a ping and ends after it; the pings keep
// coming, and events reach the client through the shards meanwhile.
func TestIdleSessionKeepsNoGoroutine(t *testing.T) {
	t.Parallel()
	bc := actors.NewBroadcaster("ep", 64, 64)
	ws := engine.NewID(time.Unix(1, 0))
	h, err := New(Config{Broadcaster: bc, Registerer: prometheus.NewRegistry(), Authenticate: func(*fiber.Ctx) (engine.ID, engine.ID, error) {
		return ws, engine.ID{}, nil
	}})
	require.NoError(t, err)
	h.ping.Store(int64(20 * time.Millisecond))
	h.Start(context.Background())
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/ws", h.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()
	c, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws://"+ln.Addr().String()+"/api/v1/ws", nil)
	require.NoError(t, err)
	defer c.Close()
	pings := make(chan struct{}, 64)
	c.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	frames := make(chan []byte, 8)
	go func() {
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				close(frames)
				return
			}
			frames <- b
		}
	}()
	hello := <-frames
	require.Contains(t, string(hello), `"hello"`)
	for range 3 {
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("no ping from the server")
		}
	}
	var sess *wsSession
	h.sockets.mu.Lock()
	for s := range h.sockets.conns {
		sess = s
	}
	h.sockets.mu.Unlock()
	require.NotNil(t, sess)
	// Between two pings the session goroutine has ended.
	idle := false
	for deadline := time.Now().Add(5 * time.Second); !idle && time.Now().Before(deadline); {
		<-pings
		sess.hmu.Lock()
		idle = !sess.running
		sess.hmu.Unlock()
	}
	require.True(t, idle, "the session goroutine keeps running while idle")
	bc.Publish([]engine.Event{{Type: "note.created", WorkspaceID: ws, Data: map[string]string{"text": "hi"}}})
	select {
	case b := <-frames:
		require.Contains(t, string(b), `"note.created"`)
	case <-time.After(5 * time.Second):
		t.Fatal("the event did not arrive")
	}
}
