package gateway_test

import (
	"net/http"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/stretchr/testify/require"
)

// GET /api/v1/settings/webhooks tells an admin what to paste into the Meta
// app: the callback URL of each channel and the verify token; an agent is
// refused.
func TestWebhookSettings(t *testing.T) {
	e := newEnv(t, nil)
	type view struct {
		PublicURL    string `json:"public_url"`
		VerifyToken  string `json:"verify_token"`
		AppSecretSet bool   `json:"app_secret_set"`
		Webhooks     []struct {
			Channel engine.Channel `json:"channel"`
			URL     string         `json:"url"`
		} `json:"webhooks"`
	}
	st, body := e.api("GET", "/api/v1/settings/webhooks", ownerToken, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	v := decodeAs[view](t, body)
	require.Equal(t, e.url, v.PublicURL)
	require.Equal(t, verifyToken, v.VerifyToken)
	require.True(t, v.AppSecretSet)
	require.Len(t, v.Webhooks, 3)
	for i, ch := range []engine.Channel{engine.ChannelWhatsApp, engine.ChannelMessenger, engine.ChannelInstagram} {
		require.Equal(t, ch, v.Webhooks[i].Channel)
		require.Equal(t, e.url+"/webhooks/"+string(ch), v.Webhooks[i].URL)
	}
	// The URL it gives answers Meta's handshake with the token it gives.
	res, err := http.Get(v.Webhooks[0].URL + "?hub.mode=subscribe&hub.challenge=42&hub.verify_token=" + v.VerifyToken)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	st, body = e.api("GET", "/api/v1/settings/webhooks", agent.Token, nil)
	require.Equal(t, http.StatusForbidden, st, string(body))
	st, _ = e.api("GET", "/api/v1/settings/webhooks", "", nil)
	require.Equal(t, http.StatusUnauthorized, st)
}

// Without a public URL the callback URLs are those of the address the
// request came to; without a verify token or app secret it says so.
func TestWebhookSettingsUnset(t *testing.T) {
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.VerifyToken, c.AppSecret = "", "" })
	e.media.SetPublicURL("")
	st, body := e.api("GET", "/api/v1/settings/webhooks", ownerToken, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	v := decodeAs[map[string]any](t, body)
	require.Equal(t, "", v["public_url"])
	require.Equal(t, "", v["verify_token"])
	require.Equal(t, false, v["app_secret_set"])
	require.Equal(t, e.url+"/webhooks/instagram", v["webhooks"].([]any)[2].(map[string]any)["url"])
}
