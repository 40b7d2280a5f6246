package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// integrator plays an API channel integrator's webhook: it records every
// delivery with its headers and answers with what the test set.
type integrator struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []delivery
	// answer gives the status of the nth delivery (from 1); nil is 200.
	answer func(n int) int
	// during, if set, runs inside the handler before it answers.
	during func(d delivery)
}

// delivery is one request the webhook received.
type delivery struct {
	Path   string
	Header http.Header
	Body   []byte
	Parsed apichannel.Delivery
}

func newIntegrator(t *testing.T) *integrator {
	in := &integrator{}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &d.Parsed)
		in.mu.Lock()
		in.got = append(in.got, d)
		n, answer, during := len(in.got), in.answer, in.during
		in.mu.Unlock()
		if during != nil {
			during(d)
		}
		status := http.StatusOK
		if answer != nil {
			status = answer(n)
		}
		w.WriteHeader(status)
		if status >= 300 {
			_, _ = io.WriteString(w, "upstream bridge down")
		}
	}))
	t.Cleanup(in.srv.Close)
	return in
}

// deliveries are the message.created deliveries received so far.
func (in *integrator) deliveries() []delivery {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []delivery
	for _, d := range in.got {
		if d.Parsed.Event == apichannel.EventMessageCreated {
			out = append(out, d)
		}
	}
	return out
}

// apiAccount is an API channel account as its creation answered it.
type apiAccount struct {
	Channel       engine.Channel      `json:"channel"`
	AccountID     string              `json:"account_id"`
	Name          string              `json:"name"`
	WebhookURL    string              `json:"webhook_url"`
	InboundURL    string              `json:"inbound_url"`
	InboundToken  string              `json:"inbound_token"`
	WebhookSecret string              `json:"webhook_secret"`
	Health        channels.HealthView `json:"health"`
}

// newAPIEnv is a Parley whose API channel client reaches 127.0.0.1 (the
// test's webhook), with clock (nil: the real one), the gateway's and the
// client's metrics in reg (nil: none) and attempts sends per message (0:
// the harness's).
func newAPIEnv(t *testing.T, clock clockwork.Clock, reg *prometheus.Registry, attempts int) *env {
	t.Helper()
	cc := apichannel.ClientConfig{AllowPrivate: true, Timeout: 10 * time.Second}
	if reg != nil {
		cc.Registerer = reg
	}
	client := apichannel.NewClient(cc)
	return newEnvWith(t, func(c *actors.Config) {
		if clock != nil {
			c.Clock = clock
		}
		if attempts > 0 {
			c.SendAttempts = attempts
		}
		c.Sender.(*channels.Sender).WithAPIChannel(client)
	}, func(c *gateway.Config) {
		c.APIChannel = client
		if reg != nil {
			c.Registerer = reg
		}
	})
}

// connectAPI connects an API channel account delivering to webhook, as
// the owner, and returns the answer with its secrets.
func (e *env) connectAPI(webhook string) apiAccount {
	e.t.Helper()
	return e.connectAPIAs(ownerToken, webhook)
}

func (e *env) connectAPIAs(token, webhook string) apiAccount {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/channels", token, map[string]any{"channel": "api", "name": "LinkedIn bridge", "webhook_url": webhook})
	require.Equal(e.t, http.StatusCreated, code, string(body))
	var a apiAccount
	require.NoError(e.t, json.Unmarshal(body, &a))
	require.NotEmpty(e.t, a.InboundToken, string(body))
	require.NotEmpty(e.t, a.WebhookSecret, string(body))
	return a
}

// apiChannel calls an integrator's route of account a with bearer token.
func (e *env) apiChannel(a apiAccount, endpoint, token string, body any) (int, []byte) {
	e.t.Helper()
	return e.api("POST", "/api/v1/api-channel/"+a.AccountID+"/"+endpoint, token, body)
}

type inboundAnswer struct {
	Message   engine.Message `json:"message"`
	Duplicate bool           `json:"duplicate"`
}

func (e *env) apiInbound(a apiAccount, body any) inboundAnswer {
	e.t.Helper()
	code, resp := e.apiChannel(a, "messages", a.InboundToken, body)
	require.Equal(e.t, http.StatusCreated, code, string(resp))
	var ans inboundAnswer
	require.NoError(e.t, json.Unmarshal(resp, &ans))
	return ans
}

// oldestFirst is the messages of conv in the order they came.
func (e *env) oldestFirst(conv engine.ID) []engine.Message {
	e.t.Helper()
	ms := e.messages(conv)
	slices.Reverse(ms)
	return ms
}

