package agents

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
)

// Webhook POSTs the conversation to a URL of the business and takes
// the reply from the JSON response. With a secret, the body is signed:
// X-Parley-Signature: sha256=<hex HMAC-SHA256 of the body>.
type Webhook struct {
	client  *http.Client
	url     string
	secret  string
	prompt  string
	timeout time.Duration
}

// NewWebhook builds the agent of settings s (APIKey is the signing
// secret); client is shared.
func NewWebhook(client *http.Client, s engine.AgentSettings) *Webhook {
	t := s.Timeout
	if t <= 0 {
		t = defaultAgentTimeout
	}
	return &Webhook{client: client, url: s.WebhookURL, secret: s.APIKey, prompt: s.SystemPrompt, timeout: t}
}

// webhookRequest is what the webhook receives.
type webhookRequest struct {
	Purpose         engine.AIPurpose    `json:"purpose"`
	Request         engine.AIRequest    `json:"request"`
	BusinessContext string              `json:"business_context,omitempty"`
	Conversation    engine.Conversation `json:"conversation"`
	Contact         *engine.Contact     `json:"contact,omitempty"`
	// CRM names the contact's pipeline stage and owner; absent when it
	// has neither.
	CRM *engine.ContactCRM `json:"crm,omitempty"`
	// Memories are what the agent remembers about the contact, oldest
	// first.
	Memories []engine.Memory `json:"memories"`
	// Corrections are the team's newest corrections of down-rated
	// replies, newest first: question, answer and correction.
	Corrections []correction `json:"corrections"`
	// Messages are the recent messages, oldest first.
	Messages []engine.Message `json:"messages"`
	// Fields are the workspace's custom field definitions; the answer's
	// contact may fill those with allow_ai.
	Fields []engine.FieldDef `json:"fields"`
	// Knowledge are the knowledge base passages that best match the
	// customer's latest messages, best first: entry_id, passage (its
	// index in the entry), kind, title, text, answer (FAQ entries),
	// score (BM25) and match (the share of the question's terms found,
	// 0 to 1). Always a list.
	Knowledge []engine.KnowledgePassage `json:"knowledge"`
}

// webhookReply is what the webhook answers; every field is optional.
type webhookReply struct {
	Reply             string  `json:"reply"`
	Reasoning         string  `json:"reasoning"`
	Handoff           string  `json:"handoff"`
	FollowUpInSeconds float64 `json:"follow_up_in_seconds"`
	FollowUpReason    string  `json:"follow_up_reason"`
	// Remember are facts to keep as memories of the contact: strings, or
	// objects {"text", "type"} (engine.MemoryTypes).
	Remember json.RawMessage `json:"remember"`
	// Contact are details to save on the contact: standard profile
	// fields and custom fields by key (contact_tool.go).
	Contact json.RawMessage `json:"contact"`
}

// Reply posts the conversation and reads the answer.
func (a *Webhook) Reply(ctx context.Context, in ports.AIContext) (ports.AIAnswer, error) {
	msgs := make([]engine.Message, 0, len(in.History))
	for i := len(in.History) - 1; i >= 0; i-- {
		msgs = append(msgs, in.History[i])
	}
	body, err := json.Marshal(webhookRequest{Purpose: in.Request.Purpose, Request: in.Request, BusinessContext: a.prompt,
		Conversation: in.Conversation, Contact: in.Contact, CRM: crmOf(in), Memories: memoriesOf(in),
		Corrections: correctionsOf(in), Messages: msgs, Fields: fieldsOf(in), Knowledge: knowledgeOf(in)})
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("encoding webhook request: %w", err)
	}
	hdr := http.Header{}
	if a.secret != "" {
		mac := hmac.New(sha256.New, []byte(a.secret))
		mac.Write(body)
		hdr.Set("X-Parley-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := postJSON(ctx, a.client, a.url, body, hdr, a.timeout)
	if err != nil {
		return ports.AIAnswer{}, err
	}
	ans, err := parseWebhookReply(resp)
	if err == nil && ans.Content.Kind != "" {
		ans.Sources = engine.SourcesOf(usedKnowledge(resp, in.Knowledge))
	}
	return ans, err
}

// usedKnowledge returns the passages of given that a webhook's reply
// names in its optional sources (entry ids); all of them when it names
// none (no sources field, or not a list of strings).
func usedKnowledge(resp []byte, given []engine.KnowledgePassage) []engine.KnowledgePassage {
	var named struct {
		Sources *[]string `json:"sources"`
	}
	if json.Unmarshal(resp, &named) != nil || named.Sources == nil {
		return given
	}
	var out []engine.KnowledgePassage
	for _, p := range given {
		if slices.Contains(*named.Sources, p.EntryID.String()) {
			out = append(out, p)
		}
	}
	return out
}

// knowledgeOf returns the context's passages, never nil.
func knowledgeOf(in ports.AIContext) []engine.KnowledgePassage {
	if in.Knowledge == nil {
		return []engine.KnowledgePassage{}
	}
	return in.Knowledge
}

// parseWebhookReply reads a webhook agent's answer.
func parseWebhookReply(body []byte) (ports.AIAnswer, error) {
	var r webhookReply
	if err := json.Unmarshal(body, &r); err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: %v", ErrResponse, err)
	}
	contact, err := contactObject(r.Contact)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: contact: %v", ErrResponse, err)
	}
	facts, err := looseFacts(r.Remember)
	if err != nil {
		return ports.AIAnswer{}, fmt.Errorf("%w: remember: %v", ErrResponse, err)
	}
	ans := ports.AIAnswer{Reasoning: strings.TrimSpace(r.Reasoning), Handoff: strings.TrimSpace(r.Handoff), Contact: contact}
	for _, f := range facts {
		remember(&ans, f.Text, string(f.Type))
	}
	if t := strings.TrimSpace(r.Reply); t != "" {
		ans.Content = engine.Content{Kind: engine.KindText, Text: t}
	}
	if r.FollowUpInSeconds > 0 && r.FollowUpInSeconds <= float64(engine.MaxFollowUpPeriod/time.Second) {
		ans.FollowUpAfter = time.Duration(r.FollowUpInSeconds * float64(time.Second))
		ans.FollowUpReason = r.FollowUpReason
	}
	return ans, nil
}

// memoriesOf returns the context's memories, never nil (the payload
// always has the list).
func memoriesOf(in ports.AIContext) []engine.Memory {
	if in.Memories == nil {
		return []engine.Memory{}
	}
	return in.Memories
}

// crmOf is the crm field of the payload: nil when the contact has no
// stage and no owner.
func crmOf(in ports.AIContext) *engine.ContactCRM {
	if in.CRM.Empty() {
		return nil
	}
	crm := in.CRM
	return &crm
}

// correction is a corrected reply in the webhook payload.
type correction struct {
	Question   string `json:"question"`
	Answer     string `json:"answer"`
	Correction string `json:"correction"`
}

// correctionsOf returns the context's corrections, never nil (the
// payload always has the list).
func correctionsOf(in ports.AIContext) []correction {
	out := make([]correction, 0, len(in.Corrections))
	for _, f := range in.Corrections {
		out = append(out, correction{Question: f.Question, Answer: f.Answer, Correction: f.Correction})
	}
	return out
}

// fieldsOf returns the context's field definitions, never nil.
func fieldsOf(in ports.AIContext) []engine.FieldDef {
	if in.FieldDefs == nil {
		return []engine.FieldDef{}
	}
	return in.FieldDefs
}
