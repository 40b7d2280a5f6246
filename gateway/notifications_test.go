package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
	"github.com/parleyhq/parley/gateway/internal/pushtest"
	"github.com/parleyhq/parley/gateway/notify"
)

type notificationsResp struct {
	Settings       engine.NotificationSettings `json:"settings"`
	EmailAvailable bool                        `json:"email_available"`
}

type pushSubsResp struct {
	Subscriptions []struct {
		Endpoint  string    `json:"endpoint"`
		CreatedAt time.Time `json:"created_at"`
		Current   bool      `json:"current"`
	} `json:"subscriptions"`
}

func (e *env) notificationSettings(token string) notificationsResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/me/notifications", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[notificationsResp](e.t, body)
}

func (e *env) pushSubs(token string) pushSubsResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/push/subscriptions", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[pushSubsResp](e.t, body)
}

func subscribeBody(d *pushtest.Device) map[string]any {
	return map[string]any{"endpoint": d.Endpoint, "keys": map[string]string{"p256dh": d.P256dh, "auth": d.Auth}, "expirationTime": nil}
}

func (e *env) subscribe(token string, d *pushtest.Device) {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/push/subscriptions", token, subscribeBody(d))
	require.Equal(e.t, http.StatusCreated, code, string(body))
}

// TestNotificationSettingsAPI: the defaults until a user chooses, a PUT
// changes what it names and nothing else, per user; bad bodies are 400
// and change nothing.
func TestNotificationSettingsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "password-1")
	got := e.notificationSettings(agent.Token)
	require.Equal(t, engine.DefaultNotificationSettings(), got.Settings)
	require.False(t, got.EmailAvailable, "no SMTP relay configured")

	code, body := e.api("PUT", "/api/v1/me/notifications", agent.Token, map[string]any{"settings": map[string]any{
		"new_conversation": map[string]bool{"push": true}, "assigned": map[string]bool{"email": false}}})
	require.Equal(t, http.StatusOK, code, string(body))
	want := engine.DefaultNotificationSettings()
	want.NewConversation.Push, want.Assigned.Email = true, false
	require.Equal(t, want, decodeAs[notificationsResp](t, body).Settings)
	require.Equal(t, want, e.notificationSettings(agent.Token).Settings)
	stored, err := e.store.NotificationSettings(e.ws, agent.User.ID)
	require.NoError(t, err)
	require.Equal(t, want, stored)
	require.Equal(t, engine.DefaultNotificationSettings(), e.notificationSettings(ownerToken).Settings, "another user's are theirs")

	for _, bad := range []string{`{}`, `{"settings":{}}`, `{"settings":{"assigned":{}}}`, `{"settings":{"sms":{"push":true}}}`,
		`{"settings":{"assigned":{"pager":true}}}`, `{"settings":{"assigned":{"push":"yes"}}}`, `{"settings":{"assigned":true}}`, `[]`, `nope`} {
		code, body := e.api("PUT", "/api/v1/me/notifications", agent.Token, bad)
		require.Equal(t, http.StatusBadRequest, code, bad+": "+string(body))
		require.Contains(t, []string{"bad_json", "invalid"}, errorCode(t, body), bad)
	}
	require.Equal(t, want, e.notificationSettings(agent.Token).Settings, "bad bodies changed nothing")
	code, _ = e.api("GET", "/api/v1/me/notifications", "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

// TestPushSubscriptionsAPI: the published key is the stored VAPID key; a
// subscription is validated (https, a P-256 point, a 16-byte secret),
// listed as the caller's (never its keys), replaced when the same
// endpoint comes again, removed by DELETE, by a logout of the session
// that registered it and with its user.
func TestPushSubscriptionsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	svc := pushtest.New(t)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "password-1")

	code, body := e.api("GET", "/api/v1/push/key", agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	keys, err := e.store.VAPIDKeys()
	require.NoError(t, err)
	require.Equal(t, keys.Public, decodeAs[struct {
		PublicKey string `json:"public_key"`
	}](t, body).PublicKey)

	phone, laptop := svc.NewDevice("phone"), svc.NewDevice("laptop")
	bad := func(mut func(m map[string]any)) string {
		m := subscribeBody(phone)
		mut(m)
		js, err := json.Marshal(m)
		require.NoError(t, err)
		return string(js)
	}
	keysOf := func(p256dh, auth string) map[string]string { return map[string]string{"p256dh": p256dh, "auth": auth} }
	offCurve := base64.RawURLEncoding.EncodeToString(append([]byte{4}, make([]byte, 64)...))
	for name, b := range map[string]string{
		"http endpoint":     bad(func(m map[string]any) { m["endpoint"] = "http://push.example.com/x" }),
		"no host":           bad(func(m map[string]any) { m["endpoint"] = "https:///x" }),
		"not a URL":         bad(func(m map[string]any) { m["endpoint"] = "push service" }),
		"long endpoint":     bad(func(m map[string]any) { m["endpoint"] = "https://push.example.com/" + strings.Repeat("a", 2048) }),
		"short p256dh":      bad(func(m map[string]any) { m["keys"] = keysOf(phone.P256dh[:40], phone.Auth) }),
		"p256dh off curve":  bad(func(m map[string]any) { m["keys"] = keysOf(offCurve, phone.Auth) }),
		"p256dh not base64": bad(func(m map[string]any) { m["keys"] = keysOf("!!"+phone.P256dh[2:], phone.Auth) }),
		"short auth":        bad(func(m map[string]any) { m["keys"] = keysOf(phone.P256dh, phone.Auth[:10]) }),
		"no keys":           bad(func(m map[string]any) { delete(m, "keys") }),
		"unknown field":     bad(func(m map[string]any) { m["device"] = "x" }),
		"empty":             `{}`,
	} {
		code, body := e.api("POST", "/api/v1/push/subscriptions", agent.Token, b)
		require.Equal(t, http.StatusBadRequest, code, name+": "+string(body))
	}
	require.Empty(t, e.pushSubs(agent.Token).Subscriptions, "bad bodies stored nothing")

	e.subscribe(agent.Token, phone)
	padded := subscribeBody(laptop)
	padded["keys"] = keysOf(laptop.P256dh+"=", laptop.Auth+"==") // base64url with padding, as some browsers give it
	code, body = e.api("POST", "/api/v1/push/subscriptions", ownerToken, padded)
	require.Equal(t, http.StatusCreated, code, string(body))
	subs := e.pushSubs(agent.Token).Subscriptions
	require.Len(t, subs, 1)
	require.Equal(t, phone.Endpoint, subs[0].Endpoint)
	require.True(t, subs[0].Current)
	require.NotContains(t, string(body), laptop.P256dh, "keys are never returned")

	// The same browser signed in again: its endpoint moves to the new
	// session, once.
	code, _, loginBody := e.login("agent@example.com", "password-1")
	require.Equal(t, http.StatusOK, code)
	second := decodeAs[session](t, loginBody)
	e.subscribe(second.Token, phone)
	subs = e.pushSubs(second.Token).Subscriptions
	require.Len(t, subs, 1)
	require.True(t, subs[0].Current)
	require.False(t, e.pushSubs(agent.Token).Subscriptions[0].Current)

	// DELETE without endpoint: this device's (the first session has none
	// now); with it, that one.
	code, _ = e.api("DELETE", "/api/v1/push/subscriptions", agent.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	require.Len(t, e.pushSubs(second.Token).Subscriptions, 1)
	code, _ = e.api("DELETE", "/api/v1/push/subscriptions?endpoint="+url.QueryEscape(phone.Endpoint), agent.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, e.pushSubs(second.Token).Subscriptions)

	// A logout takes the session's subscription along.
	e.subscribe(second.Token, phone)
	code, _ = e.api("POST", "/api/v1/auth/logout", second.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, e.pushSubs(agent.Token).Subscriptions)

	// Removing the user takes theirs along.
	e.subscribe(agent.Token, phone)
	e.api("PUT", "/api/v1/me/notifications", agent.Token, map[string]any{"settings": map[string]any{"assigned": map[string]bool{"push": false}}})
	code, _ = e.api("DELETE", "/api/v1/users/"+agent.User.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	stored, err := e.store.PushSubscriptions(e.ws, agent.User.ID)
	require.NoError(t, err)
	require.Empty(t, stored)
	settings, err := e.store.NotificationSettings(e.ws, agent.User.ID)
	require.NoError(t, err)
	require.Equal(t, engine.DefaultNotificationSettings(), settings, "their settings went too")
	require.Len(t, e.pushSubs(ownerToken).Subscriptions, 1, "the owner's stays")
}

// pushEnv is an env whose notifications go to a fake push service and a
// real SMTP server.
func pushEnv(t *testing.T) (*env, *pushtest.Service, *mailtest.Server) {
	t.Helper()
	svc := pushtest.New(t)
	smtp := mailtest.New(t)
	e := newEnvWith(t, nil, func(c *gateway.Config) {
		c.PushClient = svc.Client()
		c.PublicURL = "https://inbox.example.com"
		c.NotifySMTP = &notify.SMTP{Addr: smtp.Addr, Username: smtp.User, Password: smtp.Password}
		c.NotifyFrom = "Parley <parley@example.com>"
		c.NotifyTLS = smtp.TLSConfig()
	})
	keys, err := e.store.VAPIDKeys()
	require.NoError(t, err)
	svc.ExpectKey(keys.Public)
	return e, svc, smtp
}

type pushPayload struct {
	Title string            `json:"title"`
	Body  string            `json:"body"`
	URL   string            `json:"url"`
	Kind  engine.NotifyKind `json:"kind"`
}

// waitPush waits for the push service to have n valid pushes and
// returns them decoded, by device.
func waitPush(t *testing.T, svc *pushtest.Service, n int) []pushtest.Push {
	t.Helper()
	var got []pushtest.Push
	eventually(t, 10*time.Second, func() error {
		got = svc.Pushes()
		if len(got) < n {
			return io.EOF
		}
		return nil
	})
	require.Len(t, got, n)
	return got
}

func payloadOf(t *testing.T, p pushtest.Push) pushPayload {
	t.Helper()
	return decodeAs[pushPayload](t, p.Payload)
}

// TestPushNotificationsEndToEnd: through the API and a webhook, an
// assignment pushes to the assignee only, a mention to the mentioned
// only, a new conversation to those who turned push on for it, each
// encrypted for its device and signed with the published key; a device
// the push service says is gone (410) loses its subscription; and the
// assignee gets the email.
func TestPushNotificationsEndToEnd(t *testing.T) {
	t.Parallel()
	e, svc, smtp := pushEnv(t)
	agent := e.addUser("bob@example.com", engine.RoleAgent, "password-1")
	ownerPhone, agentPhone := svc.NewDevice("owner-phone"), svc.NewDevice("agent-phone")
	e.subscribe(ownerToken, ownerPhone)
	e.subscribe(agent.Token, agentPhone)
	code, body := e.api("PUT", "/api/v1/me/notifications", ownerToken, map[string]any{"settings": map[string]any{
		"new_conversation": map[string]bool{"push": true}}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.True(t, decodeAs[notificationsResp](t, body).EmailAvailable)

	// A new conversation: the owner turned push on for it, the agent
	// did not.
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.N1", "15550002222", "Carla", "Where is my order?"))
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550002222")
	got := waitPush(t, svc, 1)
	require.Equal(t, "owner-phone", got[0].Device)
	p := payloadOf(t, got[0])
	require.Equal(t, "New conversation: Carla", p.Title)
	require.Equal(t, "Where is my order?", p.Body)
	require.Equal(t, "https://inbox.example.com/#c/"+conv.String(), p.URL)

	// The owner assigns it to the agent: the agent's phone only.
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/assign", ownerToken, map[string]any{"user_id": agent.User.ID.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	got = waitPush(t, svc, 2)
	require.Equal(t, "agent-phone", got[1].Device)
	p = payloadOf(t, got[1])
	require.Equal(t, engine.NotifyAssigned, p.Kind)
	require.Equal(t, "Assigned to you: Carla", p.Title)
	require.Equal(t, "high", got[1].Urgency)
	require.NotEmpty(t, got[1].TTL)

	// ... and by email.
	eventually(t, 10*time.Second, func() error {
		if len(smtp.Messages()) == 0 {
			return io.EOF
		}
		return nil
	})
	msg := smtp.Messages()[0]
	require.Equal(t, []string{"bob@example.com"}, msg.To)
	r, err := mail.CreateReader(strings.NewReader(string(msg.Data)))
	require.NoError(t, err)
	subject, err := r.Header.Subject()
	require.NoError(t, err)
	require.Equal(t, "Assigned to you: Carla", subject)
	part, err := r.NextPart()
	require.NoError(t, err)
	text, err := io.ReadAll(part.Body)
	require.NoError(t, err)
	require.Contains(t, string(text), "https://inbox.example.com/#c/"+conv.String())

	// The agent takes it again themselves: no push.
	e.api("POST", "/api/v1/conversations/"+conv.String()+"/assign", agent.Token, map[string]any{"user_id": nil})
	e.api("POST", "/api/v1/conversations/"+conv.String()+"/assign", agent.Token, map[string]any{"user_id": agent.User.ID.String()})

	// The owner mentions the agent in a note: the agent's phone only.
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/notes", ownerToken, map[string]string{"text": "@bob please call her back"})
	require.Equal(t, http.StatusCreated, code, string(body))
	got = waitPush(t, svc, 3)
	require.Equal(t, "agent-phone", got[2].Device)
	p = payloadOf(t, got[2])
	require.Equal(t, engine.NotifyMentioned, p.Kind)
	require.Equal(t, "@bob please call her back", p.Body)

	// The agent's push service forgot the device: 410 removes it.
	svc.SetStatus(agentPhone, http.StatusGone)
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/notes", ownerToken, map[string]string{"text": "@bob again"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if n := len(e.pushSubs(agent.Token).Subscriptions); n != 0 {
			return io.EOF
		}
		return nil
	})
	require.Len(t, svc.Pushes(), 3, "no other push went (the self-assignment, the owner's own note)")
	require.Len(t, e.pushSubs(ownerToken).Subscriptions, 1)
}
