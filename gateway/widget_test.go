package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

const shopOrigin = "https://shop.example"

// widgetEnv is a server with the rules agent answering, a metrics
// registry, and a widget that allows shopOrigin.
type widgetEnv struct {
	*env
	reg    *prometheus.Registry
	id     string
	secret string
}

func newWidgetEnv(t *testing.T, clock clockwork.Clock) *widgetEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) {
		r, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents = r
		c.AIDebounce = -1
		if clock != nil {
			c.Clock = clock
		}
	}, func(c *gateway.Config) { c.Registerer, c.Gatherer = reg, reg })
	w := &widgetEnv{env: e, reg: reg}
	code, body := e.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "Shop", "allowed_origins": []string{shopOrigin},
		"greeting": "Hello <b>there</b>"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var v struct {
		ID, Secret, Snippet string
	}
	require.NoError(t, json.Unmarshal(body, &v))
	require.NotEmpty(t, v.Secret, "shown when made")
	require.Contains(t, v.Snippet, `/widget.js" data-widget="`+v.ID+`" async></script>`)
	w.id, w.secret = v.ID, v.Secret
	return w
}

// visitor calls the visitor API from origin (none when "").
func (w *widgetEnv) visitor(method, path, origin, token string, body any, hdr ...string) (int, []byte, http.Header) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(w.t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, w.url+"/widget/v1/"+w.id+path, rd)
	require.NoError(w.t, err)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.client.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	return resp.StatusCode, b, resp.Header
}

// settledDigest waits until the store stops changing (the background
// work a message sets off: the AI's reply, the search index, the
// language detector's contact writes) and returns its digest.
func (w *widgetEnv) settledDigest() string {
	w.t.Helper()
	before := w.storeDigest()
	eventually(w.t, 15*time.Second, func() error {
		time.Sleep(300 * time.Millisecond)
		if now := w.storeDigest(); now != before {
			before = now
			return fmt.Errorf("the store is still changing")
		}
		return nil
	})
	return before
}

type visitorSession struct {
	VisitorID      string `json:"visitor_id"`
	Token          string `json:"token"`
	Verified       bool   `json:"verified"`
	ConversationID string `json:"conversation_id"`
}

func (w *widgetEnv) session(body map[string]any) visitorSession {
	w.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["page_url"] = shopOrigin + "/"
	code, b, _ := w.visitor("POST", "/sessions", shopOrigin, "", body)
	require.Equal(w.t, http.StatusOK, code, string(b))
	var s visitorSession
	require.NoError(w.t, json.Unmarshal(b, &s))
	return s
}

type visitorMsg struct {
	ID     string `json:"id"`
	Seq    uint64 `json:"seq"`
	From   string `json:"from"`
	Text   string `json:"text"`
	Status string `json:"status"`
	File   *struct {
		Name string `json:"name"`
	} `json:"file"`
}

// say sends a visitor's text and returns the conversation's id.
func (w *widgetEnv) say(s visitorSession, clientID, text string, extra map[string]any, hdr ...string) string {
	w.t.Helper()
	body := map[string]any{"client_id": clientID, "text": text}
	for k, v := range extra {
		body[k] = v
	}
	code, b, _ := w.visitor("POST", "/messages", shopOrigin, s.Token, body, hdr...)
	require.Equal(w.t, http.StatusCreated, code, string(b))
	var ans struct {
		ConversationID string `json:"conversation_id"`
	}
	require.NoError(w.t, json.Unmarshal(b, &ans))
	return ans.ConversationID
}

type visitorWS struct {
	t    *testing.T
	conn *websocket.Conn
}

func (w *widgetEnv) dialVisitor(origin, query string) (*visitorWS, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(w.url, "http")+"/widget/v1/"+w.id+"/ws?"+query, h)
	if err != nil {
		return nil, resp, err
	}
	w.t.Cleanup(func() { conn.Close() })
	return &visitorWS{t: w.t, conn: conn}, resp, nil
}

type visitorEvent struct {
	Type           string     `json:"type"`
	Seq            uint64     `json:"seq"`
	Epoch          string     `json:"epoch"`
	ConversationID string     `json:"conversation_id"`
	Mode           string     `json:"mode"`
	From           string     `json:"from"`
	Message        visitorMsg `json:"message"`
}

func (v *visitorWS) next() visitorEvent {
	v.t.Helper()
	_ = v.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := v.conn.ReadMessage()
	require.NoError(v.t, err)
	var ev visitorEvent
	require.NoError(v.t, json.Unmarshal(b, &ev), string(b))
	return ev
}

