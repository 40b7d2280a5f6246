package realtime

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/internal/strictjson"
)

// WebSocket protocol (README.md, Realtime). GET /api/v1/ws with
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
// the subscription, and {"type":"presence","state":"active"|"away"|"online"}
// (the web app's presence: activity, set away, back; Config.Presence). A protocol ping gets a pong with its payload, a close
// frame a close frame with its code. Close codes: 4008 slow consumer
// (its queue overflowed; one that takes nothing within the write wait is
// dropped without a close frame), 4400 bad frame, 1009 frame too big,
// 1002 protocol error, 1001 server going away.
const (
	wsCloseSlow     = 4008
	wsCloseBadFrame = 4400
	// wsWriteWait is how long a write may wait for the client to read
	// (unless the hub's is set).
	wsWriteWait = 10 * time.Second
	// wsShutdownWait bounds the write a shutdown waits for, and its close
	// frame.
	wsShutdownWait  = time.Second
	wsPingEvery     = 25 * time.Second
	wsReadWait      = 60 * time.Second
	wsMaxFrame      = 16 << 10
	wsMaxBatch      = 256
	wsMaxBatchBytes = 64 << 10
)

// clientFrame is a frame a WebSocket client sends.
type clientFrame struct {
	Type   string     `json:"type"`
	State  string     `json:"state,omitempty"`
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
	if err := strictjson.Decode(b, &f); err != nil {
		return f, errBadFrame
	}
	switch f.Type {
	case "ping":
		return f, nil
	case "presence":
		if f.State != "active" && f.State != "away" && f.State != "online" {
			return f, errBadFrame
		}
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

// admit admits the upgrade request: a token in the header or the query,
// checked by Config.Authenticate, and the subscription's filter and
// resume point from the query.
func (h *Hub) admit(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return &Error{Status: fiber.StatusUpgradeRequired, Code: "upgrade_required", Message: "this route speaks WebSocket"}
	}
	if c.Get(fiber.HeaderAuthorization) == "" && c.Query("token") != "" {
		c.Request().Header.Set(fiber.HeaderAuthorization, "Bearer "+c.Query("token"))
	}
	workspace, user, err := h.cfg.Authenticate(c)
	if err != nil {
		return err
	}
	who := caller{workspace: workspace, user: user}
	if h.cfg.Credential != nil {
		who.cred = h.cfg.Credential(c)
	}
	c.Locals(callerKey, who)
	f := wsFilter{Channel: engine.Channel(c.Query("channel")), Folder: engine.Folder(c.Query("folder")),
		Assignee: c.Query("assignee"), ConversationID: c.Query("conversation_id")}
	filter, err := f.actors()
	if err != nil {
		return &Error{Status: fiber.StatusBadRequest, Code: "bad_query", Message: "bad subscription filter"}
	}
	c.Locals(filterKey, filter)
	if seq := c.Query("seq"); seq != "" {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return &Error{Status: fiber.StatusBadRequest, Code: "bad_query", Message: "seq must be a non-negative integer"}
		}
		c.Locals(resumeKey, &wsResumed{Epoch: c.Query("epoch"), Seq: n})
	}
	return nil
}

// caller is who opened a connection (Config.Authenticate's answer).
type caller struct {
	workspace, user engine.ID
	cred            string // Config.Credential's name for the token
}

// Keys of the upgrade request's locals that the connection reads.
const (
	callerKey = "realtime.caller"
	filterKey = "ws.filter"
	resumeKey = "ws.resume"
)

// sockets tracks live WebSocket sessions so Shutdown can close them:
// upgraded connections are not drained by the HTTP server.
type sockets struct {
	mu    sync.Mutex
	conns map[*wsSession]struct{}
	done  bool
}

func (ss *sockets) add(sess *wsSession) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.done {
		return false
	}
	if ss.conns == nil {
		ss.conns = map[*wsSession]struct{}{}
	}
	ss.conns[sess] = struct{}{}
	return true
}

func (ss *sockets) remove(sess *wsSession) {
	ss.mu.Lock()
	delete(ss.conns, sess)
	ss.mu.Unlock()
}

