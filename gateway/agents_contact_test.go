package gateway_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// aiWrites returns the AI write entries of a contact's activity.
func (e *env) aiWrites(ct engine.ID) []engine.AIContactWrite {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts/"+ct.String()+"/activity", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var page struct {
		Activity []struct {
			Type    string                 `json:"type"`
			AIWrite *engine.AIContactWrite `json:"ai_write"`
		} `json:"activity"`
	}
	require.NoError(e.t, json.Unmarshal(body, &page))
	var out []engine.AIContactWrite
	for _, a := range page.Activity {
		if a.Type == "contact.ai_updated" {
			out = append(out, *a.AIWrite)
		}
	}
	return out
}

// waitContact waits until contact ct satisfies ok.
func (e *env) waitContact(ct engine.ID, ok func(engine.Contact) bool) engine.Contact {
	e.t.Helper()
	var c engine.Contact
	eventually(e.t, 5*time.Second, func() error {
		if c = e.contactDetail(ct).Contact; !ok(c) {
			return errors.New("contact not written yet")
		}
		return nil
	})
	return c
}

// The OpenAI-compatible agent is offered update_contact with the
// standard profile fields and the fields that allow the AI (typed, with
// their options); what it saves is checked and stored through the
// contact's actor, with an activity entry naming the fields and the
// customer's message; a field without allow_ai, or without a
// definition, is refused and nothing of it is stored; both are counted
// (parley_actors_ai_contact_fields_total).
func TestOpenAIAgentWritesContact(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(n int) (int, string, time.Duration) {
		return 200, completion("Thanks Ivy, noted.", "", [2]string{"update_contact",
			`{"email":"ivy@example.com","plan":"pro","seats":12,"vip":true,"notes":"likes red"}`}), 0
	})
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *actors.Config) {
		registry, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents, c.AIDebounce, c.Registerer = registry, -1, reg
	})
	e.useOpenAI(ai, 5)
	e.addField(ownerToken, map[string]any{"key": "plan", "label": "Plan", "type": "single_select", "options": []string{"Free", "Pro"}, "allow_ai": true})
	e.addField(ownerToken, map[string]any{"key": "seats", "label": "Seats", "type": "number", "allow_ai": true})
	e.addField(ownerToken, map[string]any{"key": "vip", "label": "VIP", "type": "boolean"})

	e.webhook(engine.ChannelWhatsApp, waText("wamid.ct.1", "15550301", "Ivy", "I'm ivy@example.com, we want Pro for 12 seats, and I'm a VIP"))
	e.waitSent(1)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550301")
	ct := e.conv(conv).ContactID
	c := e.waitContact(ct, func(c engine.Contact) bool { return c.Profile.Email != "" })
	require.Equal(t, "ivy@example.com", c.Profile.Email)
	require.Equal(t, map[string]string{"plan": "Pro", "seats": "12"}, c.CustomFields, "vip does not allow the AI, notes has no definition")

	writes := e.aiWrites(ct)
	require.Len(t, writes, 1)
	require.Equal(t, []string{"email", "plan", "seats"}, writes[0].Fields)
	require.Equal(t, conv, writes[0].ConversationID)
	require.Equal(t, uint64(1), writes[0].Seq, "the customer's message")
	refused := map[string]string{}
	for _, r := range writes[0].Refused {
		refused[r.Field] = r.Message
	}
	require.Equal(t, map[string]string{"vip": "the AI may not write this field", "notes": "no such field"}, refused)
	require.Equal(t, 3.0, counterSum(t, reg, "parley_actors_ai_contact_fields_total", "result", "written"))
	require.Equal(t, 2.0, counterSum(t, reg, "parley_actors_ai_contact_fields_total", "result", "refused"))

	// The request offered the tool, typed by the definitions, and told
	// the model the fields.
	var sent struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name       string `json:"name"`
				Parameters struct {
					Properties map[string]map[string]any `json:"properties"`
				} `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
	}
	require.NoError(t, json.Unmarshal(ai.requests()[0].Body, &sent))
	var props map[string]map[string]any
	for _, tl := range sent.Tools {
		if tl.Function.Name == "update_contact" {
			props = tl.Function.Parameters.Properties
		}
	}
	require.NotNil(t, props, "update_contact offered")
	require.Equal(t, []any{"Free", "Pro"}, props["plan"]["enum"])
	require.Equal(t, "number", props["seats"]["type"])
	require.Contains(t, props, "email")
	require.NotContains(t, props, "vip")
	require.Contains(t, sent.Messages[0].Content, "- plan (single_select): Plan; one of Free, Pro")
	require.NotContains(t, sent.Messages[0].Content, "vip")
}

// A model that asks only for refused fields changes nothing: no value,
// no activity entry.
func TestOpenAIAgentContactRefusedChangesNothing(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(n int) (int, string, time.Duration) {
		return 200, completion("OK", "", [2]string{"update_contact", `{"vip":"true","seats":"many"}`},
			[2]string{"remember", `{"fact":"Asked to be VIP"}`}), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	e.addField(ownerToken, map[string]any{"key": "vip", "label": "VIP", "type": "boolean"})
	e.addField(ownerToken, map[string]any{"key": "seats", "label": "Seats", "type": "number", "allow_ai": true})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ct.2", "15550302", "Bo", "make me VIP"))
	e.waitSent(1)
	ct := e.conv(e.thread(engine.ChannelWhatsApp, phoneID, "15550302")).ContactID
	// The contact's actor handles the write before the answer's
	// memories: once the memory is there, the write was refused.
	eventually(t, 5*time.Second, func() error {
		if e.memoryTexts(ct)["Asked to be VIP"] == "" {
			return errors.New("no memory yet")
		}
		return nil
	})
	require.Empty(t, e.contactDetail(ct).CustomFields)
	require.Empty(t, e.aiWrites(ct))
}

// The webhook agent gets the definitions in its payload ("fields") and
// may answer "contact"; the JSON reply format takes "contact" too.
func TestWebhookAndJSONAgentsWriteContact(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, `{"reply":"Saved","contact":{"company":"Acme","since":"2024-03-01","vip":true}}`, 0
	})
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot"})
	require.Equal(t, http.StatusOK, code, string(body))
	since := e.addField(ownerToken, map[string]any{"key": "since", "label": "Customer since", "type": "date", "allow_ai": true})
	e.addField(ownerToken, map[string]any{"key": "vip", "label": "VIP", "type": "boolean"})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ct.3", "15550303", "Jo", "Acme, customer since March 2024"))
	e.waitSent(1)
	ct := e.conv(e.thread(engine.ChannelWhatsApp, phoneID, "15550303")).ContactID
	c := e.waitContact(ct, func(c engine.Contact) bool { return c.Profile.Company != "" })
	require.Equal(t, "Acme", c.Profile.Company)
	require.Equal(t, map[string]string{"since": "2024-03-01"}, c.CustomFields)
	var payload struct {
		Fields []engine.FieldDef `json:"fields"`
	}
	require.NoError(t, json.Unmarshal(ai.requests()[0].Body, &payload))
	require.Len(t, payload.Fields, 2)
	require.Equal(t, since, payload.Fields[0])

	// The JSON reply format.
	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion(`{"reply":"Noted","handoff":false,"contact":{"title":"CTO","since":"2023-01-02","vip":"yes"}}`, ""), 0
	})
	code, body = e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "openai", "base_url": ai.srv.URL + "/v1",
		"model": "m", "reply_format": "json"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ct.4", "15550303", "Jo", "I'm the CTO"))
	e.waitSent(2)
	c = e.waitContact(ct, func(c engine.Contact) bool { return c.Profile.Title != "" })
	require.Equal(t, "CTO", c.Profile.Title)
	require.Equal(t, map[string]string{"since": "2023-01-02"}, c.CustomFields)
	chat := decodeChat(t, ai.requests()[1])
	require.Contains(t, chat.ResponseFormat.JSONSchema.Schema.Properties, "contact")
	require.Len(t, e.aiWrites(ct), 2)
}
