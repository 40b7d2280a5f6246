package gateway

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// WebSocket protocol (DESIGN.md, Realtime protocol). GET /api/v1/ws with
// the token in the Authorization header or the "token" query parameter
// (browsers cannot set headers on a WebSocket). Query parameters channel,
// folder, assignee and conversation_id filter the events; epoch and seq
// resume after the last event seen.
//
// Server frames: {"type":"hello","epoch","seq"} first; then events
// {"seq","type","workspace_id","conversation_id","at","data"}, one object
// per frame, or an array of them in order when several were queued;
// {"type":"resync"} when the resume point is gone (reload over REST); and
// {"type":"pong"} for a client ping. Client frames: {"type":"ping"} and
// {"type":"subscribe","filter":{...},"resume":{"epoch","seq"}} to change
// the subscription. Close codes: 4008 slow consumer, 4400 bad frame,
// 1001 server going away.
const (
	wsCloseSlow     = 4008
	wsCloseBadFrame = 4400
	wsWriteWait     = 10 * time.Second
	wsPingEvery     = 25 * time.Second
	wsReadWait      = 60 * time.Second
	wsMaxFrame      = 16 << 10
	wsMaxBatch      = 256
	wsMaxBatchBytes = 64 << 10
)

// clientFrame is a frame a WebSocket client sends.
type clientFrame struct {
	Type   string     `json:"type"`
	Filter *wsFilter  `json:"filter,omitempty"`
	Resume *wsResumed `json:"resume,omitempty"`
}

type wsFilter struct {
	Channel        engine.Channel `json:"channel,omitempty"`
	Folder         engine.Folder  `json:"folder,omitempty"`
	Assignee       string         `json:"assignee,omitempty"`
	ConversationID string         `json:"conversation_id,omitempty"`
}

type wsResumed struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

var errBadFrame = errors.New("bad frame")

// parseClientFrame decodes and checks one client frame.
func parseClientFrame(b []byte) (clientFrame, error) {
	var f clientFrame
	if len(b) > wsMaxFrame {
		return f, errBadFrame
	}
	if err := decodeJSONBytes(b, &f); err != nil {
		return f, errBadFrame
	}
	switch f.Type {
	case "ping":
		return f, nil
	case "subscribe":
		if f.Filter != nil {
			if _, err := f.Filter.actors(); err != nil {
				return f, errBadFrame
			}
		}
		return f, nil
	}
	return f, errBadFrame
}

func (f *wsFilter) actors() (actors.Filter, error) {
	var out actors.Filter
	if f == nil {
		return out, nil
	}
	if f.Channel != "" && !f.Channel.Valid() {
		return out, errBadFrame
	}
	if f.Folder != "" && !f.Folder.Valid() {
		return out, errBadFrame
	}
	if len(f.Assignee) > 64 {
		return out, errBadFrame
	}
	out.Channel, out.Folder, out.AssigneeID = f.Channel, f.Folder, f.Assignee
	if f.ConversationID != "" {
		id, err := engine.ParseID(f.ConversationID)
		if err != nil {
			return out, errBadFrame
		}
		out.ConversationID = id
	}
	return out, nil
}

// wsAuth admits the upgrade request: a token in the header or the query.
func (s *Server) wsAuth(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return errorf(fiber.StatusUpgradeRequired, "upgrade_required", "this route speaks WebSocket")
	}
	if c.Get(fiber.HeaderAuthorization) == "" && c.Query("token") != "" {
		c.Request().Header.Set(fiber.HeaderAuthorization, "Bearer "+c.Query("token"))
	}
	if err := s.authenticate(c); err != nil {
		return err
	}
	f := wsFilter{Channel: engine.Channel(c.Query("channel")), Folder: engine.Folder(c.Query("folder")),
		Assignee: c.Query("assignee"), ConversationID: c.Query("conversation_id")}
	filter, err := f.actors()
	if err != nil {
		return errorf(fiber.StatusBadRequest, "bad_query", "bad subscription filter")
	}
	c.Locals("ws.filter", filter)
	if seq := c.Query("seq"); seq != "" {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return errorf(fiber.StatusBadRequest, "bad_query", "seq must be a non-negative integer")
		}
		c.Locals("ws.resume", &wsResumed{Epoch: c.Query("epoch"), Seq: n})
	}
	return c.Next()
}

