package gateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// sentChat is the part of a chat-completions request the tests read.
type sentChat struct {
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema struct {
				Properties map[string]any `json:"properties"`
			} `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func decodeChat(t *testing.T, r aiReq) sentChat {
	t.Helper()
	var s sentChat
	require.NoError(t, json.Unmarshal(r.Body, &s))
	return s
}

// memoryTexts returns the texts and sources of a contact's memories.
func (e *env) memoryTexts(ct engine.ID) map[string]engine.MemorySource {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	out := map[string]engine.MemorySource{}
	for _, m := range decodeAs[memoriesPage](e.t, body).Memories {
		out[m.Text] = m.Source
	}
	return out
}

// waitSent waits until n texts went out through the fake Graph API.
func (e *env) waitSent(n int) []string {
	e.t.Helper()
	var got []string
	eventually(e.t, 5*time.Second, func() error {
		if got = e.sentTexts(); len(got) != n {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	return got
}

// The OpenAI-compatible agent is offered a remember tool; the fact it
// saves becomes a memory of the contact with its type, and the next
// prompt holds the contact's memories (the agent's and a person's),
// each with its type; a person's memory of an unknown type is a 400.
func TestOpenAIAgentRemembers(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(n int) (int, string, time.Duration) {
		if n == 1 {
			return 200, completion("Noted, email it is.", "", [2]string{"remember", `{"fact":"Prefers to be contacted by email","type":"preference"}`}), 0
		}
		return 200, completion("Hello again!", ""), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	ws := e.events("token=" + ownerToken)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.rm.1", "15550201", "Ivy", "please use email, not calls"))
	e.waitSent(1)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550201")
	ev := ws.until("memory.created")
	require.Equal(t, conv.String(), ev.ConversationID)
	require.Contains(t, string(ev.Data), "Prefers to be contacted by email")
	ct := e.conv(conv).ContactID
	eventually(t, 5*time.Second, func() error {
		if e.memoryTexts(ct)["Prefers to be contacted by email"] != engine.MemoryAI {
			return errors.New("no AI memory")
		}
		return nil
	})
	first := decodeChat(t, ai.requests()[0])
	var tools []string
	for _, tl := range first.Tools {
		tools = append(tools, tl.Function.Name)
	}
	require.Contains(t, tools, "remember")
	require.NotContains(t, first.Messages[0].Content, "What you remember")

	code, body := e.api("POST", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, map[string]string{"text": "VIP since 2019", "type": "hobby"})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), "fact, preference, goal or experience")
	code, body = e.api("POST", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, map[string]string{"text": "VIP since 2019", "type": "experience"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("GET", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var list struct {
		Memories []engine.Memory `json:"memories"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Memories, 2)
	require.Equal(t, engine.MemoryPreference, list.Memories[0].Type)
	require.Equal(t, engine.MemoryExperience, list.Memories[1].Type)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.rm.2", "15550201", "Ivy", "hi again"))
	e.waitSent(2)
	sys := decodeChat(t, ai.requests()[1]).Messages[0].Content
	require.Contains(t, sys, "Ivy", "the profile")
	require.Contains(t, sys, "What you remember about the customer:\n- (preference) Prefers to be contacted by email\n- (experience) VIP since 2019")
}

