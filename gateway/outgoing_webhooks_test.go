package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
)

// hookReceiver is an integration's endpoint on 127.0.0.1: it checks each
// delivery's signature with the secret it was given and keeps the event
// names and bodies in the order they came.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events []string
	bodies []map[string]any
	bad    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := engine.VerifyWebhook(r.secret, req.Header.Get("X-Parley-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		r.events = append(r.events, req.Header.Get("X-Parley-Event"))
		r.bodies = append(r.bodies, m)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) got() ([]string, []map[string]any, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]map[string]any(nil), r.bodies...), r.bad
}

// An admin subscribes a local receiver; a WhatsApp message, a takeover
// and a move to solved reach it as Chatwoot-style events, signed, in
// order; the deliveries are listed and one is sent again. Agents get 403,
// bad bodies a 400 that stores nothing, another workspace's ids 404.
func TestOutgoingWebhooksAPI(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, nil, allowPrivateHooks)
	r := newHookReceiver(t)
	agent := e.addUser("hooks-agent@example.com", engine.RoleAgent, "hooks agent pw 1")

	code, body := e.api("POST", "/api/v1/webhooks", ownerToken, map[string]any{"url": r.srv.URL + "/parley",
		"events": []string{"conversation_created", "message_created", "conversation_mode_changed", "conversation_status_changed"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	hook := decodeAs[engine.Webhook](t, body)
	require.Len(t, hook.Secret, 48, "a secret is made when none is given")
	require.True(t, hook.Active)
	r.mu.Lock()
	r.secret = hook.Secret
	r.mu.Unlock()

	code, body = e.api("GET", "/api/v1/webhooks", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.NotContains(t, string(body), hook.Secret, "the secret is shown once")
	require.Contains(t, string(body), hook.ID.String())

	e.webhook(engine.ChannelWhatsApp, waText("wamid.hook.1", "15550177", "Hana", "is my order shipped?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550177")
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/takeover", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
	require.Equal(t, http.StatusOK, code, string(body))

	want := []string{"conversation_created", "message_created", "conversation_mode_changed", "message_created", "conversation_status_changed"}
	var events []string
	var bodies []map[string]any
	eventually(t, 10*time.Second, func() error {
		var bad int
		events, bodies, bad = r.got()
		if bad > 0 {
			return fmt.Errorf("%d deliveries failed the signature check", bad)
		}
		if !hasSubsequence(events, want) {
			return fmt.Errorf("received %v, want %v in order", events, want)
		}
		return nil
	})
	for i, ev := range events {
		require.Equal(t, ev, bodies[i]["event"])
	}
	first := bodies[indexOf(events, "message_created")]
	require.Equal(t, "is my order shipped?", first["content"])
	require.Equal(t, "incoming", first["message_type"])
	require.Equal(t, conv.String(), first["conversation"].(map[string]any)["id"])
	status := bodies[indexOf(events, "conversation_status_changed")]
	require.Equal(t, "resolved", status["status"])

	// The deliveries, newest first, and one sent again.
	var ds []engine.WebhookDelivery
	eventually(t, 10*time.Second, func() error {
		code, body = e.api("GET", "/api/v1/webhooks/"+hook.ID.String()+"/deliveries", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		ds = decodeAs[struct {
			Deliveries []engine.WebhookDelivery `json:"deliveries"`
		}](t, body).Deliveries
		for _, d := range ds {
			if d.State != engine.DeliveryDelivered || d.StatusCode != 200 || d.Attempts != 1 {
				return fmt.Errorf("delivery %+v", d)
			}
		}
		if len(ds) < len(want) {
			return fmt.Errorf("%d deliveries", len(ds))
		}
		return nil
	})
	events, _, _ = r.got()
	require.Greater(t, ds[0].ID, ds[1].ID)
	code, body = e.api("POST", fmt.Sprintf("/api/v1/webhooks/%s/deliveries/%d/redeliver", hook.ID, ds[len(ds)-1].ID), ownerToken, nil)
	require.Equal(t, http.StatusAccepted, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if evs, _, _ := r.got(); len(evs) != len(events)+1 || evs[len(evs)-1] != "conversation_created" {
			return fmt.Errorf("after the redelivery: %v", evs)
		}
		return nil
	})
	// The receiver has it; the outcome's commit (the delivery moved to
	// the log) follows: wait for it before the store's digest is taken.
	eventually(t, 10*time.Second, func() error {
		code, body := e.api("GET", "/api/v1/webhooks/"+hook.ID.String()+"/deliveries", ownerToken, nil)
		if code != http.StatusOK {
			return fmt.Errorf("%d: %s", code, body)
		}
		all := decodeAs[struct {
			Deliveries []engine.WebhookDelivery `json:"deliveries"`
		}](t, body).Deliveries
		if len(all) != len(ds)+1 {
			return fmt.Errorf("%d deliveries, want %d", len(all), len(ds)+1)
		}
		for _, d := range all {
			if d.State != engine.DeliveryDelivered {
				return fmt.Errorf("delivery %d is %s", d.ID, d.State)
			}
		}
		return nil
	})

	// Agents do not see or manage webhooks; bad bodies store nothing.
	// The store settles first: the background work the messages above
	// set off (the language detector's contact writes, the webhook events
	// they make and their deliveries) is over before the refused calls.
	before := e.storeDigest()
	eventually(t, 15*time.Second, func() error {
		time.Sleep(300 * time.Millisecond)
		if now := e.storeDigest(); now != before {
			before = now
			return fmt.Errorf("the store is still changing")
		}
		return nil
	})
	e.callAll([][3]string{
		{"GET", "/api/v1/webhooks", ""},
		{"POST", "/api/v1/webhooks", `{"url":"https://x.example","events":["handoff"]}`},
		{"PATCH", "/api/v1/webhooks/" + hook.ID.String(), `{"active":false}`},
		{"DELETE", "/api/v1/webhooks/" + hook.ID.String(), ""},
		{"GET", "/api/v1/webhooks/" + hook.ID.String() + "/deliveries", ""},
	}, agent.Token, func(r [3]string, code int, body []byte) {
		require.Equal(t, http.StatusForbidden, code, "%v: %s", r, body)
	})
	for _, bad := range []string{``, `[`, `null`, `{}`, `{"url":"https://x.example"}`, `{"url":"ftp://x.example","events":["handoff"]}`,
		`{"url":"https://x.example","events":[]}`, `{"url":"https://x.example","events":["message.created"]}`,
		`{"url":"https://x.example","events":["handoff"],"secret":"short"}`, `{"url":"https://u:p@x.example","events":["handoff"]}`,
		`{"url":"https://x.example","events":["handoff"],"extra":1}`, `{"url":"` + strings.Repeat("a", 3000) + `","events":["handoff"]}`} {
		code, body := e.api("POST", "/api/v1/webhooks", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	code, body = e.api("PATCH", "/api/v1/webhooks/"+hook.ID.String(), ownerToken, `{}`)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Equal(t, before, e.storeDigest(), "refused requests changed the store")
	code, _ = e.api("GET", "/api/v1/webhooks/"+engine.NewID(time.Now()).String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = e.api("POST", "/api/v1/webhooks/"+hook.ID.String()+"/deliveries/999999/redeliver", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)

	// Off, then deleted.
	code, body = e.api("PATCH", "/api/v1/webhooks/"+hook.ID.String(), ownerToken, map[string]any{"active": false})
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[engine.Webhook](t, body).Active)
	code, _ = e.api("DELETE", "/api/v1/webhooks/"+hook.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("GET", "/api/v1/webhooks/"+hook.ID.String()+"/deliveries", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// allowPrivateHooks lets the outgoing webhooks reach the receivers on
// 127.0.0.1 (-api-channel-allow-private).
func allowPrivateHooks(c *gateway.Config) {
	c.APIChannel = apichannel.NewClient(apichannel.ClientConfig{AllowPrivate: true})
}

// Without -api-channel-allow-private, a webhook pointed at a loopback
// address gets nothing: each attempt fails as a non-public address, kept
// in the delivery's error, and waits for its retry.
func TestOutgoingWebhooksRefusePrivateAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newHookReceiver(t)
	code, body := e.api("POST", "/api/v1/webhooks", ownerToken, map[string]any{"url": r.srv.URL, "events": []string{"message_created"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	hook := decodeAs[engine.Webhook](t, body)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.hook.private", "15550178", "Ivo", "hello"))
	eventually(t, 10*time.Second, func() error {
		_, body := e.api("GET", "/api/v1/webhooks/"+hook.ID.String()+"/deliveries", ownerToken, nil)
		ds := decodeAs[struct {
			Deliveries []engine.WebhookDelivery `json:"deliveries"`
		}](t, body).Deliveries
		if len(ds) == 0 || ds[0].Attempts == 0 {
			return fmt.Errorf("deliveries %+v", ds)
		}
		if ds[0].State != engine.DeliveryPending || !strings.Contains(ds[0].Error, "not public") {
			return fmt.Errorf("delivery %+v", ds[0])
		}
		return nil
	})
	evs, _, _ := r.got()
	require.Empty(t, evs)
}

func hasSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
