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

// broadcastEnv is a Parley whose WhatsApp number has its Business
// Account's templates synced (order_update approved, order_update/es
// pending), on the real clock, the number's tier as given.
func broadcastEnv(t *testing.T, tier string, tweak func(*actors.Config)) *env {
	t.Helper()
	return broadcastEnvWith(t, tier, tweak, nil)
}

// broadcastEnvWith is broadcastEnv with the gateway's configuration
// changed by gwTweak too.
func broadcastEnvWith(t *testing.T, tier string, tweak func(*actors.Config), gwTweak func(*gateway.Config)) *env {
	t.Helper()
	e := newEnvWith(t, tweak, gwTweak)
	code, body := e.api("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, map[string]any{"waba_id": wabaID, "messaging_tier": tier})
	require.Equal(t, http.StatusOK, code, string(body))
	e.graph.other = templatePages([]string{tplOrder, tplPending, tplPromo})
	syncTemplates(t, e)
	e.graph.mu.Lock()
	e.graph.other = nil
	e.graph.mu.Unlock()
	return e
}

// mkContact makes a contact with a phone and returns its id.
func mkContact(t *testing.T, e *env, name, phone string) string {
	t.Helper()
	code, body := e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": name, "phone": phone})
	require.Equal(t, http.StatusCreated, code, string(body))
	var c struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &c))
	return c.ID
}

func orderBroadcast(name string, audience map[string]any) map[string]any {
	return map[string]any{"name": name, "account_id": phoneID,
		"template": map[string]any{"name": "order_update", "language": "en_US"},
		"variables": []map[string]any{
			{"component": "header", "index": 1, "fallback": "A-0"},
			{"component": "body", "index": 1, "field": "first_name", "fallback": "there"},
			{"component": "body", "index": 2, "field": "custom.order", "fallback": "#1"},
			{"component": "body", "index": 3, "fallback": "Monday"}},
		"audience": audience}
}

func createBroadcast(t *testing.T, e *env, body map[string]any) engine.Broadcast {
	t.Helper()
	code, out := e.api("POST", "/api/v1/broadcasts", ownerToken, body)
	require.Equal(t, http.StatusCreated, code, string(out))
	var b engine.Broadcast
	require.NoError(t, json.Unmarshal(out, &b))
	return b
}

func getBroadcast(t *testing.T, e *env, id engine.ID) engine.Broadcast {
	t.Helper()
	code, out := e.api("GET", "/api/v1/broadcasts/"+id.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(out))
	var b engine.Broadcast
	require.NoError(t, json.Unmarshal(out, &b))
	return b
}

func waitBroadcast(t *testing.T, e *env, id engine.ID, state engine.BroadcastState, timeout time.Duration) engine.Broadcast {
	t.Helper()
	var b engine.Broadcast
	eventually(t, timeout, func() error {
		b = getBroadcast(t, e, id)
		if b.State != state {
			return fmt.Errorf("state %s, counts %+v", b.State, b.Counts)
		}
		return nil
	})
	return b
}

type recipientsResp struct {
	Recipients []struct {
		ContactID      string `json:"contact_id"`
		Name           string `json:"name"`
		Phone          string `json:"phone"`
		Status         string `json:"status"`
		ErrorCode      string `json:"error_code"`
		ErrorReason    string `json:"error_reason"`
		SkipReason     string `json:"skip_reason"`
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
	} `json:"recipients"`
	NextCursor string `json:"next_cursor"`
}

func recipients(t *testing.T, e *env, id engine.ID, query string) recipientsResp {
	t.Helper()
	code, out := e.api("GET", "/api/v1/broadcasts/"+id.String()+"/recipients"+query, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(out))
	var r recipientsResp
	require.NoError(t, json.Unmarshal(out, &r))
	return r
}

// sendsTo counts the Graph API's message requests per recipient.
func sendsTo(e *env) map[string]int {
	out := map[string]int{}
	for _, r := range e.graph.requests("/messages") {
		var m struct{ To string }
		_ = json.Unmarshal(r.Body, &m)
		out[m.To]++
	}
	return out
}

