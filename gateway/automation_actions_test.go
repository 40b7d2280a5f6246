package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// autoHookReceiver plays a service receiving the call_webhook action: it
// checks each POST's signature as a receiver would (engine.VerifyWebhook)
// and records the payloads.
type autoHookReceiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []engine.AutomationWebhookPayload
	heads  []http.Header
	bad    []string
}

func newAutoHook(t *testing.T, secret string) *autoHookReceiver {
	h := &autoHookReceiver{secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := engine.VerifyWebhook(h.secret, r.Header.Get(engine.WebhookSignatureHeader), body, time.Now(), time.Hour); err != nil {
			h.bad = append(h.bad, err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p engine.AutomationWebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			h.bad = append(h.bad, err.Error())
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		h.got = append(h.got, p)
		h.heads = append(h.heads, r.Header.Clone())
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *autoHookReceiver) payloads() ([]engine.AutomationWebhookPayload, []http.Header, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]engine.AutomationWebhookPayload(nil), h.got...), append([]http.Header(nil), h.heads...), append([]string(nil), h.bad...)
}

// The three actions over HTTP: a new WhatsApp chat starts a rule that
// sends a canned reply (it reaches the Graph API as the AI's message),
// notifies a user (a note mentioning them, and the note.mentioned event
// on their socket) and calls a webhook (a real receiving server checks
// the signature). The run log says done for each, once. A rule naming
// a canned reply or a user that is not the workspace's is a 400.
func TestAutomationActionsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("auto-notify@example.com", engine.RoleAgent, "auto notify pw 1")
	secret := "automation-secret-0123"
	hook := newAutoHook(t, secret)
	code, body := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{"short_code": "welcome", "title": "Welcome", "body": "Welcome! A person will call you today."})
	require.Equal(t, http.StatusCreated, code, string(body))
	canned := decodeAs[engine.CannedReply](t, body)

	for _, bad := range []map[string]any{
		{"type": "send_canned", "canned_id": engine.NewID(time.Now()).String()},
		{"type": "notify_user", "user_id": engine.NewID(time.Now()).String()},
		{"type": "call_webhook", "url": "ftp://x.example/", "secret": secret},
		{"type": "call_webhook", "url": hook.srv.URL, "secret": "short"},
	} {
		code, body := e.api("POST", "/api/v1/automations", ownerToken, map[string]any{"name": "bad",
			"trigger": map[string]any{"type": "contact_created"}, "actions": []any{bad}})
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}

	code, body = e.api("POST", "/api/v1/automations", ownerToken, map[string]any{"name": "Greet new chats",
		"trigger": map[string]any{"type": "contact_created"},
		"actions": []any{
			map[string]any{"type": "send_canned", "canned_id": canned.ID},
			map[string]any{"type": "notify_user", "user_id": agent.User.ID, "text": "A new lead wrote"},
			map[string]any{"type": "call_webhook", "url": hook.srv.URL + "/crm", "secret": secret},
		}})
	require.Equal(t, http.StatusCreated, code, string(body))
	rule := decodeAs[engine.Automation](t, body)
	require.Equal(t, secret, rule.Actions[2].Secret)
	// An agent reads the rule without its webhook secret.
	for _, path := range []string{"/api/v1/automations", "/api/v1/automations/" + rule.ID.String()} {
		code, body = e.api("GET", path, agent.Token, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NotContains(t, string(body), secret, path)
		require.Contains(t, string(body), hook.srv.URL, path)
		code, body = e.api("GET", path, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.Contains(t, string(body), secret, path)
	}
	sock := e.events("token=" + agent.Token)

	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.autoact1", "15550007777", "Rita Lead", "hello there"))
	require.Equal(t, http.StatusOK, code)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550007777")
	contact := e.conv(conv).ContactID

	var runs automationRunsPage
	eventually(t, 10*time.Second, func() error {
		runs = e.automationRuns(rule.ID, "")
		if len(runs.Runs) != 1 || runs.Runs[0].Outcome == engine.RunPending {
			return fmt.Errorf("runs %+v", runs.Runs)
		}
		return nil
	})
	run := runs.Runs[0]
	require.Equal(t, engine.RunDone, run.Outcome, "%+v", run.Results)
	require.Empty(t, run.Actions[2].Secret, "the run log shows no secret")
	for _, r := range run.Results {
		require.Equal(t, "done", r.Result, "%+v", r)
	}

	// The canned reply went out through the courier to the Graph API.
	eventually(t, 10*time.Second, func() error {
		for _, r := range e.graph.requests("/messages") {
			if bytes.Contains(r.Body, []byte("A person will call you today.")) {
				return nil
			}
		}
		return fmt.Errorf("no canned reply at the Graph API")
	})
	code, body = e.api("GET", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"reasoning":"`+engine.AutomationSendTag(&run, 0)+`"`)

	// The user was notified: a note that mentions them, and its event on
	// their socket.
	code, body = e.api("GET", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), "A new lead wrote")
	require.Contains(t, string(body), agent.User.ID.String())
	ev := sock.until("note.mentioned")
	require.Contains(t, string(ev.Data), "Greet new chats")

	// The webhook arrived signed, once, about the contact.
	got, heads, bad := hook.payloads()
	require.Empty(t, bad)
	require.Len(t, got, 1)
	require.Equal(t, engine.AutomationWebhookEvent, got[0].Event)
	require.Equal(t, rule.ID, got[0].RuleID)
	require.Equal(t, run.ID, got[0].RunID)
	require.Equal(t, contact, got[0].Contact.ID)
	require.Equal(t, conv, got[0].Conversation.ID)
	require.Equal(t, got[0].DeliveryID, heads[0].Get(engine.WebhookDeliveryHeader))
	require.Equal(t, engine.AutomationWebhookEvent, heads[0].Get(engine.WebhookEventHeader))

	// A receiver that refuses is a failed run, with the status recorded.
	hook.mu.Lock()
	hook.secret = "another-secret-0123456"
	hook.mu.Unlock()
	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.autoact2", "15550007778", "Rui Lead", "hi"))
	require.Equal(t, http.StatusOK, code)
	eventually(t, 10*time.Second, func() error {
		runs = e.automationRuns(rule.ID, "")
		if len(runs.Runs) != 2 || runs.Runs[0].Outcome == engine.RunPending {
			return fmt.Errorf("runs %+v", runs.Runs)
		}
		return nil
	})
	require.Equal(t, engine.RunFailed, runs.Runs[0].Outcome)
	require.Equal(t, "failed", runs.Runs[0].Results[2].Result)
	require.Equal(t, "HTTP 401", runs.Runs[0].Results[2].Detail)
}

// CSV-imported contacts start the contact-created rules: the
// assign_owners preset gives each imported contact an owner, and a rule
// with a segment condition acts only on the imported contact in the
// segment.
func TestAutomationsOnImportedContacts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a1 := e.addUser("imp-a1@example.com", engine.RoleAgent, "import agent pw 1")
	a2 := e.addUser("imp-a2@example.com", engine.RoleAgent, "import agent pw 2")
	stage := e.pipelines(ownerToken)[0].Stages[1].ID
	seg := e.createSegment(ownerToken, map[string]any{"name": "Acme people", "conditions": []any{companyIs("Acme")}})
	code, body := e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "assign_owners", "users": []engine.ID{a1.User.ID, a2.User.ID}})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/automations", ownerToken, map[string]any{"name": "Acme to stage 2",
		"trigger":    map[string]any{"type": "contact_created"},
		"conditions": []any{map[string]any{"kind": "segment", "value": seg.ID}},
		"actions":    []any{map[string]any{"type": "set_stage", "stage_id": stage}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/automations", ownerToken, map[string]any{"name": "x",
		"trigger":    map[string]any{"type": "contact_created"},
		"conditions": []any{map[string]any{"kind": "segment", "value": engine.NewID(time.Now())}},
		"actions":    []any{map[string]any{"type": "set_priority"}}})
	require.Equal(t, http.StatusBadRequest, code, "an unknown segment: %s", body)

	code, body = e.postCSV(ownerToken, "text/csv", []byte("name,company\nIda Import,Acme\nOla Import,Other\n"))
	require.Equal(t, http.StatusOK, code, string(body))
	res := decodeAs[importResult](t, body)
	require.Equal(t, 2, res.Imported, string(body))

	byName := map[string]engine.Contact{}
	eventually(t, 10*time.Second, func() error {
		code, body := e.api("GET", "/api/v1/contacts?q=Import", ownerToken, nil)
		if code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		var page struct {
			Contacts []engine.Contact `json:"contacts"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		for _, c := range page.Contacts {
			byName[c.Profile.Name] = c
		}
		for _, n := range []string{"Ida Import", "Ola Import"} {
			if byName[n].OwnerID == nil {
				return fmt.Errorf("%s has no owner yet", n)
			}
		}
		if byName["Ida Import"].Stage == nil {
			return fmt.Errorf("Ida has no stage yet")
		}
		return nil
	})
	owners := []engine.ID{*byName["Ida Import"].OwnerID, *byName["Ola Import"].OwnerID}
	require.ElementsMatch(t, []engine.ID{a1.User.ID, a2.User.ID}, owners, "round-robin over the import")
	require.Equal(t, stage, byName["Ida Import"].Stage.StageID)
	require.True(t, byName["Ola Import"].Stage == nil || byName["Ola Import"].Stage.StageID != stage, "not in the segment")
	require.True(t, strings.HasPrefix(string(byName["Ida Import"].Source), "import"), byName["Ida Import"].Source)
}
