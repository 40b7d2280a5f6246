package gateway_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/stretchr/testify/require"
)

// fakeAI plays an AI service over real HTTP: an OpenAI-compatible
// chat-completions endpoint or a business webhook. Each request is
// recorded and answered by answer (status, body) after delay.
type fakeAI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []aiReq
	answer func(n int) (status int, body string, delay time.Duration)
}

type aiReq struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newFakeAI(t *testing.T) *fakeAI {
	f := &fakeAI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, aiReq{r.URL.Path, r.Header.Clone(), body})
		n, answer := len(f.reqs), f.answer
		f.mu.Unlock()
		status, out, delay := answer(n)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAI) set(answer func(n int) (int, string, time.Duration)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

func (f *fakeAI) requests() []aiReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]aiReq(nil), f.reqs...)
}

// completion is a chat-completions response with content, reasoning and
// tool calls (name, JSON arguments).
func completion(content, reasoning string, tools ...[2]string) string {
	var calls []map[string]any
	for i, tc := range tools {
		calls = append(calls, map[string]any{"id": fmt.Sprintf("call_%d", i), "type": "function",
			"function": map[string]any{"name": tc[0], "arguments": tc[1]}})
	}
	msg := map[string]any{"role": "assistant", "content": content}
	if content == "" {
		msg["content"] = nil
	}
	if reasoning != "" {
		msg["reasoning_content"] = reasoning
	}
	if calls != nil {
		msg["tool_calls"] = calls
	}
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": "stop"}}})
	return string(b)
}

// newAIEnv is a Parley whose runtime uses the agent registry (no
// debounce, so each customer message is answered on its own).
func newAIEnv(t *testing.T) *env {
	return newEnv(t, func(c *actors.Config) {
		reg, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents = reg
		c.AIDebounce = -1
	})
}

func (e *env) useOpenAI(ai *fakeAI, timeoutSeconds float64) {
	e.t.Helper()
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "openai",
		"base_url": ai.srv.URL + "/v1", "model": "test-model", "api_key": "sk-secret", "timeout_seconds": timeoutSeconds,
		"system_prompt": "You work for Acme Shoes. Shipping takes 2 days."})
	require.Equal(e.t, http.StatusOK, code, string(body))
}

// sentTexts returns the texts sent through the fake Graph API.
func (e *env) sentTexts() []string {
	var out []string
	for _, r := range e.graph.requests("/messages") {
		var v struct {
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
		}
		if json.Unmarshal(r.Body, &v) == nil && v.Text.Body != "" {
			out = append(out, v.Text.Body)
		}
	}
	return out
}

func TestOpenAIAgentAnswers(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion("Your shoes ship in 2 days.", "Shipping policy says 2 days."), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ai.1", "15550101", "Dana", "when do my shoes ship?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550101")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 || got[0] != "Your shoes ship in 2 days." {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	reqs := ai.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/v1/chat/completions", reqs[0].Path)
	require.Equal(t, "Bearer sk-secret", reqs[0].Header.Get("Authorization"))
	var sent struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
		Tools []any `json:"tools"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].Body, &sent))
	require.Equal(t, "test-model", sent.Model)
	require.Len(t, sent.Tools, 4, "handoff_to_human, schedule_follow_up, remember, update_contact")
	require.Equal(t, "system", sent.Messages[0].Role)
	require.Contains(t, sent.Messages[0].Content, "Acme Shoes")
	require.Contains(t, sent.Messages[0].Content, "Dana", "the contact's profile")
	last := sent.Messages[len(sent.Messages)-1]
	require.Equal(t, "user", last.Role)
	require.Equal(t, "when do my shoes ship?", last.Content)

	// The reasoning is readable through the API.
	code, body := e.api("GET", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"reasoning":"Shipping policy says 2 days."`)
}

