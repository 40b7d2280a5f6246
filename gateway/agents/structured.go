package agents

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
)

// The json reply format of the OpenAI-compatible agent, for servers and
// models without tool calling (some Ollama and vLLM models): the request
// asks for one JSON object (response_format json_schema, which such
// servers turn into constrained decoding) and the system prompt describes
// it too, for servers that ignore the schema:
//
//	{"reply": "text for the customer, or empty",
//	 "handoff": false, "handoff_reason": "why a person is needed",
//	 "follow_up_in": 0,        // hours until a follow-up if the customer stays silent; 0 for none
//	 "reasoning": "private notes for the team",
//	 "remember": [{"text": "a lasting fact about the customer", "type": "preference"}],  // or plain strings (facts)
//	 "contact": {"email": "...", "<custom field key>": ...},  // details to save (contact_tool.go)
//	 "sources": ["<entry id>"]}  // the knowledge passages the reply uses (withSources)
//
// The parser is lenient with what models do (code fences, text around
// the object, a string where a number or a list was asked for) and strict
// with the rest: anything else is ErrResponse, which the agent pool
// counts as an invalid reply and hands the customer to a person.

// structuredFormat is the request's response_format for a workspace
// with custom field definitions defs.
func structuredFormat(defs []engine.FieldDef) map[string]any {
	return map[string]any{"type": "json_schema", "json_schema": map[string]any{
		"name": "parley_reply",
		"schema": map[string]any{"type": "object", "additionalProperties": false,
			"properties": map[string]any{
				"reply":          map[string]any{"type": "string"},
				"handoff":        map[string]any{"type": "boolean"},
				"handoff_reason": map[string]any{"type": "string"},
				"follow_up_in":   map[string]any{"type": "number", "description": "hours"},
				"reasoning":      map[string]any{"type": "string"},
				"remember": map[string]any{"type": "array", "items": map[string]any{"type": "object",
					"properties": map[string]any{"text": map[string]any{"type": "string"},
						"type": map[string]any{"type": "string", "enum": engine.MemoryTypes}},
					"required": []string{"text"}}},
				"contact": map[string]any{"type": "object", "properties": contactProperties(defs)},
				"sources": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			},
			"required": []string{"reply", "handoff"}},
	}}
}

// structuredInstructions tell the model what to answer with.
const structuredInstructions = `Answer with one JSON object and nothing else: ` +
	`{"reply": "your message to the customer, or empty", "handoff": true if a person must take over (you cannot help, or the customer needs a human), ` +
	`"handoff_reason": "why, for the team", "follow_up_in": hours until you follow up if the customer stays silent (0 for none), ` +
	`"reasoning": "short private notes for the team", "remember": [{"text": "a lasting fact about the customer worth knowing next time", ` +
	`"type": "fact (about them), preference (what they like or want), goal (what they are after) or experience (what happened to them with us)"}], ` +
	`"contact": {details the customer gave about themselves, by field: see below}}.`

// structuredReply is the JSON object; the loose fields take what models
// write instead of the asked-for type.
type structuredReply struct {
	Reply         string          `json:"reply"`
	Handoff       json.RawMessage `json:"handoff"`
	HandoffReason string          `json:"handoff_reason"`
	FollowUpIn    json.RawMessage `json:"follow_up_in"`
	Reasoning     string          `json:"reasoning"`
	Remember      json.RawMessage `json:"remember"`
	Contact       json.RawMessage `json:"contact"`
	Sources       json.RawMessage `json:"sources"`
}

// parseStructuredCompletion reads a chat-completions response whose
// content is the JSON object.
func parseStructuredCompletion(body []byte) (ports.AIAnswer, error) {
	m, err := firstReply(body)
	if err != nil {
		return ports.AIAnswer{}, err
	}
	if m.Content == nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: no content", ErrResponse)
	}
	ans, err := parseStructuredReply(*m.Content)
	if err != nil {
		return ports.AIAnswer{}, err
	}
	if r := strings.TrimSpace(m.ReasoningContent + m.Reasoning); r != "" {
		ans.Reasoning = strings.TrimSpace(r + "\n" + ans.Reasoning)
	}
	return ans, nil
}