func TestBroadcastSendsEachRecipientOnce(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	ann := mkContact(t, e, "Ann Lee", "+15550000001")
	bob := mkContact(t, e, "Bob", "+15550000002")
	noPhone := mkContact(t, e, "Nobody", "")
	code, body := e.api("PATCH", "/api/v1/contacts/"+ann, ownerToken, map[string]any{"custom_fields": map[string]any{"order": "B-7"}})
	require.Equal(t, http.StatusOK, code, string(body))

	b := createBroadcast(t, e, orderBroadcast("Spring", map[string]any{"contact_ids": []string{ann, bob, noPhone, bob},
		"csv": "phone,name\n+1 555 000 0001,Ann again\n+15550000003,Cleo\nnot a phone,X\n"}))
	require.Equal(t, engine.BroadcastScheduled, b.State)
	require.Equal(t, engine.BroadcastDefaultRate, b.RatePerSecond)
	done := waitBroadcast(t, e, b.ID, engine.BroadcastCompleted, 20*time.Second)
	require.EqualValues(t, 4, done.Counts.Total, "%+v", done.Counts) // ann, bob, nobody, cleo (the bad row is no contact)
	require.EqualValues(t, 3, done.Counts.Sent, "%+v", done.Counts)
	require.EqualValues(t, 1, done.Counts.Skipped, "%+v", done.Counts)
	require.EqualValues(t, 0, done.Counts.Queued)

	sends := sendsTo(e)
	require.Equal(t, map[string]int{"15550000001": 1, "15550000002": 1, "15550000003": 1}, sends)
	for _, r := range e.graph.requests("/messages") {
		var m struct {
			To       string
			Type     string
			Template struct {
				Name       string
				Components []struct {
					Type       string
					Parameters []struct{ Text string }
				}
			}
		}
		require.NoError(t, json.Unmarshal(r.Body, &m))
		require.Equal(t, "template", m.Type)
		require.Equal(t, "order_update", m.Template.Name)
		var params []string
		for _, c := range m.Template.Components {
			for _, p := range c.Parameters {
				params = append(params, c.Type+":"+p.Text)
			}
		}
		switch m.To {
		case "15550000001":
			require.Equal(t, []string{"header:A-0", "body:Ann", "body:B-7", "body:Monday"}, params)
		case "15550000003":
			require.Equal(t, []string{"header:A-0", "body:Cleo", "body:#1", "body:Monday"}, params)
		}
	}
	rs := recipients(t, e, b.ID, "")
	require.Len(t, rs.Recipients, 4)
	skipped := recipients(t, e, b.ID, "?status=skipped")
	require.Len(t, skipped.Recipients, 1)
	require.Equal(t, noPhone, skipped.Recipients[0].ContactID)
	require.Equal(t, engine.SkipNoWhatsApp, skipped.Recipients[0].SkipReason)
	sent := recipients(t, e, b.ID, "?status=sent")
	require.Len(t, sent.Recipients, 3)
	for _, r := range sent.Recipients {
		require.NotEmpty(t, r.MessageID)
		require.NotEmpty(t, r.ConversationID)
		// The message is in the inbox as the broadcast's, and the
		// conversation stays with the AI.
		conv, err := engine.ParseID(r.ConversationID)
		require.NoError(t, err)
		c := e.conv(conv)
		require.Equal(t, engine.ModeAI, c.Mode)
		msgs := e.messages(conv)
		require.Equal(t, engine.SenderBroadcast, msgs[len(msgs)-1].Sender.Kind)
		require.Equal(t, engine.KindTemplate, msgs[len(msgs)-1].Kind)
	}

	// The contact's broadcasts.
	code, body = e.api("GET", "/api/v1/contacts/"+ann+"/broadcasts", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var cb struct {
		Broadcasts []struct {
			BroadcastID string `json:"broadcast_id"`
			Name        string
			Status      string
		}
	}
	require.NoError(t, json.Unmarshal(body, &cb))
	require.Len(t, cb.Broadcasts, 1)
	require.Equal(t, b.ID.String(), cb.Broadcasts[0].BroadcastID)
	require.Equal(t, "sent", cb.Broadcasts[0].Status)

	// Done is done.
	code, body = e.api("POST", "/api/v1/broadcasts/"+b.ID.String()+"/pause", ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "bad_state", errorCode(t, body))
}

func TestBroadcastValidation(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	ann := mkContact(t, e, "Ann", "+15550000001")
	aud := map[string]any{"contact_ids": []string{ann}}
	cases := []struct {
		name   string
		change func(b map[string]any)
		status int
		code   string
	}{
		{"no name", func(b map[string]any) { b["name"] = " " }, 400, "invalid"},
		{"unknown number", func(b map[string]any) { b["account_id"] = "999" }, 400, "invalid"},
		{"unknown template", func(b map[string]any) { b["template"] = map[string]any{"name": "nope", "language": "en_US"} }, 404, "template_not_found"},
		{"pending template", func(b map[string]any) {
			b["template"] = map[string]any{"name": "order_update", "language": "es"}
			b["variables"] = []map[string]any{{"component": "body", "index": 1, "fallback": "x"}}
		}, 409, "template_not_approved"},
		{"missing variable", func(b map[string]any) { b["variables"] = b["variables"].([]map[string]any)[:3] }, 400, "invalid_template_params"},
		{"variable twice", func(b map[string]any) {
			b["variables"] = append(b["variables"].([]map[string]any), map[string]any{"component": "body", "index": 1, "fallback": "y"})
		}, 400, "invalid"},
		{"no field no fallback", func(b map[string]any) {
			b["variables"].([]map[string]any)[3] = map[string]any{"component": "body", "index": 3}
		}, 400, "invalid"},
		{"bad field", func(b map[string]any) {
			b["variables"].([]map[string]any)[3] = map[string]any{"component": "body", "index": 3, "field": "shoe size"}
		}, 400, "invalid"},
		{"empty audience", func(b map[string]any) { b["audience"] = map[string]any{} }, 400, "invalid"},
		{"bad contact id", func(b map[string]any) { b["audience"] = map[string]any{"contact_ids": []string{"x"}} }, 400, "invalid"},
		{"rate above the tier", func(b map[string]any) { b["rate_per_second"] = 1000 }, 400, "invalid"},
		{"bad time", func(b map[string]any) { b["scheduled_at"] = "tomorrow" }, 400, "invalid"},
		{"unknown field", func(b map[string]any) { b["colour"] = "red" }, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := orderBroadcast("X", aud)
			c.change(b)
			code, body := e.api("POST", "/api/v1/broadcasts", ownerToken, b)
			require.Equal(t, c.status, code, string(body))
			if c.code != "" {
				require.Equal(t, c.code, errorCode(t, body), string(body))
			}
		})
	}
	code, body := e.api("GET", "/api/v1/broadcasts", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"broadcasts":[],"next_cursor":""}`, string(body), "nothing stored")
	// Agents read, but do not create.
	code, body = e.api("POST", "/api/v1/broadcasts", e.addUser("agent@example.com", engine.RoleAgent, "agent password 1").Token, orderBroadcast("X", aud))
	require.Equal(t, http.StatusForbidden, code, string(body))
}

func TestBroadcastPreview(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	ann := mkContact(t, e, "Ann Lee", "+15550000001")
	nobody := mkContact(t, e, "Nobody", "")
	code, body := e.api("POST", "/api/v1/broadcasts/preview", ownerToken, orderBroadcast("P", map[string]any{
		"contact_ids": []string{ann, nobody}, "csv": "+15550000004,Dan\nbad,X"}))
	require.Equal(t, http.StatusOK, code, string(body))
	var p struct {
		Total   int
		Skipped []struct {
			ContactID string `json:"contact_id"`
			Phone     string
			Reason    string
		}
		Samples []struct {
			ContactID string `json:"contact_id"`
			Name      string
			Phone     string
			Text      string
		}
	}
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, 4, p.Total)
	require.Len(t, p.Samples, 2)
	require.Equal(t, ann, p.Samples[0].ContactID)
	require.Equal(t, "Order A-0\n\nHi Ann, your order #1 ships on Monday.\n\nParley Shop", p.Samples[0].Text)
	require.Equal(t, "15550000004", p.Samples[1].Phone)
	require.Contains(t, p.Samples[1].Text, "Hi Dan,")
	reasons := map[string]bool{}
	for _, s := range p.Skipped {
		reasons[s.Reason] = true
	}
	require.Equal(t, map[string]bool{engine.SkipNoWhatsApp: true, engine.SkipInvalidPhone: true}, reasons)
	// Nothing stored: no broadcast, no contact for Dan.
	code, body = e.api("GET", "/api/v1/broadcasts", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"broadcasts":[]`)
	_, ok, err := e.store.ContactByKeys(e.ws, []string{engine.KeyPhone + "+15550000004"})
	require.NoError(t, err)
	require.False(t, ok)
}