func TestOpenAIAgentHandsOffAndSchedules(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(n int) (int, string, time.Duration) {
		if n == 1 {
			return 200, completion("Sure, I'll check in tomorrow.", "", [2]string{"schedule_follow_up", `{"in_hours":20,"reason":"asked for tomorrow"}`}), 0
		}
		return 200, completion("", "", [2]string{"handoff_to_human", `{"reason":"wants a refund"}`}), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ho.1", "15550102", "Eli", "remind me tomorrow"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550102")
	eventually(t, 5*time.Second, func() error {
		if e.conv(conv).FollowUpAt.IsZero() {
			return errors.New("no follow-up")
		}
		return nil
	})
	require.WithinDuration(t, time.Now().Add(20*time.Hour), e.conv(conv).FollowUpAt, time.Minute)

	e.webhook(engine.ChannelWhatsApp, waText("wamid.ho.2", "15550102", "Eli", "actually I want a refund"))
	eventually(t, 5*time.Second, func() error {
		if !e.conv(conv).NeedsHuman {
			return errors.New("not handed off")
		}
		return nil
	})
	c := e.conv(conv)
	require.Equal(t, engine.ModeManual, c.Mode)
	require.True(t, c.AIResumesAt.IsZero())
	require.Equal(t, "Handed off to a person: wants a refund", e.messages(conv)[0].Text)
}

// A slow answer within the timeout is sent; an error or a timeout hands
// the customer to a person.
func TestOpenAIAgentSlowErrorsAndTimeouts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		delay   time.Duration
		handoff string
	}{
		{"slow but in time", 200, completion("Here you go.", ""), 300 * time.Millisecond, ""},
		{"server error", 500, `{"error":{"message":"overloaded"}}`, 0, "Handed off to a person: the AI agent failed (error)"},
		{"garbage", 200, `<html>`, 0, "Handed off to a person: the AI agent failed (error)"},
		{"timeout", 200, completion("too late", ""), 3 * time.Second, "Handed off to a person: the AI agent failed (timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ai := newFakeAI(t)
			ai.set(func(int) (int, string, time.Duration) { return tc.status, tc.body, tc.delay })
			e := newAIEnv(t)
			e.useOpenAI(ai, 1)
			e.webhook(engine.ChannelWhatsApp, waText("wamid.s.1", "15550103", "Fay", "hello"))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550103")
			eventually(t, 5*time.Second, func() error {
				c := e.conv(conv)
				if tc.handoff == "" && len(e.sentTexts()) == 0 {
					return errors.New("nothing sent")
				}
				if tc.handoff != "" && !c.NeedsHuman {
					return errors.New("not handed off")
				}
				return nil
			})
			if tc.handoff == "" {
				require.Equal(t, []string{"Here you go."}, e.sentTexts())
				require.False(t, e.conv(conv).NeedsHuman)
				return
			}
			require.Empty(t, e.sentTexts())
			require.Equal(t, tc.handoff, e.messages(conv)[0].Text)
		})
	}
}

