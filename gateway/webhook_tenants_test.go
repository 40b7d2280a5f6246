package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// waTextTo is waText addressed to the WhatsApp number phone.
func waTextTo(phone, wamid, wa, text string) string {
	return strings.Replace(waText(wamid, wa, "Tenant", text), `"phone_number_id":"`+phoneID+`"`, `"phone_number_id":"`+phone+`"`, 1)
}

// waTwoEntries joins the entries of two WhatsApp deliveries into one.
func waTwoEntries(a, b string) string {
	entries := func(p string) string {
		i := strings.Index(p, `"entry":[`) + len(`"entry":[`)
		return p[i : len(p)-2]
	}
	return `{"object":"whatsapp_business_account","entry":[` + entries(a) + `,` + entries(b) + `]}`
}

// A webhook signed with one account's app secret writes only into that
// account: addressed to another tenant's account (alone or alongside its
// own) it is 401 and stores nothing; the server-wide secret signs for all.
func TestWebhookSignedForEachAddressedAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const tokenB = "pk_test_tenant_b"
	wsB := e.newWorkspace(tokenB)
	const phoneA, phoneB, secretA, secretB = "PHONE_A", "PHONE_B", "secret-of-a", "secret-of-b"
	for _, a := range []struct{ token, phone, secret string }{{ownerToken, phoneA, secretA}, {tokenB, phoneB, secretB}} {
		code, body := e.api("POST", "/api/v1/channels", a.token, map[string]any{
			"channel": "whatsapp", "account_id": a.phone, "access_token": "tok", "app_secret": a.secret})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	count := func(ws engine.ID) int {
		n, err := e.store.CountConversations(ws)
		require.NoError(t, err)
		return n
	}
	sign := func(p, secret string) string { return meta.Sign([]byte(p), []byte(secret)) }

	toB := waTextTo(phoneB, "wamid.t.1", "1555001", "forged into B")
	both := waTwoEntries(waTextTo(phoneA, "wamid.t.2", "1555002", "to A"), waTextTo(phoneB, "wamid.t.3", "1555003", "to B"))
	for name, c := range map[string]struct{ payload, sig string }{
		"A's secret, B's account":  {toB, sign(toB, secretA)},
		"A's secret, both":         {both, sign(both, secretA)},
		"B's secret, both":         {both, sign(both, secretB)},
		"A's secret on B's number": {waTextTo(phoneB, "wamid.t.4", "1555004", "x"), sign(waTextTo(phoneB, "wamid.t.4", "1555004", "x"), secretA)},
	} {
		code, body := e.webhookSigned(engine.ChannelWhatsApp, c.payload, c.sig)
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, body)
		require.Equal(t, "bad_signature", errorCode(t, body), name)
	}
	require.Zero(t, count(e.ws), "nothing stored in A")
	require.Zero(t, count(wsB), "nothing stored in B")

	// Each tenant's own secret is accepted for its own account.
	code, body := e.webhookSigned(engine.ChannelWhatsApp, toB, sign(toB, secretB))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 1, count(wsB))
	toA := waTextTo(phoneA, "wamid.t.5", "1555005", "to A")
	code, body = e.webhookSigned(engine.ChannelWhatsApp, toA, sign(toA, secretA))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 1, count(e.ws))
	// The server-wide secret signs for every account at once.
	code, body = e.webhookSigned(engine.ChannelWhatsApp, both, sign(both, appSecret))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 2, count(e.ws))
	require.Equal(t, 2, count(wsB))
	// The same holds for a Messenger page and an Instagram account.
	inB := count(wsB)
	for _, c := range []struct{ ch, object, id string }{{"messenger", "page", "PAGE_B"}, {"instagram", "instagram", "IG_B"}} {
		code, body := e.api("POST", "/api/v1/channels", tokenB, map[string]any{
			"channel": c.ch, "account_id": c.id, "access_token": "tok", "app_secret": secretB})
		require.Equal(t, http.StatusCreated, code, string(body))
		p := fmt.Sprintf(`{"object":%q,"entry":[{"id":%q,"time":1750000000000,"messaging":[{"sender":{"id":"USER_1"},"recipient":{"id":%q},"timestamp":1750000000000,"message":{"mid":"mid_%s","text":"hi"}}]}]}`,
			c.object, c.id, c.id, c.ch)
		code, body = e.webhookSigned(engine.Channel(c.ch), p, sign(p, secretA))
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", c.ch, body)
		require.Equal(t, inB, count(wsB), "%s: nothing stored", c.ch)
		code, body = e.webhookSigned(engine.Channel(c.ch), p, sign(p, secretB))
		require.Equal(t, http.StatusOK, code, "%s: %s", c.ch, body)
		inB++
		require.Equal(t, inB, count(wsB), c.ch)
	}
	// An account with no secret of its own takes only the server's: a
	// delivery to it signed with another account's secret is refused.
	noSecret := waTextTo(phoneID, "wamid.t.6", "1555006", "x")
	code, body = e.webhookSigned(engine.ChannelWhatsApp, noSecret, sign(noSecret, secretA))
	require.Equal(t, http.StatusUnauthorized, code, string(body))
	require.Equal(t, 2, count(e.ws))
}
