package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/gateway/web"
	"github.com/parleyhq/parley/persistence"
	"golang.org/x/time/rate"
)

// The web chat widget (README, "Web chat widget"; docs/ARCHITECTURE.md,
// "The web chat widget"). A widget is a webchat channel account with its
// settings (engine.WidgetSettings). Admins manage widgets under
// /api/v1/widgets; a page embeds /widget.js, whose visitor API lives
// under /widget/v1/{widget}: it is separate from the inbox API and takes
// only visitor tokens, which open one visitor's conversation and nothing
// else. Every visitor request and WebSocket must come from one of the
// widget's allowed origins (exact CORS). Visitor messages take the path
// of every channel's inbound messages (Runtime.Ingest, the conversation
// actor); replies reach the visitor's WebSocket from the broadcaster.

const widgetPrefix = "/widget/v1/:widget"

// Limits of the visitor API.
const (
	// defaultVisitorRate bounds one visitor's requests and frames a
	// second (Config.WidgetVisitorRate), in bursts of visitorBurst times
	// as many; an address (shared by the visitors behind it) gets
	// ipFactor times as many.
	defaultVisitorRate = 2
	visitorBurst       = 10
	ipFactor           = 5
	// maxVisitorText bounds a visitor's message (a chat line, not a
	// document).
	maxVisitorText = 4 << 10
	// maxVisitorFile bounds a visitor's upload.
	maxVisitorFile = 10 << 20
	// limiterKeys bounds the keys each limiter map remembers.
	limiterKeys = 1 << 16
)

// widgetService holds the visitor API's rate limiters. A visitor record
// is written once, by the session that makes it, and never changed.
type widgetService struct {
	s *Server
	// visitorRate and ipRate are the limits of a visitor and of an
	// address, a second; their bursts are visitorBurst times as many.
	visitorRate, ipRate float64

	limMu   sync.Mutex
	byIP    map[string]*rate.Limiter
	byVisit map[string]*rate.Limiter

	// conns are the open visitor WebSockets by widget id: each has a
	// channel that deleting its widget closes (its writer then closes
	// the socket with closeWidgetDeleted).
	connMu sync.Mutex
	conns  map[string]map[chan struct{}]struct{}
}

// closeWidgetDeleted is the close code of a visitor's WebSocket whose
// widget was deleted: the widget's script does not reconnect.
const closeWidgetDeleted = 4404

// track registers a visitor WebSocket of widget id; the channel it
// returns is closed when the widget is deleted, and untrack forgets it.
// ok is false when the widget is gone already.
func (w *widgetService) track(ws engine.ID, id string) (gone chan struct{}, untrack func(), ok bool) {
	gone = make(chan struct{})
	w.connMu.Lock()
	if w.conns[id] == nil {
		w.conns[id] = map[chan struct{}]struct{}{}
	}
	w.conns[id][gone] = struct{}{}
	w.connMu.Unlock()
	untrack = func() {
		w.connMu.Lock()
		defer w.connMu.Unlock()
		if m := w.conns[id]; m != nil {
			delete(m, gone)
			if len(m) == 0 {
				delete(w.conns, id)
			}
		}
	}
	// A deletion that ran before the registration found nothing to close.
	if a, found := w.s.cfg.Accounts.Get(engine.ChannelWebChat, id); !found || a.WorkspaceID != ws {
		untrack()
		return nil, nil, false
	}
	return gone, untrack, true
}

// closeWidget closes the open visitor WebSockets of widget id.
func (w *widgetService) closeWidget(id string) int {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	n := 0
	for gone := range w.conns[id] {
		close(gone)
		n++
	}
	delete(w.conns, id)
	return n
}