// until reads events until one passes f.
func (v *visitorWS) until(f func(visitorEvent) bool) visitorEvent {
	v.t.Helper()
	for {
		if ev := v.next(); f(ev) {
			return ev
		}
	}
}

func (v *visitorWS) send(frame string) {
	v.t.Helper()
	require.NoError(v.t, v.conn.WriteMessage(websocket.TextMessage, []byte(frame)))
}

// A visitor chats: the AI answers over the visitor's WebSocket, the
// visitor's read report reaches the inbox, a person takes over and
// replies from the inbox API, the visitor sees it live and the typing
// both ways, and a reconnection resuming from the last seq seen gets
// what was missed. The conversation is the channel's like any other.
func TestWidgetVisitorChat(t *testing.T) {
	t.Parallel()
	w := newWidgetEnv(t, nil)

	code, b, _ := w.visitor("GET", "/config", shopOrigin, "", nil)
	require.Equal(t, http.StatusOK, code, string(b))
	require.Contains(t, string(b), `"greeting":"Hello \u003cb\u003ethere\u003c/b\u003e"`, "text, escaped as JSON; the widget shows it as text")
	require.NotContains(t, string(b), w.secret)

	s := w.session(nil)
	require.False(t, s.Verified)
	require.Empty(t, s.ConversationID)
	// No conversation yet: a hello, and the visitor reconnects after its
	// first message, resuming from the hello's seq.
	first, _, err := w.dialVisitor(shopOrigin, "token="+url.QueryEscape(s.Token))
	require.NoError(t, err)
	hello := first.next()
	require.Equal(t, "hello", hello.Type)
	require.Empty(t, hello.ConversationID)

	page := shopOrigin + "/boots?utm_source=news&utm_medium=email&utm_campaign=winter"
	conv := w.say(s, "c1", "hi there", map[string]any{"page_url": page, "referrer": "https://www.google.com/", "browser": "Firefox 140 on Linux"})
	require.NotEmpty(t, conv)
	convID, err := engine.ParseID(conv)
	require.NoError(t, err)
	live, _, err := w.dialVisitor(shopOrigin, fmt.Sprintf("token=%s&epoch=%s&seq=%d", url.QueryEscape(s.Token), hello.Epoch, hello.Seq))
	require.NoError(t, err)
	require.Equal(t, conv, live.next().ConversationID)
	mine := live.until(func(ev visitorEvent) bool { return ev.Type == "message" && ev.Message.From == "visitor" })
	require.Equal(t, "hi there", mine.Message.Text, "replayed from the resume point")
	ai := live.until(func(ev visitorEvent) bool { return ev.Type == "message" && ev.Message.From == "ai" })
	require.Equal(t, agents.DefaultGreeting, ai.Message.Text)

	// The visitor saw it: delivered, then read, in the inbox.
	live.send(`{"type":"read","message_id":"` + ai.Message.ID + `"}`)
	eventually(t, 5*time.Second, func() error {
		for _, m := range w.messages(convID) {
			if m.ID.String() == ai.Message.ID && m.Status != engine.StatusRead {
				return fmt.Errorf("status %s", m.Status)
			}
		}
		return nil
	})

	// The inbox sees the conversation like any channel's, with the
	// campaign of the page and the browser on the contact.
	c := w.conv(convID)
	require.Equal(t, engine.ChannelWebChat, c.Channel)
	require.Equal(t, w.id, c.ChannelAccountID)
	require.NotNil(t, c.Campaign)
	require.Equal(t, "winter", c.Campaign.Ref)
	require.Equal(t, "news / email", c.Campaign.Headline)
	ct, err := w.store.Contact(w.ws, c.ContactID)
	require.NoError(t, err)
	require.Equal(t, engine.SourceChat, ct.Source, "no form: chat")
	require.Equal(t, "Firefox 140 on Linux", ct.CustomFields["browser"])

	// A person takes over and replies; the visitor sees the mode and
	// the reply live, and the person typing.
	code, b = w.api("POST", "/api/v1/conversations/"+conv+"/takeover", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	live.until(func(ev visitorEvent) bool { return ev.Type == "conversation" && ev.Mode == "manual" })
	code, b = w.api("POST", "/api/v1/conversations/"+conv+"/typing", ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(b))
	require.Equal(t, "agent", live.until(func(ev visitorEvent) bool { return ev.Type == "typing" }).From)
	code, b = w.api("POST", "/api/v1/conversations/"+conv+"/messages", ownerToken, map[string]any{"text": "Hi, Sam here <script>"})
	require.Equal(t, http.StatusCreated, code, string(b))
	human := live.until(func(ev visitorEvent) bool { return ev.Type == "message" && ev.Message.From == "agent" })
	require.Equal(t, "Hi, Sam here <script>", human.Message.Text, "text as written: the widget shows text, never HTML")

	// The visitor typing reaches the inbox's WebSocket.
	// The inbox's hello comes before its subscription: resume from it.
	probe, _, err := w.dialWS("token=" + ownerToken + "&conversation_id=" + conv)
	require.NoError(t, err)
	ih := probe.frames()[0]
	inbox, _, err := w.dialWS(fmt.Sprintf("token=%s&conversation_id=%s&epoch=%s&seq=%d", ownerToken, conv, ih.Epoch, ih.Seq))
	require.NoError(t, err)
	inbox.frames() // hello
	live.send(`{"type":"typing"}`)
	sawTyping := false
	for deadline := time.Now().Add(10 * time.Second); !sawTyping && time.Now().Before(deadline); {
		_ = inbox.conn.SetReadDeadline(deadline)
		_, frame, err := inbox.conn.ReadMessage()
		require.NoError(t, err, "the inbox hears the visitor typing")
		sawTyping = strings.Contains(string(frame), `"type":"`+string(gateway.EventTyping)+`"`) && strings.Contains(string(frame), `"from":"visitor"`)
	}
	require.True(t, sawTyping)

	// Disconnected, the visitor misses a reply; resuming from the last
	// seq it saw, it gets it.
	lastSeen := human.Seq
	require.NoError(t, live.conn.Close())
	code, b = w.api("POST", "/api/v1/conversations/"+conv+"/messages", ownerToken, map[string]any{"text": "Are you still there?"})
	require.Equal(t, http.StatusCreated, code, string(b))
	back, _, err := w.dialVisitor(shopOrigin, fmt.Sprintf("token=%s&epoch=%s&seq=%d", url.QueryEscape(s.Token), hello.Epoch, lastSeen))
	require.NoError(t, err)
	require.Equal(t, "Are you still there?", back.until(func(ev visitorEvent) bool {
		return ev.Type == "message" && ev.Message.From == "agent" && ev.Message.Text != human.Message.Text
	}).Message.Text)
	// Another epoch's seq: resync, then reload over REST.
	stale, _, err := w.dialVisitor(shopOrigin, "token="+url.QueryEscape(s.Token)+"&epoch=other&seq=3")
	require.NoError(t, err)
	stale.next()
	require.Equal(t, "resync", stale.next().Type)

	// The same client_id again (a retry after a lost answer) is stored
	// once.
	code, b, _ = w.visitor("POST", "/messages", shopOrigin, s.Token, map[string]any{"client_id": "c1", "text": "hi there"})
	require.Equal(t, http.StatusOK, code, string(b))
	require.Contains(t, string(b), `"duplicate":true`)

	// The thread over REST, as the widget reloads it: no system lines,
	// no reasoning, no channel ids.
	code, b, _ = w.visitor("GET", "/messages", shopOrigin, s.Token, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	var list struct {
		Messages []visitorMsg `json:"messages"`
		Mode     string       `json:"mode"`
	}
	require.NoError(t, json.Unmarshal(b, &list))
	var texts []string
	for _, m := range list.Messages {
		texts = append(texts, m.From+": "+m.Text)
	}
	require.Equal(t, []string{"agent: Are you still there?", "agent: Hi, Sam here <script>", "ai: " + agents.DefaultGreeting, "visitor: hi there"}, texts)
	require.Equal(t, "manual", list.Mode)
	require.NotContains(t, string(b), "web#")
	require.NotContains(t, string(b), "reasoning")

	// Another visitor's token opens nothing of this one.
	other := w.session(nil)
	code, b, _ = w.visitor("GET", "/messages", shopOrigin, other.Token, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(b), `"messages":[]`)
	// An inbox token is no visitor token, and a visitor token no inbox one.
	code, _, _ = w.visitor("GET", "/messages", shopOrigin, ownerToken, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = w.api("GET", "/api/v1/conversations", s.Token, nil)
	require.Equal(t, http.StatusUnauthorized, code)

	// A file, and its download by the visitor.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	require.NoError(t, mw.WriteField("payload", `{"client_id":"f1","text":"my receipt"}`))
	fw, err := mw.CreateFormFile("file", "receipt.txt")
	require.NoError(t, err)
	_, _ = fw.Write([]byte("paid 10 EUR"))
	require.NoError(t, mw.Close())
	req, err := http.NewRequest("POST", w.url+"/widget/v1/"+w.id+"/files", &mp)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Origin", shopOrigin)
	code, b = w.do(req)
	require.Equal(t, http.StatusCreated, code, string(b))
	var up struct {
		Message visitorMsg `json:"message"`
	}
	require.NoError(t, json.Unmarshal(b, &up))
	require.Equal(t, "receipt.txt", up.Message.File.Name)
	code, b, _ = w.visitor("GET", fmt.Sprintf("/files/%d?token=%s", up.Message.Seq, url.QueryEscape(s.Token)), shopOrigin, "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "paid 10 EUR", string(b))
	code, _, _ = w.visitor("GET", fmt.Sprintf("/files/%d?token=%s", up.Message.Seq, url.QueryEscape(other.Token)), shopOrigin, "", nil)
	require.Equal(t, http.StatusNotFound, code, "another visitor's conversation")

	mt := func(name string) string {
		code, b := w.api("GET", "/metrics", "", nil)
		require.Equal(t, http.StatusOK, code)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return ""
	}
	require.Equal(t, "2", mt(`parley_widget_messages_total{direction="inbound"}`))
	require.Equal(t, "3", mt(`parley_widget_messages_total{direction="outbound"}`))
	require.Positive(t, metricValue(t, w.reg, "parley_widget_visitor_sessions"), "sockets are open")
}

// Every visitor request and WebSocket from an origin the widget does not
// allow is refused and counted; an allowed one gets exact CORS headers.
func TestWidgetOrigins(t *testing.T) {
	t.Parallel()
	w := newWidgetEnv(t, nil)
	// Its health: connected once a site may embed it, in error before.
	code, b := w.api("POST", "/api/v1/channels/webchat/"+w.id+"/check", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	require.Contains(t, string(b), `"state":"connected"`)
	code, b = w.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "Not yet embedded"})
	require.Equal(t, http.StatusCreated, code, string(b))
	var bare struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &bare))
	code, b = w.api("POST", "/api/v1/channels/webchat/"+bare.ID+"/check", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	require.Contains(t, string(b), `"code":"no_allowed_origins"`)

	s := w.session(nil)
	for _, origin := range []string{"https://evil.example", "http://shop.example", "https://shop.example.evil.example", "null"} {
		code, b, h := w.visitor("GET", "/config", origin, "", nil)
		require.Equal(t, http.StatusForbidden, code, origin)
		require.Equal(t, "origin_refused", errorCode(t, b))
		require.Empty(t, h.Get("Access-Control-Allow-Origin"))
		code, _, _ = w.visitor("POST", "/messages", origin, s.Token, map[string]any{"client_id": "x", "text": "hi"})
		require.Equal(t, http.StatusForbidden, code, origin)
		_, resp, err := w.dialVisitor(origin, "token="+url.QueryEscape(s.Token))
		require.Error(t, err, origin)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	}
	require.Equal(t, float64(12), metricValue(t, w.reg, "parley_widget_refused_origins_total"))

	code, _, h := w.visitor("OPTIONS", "/messages", shopOrigin, "", nil, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type")
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, shopOrigin, h.Get("Access-Control-Allow-Origin"), "the origin itself, never *")
	require.Contains(t, h.Get("Access-Control-Allow-Headers"), "Authorization")
	require.Contains(t, h.Get("Vary"), "Origin")

	// The allowed origins change: the old one is refused at once.
	code, b = w.api("PATCH", "/api/v1/widgets/"+w.id, ownerToken, map[string]any{"allowed_origins": []string{"https://new.example"}})
	require.Equal(t, http.StatusOK, code, string(b))
	require.NotContains(t, string(b), w.secret, "the secret is shown when made or rotated only")
	code, _, _ = w.visitor("GET", "/config", shopOrigin, "", nil)
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = w.visitor("GET", "/config", "https://new.example", "", nil)
	require.Equal(t, http.StatusOK, code)

	// An unknown widget is 404, and so is a removed one.
	code, b = w.api("DELETE", "/api/v1/widgets/"+w.id, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(b))
	code, b, _ = w.visitor("GET", "/config", "https://new.example", "", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "unknown_widget", errorCode(t, b))
}

// A verified user's conversation follows them to another device; an
// unverified claim of the same id is ignored. A verified user whose id is
// an email address is the CRM contact with that email, so a restricted
// agent answers them, and not an anonymous visitor.
func TestWidgetIdentityVerification(t *testing.T) {
	t.Parallel()
	w := newWidgetEnv(t, nil)
	code, b := w.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"restricted": true, "restricted_reply": "Members only"})
	require.Equal(t, http.StatusOK, code, string(b))
	code, b = w.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Ana Member", "email": "ana@example.com"})
	require.Equal(t, http.StatusCreated, code, string(b))
	var member struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(b, &member))

	const user = "ana@example.com"
	hash := engine.WidgetUserHash(w.secret, user)
	laptop := w.session(map[string]any{"user_id": user, "user_hash": hash})
	require.True(t, laptop.Verified)
	conv := w.say(laptop, "l1", "hello from my laptop", nil, "X-Parley-User", user, "X-Parley-User-Hash", hash)
	convID, err := engine.ParseID(conv)
	require.NoError(t, err)
	require.Equal(t, member.ID, w.conv(convID).ContactID.String(), "the CRM contact")

	phone := w.session(map[string]any{"user_id": user, "user_hash": hash})
	require.NotEqual(t, laptop.VisitorID, phone.VisitorID)
	require.Equal(t, conv, phone.ConversationID, "the same conversation on another device")
	require.Equal(t, conv, w.say(phone, "p1", "and from my phone", nil, "X-Parley-User", user, "X-Parley-User-Hash", hash))

	// The restricted agent answered the member (the greeting), never
	// with the refusal.
	eventually(t, 5*time.Second, func() error {
		for _, m := range w.messages(convID) {
			if m.Sender.Kind == engine.SenderAI {
				return nil
			}
		}
		return fmt.Errorf("no AI reply yet")
	})
	for _, m := range w.messages(convID) {
		require.NotEqual(t, "Members only", m.Text)
	}

	// A forged hash: anonymous, a conversation of its own, refused by
	// the restricted agent.
	forged := w.session(map[string]any{"user_id": user, "user_hash": engine.WidgetUserHash("guess", user)})
	require.False(t, forged.Verified)
	require.Empty(t, forged.ConversationID)
	anon := w.say(forged, "x1", "let me in", nil, "X-Parley-User", user, "X-Parley-User-Hash", engine.WidgetUserHash("guess", user))
	require.NotEqual(t, conv, anon)
	anonID, err := engine.ParseID(anon)
	require.NoError(t, err)
	require.NotEqual(t, member.ID, w.conv(anonID).ContactID.String())
	eventually(t, 5*time.Second, func() error {
		for _, m := range w.messages(anonID) {
			if m.Text == "Members only" {
				return nil
			}
		}
		return fmt.Errorf("no refusal yet")
	})

	// A rotated secret stops verifying the old hashes.
	code, b = w.api("PATCH", "/api/v1/widgets/"+w.id, ownerToken, map[string]any{"rotate_secret": true})
	require.Equal(t, http.StatusOK, code, string(b))
	require.False(t, w.session(map[string]any{"user_id": user, "user_hash": hash}).Verified)
}