// holdGraphSends holds the fake Graph API's answers to sends until the
// returned release is called (at the test's end at the latest).
func holdGraphSends(t *testing.T, e *env) (release func()) {
	hold := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	e.graph.mu.Lock()
	e.graph.hold = hold
	e.graph.mu.Unlock()
	return release
}

// broadcastCSV is an audience CSV of n rows, the phones formatted from
// i by phoneFormat.
func broadcastCSV(phoneFormat string, n int) string {
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range n {
		fmt.Fprintf(&csv, phoneFormat+",Person %d\n", i, i)
	}
	return csv.String()
}

func TestBroadcastPauseResumeCancel(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	release := holdGraphSends(t, e)
	var ids []string
	for i := range 20 {
		ids = append(ids, mkContact(t, e, fmt.Sprintf("C%d", i), fmt.Sprintf("+1555100%04d", i)))
	}
	body := orderBroadcast("Paced", map[string]any{"contact_ids": ids})
	body["rate_per_second"] = 2
	b := createBroadcast(t, e, body)
	waitBroadcast(t, e, b.ID, engine.BroadcastSending, 10*time.Second)
	code, out := e.api("POST", "/api/v1/broadcasts/"+b.ID.String()+"/pause", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(out))
	require.Contains(t, string(out), `"state":"paused"`)
	code, out = e.api("POST", "/api/v1/broadcasts/"+b.ID.String()+"/pause", ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(out))
	release()
	// Paused: what was handed out finishes, nothing more starts.
	time.Sleep(0) // (no wait on time: the counts below are read once the handed-out sends settle)
	var paused engine.Broadcast
	eventually(t, 10*time.Second, func() error {
		paused = getBroadcast(t, e, b.ID)
		if int(paused.Counts.Sent) != len(e.graph.requests("/messages")) {
			return fmt.Errorf("sent %d, requests %d", paused.Counts.Sent, len(e.graph.requests("/messages")))
		}
		return nil
	})
	require.Less(t, paused.Counts.Sent, int64(20))
	code, out = e.api("POST", "/api/v1/broadcasts/"+b.ID.String()+"/resume", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(out))
	require.Contains(t, string(out), `"state":"sending"`)
	code, out = e.api("POST", "/api/v1/broadcasts/"+b.ID.String()+"/cancel", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(out))
	require.Contains(t, string(out), `"state":"cancelled"`)
	cancelled := getBroadcast(t, e, b.ID)
	require.Less(t, cancelled.Counts.Sent, int64(20))
	code, out = e.api("POST", "/api/v1/broadcasts/"+b.ID.String()+"/resume", ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(out))
	require.Equal(t, "bad_state", errorCode(t, out))
	for to, n := range sendsTo(e) {
		require.Equal(t, 1, n, to)
	}
}