// closeAll sends every session a going-away close frame and closes it, in
// parallel. It holds the lock throughout, so a connection whose handler
// has returned (and whose Conn went back to the pool) is never touched.
func (ss *sockets) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.done = true
	var wg sync.WaitGroup
	for sess := range ss.conns {
		wg.Go(sess.shutdown)
	}
	wg.Wait()
}

// closeWhere sends the sessions that match a signed-out close frame and
// closes them, in parallel, under the lock like closeAll.
func (ss *sockets) closeWhere(match func(*wsSession) bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var wg sync.WaitGroup
	for sess := range ss.conns {
		if match(sess) {
			wg.Go(func() { sess.end(CloseSignedOut, "signed out") })
		}
	}
	wg.Wait()
}

// wsSession is one subscriber connection. Parley owns the whole write
// side: every frame, control frames included, is built here and written
// by the session's writer, the methods that hold wmu; the library only
// reads (muteLibrary). Events are written by the connection's hub shard
// (see Hub) with non-blocking writes; the session's own goroutine
// finishes what would block (the rest of a frame the socket did not
// take, a close), writes pings, and then keeps writing that
// connection's events itself until it catches up. The reader (the
// handler's goroutine) parses client frames and writes their answers
// (pongs, the close handshake) through the same writer.
type wsSession struct {
	h     *Hub
	conn  *websocket.Conn // read only
	t     wsTransport
	ws    engine.ID
	user  engine.ID // receives the events addressed to this user
	cred  string    // the credential it was opened with (Config.Credential)
	shard *wsShard
	// queued: the session is in shard.ready (guarded by shard.mu).
	queued bool

	mu     sync.Mutex
	sub    *actors.Subscription
	replay []*actors.Envelope

	wmu sync.Mutex
	// Under wmu:
	dead    bool   // the connection is done: write nothing more
	pending []byte // the rest of a frame a non-blocking write left
	closing string // the subscription ended (its reason): close the connection
	frame   []byte // frame bytes being written by a blocking write
	slow    bool   // counted as a slow disconnect
	// missed: a shard found wmu taken; the holder hands the session back.
	missed atomic.Bool
	// killed is dead for the reader, which does not hold wmu.
	killed atomic.Bool
	// stopBy (unix nanoseconds) bounds every write once the server shuts
	// down; zero before.
	stopBy atomic.Int64
	// readBy is the reader's deadline (the reader's own).
	readBy time.Time
	// presenceOn: the connection counts for its user's presence (the
	// reader's own; see reportPresence).
	presenceOn bool

	// The session goroutine runs only while it has work (the rest of a
	// frame a shard could not finish, a close, a ping): an idle
	// connection keeps no goroutine but its reader (docs/ARCHITECTURE.md,
	// "Realtime fan-out and memory per connection").
	hmu       sync.Mutex
	running   bool        // a session goroutine runs (under hmu)
	drainDue  bool        // it has writes to look at (under hmu)
	pingDue   bool        // it has a ping to send (under hmu)
	stopped   bool        // the connection ended: no session goroutine starts (under hmu)
	ping      *time.Timer // makes pingDue every wsPingEvery
	goroutine sync.WaitGroup
}

func (h *Hub) serve(conn *websocket.Conn) {
	defer conn.Close()
	who, _ := conn.Locals(callerKey).(caller)
	filter, _ := conn.Locals(filterKey).(actors.Filter)
	resume, _ := conn.Locals(resumeKey).(*wsResumed)
	nc := conn.NetConn()
	if !isTLS(nc) {
		muteLibrary(conn, nc)
	}
	sess := &wsSession{h: h, conn: conn, t: newNetTransport(nc), ws: who.workspace, user: who.user, cred: who.cred,
		shard: h.assign()}
	if !h.sockets.add(sess) {
		return
	}
	defer h.sockets.remove(sess)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "epoch": h.cfg.Broadcaster.Epoch(),
		"seq": h.cfg.Broadcaster.LastSeq(who.workspace)})
	if !sess.sendNow(websocket.TextMessage, hello) {
		return
	}
	sess.subscribe(filter, resume)
	h.metrics.subscribers.Inc()
	defer h.metrics.subscribers.Dec()
	sess.hmu.Lock()
	sess.ping = time.AfterFunc(h.pingEvery(), sess.pingTick)
	sess.hmu.Unlock()
	sess.readLoop()
	if sess.presenceOn {
		h.cfg.Presence.Disconnected(sess.ws, sess.user)
	}
	sess.stop()
	sess.wmu.Lock()
	sess.dead = true // the shard must not touch the connection once it is returned
	sess.wmu.Unlock()
	sess.mu.Lock()
	if sess.sub != nil {
		sess.sub.Close()
	}
	sess.mu.Unlock()
}