// The pre-chat form fills the contact, whose source is then form.
func TestWidgetPreChatForm(t *testing.T) {
	t.Parallel()
	w := newWidgetEnv(t, nil)
	s := w.session(nil)
	conv := w.say(s, "f1", "I need help", map[string]any{"form": map[string]any{"name": "Bo Visitor", "email": "bo@example.com",
		"phone": "+1 415 555 0100", "fields": map[string]string{"order_id": "A-17"}}})
	convID, err := engine.ParseID(conv)
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() error {
		ct, err := w.store.Contact(w.ws, w.conv(convID).ContactID)
		if err != nil {
			return err
		}
		if ct.Source != engine.SourceForm || ct.Profile.Name != "Bo Visitor" || ct.Profile.Email != "bo@example.com" || ct.CustomFields["order_id"] != "A-17" {
			return fmt.Errorf("contact %+v", ct)
		}
		// The store settles: the AI's reply sent, the search index fed.
		if ms := w.messages(convID); len(ms) < 2 || ms[0].Status != engine.StatusSent {
			return fmt.Errorf("the AI's reply is not sent yet")
		}
		if n, err := w.store.SearchBacklog(); err != nil || n > 0 {
			return fmt.Errorf("search backlog %d, %v", n, err)
		}
		return nil
	})
	// A bad email is refused before anything is stored.
	before := w.settledDigest()
	code, b, _ := w.visitor("POST", "/messages", shopOrigin, s.Token, map[string]any{"client_id": "f2", "text": "x",
		"form": map[string]any{"email": "not an email"}})
	require.Equal(t, http.StatusBadRequest, code, string(b))
	require.Equal(t, before, w.storeDigest())
}

