package gateway

import (
	"math"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
)

// agentView is agent settings as the API shows them: never the API key.
type agentView struct {
	Kind               engine.AgentKind       `json:"kind"`
	BaseURL            string                 `json:"base_url"`
	Model              string                 `json:"model"`
	ReplyFormat        engine.ReplyFormat     `json:"reply_format"`
	HasAPIKey          bool                   `json:"has_api_key"`
	WebhookURL         string                 `json:"webhook_url"`
	TimeoutSeconds     float64                `json:"timeout_seconds"`
	SystemPrompt       string                 `json:"system_prompt"`
	DebounceMS         int64                  `json:"debounce_ms"`
	HandoffKeywords    []string               `json:"handoff_keywords"`
	Greeting           string                 `json:"greeting"`
	Answers            []engine.KeywordAnswer `json:"answers"`
	Fallback           string                 `json:"fallback"`
	FollowUpText       string                 `json:"followup_text"`
	AutoFollowUpHours  float64                `json:"auto_followup_hours"`
	AutoFollowUpMax    int                    `json:"auto_followup_max"`
	AutoCSAT           bool                   `json:"auto_csat"`
	CSATSurvey         string                 `json:"csat_survey"`
	HandoffStaysManual bool                   `json:"handoff_stays_manual"`
	Restricted         bool                   `json:"restricted"`
	RestrictedReply    string                 `json:"restricted_reply"`
	RestrictedTo       string                 `json:"restricted_to"`
	// StripeWebhookSecretSet says whether the workspace's Stripe webhook
	// secret is set (it is never shown).
	StripeWebhookSecretSet bool      `json:"stripe_webhook_secret_set"`
	Inherited              bool      `json:"inherited"`
	UpdatedAt              time.Time `json:"updated_at,omitzero"`
}

// viewAgent shows settings as they are applied, defaults filled in: the
// debounce window (the runtime's, defaultDebounce, when s sets none; 0
// for no wait), the agent call timeout, the handoff keywords, the
// follow-up limit and the CSAT survey.
func viewAgent(s engine.AgentSettings, inherited bool, defaultDebounce time.Duration) agentView {
	answers := s.Answers
	if answers == nil {
		answers = []engine.KeywordAnswer{}
	}
	rf := s.ReplyFormat
	if rf == "" {
		rf = engine.ReplyFormatTools
	}
	debounce := s.Debounce
	if debounce == 0 {
		debounce = defaultDebounce
	}
	restrictedTo := s.RestrictedTo
	if restrictedTo == "" {
		restrictedTo = engine.RestrictToCRM
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = engine.DefaultAgentTimeout
	}
	return agentView{Kind: s.Kind, BaseURL: s.BaseURL, Model: s.Model, ReplyFormat: rf, HasAPIKey: s.APIKey != "", WebhookURL: s.WebhookURL,
		TimeoutSeconds: timeout.Seconds(), SystemPrompt: s.SystemPrompt, DebounceMS: max(debounce, 0).Milliseconds(),
		HandoffKeywords: s.Rules.Keywords(), Greeting: s.Greeting, Answers: answers, Fallback: s.Fallback,
		FollowUpText: s.FollowUpText, AutoFollowUpHours: s.Rules.AutoFollowUpAfter.Hours(),
		AutoFollowUpMax: s.Rules.FollowUpMax(), AutoCSAT: s.Rules.AutoCSAT, CSATSurvey: s.Rules.Survey(),
		HandoffStaysManual: s.Rules.HandoffStaysManual,
		Restricted:         s.Restricted, RestrictedReply: s.RestrictedReply, RestrictedTo: restrictedTo,
		StripeWebhookSecretSet: s.StripeWebhookSecret != "", Inherited: inherited, UpdatedAt: s.UpdatedAt}
}

// agentBody changes the fields it names.
type agentBody struct {
	Kind               *engine.AgentKind       `json:"kind"`
	BaseURL            *string                 `json:"base_url"`
	Model              *string                 `json:"model"`
	ReplyFormat        *engine.ReplyFormat     `json:"reply_format"`
	APIKey             *string                 `json:"api_key"`
	WebhookURL         *string                 `json:"webhook_url"`
	TimeoutSeconds     *float64                `json:"timeout_seconds"`
	SystemPrompt       *string                 `json:"system_prompt"`
	DebounceMS         *int64                  `json:"debounce_ms"`
	HandoffKeywords    *[]string               `json:"handoff_keywords"`
	Greeting           *string                 `json:"greeting"`
	Answers            *[]engine.KeywordAnswer `json:"answers"`
	Fallback           *string                 `json:"fallback"`
	FollowUpText       *string                 `json:"followup_text"`
	AutoFollowUpHours  *float64                `json:"auto_followup_hours"`
	AutoFollowUpMax    *int                    `json:"auto_followup_max"`
	AutoCSAT           *bool                   `json:"auto_csat"`
	CSATSurvey         *string                 `json:"csat_survey"`
	HandoffStaysManual *bool                   `json:"handoff_stays_manual"`
	Restricted         *bool                   `json:"restricted"`
	RestrictedReply    *string                 `json:"restricted_reply"`
	RestrictedTo       *string                 `json:"restricted_to"`
	// StripeWebhookSecret sets the workspace's Stripe endpoint secret
	// ("" removes it); a channel account's settings refuse it.
	StripeWebhookSecret *string `json:"stripe_webhook_secret"`
}

