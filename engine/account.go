package engine

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Workspace is one business using Parley. Every record belongs to one.
type Workspace struct {
	ID        ID        `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Role is what a user may do in a workspace.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner Role = "owner"
	RoleAdmin Role = "admin"
	RoleAgent Role = "agent"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleAgent }

// AtLeast reports whether r is at least as powerful as min.
func (r Role) AtLeast(min Role) bool { return r.rank() >= min.rank() }

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleAgent:
		return 1
	}
	return 0
}

// User is a person (or a script) using the inbox.
type User struct {
	ID          ID        `json:"id"`
	WorkspaceID ID        `json:"workspace_id"`
	Email       string    `json:"email,omitempty"`
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
}

// Token is an API credential: what its bearer may do. Only its hash is
// stored.
type Token struct {
	WorkspaceID ID        `json:"workspace_id"`
	UserID      ID        `json:"user_id"`
	Role        Role      `json:"role"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// ChannelAccount is a connected channel identity: a WhatsApp phone number
// id, a Messenger page or an Instagram professional account, with the
// credentials to send from it. AccessToken and AppSecret never leave the
// server. An API channel account (ChannelAPI) keeps the token its
// integrator posts inbound messages with in AccessToken, the key that
// signs its outbound webhook deliveries in AppSecret, and the webhook in
// WebhookURL.
type ChannelAccount struct {
	WorkspaceID ID        `json:"workspace_id"`
	Channel     Channel   `json:"channel"`
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	AccessToken string    `json:"access_token"`
	AppSecret   string    `json:"app_secret,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Email holds an email account's addresses and SMTP submission
	// settings (nil for the other channels).
	Email *EmailSettings `json:"email,omitempty"`
	// WebhookURL is where an API channel account's outbound messages are
	// delivered (http or https); empty for the other channels.
	WebhookURL string `json:"webhook_url,omitempty"`
	// Widget holds a web chat widget's settings (nil for the other
	// channels); its AccessToken is the secret that signs verified
	// visitors' user ids (engine/widget.go).
	Widget *WidgetSettings `json:"widget,omitempty"`
	// WABAID is a WhatsApp account's WhatsApp Business Account id, where
	// its message templates live (engine/template.go); empty for the
	// other channels, and for a WhatsApp account that sends no template.
	WABAID string `json:"waba_id,omitempty"`
	// MessagingTier is a WhatsApp number's messaging tier at Meta
	// (TIER_250, TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED; empty
	// counts as TIER_1K): how many unique customers its broadcasts may
	// reach in a rolling 24 hours (BroadcastTierLimit).
	MessagingTier string `json:"messaging_tier,omitempty"`
}

// Validate checks a channel account before it is stored.
func (a *ChannelAccount) Validate() error {
	if a.Channel == ChannelEmail {
		if err := a.validateEmail(); err != nil {
			return err
		}
		if len(a.Name) > 256 || !utf8.ValidString(a.Name) {
			return fmt.Errorf("%w: name longer than 256 bytes", ErrInvalid)
		}
		if len(a.AccessToken) > 4096 || !utf8.ValidString(a.AccessToken) {
			return fmt.Errorf("%w: access_token (the SMTP password) longer than 4096 bytes", ErrInvalid)
		}
		return nil
	}
	if a.Channel == ChannelWebChat && a.Widget == nil {
		return fmt.Errorf("%w: a web chat widget needs its settings", ErrInvalid)
	}
	if a.Channel != ChannelWebChat && a.Widget != nil {
		return fmt.Errorf("%w: widget settings are for webchat accounts only", ErrInvalid)
	}
	switch {
	case a.Channel != ChannelWhatsApp && a.Channel != ChannelMessenger && a.Channel != ChannelInstagram && a.Channel != ChannelAPI && a.Channel != ChannelWebChat:
		return fmt.Errorf("%w: channel must be whatsapp, messenger, instagram or api", ErrInvalid)
	case a.AccountID == "" || len(a.AccountID) > 128 || strings.ContainsAny(a.AccountID, "/?#\x00 ") || !utf8.ValidString(a.AccountID):
		return fmt.Errorf("%w: account_id must be 1 to 128 characters with no spaces or slashes", ErrInvalid)
	case a.AccessToken == "" || len(a.AccessToken) > 4096 || !utf8.ValidString(a.AccessToken):
		return fmt.Errorf("%w: access_token is required", ErrInvalid)
	case len(a.Name) > 256 || !utf8.ValidString(a.Name):
		return fmt.Errorf("%w: name longer than 256 bytes", ErrInvalid)
	case len(a.AppSecret) > 256 || !utf8.ValidString(a.AppSecret):
		return fmt.Errorf("%w: app_secret longer than 256 bytes", ErrInvalid)
	case a.WABAID != "" && a.Channel != ChannelWhatsApp:
		return fmt.Errorf("%w: waba_id is for whatsapp accounts only", ErrInvalid)
	case len(a.WABAID) > 128 || strings.ContainsAny(a.WABAID, "/?#\x00 ") || !utf8.ValidString(a.WABAID):
		return fmt.Errorf("%w: waba_id must be at most 128 characters with no spaces or slashes", ErrInvalid)
	case a.MessagingTier != "" && a.Channel != ChannelWhatsApp:
		return fmt.Errorf("%w: messaging_tier is for whatsapp accounts only", ErrInvalid)
	case !validTier(a.MessagingTier):
		return fmt.Errorf("%w: messaging_tier must be TIER_250, TIER_1K, TIER_10K, TIER_100K or TIER_UNLIMITED", ErrInvalid)
	case a.Channel == ChannelAPI:
		return validateAPIAccount(a)
	case a.WebhookURL != "":
		return fmt.Errorf("%w: webhook_url is for api channel accounts only", ErrInvalid)
	}
	return nil
}

// validateAPIAccount checks what an API channel account needs besides the
// common fields: a signing secret and an absolute http(s) webhook URL.
func validateAPIAccount(a *ChannelAccount) error {
	if a.AppSecret == "" {
		return fmt.Errorf("%w: an api channel account needs a signing secret", ErrInvalid)
	}
	u, err := url.Parse(a.WebhookURL)
	switch {
	case a.WebhookURL == "" || len(a.WebhookURL) > 2048 || err != nil:
		return fmt.Errorf("%w: webhook_url must be an http or https URL of at most 2048 bytes", ErrInvalid)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "":
		return fmt.Errorf("%w: webhook_url must be an absolute http or https URL, with no user info or fragment", ErrInvalid)
	}
	return nil
}