// apiCount is the API channel requests counted by endpoint and result.
func apiCount(t *testing.T, reg *prometheus.Registry, endpoint, result string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "parley_api_channel_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["endpoint"] == endpoint && l["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// An integrator's inbound message makes a conversation on the API channel
// that a WebSocket subscriber sees at once; its contact details reach
// the contact; the same source_id posted again is stored once.
func TestAPIChannelInboundMessage(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newAPIEnv(t, nil, reg, 0)
	hook := newIntegrator(t)
	a := e.connectAPI(hook.srv.URL + "/parley")
	require.Equal(t, engine.ChannelAPI, a.Channel)
	require.Equal(t, e.url+"/api/v1/api-channel/"+a.AccountID, a.InboundURL)

	ws, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	require.Equal(t, "hello", ws.events(1)[0].Type)

	msg := map[string]any{"source_id": "li-msg-1", "text": "Hi, is the role still open? ¿Sí? 🎉",
		"contact": map[string]any{"external_id": "urn:li:person:ana", "name": "Ana Ruiz", "email": "ana@example.com"}}
	ans := e.apiInbound(a, msg)
	require.False(t, ans.Duplicate)
	require.Equal(t, engine.DirIn, ans.Message.Direction)
	require.Equal(t, "Hi, is the role still open? ¿Sí? 🎉", ans.Message.Text)

	evs := ws.events(3)
	require.Equal(t, []string{"conversation.created", "message.created", "conversation.updated"}, []string{evs[0].Type, evs[1].Type, evs[2].Type})
	require.Contains(t, string(evs[1].Data), "role still open")

	conv := e.conv(e.thread(engine.ChannelAPI, a.AccountID, "urn:li:person:ana"))
	require.Equal(t, engine.ChannelAPI, conv.Channel)
	require.Equal(t, a.AccountID, conv.ChannelAccountID)
	require.Equal(t, "Ana Ruiz", conv.ContactName)
	eventually(t, 10*time.Second, func() error {
		ct, err := e.store.Contact(e.ws, conv.ContactID)
		if err != nil || ct.Profile.Email != "ana@example.com" || ct.Profile.Name != "Ana Ruiz" {
			return fmt.Errorf("contact %+v, %v", ct.Profile, err)
		}
		return nil
	})

	// The same source_id again: 200, the stored message, nothing new.
	code, body := e.apiChannel(a, "messages", a.InboundToken, msg)
	require.Equal(t, http.StatusOK, code, string(body))
	var dup inboundAnswer
	require.NoError(t, json.Unmarshal(body, &dup))
	require.True(t, dup.Duplicate)
	require.Equal(t, ans.Message.ID, dup.Message.ID)
	require.Len(t, e.oldestFirst(conv.ID), 1)

	// A second message of the same person joins the conversation.
	e.apiInbound(a, map[string]any{"source_id": "li-msg-2", "text": "Thanks", "contact": map[string]any{"external_id": "urn:li:person:ana"}})
	require.Len(t, e.oldestFirst(conv.ID), 2)

	require.Equal(t, 2.0, apiCount(t, reg, "messages", "created"))
	require.Equal(t, 1.0, apiCount(t, reg, "messages", "duplicate"))
}

// A reply from the inbox reaches the integrator's webhook signed with the
// account's secret over the timestamp and the raw body; the integrator's
// delivered, read and failed statuses then move the message forward only,
// and a status posted from within the webhook, before Parley recorded the
// delivery, is kept and applied once it is.
func TestAPIChannelReplyDeliveredSignedAndStatuses(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newAPIEnv(t, nil, reg, 0)
	hook := newIntegrator(t)
	a := e.connectAPI(hook.srv.URL + "/parley")
	e.apiInbound(a, map[string]any{"source_id": "s1", "text": "hello", "contact": map[string]any{"external_id": "u-1", "name": "Bo"}})
	conv := e.thread(engine.ChannelAPI, a.AccountID, "u-1")

	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "Yes, it is — ¡apply today!"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if n := len(hook.deliveries()); n != 1 {
			return fmt.Errorf("%d deliveries", n)
		}
		return nil
	})
	d := hook.deliveries()[0]
	ts := d.Header.Get(apichannel.TimestampHeader)
	require.NotEmpty(t, ts)
	require.True(t, apichannel.Verify([]byte(a.WebhookSecret), ts, d.Body, d.Header.Get(apichannel.SignatureHeader)), "signature of %s", d.Body)
	require.False(t, apichannel.Verify([]byte("another secret"), ts, d.Body, d.Header.Get(apichannel.SignatureHeader)))
	require.False(t, apichannel.Verify([]byte(a.WebhookSecret), "1", d.Body, d.Header.Get(apichannel.SignatureHeader)), "the timestamp is signed")
	require.Equal(t, "message.created", d.Header.Get(apichannel.EventHeader))
	require.Equal(t, "application/json", d.Header.Get("Content-Type"))
	require.Equal(t, a.AccountID, d.Parsed.AccountID)
	require.Equal(t, conv.String(), d.Parsed.ConversationID)
	require.Equal(t, "u-1", d.Parsed.Contact.ExternalID)
	require.Equal(t, "Yes, it is — ¡apply today!", d.Parsed.Message.Text)
	msgID := d.Parsed.Message.ID
	require.Equal(t, msgID, d.Header.Get(apichannel.DeliveryHeader))

	status := func(st, reason string) engine.Message {
		t.Helper()
		code, body := e.apiChannel(a, "statuses", a.InboundToken, map[string]any{"message_id": msgID, "status": st, "reason": reason})
		require.Equal(t, http.StatusOK, code, string(body))
		var ans struct {
			Message engine.Message `json:"message"`
		}
		require.NoError(t, json.Unmarshal(body, &ans))
		return ans.Message
	}
	eventually(t, 10*time.Second, func() error {
		if m := e.oldestFirst(conv)[1]; m.Status != engine.StatusSent {
			return fmt.Errorf("status %s", m.Status)
		}
		return nil
	})
	require.Equal(t, engine.StatusDelivered, status("delivered", "").Status)
	require.Equal(t, engine.StatusRead, status("read", "").Status)
	require.Equal(t, engine.StatusRead, status("delivered", "").Status, "statuses only move forward")
	require.Equal(t, engine.StatusRead, e.oldestFirst(conv)[1].Status)

	// The integrator reports "sent" from inside its webhook, before it
	// answers: kept (202, pending), then applied with the delivery.
	var (
		earlyMu   sync.Mutex
		earlyCode int
		earlyBody string
	)
	hook.mu.Lock()
	hook.during = func(d delivery) {
		code, body := e.apiChannel(a, "statuses", a.InboundToken, map[string]any{"message_id": d.Parsed.Message.ID, "status": "delivered"})
		earlyMu.Lock()
		earlyCode, earlyBody = code, string(body)
		earlyMu.Unlock()
	}
	hook.mu.Unlock()
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "second"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if m := e.oldestFirst(conv); len(m) != 3 || m[2].Status != engine.StatusDelivered {
			return fmt.Errorf("messages %+v", m[len(m)-1])
		}
		return nil
	})
	earlyMu.Lock()
	require.Equal(t, http.StatusAccepted, earlyCode, earlyBody)
	require.JSONEq(t, `{"pending":true}`, earlyBody)
	earlyMu.Unlock()

	// failed, with the integrator's reason.
	hook.mu.Lock()
	hook.during = nil
	hook.mu.Unlock()
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "third"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if n := len(hook.deliveries()); n != 3 {
			return fmt.Errorf("%d deliveries", n)
		}
		if m := e.oldestFirst(conv); m[3].Status != engine.StatusSent {
			return fmt.Errorf("status %s", m[3].Status)
		}
		return nil
	})
	msgID = hook.deliveries()[2].Parsed.Message.ID
	failed := status("failed", "the recipient blocked the bridge account")
	require.Equal(t, engine.StatusFailed, failed.Status)
	require.Equal(t, "the recipient blocked the bridge account", failed.ErrorReason)

	// A message id of no delivery of this account: kept, changes nothing.
	code, body = e.apiChannel(a, "statuses", a.InboundToken, map[string]any{"message_id": engine.NewID(time.Now()).String(), "status": "read"})
	require.Equal(t, http.StatusAccepted, code, string(body))
	require.Equal(t, 4.0, apiCount(t, reg, "statuses", "applied"))
	require.Equal(t, 2.0, apiCount(t, reg, "statuses", "pending"))
}