// The webhook agent gets the memories in its payload and may answer
// facts to remember: strings (facts) or {"text", "type"} objects.
func TestWebhookAgentMemories(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, `{"reply":"Got it","remember":["Allergic to peanuts",{"text":"Wants a vegan menu","type":"goal"}]}`, 0
	})
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.wm.1", "15550202", "Jo", "no peanuts please"))
	e.waitSent(1)
	ct := e.conv(e.thread(engine.ChannelWhatsApp, phoneID, "15550202")).ContactID
	eventually(t, 5*time.Second, func() error {
		if m := e.memoryTexts(ct); m["Allergic to peanuts"] != engine.MemoryAI || m["Wants a vegan menu"] != engine.MemoryAI {
			return errors.New("no memory")
		}
		return nil
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.wm.2", "15550202", "Jo", "what can I order?"))
	e.waitSent(2)
	var payloads [2]struct {
		Memories []engine.Memory `json:"memories"`
	}
	for i, r := range ai.requests() {
		require.NoError(t, json.Unmarshal(r.Body, &payloads[i]))
	}
	require.NotNil(t, payloads[0].Memories)
	require.Empty(t, payloads[0].Memories)
	require.Len(t, payloads[1].Memories, 2)
	require.Equal(t, "Allergic to peanuts", payloads[1].Memories[0].Text)
	require.Equal(t, engine.MemoryFact, payloads[1].Memories[0].Type)
	require.Equal(t, "Wants a vegan menu", payloads[1].Memories[1].Text)
	require.Equal(t, engine.MemoryGoal, payloads[1].Memories[1].Type)
}

// waitConv waits until conversation conv satisfies ok.
func (e *env) waitConv(conv engine.ID, what string, ok func(engine.Conversation) bool) {
	e.t.Helper()
	eventually(e.t, 5*time.Second, func() error {
		if !ok(e.conv(conv)) {
			return errors.New(what)
		}
		return nil
	})
}

// counterSum sums the series of counter name in reg whose labels include
// label=value.
func counterSum(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// With reply_format json the request asks for a JSON object (no tools)
// and the answer's fields drive the reply, the follow-up, the memories
// and the handoff; an answer that is not the object is counted as an
// invalid reply and hands the customer to a person.
func TestOpenAIAgentJSONReplyFormat(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *actors.Config) {
		registry, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents, c.AIDebounce, c.Registerer = registry, -1, reg
	})
	ai := newFakeAI(t)
	answers := []string{
		"```json\n" + `{"reply":"Your order ships Monday.","handoff":false,"follow_up_in":"20","reasoning":"policy","remember":"Ordered red sneakers"}` + "\n```",
		`{"reply":"","handoff":true,"handoff_reason":"wants a refund"}`,
		`Sorry, I can only talk.`,
	}
	ai.set(func(n int) (int, string, time.Duration) { return 200, completion(answers[(n-1)%len(answers)], ""), 0 })
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "openai", "base_url": ai.srv.URL + "/v1",
		"model": "small-local", "reply_format": "json"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"reply_format":"json"`)
	code, body = e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"reply_format": "xml"})
	require.Equal(t, http.StatusBadRequest, code, string(body))

	e.webhook(engine.ChannelWhatsApp, waText("wamid.js.1", "15550203", "Kim", "when does my order ship?"))
	require.Equal(t, []string{"Your order ships Monday."}, e.waitSent(1))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550203")
	e.waitConv(conv, "no follow-up", func(c engine.Conversation) bool { return !c.FollowUpAt.IsZero() })
	require.WithinDuration(t, time.Now().Add(20*time.Hour), e.conv(conv).FollowUpAt, time.Minute)
	require.Equal(t, engine.MemoryAI, e.memoryTexts(e.conv(conv).ContactID)["Ordered red sneakers"])
	req := decodeChat(t, ai.requests()[0])
	require.Empty(t, req.Tools, "no tools in json mode")
	require.NotNil(t, req.ResponseFormat)
	require.Equal(t, "json_schema", req.ResponseFormat.Type)
	require.Contains(t, req.ResponseFormat.JSONSchema.Schema.Properties, "handoff_reason")
	require.Contains(t, req.Messages[0].Content, "Answer with one JSON object")
	code, body = e.api("GET", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"reasoning":"policy"`)

	e.webhook(engine.ChannelWhatsApp, waText("wamid.js.2", "15550203", "Kim", "I want my money back"))
	e.waitConv(conv, "not handed off", func(c engine.Conversation) bool { return c.NeedsHuman })
	require.Equal(t, "Handed off to a person: wants a refund", e.messages(conv)[0].Text)

	// A new customer, and the model forgets the format.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.js.3", "15550204", "Lee", "hello"))
	conv3 := e.thread(engine.ChannelWhatsApp, phoneID, "15550204")
	e.waitConv(conv3, "not handed off", func(c engine.Conversation) bool { return c.NeedsHuman })
	require.Equal(t, "Handed off to a person: the AI agent failed (error)", e.messages(conv3)[0].Text)
	require.Equal(t, 1.0, counterSum(t, reg, "parley_agent_errors_total", "reason", "invalid_reply"))
	require.Len(t, e.sentTexts(), 1, "nothing else was sent")
}

// The agents are told where the contact stands: its pipeline stage and
// owner by name, in the OpenAI-compatible prompt and in the webhook's
// payload (crm); a contact with neither has no such lines, nor field.
func TestAgentsSeeStageAndOwner(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) { return 200, completion("Hi!", ""), 0 })
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	agent := e.addUser("crm-owner@example.com", engine.RoleAgent, "crm owner pw 123")
	e.webhook(engine.ChannelWhatsApp, waText("wamid.crm.1", "15550301", "Kim", "hello"))
	e.waitSent(1)
	first := decodeChat(t, ai.requests()[0]).Messages[0].Content
	require.NotContains(t, first, "pipeline stage")
	require.NotContains(t, first, "owner (")

	ct := e.conv(e.thread(engine.ChannelWhatsApp, phoneID, "15550301")).ContactID
	sales := e.pipelines(ownerToken)[0]
	e.setStage(ownerToken, ct, sales.Stages[1].ID.String())
	e.setOwner(ownerToken, ct, agent.User.ID.String())
	e.webhook(engine.ChannelWhatsApp, waText("wamid.crm.2", "15550301", "Kim", "prices?"))
	e.waitSent(2)
	sys := decodeChat(t, ai.requests()[1]).Messages[0].Content
	require.Contains(t, sys, "\n- pipeline stage: Qualified (pipeline Sales)")
	require.Contains(t, sys, "\n- owner (the person at the business in charge of this customer): User crm-owner@example.com")

	// The webhook agent: the crm field.
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot"})
	require.Equal(t, http.StatusOK, code, string(body))
	ai.set(func(int) (int, string, time.Duration) { return 200, `{"reply":"Sure"}`, 0 })
	e.webhook(engine.ChannelWhatsApp, waText("wamid.crm.3", "15550301", "Kim", "and delivery?"))
	e.waitSent(3)
	reqs := ai.requests()
	var payload struct {
		CRM *engine.ContactCRM `json:"crm"`
	}
	require.NoError(t, json.Unmarshal(reqs[len(reqs)-1].Body, &payload))
	require.NotNil(t, payload.CRM)
	require.Equal(t, "Sales", payload.CRM.Pipeline)
	require.Equal(t, "Qualified", payload.CRM.Stage)
	require.Equal(t, sales.Stages[1].ID, *payload.CRM.StageID)
	require.Equal(t, agent.User.ID, *payload.CRM.OwnerID)
	require.Equal(t, "User crm-owner@example.com", payload.CRM.Owner)

	// Neither: no crm field.
	e.setStage(ownerToken, ct, nil)
	e.setOwner(ownerToken, ct, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.crm.4", "15550301", "Kim", "thanks"))
	e.waitSent(4)
	reqs = ai.requests()
	require.NotContains(t, string(reqs[len(reqs)-1].Body), `"crm"`)
}
