package agents

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
)

// maxAgentResponse caps what is read from an AI service's response.
const maxAgentResponse = 1 << 20

// defaultAgentTimeout bounds one call when the settings name none.
const defaultAgentTimeout = engine.DefaultAgentTimeout

// Errors returned by the HTTP agents.
var (
	// ErrStatus is returned when the AI service answers with a status
	// other than 2xx.
	ErrStatus = errors.New("agents: AI service answered with an error status")
	// ErrResponse is returned when the AI service's answer cannot be
	// read.
	// It wraps ports.ErrInvalidAnswer.
	ErrResponse = fmt.Errorf("agents: unreadable AI service response: %w", ports.ErrInvalidAnswer)
)

// OpenAI calls an OpenAI-compatible chat-completions API (hosted
// providers, Ollama, vLLM, llama.cpp...). The agent may answer, call the
// handoff_to_human tool, call schedule_follow_up, call remember to
// keep a fact about the contact, or call update_contact to save the
// customer's details (contact_tool.go). With the json reply format it answers
// one JSON object instead (agent_structured.go).
type OpenAI struct {
	client  *http.Client
	url     string
	model   string
	apiKey  string
	prompt  string
	timeout time.Duration
	json    bool
}

// NewOpenAI builds the agent of settings s; client is shared.
func NewOpenAI(client *http.Client, s engine.AgentSettings) *OpenAI {
	t := s.Timeout
	if t <= 0 {
		t = defaultAgentTimeout
	}
	return &OpenAI{client: client, url: strings.TrimSuffix(s.BaseURL, "/") + "/chat/completions",
		model: s.Model, apiKey: s.APIKey, prompt: s.SystemPrompt, timeout: t, json: s.ReplyFormat == engine.ReplyFormatJSON}
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model          string        `json:"model"`
	Messages       []chatMessage `json:"messages"`
	Tools          []any         `json:"tools,omitempty"`
	ResponseFormat any           `json:"response_format,omitempty"`
}

// agentTools are the functions offered to the model.
var agentTools = []any{
	map[string]any{"type": "function", "function": map[string]any{
		"name":        "handoff_to_human",
		"description": "Hand the conversation to a person on the team, when you cannot help or the customer needs a human.",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{
			"reason": map[string]any{"type": "string", "description": "Why a person is needed, for the team."}},
			"required": []string{"reason"}},
	}},
	map[string]any{"type": "function", "function": map[string]any{
		"name":        "schedule_follow_up",
		"description": "Schedule a follow-up message to the customer later, if they stay silent.",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{
			"in_hours": map[string]any{"type": "number", "description": "Hours from now, at most 23 on WhatsApp."},
			"reason":   map[string]any{"type": "string"}},
			"required": []string{"in_hours"}},
	}},
	map[string]any{"type": "function", "function": map[string]any{
		"name":        "remember",
		"description": "Keep a short, lasting fact about the customer (a preference, their situation) for later conversations.",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{
			"fact": map[string]any{"type": "string", "description": "The fact, in one short sentence."},
			"type": map[string]any{"type": "string", "enum": engine.MemoryTypes,
				"description": "fact (about them), preference (what they like or want), goal (what they are after) or experience (what happened to them with us)."}},
			"required": []string{"fact"}},
	}},
}

// Reply asks the model.
func (a *OpenAI) Reply(ctx context.Context, in ports.AIContext) (ports.AIAnswer, error) {
	req := chatRequest{Model: a.model, Messages: chatMessages(a.prompt, in, a.json), Tools: toolsFor(in.FieldDefs)}
	if len(in.Knowledge) > 0 {
		req.Tools = append(req.Tools, citeTool)
	}
	if a.json {
		req.Tools, req.ResponseFormat = nil, structuredFormat(in.FieldDefs)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("encoding chat request: %w", err)
	}
	hdr := http.Header{}
	if a.apiKey != "" {
		hdr.Set("Authorization", "Bearer "+a.apiKey)
	}
	resp, err := postJSON(ctx, a.client, a.url, body, hdr, a.timeout)
	if err != nil {
		return ports.AIAnswer{}, err
	}
	if a.json {
		return withSources(parseStructuredCompletion(resp))(in)
	}
	return withSources(parseChatCompletion(resp))(in)
}

// withSources records on a reply the knowledge passages it answered
// from: those the model named (ans.Sources holds the entry ids or
// passage numbers it cited, citedSource), or all it was given when it
// named none of them.
func withSources(ans ports.AIAnswer, err error) func(ports.AIContext) (ports.AIAnswer, error) {
	return func(in ports.AIContext) (ports.AIAnswer, error) {
		cited := ans.Sources
		ans.Sources = nil
		if err == nil && ans.Content.Kind != "" {
			ans.Sources = engine.SourcesOf(citedKnowledge(cited, in.Knowledge))
		}
		return ans, err
	}
}

// citedSource is how a parser keeps a citation until withSources
// resolves it: Title holds what the model wrote (an entry id, or the
// passage's number in the prompt).
func citedSource(ref string) engine.KnowledgeSource {
	return engine.KnowledgeSource{Title: strings.TrimSpace(ref)}
}

