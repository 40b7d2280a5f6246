package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/payments"
)

// Attribution and paid access in the web app, at a phone's and a
// desktop's width, with axe-core on each screen: the inbox's Campaign
// filter (its choices from GET /api/v1/campaigns) keeps the conversation
// an ad brought, as the API does; the contact panel shows that
// conversation's campaign, the contact's first touch and its paid
// access from a Stripe checkout, and the contact's page the last two; Settings › AI agent restricts the agent
// to paying subscribers and sets the Stripe signing secret, which then
// verifies Stripe's deliveries.
func TestWebAttribution(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	code, body := e.webhook(engine.ChannelWhatsApp, waFromAd("wamid.web.ad.1", "15558880101", "120208000000000001", "is the sale on?"))
	require.Equal(t, http.StatusOK, code, string(body))
	fromAd := e.thread(engine.ChannelWhatsApp, phoneID, "15558880101")
	plain := e.writes(t, "15558880102", "Plain Writer", "hello")
	contact := e.conv(fromAd).ContactID
	eventually(t, 5*time.Second, func() error { // the first touch, after the commit
		if e.contactDetail(contact).Campaign == nil {
			return fmt.Errorf("no first touch yet")
		}
		return nil
	})

	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "attribution", func(t *testing.T, i int, screen string) {
		b.goTo(e.url, "/")
		b.waitJS("both rows", fmt.Sprintf(`%s && %s`, rowVisible(fromAd), rowVisible(plain)))
		b.setSelect("Campaign", "120208000000000001")
		b.waitJS("the ad's conversation alone", fmt.Sprintf(`(() => { const r = [...document.querySelectorAll('#conv-list li.conv')]; return r.length === 1 && r[0].dataset.id === %q })()`, fromAd))
		require.Equal(t, []engine.ID{fromAd}, ids(e.list("campaign=120208000000000001")), "as the API filters")
		require.Equal(t, "120208000000000001 (1)", evalJS[string](b, `(() => { const s = document.querySelector('#filters select[aria-label=Campaign]'); return s.options[s.selectedIndex].textContent })()`))
		b.noOverflow(int(widths[i].w))
		axeCheck(t, b, "inbox-campaign-"+screen)
		b.setSelect("Campaign", "")
		b.waitJS("both rows again", `document.querySelectorAll('#conv-list li.conv').length === 2`)

		// A Stripe checkout for the contact (its id as client_reference_id).
		checkout := fmt.Appendf(nil, `{"id":"evt_web_%d","object":"event","created":%d,"type":"checkout.session.completed","data":{"object":{"object":"checkout.session","customer":"cus_web","client_reference_id":%q,"payment_status":"paid","subscription":"sub_web"}}}`,
			i, time.Now().Unix(), contact)
		if i == 0 {
			code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"stripe_webhook_secret": "whsec_first"})
			require.Equal(t, http.StatusOK, code, string(body))
			code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, "whsec_first", time.Now()))
			require.Equal(t, http.StatusOK, code, string(body))
			require.Equal(t, contact.String(), decodeAs[stripeAnswer](t, body).ContactID)
		}

		b.openConv(fromAd)
		b.clickJS("the contact panel", "#act-contact")
		b.waitJS("the attribution", `!document.querySelector('#contact-pane').hidden && document.querySelector('#contact-pane .first-touch') && document.querySelector('#contact-pane .paid-access')`)
		require.Equal(t, "120208000000000001", evalJS[string](b, `document.querySelector('#contact-pane .conv-campaign').dataset.campaign`))
		require.Equal(t, "Spring sale · ad · 120208000000000001", evalJS[string](b, `document.querySelector('#contact-pane .conv-campaign div').textContent`))
		require.Equal(t, "120208000000000001", evalJS[string](b, `document.querySelector('#contact-pane .first-touch').dataset.campaign`))
		require.Equal(t, "true", evalJS[string](b, `document.querySelector('#contact-pane .paid-access').dataset.active`))
		require.Contains(t, evalJS[string](b, `document.querySelector('#contact-pane .paid-access').textContent`), "Paying subscriber")
		b.noOverflow(int(widths[i].w))
		axeCheck(t, b, "inbox-contact-attribution-"+screen)
		b.screenshot("attribution-contact-" + screen)
		b.clickJS("close the panel", `#contact-pane button[aria-label="Close"]`)

		// The contact's page shows its first touch and paid access too.
		b.goTo(e.url, "/#contacts/"+contact.String())
		b.waitJS("the attribution card", `document.querySelector('#ct-attribution .first-touch') && document.querySelector('#ct-attribution .paid-access')`)
		require.Equal(t, "120208000000000001", evalJS[string](b, `document.querySelector('#ct-attribution .first-touch').dataset.campaign`))
		require.False(t, evalJS[bool](b, `!!document.querySelector('#ct-attribution .conv-campaign')`), "no conversation's campaign on the contact's page")
		require.Equal(t, "true", evalJS[string](b, `document.querySelector('#ct-attribution .paid-access').dataset.active`))
		b.noOverflow(int(widths[i].w))
		axeCheck(t, b, "contact-page-attribution-"+screen)

		// Settings › AI agent: paying subscribers only, a new secret.
		secret := fmt.Sprintf("whsec_from_the_ui_%d", i)
		b.goTo(e.url, "/#settings/ai")
		b.waitJS("the paid access group", `document.querySelector('#ai-form') && document.querySelector('#ai-stripe-url')`)
		require.Equal(t, e.url+"/webhooks/stripe/"+e.ws.String(), evalJS[string](b, `document.querySelector('#ai-stripe-url').value`))
		require.Equal(t, "set", evalJS[string](b, `document.querySelector('#ai-stripe-secret-state').textContent`))
		b.choose("#ai-restricted-to", "paid")
		evalJS[bool](b, `(document.querySelector('#ai-restricted').checked = true, true)`)
		b.setValue("#ai-restricted-reply", "Subscribe first")
		b.setValue("#ai-stripe-secret", secret)
		b.noOverflow(int(widths[i].w))
		axeCheck(t, b, "settings-ai-paid-"+screen)
		b.screenshot("attribution-settings-" + screen)
		b.clickJS("save", "#ai-save")
		b.waitJS("saved", `document.querySelector('#ai-status').textContent === 'Saved' && document.querySelector('#ai-stripe-secret').value === ''`)
		code, body := e.api("GET", "/api/v1/agent", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var a map[string]any
		require.NoError(t, json.Unmarshal(body, &a))
		require.Equal(t, "paid", a["restricted_to"])
		require.Equal(t, true, a["restricted"])
		require.Equal(t, "Subscribe first", a["restricted_reply"])
		require.Equal(t, true, a["stripe_webhook_secret_set"])
		require.NotContains(t, string(body), secret)
		// The secret typed is the one Stripe's deliveries are checked with.
		code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, secret, time.Now()))
		require.Equal(t, http.StatusOK, code, string(body))
		code, _ = e.stripe(e.ws, checkout, payments.SignStripe(checkout, "whsec_first", time.Now()))
		require.Equal(t, http.StatusBadRequest, code, "the old secret is replaced")
		b.goTo(e.url, "/#c/"+fromAd.String())
		b.waitChat()
	})
}