func (s *Server) widgetRoutes(a *fiber.App, api fiber.Router) {
	r := s.cfg.WidgetVisitorRate
	if r <= 0 {
		r = defaultVisitorRate
	}
	w := &widgetService{s: s, visitorRate: r, ipRate: r * ipFactor, byIP: map[string]*rate.Limiter{}, byVisit: map[string]*rate.Limiter{},
		conns: map[string]map[chan struct{}]struct{}{}}
	s.widget = w
	a.Get("/widget.js", w.script)
	v := a.Group(widgetPrefix, w.cors)
	v.Get("/config", w.config)
	v.Post("/sessions", w.session)
	v.Get("/messages", w.messages)
	v.Post("/messages", w.send)
	v.Post("/files", w.upload)
	v.Get("/files/:seq", w.file)
	v.Get("/ws", w.websocket)
	api.Get("/widgets", requireRole(engine.RoleAdmin), w.list)
	api.Post("/widgets", requireRole(engine.RoleAdmin), w.create)
	api.Get("/widgets/:id", requireRole(engine.RoleAdmin), w.get)
	api.Patch("/widgets/:id", requireRole(engine.RoleAdmin), w.update)
	api.Delete("/widgets/:id", requireRole(engine.RoleAdmin), w.delete)
}

// --- admin API ---

// widgetBody is a widget's create or update body; every field is
// optional but name on create.
type widgetBody struct {
	Name           *string               `json:"name"`
	AllowedOrigins *[]string             `json:"allowed_origins"`
	Color          *string               `json:"color"`
	TextColor      *string               `json:"text_color"`
	Title          *string               `json:"title"`
	Greeting       *string               `json:"greeting"`
	Position       *string               `json:"position"`
	PreChat        *[]engine.WidgetField `json:"pre_chat"`
	Hours          **engine.WidgetHours  `json:"hours"`
	OfflineMessage *string               `json:"offline_message"`
	RotateSecret   *bool                 `json:"rotate_secret"`
}

// parseWidgetBody reads a widget body and applies it to cur.
func parseWidgetBody(raw []byte, cur engine.WidgetSettings, create bool) (engine.WidgetSettings, *widgetBody, error) {
	var b widgetBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return cur, nil, err
	}
	schemas, err := bodySchemas()
	if err != nil {
		return cur, nil, err
	}
	route := "PATCH /api/v1/widgets/{id}"
	if create {
		route = "POST /api/v1/widgets"
	}
	if err := checkBody(schemas[route], raw); err != nil {
		return cur, nil, err
	}
	if create && b.RotateSecret != nil {
		return cur, nil, errorf(fiber.StatusBadRequest, "invalid", "a new widget's secret is made with it")
	}
	n := cur
	set := func(p *string, to *string) {
		if p != nil {
			*to = *p
		}
	}
	set(b.Color, &n.Color)
	set(b.TextColor, &n.TextColor)
	set(b.Title, &n.Title)
	set(b.Greeting, &n.Greeting)
	set(b.Position, &n.Position)
	set(b.OfflineMessage, &n.OfflineMessage)
	if b.AllowedOrigins != nil {
		n.AllowedOrigins = *b.AllowedOrigins
	}
	if b.PreChat != nil {
		n.PreChat = *b.PreChat
	}
	if b.Hours != nil {
		n.Hours = *b.Hours
	} else if hoursNull(raw) {
		n.Hours = nil // "hours": null: always open
	}
	if b.Name != nil && (len(*b.Name) > 256 || strings.TrimSpace(*b.Name) == "") {
		return cur, nil, errorf(fiber.StatusBadRequest, "invalid", "name must be 1 to 256 bytes")
	}
	n, err = n.Clean()
	if err != nil {
		return cur, nil, fromEngine(err)
	}
	return n, &b, nil
}

// hoursNull reports whether a widget body sets hours to null (decoding
// leaves a null **WidgetHours nil, as if it were absent).
func hoursNull(raw []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	v, ok := m["hours"]
	return ok && string(bytes.TrimSpace(v)) == "null"
}

// widgetView is a widget as the admin API shows it: its settings, the
// snippet to paste, and its identity secret only when just made.
type widgetView struct {
	ID        string                `json:"id"`
	Name      string                `json:"name"`
	Settings  engine.WidgetSettings `json:"settings"`
	Snippet   string                `json:"snippet"`
	Secret    string                `json:"secret,omitempty"`
	CreatedAt time.Time             `json:"created_at"`
	UpdatedAt time.Time             `json:"updated_at"`
}

func (w *widgetService) view(c *fiber.Ctx, a engine.ChannelAccount, withSecret bool) widgetView {
	v := widgetView{ID: a.AccountID, Name: a.Name, Settings: *a.Widget, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		Snippet: widgetSnippet(w.s.publicBase(c), a.AccountID)}
	if withSecret {
		v.Secret = a.AccessToken
	}
	return v
}