// citedKnowledge returns the passages of given that cited names, by
// entry id or by their number in the prompt ("2" or "[2]"), in the
// order given; all of given when cited names none of them.
func citedKnowledge(cited []engine.KnowledgeSource, given []engine.KnowledgePassage) []engine.KnowledgePassage {
	var out []engine.KnowledgePassage
	for i, p := range given {
		id, num := p.EntryID.String(), strconv.Itoa(i+1)
		if slices.ContainsFunc(cited, func(c engine.KnowledgeSource) bool {
			r := strings.Trim(c.Title, "[]# ")
			return strings.EqualFold(r, id) || r == num
		}) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return given
	}
	return out
}

// citeTool lets the model of the tools reply format name the knowledge
// passages it answered from.
var citeTool = map[string]any{"type": "function", "function": map[string]any{
	"name":        citeToolName,
	"description": "Name the knowledge base passages your answer is based on, by their entry id.",
	"parameters": map[string]any{"type": "object", "properties": map[string]any{
		"sources": map[string]any{"type": "array", "items": map[string]any{"type": "string"},
			"description": "The entry ids of the passages you used."}},
		"required": []string{"sources"}},
}}

const citeToolName = "cite_sources"

// PostJSON posts body and returns the 2xx response body, read up to
// 1 MiB, the call bounded by timeout. Errors wrap ErrStatus and
// ErrResponse.
func PostJSON(ctx context.Context, client *http.Client, url string, body []byte, hdr http.Header, timeout time.Duration) ([]byte, error) {
	return postJSON(ctx, client, url, body, hdr, timeout)
}

// postJSON posts body and returns the 2xx response body, read up to
// maxAgentResponse.
func postJSON(ctx context.Context, client *http.Client, url string, body []byte, hdr http.Header, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building AI request: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "parley")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling AI service: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading AI service response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%w: %d %s", ErrStatus, resp.StatusCode, snippet(out))
	}
	if len(out) > maxAgentResponse {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrResponse, maxAgentResponse)
	}
	return out, nil
}

func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// chatMessages builds the prompt: the business context and the rules of
// the inbox (as tools, or as the JSON object to answer with), the
// contact's profile (with its pipeline stage and owner) and memories,
// then the conversation oldest first.
func chatMessages(prompt string, in ports.AIContext, structured bool) []chatMessage {
	var sys strings.Builder
	if strings.TrimSpace(prompt) != "" {
		sys.WriteString(prompt)
	} else {
		sys.WriteString("You are the customer support assistant of this business.")
	}
	fmt.Fprintf(&sys, "\n\nYou are talking with a customer on %s. Answer briefly, in the customer's language. ", in.Conversation.Channel)
	if structured {
		sys.WriteString(structuredInstructions)
	} else {
		sys.WriteString("If you cannot help, or the customer needs a person, call handoff_to_human with the reason. " +
			"If the customer wants to be contacted later, call schedule_follow_up. " +
			"When you learn a lasting fact about the customer worth knowing next time, call remember.")
	}
	sys.WriteString(fieldsPrompt(in.FieldDefs, structured))
	if c := in.Contact; c != nil {
		sys.WriteString("\n\nAbout the customer:")
		p := c.Profile
		for _, f := range [][2]string{{"name", p.Name}, {"email", p.Email}, {"phone", p.Phone}, {"company", p.Company},
			{"title", p.Title}, {"country", p.Country}, {"language", p.Language}} {
			if f[1] != "" {
				fmt.Fprintf(&sys, "\n- %s: %s", f[0], f[1])
			}
		}
		writeDetected(&sys, c)
		for k, v := range c.CustomFields {
			fmt.Fprintf(&sys, "\n- %s: %s", k, v)
		}
		if in.CRM.Stage != "" {
			fmt.Fprintf(&sys, "\n- pipeline stage: %s (pipeline %s)", in.CRM.Stage, in.CRM.Pipeline)
		}
		if in.CRM.Owner != "" {
			fmt.Fprintf(&sys, "\n- owner (the person at the business in charge of this customer): %s", in.CRM.Owner)
		}
	} else if in.Conversation.ContactName != "" {
		fmt.Fprintf(&sys, "\n\nThe customer's name is %s.", in.Conversation.ContactName)
	}
	if len(in.Memories) > 0 {
		sys.WriteString("\n\nWhat you remember about the customer:")
		for _, m := range in.Memories {
			fmt.Fprintf(&sys, "\n- (%s) %s", cmp.Or(m.Type, engine.MemoryFact), m.Text)
		}
	}
	writeCorrections(&sys, in.Corrections)
	writeKnowledge(&sys, in.Knowledge, structured)
	msgs := []chatMessage{{Role: "system", Content: sys.String()}}
	for i := len(in.History) - 1; i >= 0; i-- {
		m := in.History[i]
		text := m.Text
		if text == "" {
			text = m.Content.Preview()
		}
		switch {
		case m.Sender.Kind == engine.SenderCustomer:
			msgs = append(msgs, chatMessage{Role: "user", Content: text})
		case m.Direction == engine.DirOut:
			msgs = append(msgs, chatMessage{Role: "assistant", Content: text})
		}
	}
	if in.Request.Purpose == engine.PurposeFollowUp {
		msgs = append(msgs, chatMessage{Role: "system", Content: "The customer has not answered your last message. " +
			"Write one short, friendly follow-up message."})
	}
	return msgs
}

