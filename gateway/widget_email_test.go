package gateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
	"github.com/parleyhq/parley/persistence"
)

// waitSentMail waits until message id of conv is sent and returns it.
func (e *env) waitSentMail(conv engine.ID, id engine.ID) engine.Message {
	e.t.Helper()
	var sent engine.Message
	eventually(e.t, 10*time.Second, func() error {
		for _, m := range e.messages(conv) {
			if m.ID == id && m.Status == engine.StatusSent {
				sent = m
				return nil
			}
		}
		return errors.New("not sent yet")
	})
	return sent
}

// reply posts a person's reply from the inbox and waits until it is sent.
func (e *env) reply(conv engine.ID, text string) engine.Message {
	e.t.Helper()
	code, body := e.api("POST", fmt.Sprintf("/api/v1/conversations/%s/messages", conv), ownerToken, map[string]any{"text": text})
	require.Equal(e.t, http.StatusCreated, code, string(body))
	var m engine.Message
	require.NoError(e.t, json.Unmarshal(body, &m))
	return e.waitSentMail(conv, m.ID)
}

// A visitor writes outside the widget's business hours and leaves an
// email address in the offline form: the inbox's replies to that web
// chat conversation go out by email through the workspace's email
// account, the customer's answer by email threads back into the same
// conversation (once, however often it is delivered), the next reply
// threads under it, and once the visitor chats in the open widget again
// the replies stay in the widget.
func TestWidgetOfflineContinuesByEmail(t *testing.T) {
	relay := mailtest.New(t)
	e, addr := newEmailEnv(t, relay)
	closedDay := (int(time.Now().UTC().Weekday()) + 3) % 7 // never today, in UTC
	code, body := e.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "Shop", "allowed_origins": []string{shopOrigin},
		"title": "Shop chat", "hours": map[string]any{"time_zone": "UTC", "days": []map[string]any{{"day": closedDay, "open": "09:00", "close": "17:00"}}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	var wv struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &wv))
	w := &widgetEnv{env: e, id: wv.ID}

	code, body, _ = w.visitor("GET", "/config", shopOrigin, "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"open":false`)

	s := w.session(nil)
	convID := w.say(s, "c1", "Do you ship to Norway?", map[string]any{"form": map[string]any{"email": "Vera@Example.com"}})
	conv, err := engine.ParseID(convID)
	require.NoError(t, err)
	c := e.conv(conv)
	assert.Equal(t, engine.ChannelWebChat, c.Channel)
	assert.Equal(t, "vera@example.com", c.EmailTo, "the offline form's address")
	assert.Equal(t, shopAddr, c.EmailAccountID)

	// The inbox's reply goes out by email.
	first := e.reply(conv, "Yes, in 3 days.")
	msgs := relay.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"vera@example.com"}, msgs[0].To)
	assert.Equal(t, shopAddr, msgs[0].From)
	out, err := email.Parse(msgs[0].Data)
	require.NoError(t, err)
	assert.Equal(t, "Re: Shop chat", out.Subject)
	assert.Equal(t, "Yes, in 3 days.", out.Text)
	assert.Equal(t, first.ChannelMessageID, out.MessageID, "the mail's Message-ID is the message's channel id")

	// The visitor still sees the reply in the widget's thread.
	code, body, _ = w.visitor("GET", "/messages", shopOrigin, s.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Contains(t, string(body), "Yes, in 3 days.")
	assert.Contains(t, string(body), `"email_to":"vera@example.com"`, "the widget says where the replies go")
	// Read there, it is read in the inbox too.
	vws, _, err := w.dialVisitor(shopOrigin, "token="+s.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", vws.next().Type)
	vws.send(`{"type":"read","message_id":"` + first.ID.String() + `"}`)
	eventually(t, 5*time.Second, func() error {
		for _, m := range e.messages(conv) {
			if m.ID == first.ID && m.Status == engine.StatusRead {
				return nil
			}
		}
		return errors.New("not read yet")
	})

	// The customer answers the mail: it joins the web chat conversation,
	// once, and opens no email thread.
	answer := mailFrom("Vera <vera@example.com>", "Re: Shop chat", "v1@example.com", "In-Reply-To: <"+out.MessageID+">\n", "Great, thanks!")
	require.NoError(t, sendMail(t, addr, "vera@example.com", []string{shopAddr}, answer))
	require.NoError(t, sendMail(t, addr, "vera@example.com", []string{shopAddr}, answer))
	got := e.messages(conv)
	assert.Equal(t, "Great, thanks!", got[0].Content.Text)
	assert.Equal(t, engine.DirIn, got[0].Direction)
	n := 0
	for _, m := range got {
		if m.Content.Text == "Great, thanks!" {
			n++
		}
	}
	assert.Equal(t, 1, n, "a mail delivered twice is stored once")
	_, ok := e.emailThread("vera@example.com", "shop chat")
	assert.False(t, ok, "no email conversation of its own")

	// The next reply threads under the customer's mail.
	e.reply(conv, "You're welcome.")
	msgs = relay.Messages()
	require.Len(t, msgs, 2)
	out2, err := email.Parse(msgs[1].Data)
	require.NoError(t, err)
	assert.Equal(t, []string{"v1@example.com"}, out2.InReplyTo)
	assert.Equal(t, "Re: Shop chat", out2.Subject)

	// Open again: the visitor chats live, the replies stay in the widget.
	code, body = e.api("PATCH", "/api/v1/widgets/"+w.id, ownerToken, map[string]any{"hours": nil})
	require.Equal(t, http.StatusOK, code, string(body))
	w.say(s, "c2", "Back on the site", nil)
	c = e.conv(conv)
	assert.Empty(t, c.EmailTo)
	assert.Empty(t, c.EmailAccountID)
	live := e.reply(conv, "Hi again!")
	assert.True(t, strings.HasPrefix(live.ChannelMessageID, "web#"), live.ChannelMessageID)
	assert.Equal(t, 2, len(relay.Messages()), "no mail for a live chat")
	code, body, _ = w.visitor("GET", "/messages", shopOrigin, s.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	assert.NotContains(t, string(body), "email_to")
}

// Without an email account the offline form's address is kept on the
// contact, and the replies stay in the widget.
func TestWidgetOfflineWithoutEmailAccount(t *testing.T) {
	w := newWidgetEnv(t, nil)
	closedDay := (int(time.Now().UTC().Weekday()) + 3) % 7
	code, body := w.api("PATCH", "/api/v1/widgets/"+w.id, ownerToken, map[string]any{
		"hours": map[string]any{"time_zone": "UTC", "days": []map[string]any{{"day": closedDay, "open": "09:00", "close": "17:00"}}}})
	require.Equal(t, http.StatusOK, code, string(body))
	s := w.session(nil)
	conv, err := engine.ParseID(w.say(s, "c1", "Hello?", map[string]any{"form": map[string]any{"email": "ann@example.com"}}))
	require.NoError(t, err)
	assert.Empty(t, w.conv(conv).EmailTo)
}

// Deleting a widget closes its visitors' open WebSockets with 4404 and
// removes its visitor sessions (a kept token no longer opens anything,
// even if a widget of that id came back); another widget's visitors
// and the conversations in the inbox stay.
func TestWidgetDeleteClosesVisitors(t *testing.T) {
	w := newWidgetEnv(t, nil)
	code, body := w.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "Other", "allowed_origins": []string{shopOrigin}})
	require.Equal(t, http.StatusCreated, code, string(body))
	var other struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &other))

	s1, s2 := w.session(nil), w.session(nil)
	conv, err := engine.ParseID(w.say(s1, "c1", "Hello", nil))
	require.NoError(t, err)
	ws1, _, err := w.dialVisitor(shopOrigin, "token="+s1.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", ws1.next().Type)
	ws2, _, err := w.dialVisitor(shopOrigin, "token="+s2.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", ws2.next().Type)
	ow := &widgetEnv{env: w.env, id: other.ID}
	so := ow.session(nil)
	wso, _, err := ow.dialVisitor(shopOrigin, "token="+so.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", wso.next().Type)

	code, body = w.api("DELETE", "/api/v1/widgets/"+w.id, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	for _, v := range []*visitorWS{ws1, ws2} {
		_ = v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var err error
		for err == nil { // the AI's answer may come first
			_, _, err = v.conn.ReadMessage()
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 4404, ce.Code)
	}
	for _, s := range []visitorSession{s1, s2} {
		id, err := engine.ParseID(s.VisitorID)
		require.NoError(t, err)
		_, err = w.store.Visitor(w.ws, id)
		require.ErrorIs(t, err, persistence.ErrNotFound, "the visitor session is removed")
	}
	oid, err := engine.ParseID(so.VisitorID)
	require.NoError(t, err)
	_, err = w.store.Visitor(w.ws, oid)
	require.NoError(t, err, "another widget's visitor stays")
	wso.send(`{"type":"ping"}`)
	require.Equal(t, "pong", wso.next().Type, "another widget's socket stays open")
	assert.Equal(t, engine.ChannelWebChat, w.conv(conv).Channel, "the conversation stays in the inbox")

	// Deleting again finds nothing left.
	code, _ = w.api("DELETE", "/api/v1/widgets/"+w.id, ownerToken, nil)
	assert.Equal(t, http.StatusNotFound, code)
}