// A webhook that answers 500 is retried through the outbox on the
// injected clock, with the same delivery id, until it answers 200; the
// account's health says unreachable and then connected again.
func TestAPIChannelDeliveryRetriedThroughOutbox(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	reg := prometheus.NewRegistry()
	e := newAPIEnv(t, clock, reg, 4)
	hook := newIntegrator(t)
	hook.answer = func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	a := e.connectAPI(hook.srv.URL + "/parley")
	e.apiInbound(a, map[string]any{"source_id": "s1", "text": "hello", "contact": map[string]any{"external_id": "u-1"}})
	conv := e.thread(engine.ChannelAPI, a.AccountID, "u-1")
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "reply"})
	require.Equal(t, http.StatusCreated, code, string(body))

	waitAttempts := func(n int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			out, err := e.store.Outbox()
			if err != nil {
				return err
			}
			if len(out) != 1 || out[0].Attempts != n || len(hook.deliveries()) != n {
				return fmt.Errorf("outbox %+v after %d deliveries, want %d attempts", out, len(hook.deliveries()), n)
			}
			return nil
		})
	}
	waitAttempts(1)
	require.NotEqual(t, engine.StatusSent, e.oldestFirst(conv)[1].Status)
	// No retry while the clock stands still.
	time.Sleep(50 * time.Millisecond)
	require.Len(t, hook.deliveries(), 1)
	for want := 2; want <= 3; want++ {
		eventually(t, 10*time.Second, func() error {
			if len(hook.deliveries()) >= want {
				return nil
			}
			clock.Advance(time.Minute)
			return errors.New("no retry yet")
		})
		if want == 2 {
			waitAttempts(2)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if m := e.oldestFirst(conv)[1]; m.Status != engine.StatusSent {
			return fmt.Errorf("status %s", m.Status)
		}
		out, err := e.store.Outbox()
		if err != nil || len(out) != 0 {
			return fmt.Errorf("outbox %+v, %v", out, err)
		}
		return nil
	})
	ds := hook.deliveries()
	require.Len(t, ds, 3)
	for _, d := range ds {
		require.Equal(t, ds[0].Parsed.Message.ID, d.Header.Get(apichannel.DeliveryHeader), "one delivery id across retries")
		require.True(t, apichannel.Verify([]byte(a.WebhookSecret), d.Header.Get(apichannel.TimestampHeader), d.Body, d.Header.Get(apichannel.SignatureHeader)))
	}
	require.Equal(t, apichannel.OutboundMessageID(a.AccountID, ds[0].Parsed.Message.ID), e.oldestFirst(conv)[1].ChannelMessageID)
	require.Equal(t, 2.0, counterSum(t, reg, "parley_api_channel_deliveries_total", "result", "unreachable"))
	require.Equal(t, 1.0, counterSum(t, reg, "parley_api_channel_deliveries_total", "result", "delivered"))
	require.Equal(t, 0.0, counterSum(t, reg, "parley_api_channel_deliveries_total", "result", "refused"))
}

