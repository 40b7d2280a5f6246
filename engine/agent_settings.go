package engine

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// AgentKind names an AI agent implementation.
type AgentKind string

// Agent kinds. Rules is the built-in default: it needs no AI service.
const (
	AgentRulesKind   AgentKind = "rules"
	AgentOpenAIKind  AgentKind = "openai"
	AgentWebhookKind AgentKind = "webhook"
	// AgentOff turns the AI off: conversations wait for a person.
	AgentOff AgentKind = "off"
)

// Valid reports whether k is a known agent kind.
func (k AgentKind) Valid() bool {
	switch k {
	case AgentRulesKind, AgentOpenAIKind, AgentWebhookKind, AgentOff:
		return true
	}
	return false
}

// ReplyFormat is how an OpenAI-compatible model gives its decisions.
type ReplyFormat string

// Reply formats. Tools (the default) offers function calls; JSON asks for
// one JSON object (response_format json_schema), for servers and models
// without tool calling.
const (
	ReplyFormatTools ReplyFormat = "tools"
	ReplyFormatJSON  ReplyFormat = "json"
)

// KeywordAnswer is one rule of the rules agent: a customer message that
// contains any of Keywords gets Answer.
type KeywordAnswer struct {
	Keywords []string `json:"keywords"`
	Answer   string   `json:"answer"`
}