// pumpClock moves a fake clock on by step every millisecond until the
// test ends: the broadcast's pace, retries and backoffs run on it.
func pumpClock(t *testing.T, clock *clockwork.FakeClock, step time.Duration) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				clock.Advance(step)
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

// graphError is a Graph API error answer.
func graphError(code int, msg string) string {
	return fmt.Sprintf(`{"error":{"message":"(#%d) %s","type":"OAuthException","code":%d,"error_data":{"messaging_product":"whatsapp","details":"%s"},"fbtrace_id":"A"}}`, code, msg, code, msg)
}

func TestBroadcastThrottlingAndErrors(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now().UTC())
	e := broadcastEnv(t, "", func(c *actors.Config) { c.Clock = clock })
	pumpClock(t, clock, 50*time.Millisecond)
	var mu sync.Mutex
	seen := map[string]int{}
	e.graph.mu.Lock()
	e.graph.send = func(r graphReq) (int, string) {
		var m struct{ To string }
		_ = json.Unmarshal(r.Body, &m)
		mu.Lock()
		defer mu.Unlock()
		seen[m.To]++
		switch {
		case m.To == "15550000001" && seen[m.To] == 1:
			return http.StatusBadRequest, graphError(131056, "Pair rate limit hit")
		case m.To == "15550000002" && seen[m.To] == 1:
			return http.StatusBadRequest, graphError(130429, "Rate limit hit")
		case m.To == "15550000003" && seen[m.To] == 1:
			return http.StatusBadRequest, graphError(131048, "Spam rate limit hit")
		case m.To == "15550000004":
			return http.StatusBadRequest, graphError(131026, "Message undeliverable")
		case m.To == "15550000005":
			return http.StatusBadRequest, graphError(131056, "Pair rate limit hit")
		}
		return 0, ""
	}
	e.graph.mu.Unlock()
	var ids []string
	for i := 1; i <= 6; i++ {
		ids = append(ids, mkContact(t, e, fmt.Sprintf("C%d", i), fmt.Sprintf("+1555000000%d", i)))
	}
	start := clock.Now()
	b := createBroadcast(t, e, orderBroadcast("Throttled", map[string]any{"contact_ids": ids}))
	done := waitBroadcast(t, e, b.ID, engine.BroadcastCompleted, 60*time.Second)
	require.EqualValues(t, 4, done.Counts.Sent, "%+v", done.Counts)
	require.EqualValues(t, 2, done.Counts.Failed, "%+v", done.Counts)
	mu.Lock()
	require.Equal(t, map[string]int{"15550000001": 2, "15550000002": 2, "15550000003": 2, "15550000004": 1,
		"15550000005": engine.BroadcastMaxAttempts, "15550000006": 1}, seen)
	mu.Unlock()
	// 131056 waited about 6 s for that recipient, doubling; the others
	// did not wait for it.
	require.GreaterOrEqual(t, clock.Since(start), engine.BroadcastPairRetry*(1<<(engine.BroadcastMaxAttempts-2)))
	failed := recipients(t, e, b.ID, "?status=failed")
	require.Len(t, failed.Recipients, 2)
	byPhone := map[string]string{}
	for _, r := range failed.Recipients {
		byPhone[r.Phone] = r.ErrorCode + " " + r.ErrorReason
	}
	require.Contains(t, byPhone["15550000004"], "131026 Message undeliverable")
	require.Contains(t, byPhone["15550000005"], "131056")
	// The throttled sends backed the broadcast off: its level went up,
	// and came down as sends succeeded.
	st, err := e.store.Broadcast(e.ws, b.ID)
	require.NoError(t, err)
	require.False(t, st.BackoffUntil.IsZero(), "130429 and 131048 set a backoff")
}