// subscribe replaces the session's subscription; a resume point that is
// gone (or from another epoch) gets a resync frame, before any event.
func (sess *wsSession) subscribe(f actors.Filter, resume *wsResumed) {
	bc := sess.h.cfg.Broadcaster
	f.UserID = sess.user
	var from *uint64
	if resume != nil && resume.Epoch == bc.Epoch() {
		from = &resume.Seq
	}
	notify := func() { sess.shard.mark(sess) }
	sub, replay, err := bc.SubscribeNotify(sess.ws, f, from, notify)
	if errors.Is(err, actors.ErrResync) || (resume != nil && from == nil) {
		// Written before the new subscription's events: they wait in its
		// queue until it becomes the session's below.
		if !sess.sendNow(websocket.TextMessage, []byte(`{"type":"resync"}`)) {
			if sub != nil {
				sub.Close()
			}
			return
		}
		if err != nil {
			sub, replay, err = bc.SubscribeNotify(sess.ws, f, nil, notify)
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
	sess.shard.mark(sess) // the replay, and anything queued meanwhile
}

// muteLibrary makes every write of the library's Conn fail before it
// writes a byte, so that the session's writer stays the connection's
// only one (the library would otherwise answer a protocol error or an
// oversized message itself). It documents that after a write has timed
// out every later write returns an error: one is timed out here, with a
// deadline already past, and the socket's deadline is cleared after.
func muteLibrary(c *websocket.Conn, nc interface{ SetWriteDeadline(time.Time) error }) {
	_ = c.SetWriteDeadline(time.Unix(1, 0))
	_ = c.WriteMessage(websocket.PongMessage, nil) // fails; were it written, an unsolicited pong is allowed
	_ = nc.SetWriteDeadline(time.Time{})
}

// isTLS reports whether nc (fasthttp's hijacked connection) is a TLS
// connection. muteLibrary cannot be used on one: a write that times out
// leaves a TLS connection's state corrupt (crypto/tls encrypts the record,
// consuming a sequence number, before the socket refuses it), so every
// later write fails or reaches the client as a bad record. Over TLS the
// library may still write a close frame of its own after a protocol
// error; a tls.Conn writes each Write whole under its lock, and the
// session writes whole frames there (TryWrite takes nothing without a
// raw socket), so the frames cannot interleave.
func isTLS(nc net.Conn) bool {
	if u, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
		nc = u.UnsafeConn()
	}
	_, ok := nc.(*tls.Conn)
	return ok
}

// readLoop reads client frames until the connection ends. The library's
// handlers for control frames answer through the session's writer.
func (sess *wsSession) readLoop() {
	c := sess.conn
	c.SetPingHandler(func(data string) error {
		if !sess.sendNow(websocket.PongMessage, []byte(data)) {
			return errClosed
		}
		sess.extendRead()
		return nil
	})
	c.SetPongHandler(func(string) error { sess.extendRead(); return nil })
	c.SetCloseHandler(func(code int, _ string) error {
		sess.closeWith(code, "") // no status received (1005): an empty close frame
		return nil
	})
	for sess.extendRead() {
		_, r, err := c.NextReader()
		if err != nil {
			sess.readFailed(err)
			return
		}
		msg, err := io.ReadAll(io.LimitReader(r, wsMaxFrame+1))
		if err != nil {
			sess.readFailed(err)
			return
		}
		if len(msg) > wsMaxFrame {
			sess.closeWith(websocket.CloseMessageTooBig, "frame too big")
			return
		}
		f, err := parseClientFrame(msg)
		if err != nil {
			sess.closeWith(wsCloseBadFrame, "bad frame")
			return
		}
		switch f.Type {
		case "ping":
			if !sess.sendNow(websocket.TextMessage, []byte(`{"type":"pong"}`)) {
				return
			}
		case "subscribe":
			filter, _ := f.Filter.actors()
			sess.subscribe(filter, f.Resume)
		case "presence":
			sess.reportPresence(f.State)
		}
	}
}

var errClosed = errors.New("websocket session closed")

// reportPresence passes a presence frame on to Config.Presence; the
// first one makes the connection count for its user (presenceOn, the
// reader's own, undone by serve when the connection ends).
func (sess *wsSession) reportPresence(state string) {
	p := sess.h.cfg.Presence
	if p == nil {
		return
	}
	if !sess.presenceOn {
		sess.presenceOn = true
		p.Connected(sess.ws, sess.user)
	}
	p.Report(sess.ws, sess.user, state)
}

// readFailed ends a connection whose read failed. A protocol error the
// library met fails with the timeout of the close frame it tried to
// write (muteLibrary), before the read deadline: the client is sent
// that close frame through the session's writer.
func (sess *wsSession) readFailed(err error) {
	if !sess.killed.Load() && isTimeout(err) && time.Now().Before(sess.readBy) {
		sess.closeWith(websocket.CloseProtocolError, "protocol error")
	}
}

// closeWith sends a close frame and closes the connection.
func (sess *wsSession) closeWith(code int, reason string) {
	sess.wmu.Lock()
	sess.closeLocked(code, reason)
	sess.unlockWrites()
}

func (sess *wsSession) closeLocked(code int, reason string) {
	sess.sendLocked(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason))
	sess.kill()
}