// widgetSnippet is the script tag a site pastes.
func widgetSnippet(base, id string) string {
	return `<script src="` + base + `/widget.js" data-widget="` + id + `" async></script>`
}

func (w *widgetService) list(c *fiber.Ctx) error {
	out := []widgetView{}
	for _, a := range w.s.cfg.Accounts.Workspace(who(c).WorkspaceID) {
		if a.Channel == engine.ChannelWebChat && a.Widget != nil {
			out = append(out, w.view(c, a, false))
		}
	}
	return c.JSON(fiber.Map{"widgets": out})
}

func (w *widgetService) account(c *fiber.Ctx, id string) (engine.ChannelAccount, error) {
	a, ok := w.s.cfg.Accounts.Get(engine.ChannelWebChat, id)
	if !ok || a.WorkspaceID != who(c).WorkspaceID || a.Widget == nil {
		return a, errNotFound
	}
	return a, nil
}

func (w *widgetService) get(c *fiber.Ctx) error {
	a, err := w.account(c, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(w.view(c, a, false))
}

func (w *widgetService) create(c *fiber.Ctx) error {
	set, b, err := parseWidgetBody(c.Body(), engine.DefaultWidgetSettings(), true)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	a := engine.ChannelAccount{WorkspaceID: who(c).WorkspaceID, Channel: engine.ChannelWebChat, AccountID: "wid_" + randomHex(8),
		Name: strings.TrimSpace(*b.Name), AccessToken: newAPISecret("wsec_"), Widget: &set, CreatedAt: now, UpdatedAt: now}
	if err := w.s.ops.withinLimit(a.WorkspaceID, engine.PlanChannelAccounts, 1, func() error { return w.s.cfg.Accounts.Put(a) }); err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(w.view(c, a, true))
}

func (w *widgetService) update(c *fiber.Ctx) error {
	a, err := w.account(c, c.Params("id"))
	if err != nil {
		return err
	}
	set, b, err := parseWidgetBody(c.Body(), *a.Widget, false)
	if err != nil {
		return err
	}
	a.Widget = &set
	if b.Name != nil {
		a.Name = strings.TrimSpace(*b.Name)
	}
	rotate := b.RotateSecret != nil && *b.RotateSecret
	if rotate {
		a.AccessToken = newAPISecret("wsec_")
	}
	a.UpdatedAt = time.Now().UTC()
	if err := w.s.cfg.Accounts.Put(a); err != nil {
		return fromEngine(err)
	}
	return c.JSON(w.view(c, a, rotate))
}

// delete disconnects a widget: its account goes first (no request or
// socket of it is taken from then on), then its visitors' open sockets
// are closed (closeWidgetDeleted) and its visitor sessions removed. Its
// conversations stay in the inbox. A deletion cut short between the two
// is finished by deleting again.
func (w *widgetService) delete(c *fiber.Ctx) error {
	ws, id := who(c).WorkspaceID, c.Params("id")
	err := w.s.cfg.Accounts.Delete(ws, engine.ChannelWebChat, id)
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	closed := 0
	if err == nil { // another workspace's widget of that id is not ours to close
		closed = w.closeWidget(id)
	}
	removed, derr := w.s.cfg.Store.DeleteWidgetVisitors(ws, id)
	if derr != nil {
		return fmt.Errorf("deleting the widget's visitors: %w", derr)
	}
	if err != nil && removed == 0 {
		return err // nothing of it was left
	}
	w.s.log.Info("Widget deleted", "widget", id, "sockets_closed", closed, "visitors_removed", removed)
	return c.SendStatus(fiber.StatusNoContent)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// --- visitor API ---

var (
	errUnknownWidget = errorf(fiber.StatusNotFound, "unknown_widget", "no such widget")
	errOrigin        = errorf(fiber.StatusForbidden, "origin_refused", "this page's origin is not one of the widget's allowed origins")
	errVisitor       = errorf(fiber.StatusUnauthorized, "unauthorized", "a valid visitor token of this widget is required (Authorization: Bearer <token>, or the token query parameter)")
)

// widgetOf is the widget of the request's path.
func (w *widgetService) widgetOf(c *fiber.Ctx) (engine.ChannelAccount, error) {
	a, ok := w.s.cfg.Accounts.Get(engine.ChannelWebChat, c.Params("widget"))
	if !ok || a.Widget == nil {
		return a, errUnknownWidget
	}
	return a, nil
}

// cors checks every visitor request's origin against the widget's
// allowed origins, exactly, and answers the browser's preflight. A
// request without an Origin header is not a browser's cross-origin one
// (browsers send it on every cross-origin request and every WebSocket),
// so it passes: the origin check keeps other sites' pages out, the
// visitor token keeps out everyone else. The per-address rate limit
// applies to every request.
func (w *widgetService) cors(c *fiber.Ctx) error {
	a, err := w.widgetOf(c)
	if err != nil {
		return err
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin != "" {
		if !a.Widget.OriginAllowed(origin) {
			w.s.metrics.widgetRefusedOrigins.Inc()
			return errOrigin
		}
		h := &c.Response().Header
		h.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		h.Add(fiber.HeaderVary, fiber.HeaderOrigin)
		h.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
		h.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST")
		h.Set(fiber.HeaderAccessControlMaxAge, "600")
		// The widget's files are shown in the embedding page.
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	if c.Method() == fiber.MethodOptions {
		return c.SendStatus(fiber.StatusNoContent)
	}
	if !w.allow(w.byIP, "ip:"+c.IP(), w.ipRate) {
		return w.limited()
	}
	return c.Next()
}

func (w *widgetService) limited() error {
	w.s.metrics.widgetRateLimited.Inc()
	return errorf(fiber.StatusTooManyRequests, "rate_limited", "too many requests: slow down")
}

// allow takes a token of key's limiter in m (made with rate r and a
// burst of visitorBurst times r the first time), on the runtime's clock.
func (w *widgetService) allow(m map[string]*rate.Limiter, key string, r float64) bool {
	w.limMu.Lock()
	defer w.limMu.Unlock()
	l, ok := m[key]
	if !ok {
		if len(m) >= limiterKeys {
			clear(m) // forget everyone rather than grow without bound
		}
		l = rate.NewLimiter(rate.Limit(r), int(r*visitorBurst))
		m[key] = l
	}
	return l.AllowN(w.s.cfg.Runtime.Clock().Now(), 1)
}

// widgetConfig is what the widget script needs to draw itself.
type widgetConfig struct {
	ID             string               `json:"id"`
	Color          string               `json:"color"`
	TextColor      string               `json:"text_color"`
	Title          string               `json:"title"`
	Greeting       string               `json:"greeting"`
	Position       string               `json:"position"`
	PreChat        []engine.WidgetField `json:"pre_chat"`
	Open           bool                 `json:"open"`
	OfflineMessage string               `json:"offline_message"`
}

func (w *widgetService) config(c *fiber.Ctx) error {
	a, err := w.widgetOf(c)
	if err != nil {
		return err
	}
	st := a.Widget
	return c.JSON(widgetConfig{ID: a.AccountID, Color: st.Color, TextColor: st.TextColor, Title: st.Title, Greeting: st.Greeting,
		Position: st.Position, PreChat: st.PreChat, Open: st.Open(w.s.cfg.Runtime.Clock().Now()), OfflineMessage: st.OfflineMessage})
}

// sessionBody starts or resumes a visitor session.
type sessionBody struct {
	PageURL   string `json:"page_url"`
	VisitorID string `json:"visitor_id"`
	Token     string `json:"token"`
	UserID    string `json:"user_id"`
	UserHash  string `json:"user_hash"`
}

// sessionAnswer is a visitor's session: the token to keep, and whether
// the site's user id was verified.
type sessionAnswer struct {
	VisitorID      string    `json:"visitor_id"`
	Token          string    `json:"token"`
	Verified       bool      `json:"verified"`
	ConversationID engine.ID `json:"conversation_id,omitzero"`
}

// parseSessionBody reads a session body.
func parseSessionBody(raw []byte) (sessionBody, error) {
	var b sessionBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, err
	}
	schemas, err := bodySchemas()
	if err != nil {
		return b, err
	}
	return b, checkBody(schemas["POST /widget/v1/{widget}/sessions"], raw)
}

// visitorToken is what a visitor's browser keeps: the visitor id and a
// secret, "<id>.<secret>".
func visitorToken(id engine.ID, secret string) string { return id.String() + "." + secret }

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// visitorOf checks a visitor token of widget a.
func (w *widgetService) visitorOf(a engine.ChannelAccount, token string) (engine.Visitor, bool) {
	idPart, secret, ok := strings.Cut(token, ".")
	if !ok {
		return engine.Visitor{}, false
	}
	id, err := engine.ParseID(idPart)
	if err != nil {
		return engine.Visitor{}, false
	}
	v, err := w.s.cfg.Store.Visitor(a.WorkspaceID, id)
	if err != nil || v.WidgetID != a.AccountID ||
		subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(v.TokenHash)) != 1 {
		return engine.Visitor{}, false
	}
	return v, true
}

// session starts a visitor session, or resumes the one whose token the
// browser kept. With user_id and a user_hash that verifies it, the
// conversation is the user's on every device; an unverified claim is
// ignored (the visitor stays anonymous).
func (w *widgetService) session(c *fiber.Ctx) error {
	a, err := w.widgetOf(c)
	if err != nil {
		return err
	}
	b, err := parseSessionBody(c.Body())
	if err != nil {
		return err
	}
	var (
		v     engine.Visitor
		token string
	)
	if b.VisitorID != "" && b.Token != "" && strings.HasPrefix(b.Token, b.VisitorID+".") {
		if old, ok := w.visitorOf(a, b.Token); ok {
			v, token = old, b.Token
		}
	}
	if token == "" {
		secret := randomHex(24)
		now := w.s.cfg.Runtime.Clock().Now().UTC()
		v = engine.Visitor{ID: engine.NewID(now), WorkspaceID: a.WorkspaceID, WidgetID: a.AccountID, TokenHash: hashSecret(secret), CreatedAt: now}
		batch := w.s.cfg.Store.NewBatch()
		batch.PutVisitor(&v)
		if err := w.s.cfg.Store.Commit(batch); err != nil {
			return fmt.Errorf("storing a visitor: %w", err)
		}
		token = visitorToken(v.ID, secret)
	}
	verified := engine.VerifyWidgetUser(a.AccessToken, b.UserID, b.UserHash)
	ans := sessionAnswer{VisitorID: v.ID.String(), Token: token, Verified: verified}
	if th, ok, err := w.s.cfg.Store.LookupThread(a.WorkspaceID, a.AccountID, visitorExt(v, b.UserID, verified)); err != nil {
		return err
	} else if ok {
		ans.ConversationID = th.ConversationID
	}
	return c.JSON(ans)
}

// visitorExt is the external user id of visitor v: the verified user's
// when the site signed one.
func visitorExt(v engine.Visitor, userID string, verified bool) string {
	if verified {
		return engine.VerifiedExternalID(userID)
	}
	return engine.VisitorExternalID(v.ID)
}

// visitorCaller is a visitor request's widget, visitor and external user id.
type visitorCaller struct {
	widget  engine.ChannelAccount
	visitor engine.Visitor
	ext     string
}

// visitor authenticates a visitor request: the visitor token as the
// bearer (or the token query parameter), and the signed user id
// (X-Parley-User and X-Parley-User-Hash headers, or the user and
// user_hash query parameters) when there is one.
func (w *widgetService) visitor(c *fiber.Ctx) (visitorCaller, error) {
	a, err := w.widgetOf(c)
	if err != nil {
		return visitorCaller{}, err
	}
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok {
		token = c.Query("token")
	}
	v, ok := w.visitorOf(a, token)
	if !ok {
		return visitorCaller{}, errVisitor
	}
	if !w.allow(w.byVisit, v.ID.String(), w.visitorRate) {
		return visitorCaller{}, w.limited()
	}
	user, hash := c.Get("X-Parley-User"), c.Get("X-Parley-User-Hash")
	if user == "" {
		user, hash = c.Query("user"), c.Query("user_hash")
	}
	verified := engine.VerifyWidgetUser(a.AccessToken, user, hash)
	return visitorCaller{widget: a, visitor: v, ext: visitorExt(v, user, verified)}, nil
}

// conversation is the caller's conversation, if it has one yet.
func (w *widgetService) conversation(cl visitorCaller) (persistence.Thread, bool, error) {
	return w.s.cfg.Store.LookupThread(cl.widget.WorkspaceID, cl.widget.AccountID, cl.ext)
}

// visitorMessage is a message as the visitor sees it: no reasoning, no
// user ids, no channel ids, the file by its visitor URL.
type visitorMessage struct {
	ID        engine.ID             `json:"id"`
	Seq       uint64                `json:"seq"`
	From      string                `json:"from"`
	Kind      engine.MessageKind    `json:"kind"`
	Text      string                `json:"text,omitempty"`
	File      *visitorFile          `json:"file,omitempty"`
	Status    engine.DeliveryStatus `json:"status,omitempty"`
	CreatedAt time.Time             `json:"created_at"`
}

type visitorFile struct {
	Name     string `json:"name"`
	MimeType string `json:"mime_type"`
	Size     int64  `json:"size"`
	Caption  string `json:"caption,omitempty"`
}

// toVisitor shows m to the visitor; false for what the visitor does not
// see (system lines).
func toVisitor(m *engine.Message) (visitorMessage, bool) {
	from := "visitor"
	switch {
	case m.Sender.Kind == engine.SenderSystem:
		return visitorMessage{}, false
	case m.Direction == engine.DirOut && m.Sender.Kind == engine.SenderAI:
		from = "ai"
	case m.Direction == engine.DirOut:
		from = "agent"
	}
	v := visitorMessage{ID: m.ID, Seq: m.Seq, From: from, Kind: m.Kind, Text: m.Text, Status: m.Status, CreatedAt: m.CreatedAt}
	if md := m.Media; md != nil {
		v.File = &visitorFile{Name: md.Filename, MimeType: md.MimeType, Size: md.Size, Caption: md.Caption}
		if v.Text == "" {
			v.Text = md.Caption
		}
	}
	return v, true
}

// messages lists the visitor's conversation, newest first, 50 at a time
// (before: the seq to page back from).
func (w *widgetService) messages(c *fiber.Ctx) error {
	cl, err := w.visitor(c)
	if err != nil {
		return err
	}
	out := []visitorMessage{}
	th, ok, err := w.conversation(cl)
	if err != nil || !ok {
		if err == nil {
			return c.JSON(fiber.Map{"messages": out, "mode": engine.ModeAI})
		}
		return err
	}
	var before uint64
	if q := c.Query("before"); q != "" {
		if before, err = strconv.ParseUint(q, 10, 64); err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "before must be a message seq")
		}
	}
	msgs, err := w.s.cfg.Runtime.Messages(cl.widget.WorkspaceID, th.ConversationID, before, 50)
	if err != nil {
		return fromEngine(err)
	}
	for i := range msgs {
		if v, ok := toVisitor(&msgs[i]); ok {
			out = append(out, v)
		}
	}
	conv, err := w.s.cfg.Runtime.Conversation(cl.widget.WorkspaceID, th.ConversationID)
	if err != nil {
		return fromEngine(err)
	}
	ans := fiber.Map{"messages": out, "conversation_id": th.ConversationID, "mode": conv.Mode, "seen": conv.UnreadCount == 0}
	if conv.EmailTo != "" {
		ans["email_to"] = conv.EmailTo // the visitor's own address: replies go there by email
	}
	return c.JSON(ans)
}

