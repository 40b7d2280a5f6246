package gateway_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/stretchr/testify/require"
)

type agentTestResult struct {
	Kind              string        `json:"kind"`
	Outcome           string        `json:"outcome"`
	Reply             string        `json:"reply"`
	Reasoning         string        `json:"reasoning"`
	Handoff           string        `json:"handoff"`
	HandoffBy         string        `json:"handoff_by"`
	Error             string        `json:"error"`
	FollowUpInSeconds float64       `json:"follow_up_in_seconds"`
	Remember          []engine.Fact `json:"remember"`
}

// agentTest posts a test console request and decodes the 200 answer.
func (e *env) agentTest(body any) agentTestResult {
	e.t.Helper()
	code, resp := e.api("POST", "/api/v1/agent/test", ownerToken, body)
	require.Equal(e.t, http.StatusOK, code, string(resp))
	var r agentTestResult
	require.NoError(e.t, json.Unmarshal(resp, &r), string(resp))
	return r
}

func lines(ls ...string) []map[string]string {
	out := make([]map[string]string, 0, len(ls)/2)
	for i := 0; i+1 < len(ls); i += 2 {
		out = append(out, map[string]string{"from": ls[i], "text": ls[i+1]})
	}
	return out
}

// The test console runs the saved rules agent (greeting, keyword answer,
// handoff), the handoff keywords, and settings that are tried without
// being saved; it stores nothing.
func TestAgentTestConsoleRules(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{
		"answers": []map[string]any{{"keywords": []string{"hours"}, "answer": "We're open 9 to 5."}}})
	require.Equal(t, http.StatusOK, code, string(body))
	before := e.storeDigest()

	r := e.agentTest(map[string]any{"messages": lines("customer", "hi")})
	require.Equal(t, agentTestResult{Kind: "rules", Outcome: "reply", Reply: agents.DefaultGreeting,
		Reasoning: "rules agent: greeting for a new conversation", Remember: []engine.Fact{}}, r)

	r = e.agentTest(map[string]any{"messages": lines("customer", "hi", "agent", "Hello!", "customer", "what are your hours?")})
	require.Equal(t, "reply", r.Outcome)
	require.Equal(t, "We're open 9 to 5.", r.Reply)
	require.Equal(t, `rules agent: keyword "hours"`, r.Reasoning)

	r = e.agentTest(map[string]any{"messages": lines("customer", "hi", "agent", "Hello!", "customer", "my parcel is damaged")})
	require.Equal(t, "handoff", r.Outcome)
	require.Equal(t, "agent", r.HandoffBy)
	require.Equal(t, agents.DefaultFallback, r.Handoff)

	r = e.agentTest(map[string]any{"messages": lines("customer", "I want a human please")})
	require.Equal(t, "handoff", r.Outcome)
	require.Equal(t, "keyword", r.HandoffBy)
	require.Contains(t, r.Handoff, `"human"`)

	// Settings tried, not saved: other keywords, another greeting.
	r = e.agentTest(map[string]any{"settings": map[string]any{"greeting": "Welcome to Acme!", "handoff_keywords": []string{"manager"}},
		"messages": lines("customer", "I want a human please")})
	require.Equal(t, "Welcome to Acme!", r.Reply, "human is no handoff keyword in the settings tried")
	r = e.agentTest(map[string]any{"settings": map[string]any{"kind": "off"}, "messages": lines("customer", "hi")})
	require.Equal(t, "off", r.Outcome)
	require.Equal(t, before, e.storeDigest(), "a test stores nothing")
	code, body = e.api("GET", "/api/v1/agent", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"kind":"rules"`)
	require.NotContains(t, string(body), "Welcome to Acme")
}

// Bad requests are 400s that change nothing; an agent (role) is refused.
func TestAgentTestConsoleRefuses(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	ag := e.addUser("agent@example.com", engine.RoleAgent, "agent password 1")
	before := e.storeDigest()
	for name, b := range map[string]any{
		"no messages":      map[string]any{},
		"empty messages":   map[string]any{"messages": []any{}},
		"unknown sender":   map[string]any{"messages": lines("bot", "hi")},
		"blank text":       map[string]any{"messages": lines("customer", "   ")},
		"no customer line": map[string]any{"messages": lines("agent", "hello")},
		"unknown field":    map[string]any{"messages": lines("customer", "hi"), "extra": 1},
		"bad kind":         map[string]any{"settings": map[string]any{"kind": "gpt"}, "messages": lines("customer", "hi")},
		"openai, no model": map[string]any{"settings": map[string]any{"kind": "openai", "base_url": "http://127.0.0.1:1/v1"}, "messages": lines("customer", "hi")},
		"webhook, bad url": map[string]any{"settings": map[string]any{"kind": "webhook", "webhook_url": "ftp://x"}, "messages": lines("customer", "hi")},
		"too many messages": map[string]any{"messages": lines(func() []string {
			var s []string
			for range 51 {
				s = append(s, "customer", "hi")
			}
			return s
		}()...)},
	} {
		code, body := e.api("POST", "/api/v1/agent/test", ownerToken, b)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", name, body)
		require.NotEmpty(t, errorCode(t, body), name)
	}
	code, body := e.api("POST", "/api/v1/agent/test", ag.Token, map[string]any{"messages": lines("customer", "hi")})
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, before, e.storeDigest())
}

// Against a real server speaking OpenAI's chat-completions format: the
// saved key is used (secrets are write-only), the reply and reasoning
// come back, a handoff tool call is a handoff, a failing server is a
// handoff with the error, and a slow one is cut by the timeout.
func TestAgentTestConsoleOpenAI(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion("Your order ships tomorrow.", "the order is paid"), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 1)
	before := e.storeDigest()
	r := e.agentTest(map[string]any{"messages": lines("customer", "where is my order?")})
	require.Equal(t, "openai", r.Kind)
	require.Equal(t, "reply", r.Outcome)
	require.Equal(t, "Your order ships tomorrow.", r.Reply)
	require.Equal(t, "the order is paid", r.Reasoning)
	req := ai.requests()[0]
	require.Equal(t, "/v1/chat/completions", req.Path)
	require.Equal(t, "Bearer sk-secret", req.Header.Get("Authorization"), "the saved key, never shown, is used")
	require.Contains(t, string(req.Body), "where is my order?")
	require.Contains(t, string(req.Body), "Acme Shoes")

	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion("", "", [2]string{"handoff_to_human", `{"reason":"wants a refund"}`}), 0
	})
	r = e.agentTest(map[string]any{"settings": map[string]any{"system_prompt": "Try this prompt"},
		"messages": lines("customer", "refund now")})
	require.Equal(t, "handoff", r.Outcome)
	require.Equal(t, "agent", r.HandoffBy)
	require.Equal(t, "wants a refund", r.Handoff)
	require.Contains(t, string(ai.requests()[1].Body), "Try this prompt")

	ai.set(func(int) (int, string, time.Duration) { return 500, `{"error":{"message":"boom"}}`, 0 })
	r = e.agentTest(map[string]any{"messages": lines("customer", "hello")})
	require.Equal(t, "handoff", r.Outcome)
	require.Equal(t, "error", r.HandoffBy)
	require.Contains(t, r.Error, "500")

	ai.set(func(int) (int, string, time.Duration) { return 200, completion("late", ""), 5 * time.Second })
	start := time.Now()
	r = e.agentTest(map[string]any{"messages": lines("customer", "hello")})
	require.Less(t, time.Since(start), 4*time.Second, "the 1 s timeout of the settings bounds the call")
	require.Equal(t, "error", r.HandoffBy)
	require.Equal(t, before, e.storeDigest(), "a test stores nothing")
}

// Against a real server speaking the webhook agent's format, signed with
// the key tried.
func TestAgentTestConsoleWebhook(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, `{"reply":"Hello from the bot","reasoning":"greeting","follow_up_in_seconds":3600,"remember":["likes red"]}`, 0
	})
	e := newAIEnv(t)
	r := e.agentTest(map[string]any{"settings": map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot", "api_key": "hook-secret"},
		"messages": lines("customer", "hi", "agent", "Hello", "customer", "I like red shoes")})
	require.Equal(t, agentTestResult{Kind: "webhook", Outcome: "reply", Reply: "Hello from the bot", Reasoning: "greeting",
		FollowUpInSeconds: 3600, Remember: []engine.Fact{{Text: "likes red", Type: engine.MemoryFact}}}, r)
	req := ai.requests()[0]
	mac := hmac.New(sha256.New, []byte("hook-secret"))
	mac.Write(req.Body)
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), req.Header.Get("X-Parley-Signature"))
	var sent struct {
		Messages []struct {
			Direction string `json:"direction"`
			Text      string `json:"text"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(req.Body, &sent))
	require.Len(t, sent.Messages, 3)
	require.Equal(t, "inbound", sent.Messages[0].Direction, "oldest first")
	require.Equal(t, "outbound", sent.Messages[1].Direction)
	require.Equal(t, "I like red shoes", sent.Messages[2].Text)
}

