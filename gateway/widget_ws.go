package gateway

import (
	"errors"
	"slices"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/internal/strictjson"
)

// The visitor's WebSocket (README, "Web chat widget"): GET
// /widget/v1/{widget}/ws?token=<visitor token>[&user=&user_hash=]
// [&epoch=&seq=]. It follows the inbox's protocol (docs/ARCHITECTURE.md,
// "Realtime protocol") for one conversation: {"type":"hello","epoch",
// "seq","conversation_id"} first, then the conversation's events as the
// visitor sees them, each with its seq:
//
//	{"type":"message","seq","message":{...}}       a message, new or with a new status
//	{"type":"conversation","seq","mode","seen"}    the conversation's mode; seen once a person read it
//	{"type":"typing","from":"agent"}               a person is typing
//	{"type":"resync"}                               the resume point is gone: reload the messages
//
// A client resumes with the epoch and the last seq it saw. A visitor
// with no conversation yet gets a hello and no events: once its first
// message is stored it reconnects, resuming from the hello's seq. Client
// frames: {"type":"ping"} (answered {"type":"pong"}), {"type":"typing"},
// and {"type":"delivered"|"read","message_id"} for the messages it was
// shown. Close codes: 4008 slow consumer, 4400 bad frame, 4404 the
// widget was deleted (do not reconnect), 4429 too many frames, 1001
// going away.

// EventTyping is published when someone is typing in a conversation
// (nothing is stored: it is neither replayed nor sent to webhooks after
// a restart).
const EventTyping engine.EventType = "conversation.typing"

// typingData is a typing event's data.
type typingData struct {
	ConversationID engine.ID `json:"conversation_id"`
	From           string    `json:"from"`
}

// visitorFrame is a frame a visitor's WebSocket sends.
type visitorFrame struct {
	Type      string `json:"type"`
	MessageID string `json:"message_id,omitempty"`
}

// maxVisitorFrame bounds a visitor's frame.
const maxVisitorFrame = 1 << 10

var errBadVisitorFrame = errors.New("bad visitor frame")

// parseVisitorFrame decodes and checks a visitor's frame.
func parseVisitorFrame(b []byte) (visitorFrame, error) {
	var f visitorFrame
	if len(b) > maxVisitorFrame {
		return f, errBadVisitorFrame
	}
	if err := strictjson.Decode(b, &f); err != nil {
		return f, errBadVisitorFrame
	}
	switch f.Type {
	case "ping", "typing":
		if f.MessageID != "" {
			return f, errBadVisitorFrame
		}
	case "delivered", "read":
		if _, err := engine.ParseID(f.MessageID); err != nil {
			return f, errBadVisitorFrame
		}
	default:
		return f, errBadVisitorFrame
	}
	return f, nil
}

// Keys of the upgrade request's locals.
const (
	visitorKey       = "widget.caller"
	visitorResumeKey = "widget.resume"
)

type visitorResume struct {
	epoch string
	seq   uint64
}

func (w *widgetService) websocket(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return errorf(fiber.StatusUpgradeRequired, "upgrade_required", "this route speaks WebSocket")
	}
	cl, err := w.visitor(c)
	if err != nil {
		return err
	}
	c.Locals(visitorKey, cl)
	if q := c.Query("seq"); q != "" {
		n, err := strconv.ParseUint(q, 10, 64)
		if err != nil {
			return errorf(fiber.StatusBadRequest, "bad_query", "seq must be a non-negative integer")
		}
		c.Locals(visitorResumeKey, &visitorResume{epoch: c.Query("epoch"), seq: n})
	}
	return websocket.New(w.serve, websocket.Config{ReadBufferSize: 1024, WriteBufferSize: 4096})(c)
}