// Check now pings the webhook, signed: a 500 or a closed port is
// unreachable, a 404 is error, a 200 connected.
func TestAPIChannelHealthCheck(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, nil, nil, 0)
	hook := newIntegrator(t)
	status := http.StatusInternalServerError
	hook.answer = func(int) int { return status }
	a := e.connectAPI(hook.srv.URL + "/parley")
	check := func() channels.HealthView {
		t.Helper()
		code, body := e.api("POST", "/api/v1/channels/api/"+a.AccountID+"/check", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v apiAccount
		require.NoError(t, json.Unmarshal(body, &v))
		require.Empty(t, v.InboundToken, "secrets are shown once")
		require.Empty(t, v.WebhookSecret, "secrets are shown once")
		return v.Health
	}
	h := check()
	require.Equal(t, engine.HealthUnreachable, h.State)
	require.Equal(t, "http_500", h.Code)
	require.Contains(t, h.Reason, "upstream bridge down")
	hook.mu.Lock()
	ping := hook.got[len(hook.got)-1]
	hook.mu.Unlock()
	require.Equal(t, apichannel.EventPing, ping.Header.Get(apichannel.EventHeader))
	require.True(t, apichannel.Verify([]byte(a.WebhookSecret), ping.Header.Get(apichannel.TimestampHeader), ping.Body, ping.Header.Get(apichannel.SignatureHeader)))

	status = http.StatusNotFound
	require.Equal(t, engine.HealthError, check().State)
	status = http.StatusOK
	require.Equal(t, engine.HealthConnected, check().State)

	hook.srv.Close()
	h = check()
	require.Equal(t, engine.HealthUnreachable, h.State)
	require.Equal(t, apichannel.CodeNetwork, h.Code)
}