// shutdown tells the client the server is going away and closes the
// connection. A write in progress (the hello, a frame the socket took
// slowly) is let finish first, within wsShutdownWait, so that the close
// frame never lands inside it; a connection left with part of a frame
// unwritten, or whose write failed, is closed without one.
func (sess *wsSession) shutdown() { sess.end(websocket.CloseGoingAway, "server shutting down") }

// end closes the connection with a close frame of code and reason, as
// shutdown says.
func (sess *wsSession) end(code int, reason string) {
	by := time.Now().Add(wsShutdownWait)
	sess.stopBy.Store(by.UnixNano())
	sess.t.Bound(by)
	sess.wmu.Lock()
	if sess.pending == nil {
		sess.closeLocked(code, reason)
	}
	sess.kill()
	sess.unlockWrites()
}

// extendRead gives the reader wsReadWait more, unless the connection was
// killed (false): kill's deadline must not be pushed back.
func (sess *wsSession) extendRead() bool {
	sess.readBy = time.Now().Add(wsReadWait)
	_ = sess.conn.SetReadDeadline(sess.readBy)
	if sess.killed.Load() {
		_ = sess.conn.SetReadDeadline(time.Now())
		return false
	}
	return true
}

// kill ends a connection whose writes failed: the reader is woken (its
// read fails) so that the handler returns and the server closes the
// socket; closing a hijacked connection before that does nothing.
func (sess *wsSession) kill() {
	sess.dead = true
	sess.killed.Store(true)
	_ = sess.t.Close()
}

// countSlow counts the connection as a slow disconnect, once.
func (sess *wsSession) countSlow() {
	if !sess.slow {
		sess.slow = true
		sess.h.metrics.slowDisconnects.Inc()
	}
}

// finishPending writes the rest of a frame a non-blocking write left.
func (sess *wsSession) finishPending() bool {
	ok := sess.writeBlocking(sess.pending)
	sess.pending = nil
	return ok
}

// unlockWrites releases wmu and hands the session back to its shard if
// a flush found it taken meanwhile.
func (sess *wsSession) unlockWrites() {
	sess.wmu.Unlock()
	if sess.missed.Swap(false) {
		sess.shard.mark(sess)
	}
}

// start gives the session goroutine work, a drain (wake) or a ping, and
// runs it unless it runs or the connection ended.
func (sess *wsSession) start(drain, ping bool) {
	sess.hmu.Lock()
	defer sess.hmu.Unlock()
	if sess.stopped {
		return
	}
	sess.drainDue = sess.drainDue || drain
	sess.pingDue = sess.pingDue || ping
	if !sess.running {
		sess.running = true
		sess.goroutine.Add(1)
		go sess.run()
	}
}

