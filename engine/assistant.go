package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultAssistantID is the id of every workspace's first assistant,
// whose agent settings are the workspace's (AgentSettings with no
// channel account). It cannot be deleted; conversations and channel
// accounts of a deleted assistant go back to it.
const DefaultAssistantID = "default"

// DefaultAssistantName is the default assistant's name until someone
// renames it.
const DefaultAssistantName = "Assistant"

// Limits on assistants.
const (
	MaxAssistants         = 50
	MaxAssistantNameBytes = 100
	MaxAssistantIDBytes   = 64
	MaxAssistantAccounts  = 200
)

// AccountRef names a channel account of the workspace.
type AccountRef struct {
	Channel   Channel `json:"channel"`
	AccountID string  `json:"account_id"`
}

// Assistant is one named AI assistant of a workspace: its agent settings
// and the channel accounts whose new conversations it handles. The
// default assistant (DefaultAssistantID) handles every account no other
// assistant lists; its settings are kept as the workspace's agent
// settings, so Settings is empty on its record.
type Assistant struct {
	ID          string        `json:"id"`
	WorkspaceID ID            `json:"workspace_id"`
	Name        string        `json:"name"`
	Accounts    []AccountRef  `json:"accounts,omitempty"`
	Settings    AgentSettings `json:"settings"`
	CreatedAt   time.Time     `json:"created_at,omitzero"`
	UpdatedAt   time.Time     `json:"updated_at,omitzero"`
}

// Validate checks the assistant's name, accounts and (but for the
// default assistant's) settings; errors wrap ErrInvalid.
func (a *Assistant) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if a.ID == "" || len(a.ID) > MaxAssistantIDBytes || !utf8.ValidString(a.ID) {
		return bad("assistant id must be 1 to %d bytes", MaxAssistantIDBytes)
	}
	name := strings.TrimSpace(a.Name)
	if name == "" || len(a.Name) > MaxAssistantNameBytes || !utf8.ValidString(a.Name) || strings.ContainsAny(a.Name, "\n\r\x00") {
		return bad("name must be 1 to %d bytes of text on one line", MaxAssistantNameBytes)
	}
	if len(a.Accounts) > MaxAssistantAccounts {
		return bad("at most %d channel accounts", MaxAssistantAccounts)
	}
	seen := map[AccountRef]bool{}
	for i, r := range a.Accounts {
		if !r.Channel.Valid() || r.AccountID == "" {
			return bad("accounts[%d] needs a channel and an account_id", i)
		}
		if seen[r] {
			return bad("accounts[%d] is listed twice", i)
		}
		seen[r] = true
	}
	if a.ID == DefaultAssistantID {
		if len(a.Accounts) > 0 {
			return bad("the default assistant handles every account no other assistant lists: it lists none")
		}
		return nil
	}
	if a.Settings.Channel != "" || a.Settings.AccountID != "" {
		return bad("an assistant's settings are not a channel account's")
	}
	if a.Settings.StripeWebhookSecret != "" {
		return bad("stripe_webhook_secret is set on the workspace's agent settings (the default assistant's)")
	}
	return a.Settings.Validate()
}

// Handles reports whether a lists channel account ch/acct.
func (a *Assistant) Handles(ch Channel, acct string) bool {
	for _, r := range a.Accounts {
		if r.Channel == ch && r.AccountID == acct {
			return true
		}
	}
	return false
}

// Assistant returns the id of the assistant handling the conversation:
// DefaultAssistantID for a conversation stored before assistants.
func (c *Conversation) Assistant() string {
	if c.AssistantID == "" {
		return DefaultAssistantID
	}
	return c.AssistantID
}

// SetAssistant hands the conversation to another assistant of the
// workspace (the caller checks that it exists). UserID is the person who
// asks, empty when an assistant's deletion moves it back to the default.
type SetAssistant struct {
	AssistantID string
	UserID      string
}

func (SetAssistant) isCommand() {}