// Wrong tokens are 401 and bad bodies 400, with the API's error shape,
// and neither changes what is stored.
func TestAPIChannelRefusals(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newAPIEnv(t, nil, reg, 0)
	hook := newIntegrator(t)
	a := e.connectAPI(hook.srv.URL + "/parley")
	b := e.connectAPI(hook.srv.URL + "/other")
	e.apiInbound(a, map[string]any{"source_id": "s1", "text": "hello", "contact": map[string]any{"external_id": "u-1"}})
	eventually(t, 10*time.Second, func() error {
		if n, err := e.store.SearchBacklog(); err != nil || n > 0 {
			return fmt.Errorf("search backlog %d, %v", n, err)
		}
		return nil
	})
	before := e.storeDigest()
	good := map[string]any{"source_id": "s2", "text": "hi", "contact": map[string]any{"external_id": "u-2"}}
	for name, tok := range map[string]string{"none": "", "wrong": "pin_wrong", "another account's": b.InboundToken, "a user's": ownerToken} {
		for _, ep := range []string{"messages", "statuses", "contacts"} {
			code, body := e.apiChannel(a, ep, tok, good)
			require.Equal(t, http.StatusUnauthorized, code, "%s token on %s: %s", name, ep, body)
			require.Equal(t, "unauthorized", errorCode(t, body))
		}
	}
	code, body := e.api("POST", "/api/v1/api-channel/api_nosuch/messages", a.InboundToken, good)
	require.Equal(t, http.StatusUnauthorized, code, string(body))
	// A Meta account's id on the API channel's path.
	code, body = e.api("POST", "/api/v1/api-channel/"+phoneID+"/messages", "tok-"+phoneID, good)
	require.Equal(t, http.StatusUnauthorized, code, string(body))

	bad := map[string]struct {
		ep   string
		body any
	}{
		"not JSON":           {"messages", "{"},
		"no contact":         {"messages", map[string]any{"source_id": "s3", "text": "x"}},
		"no source_id":       {"messages", map[string]any{"text": "x", "contact": map[string]any{"external_id": "u"}}},
		"blank source_id":    {"messages", map[string]any{"source_id": "  ", "text": "x", "contact": map[string]any{"external_id": "u"}}},
		"blank external_id":  {"messages", map[string]any{"source_id": "s3", "text": "x", "contact": map[string]any{"external_id": " "}}},
		"nothing said":       {"messages", map[string]any{"source_id": "s3", "text": " ", "contact": map[string]any{"external_id": "u"}}},
		"file URL not http":  {"messages", map[string]any{"source_id": "s3", "attachment": map[string]any{"url": "file:///etc/passwd"}, "contact": map[string]any{"external_id": "u"}}},
		"bad email":          {"messages", map[string]any{"source_id": "s3", "text": "x", "contact": map[string]any{"external_id": "u", "email": "not an address"}}},
		"unknown field":      {"messages", map[string]any{"source_id": "s3", "text": "x", "contact": map[string]any{"external_id": "u"}, "channel": "whatsapp"}},
		"bad sent_at":        {"messages", map[string]any{"source_id": "s3", "text": "x", "contact": map[string]any{"external_id": "u"}, "sent_at": "yesterday"}},
		"status of nothing":  {"statuses", map[string]any{"message_id": "m-1", "status": "read"}},
		"status unknown":     {"statuses", map[string]any{"message_id": engine.NewID(time.Now()).String(), "status": "seen"}},
		"status sending":     {"statuses", map[string]any{"message_id": engine.NewID(time.Now()).String(), "status": "sending"}},
		"contact, no fields": {"contacts", map[string]any{"external_id": "u-1"}},
		"contact, bad phone": {"contacts", map[string]any{"external_id": "u-1", "phone": "call me"}},
	}
	for name, c := range bad {
		code, body := e.apiChannel(a, c.ep, a.InboundToken, c.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", name, body)
		require.NotEmpty(t, errorCode(t, body), name)
	}
	// A contact update before the person's first message.
	code, body = e.apiChannel(a, "contacts", a.InboundToken, map[string]any{"external_id": "u-9", "name": "Nobody"})
	require.Equal(t, http.StatusNotFound, code, string(body))
	require.Equal(t, "unknown_contact", errorCode(t, body))

	require.Equal(t, before, e.storeDigest(), "refused requests stored nothing")
	require.Equal(t, 14.0, apiCount(t, reg, "messages", "unauthorized")+apiCount(t, reg, "statuses", "unauthorized")+apiCount(t, reg, "contacts", "unauthorized"))
	require.Equal(t, float64(len(bad)+1), apiCount(t, reg, "messages", "refused")+apiCount(t, reg, "statuses", "refused")+apiCount(t, reg, "contacts", "refused"))
}

// The contacts endpoint names and details the person of an external id;
// a name given there is kept over the names later messages carry.
func TestAPIChannelContactUpdate(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, nil, nil, 0)
	hook := newIntegrator(t)
	a := e.connectAPI(hook.srv.URL + "/parley")
	e.apiInbound(a, map[string]any{"source_id": "s1", "text": "hello", "contact": map[string]any{"external_id": "u-1", "name": "bo_42"}})
	code, body := e.apiChannel(a, "contacts", a.InboundToken, map[string]any{"external_id": "u-1", "name": "Bo Lindqvist", "phone": "+46 70 123 45 67", "avatar_url": "https://cdn.example.com/bo.png"})
	require.Equal(t, http.StatusOK, code, string(body))
	var ct engine.Contact
	require.NoError(t, json.Unmarshal(body, &ct))
	require.Equal(t, "Bo Lindqvist", ct.Profile.Name)
	require.Equal(t, "+46 70 123 45 67", ct.Profile.Phone)
	require.Equal(t, "https://cdn.example.com/bo.png", ct.Profile.AvatarURL)
	e.apiInbound(a, map[string]any{"source_id": "s2", "text": "again", "contact": map[string]any{"external_id": "u-1", "name": "bo_43"}})
	eventually(t, 10*time.Second, func() error {
		got, err := e.store.Contact(e.ws, ct.ID)
		if err != nil || got.Profile.Name != "Bo Lindqvist" {
			return fmt.Errorf("contact %+v, %v", got.Profile, err)
		}
		return nil
	})
}