// serve runs a visitor's connection: this goroutine is its only writer;
// a reader goroutine hands it what to answer.
func (w *widgetService) serve(conn *websocket.Conn) {
	cl := conn.Locals(visitorKey).(visitorCaller)
	resume, _ := conn.Locals(visitorResumeKey).(*visitorResume)
	ws := cl.widget.WorkspaceID
	bc := w.s.cfg.Runtime.Broadcaster()
	w.s.metrics.widgetSessions.Inc()
	defer w.s.metrics.widgetSessions.Dec()
	defer conn.Close()

	gone, untrack, ok := w.track(ws, cl.widget.AccountID)
	if !ok {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(closeWidgetDeleted, "widget deleted"))
		return
	}
	defer untrack()
	th, hasConv, err := w.conversation(cl)
	if err != nil {
		return
	}
	write := func(v any) bool {
		b, _ := json.Marshal(v) // plain structs: cannot fail
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	closeWith := func(code int, reason string) {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason))
	}
	last := bc.LastSeq(ws)
	var (
		sub    *actors.Subscription
		replay []*actors.Envelope
		resync bool
	)
	if hasConv {
		var from *uint64
		if resume != nil && resume.epoch == bc.Epoch() {
			from = &resume.seq
		} else if resume != nil {
			resync = true
		}
		sub, replay, err = bc.Subscribe(ws, actors.Filter{ConversationID: th.ConversationID}, from)
		if errors.Is(err, actors.ErrResync) {
			resync = true
			sub, replay, err = bc.Subscribe(ws, actors.Filter{ConversationID: th.ConversationID}, nil)
		}
		if err != nil {
			closeWith(websocket.CloseGoingAway, "server shutting down")
			return
		}
		defer sub.Close()
	}
	hello := map[string]any{"type": "hello", "epoch": bc.Epoch(), "seq": last}
	if hasConv {
		hello["conversation_id"] = th.ConversationID
	}
	if !write(hello) {
		return
	}
	if resync && !write(map[string]string{"type": "resync"}) {
		return
	}
	for _, env := range replay {
		if f, ok := visitorEvent(env); ok && !write(f) {
			return
		}
	}

	answers := make(chan any, 8)
	done := make(chan struct{})
	go w.read(conn, cl, th.ConversationID, hasConv, answers, done)
	var events <-chan *actors.Envelope
	if sub != nil {
		events = sub.C
	}
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case env, ok := <-events:
			if !ok {
				if sub.Reason() == actors.CloseSlow {
					closeWith(4008, "slow consumer")
				} else {
					closeWith(websocket.CloseGoingAway, "server shutting down")
				}
				return
			}
			if f, ok := visitorEvent(env); ok && !write(f) {
				return
			}
		case a := <-answers:
			if code, ok := a.(closeFrame); ok {
				closeWith(code.code, code.reason)
				return
			}
			if !write(a) {
				return
			}
		case <-ping.C:
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		case <-done:
			return
		case <-gone:
			closeWith(closeWidgetDeleted, "widget deleted")
			return
		case <-w.s.ctx.Done():
			closeWith(websocket.CloseGoingAway, "server shutting down")
			return
		}
	}
}

// closeFrame asks the writer to close the connection.
type closeFrame struct {
	code   int
	reason string
}

// read reads the visitor's frames until the connection fails or a frame
// is refused; it closes done when it returns.
func (w *widgetService) read(conn *websocket.Conn, cl visitorCaller, conv engine.ID, hasConv bool, answers chan<- any, done chan struct{}) {
	defer close(done)
	conn.SetReadLimit(maxVisitorFrame)
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(60 * time.Second)) })
	var lastTyping time.Time
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		f, err := parseVisitorFrame(b)
		if err != nil {
			answers <- closeFrame{4400, "bad frame"}
			return
		}
		if !w.allow(w.byVisit, cl.visitor.ID.String(), w.visitorRate) {
			w.s.metrics.widgetRateLimited.Inc()
			answers <- closeFrame{4429, "too many frames"}
			return
		}
		now := w.s.cfg.Runtime.Clock().Now().UTC()
		switch f.Type {
		case "ping":
			answers <- map[string]string{"type": "pong"}
		case "typing":
			if !hasConv || now.Sub(lastTyping) < 2*time.Second {
				continue
			}
			lastTyping = now
			w.s.cfg.Runtime.Broadcaster().Publish([]engine.Event{{Type: EventTyping, WorkspaceID: cl.widget.WorkspaceID,
				ConversationID: conv, At: now, Data: typingData{ConversationID: conv, From: "visitor"}}})
		case "delivered", "read":
			if hasConv {
				w.seen(cl, conv, f, now)
			}
		}
	}
}

