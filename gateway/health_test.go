package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Graph answers to account checks, in Meta's documented error format.
const (
	graphTokenExpired = `{"error":{"message":"Error validating access token: Session has expired on Friday, 05-Dec-25 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEf"}}`
	graphUnknownError = `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2,"fbtrace_id":"AbCdEf"}}`
)

// healthAnswers answers the fake Graph API's account checks (GET
// /{v}/{account id}?fields=...) per account id; an id not set answers
// with its node (a success).
type healthAnswers struct {
	mu  sync.Mutex
	by  map[string][2]any // status, body
	got map[string]int    // checks per account id
	// valid, when it names an account's token, refuses every other
	// token with 190; hold, when set, holds every answer until closed.
	valid map[string]string
	hold  chan struct{}
}

func (h *healthAnswers) set(id string, status int, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.by[id] = [2]any{status, body}
}

func (h *healthAnswers) calls(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[id]
}

// healthEnv is an env whose runtime runs on a fake clock, whose gateway
// checks channel health every interval and registers its metrics in reg,
// and whose fake Graph API answers account checks from the returned
// healthAnswers.
func healthEnv(t *testing.T, interval time.Duration) (*env, *clockwork.FakeClock, *prometheus.Registry, *healthAnswers) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	answers := &healthAnswers{by: map[string][2]any{}, got: map[string]int{}, valid: map[string]string{}}
	e := &env{t: t, dir: t.TempDir(), graph: newFakeGraph(t), clock: clock, client: &http.Client{Timeout: 30 * time.Second},
		tweak:   func(c *actors.Config) { c.Clock = clock },
		gwTweak: func(c *gateway.Config) { c.Registerer, c.ChannelHealthInterval = reg, interval }}
	e.graph.profile = func(r graphReq) (int, string) {
		id := r.Path[strings.LastIndex(r.Path, "/")+1:]
		answers.mu.Lock()
		answers.got[id]++
		hold := answers.hold
		answers.mu.Unlock()
		if hold != nil {
			<-hold
		}
		answers.mu.Lock()
		defer answers.mu.Unlock()
		if tok, ok := answers.valid[id]; ok && r.Auth != "Bearer "+tok {
			return http.StatusUnauthorized, graphTokenExpired
		}
		if a, ok := answers.by[id]; ok {
			return a[0].(int), a[1].(string)
		}
		return http.StatusOK, `{"id":"` + id + `","name":"Shop"}`
	}
	e.start()
	t.Cleanup(e.stop)
	e.connect(engine.ChannelWhatsApp, phoneID)
	e.connect(engine.ChannelMessenger, pageID)
	e.connect(engine.ChannelInstagram, igID)
	return e, clock, reg, answers
}

// apiHealth is the health object of the API's accounts.
type apiHealth struct {
	State     engine.HealthState `json:"state"`
	Reason    string             `json:"reason"`
	Code      string             `json:"code"`
	Since     *time.Time         `json:"since"`
	CheckedAt *time.Time         `json:"checked_at"`
}

// healthOf reads an account's health through GET /api/v1/channels.
func (e *env) healthOf(ch engine.Channel, id string) apiHealth {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/channels", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var list struct {
		Channels []struct {
			Channel   engine.Channel `json:"channel"`
			AccountID string         `json:"account_id"`
			Health    apiHealth      `json:"health"`
		} `json:"channels"`
	}
	require.NoError(e.t, json.Unmarshal(body, &list))
	for _, a := range list.Channels {
		if a.Channel == ch && a.AccountID == id {
			return a.Health
		}
	}
	e.t.Fatalf("no account %s/%s", ch, id)
	return apiHealth{}
}

// waitHealth waits until an account's health is in state.
func (e *env) waitHealth(ch engine.Channel, id string, state engine.HealthState) apiHealth {
	e.t.Helper()
	var h apiHealth
	eventually(e.t, 5*time.Second, func() error {
		if h = e.healthOf(ch, id); h.State != state {
			return fmt.Errorf("%s/%s is %s (%s), want %s", ch, id, h.State, h.Reason, state)
		}
		return nil
	})
	return h
}