// An inbound file is fetched from the integrator's URL after the commit,
// or taken from a multipart body at once.
func TestAPIChannelInboundFiles(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, nil, nil, 0)
	png := []byte("\x89PNG\r\n\x1a\nnot really a png but bytes")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	t.Cleanup(files.Close)
	hook := newIntegrator(t)
	a := e.connectAPI(hook.srv.URL + "/parley")
	ans := e.apiInbound(a, map[string]any{"source_id": "f1", "text": "my CV", "contact": map[string]any{"external_id": "u-1"},
		"attachment": map[string]any{"url": files.URL + "/cv.png", "mime_type": "image/png", "filename": "cv.png"}})
	require.Equal(t, engine.KindImage, ans.Message.Kind)
	conv := e.thread(engine.ChannelAPI, a.AccountID, "u-1")
	eventually(t, 10*time.Second, func() error {
		m := e.oldestFirst(conv)[0]
		if m.Media == nil || m.Media.StorageKey == "" {
			return fmt.Errorf("media %+v", m.Media)
		}
		return nil
	})
	m := e.oldestFirst(conv)[0]
	require.Equal(t, int64(len(png)), m.Media.Size)
	require.Equal(t, "my CV", m.Media.Caption)

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("payload", `{"source_id":"f2","text":"cover letter","contact":{"external_id":"u-1"}}`))
	fw, err := mw.CreateFormFile("file", "letter.txt")
	require.NoError(t, err)
	_, _ = fw.Write([]byte("Dear team"))
	require.NoError(t, mw.Close())
	req, err := http.NewRequest("POST", e.url+"/api/v1/api-channel/"+a.AccountID+"/messages", &buf)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.InboundToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	code, body := e.do(req)
	require.Equal(t, http.StatusCreated, code, string(body))
	ms := e.oldestFirst(conv)
	require.Len(t, ms, 2)
	require.NotNil(t, ms[1].Media)
	require.NotEmpty(t, ms[1].Media.StorageKey)
	require.Equal(t, "cover letter", ms[1].Media.Caption)
}

