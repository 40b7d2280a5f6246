package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
)

// feedbackPage is the answer of GET /api/v1/feedback.
type feedbackPage struct {
	Feedback   []engine.Feedback `json:"feedback"`
	NextCursor string            `json:"next_cursor"`
}

// seqOf returns the seq of the newest message of conv sent by kind.
func (e *env) seqOf(conv engine.ID, kind engine.SenderKind) uint64 {
	e.t.Helper()
	for _, m := range e.messages(conv) {
		if m.Sender.Kind == kind {
			return m.Seq
		}
	}
	e.t.Fatalf("no message from %s", kind)
	return 0
}

// TestAIFeedback rates an OpenAI-compatible agent's reply over HTTP: a
// customer's message, an unknown seq and bad bodies are refused and store
// nothing; an up rating is replaced by the same user's down rating with a
// correction; the report lists it with its question; the next request to
// the agent (a real HTTP server playing the chat-completions endpoint)
// carries the correction in its system prompt, and the webhook agent's
// payload carries it as corrections; parley_ai_feedback_total counts.
func TestAIFeedback(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(n int) (int, string, time.Duration) {
		if strings.HasSuffix(ai.requests()[n-1].Path, "/bot") {
			return 200, `{"reply":"From the webhook"}`, 0
		}
		return 200, completion("Shipping takes 5 days.", ""), 0
	})
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) {
		registry, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents, c.AIDebounce = registry, -1
	}, func(c *gateway.Config) { c.Registerer = reg })
	e.useOpenAI(ai, 5)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.fb.1", "15550131", "Ana", "how long is shipping?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550131")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	aiSeq, customerSeq := e.seqOf(conv, engine.SenderAI), e.seqOf(conv, engine.SenderCustomer)
	path := func(seq uint64) string {
		return "/api/v1/conversations/" + conv.String() + "/messages/" + strconv.FormatUint(seq, 10) + "/feedback"
	}
	report := func(rating string) feedbackPage {
		t.Helper()
		code, body := e.api("GET", "/api/v1/feedback?rating="+rating, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var p feedbackPage
		require.NoError(t, json.Unmarshal(body, &p))
		return p
	}

	for name, tc := range map[string]struct {
		seq  uint64
		body any
		code int
	}{
		"customer message":  {customerSeq, map[string]any{"rating": "up"}, http.StatusBadRequest},
		"unknown seq":       {999, map[string]any{"rating": "up"}, http.StatusNotFound},
		"bad rating":        {aiSeq, map[string]any{"rating": "meh"}, http.StatusBadRequest},
		"no rating":         {aiSeq, map[string]any{"correction": "x"}, http.StatusBadRequest},
		"unknown field":     {aiSeq, map[string]any{"rating": "up", "stars": 5}, http.StatusBadRequest},
		"long correction":   {aiSeq, map[string]any{"rating": "down", "correction": strings.Repeat("é", 2049)}, http.StatusBadRequest},
		"not json":          {aiSeq, "{", http.StatusBadRequest},
		"correction number": {aiSeq, map[string]any{"rating": "down", "correction": 3}, http.StatusBadRequest},
	} {
		code, body := e.api("POST", path(tc.seq), ownerToken, tc.body)
		require.Equal(t, tc.code, code, "%s: %s", name, body)
		require.NotEmpty(t, errorCode(t, body), name)
	}
	require.Empty(t, report("down").Feedback)
	require.Empty(t, report("up").Feedback)

	code, body := e.api("POST", path(aiSeq), ownerToken, map[string]any{"rating": "up"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, report("up").Feedback, 1)
	code, body = e.api("POST", path(aiSeq), ownerToken, map[string]any{"rating": "down", "correction": "Shipping takes 2 days."})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Empty(t, report("up").Feedback, "the new rating replaces the user's previous one")
	down := report("down").Feedback
	require.Len(t, down, 1)
	require.Equal(t, "how long is shipping?", down[0].Question)
	require.Equal(t, "Shipping takes 5 days.", down[0].Answer)
	require.Equal(t, "Shipping takes 2 days.", down[0].Correction)
	require.Equal(t, aiSeq, down[0].Seq)
	require.Equal(t, 1.0, counterValue(t, reg, "parley_ai_feedback_total", "up"))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_ai_feedback_total", "down"))
	code, body = e.api("GET", "/api/v1/feedback?rating=sideways", ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = e.api("GET", "/api/v1/feedback?cursor=zz", ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))

	// The next question reaches the agent with the correction.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.fb.2", "15550131", "Ana", "and to Spain?"))
	eventually(t, 5*time.Second, func() error {
		if n := len(ai.requests()); n != 2 {
			return fmt.Errorf("%d requests", n)
		}
		return nil
	})
	var sent struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(ai.requests()[1].Body, &sent))
	require.Equal(t, "system", sent.Messages[0].Role)
	require.Contains(t, sent.Messages[0].Content,
		`When asked "how long is shipping?" you answered "Shipping takes 5 days."; the team corrected it to "Shipping takes 2 days."`)
	first := ai.requests()[0].Body
	require.NotContains(t, string(first), "corrected", "no correction before the rating")

	// The webhook agent receives it in its payload.
	code, body = e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.fb.3", "15550131", "Ana", "thanks"))
	eventually(t, 5*time.Second, func() error {
		if n := len(ai.requests()); n != 3 {
			return fmt.Errorf("%d requests", n)
		}
		return nil
	})
	var hook struct {
		Corrections []map[string]string `json:"corrections"`
	}
	require.NoError(t, json.Unmarshal(ai.requests()[2].Body, &hook))
	require.Equal(t, []map[string]string{{"question": "how long is shipping?", "answer": "Shipping takes 5 days.",
		"correction": "Shipping takes 2 days."}}, hook.Corrections)

	// Deleting the conversation removes its ratings from the report.
	code, body = e.api("DELETE", "/api/v1/conversations/"+conv.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	require.Empty(t, report("down").Feedback)
}
