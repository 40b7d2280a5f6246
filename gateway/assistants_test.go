package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

type assistantResp struct {
	ID            string              `json:"id"`
	Name          string              `json:"name"`
	Default       bool                `json:"default"`
	Accounts      []engine.AccountRef `json:"accounts"`
	Conversations int64               `json:"conversations"`
	Agent         struct {
		Kind     string `json:"kind"`
		Greeting string `json:"greeting"`
	} `json:"agent"`
}

func (e *env) assistants() []assistantResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/assistants", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var v struct {
		Assistants []assistantResp `json:"assistants"`
	}
	require.NoError(e.t, json.Unmarshal(body, &v))
	return v.Assistants
}

// listAssistant returns the ids of the open conversations GET
// /conversations?assistant=id lists.
func (e *env) listAssistant(id string) []engine.ID {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/conversations?assistant="+id, ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var v struct {
		Conversations []engine.Conversation `json:"conversations"`
	}
	require.NoError(e.t, json.Unmarshal(body, &v))
	var out []engine.ID
	for _, c := range v.Conversations {
		require.Equal(e.t, id, c.AssistantID)
		out = append(out, c.ID)
	}
	return out
}

// TestAssistantsEndToEnd: a channel account assigned to a second
// assistant gets that assistant's rules agent (its greeting and its
// keyword answers), the other account the workspace's; each
// conversation names its assistant, the inbox list filters by it, a
// person hands a conversation to another assistant, and deleting an
// assistant gives its account and conversations back to the default one.
func TestAssistantsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	const salesPhone = "200000000000001"
	e.connect(engine.ChannelWhatsApp, salesPhone)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"greeting": "Hello from the front desk",
		"answers": []map[string]any{{"keywords": []string{"hours"}, "answer": "The shop opens at 9."}}})
	require.Equal(t, http.StatusOK, code, string(body))

	as := e.assistants()
	require.Len(t, as, 1)
	require.Equal(t, engine.DefaultAssistantID, as[0].ID)
	require.True(t, as[0].Default)
	require.Equal(t, "Hello from the front desk", as[0].Agent.Greeting, "the workspace's settings are the default assistant's")
	salesRef := engine.AccountRef{Channel: engine.ChannelWhatsApp, AccountID: salesPhone}
	require.Contains(t, as[0].Accounts, engine.AccountRef{Channel: engine.ChannelWhatsApp, AccountID: phoneID})
	require.Contains(t, as[0].Accounts, salesRef)
	accounts := len(as[0].Accounts)

	code, body = e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": "Sales",
		"accounts": []map[string]any{{"channel": "whatsapp", "account_id": salesPhone}},
		"agent": map[string]any{"greeting": "Hello from Sales",
			"answers": []map[string]any{{"keywords": []string{"hours"}, "answer": "Sales answers until 8 pm."}}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	sales := decodeAs[assistantResp](t, body)
	require.Equal(t, "Sales", sales.Name)
	require.False(t, sales.Default)
	require.Equal(t, "rules", sales.Agent.Kind)

	// Each account's new conversation is its assistant's, answered with
	// its settings.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.as.1", "15550201", "Dee", "hi"))
	e.webhook(engine.ChannelWhatsApp, waTextTo(salesPhone, "wamid.as.2", "15550202", "hi"))
	front := e.thread(engine.ChannelWhatsApp, phoneID, "15550201")
	sold := e.thread(engine.ChannelWhatsApp, salesPhone, "15550202")
	require.Equal(t, engine.DefaultAssistantID, e.conv(front).AssistantID)
	require.Equal(t, sales.ID, e.conv(sold).AssistantID)
	sent := func(want ...string) {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			got := e.sentTexts()
			for _, w := range want {
				if !slices.Contains(got, w) {
					return fmt.Errorf("sent %q, not %q", got, w)
				}
			}
			return nil
		})
	}
	sent("Hello from the front desk", "Hello from Sales")
	e.webhook(engine.ChannelWhatsApp, waText("wamid.as.3", "15550201", "Dee", "your hours?"))
	e.webhook(engine.ChannelWhatsApp, waTextTo(salesPhone, "wamid.as.4", "15550202", "your hours?"))
	sent("The shop opens at 9.", "Sales answers until 8 pm.")
	require.Len(t, e.sentTexts(), 4)

	// The inbox list filters by assistant, and counts.
	require.Equal(t, []engine.ID{sold}, e.listAssistant(sales.ID))
	require.Equal(t, []engine.ID{front}, e.listAssistant(engine.DefaultAssistantID))
	require.Empty(t, e.listAssistant("nobody"))
	as = e.assistants()
	require.Len(t, as, 2)
	require.Equal(t, int64(1), as[0].Conversations)
	require.NotContains(t, as[0].Accounts, salesRef)
	require.Len(t, as[0].Accounts, accounts-1)
	require.Equal(t, sales.ID, as[1].ID)
	require.Equal(t, []engine.AccountRef{salesRef}, as[1].Accounts)
	require.Equal(t, int64(1), as[1].Conversations)

	// A person hands the front desk's conversation to Sales: its next
	// answer is Sales'.
	code, body = e.api("POST", "/api/v1/conversations/"+front.String()+"/assistant", ownerToken, map[string]any{"assistant_id": sales.ID})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, sales.ID, decodeAs[engine.Conversation](t, body).AssistantID)
	require.ElementsMatch(t, []engine.ID{sold, front}, e.listAssistant(sales.ID))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.as.5", "15550201", "Dee", "hours again?"))
	eventually(t, 5*time.Second, func() error {
		got := e.sentTexts()
		if len(got) != 5 || got[4] != "Sales answers until 8 pm." {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})

	// Renaming and changing the settings of the default assistant is
	// changing the workspace's.
	code, body = e.api("PATCH", "/api/v1/assistants/default", ownerToken, map[string]any{"name": "Front desk", "agent": map[string]any{"greeting": "Welcome!"}})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("GET", "/api/v1/agent", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"greeting":"Welcome!"`)
	require.Equal(t, "Front desk", e.assistants()[0].Name)

	// Deleting Sales gives its account and conversations back.
	code, body = e.api("DELETE", "/api/v1/assistants/default", ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	code, body = e.api("DELETE", "/api/v1/assistants/"+sales.ID, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	require.Equal(t, engine.DefaultAssistantID, e.conv(front).AssistantID)
	require.Equal(t, engine.DefaultAssistantID, e.conv(sold).AssistantID)
	require.Empty(t, e.listAssistant(sales.ID))
	require.ElementsMatch(t, []engine.ID{sold, front}, e.listAssistant(engine.DefaultAssistantID))
	as = e.assistants()
	require.Len(t, as, 1)
	require.Len(t, as[0].Accounts, accounts)
	code, _ = e.api("GET", "/api/v1/assistants/"+sales.ID, ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	e.webhook(engine.ChannelWhatsApp, waTextTo(salesPhone, "wamid.as.6", "15550203", "hi"))
	require.Equal(t, engine.DefaultAssistantID, e.conv(e.thread(engine.ChannelWhatsApp, salesPhone, "15550203")).AssistantID)
}

// Bad assistant bodies are 4xx with the error shape and change nothing;
// agents read assistants but do not change them.
func TestAssistantsRefuseBadInput(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	code, body := e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": "Support"})
	require.Equal(t, http.StatusCreated, code, string(body))
	support := decodeAs[assistantResp](t, body)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.bad.1", "15550301", "Eve", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550301")
	before := e.assistants()
	ag := e.addUser("agent@example.com", engine.RoleAgent, "a long enough password")
	for _, bad := range []struct {
		method, path string
		body         any
		code         int
	}{
		{"POST", "/api/v1/assistants", map[string]any{}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": ""}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": "   "}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": strings.Repeat("n", 101)}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": "x", "extra": 1}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": "x", "accounts": []map[string]any{{"channel": "whatsapp", "account_id": "nope"}}}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": "x", "agent": map[string]any{"kind": "oracle"}}, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": "x", "agent": map[string]any{"stripe_webhook_secret": "whsec_1"}}, 400},
		{"POST", "/api/v1/assistants", `{"name":`, 400},
		{"PATCH", "/api/v1/assistants/" + support.ID, map[string]any{}, 400},
		{"PATCH", "/api/v1/assistants/default", map[string]any{"accounts": []map[string]any{{"channel": "whatsapp", "account_id": phoneID}}}, 400},
		{"PATCH", "/api/v1/assistants/nope", map[string]any{"name": "y"}, 404},
		{"DELETE", "/api/v1/assistants/nope", nil, 404},
		{"POST", "/api/v1/conversations/" + conv.String() + "/assistant", map[string]any{"assistant_id": "nope"}, 400},
		{"POST", "/api/v1/conversations/" + conv.String() + "/assistant", map[string]any{}, 400},
		{"GET", "/api/v1/conversations?assistant=" + strings.Repeat("a", 65), nil, 400},
		{"POST", "/api/v1/assistants", map[string]any{"name": "by an agent"}, 403},
	} {
		token := ownerToken
		if bad.code == 403 {
			token = ag.Token
		}
		code, body := e.api(bad.method, bad.path, token, bad.body)
		require.Equal(t, bad.code, code, "%s %s %v: %s", bad.method, bad.path, bad.body, body)
		require.Contains(t, string(body), `"error":{"code":`)
	}
	require.Equal(t, before, e.assistants())
	require.Equal(t, engine.DefaultAssistantID, e.conv(conv).AssistantID)
}

// The registry refuses an assistant beyond the workspace's limit.
func TestAssistantsLimit(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	for i := range engine.MaxAssistants - 1 {
		code, body := e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": fmt.Sprintf("A%d", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body := e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": "one too many"})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Len(t, e.assistants(), engine.MaxAssistants)
}

// Changes of one assistant at once each start from the other's result
// (the registry runs each read-change-write under its lock), and two
// assistants taking one account at once leave it with one of them.
func TestAssistantsConcurrentChanges(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	create := func(name string) assistantResp {
		code, body := e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": name})
		require.Equal(t, http.StatusCreated, code, string(body))
		return decodeAs[assistantResp](t, body)
	}
	a, b := create("A"), create("B")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			code, body := e.api("PATCH", "/api/v1/assistants/"+a.ID, ownerToken, map[string]any{"name": fmt.Sprintf("A%d", i)})
			assert.Equal(t, http.StatusOK, code, string(body))
		}()
		go func() {
			defer wg.Done()
			target := a.ID
			if i%2 == 1 {
				target = b.ID
			}
			code, body := e.api("PATCH", "/api/v1/assistants/"+target, ownerToken, map[string]any{
				"agent": map[string]any{"greeting": fmt.Sprintf("G%d", i)}, "accounts": []map[string]any{{"channel": "whatsapp", "account_id": phoneID}}})
			assert.Equal(t, http.StatusOK, code, string(body))
		}()
	}
	wg.Wait()
	var gotA, gotB assistantResp
	for _, x := range e.assistants() {
		switch x.ID {
		case a.ID:
			gotA = x
		case b.ID:
			gotB = x
		}
	}
	require.NotEqual(t, "A", gotA.Name, "a rename is kept")
	require.NotEmpty(t, gotA.Agent.Greeting, "no rename wrote the greeting back")
	require.Equal(t, 1, len(gotA.Accounts)+len(gotB.Accounts), "the account is one assistant's")
}

// Each assistant answers from its own knowledge base: an FAQ of the Sales
// assistant answers the conversations of Sales' account, and the default
// assistant's conversations do not get it; a knowledge route of an
// assistant the workspace does not have is 404.
func TestAssistantsKnowledgeIsTheirOwn(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	const salesPhone = "200000000000002"
	e.connect(engine.ChannelWhatsApp, salesPhone)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"greeting": "Hello from the front desk"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": "Sales",
		"accounts": []map[string]any{{"channel": "whatsapp", "account_id": salesPhone}},
		"agent":    map[string]any{"greeting": "Hello from Sales"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	sales := decodeAs[assistantResp](t, body)

	code, body = e.api("POST", "/api/v1/assistants/"+sales.ID+"/knowledge", ownerToken,
		map[string]any{"kind": "faq", "question": "Do you offer volume discounts?", "answer": "Yes: 10% from 50 seats."})
	require.Equal(t, http.StatusCreated, code, string(body))
	faq := decodeAs[engine.KnowledgeEntry](t, body)
	code, body = e.api("GET", "/api/v1/assistants/nobody/knowledge", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code, string(body))
	require.Empty(t, e.knowledge(ownerToken).Entries, "the default assistant's base is another")

	e.webhook(engine.ChannelWhatsApp, waTextTo(salesPhone, "wamid.ak.1", "15550301", "do you offer volume discounts?"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ak.2", "15550302", "Dee", "do you offer volume discounts?"))
	sold := e.thread(engine.ChannelWhatsApp, salesPhone, "15550301")
	front := e.thread(engine.ChannelWhatsApp, phoneID, "15550302")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 2 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	got := e.sentTexts()
	require.Contains(t, got, "Yes: 10% from 50 seats.", "Sales answers from its base")
	require.Contains(t, got, "Hello from the front desk", "the default assistant has no such entry and greets")
	require.Equal(t, []engine.KnowledgeSource{{EntryID: faq.ID, Index: 0, Kind: engine.KnowledgeFAQ, Title: "Do you offer volume discounts?"}}, e.aiMessage(sold).Sources)
	require.Empty(t, e.aiMessage(front).Sources)
}