// Connecting: the secrets are shown once; rotating one shows the new one
// once and the old one stops working; a webhook on a private address is
// refused unless allowed; webhook_url is for API accounts only.
func TestAPIChannelAccountLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // the default client: private addresses refused
	for _, u := range []string{"http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://localhost:8080/x", "http://169.254.169.254/latest"} {
		code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{"channel": "api", "webhook_url": u})
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", u, body)
		require.Equal(t, "private_address", errorCode(t, body), u)
	}
	for _, b := range []map[string]any{
		{"channel": "api", "webhook_url": "ftp://integrator.example/x"},
		{"channel": "api"},
		{"channel": "api", "webhook_url": "https://integrator.example/x", "access_token": "mine"},
		{"channel": "whatsapp", "account_id": "123", "access_token": "t", "webhook_url": "https://integrator.example/x"},
	} {
		code, body := e.api("POST", "/api/v1/channels", ownerToken, b)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", b, body)
	}
	a := e.connectAPI("https://integrator.example/parley")
	require.True(t, strings.HasPrefix(a.InboundToken, "pin_"))
	require.True(t, strings.HasPrefix(a.WebhookSecret, "whsec_"))
	require.Equal(t, "https://integrator.example/parley", a.WebhookURL)

	code, body := e.api("GET", "/api/v1/channels/api/"+a.AccountID, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.NotContains(t, string(body), a.InboundToken)
	require.NotContains(t, string(body), a.WebhookSecret)
	code, body = e.api("GET", "/api/v1/channels", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), a.AccountID)
	require.NotContains(t, string(body), a.InboundToken)

	code, body = e.api("PATCH", "/api/v1/channels/api/"+a.AccountID, ownerToken, map[string]any{"rotate_inbound_token": true, "webhook_url": "https://integrator.example/v2"})
	require.Equal(t, http.StatusOK, code, string(body))
	var rot apiAccount
	require.NoError(t, json.Unmarshal(body, &rot))
	require.NotEmpty(t, rot.InboundToken)
	require.NotEqual(t, a.InboundToken, rot.InboundToken)
	require.Empty(t, rot.WebhookSecret, "only the rotated secret is shown")
	require.Equal(t, "https://integrator.example/v2", rot.WebhookURL)
	msg := map[string]any{"source_id": "s1", "text": "hi", "contact": map[string]any{"external_id": "u"}}
	code, body = e.apiChannel(a, "messages", a.InboundToken, msg)
	require.Equal(t, http.StatusUnauthorized, code, string(body))
	code, body = e.apiChannel(a, "messages", rot.InboundToken, msg)
	require.Equal(t, http.StatusCreated, code, string(body))

	code, body = e.api("PATCH", "/api/v1/channels/api/"+a.AccountID, ownerToken, map[string]any{"webhook_url": "http://192.168.1.10/hook"})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = e.api("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, map[string]any{"rotate_webhook_secret": true})
	require.Equal(t, http.StatusBadRequest, code, string(body))

	code, body = e.api("DELETE", "/api/v1/channels/api/"+a.AccountID, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	code, body = e.apiChannel(a, "messages", rot.InboundToken, msg)
	require.Equal(t, http.StatusUnauthorized, code, "a disconnected account takes nothing: %s", body)
}

// Workspaces are apart: one workspace's inbound token opens none of the
// other's accounts, its conversations are not the other's, and its
// statuses reach none of the other's messages.
func TestAPIChannelWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, nil, nil, 0)
	hook := newIntegrator(t)
	const tokenB = "pk_api_ws_b"
	wsB := e.newWorkspace(tokenB)
	a := e.connectAPI(hook.srv.URL + "/a")
	b := e.connectAPIAs(tokenB, hook.srv.URL+"/b")
	msg := map[string]any{"source_id": "same-id", "text": "hello A", "contact": map[string]any{"external_id": "same-person"}}
	e.apiInbound(a, msg)
	msg["text"] = "hello B"
	ansB := e.apiInbound(b, msg)
	require.False(t, ansB.Duplicate, "the same source id on another account is another message")

	code, body := e.apiChannel(a, "messages", b.InboundToken, msg)
	require.Equal(t, http.StatusUnauthorized, code, string(body))
	code, body = e.api("GET", "/api/v1/channels/api/"+a.AccountID, tokenB, nil)
	require.Equal(t, http.StatusNotFound, code, string(body))
	code, body = e.api("GET", "/api/v1/channels", tokenB, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.NotContains(t, string(body), a.AccountID)

	convA := e.thread(engine.ChannelAPI, a.AccountID, "same-person")
	code, body = e.api("GET", "/api/v1/conversations/"+convA.String(), tokenB, nil)
	require.Equal(t, http.StatusNotFound, code, string(body))
	thB, ok, err := e.store.LookupThread(wsB, b.AccountID, "same-person")
	require.NoError(t, err)
	require.True(t, ok)
	require.NotEqual(t, convA, thB.ConversationID)

	// A's reply, and B's integrator reporting it read: nothing changes.
	code, body = e.api("POST", "/api/v1/conversations/"+convA.String()+"/messages", ownerToken, map[string]any{"text": "reply A"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if m := e.oldestFirst(convA); len(m) != 2 || m[1].Status != engine.StatusSent {
			return errors.New("not sent yet")
		}
		return nil
	})
	replyID := e.oldestFirst(convA)[1].ID.String()
	code, body = e.apiChannel(b, "statuses", b.InboundToken, map[string]any{"message_id": replyID, "status": "read"})
	require.Equal(t, http.StatusAccepted, code, string(body))
	require.Equal(t, engine.StatusSent, e.oldestFirst(convA)[1].Status)
	require.Len(t, hook.deliveries(), 1)
	require.Equal(t, "/a", hook.deliveries()[0].Path)
}

