package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/stretchr/testify/require"
)

// broadcastEnv is a Parley whose WhatsApp number has its Business
// Account's templates synced (order_update approved, order_update/es
// pending), on the real clock, the number's tier as given.
func broadcastEnv(t *testing.T, tier string, tweak func(*actors.Config)) *env {
	t.Helper()
	e := newEnvWith(t, tweak, nil)
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

type broadcastResp struct {
	engine.Broadcast
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

func TestBroadcastPauseResumeCancel(t *testing.T) {
	e := broadcastEnv(t, "", nil)
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	e.graph.mu.Lock()
	e.graph.hold = hold
	e.graph.mu.Unlock()
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

var _ = strings.Contains
var _ = gateway.New