// gaugeValue reads the gauge (or counter) name with the labels given.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// Accounts are checked when connected and then every interval on the
// runtime's clock: a refused token (190) makes one expired, a failing
// Meta (HTTP 503, code 2) unreachable, a success connected again; the
// gauge counts them and since moves only with the state.
func TestChannelHealthPeriodicChecks(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Minute
	e, clock, reg, answers := healthEnv(t, interval)
	start := clock.Now()
	for _, a := range [][2]string{{"whatsapp", phoneID}, {"messenger", pageID}, {"instagram", igID}} {
		h := e.waitHealth(engine.Channel(a[0]), a[1], engine.HealthConnected)
		require.Equal(t, start, h.Since.UTC(), a)
		require.Equal(t, start, h.CheckedAt.UTC(), a)
		require.Empty(t, h.Code)
	}
	require.Equal(t, 1.0, gaugeValue(t, reg, "parley_channel_accounts", map[string]string{"channel": "whatsapp", "state": "connected"}))
	require.Equal(t, 0.0, gaugeValue(t, reg, "parley_channel_accounts", map[string]string{"channel": "whatsapp", "state": "expired"}))

	answers.set(phoneID, http.StatusBadRequest, graphTokenExpired)
	answers.set(pageID, http.StatusInternalServerError, graphUnknownError)
	answers.set(igID, http.StatusServiceUnavailable, `<html>Service Unavailable</html>`)
	require.Equal(t, 1, answers.calls(phoneID), "no check before the interval")
	clock.Advance(interval)
	tick1 := clock.Now()
	wa := e.waitHealth(engine.ChannelWhatsApp, phoneID, engine.HealthExpired)
	require.Equal(t, "190", wa.Code)
	require.Contains(t, wa.Reason, "Access token expired or invalid")
	require.Contains(t, wa.Reason, "Session has expired")
	require.Equal(t, tick1, wa.Since.UTC())
	ms := e.waitHealth(engine.ChannelMessenger, pageID, engine.HealthUnreachable)
	require.Equal(t, "2", ms.Code)
	ig := e.waitHealth(engine.ChannelInstagram, igID, engine.HealthUnreachable)
	require.Equal(t, "http_503", ig.Code)
	require.Equal(t, 1.0, gaugeValue(t, reg, "parley_channel_accounts", map[string]string{"channel": "whatsapp", "state": "expired"}))
	require.Equal(t, 0.0, gaugeValue(t, reg, "parley_channel_accounts", map[string]string{"channel": "whatsapp", "state": "connected"}))
	require.Equal(t, 1.0, gaugeValue(t, reg, "parley_channel_accounts", map[string]string{"channel": "instagram", "state": "unreachable"}))

	// Still expired at the next tick: checked again, since kept.
	answers.set(pageID, http.StatusOK, `{"id":"`+pageID+`","name":"Shop"}`)
	clock.Advance(interval)
	tick2 := clock.Now()
	e.waitHealth(engine.ChannelMessenger, pageID, engine.HealthConnected)
	eventually(t, 5*time.Second, func() error {
		if h := e.healthOf(engine.ChannelWhatsApp, phoneID); !h.CheckedAt.Equal(tick2) {
			return fmt.Errorf("whatsapp checked at %v", h.CheckedAt)
		}
		return nil
	})
	wa = e.healthOf(engine.ChannelWhatsApp, phoneID)
	require.Equal(t, engine.HealthExpired, wa.State)
	require.Equal(t, tick1, wa.Since.UTC())
	require.Equal(t, 3, answers.calls(phoneID))

	// The record is the monitor's own and survives a restart.
	e.stop()
	e.gwTweak = func(c *gateway.Config) { c.Registerer, c.ChannelHealthInterval = prometheus.NewRegistry(), interval }
	e.start()
	require.Equal(t, engine.HealthExpired, e.healthOf(engine.ChannelWhatsApp, phoneID).State)
	all, err := e.store.ChannelHealths()
	require.NoError(t, err)
	require.Len(t, all, 3)
	acct, err := e.store.ChannelAccount(engine.ChannelWhatsApp, phoneID)
	require.NoError(t, err)
	require.Equal(t, "tok-"+phoneID, acct.AccessToken, "the account record is not the health monitor's")
}