// run is the session goroutine: the pings, and the writes that would
// block a shard. It ends when it has nothing left to do.
func (sess *wsSession) run() {
	defer sess.goroutine.Done()
	for {
		sess.hmu.Lock()
		drain, ping := sess.drainDue, sess.pingDue
		sess.drainDue, sess.pingDue = false, false
		if sess.stopped || (!drain && !ping) {
			sess.running = false
			sess.hmu.Unlock()
			return
		}
		sess.hmu.Unlock()
		if ping {
			sess.sendNow(websocket.PingMessage, nil)
			sess.hmu.Lock()
			if !sess.stopped && sess.ping != nil {
				sess.ping.Reset(sess.h.pingEvery())
			}
			sess.hmu.Unlock()
		}
		if drain {
			sess.drainWrites()
		}
	}
}

// pingTick is the ping timer's: a ping is due.
func (sess *wsSession) pingTick() { sess.start(false, true) }

// drainWrites finishes a frame a shard left, writes what is queued
// (blocking) or closes the connection of a subscription that ended.
func (sess *wsSession) drainWrites() {
	sess.wmu.Lock()
	defer sess.unlockWrites()
	if !sess.dead && sess.pending != nil && !sess.finishPending() {
		return
	}
	if !sess.dead && sess.closing == "" {
		sess.flushLocked(true)
	}
	if !sess.dead && sess.closing != "" {
		sess.finishClose()
	}
}

// stop ends the session goroutine, if it runs, and keeps another from
// starting: the connection has ended.
func (sess *wsSession) stop() {
	sess.hmu.Lock()
	sess.stopped = true
	if sess.ping != nil {
		sess.ping.Stop()
	}
	sess.hmu.Unlock()
	sess.goroutine.Wait()
}

// finishClose closes the connection of a subscription that ended: a slow
// consumer is told so (it resumes from the last seq it saw).
func (sess *wsSession) finishClose() {
	if sess.closing == actors.CloseSlow {
		sess.countSlow()
		sess.closeLocked(wsCloseSlow, "slow consumer: resume from your last seq")
		return
	}
	sess.closeLocked(websocket.CloseGoingAway, "server shutting down")
}

// flush writes what the session has queued without blocking: called by
// its shard.
func (sess *wsSession) flush() {
	// Flag first, then try: either the lock is taken here, or its holder
	// unlocks after the flag is up and hands the session back.
	sess.missed.Store(true)
	if !sess.wmu.TryLock() {
		return
	}
	sess.missed.Store(false)
	defer sess.wmu.Unlock()
	sess.flushLocked(false)
}

// flushLocked writes the replay, then the queued events in frames of up
// to wsMaxBatch events (those of one state change together). Without
// blocking, it stops at the first write the socket does not take whole
// and leaves the rest to the session goroutine.
func (sess *wsSession) flushLocked(blocking bool) {
	if sess.dead || sess.closing != "" || sess.pending != nil {
		return
	}
	sess.mu.Lock()
	sub, replay := sess.sub, sess.replay
	sess.replay = nil
	sess.mu.Unlock()
	for i := 0; i < len(replay); i += wsMaxBatch {
		if !sess.sendEvents(replay[i:min(len(replay), i+wsMaxBatch)], blocking) {
			if rest := replay[min(len(replay), i+wsMaxBatch):]; len(rest) > 0 && !sess.dead {
				sess.mu.Lock()
				sess.replay = append(rest, sess.replay...)
				sess.mu.Unlock()
			}
			return
		}
	}
	if sub == nil {
		return
	}
	for {
		batch, open := sess.take(sub)
		if len(batch) > 0 && !sess.sendEvents(batch, blocking) {
			return
		}
		if !open {
			if reason := sub.Reason(); reason != actors.CloseClient { // CloseClient: replaced by a new subscription
				sess.closing = reason
				if blocking {
					sess.finishClose()
				} else {
					sess.wake()
				}
			}
			return
		}
		if len(batch) == 0 {
			return
		}
	}
}

// take takes the events waiting on sub, up to one frame's worth; open
// is false once sub is closed.
func (sess *wsSession) take(sub *actors.Subscription) (batch []*actors.Envelope, open bool) {
	return sub.Take(nil, wsMaxBatch, wsMaxBatchBytes)
}

func (sess *wsSession) wake() { sess.start(true, false) }