// sockets tracks live WebSocket connections so Shutdown can close them:
// upgraded connections are not drained by the HTTP server.
type sockets struct {
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	done  bool
}

func (ss *sockets) add(c *websocket.Conn) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.done {
		return false
	}
	if ss.conns == nil {
		ss.conns = map[*websocket.Conn]struct{}{}
	}
	ss.conns[c] = struct{}{}
	return true
}

func (ss *sockets) remove(c *websocket.Conn) {
	ss.mu.Lock()
	delete(ss.conns, c)
	ss.mu.Unlock()
}

// closeAll sends every socket a going-away close frame and closes it, in
// parallel. It holds the lock throughout, so a connection whose handler
// has returned (and whose Conn went back to the pool) is never touched.
func (ss *sockets) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.done = true
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	var wg sync.WaitGroup
	for c := range ss.conns {
		wg.Go(func() {
			_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			_ = c.Close()
		})
	}
	wg.Wait()
}

// wsSession is one subscriber connection. The writer goroutine owns all
// writes; the reader (the handler's goroutine) only parses client frames
// and hands replies to the writer.
type wsSession struct {
	s      *Server
	conn   *websocket.Conn
	ws     engine.ID
	user   engine.ID // receives the events addressed to this user
	mu     sync.Mutex
	sub    *actors.Subscription
	replay []*actors.Envelope
	ctrl   chan []byte // frames from the reader for the writer (pong, hello, resync)
	kick   chan struct{}
	quit   chan struct{}
	// deadlineSet is when the writer last moved the write deadline
	// (written by the writer goroutine only).
	deadlineSet time.Time
}

func (s *Server) serveWS(conn *websocket.Conn) {
	if !s.sockets.add(conn) {
		_ = conn.Close()
		return
	}
	defer s.sockets.remove(conn)
	defer conn.Close()
	p, _ := conn.Locals(principalKey).(*principal)
	filter, _ := conn.Locals("ws.filter").(actors.Filter)
	resume, _ := conn.Locals("ws.resume").(*wsResumed)
	sess := &wsSession{s: s, conn: conn, ws: p.WorkspaceID, user: p.UserID, ctrl: make(chan []byte, 16),
		kick: make(chan struct{}, 1), quit: make(chan struct{})}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "epoch": s.cfg.Runtime.Broadcaster().Epoch(),
		"seq": s.cfg.Runtime.Broadcaster().LastSeq(p.WorkspaceID)})
	if !sess.write(hello) { // the writer is not running yet: this goroutine may write
		return
	}
	sess.subscribe(filter, resume)
	s.metrics.wsSubscribers.Inc()
	defer s.metrics.wsSubscribers.Dec()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		sess.writeLoop()
	}()
	sess.readLoop()
	close(sess.quit)
	<-writerDone
	sess.mu.Lock()
	if sess.sub != nil {
		sess.sub.Close()
	}
	sess.mu.Unlock()
}

// subscribe replaces the session's subscription; a resume point that is
// gone (or from another epoch) gets a resync frame.
func (sess *wsSession) subscribe(f actors.Filter, resume *wsResumed) {
	bc := sess.s.cfg.Runtime.Broadcaster()
	f.UserID = sess.user
	var from *uint64
	if resume != nil && resume.Epoch == bc.Epoch() {
		from = &resume.Seq
	}
	sub, replay, err := bc.Subscribe(sess.ws, f, from)
	if errors.Is(err, actors.ErrResync) || (resume != nil && from == nil) {
		sess.ctrl <- []byte(`{"type":"resync"}`)
		if err != nil {
			sub, replay, err = bc.Subscribe(sess.ws, f, nil)
		}
	}
	sess.mu.Lock()
	old := sess.sub
	if err == nil {
		sess.sub, sess.replay = sub, replay
	} else {
		sess.sub, sess.replay = nil, nil
	}
	sess.mu.Unlock()
	if old != nil {
		old.Close()
	}
	select {
	case sess.kick <- struct{}{}:
	default:
	}
}