// seen applies a visitor's delivered or read report to a message of its
// own conversation (statuses only move forward: invariant 3). The
// message must be one of the conversation's newest: a report may come
// before the send result that records the message's channel id, and is
// then kept by the runtime until it does (an early status).
func (w *widgetService) seen(cl visitorCaller, conv engine.ID, f visitorFrame, now time.Time) {
	ws := cl.widget.WorkspaceID
	msgs, err := w.s.cfg.Runtime.Messages(ws, conv, 0, 100)
	i := slices.IndexFunc(msgs, func(m engine.Message) bool {
		return m.ID.String() == f.MessageID && m.Direction == engine.DirOut
	})
	if err != nil || i < 0 {
		return
	}
	// A reply emailed while the conversation continued by email is named
	// by its Message-ID; the others by the id the widget gives them.
	chID := webChatMessageID(f.MessageID)
	if id := msgs[i].ChannelMessageID; id != "" {
		chID = id
	}
	st := engine.StatusDelivered
	if f.Type == "read" {
		st = engine.StatusRead
	}
	if err := w.s.cfg.Runtime.ApplyStatus(w.s.ctx, []engine.StatusReport{{WorkspaceID: ws, Channel: engine.ChannelWebChat,
		ChannelMessageID: chID, Status: st, At: now}}); err != nil {
		w.s.log.Warn("widget: a visitor's status report was not applied", "err", err)
	}
}

// webChatMessageID is the channel message id of an outbound web chat
// message (channels.Sender gives it when the message is stored for the
// visitor).
func webChatMessageID(msgID string) string { return "web#" + msgID }

// visitorEvent is the frame an event makes for the visitor; false for
// what the visitor does not see.
func visitorEvent(env *actors.Envelope) (any, bool) {
	ev := &env.Event
	switch {
	case ev.Type == EventTyping:
		d, ok := ev.Data.(typingData)
		if !ok || d.From == "visitor" {
			return nil, false
		}
		return map[string]string{"type": "typing", "from": d.From}, true
	case ev.Data != nil:
		return nil, false
	case (ev.Type == engine.EventMessageCreated || ev.Type == engine.EventMessageUpdated) && ev.Message != nil:
		m, ok := toVisitor(ev.Message)
		if !ok {
			return nil, false
		}
		return struct {
			Type    string         `json:"type"`
			Seq     uint64         `json:"seq"`
			Message visitorMessage `json:"message"`
		}{"message", env.Seq, m}, true
	case (ev.Type == engine.EventConversationUpdated || ev.Type == engine.EventConversationCreated) && ev.Conversation != nil:
		return map[string]any{"type": "conversation", "seq": env.Seq, "mode": ev.Conversation.Mode,
			"seen": ev.Conversation.UnreadCount == 0}, true
	}
	return nil, false
}

// agentTyping publishes that a person is typing in a conversation
// (POST /api/v1/conversations/{conv}/typing): the conversation's visitor
// sees it. Only web chat conversations have someone to tell.
func (s *Server) agentTyping(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	conv, err := s.cfg.Runtime.Conversation(ws, id)
	if err != nil {
		return fromEngine(err)
	}
	if conv.Channel == engine.ChannelWebChat {
		s.cfg.Runtime.Broadcaster().Publish([]engine.Event{{Type: EventTyping, WorkspaceID: ws, ConversationID: id,
			At: s.cfg.Runtime.Clock().Now().UTC(), Data: typingData{ConversationID: id, From: "agent"}}})
	}
	return c.SendStatus(fiber.StatusNoContent)
}