// A webhook that refuses a delivery (a 4xx) fails the message at once,
// with the answer's start as its reason and no retry; with health checks
// on, the delivery's result is the account's health: error after the
// refusal, unreachable after a 503, connected after the next 2xx.
func TestAPIChannelRefusedDeliveryFailsAndReportsHealth(t *testing.T) {
	t.Parallel()
	client := apichannel.NewClient(apichannel.ClientConfig{AllowPrivate: true, Timeout: 10 * time.Second})
	e := newEnvWith(t, func(c *actors.Config) {
		c.SendAttempts = 1
		c.Sender.(*channels.Sender).WithAPIChannel(client)
	}, func(c *gateway.Config) { c.APIChannel, c.ChannelHealthInterval = client, time.Hour })
	hook := newIntegrator(t)
	var mu sync.Mutex
	status := http.StatusOK
	hook.answer = func(int) int { mu.Lock(); defer mu.Unlock(); return status }
	setStatus := func(s int) { mu.Lock(); status = s; mu.Unlock() }
	a := e.connectAPI(hook.srv.URL + "/parley")
	health := func() channels.HealthView {
		t.Helper()
		code, body := e.api("GET", "/api/v1/channels/api/"+a.AccountID, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v apiAccount
		require.NoError(t, json.Unmarshal(body, &v))
		return v.Health
	}
	waitHealth := func(st engine.HealthState, code string) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			if h := health(); h.State != st || h.Code != code {
				return fmt.Errorf("health %+v, want %s %s", h, st, code)
			}
			return nil
		})
	}
	waitHealth(engine.HealthConnected, "") // the check when it was connected
	e.apiInbound(a, map[string]any{"source_id": "s1", "text": "hello", "contact": map[string]any{"external_id": "u-1"}})
	conv := e.thread(engine.ChannelAPI, a.AccountID, "u-1")
	reply := func(text string) {
		t.Helper()
		code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": text})
		require.Equal(t, http.StatusCreated, code, string(body))
	}

	setStatus(http.StatusUnprocessableEntity)
	reply("refused")
	eventually(t, 10*time.Second, func() error {
		if m := e.oldestFirst(conv); len(m) != 2 || m[1].Status != engine.StatusFailed {
			return fmt.Errorf("messages %+v", m[len(m)-1])
		}
		return nil
	})
	require.Contains(t, e.oldestFirst(conv)[1].ErrorReason, "The webhook answered HTTP 422: upstream bridge down")
	require.Len(t, hook.deliveries(), 1, "a refusal is not retried")
	waitHealth(engine.HealthError, "http_422")

	setStatus(http.StatusServiceUnavailable)
	reply("unreachable")
	waitHealth(engine.HealthUnreachable, "http_503")

	setStatus(http.StatusOK)
	reply("delivered")
	waitHealth(engine.HealthConnected, "")
}

// The same source_id posted by several requests at once (an integration
// retrying on a timeout while the first is in flight) is stored once:
// one 201, the others 200 duplicates of the same message.
func TestAPIChannelConcurrentReplaysStoredOnce(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, nil, nil, 0)
	hook := newIntegrator(t)
	a := e.connectAPI(hook.srv.URL + "/parley")
	const n = 12
	codes := make([]int, n)
	ids := make([]engine.ID, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := e.apiChannel(a, "messages", a.InboundToken, map[string]any{"source_id": "retried", "text": "once", "contact": map[string]any{"external_id": "u-1"}})
			var ans inboundAnswer
			if json.Unmarshal(body, &ans) == nil {
				ids[i] = ans.Message.ID
			}
			codes[i] = code
		}()
	}
	wg.Wait()
	created := 0
	for i, c := range codes {
		require.Contains(t, []int{http.StatusCreated, http.StatusOK}, c)
		if c == http.StatusCreated {
			created++
		}
		require.Equal(t, ids[0], ids[i], "every answer is the one message")
	}
	require.Equal(t, 1, created)
	require.Len(t, e.oldestFirst(e.thread(engine.ChannelAPI, a.AccountID, "u-1")), 1)
}