// A send refused with 190 marks its account expired at once (no check
// needed), and the channel.health event reaches a WebSocket client; a
// later successful send brings it back to connected.
func TestChannelHealthSendErrorFlipsAtOnce(t *testing.T) {
	t.Parallel()
	e, _, reg, answers := healthEnv(t, 10*time.Minute)
	e.waitHealth(engine.ChannelWhatsApp, phoneID, engine.HealthConnected)
	e.waitHealth(engine.ChannelMessenger, pageID, engine.HealthConnected)
	e.waitHealth(engine.ChannelInstagram, igID, engine.HealthConnected)
	ws, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	require.Equal(t, "hello", ws.frames()[0].Type)

	e.webhook(engine.ChannelWhatsApp, waText("wamid.in.h1", "15550009", "C", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550009")
	e.graph.mu.Lock()
	e.graph.send = func(graphReq) (int, string) { return http.StatusUnauthorized, graphTokenExpired }
	e.graph.mu.Unlock()
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "hello"})
	require.Equal(t, http.StatusCreated, code, string(body))

	ev := ws.nextHealthEvent()
	require.Equal(t, engine.ChannelWhatsApp, ev.Channel)
	require.Equal(t, phoneID, ev.AccountID)
	require.Equal(t, engine.HealthExpired, ev.Health.State)
	require.Equal(t, "190", ev.Health.Code)
	require.Equal(t, engine.HealthExpired, e.healthOf(engine.ChannelWhatsApp, phoneID).State)
	require.Equal(t, 1, answers.calls(phoneID), "the send said it: no check was made")
	require.Equal(t, 1.0, gaugeValue(t, reg, "parley_channel_accounts", map[string]string{"channel": "whatsapp", "state": "expired"}))

	e.graph.mu.Lock()
	e.graph.send = nil
	e.graph.mu.Unlock()
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "again"})
	require.Equal(t, http.StatusCreated, code, string(body))
	ev = ws.nextHealthEvent()
	require.Equal(t, engine.HealthConnected, ev.Health.State)
	require.Empty(t, ev.Health.Code)
	e.waitHealth(engine.ChannelWhatsApp, phoneID, engine.HealthConnected)
}

type healthEventData struct {
	Channel   engine.Channel `json:"channel"`
	AccountID string         `json:"account_id"`
	Health    apiHealth      `json:"health"`
}

// nextHealthEvent reads events until a channel.health one.
func (c *wsClient) nextHealthEvent() healthEventData {
	c.t.Helper()
	for {
		for _, ev := range c.frames() {
			if ev.Type == string(engine.EventChannelHealth) {
				var d healthEventData
				require.NoError(c.t, json.Unmarshal(ev.Data, &d))
				return d
			}
		}
	}
}