// parseStructuredReply reads the model's JSON object into an answer.
func parseStructuredReply(content string) (ports.AIAnswer, error) {
	raw := []byte(strings.TrimSpace(content))
	// Models wrap the object in code fences or a sentence: take the
	// outermost braces.
	i, j := bytes.IndexByte(raw, '{'), bytes.LastIndexByte(raw, '}')
	if i < 0 || j < i {
		return ports.AIAnswer{}, fmt.Errorf("%w: no JSON object in the reply", ErrResponse)
	}
	var r structuredReply
	if err := json.Unmarshal(raw[i:j+1], &r); err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: reply object: %v", ErrResponse, err)
	}
	handoff, err := looseBool(r.Handoff)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: handoff: %v", ErrResponse, err)
	}
	hours, err := looseNumber(r.FollowUpIn)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: follow_up_in: %v", ErrResponse, err)
	}
	facts, err := looseFacts(r.Remember)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: remember: %v", ErrResponse, err)
	}
	contact, err := contactObject(r.Contact)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: contact: %v", ErrResponse, err)
	}
	ans := ports.AIAnswer{Reasoning: strings.TrimSpace(r.Reasoning), Contact: contact}
	if t := strings.TrimSpace(r.Reply); t != "" {
		ans.Content = engine.Content{Kind: engine.KindText, Text: t}
	}
	if handoff {
		ans.Handoff = handoffReason(r.HandoffReason)
	}
	ans.FollowUpAfter = followUpIn(hours)
	for _, f := range facts {
		remember(&ans, f.Text, string(f.Type))
	}
	// A sources field that is no list of strings names none: the reply
	// then records every passage it was given.
	if refs, err := looseStrings(r.Sources); err == nil {
		for _, ref := range refs {
			ans.Sources = append(ans.Sources, citedSource(ref))
		}
	}
	return ans, nil
}

// handoffReason is the reason an agent gave for handing off, or a default.
func handoffReason(reason string) string {
	if r := strings.TrimSpace(reason); r != "" {
		return r
	}
	return "the AI asked for a person"
}

// followUpIn is the follow-up an agent asked for in hours, zero when out
// of range (not positive, or beyond engine.MaxFollowUpPeriod).
func followUpIn(hours float64) time.Duration {
	if hours > 0 && hours <= engine.MaxFollowUpPeriod.Hours() {
		return time.Duration(hours * float64(time.Hour))
	}
	return 0
}

// remember adds fact, of type typ, to the facts the answer asks to keep:
// trimmed, not empty, at most engine.MaxMemories; a type that is not one
// of engine.MemoryTypes is a fact.
func remember(ans *ports.AIAnswer, fact, typ string) {
	if f := strings.TrimSpace(fact); f != "" && len(ans.Remember) < engine.MaxMemories {
		ans.Remember = append(ans.Remember, engine.Fact{Text: f, Type: engine.LooseMemoryType(typ)})
	}
}

// looseFacts reads a remember list: a string, a list of strings (facts),
// or a list whose items may also be objects {"text" (or "fact"), "type"}.
func looseFacts(raw json.RawMessage) ([]engine.Fact, error) {
	if ss, err := looseStrings(raw); err == nil {
		out := make([]engine.Fact, 0, len(ss))
		for _, s := range ss {
			out = append(out, engine.Fact{Text: s, Type: engine.MemoryFact})
		}
		return out, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("not a list of facts: %s", snippet(raw))
	}
	out := make([]engine.Fact, 0, len(items))
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil {
			out = append(out, engine.Fact{Text: s, Type: engine.MemoryFact})
			continue
		}
		var o struct {
			Text string `json:"text"`
			Fact string `json:"fact"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(it, &o); err != nil {
			return nil, fmt.Errorf("not a list of facts: %s", snippet(raw))
		}
		out = append(out, engine.Fact{Text: o.Text + o.Fact, Type: engine.LooseMemoryType(o.Type)})
	}
	return out, nil
}

// looseValue decodes a field that may be absent (nil).
func looseValue(raw json.RawMessage) (any, error) {
	var v any
	if len(raw) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// looseBool reads true, false, null or absent, or the same as a string
// ("true", "yes", "no"...).
func looseBool(raw json.RawMessage) (bool, error) {
	v, err := looseValue(raw)
	if err != nil {
		return false, err
	}
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "1":
			return true, nil
		case "false", "no", "0", "":
			return false, nil
		}
	}
	return false, fmt.Errorf("not a boolean: %s", snippet(raw))
}

// looseNumber reads a number, null or absent (0), or a number in a
// string.
func looseNumber(raw json.RawMessage) (float64, error) {
	v, err := looseValue(raw)
	if err != nil {
		return 0, err
	}
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		f = x
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, nil
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("not a number: %s", snippet(raw))
		}
		f = n
	default:
		return 0, fmt.Errorf("not a number: %s", snippet(raw))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return f, nil
}

// looseStrings reads a list of strings, one string, null or absent.
func looseStrings(raw json.RawMessage) ([]string, error) {
	v, err := looseValue(raw)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("not a list of strings: %s", snippet(raw))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a list of strings: %s", snippet(raw))
}