func TestBroadcastStatusesRepliesAndAttribution(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	ann := mkContact(t, e, "Ann", "+15550000001")
	bob := mkContact(t, e, "Bob", "+15550000002")
	cleo := mkContact(t, e, "Cleo", "+15550000003")
	// Dan blocked his conversation; Eve unsubscribed in hers.
	dan := mkContact(t, e, "Dan", "+15550000004")
	eve := mkContact(t, e, "Eve", "+15550000005")
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.in.dan", "15550000004", "Dan", "hello"))
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.in.eve", "15550000005", "Eve", "hello"))
	require.Equal(t, http.StatusOK, code, string(body))
	danConv := e.thread(engine.ChannelWhatsApp, phoneID, "15550000004")
	eveConv := e.thread(engine.ChannelWhatsApp, phoneID, "15550000005")
	code, body = e.api("POST", "/api/v1/conversations/"+danConv.String()+"/block", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/conversations/"+eveConv.String()+"/subscription", ownerToken, map[string]any{"unsubscribed": true})
	require.Equal(t, http.StatusOK, code, string(body))

	// Updates arrive on the WebSocket, throttled.
	b := createBroadcast(t, e, orderBroadcast("June news", map[string]any{"contact_ids": []string{ann, bob, cleo, dan, eve}}))
	done := waitBroadcast(t, e, b.ID, engine.BroadcastCompleted, 20*time.Second)
	require.EqualValues(t, 3, done.Counts.Sent, "%+v", done.Counts)
	require.EqualValues(t, 2, done.Counts.Skipped, "%+v", done.Counts)
	skipped := recipients(t, e, b.ID, "?status=skipped")
	reasons := map[string]string{}
	for _, r := range skipped.Recipients {
		reasons[r.ContactID] = r.SkipReason
	}
	require.Equal(t, map[string]string{dan: engine.SkipBlocked, eve: engine.SkipUnsubscribed}, reasons)

	wamid := map[string]string{}
	for _, r := range recipients(t, e, b.ID, "?status=sent").Recipients {
		wamid[r.ContactID] = r.MessageID
	}
	now := time.Now().Unix()
	for _, p := range []string{waStatus(wamid[ann], "delivered", now, ""), waStatus(wamid[ann], "read", now+1, ""),
		waStatus(wamid[bob], "read", now, ""), waStatus(wamid[bob], "delivered", now+1, ""),
		waStatus(wamid[cleo], "failed", now, `{"code":131026,"title":"Message undeliverable"}`)} {
		code, body := e.webhook(engine.ChannelWhatsApp, p)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	eventually(t, 10*time.Second, func() error {
		c := getBroadcast(t, e, b.ID).Counts
		if c.Read != 2 || c.Delivered != 2 || c.Failed != 1 || c.Sent != 2 {
			return fmt.Errorf("counts %+v", c)
		}
		return nil
	})

	// Ann replies: replied, and her conversation is the broadcast's.
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.in.ann", "15550000001", "Ann", "tell me more"))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if c := getBroadcast(t, e, b.ID).Counts; c.Replied != 1 {
			return fmt.Errorf("counts %+v", c)
		}
		return nil
	})
	annConv := e.thread(engine.ChannelWhatsApp, phoneID, "15550000001")
	cp := e.conv(annConv).Campaign
	require.NotNil(t, cp)
	require.Equal(t, engine.CampaignSourceBroadcast, cp.Source)
	require.Equal(t, b.ID.String(), cp.Ref)
	require.Equal(t, "June news", cp.Headline)
	page := e.list("campaign=" + b.ID.String())
	require.Len(t, page.Conversations, 1)
	require.Equal(t, annConv, page.Conversations[0].ID)
	code, body = e.api("GET", "/api/v1/campaigns", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), b.ID.String())
	replied := recipients(t, e, b.ID, "?status=replied")
	require.Len(t, replied.Recipients, 1)
	require.Equal(t, ann, replied.Recipients[0].ContactID)

	// Another workspace sees and controls none of it.
	e.newWorkspace("pk_workspace_b")
	for _, r := range [][2]string{{"GET", "/api/v1/broadcasts/" + b.ID.String()}, {"GET", "/api/v1/broadcasts/" + b.ID.String() + "/recipients"},
		{"POST", "/api/v1/broadcasts/" + b.ID.String() + "/pause"}, {"POST", "/api/v1/broadcasts/" + b.ID.String() + "/cancel"},
		{"GET", "/api/v1/contacts/" + ann + "/broadcasts"}} {
		code, body := e.api(r[0], r[1], "pk_workspace_b", nil)
		require.Equal(t, http.StatusNotFound, code, r[1]+" "+string(body))
	}
	code, body = e.api("GET", "/api/v1/broadcasts", "pk_workspace_b", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"broadcasts":[]`)
	code, body = e.api("POST", "/api/v1/broadcasts", "pk_workspace_b", orderBroadcast("Theirs", map[string]any{"contact_ids": []string{ann}}))
	require.Equal(t, http.StatusBadRequest, code, "the number is not theirs: "+string(body))
}

func TestBroadcastScheduled(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 24, 8, 0, 0, 0, time.UTC))
	e := broadcastEnv(t, "", func(c *actors.Config) { c.Clock = clock })
	ann := mkContact(t, e, "Ann", "+15550000001")
	body := orderBroadcast("Xmas", map[string]any{"contact_ids": []string{ann}})
	body["scheduled_at"] = "2026-12-24T09:00:00"
	b := createBroadcast(t, e, body)
	require.Equal(t, time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC), b.ScheduledAt.UTC())
	clock.Advance(59 * time.Minute)
	require.Equal(t, engine.BroadcastScheduled, getBroadcast(t, e, b.ID).State)
	require.Empty(t, e.graph.requests("/messages"))
	pumpClock(t, clock, 10*time.Millisecond)
	done := waitBroadcast(t, e, b.ID, engine.BroadcastCompleted, 20*time.Second)
	require.EqualValues(t, 1, done.Counts.Sent)
	require.False(t, done.StartedAt.Before(b.ScheduledAt))
}

// TestBroadcastScheduledInWorkspaceTimeZone: a scheduled_at without an
// offset is read in the workspace's time zone once the operator set one
// (UTC before); one with an offset is that instant whatever the zone.
func TestBroadcastScheduledInWorkspaceTimeZone(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 24, 6, 0, 0, 0, time.UTC))
	e := broadcastEnvWith(t, "", func(c *actors.Config) { c.Clock = clock },
		func(c *gateway.Config) { c.AdminToken = adminToken })
	ann := mkContact(t, e, "Ann", "+15550000001")
	body := orderBroadcast("Xmas", map[string]any{"contact_ids": []string{ann}})
	body["scheduled_at"] = "2026-12-24T09:00:00"
	require.Equal(t, time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC), createBroadcast(t, e, body).ScheduledAt.UTC())
	code, out := e.api("PATCH", "/api/v1/admin/workspaces/"+e.ws.String(), adminToken, map[string]any{"time_zone": "Europe/Paris"})
	require.Equal(t, http.StatusOK, code, string(out))
	// 09:00 in Paris in December (UTC+1) is 08:00 UTC.
	require.Equal(t, time.Date(2026, 12, 24, 8, 0, 0, 0, time.UTC), createBroadcast(t, e, body).ScheduledAt.UTC())
	body["scheduled_at"] = "2026-12-24T09:00:00Z"
	require.Equal(t, time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC), createBroadcast(t, e, body).ScheduledAt.UTC())
}

func TestBroadcastUpdatedEvents(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	var ids []string
	for i := range 30 {
		ids = append(ids, mkContact(t, e, fmt.Sprintf("C%d", i), fmt.Sprintf("+1555200%04d", i)))
	}
	ws, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	start := time.Now()
	b := createBroadcast(t, e, orderBroadcast("Live", map[string]any{"contact_ids": ids}))
	var updates []engine.Broadcast
	for len(updates) == 0 || updates[len(updates)-1].State != engine.BroadcastCompleted {
		require.Less(t, time.Since(start), 20*time.Second, "no completed update: %d updates", len(updates))
		for _, ev := range ws.frames() {
			if ev.Type != string(engine.EventBroadcastUpdated) {
				continue
			}
			var got engine.Broadcast
			require.NoError(t, json.Unmarshal(ev.Data, &got))
			require.Equal(t, b.ID, got.ID)
			updates = append(updates, got)
		}
	}
	last := updates[len(updates)-1]
	require.EqualValues(t, 30, last.Counts.Sent)
	for i := 1; i < len(updates); i++ {
		require.GreaterOrEqual(t, updates[i].Counts.Sent, updates[i-1].Counts.Sent, "counts only grow")
	}
	// Throttled: at most 4 a second (and one more at each end).
	require.LessOrEqual(t, float64(len(updates)), 4*time.Since(start).Seconds()+2, "%d updates in %s", len(updates), time.Since(start))
}

// The plan's broadcasts a month: the operator allows one, the second
// create is refused with 402 plan_limit and nothing of it is stored.
func TestBroadcastPlanLimit(t *testing.T) {
	e := broadcastEnvWith(t, "", nil, func(c *gateway.Config) { c.AdminToken = adminToken })
	code, body := e.api("PATCH", "/api/v1/admin/workspaces/"+e.ws.String(), adminToken,
		map[string]any{"limits": map[string]any{"broadcasts_per_month": 1}})
	require.Equal(t, http.StatusOK, code, string(body))
	ann := mkContact(t, e, "Ann", "+15550000001")
	aud := map[string]any{"contact_ids": []string{ann}}
	createBroadcast(t, e, orderBroadcast("first", aud))
	code, body = e.api("POST", "/api/v1/broadcasts", ownerToken, orderBroadcast("second", aud))
	require.Equal(t, http.StatusPaymentRequired, code, string(body))
	require.Equal(t, "plan_limit", errorCode(t, body))
	code, body = e.api("GET", "/api/v1/broadcasts", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var list struct {
		Broadcasts []engine.Broadcast `json:"broadcasts"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Broadcasts, 1, "the refused broadcast is not stored")
	require.Equal(t, "first", list.Broadcasts[0].Name)
}