// apply changes s by the fields of b.
func (b *agentBody) apply(s *engine.AgentSettings) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	if b.Kind != nil {
		s.Kind = *b.Kind
	}
	if b.ReplyFormat != nil {
		s.ReplyFormat = *b.ReplyFormat
	}
	set(&s.BaseURL, b.BaseURL)
	set(&s.Model, b.Model)
	set(&s.APIKey, b.APIKey)
	set(&s.WebhookURL, b.WebhookURL)
	set(&s.SystemPrompt, b.SystemPrompt)
	set(&s.Greeting, b.Greeting)
	set(&s.Fallback, b.Fallback)
	set(&s.FollowUpText, b.FollowUpText)
	set(&s.Rules.CSATSurvey, b.CSATSurvey)
	set(&s.RestrictedReply, b.RestrictedReply)
	set(&s.RestrictedTo, b.RestrictedTo)
	set(&s.StripeWebhookSecret, b.StripeWebhookSecret)
	if v := b.TimeoutSeconds; v != nil {
		if *v < 0 || *v > engine.MaxAgentTimeout.Seconds() || math.IsNaN(*v) {
			return errorf(fiber.StatusBadRequest, "invalid", "timeout_seconds must be 0 to %v", engine.MaxAgentTimeout.Seconds())
		}
		s.Timeout = time.Duration(*v * float64(time.Second))
	}
	if v := b.DebounceMS; v != nil {
		if *v > engine.MaxAgentDebounce.Milliseconds() {
			return errorf(fiber.StatusBadRequest, "invalid", "debounce_ms must be at most %d (0 or negative: no wait)", engine.MaxAgentDebounce.Milliseconds())
		}
		// The API shows the window applied, 0 for none: 0 sets no wait
		// (stored as negative, since a zero Debounce follows the server's
		// default), so that what GET shows can be PUT back unchanged.
		s.Debounce = time.Duration(*v) * time.Millisecond
		if s.Debounce <= 0 {
			s.Debounce = -1
		}
	}
	if b.HandoffKeywords != nil {
		s.Rules.HandoffKeywords = *b.HandoffKeywords
		if s.Rules.HandoffKeywords == nil {
			s.Rules.HandoffKeywords = []string{}
		}
	}
	if b.Answers != nil {
		s.Answers = *b.Answers
	}
	if v := b.AutoFollowUpHours; v != nil {
		if *v < 0 || *v > engine.MaxFollowUpPeriod.Hours() || math.IsNaN(*v) {
			return errorf(fiber.StatusBadRequest, "invalid", "auto_followup_hours must be 0 to %v", engine.MaxFollowUpPeriod.Hours())
		}
		s.Rules.AutoFollowUpAfter = time.Duration(*v * float64(time.Hour))
	}
	if b.AutoFollowUpMax != nil {
		s.Rules.AutoFollowUpMax = *b.AutoFollowUpMax
	}
	if b.AutoCSAT != nil {
		s.Rules.AutoCSAT = *b.AutoCSAT
	}
	if b.HandoffStaysManual != nil {
		s.Rules.HandoffStaysManual = *b.HandoffStaysManual
	}
	if b.Restricted != nil {
		s.Restricted = *b.Restricted
	}
	return nil
}

func (s *Server) getAgent(c *fiber.Ctx) error {
	set, _ := s.agents.Settings(who(c).WorkspaceID, "", "")
	return c.JSON(viewAgent(set, false, s.cfg.Runtime.AIDebounce()))
}

func (s *Server) putAgent(c *fiber.Ctx) error {
	return s.putAgentSettings(c, "", "")
}

func (s *Server) getChannelAgent(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	set, inherited := s.agents.Settings(acct.WorkspaceID, acct.Channel, acct.AccountID)
	return c.JSON(viewAgent(set, inherited, s.cfg.Runtime.AIDebounce()))
}

func (s *Server) putChannelAgent(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	return s.putAgentSettings(c, acct.Channel, acct.AccountID)
}

func (s *Server) deleteChannelAgent(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	if err := s.agents.Delete(acct.WorkspaceID, acct.Channel, acct.AccountID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// putAgentSettings changes the settings in force (for a channel account:
// starting from what it inherits) by the body's fields and stores them.
func (s *Server) putAgentSettings(c *fiber.Ctx, ch engine.Channel, acct string) error {
	var body agentBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	set, _ := s.agents.Settings(ws, ch, acct)
	if ch != "" {
		if body.StripeWebhookSecret != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "stripe_webhook_secret is set on the workspace's agent settings (PUT /api/v1/agent)")
		}
		set.StripeWebhookSecret = "" // an override starts from the workspace's settings, its secret aside
	}
	if err := body.apply(&set); err != nil {
		return err
	}
	set.WorkspaceID, set.Channel, set.AccountID = ws, ch, acct
	set.UpdatedAt = time.Now().UTC()
	if err := s.agents.Put(set); err != nil {
		return fromEngine(err)
	}
	return c.JSON(viewAgent(set, false, s.cfg.Runtime.AIDebounce()))
}