func TestWebhookAgent(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, `{"reply":"Hello from the business bot","reasoning":"greeting","extra":"ignored"}`, 0
	})
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook",
		"webhook_url": ai.srv.URL + "/bot", "api_key": "hook-secret", "system_prompt": "Acme"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.w.1", "15550104", "Gus", "hi there"))
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 || got[0] != "Hello from the business bot" {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	r := ai.requests()[0]
	mac := hmac.New(sha256.New, []byte("hook-secret"))
	mac.Write(r.Body)
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), r.Header.Get("X-Parley-Signature"))
	var sent struct {
		BusinessContext string `json:"business_context"`
		Messages        []struct {
			Text string `json:"text"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &sent))
	require.Equal(t, "Acme", sent.BusinessContext)
	require.Equal(t, "hi there", sent.Messages[len(sent.Messages)-1].Text)
}

// With no settings, the built-in rules agent greets a new conversation,
// answers keywords and hands off otherwise, with no AI service at all.
func TestRulesAgentIsTheDefault(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{
		"answers": []map[string]any{{"keywords": []string{"hours", "open"}, "answer": "We're open 9 to 5."}}})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.1", "15550105", "Hal", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550105")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 || got[0] != agents.DefaultGreeting {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.2", "15550105", "Hal", "what are your hours?"))
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 2 || got[1] != "We're open 9 to 5." {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.3", "15550105", "Hal", "my parcel is damaged"))
	eventually(t, 5*time.Second, func() error {
		if !e.conv(conv).NeedsHuman {
			return errors.New("not handed off")
		}
		return nil
	})
}

func TestAgentSettingsAPI(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	get := func(path string) map[string]any {
		t.Helper()
		code, body := e.api("GET", path, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		return v
	}
	v := get("/api/v1/agent")
	require.Equal(t, "rules", v["kind"], "the default")
	require.Equal(t, false, v["has_api_key"])
	require.Equal(t, false, v["handoff_stays_manual"], "handoffs come back to the AI by default")

	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "openai", "base_url": "http://127.0.0.1:1/v1",
		"model": "m", "api_key": "sk-do-not-leak", "debounce_ms": 500, "handoff_keywords": []string{"agente"},
		"auto_followup_hours": 4, "auto_followup_max": 2, "auto_csat": true, "restricted": true, "restricted_reply": "Members only",
		"handoff_stays_manual": true})
	require.Equal(t, http.StatusOK, code, string(body))
	require.NotContains(t, string(body), "sk-do-not-leak")
	v = get("/api/v1/agent")
	require.Equal(t, true, v["has_api_key"])
	require.Equal(t, float64(500), v["debounce_ms"])
	require.Equal(t, float64(4), v["auto_followup_hours"])
	require.Equal(t, true, v["handoff_stays_manual"])
	_, raw := e.api("GET", "/api/v1/agent", ownerToken, nil)
	require.NotContains(t, string(raw), "sk-do-not-leak")

	// Bad input: 400 with a JSON error, nothing changed.
	for _, bad := range []any{
		map[string]any{"kind": "skynet"},
		map[string]any{"base_url": "ftp://x"},
		map[string]any{"kind": "webhook"},
		map[string]any{"timeout_seconds": -1},
		map[string]any{"debounce_ms": 3600000},
		map[string]any{"answers": []map[string]any{{"keywords": []string{}, "answer": "x"}}},
		map[string]any{"auto_followup_max": 99},
		map[string]any{"unknown_field": 1},
		map[string]any{"model": 5},
		map[string]any{"handoff_stays_manual": "yes"},
		"{",
	} {
		code, body := e.api("PUT", "/api/v1/agent", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, body)
		errorCode(t, body)
	}
	require.Equal(t, v, get("/api/v1/agent"), "bad input changed nothing")

	// A channel account inherits, can override, and drop the override.
	ch := "/api/v1/channels/whatsapp/" + phoneID + "/agent"
	v = get(ch)
	require.Equal(t, true, v["inherited"])
	require.Equal(t, "openai", v["kind"])
	code, body = e.api("PUT", ch, ownerToken, map[string]any{"kind": "rules", "greeting": "Hola"})
	require.Equal(t, http.StatusOK, code, string(body))
	v = get(ch)
	require.Equal(t, false, v["inherited"])
	require.Equal(t, "Hola", v["greeting"])
	require.Equal(t, []any{"agente"}, v["handoff_keywords"], "the rest comes from the workspace")
	require.Equal(t, true, get("/api/v1/channels/messenger/" + pageID + "/agent")["inherited"])
	code, _ = e.api("DELETE", ch, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, "openai", get(ch)["kind"])
	code, _ = e.api("GET", "/api/v1/channels/whatsapp/nope/agent", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)

	// Writing needs the admin role.
	ag := e.addUser("agent@example.com", engine.RoleAgent, "agent password 1")
	code, _ = e.api("PUT", "/api/v1/agent", ag.Token, map[string]any{"kind": "off"})
	require.Equal(t, http.StatusForbidden, code)
	code, _ = e.api("GET", "/api/v1/agent", ag.Token, nil)
	require.Equal(t, http.StatusOK, code)

	// Settings survive a restart.
	e.stop()
	e.start()
	v = get("/api/v1/agent")
	require.Equal(t, "openai", v["kind"])
	require.Equal(t, true, v["has_api_key"])
	require.True(t, strings.HasPrefix(v["base_url"].(string), "http://127.0.0.1:1"))
}