// AgentSettings configure the AI agent of a workspace (Channel and
// AccountID empty) or override it for one channel account.
type AgentSettings struct {
	WorkspaceID ID        `json:"workspace_id"`
	Channel     Channel   `json:"channel,omitempty"`
	AccountID   string    `json:"account_id,omitempty"`
	Kind        AgentKind `json:"kind"`
	// BaseURL and Model address an OpenAI-compatible chat-completions
	// API (hosted, Ollama, vLLM...); APIKey is sent as a bearer token
	// (and signs webhook agent requests). APIKey is never returned by
	// the API.
	BaseURL string `json:"base_url,omitempty"`
	Model   string `json:"model,omitempty"`
	APIKey  string `json:"api_key,omitempty"`
	// ReplyFormat is how the model answers: "" or tools, or json.
	ReplyFormat ReplyFormat `json:"reply_format,omitempty"`
	// WebhookURL receives the conversation for the webhook agent.
	WebhookURL string `json:"webhook_url,omitempty"`
	// Timeout bounds one agent call; zero means DefaultAgentTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// SystemPrompt is the business context the agent answers with.
	SystemPrompt string `json:"system_prompt,omitempty"`
	// Debounce is how long to wait for more customer messages before
	// answering; zero means the server default (2 s), negative none.
	Debounce time.Duration `json:"debounce,omitempty"`
	// Greeting, Answers and Fallback are the rules agent's: the greeting
	// of a new conversation, keyword answers, and the handoff reason when
	// nothing matches.
	Greeting string          `json:"greeting,omitempty"`
	Answers  []KeywordAnswer `json:"answers,omitempty"`
	Fallback string          `json:"fallback,omitempty"`
	// FollowUpText is what the rules agent sends as a follow-up.
	FollowUpText string `json:"followup_text,omitempty"`
	// Rules are the handoff keywords, automatic follow-ups and CSAT.
	Rules AgentRules `json:"rules"`
	// Restricted lets the AI answer only contacts in the CRM; others get
	// RestrictedReply (or nothing when empty).
	Restricted      bool   `json:"restricted,omitempty"`
	RestrictedReply string `json:"restricted_reply,omitempty"`
	// RestrictedTo is whom a restricted agent answers: RestrictToCRM
	// (also when empty) or RestrictToPaid.
	RestrictedTo string `json:"restricted_to,omitempty"`
	// StripeWebhookSecret is the signing secret (whsec_...) of the
	// workspace's Stripe webhook endpoint, whose subscription events give
	// contacts paid access (ApplySubscription). It is set on the
	// workspace's settings only, never on a channel account's override.
	StripeWebhookSecret string    `json:"stripe_webhook_secret,omitempty"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// DefaultAgentTimeout bounds one agent call when the settings name none.
const DefaultAgentTimeout = 30 * time.Second

// Limits on agent settings.
const (
	MaxPromptBytes    = 32 << 10
	MaxAgentAnswers   = 200
	MaxKeywords       = 100
	MaxAgentTimeout   = 5 * time.Minute
	MaxAgentDebounce  = time.Minute
	MaxAutoFollowUps  = 10
	MaxFollowUpPeriod = 30 * 24 * time.Hour
)

// Validate checks the settings; errors wrap ErrInvalid and say which
// field is wrong.
func (s *AgentSettings) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if !s.Kind.Valid() {
		return bad("kind must be rules, openai, webhook or off")
	}
	if s.ReplyFormat != "" && s.ReplyFormat != ReplyFormatTools && s.ReplyFormat != ReplyFormatJSON {
		return bad("reply_format must be tools or json")
	}
	if (s.Channel == "") != (s.AccountID == "") || (s.Channel != "" && !s.Channel.Valid()) {
		return bad("channel and account_id go together")
	}
	texts := map[string]string{"base_url": s.BaseURL, "model": s.Model, "api_key": s.APIKey, "webhook_url": s.WebhookURL,
		"greeting": s.Greeting, "fallback": s.Fallback, "followup_text": s.FollowUpText,
		"csat_survey": s.Rules.CSATSurvey, "restricted_reply": s.RestrictedReply,
		"stripe_webhook_secret": s.StripeWebhookSecret}
	for name, v := range texts {
		if !utf8.ValidString(v) || len(v) > MaxFieldBytes {
			return bad("%s must be at most %d bytes of text", name, MaxFieldBytes)
		}
	}
	if s.RestrictedTo != "" && s.RestrictedTo != RestrictToCRM && s.RestrictedTo != RestrictToPaid {
		return bad("restricted_to must be crm or paid")
	}
	if s.Channel != "" && s.StripeWebhookSecret != "" {
		return bad("stripe_webhook_secret is set on the workspace's agent settings, not a channel account's")
	}
	if !utf8.ValidString(s.SystemPrompt) || len(s.SystemPrompt) > MaxPromptBytes {
		return bad("system_prompt must be at most %d bytes of text", MaxPromptBytes)
	}
	switch s.Kind {
	case AgentOpenAIKind:
		if err := httpURL(s.BaseURL); err != nil {
			return bad("base_url: %v", err)
		}
		if strings.TrimSpace(s.Model) == "" {
			return bad("model is required for an openai agent")
		}
	case AgentWebhookKind:
		if err := httpURL(s.WebhookURL); err != nil {
			return bad("webhook_url: %v", err)
		}
	}
	if s.Timeout < 0 || s.Timeout > MaxAgentTimeout {
		return bad("timeout must be 0 to %v", MaxAgentTimeout)
	}
	if s.Debounce > MaxAgentDebounce {
		return bad("debounce must be at most %v", MaxAgentDebounce)
	}
	if len(s.Answers) > MaxAgentAnswers {
		return bad("at most %d answers", MaxAgentAnswers)
	}
	for i, a := range s.Answers {
		if len(a.Keywords) == 0 || strings.TrimSpace(a.Answer) == "" || len(a.Answer) > MaxTextBytes || !utf8.ValidString(a.Answer) {
			return bad("answers[%d] needs keywords and an answer", i)
		}
		if err := validKeywords(a.Keywords); err != nil {
			return bad("answers[%d]: %v", i, err)
		}
	}
	if err := validKeywords(s.Rules.HandoffKeywords); err != nil {
		return bad("handoff_keywords: %v", err)
	}
	r := s.Rules
	if r.AutoFollowUpAfter < 0 || r.AutoFollowUpAfter > MaxFollowUpPeriod || r.AutoFollowUpMax < 0 || r.AutoFollowUpMax > MaxAutoFollowUps {
		return bad("automatic follow-ups: after 0 to %v, at most %d", MaxFollowUpPeriod, MaxAutoFollowUps)
	}
	return nil
}

func validKeywords(ks []string) error {
	if len(ks) > MaxKeywords {
		return fmt.Errorf("at most %d keywords", MaxKeywords)
	}
	for _, k := range ks {
		if strings.TrimSpace(k) == "" || len(k) > MaxTagBytes*2 || !utf8.ValidString(k) {
			return fmt.Errorf("keywords must be 1 to %d bytes of text", MaxTagBytes*2)
		}
	}
	return nil
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("an http or https URL is required")
	}
	return nil
}