type chatResponse struct {
	Choices []struct {
		Message chatReply `json:"message"`
	} `json:"choices"`
}

// chatReply is the model's message in a chat-completions response.
type chatReply struct {
	Content          *string `json:"content"`
	ReasoningContent string  `json:"reasoning_content"`
	Reasoning        string  `json:"reasoning"`
	ToolCalls        []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// firstReply reads a chat-completions response and returns its first
// choice's message.
func firstReply(body []byte) (chatReply, error) {
	var r chatResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return chatReply{}, fmt.Errorf("%w: %v", ErrResponse, err)
	}
	if len(r.Choices) == 0 {
		return chatReply{}, fmt.Errorf("%w: no choices", ErrResponse)
	}
	return r.Choices[0].Message, nil
}

// parseChatCompletion reads a chat-completions response into an answer.
func parseChatCompletion(body []byte) (ports.AIAnswer, error) {
	m, err := firstReply(body)
	if err != nil {
		return ports.AIAnswer{}, err
	}
	var ans ports.AIAnswer
	if m.Content != nil && strings.TrimSpace(*m.Content) != "" {
		ans.Content = engine.Content{Kind: engine.KindText, Text: strings.TrimSpace(*m.Content)}
	}
	ans.Reasoning = strings.TrimSpace(m.ReasoningContent + m.Reasoning)
	for _, tc := range m.ToolCalls {
		if tc.Function.Name == contactToolName {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.Function.Arguments), &raw); err != nil {
				return ports.AIAnswer{}, fmt.Errorf("%w: tool %s arguments: %v", ErrResponse, tc.Function.Name, err)
			}
			values, err := contactValues(raw)
			if err != nil {
				return ports.AIAnswer{}, fmt.Errorf("%w: tool %s: %v", ErrResponse, tc.Function.Name, err)
			}
			addContactValues(&ans.Contact, values)
			continue
		}
		if tc.Function.Name == citeToolName {
			var args struct {
				Sources json.RawMessage `json:"sources"`
			}
			if json.Unmarshal([]byte(tc.Function.Arguments), &args) == nil {
				refs, _ := looseStrings(args.Sources)
				for _, r := range refs {
					ans.Sources = append(ans.Sources, citedSource(r))
				}
			}
			continue
		}
		var args struct {
			Reason  string  `json:"reason"`
			InHours float64 `json:"in_hours"`
			Fact    string  `json:"fact"`
			// Type is the remembered fact's type; a model's odd value
			// (not a string, not a type) makes it a fact.
			Type any `json:"type"`
		}
		if tc.Function.Arguments != "" {
			if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil {
				return ports.AIAnswer{}, fmt.Errorf("%w: tool %s arguments: %v", ErrResponse, tc.Function.Name, err)
			}
		}
		switch tc.Function.Name {
		case "handoff_to_human":
			ans.Handoff = handoffReason(args.Reason)
		case "schedule_follow_up":
			if d := followUpIn(args.InHours); d > 0 {
				ans.FollowUpAfter, ans.FollowUpReason = d, args.Reason
			}
		case "remember":
			typ, _ := args.Type.(string)
			remember(&ans, args.Fact, typ)
		}
	}
	return ans, nil
}

// writeCorrections adds the team's corrections of earlier replies to the
// system prompt, as examples to follow.
func writeCorrections(sys *strings.Builder, cs []engine.Feedback) {
	if len(cs) == 0 {
		return
	}
	sys.WriteString("\n\nThe team corrected some of your earlier answers; answer like the corrections:")
	for _, f := range cs {
		q := f.Question
		if q == "" {
			q = "(no question)"
		}
		fmt.Fprintf(sys, "\n- When asked %q you answered %q; the team corrected it to %q", q, f.Answer, f.Correction)
	}
}

// writeKnowledge adds the knowledge base's passages found for the
// customer's latest messages to the system prompt, each with its entry
// id for the model to cite (the sources field of the json reply format,
// the cite_sources tool otherwise).
func writeKnowledge(sys *strings.Builder, ps []engine.KnowledgePassage, structured bool) {
	if len(ps) == 0 {
		return
	}
	sys.WriteString("\n\nFrom the business's knowledge base (answer from these passages when they apply; do not invent what they do not say):")
	for i, p := range ps {
		fmt.Fprintf(sys, "\n[%d] (entry %s) %s\n%s", i+1, p.EntryID, p.Title, p.Text)
	}
	if structured {
		sys.WriteString("\n\nList the entry ids of the passages your reply uses in \"sources\".")
	} else {
		sys.WriteString("\n\nWhen your reply uses these passages, also call " + citeToolName + " with their entry ids.")
	}
}