func (sess *wsSession) readLoop() {
	c := sess.conn
	c.SetReadLimit(wsMaxFrame)
	_ = c.SetReadDeadline(time.Now().Add(wsReadWait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(wsReadWait)) })
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(wsReadWait))
		f, err := parseClientFrame(msg)
		if err != nil {
			sess.closeWith(wsCloseBadFrame, "bad frame")
			return
		}
		switch f.Type {
		case "ping":
			select {
			case sess.ctrl <- []byte(`{"type":"pong"}`):
			default: // a client flooding pings gets fewer pongs
			}
		case "subscribe":
			filter, _ := f.Filter.actors()
			sess.subscribe(filter, f.Resume)
		}
	}
}

func (sess *wsSession) closeWith(code int, reason string) {
	_ = sess.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(wsWriteWait))
	_ = sess.conn.Close()
}

// writeLoop writes control frames and events; it coalesces the events
// queued at one moment into a single frame.
func (sess *wsSession) writeLoop() {
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	var buf bytes.Buffer
	for {
		// Control frames queued by subscribe (resync) go before events.
	flush:
		for {
			select {
			case frame := <-sess.ctrl:
				if !sess.write(frame) {
					return
				}
			default:
				break flush
			}
		}
		sess.mu.Lock()
		sub, replay := sess.sub, sess.replay
		sess.replay = nil
		sess.mu.Unlock()
		if len(replay) > 0 {
			for i := 0; i < len(replay); i += wsMaxBatch {
				if !sess.writeEvents(&buf, replay[i:min(len(replay), i+wsMaxBatch)]) {
					return
				}
			}
		}
		var events <-chan *actors.Envelope
		if sub != nil {
			events = sub.C
		}
		select {
		case <-sess.quit:
			return
		case <-sess.kick:
		case frame := <-sess.ctrl:
			if !sess.write(frame) {
				return
			}
		case <-ping.C:
			if err := sess.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
				_ = sess.conn.Close()
				return
			}
		case env, ok := <-events:
			// A subscription closed for falling behind is told so at
			// once; the events still queued are dropped (the client
			// resumes from the last seq it saw).
			if reason := sub.Reason(); !ok || reason == actors.CloseSlow {
				if reason == actors.CloseSlow {
					sess.s.metrics.wsSlowDisconnects.Inc()
					sess.closeWith(wsCloseSlow, "slow consumer: resume from your last seq")
				} else {
					sess.closeWith(websocket.CloseGoingAway, "server shutting down")
				}
				return
			}
			batch, open := sub.Collect(env)
			size := 0
			for _, e := range batch {
				size += len(e.JSON())
			}
		drain:
			for open && len(batch) < wsMaxBatch && size < wsMaxBatchBytes {
				select {
				case e, ok := <-events:
					if !ok {
						break drain
					}
					var more []*actors.Envelope
					more, open = sub.Collect(e)
					batch = append(batch, more...)
					for _, e := range more {
						size += len(e.JSON())
					}
				default:
					break drain
				}
			}
			if !sess.writeEvents(&buf, batch) {
				return
			}
		}
	}
}

func (sess *wsSession) writeEvents(buf *bytes.Buffer, batch []*actors.Envelope) bool {
	if len(batch) == 1 {
		return sess.write(batch[0].JSON())
	}
	buf.Reset()
	buf.WriteByte('[')
	for i, e := range batch {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.JSON())
	}
	buf.WriteByte(']')
	return sess.write(buf.Bytes())
}

func (sess *wsSession) write(frame []byte) bool {
	// The write deadline moves at most once a second (each move costs a
	// timer update): every write still has between wsWriteWait-1s and
	// wsWriteWait to finish.
	if now := time.Now(); now.Sub(sess.deadlineSet) >= time.Second {
		sess.deadlineSet = now
		_ = sess.conn.SetWriteDeadline(now.Add(wsWriteWait))
	}
	if err := sess.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		_ = sess.conn.Close()
		return false
	}
	return true
}
