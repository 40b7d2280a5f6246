package gateway

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
)

// webhookChannels are the channels whose webhooks Meta delivers, in the
// order the settings screen lists them.
var webhookChannels = []engine.Channel{engine.ChannelWhatsApp, engine.ChannelMessenger, engine.ChannelInstagram}

// webhookURL is the callback URL of one channel's webhooks.
type webhookURL struct {
	Channel engine.Channel `json:"channel"`
	URL     string         `json:"url"`
}

// webhookSettingsView is what an admin pastes into the Meta app's webhook
// settings.
type webhookSettingsView struct {
	// PublicURL is the server's -public-url, "" when none is set (the
	// URLs are then built from the address the request came to).
	PublicURL string       `json:"public_url"`
	Webhooks  []webhookURL `json:"webhooks"`
	// VerifyToken is -meta-verify-token, "" when none is set.
	VerifyToken string `json:"verify_token"`
	// AppSecretSet says whether -meta-app-secret is set (never shown).
	AppSecretSet bool `json:"app_secret_set"`
}

// webhookSettings answers GET /api/v1/settings/webhooks (admin).
func (s *Server) webhookSettings(c *fiber.Ctx) error {
	public := s.media.PublicURL()
	base := public
	if base == "" {
		base = c.BaseURL()
	}
	base = strings.TrimRight(base, "/")
	v := webhookSettingsView{PublicURL: public, VerifyToken: s.cfg.VerifyToken, AppSecretSet: s.cfg.AppSecret != ""}
	for _, ch := range webhookChannels {
		v.Webhooks = append(v.Webhooks, webhookURL{Channel: ch, URL: base + "/webhooks/" + string(ch)})
	}
	return c.JSON(v)
}