// Bad visitor input gets a 4xx JSON error and stores nothing; the
// per-visitor and per-address limits answer 429 until the clock moves.
func TestWidgetLimits(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	w := newWidgetEnv(t, clock)
	s := w.session(nil)
	convID, err := engine.ParseID(w.say(s, "first", "hello", nil))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		ms := w.messages(convID)
		if len(ms) < 2 || ms[0].Status != engine.StatusSent {
			return fmt.Errorf("the AI's reply is not sent yet")
		}
		if n, err := w.store.SearchBacklog(); err != nil || n > 0 {
			return fmt.Errorf("search backlog %d, %v", n, err)
		}
		return nil
	})
	before := w.settledDigest()
	for name, body := range map[string]any{
		"too long":     map[string]any{"client_id": "a", "text": strings.Repeat("a", 4097)},
		"blank":        map[string]any{"client_id": "a", "text": "  "},
		"no client id": map[string]any{"text": "hi"},
		"not UTF-8":    "{\"client_id\":\"a\",\"text\":\"\xff\"}",
		"unknown":      map[string]any{"client_id": "a", "text": "hi", "html": "<b>"},
	} {
		var code int
		var b []byte
		if raw, ok := body.(string); ok {
			req, err := http.NewRequest("POST", w.url+"/widget/v1/"+w.id+"/messages", strings.NewReader(raw))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+s.Token)
			req.Header.Set("Content-Type", "application/json")
			code, b = w.do(req)
		} else {
			code, b, _ = w.visitor("POST", "/messages", shopOrigin, s.Token, body)
		}
		require.True(t, code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge, "%s: %d %s", name, code, b)
		require.NotEmpty(t, errorCode(t, b), name)
	}
	require.Equal(t, before, w.storeDigest(), "bad input stored nothing")

	// A visitor's burst, then 429 until time passes on the clock.
	n := 0
	for ; n < 40; n++ {
		code, _, _ := w.visitor("GET", "/messages", shopOrigin, s.Token, nil)
		if code == http.StatusTooManyRequests {
			break
		}
		require.Equal(t, http.StatusOK, code)
	}
	require.Less(t, n, 40, "limited")
	require.GreaterOrEqual(t, n, 5, "a burst passes")
	code, b, _ := w.visitor("GET", "/messages", shopOrigin, s.Token, nil)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "rate_limited", errorCode(t, b))
	// Another visitor behind the same address is not limited by this one.
	other := w.session(nil)
	code, _, _ = w.visitor("GET", "/messages", shopOrigin, other.Token, nil)
	require.Equal(t, http.StatusOK, code)
	clock.Advance(10 * time.Second)
	code, _, _ = w.visitor("GET", "/messages", shopOrigin, s.Token, nil)
	require.Equal(t, http.StatusOK, code, "the limit refills")

	// The address's limit: sessions (no visitor yet) from one address.
	limited := false
	for range 150 {
		code, _, _ := w.visitor("GET", "/config", shopOrigin, "", nil)
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	require.True(t, limited, "one address is limited")
	require.Positive(t, metricValue(t, w.reg, "parley_widget_rate_limited_total"))

	// A bad frame closes the WebSocket with 4400.
	clock.Advance(time.Minute)
	ws, _, err := w.dialVisitor(shopOrigin, "token="+url.QueryEscape(s.Token))
	require.NoError(t, err)
	ws.next()
	ws.send(`{"type":"read","message_id":"<img src=x>"}`)
	_ = ws.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, 4400, ce.Code)
			break
		}
	}
}

// The widget's script is served from the binary, small, with no
// third-party address in it.
func TestWidgetScript(t *testing.T) {
	t.Parallel()
	w := newWidgetEnv(t, nil)
	req, err := http.NewRequest("GET", w.url+"/widget.js", nil)
	require.NoError(t, err)
	resp, err := w.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	require.Contains(t, string(b), "attachShadow")
	require.NotContains(t, string(b), "innerHTML", "text only: nothing a visitor or an agent writes is parsed as HTML")
	// The SVG namespace names a vocabulary; nothing is fetched from it.
	require.NotRegexp(t, `https?://[a-z]`, strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", ""), "no third-party request")
	require.Less(t, len(b), 60<<10)
}
