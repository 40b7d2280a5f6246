package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

type wsEvent struct {
	Type           string          `json:"type"`
	Seq            uint64          `json:"seq"`
	Epoch          string          `json:"epoch"`
	ConversationID string          `json:"conversation_id"`
	Data           json.RawMessage `json:"data"`
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *env) dialWS(query string) (*wsClient, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/api/v1/ws?"+query, nil)
	if err != nil {
		return nil, resp, err
	}
	e.t.Cleanup(func() { conn.Close() })
	return &wsClient{t: e.t, conn: conn}, resp, nil
}

// next reads frames until it has one event or control frame; arrays of
// events are flattened by the caller through events().
func (c *wsClient) frames() []wsEvent {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := c.conn.ReadMessage()
	require.NoError(c.t, err)
	if msg[0] == '[' {
		var evs []wsEvent
		require.NoError(c.t, json.Unmarshal(msg, &evs))
		return evs
	}
	var ev wsEvent
	require.NoError(c.t, json.Unmarshal(msg, &ev))
	return []wsEvent{ev}
}

// events reads until it has n events (control frames count too).
func (c *wsClient) events(n int) []wsEvent {
	c.t.Helper()
	var out []wsEvent
	for len(out) < n {
		out = append(out, c.frames()...)
	}
	return out
}

func TestWebSocketEventsAndAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, resp, err := e.dialWS("")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_, resp, err = e.dialWS("token=pk_wrong")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "unauthorized", errorCode(t, readBody(t, resp)))
	_, resp, err = e.dialWS("token=" + ownerToken + "&folder=nope")
	require.Error(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "bad_query", errorCode(t, readBody(t, resp)))
	_, resp, err = e.dialWS("token=" + ownerToken + "&seq=x")
	require.Error(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "bad_query", errorCode(t, readBody(t, resp)))
	code, body := e.api("GET", "/api/v1/ws", ownerToken, nil)
	require.Equal(t, http.StatusUpgradeRequired, code, string(body))
	require.Equal(t, "upgrade_required", errorCode(t, body))

	c, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	hello := c.events(1)[0]
	require.Equal(t, "hello", hello.Type)
	require.NotEmpty(t, hello.Epoch)
	require.Zero(t, hello.Seq)

	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.ws.1", "15551111", "Ana", "hola"))
	require.Equal(t, http.StatusOK, code)
	evs := c.events(3)
	types := []string{evs[0].Type, evs[1].Type, evs[2].Type}
	require.Equal(t, []string{"conversation.created", "message.created", "conversation.updated"}, types)
	for i, ev := range evs {
		require.Equal(t, uint64(i+1), ev.Seq)
	}
	require.Contains(t, string(evs[1].Data), `"text":"hola"`)

	// ping → pong; a bad frame closes with 4400.
	require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)))
	require.Equal(t, "pong", c.events(1)[0].Type)
	require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"dance"}`)))
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 4400, ce.Code)
}

// readBody reads and closes a response's body.
func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// A client that reconnects with its last seq gets every missed event in
// order; one whose seq fell out of the buffer is told to resync.
func TestWebSocketResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *actors.Config) { c.RingSize = 32 })
	c, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	epoch := c.events(1)[0].Epoch
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.1", "1555201", "A", "one"))
	last := c.events(3)[2].Seq
	c.conn.Close()

	for i := range 3 { // 6 events while away
		e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.r.2.%d", i), "1555201", "A", "more"))
	}
	c2, _, err := e.dialWS(fmt.Sprintf("token=%s&epoch=%s&seq=%d", ownerToken, epoch, last))
	require.NoError(t, err)
	evs := c2.events(7)
	require.Equal(t, "hello", evs[0].Type)
	for i, ev := range evs[1:] {
		require.Equal(t, last+1+uint64(i), ev.Seq, "missed events in order")
	}

	// Far behind: resync.
	for i := range 15 {
		e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.r.3.%d", i), "1555201", "A", "flood"))
	}
	c3, _, err := e.dialWS(fmt.Sprintf("token=%s&epoch=%s&seq=%d", ownerToken, epoch, last))
	require.NoError(t, err)
	evs = c3.events(2)
	require.Equal(t, "hello", evs[0].Type)
	require.Equal(t, "resync", evs[1].Type)
	// Another epoch: resync too.
	c4, _, err := e.dialWS(fmt.Sprintf("token=%s&epoch=old&seq=1", ownerToken))
	require.NoError(t, err)
	evs = c4.events(2)
	require.Equal(t, "resync", evs[1].Type)
	// After a resync the subscription is live.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.4", "1555201", "A", "live"))
	require.Equal(t, "message.created", c4.events(2)[0].Type)
}

func TestWebSocketFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.f.1", "1555301", "A", "a"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "1555301")
	one, _, err := e.dialWS("token=" + ownerToken + "&conversation_id=" + conv.String())
	require.NoError(t, err)
	one.events(1)
	msgr, _, err := e.dialWS("token=" + ownerToken + "&channel=messenger")
	require.NoError(t, err)
	msgr.events(1)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.f.2", "1555302", "B", "other conversation"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.f.3", "1555301", "A", "mine"))
	evs := one.events(2)
	for _, ev := range evs {
		require.Equal(t, conv.String(), ev.ConversationID)
	}
	// The messenger subscriber got nothing: its next frame is a pong.
	require.NoError(t, msgr.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)))
	require.Equal(t, "pong", msgr.events(1)[0].Type)
}

// A subscriber that stops reading is disconnected with 4008 when its
// queue overflows, and does not slow ingest (docs/ARCHITECTURE.md,
// invariant 7).
func TestWebSocketSlowConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *actors.Config) { c.SubscriberQueue = 4096 })
	// The queue overflows first, however slow ingest is under load: the
	// stalled client's socket is full long before, and a write timing out
	// drops it without the 4008 (TestWebSocketNeverReadingClient).
	gateway.SetWebSocketWriteWait(e.gw, time.Minute)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	slow, _, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/api/v1/ws?token="+ownerToken, nil)
	require.NoError(t, err)
	defer slow.Close()
	fast, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	got := make(chan int, 1)
	go func() {
		n := 0
		for {
			_ = fast.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, msg, err := fast.conn.ReadMessage()
			if err != nil {
				break // quiet for 3 s: ingest is over
			}
			if msg[0] == '[' {
				var evs []wsEvent
				if json.Unmarshal(msg, &evs) == nil {
					n += len(evs)
				}
			} else {
				n++
			}
		}
		got <- n
	}()
	// Ingest until the stalled subscriber is cut off (its queue and the
	// socket buffers are full), with the reading one keeping up.
	eventually(t, 5*time.Second, func() error {
		if n := e.rt.Broadcaster().Subscribers(); n != 2 {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
	start := time.Now()
	sent := 0
	for i := 0; e.rt.Broadcaster().Subscribers() == 2; i++ {
		require.Less(t, i, 100, "the stalled subscriber was never disconnected")
		e.bulkWebhook("1555", fmt.Sprintf("wamid.s.%d", i))
		sent += 100
	}
	ingest := time.Since(start)
	// The slow one was cut off with 4008.
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	var closeErr *websocket.CloseError
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			require.ErrorAs(t, err, &closeErr)
			break
		}
	}
	require.Equal(t, 4008, closeErr.Code)
	// The reading subscriber got everything: hello, then for the first
	// message of each of the 100 users created+message+updated, and two
	// events for every other message.
	require.Equal(t, 1+100+2*sent, <-got)
	t.Logf("ingest of %d messages with a stalled subscriber took %v", sent, ingest)
}

// bulkWebhook delivers one WhatsApp webhook of 100 text messages of 1,500
// bytes, from 100 senders (from + 000 to 099), with ids id.0 to id.99.
func (e *env) bulkWebhook(from, id string) {
	e.t.Helper()
	var msgs []string
	for j := range 100 {
		msgs = append(msgs, fmt.Sprintf(`{"from":"%s%03d","id":"%s.%d","timestamp":"1750000000","type":"text","text":{"body":"%s"}}`, from, j, id, j, strings.Repeat("x", 1500)))
	}
	payload := `{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"` + phoneID + `"},"messages":[` + strings.Join(msgs, ",") + `]}}]}]}`
	code, body := e.webhook(engine.ChannelWhatsApp, payload)
	require.Equal(e.t, http.StatusOK, code, string(body))
}

func TestWebSocketClosedOnShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	c.events(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.gw.Shutdown(ctx))
	require.Equal(t, websocket.CloseGoingAway, c.closeFrame().Code)
	// And the socket is closed: the session's reader was not left waiting.
	c.requireClosed()
}

// closeFrame reads until the server's close frame and returns it.
func (c *wsClient) closeFrame() *websocket.CloseError {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(c.t, err, &ce)
	return ce
}

// requireClosed checks that the server closed the socket.
func (c *wsClient) requireClosed() {
	c.t.Helper()
	_ = c.conn.UnderlyingConn().SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.conn.UnderlyingConn().Read(make([]byte, 1))
	var ne net.Error
	require.Error(c.t, err)
	require.False(c.t, errors.As(err, &ne) && ne.Timeout(), "the server kept the socket open: %v", err)
}

// TestWebSocketManySubscribersGetEverything: many subscribers read while
// events are published; each gets every event of the workspace, in
// order, and nothing is left queued when the load stops (the hub's
// shards and the sessions hand work to each other without losing any).
func TestWebSocketManySubscribersGetEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const subs, msgs = 80, 60
	var last atomic.Uint64 // known once every webhook is in
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	// Every subscriber is connected before any of them starts its read
	// deadlines: dialing eighty of them under the race detector can take
	// longer than one deadline.
	clients := make([]*wsClient, subs)
	for i := range subs {
		c, _, err := e.dialWS("token=" + ownerToken)
		require.NoError(t, err)
		hello := c.frames()
		require.Equal(t, "hello", hello[0].Type)
		clients[i] = c
	}
	for i, c := range clients {
		wg.Go(func() {
			next := uint64(1)
			for l := last.Load(); l == 0 || next <= l; l = last.Load() {
				// A lost event shows as a wait that never ends; the deadline
				// is long enough for a loaded two-core machine running the
				// whole suite under the race detector.
				_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, msg, err := c.conn.ReadMessage()
				if err != nil {
					if l := last.Load(); l != 0 && next > l {
						return // read everything before last was known
					}
					errs <- fmt.Errorf("subscriber %d: waiting for seq %d of %d: %w", i, next, last.Load(), err)
					return
				}
				var evs []wsEvent
				if msg[0] == '[' {
					err = json.Unmarshal(msg, &evs)
				} else {
					evs = make([]wsEvent, 1)
					err = json.Unmarshal(msg, &evs[0])
				}
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				for _, ev := range evs {
					if ev.Seq != next {
						errs <- fmt.Errorf("subscriber %d: seq %d, want %d", i, ev.Seq, next)
						return
					}
					next++
				}
			}
		})
	}
	for i := range msgs {
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.many.%d", i), fmt.Sprintf("15553%03d", i%7), "Many", "burst"))
		require.Equal(t, http.StatusOK, code, string(body))
	}
	last.Store(e.rt.Broadcaster().LastSeq(e.ws))
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestWebSocketProtocolPings: a client that sends a WebSocket protocol
// ping every 100 ms while events flow (as many non-browser clients do),
// then stops pinging while they go on, gets a pong with each ping's
// payload and every event, in order: the server answers pings through
// the connection's one writer, and no write deadline is left behind to
// fail its later writes.
func TestWebSocketProtocolPings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	require.Equal(t, "hello", c.events(1)[0].Type)
	var pongs []string
	var pmu sync.Mutex
	c.conn.SetPongHandler(func(data string) error {
		pmu.Lock()
		pongs = append(pongs, data)
		pmu.Unlock()
		return nil
	})
	pinged := make(chan int, 1)
	go func() {
		n := 0
		defer func() { pinged <- n }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 15 {
			<-tick.C
			if c.conn.WriteControl(websocket.PingMessage, []byte(fmt.Sprintf("p%d", n)), time.Now().Add(time.Second)) != nil {
				return
			}
			n++
		}
	}()
	next := uint64(1)
	read := func(until func(wsEvent) bool) {
		for {
			for _, ev := range c.frames() {
				if ev.Seq != 0 {
					require.Equal(t, next, ev.Seq, "events in order")
					next++
				}
				if until(ev) {
					return
				}
			}
		}
	}
	// Events for 3 s: the pings' 1.5 s, and longer than a deadline left
	// on the socket by the last pong would last.
	for i, start := 0, time.Now(); time.Since(start) < 3*time.Second; i++ {
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.ping.%d", i), "1555401", "P", "while pinging"))
		require.Equal(t, http.StatusOK, code, string(body))
		last := e.rt.Broadcaster().LastSeq(e.ws)
		read(func(ev wsEvent) bool { return ev.Seq == last })
	}
	n := <-pinged
	require.Equal(t, 15, n, "pings sent")
	// Frames are answered in order: the pong of the JSON ping comes after
	// those of every protocol ping before it.
	require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)))
	read(func(ev wsEvent) bool { return ev.Type == "pong" })
	require.Equal(t, e.rt.Broadcaster().LastSeq(e.ws)+1, next, "every event")
	pmu.Lock()
	defer pmu.Unlock()
	require.Len(t, pongs, n)
	for i, p := range pongs {
		require.Equal(t, fmt.Sprintf("p%d", i), p)
	}
}

// TestWebSocketCloseHandshake: a client's close frame is answered with a
// close frame carrying its code (none if it had none), and the server
// then closes the socket.
func TestWebSocketCloseHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	require.Equal(t, "hello", c.events(1)[0].Type)
	require.NoError(t, c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)))
	require.Equal(t, websocket.CloseNormalClosure, c.closeFrame().Code)
	c.requireClosed()
	// A close frame without a code is answered with one without a code.
	c, _, err = e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	require.Equal(t, "hello", c.events(1)[0].Type)
	require.NoError(t, c.conn.WriteControl(websocket.CloseMessage, nil, time.Now().Add(time.Second)))
	require.Equal(t, websocket.CloseNoStatusReceived, c.closeFrame().Code)
	c.requireClosed()
	eventually(t, 5*time.Second, func() error {
		if n := e.rt.Broadcaster().Subscribers(); n != 0 {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
}

// TestWebSocketNeverReadingClient: a subscriber that never reads, with
// a queue too long to overflow, is dropped when a write to it times out,
// and that counts as a slow disconnect like an overflowed queue
// (docs/ARCHITECTURE.md, invariant 7).
func TestWebSocketNeverReadingClient(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) { c.SubscriberQueue = 1 << 16 }, func(c *gateway.Config) { c.Registerer = reg })
	gateway.SetWebSocketWriteWait(e.gw, 300*time.Millisecond)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	stalled, _, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/api/v1/ws?token="+ownerToken, nil)
	require.NoError(t, err)
	defer stalled.Close()
	eventually(t, 5*time.Second, func() error {
		if n := e.rt.Broadcaster().Subscribers(); n != 1 {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
	for i := 0; e.rt.Broadcaster().Subscribers() == 1; i++ {
		require.Less(t, i, 200, "the stalled subscriber was never disconnected")
		e.bulkWebhook("1556", fmt.Sprintf("wamid.n.%d", i))
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 1.0, metricValue(t, reg, "parley_gateway_websocket_slow_disconnects_total"))
}

// TestWebSocketProtocolErrors: a frame that breaks the protocol (a client
// frame without a mask) is answered with close 1002, and a message over
// the size limit with 1009, both written by the session: the library's
// own close frame (reason "bad MASK") is never written.
func TestWebSocketProtocolErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name   string
		send   func(c *websocket.Conn) error
		code   int
		reason string
	}{
		{"unmasked", func(c *websocket.Conn) error {
			_, err := c.UnderlyingConn().Write([]byte{0x81, 2, 'h', 'i'})
			return err
		}, websocket.CloseProtocolError, "protocol error"},
		{"too big", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","x":"`+strings.Repeat("x", 16<<10)+`"}`))
		}, websocket.CloseMessageTooBig, "frame too big"},
	} {
		c, _, err := e.dialWS("token=" + ownerToken)
		require.NoError(t, err)
		require.Equal(t, "hello", c.events(1)[0].Type)
		require.NoError(t, tc.send(c.conn))
		ce := c.closeFrame()
		require.Equal(t, tc.code, ce.Code, tc.name)
		require.Equal(t, tc.reason, ce.Text, tc.name)
		c.requireClosed()
	}
}