// TestBroadcastInFlightBounded holds every send at the Graph API and
// lets the broadcast's pace run far past its rate on the injected
// clock: no more recipients are handed out than
// engine.BroadcastInFlightLimit while Meta answers none, and once Meta
// answers the rest follow, each recipient sent once.
func TestBroadcastInFlightBounded(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now().UTC())
	reg := prometheus.NewRegistry()
	e := broadcastEnv(t, "", func(c *actors.Config) { c.Clock, c.Registerer = clock, reg })
	release := holdGraphSends(t, e)
	inFlight := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "parley_broadcast_sends_in_flight" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no parley_broadcast_sends_in_flight")
		return 0
	}
	const rate, n = 20, 80
	limit := engine.BroadcastInFlightLimit(rate)
	require.Less(t, limit, n)
	body := orderBroadcast("Bounded", map[string]any{"csv": broadcastCSV("+1555300%04d", n)})
	body["rate_per_second"] = rate
	start := clock.Now()
	b := createBroadcast(t, e, body)
	pumpClock(t, clock, 50*time.Millisecond)
	// Handed out: committed as sending by the broadcast's actor before
	// it gives them to the senders.
	sending := func() int {
		k := 0
		require.NoError(t, e.store.EachBroadcastRecipient(e.ws, b.ID, engine.ZeroID, func(r *engine.BroadcastRecipient) bool {
			if r.Status == engine.RecipientSending {
				k++
			}
			return true
		}))
		return k
	}
	eventually(t, 20*time.Second, func() error {
		if k := sending(); k != limit {
			return fmt.Errorf("%d sending, want %d", k, limit)
		}
		return nil
	})
	// Ten times as long as the pace needs for all of them: still no
	// more handed out.
	eventually(t, 20*time.Second, func() error {
		if d := clock.Since(start); d < 10*time.Second*n/rate {
			return fmt.Errorf("%s of pace so far", d)
		}
		return nil
	})
	require.Equal(t, limit, sending())
	require.EqualValues(t, limit, inFlight())
	release()
	done := waitBroadcast(t, e, b.ID, engine.BroadcastCompleted, 60*time.Second)
	require.EqualValues(t, n, done.Counts.Sent, "%+v", done.Counts)
	for to, k := range sendsTo(e) {
		require.Equal(t, 1, k, to)
	}
	require.Len(t, sendsTo(e), n)
	require.Zero(t, inFlight())
}