// visitorForm is the pre-chat form (or the offline form) sent with a
// visitor's first message.
type visitorForm struct {
	Name   *string           `json:"name"`
	Email  *string           `json:"email"`
	Phone  *string           `json:"phone"`
	Fields map[string]string `json:"fields"`
}

// visitorMessageBody is a visitor's message.
type visitorMessageBody struct {
	ClientID string       `json:"client_id"`
	Text     string       `json:"text"`
	PageURL  string       `json:"page_url"`
	Referrer string       `json:"referrer"`
	Browser  string       `json:"browser"`
	Form     *visitorForm `json:"form"`
}

// parseVisitorMessage reads a visitor's message and checks what the
// schema cannot: a client id and some text within the limits, and a
// form whose details are valid. It returns the contact change the form
// asks for (nil for none).
func parseVisitorMessage(raw []byte, withFile bool) (visitorMessageBody, *engine.ContactPatch, error) {
	var b visitorMessageBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, nil, err
	}
	schemas, err := bodySchemas()
	if err != nil {
		return b, nil, err
	}
	if err := checkBody(schemas["POST /widget/v1/{widget}/messages"], raw); err != nil {
		return b, nil, err
	}
	b.Text = strings.TrimSpace(b.Text)
	switch {
	case strings.TrimSpace(b.ClientID) == "":
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "client_id must not be blank")
	case !withFile && b.Text == "":
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "text must not be blank")
	case len(b.Text) > maxVisitorText:
		return b, nil, errorf(fiber.StatusRequestEntityTooLarge, "too_large", "a message is at most %d bytes", maxVisitorText)
	}
	if b.Form == nil {
		return b, nil, nil
	}
	p := engine.ContactPatch{Email: b.Form.Email, Phone: b.Form.Phone}
	if len(b.Form.Fields) > engine.MaxWidgetFields {
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "at most %d form fields", engine.MaxWidgetFields)
	}
	for k, v := range b.Form.Fields {
		if p.CustomFields == nil {
			p.CustomFields = map[string]*string{}
		}
		p.CustomFields[k] = &v
	}
	if _, err := engine.PatchContact(engine.Contact{Source: engine.SourceForm}, p, time.Time{}); err != nil {
		return b, nil, fromEngine(err)
	}
	if p.Email == nil && p.Phone == nil && p.CustomFields == nil {
		return b, nil, nil
	}
	return b, &p, nil
}