// At most four tests call agents at once: a fifth is a 429 busy while
// they wait, and is let through once they are done.
func TestAgentTestConsoleBusy(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	release := make(chan struct{})
	ai.set(func(n int) (int, string, time.Duration) {
		if n <= 4 {
			<-release
		}
		return 200, completion("ok", ""), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 10)
	done := make(chan int, 4)
	for range 4 {
		go func() {
			code, _ := e.api("POST", "/api/v1/agent/test", ownerToken, map[string]any{"messages": lines("customer", "hi")})
			done <- code
		}()
	}
	eventually(t, 5*time.Second, func() error {
		if n := len(ai.requests()); n < 4 {
			return fmt.Errorf("%d calls in flight", n)
		}
		return nil
	})
	code, body := e.api("POST", "/api/v1/agent/test", ownerToken, map[string]any{"messages": lines("customer", "hi")})
	require.Equal(t, http.StatusTooManyRequests, code, string(body))
	require.Equal(t, "busy", errorCode(t, body))
	close(release)
	for range 4 {
		require.Equal(t, http.StatusOK, <-done)
	}
	require.Equal(t, "ok", e.agentTest(map[string]any{"messages": lines("customer", "hi")}).Reply)
}

// A channel account's test console runs its own settings: its override
// (with the override's API key, kept unless given), or the workspace's
// when it inherits them; agents, unknown accounts and bad bodies are
// refused, and nothing is stored.
func TestChannelAgentTestConsole(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return http.StatusOK, completion("From the page's model.", ""), 0
	})
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"greeting": "Welcome to the workspace!"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("PUT", "/api/v1/channels/messenger/"+pageID+"/agent", ownerToken, map[string]any{"kind": "openai",
		"base_url": ai.srv.URL + "/v1", "model": "page-model", "api_key": "sk-page-key"})
	require.Equal(t, http.StatusOK, code, string(body))
	before := e.storeDigest()
	test := func(path string, body any) agentTestResult {
		t.Helper()
		code, resp := e.api("POST", path, ownerToken, body)
		require.Equal(t, http.StatusOK, code, string(resp))
		var r agentTestResult
		require.NoError(t, json.Unmarshal(resp, &r), string(resp))
		return r
	}

	r := test("/api/v1/channels/messenger/"+pageID+"/agent/test", map[string]any{"messages": lines("customer", "hi")})
	require.Equal(t, "openai", r.Kind)
	require.Equal(t, "From the page's model.", r.Reply)
	reqs := ai.requests()
	require.Len(t, reqs, 1)
	require.Contains(t, string(reqs[0].Body), `"model":"page-model"`)
	require.Equal(t, "Bearer sk-page-key", reqs[0].Header.Get("Authorization"), "the override's own key")
	r = test("/api/v1/channels/messenger/"+pageID+"/agent/test", map[string]any{"settings": map[string]any{"kind": "rules", "greeting": "Page hello"},
		"messages": lines("customer", "hi")})
	require.Equal(t, "Page hello", r.Reply, "the override changed by the settings tried")
	r = test("/api/v1/channels/whatsapp/"+phoneID+"/agent/test", map[string]any{"messages": lines("customer", "hi")})
	require.Equal(t, "Welcome to the workspace!", r.Reply, "an account that inherits tests the workspace's agent")
	r = test("/api/v1/agent/test", map[string]any{"messages": lines("customer", "hi")})
	require.Equal(t, "Welcome to the workspace!", r.Reply)
	require.Equal(t, before, e.storeDigest(), "a test stores nothing")

	ag := e.addUser("agent@example.com", engine.RoleAgent, "agent password 1")
	before = e.storeDigest()
	for _, c := range []struct {
		path, token string
		body        any
		status      int
	}{
		{"/api/v1/channels/messenger/" + pageID + "/agent/test", ag.Token, map[string]any{"messages": lines("customer", "hi")}, http.StatusForbidden},
		{"/api/v1/channels/messenger/NOPE/agent/test", ownerToken, map[string]any{"messages": lines("customer", "hi")}, http.StatusNotFound},
		{"/api/v1/channels/messenger/" + pageID + "/agent/test", ownerToken, map[string]any{"messages": lines("bot", "hi")}, http.StatusBadRequest},
		{"/api/v1/channels/messenger/" + pageID + "/agent/test", ownerToken, `{"messages":`, http.StatusBadRequest},
	} {
		code, resp := e.api("POST", c.path, c.token, c.body)
		require.Equal(t, c.status, code, "%s: %s", c.path, resp)
	}
	require.Equal(t, before, e.storeDigest(), "refusals store nothing")
}