// Check now (admins) checks an account at once and answers it with its
// new health; agents get 403 and unknown accounts 404, with nothing
// stored; a disconnected account's record goes with it.
func TestChannelHealthCheckNow(t *testing.T) {
	t.Parallel()
	e, _, _, answers := healthEnv(t, -1) // on demand only
	require.Equal(t, apiHealth{State: engine.HealthUnknown}, e.healthOf(engine.ChannelInstagram, igID), "never checked")
	require.Zero(t, answers.calls(igID))

	answers.set(igID, http.StatusBadRequest, graphTokenExpired)
	code, body := e.api("POST", "/api/v1/channels/instagram/"+igID+"/check", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var acct struct {
		Channel   engine.Channel `json:"channel"`
		AccountID string         `json:"account_id"`
		Health    apiHealth      `json:"health"`
	}
	require.NoError(t, json.Unmarshal(body, &acct))
	require.Equal(t, igID, acct.AccountID)
	require.Equal(t, engine.HealthExpired, acct.Health.State)
	require.Equal(t, "190", acct.Health.Code)
	require.NotNil(t, acct.Health.CheckedAt)
	require.Equal(t, 1, answers.calls(igID))
	before, err := e.store.ChannelHealths()
	require.NoError(t, err)
	require.Len(t, before, 1)

	agent := e.addUser("agent@example.com", engine.RoleAgent, "agent-password-1")
	for _, c := range []struct {
		path, token string
		status      int
		code        string
	}{
		{"/api/v1/channels/instagram/" + igID + "/check", agent.Token, http.StatusForbidden, "forbidden"},
		{"/api/v1/channels/instagram/NOPE/check", ownerToken, http.StatusNotFound, "not_found"},
		{"/api/v1/channels/telegram/" + igID + "/check", ownerToken, http.StatusNotFound, "not_found"},
		{"/api/v1/channels/instagram/" + igID + "/check", "", http.StatusUnauthorized, "unauthorized"},
	} {
		code, body := e.api("POST", c.path, c.token, nil)
		require.Equal(t, c.status, code, "%s: %s", c.path, body)
		require.Equal(t, c.code, errorCode(t, body), c.path)
	}
	require.Equal(t, 1, answers.calls(igID), "a refused request checks nothing")
	after, err := e.store.ChannelHealths()
	require.NoError(t, err)
	require.Equal(t, before, after, "a refused request stores nothing")
	code, body = e.api("GET", "/api/v1/channels/instagram/"+igID, agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"state":"expired"`, "agents see the health")

	answers.set(igID, http.StatusOK, `{"id":"`+igID+`","username":"shop"}`)
	code, body = e.api("POST", "/api/v1/channels/instagram/"+igID+"/check", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"state":"connected"`)

	code, _ = e.api("DELETE", "/api/v1/channels/instagram/"+igID, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	eventually(t, 5*time.Second, func() error {
		all, err := e.store.ChannelHealths()
		if err != nil || len(all) != 0 {
			return fmt.Errorf("records %v, %v", all, err)
		}
		return nil
	})
}

// A token replaced while the old one is being checked: the old token's
// verdict (190) is dropped, the new token is checked, and the Check now
// in progress answers the new token's health.
func TestChannelHealthNewTokenWhileChecked(t *testing.T) {
	t.Parallel()
	e, _, _, answers := healthEnv(t, 10*time.Minute)
	e.waitHealth(engine.ChannelInstagram, igID, engine.HealthConnected)
	answers.mu.Lock()
	answers.valid[igID] = "tok-new"
	answers.hold = make(chan struct{})
	answers.mu.Unlock()
	before := answers.calls(igID)
	checked := make(chan []byte, 1)
	go func() {
		code, body := e.api("POST", "/api/v1/channels/instagram/"+igID+"/check", ownerToken, nil)
		if code != http.StatusOK {
			body = []byte(fmt.Sprintf("status %d: %s", code, body))
		}
		checked <- body
	}()
	eventually(t, 5*time.Second, func() error {
		if answers.calls(igID) == before {
			return fmt.Errorf("no check yet")
		}
		return nil
	})
	code, body := e.api("PATCH", "/api/v1/channels/instagram/"+igID, ownerToken, map[string]any{"access_token": "tok-new"})
	require.Equal(t, http.StatusOK, code, string(body))
	answers.mu.Lock()
	close(answers.hold)
	answers.hold = nil
	answers.mu.Unlock()

	var acct struct {
		Health apiHealth `json:"health"`
	}
	require.NoError(t, json.Unmarshal(<-checked, &acct))
	require.Equal(t, engine.HealthConnected, acct.Health.State, "the Check now answers the new token's health")
	require.Equal(t, before+2, answers.calls(igID), "the old token's check, then the new one's")
	all, err := e.store.ChannelHealths()
	require.NoError(t, err)
	for _, h := range all {
		require.NotEqual(t, engine.HealthExpired, h.State, "the old token's verdict is not recorded")
	}
}

// A send refused for its message or recipient (131047, the 24-hour
// window) says nothing of the account and asks for no check; a send that
// failed for a passing reason (HTTP 503) has the account checked at once
// when it was not checked for a minute.
func TestChannelHealthSendFailuresAskForACheck(t *testing.T) {
	t.Parallel()
	e, clock, _, answers := healthEnv(t, 10*time.Minute)
	e.waitHealth(engine.ChannelWhatsApp, phoneID, engine.HealthConnected)
	clock.Advance(2 * time.Minute)
	calls := answers.calls(phoneID)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.in.h2", "15550010", "C", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550010")

	e.graph.mu.Lock()
	e.graph.send = func(graphReq) (int, string) {
		return http.StatusBadRequest, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"fbtrace_id":"AbC"}}`
	}
	e.graph.mu.Unlock()
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "late"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if s := e.messages(conv)[0].Status; s != engine.StatusFailed {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, calls, answers.calls(phoneID), "a refusal of one message asks for no check")
	require.Equal(t, engine.HealthConnected, e.healthOf(engine.ChannelWhatsApp, phoneID).State)

	answers.set(phoneID, http.StatusServiceUnavailable, `<html>Service Unavailable</html>`)
	e.graph.mu.Lock()
	e.graph.send = func(graphReq) (int, string) { return http.StatusServiceUnavailable, `<html>Service Unavailable</html>` }
	e.graph.mu.Unlock()
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "again"})
	require.Equal(t, http.StatusCreated, code, string(body))
	h := e.waitHealth(engine.ChannelWhatsApp, phoneID, engine.HealthUnreachable)
	require.Equal(t, "http_503", h.Code)
	require.Equal(t, calls+1, answers.calls(phoneID), "one check")
}