// send stores a visitor's text message once (a replay of its client_id
// answers the stored message with 200) and answers 201 once committed.
func (w *widgetService) send(c *fiber.Ctx) error {
	cl, err := w.visitor(c)
	if err != nil {
		return err
	}
	b, patch, err := parseVisitorMessage(c.Body(), false)
	if err != nil {
		return err
	}
	return w.ingest(c, cl, b, patch, engine.Content{Kind: engine.KindText, Text: b.Text})
}

// upload stores a visitor's file: a multipart body with a payload part
// (the message JSON, its text the caption) and a file part.
func (w *widgetService) upload(c *fiber.Ctx) error {
	cl, err := w.visitor(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		return errorf(fiber.StatusBadRequest, "bad_upload", "a multipart/form-data body with payload and file parts is required")
	}
	b, patch, err := parseVisitorMessage([]byte(c.FormValue("payload")), true)
	if err != nil {
		return err
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return errorf(fiber.StatusBadRequest, "bad_upload", "a multipart \"file\" part is required")
	}
	if fh.Size > maxVisitorFile {
		return errorf(fiber.StatusRequestEntityTooLarge, "too_large", "a file is at most %d bytes", maxVisitorFile)
	}
	content, err := w.s.uploadContent(c, cl.widget.WorkspaceID)
	if err != nil {
		return err
	}
	defer w.s.media.Unpin(cl.widget.WorkspaceID, content.Media.SHA256)
	content.Media.Caption = b.Text
	if content.Kind == engine.KindSticker {
		content.Kind = engine.KindImage
	}
	return w.ingest(c, cl, b, patch, content)
}