// sendEvents writes one frame of events: an object, or an array of them.
// The shard builds the frame in its own buffer (it writes one session at
// a time and keeps nothing of the frame once written: a partial write's
// rest is copied); the session goroutine in the session's.
func (sess *wsSession) sendEvents(batch []*actors.Envelope, blocking bool) bool {
	if blocking {
		sess.frame = appendEventsFrame(sess.frame[:0], batch)
		defer sess.trim()
		return sess.writeBlocking(sess.frame)
	}
	sh := sess.shard
	sh.frame = appendEventsFrame(sh.frame[:0], batch)
	return sess.writeNow(sh.frame)
}

// appendEventsFrame appends one text frame holding batch: its one event,
// or an array of them. The payload is written once, straight after a
// header sized from the events' lengths.
func appendEventsFrame(dst []byte, batch []*actors.Envelope) []byte {
	if len(batch) == 1 {
		return appendTextFrame(dst, batch[0].JSON())
	}
	n := len(batch) + 1 // '[', the commas and ']'
	for _, e := range batch {
		n += len(e.JSON())
	}
	dst = append(appendFrameHeader(dst, websocket.TextMessage, n), '[')
	for i, e := range batch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e.JSON()...)
	}
	return append(dst, ']')
}

// sendNow writes a frame of the kind (websocket.TextMessage, or a
// control frame), blocking until it is written.
func (sess *wsSession) sendNow(kind int, payload []byte) bool {
	sess.wmu.Lock()
	defer sess.unlockWrites()
	return sess.sendLocked(kind, payload)
}

// sendLocked writes a frame with wmu held, after anything pending,
// blocking until it is written.
func (sess *wsSession) sendLocked(kind int, payload []byte) bool {
	if sess.dead {
		return false
	}
	if sess.pending != nil && !sess.finishPending() {
		return false
	}
	sess.frame = appendFrame(sess.frame[:0], kind, payload)
	defer sess.trim()
	return sess.writeBlocking(sess.frame)
}

// writeNow writes what the socket takes of frame at once, without
// waiting; if that is not the whole frame, it leaves a copy of the rest
// to the session goroutine and reports false (the session writes nothing
// more until then).
func (sess *wsSession) writeNow(frame []byte) bool {
	n, err := sess.t.TryWrite(frame)
	if err != nil {
		sess.kill()
		return false
	}
	if n < len(frame) {
		sess.pending = bytes.Clone(frame[n:])
		sess.wake()
		return false
	}
	return true
}

// trim drops a write buffer grown by a large frame, so that an idle
// connection keeps only a small one.
func (sess *wsSession) trim() {
	const keep = 16 << 10
	if cap(sess.frame) > keep {
		sess.frame = nil
	}
}

// writeBlocking writes b whole, within the write wait (or by the
// shutdown's bound). A client that takes nothing for that long is a slow
// disconnect, like one whose queue overflowed: the frame may be cut, so
// it gets no close frame.
func (sess *wsSession) writeBlocking(b []byte) bool {
	deadline := time.Now().Add(sess.h.writeWait())
	stopping := false
	if by := sess.stopBy.Load(); by != 0 {
		deadline, stopping = time.Unix(0, min(by, deadline.UnixNano())), true
	}
	if err := sess.t.Write(b, deadline); err != nil {
		if isTimeout(err) && !stopping {
			sess.countSlow()
		}
		sess.kill()
		return false
	}
	return true
}

// appendTextFrame appends payload as one unmasked WebSocket text frame
// (RFC 6455 section 5.2; a server's frames are not masked).
func appendTextFrame(dst, payload []byte) []byte {
	return appendFrame(dst, websocket.TextMessage, payload)
}

// appendFrame appends payload as one final, unmasked frame of the kind
// (websocket.TextMessage, PingMessage, PongMessage, CloseMessage; a
// control frame's payload is at most 125 bytes).
func appendFrame(dst []byte, kind int, payload []byte) []byte {
	return append(appendFrameHeader(dst, kind, len(payload)), payload...)
}

// appendFrameHeader appends the header of a final, unmasked frame of the
// kind with n payload bytes.
func appendFrameHeader(dst []byte, kind, n int) []byte {
	dst = append(dst, 0x80|byte(kind)) // FIN, opcode
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}