// ingest hands a visitor's message to its conversation's actor, the path
// of every channel's inbound message, then applies the form to the
// contact through the contact's actor.
func (w *widgetService) ingest(c *fiber.Ctx, cl visitorCaller, b visitorMessageBody, patch *engine.ContactPatch, content engine.Content) error {
	a := cl.widget
	in := engine.Inbound{WorkspaceID: a.WorkspaceID, Channel: engine.ChannelWebChat, ChannelAccountID: a.AccountID,
		ExternalUserID: cl.ext, ChannelMessageID: cl.visitor.ID.String() + "/" + b.ClientID, Content: content,
		SentAt: w.s.cfg.Runtime.Clock().Now().UTC(), Referral: engine.WidgetAttribution(b.PageURL, b.Referrer)}
	var formEmail string
	if b.Form != nil {
		in.Source = engine.SourceForm
		if b.Form.Name != nil {
			in.ContactName = strings.TrimSpace(*b.Form.Name)
		}
		if b.Form.Email != nil {
			formEmail = *b.Form.Email
		}
	}
	in.EmailTo = engine.WidgetEmailContinuation(a.Widget.Open(in.SentAt), formEmail, w.emailAccount(a.WorkspaceID))
	if err := in.Validate(); err != nil {
		return fromEngine(err)
	}
	res, err := w.s.cfg.Runtime.Ingest(c.UserContext(), []engine.Inbound{in})
	if err != nil {
		return w.s.retryLater(c, err)
	}
	r := res[0]
	switch {
	case r.Err != nil && errors.Is(r.Err, engine.ErrInvalid):
		return fromEngine(r.Err)
	case r.Err != nil:
		return w.s.retryLater(c, r.Err)
	}
	if !r.Duplicate {
		w.s.metrics.widgetMessages.WithLabelValues("inbound").Inc()
		th, ok, err := w.conversation(cl)
		if err != nil {
			return err
		}
		if ok {
			var browser *string
			if ua := strings.TrimSpace(b.Browser); ua != "" {
				browser = &ua
			}
			if patch == nil && browser != nil {
				patch = &engine.ContactPatch{}
			}
			if patch != nil {
				if browser != nil {
					if patch.CustomFields == nil {
						patch.CustomFields = map[string]*string{}
					}
					patch.CustomFields["browser"] = browser
				}
				if _, err := w.s.cfg.Runtime.UpdateContact(c.UserContext(), a.WorkspaceID, th.ContactID, *patch); err != nil {
					w.s.log.Warn("widget: the visitor's details were not saved", "widget", a.AccountID, "err", err)
				}
			}
		}
	}
	msg, err := w.s.cfg.Store.Message(a.WorkspaceID, r.ConversationID, r.Seq)
	if err != nil {
		return err
	}
	v, _ := toVisitor(&msg)
	status := fiber.StatusCreated
	if r.Duplicate {
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(fiber.Map{"message": v, "conversation_id": r.ConversationID, "duplicate": r.Duplicate})
}

// emailAccount is the email account through which the workspace's
// offline widget conversations continue: the first connected one by
// address ("" when it has none).
func (w *widgetService) emailAccount(ws engine.ID) string {
	var id string
	for _, a := range w.s.cfg.Accounts.Workspace(ws) {
		if a.Channel == engine.ChannelEmail && (id == "" || a.AccountID < id) {
			id = a.AccountID
		}
	}
	return id
}

// file serves a file of the visitor's conversation (the token in the
// query: an <img> sends no header).
func (w *widgetService) file(c *fiber.Ctx) error {
	cl, err := w.visitor(c)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(c.Params("seq"), 10, 64)
	if err != nil {
		return errNotFound
	}
	th, ok, err := w.conversation(cl)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound
	}
	msg, err := w.s.cfg.Store.Message(cl.widget.WorkspaceID, th.ConversationID, seq)
	if err != nil || msg.Media == nil || msg.Media.StorageKey == "" || msg.Sender.Kind == engine.SenderSystem {
		return errNotFound
	}
	_, digest, _ := strings.Cut(msg.Media.StorageKey, "/")
	f, typ, err := w.s.media.Open(cl.widget.WorkspaceID, digest)
	if err != nil {
		return errNotFound
	}
	if !strings.HasPrefix(typ, "image/") && !strings.HasPrefix(typ, "video/") && !strings.HasPrefix(typ, "audio/") {
		c.Attachment(msg.Media.Filename)
	}
	return sendFile(c, f, media.SanitizeMime(typ), "private, max-age=3600")
}

// script serves the widget's script, embedded in the binary.
func (w *widgetService) script(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set("Cross-Origin-Resource-Policy", "cross-origin")
	return c.Send(web.WidgetScript())
}

// widgetTap counts the replies handed to visitors: a web chat message
// becoming sent (it happens once per message).
func (s *Server) widgetTap(events []engine.Event) {
	for i := range events {
		m := events[i].Message
		if events[i].Type == engine.EventMessageUpdated && m != nil && m.Status == engine.StatusSent &&
			strings.HasPrefix(m.ChannelMessageID, "web#") {
			s.metrics.widgetMessages.WithLabelValues("outbound").Inc()
		}
	}
}

// widgetChecker is the web chat widget's health check: the widget is
// served by Parley itself, so it is connected once a site may embed it
// (an allowed origin), in error before.
type widgetChecker struct{}

func (widgetChecker) Check(_ context.Context, acct engine.ChannelAccount) engine.HealthResult {
	if acct.Widget == nil || len(acct.Widget.AllowedOrigins) == 0 {
		return engine.HealthResult{State: engine.HealthError, Code: "no_allowed_origins",
			Reason: "no allowed origin: no website can embed the widget yet (Settings › Chat widget)"}
	}
	return engine.HealthResult{State: engine.HealthConnected}
}
