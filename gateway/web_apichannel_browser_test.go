package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/stretchr/testify/require"
)

// Settings › Channels connects an API channel account at 1440 and 390 px:
// the form asks for a webhook URL instead of Meta's fields, the answer
// shows the inbound URL, inbound token and webhook secret, copyable; the
// token shown lets an integrator post a message and the secret verifies
// the reply delivered to its webhook; Edit rotates the token (the new one
// shown, the old one refused). axe-core finds nothing serious on either
// screen.
func TestWebAPIChannelSettings(t *testing.T) {
	browser := startBrowser(t)
	for _, w := range []struct {
		name   string
		width  int64
		height int64
		phone  bool
	}{{"desktop", 1440, 900, false}, {"phone", 390, 844, true}} {
		t.Run(w.name, func(t *testing.T) {
			e := newAPIEnv(t, nil, nil, 0)
			hook := newIntegrator(t)
			b := newTab(t, browser)
			b.viewport(w.width, w.height, w.phone)
			b.signIn(e.url, ownerToken)
			step := func(name string, f func(t *testing.T)) {
				t.Helper()
				if !t.Run(name, f) {
					t.FailNow()
				}
			}
			copied := func(name string) string {
				return evalJS[string](b, fmt.Sprintf(`document.querySelector('#api-secrets input[data-copy=%q]').value`, name))
			}
			var acct apiAccount

			step("connect an API channel account", func(t *testing.T) {
				b.t = t
				b.do("Settings → Channels", chromedpNavigateHash("#settings/channels"))
				b.waitJS("the connect form", `!!document.querySelector('#connect-form #connect-channel')`)
				require.True(t, evalJS[bool](b, `document.querySelector('#connect-webhook').closest('label').hidden`), "no webhook field for Meta channels")
				b.choose("#connect-channel", "api")
				b.waitJS("the webhook field", `!document.querySelector('#connect-webhook').closest('label').hidden && document.querySelector('#connect-account').closest('label').hidden && document.querySelector('#connect-token').closest('label').hidden`)
				b.fill("#connect-name", "LinkedIn bridge")
				b.fill("#connect-webhook", hook.srv.URL+"/parley")
				b.clickJS("connect", "#connect-submit")
				b.waitJS("the integration details", `!!document.querySelector('#api-secrets .api-secrets input[data-copy=api-webhook-secret]')`)
				b.waitJS("the account's row", `!!document.querySelector('#channel-accounts tr.account[data-channel=api]')`)
				acct.AccountID = evalJS[string](b, `document.querySelector('#channel-accounts tr.account[data-channel=api]').dataset.account`)
				acct.InboundURL, acct.InboundToken, acct.WebhookSecret = copied("api-inbound-url"), copied("api-inbound-token"), copied("api-webhook-secret")
				require.Equal(t, e.url+"/api/v1/api-channel/"+acct.AccountID, acct.InboundURL)
				require.Regexp(t, `^pin_[0-9a-f]{48}$`, acct.InboundToken)
				require.Regexp(t, `^whsec_[0-9a-f]{48}$`, acct.WebhookSecret)
				for _, label := range []string{"Inbound URL", "Inbound token", "Webhook secret"} {
					require.True(t, evalJS[bool](b, `!!document.querySelector('#api-secrets button.copy-btn[aria-label="Copy `+label+`"]')`), label)
				}
				stored, ok := e.apiAccountStored(acct.AccountID)
				require.True(t, ok)
				require.Equal(t, hook.srv.URL+"/parley", stored.WebhookURL)
				require.Equal(t, "LinkedIn bridge", stored.Name)
				b.noOverflow(int(w.width))
				axeCheck(t, b, "settings-api-channel-"+w.name)
				b.screenshot("settings-api-channel-" + w.name)
			})

			step("the secrets shown work", func(t *testing.T) {
				b.t = t
				e.apiInbound(acct, map[string]any{"source_id": "ui-1", "text": "hello from LinkedIn", "contact": map[string]any{"external_id": "urn:li:person:1"}})
				conv := e.thread(engine.ChannelAPI, acct.AccountID, "urn:li:person:1")
				code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "hi"})
				require.Equal(t, http.StatusCreated, code, string(body))
				eventually(t, 10*time.Second, func() error {
					if len(hook.deliveries()) != 1 {
						return errors.New("no delivery yet")
					}
					return nil
				})
				d := hook.deliveries()[0]
				require.True(t, apichannel.Verify([]byte(acct.WebhookSecret), d.Header.Get(apichannel.TimestampHeader), d.Body, d.Header.Get(apichannel.SignatureHeader)))
			})

			step("Edit rotates the inbound token", func(t *testing.T) {
				b.t = t
				b.clickJS("done", "#api-secrets-done")
				b.waitJS("the details closed", `!document.querySelector('#api-secrets .api-secrets')`)
				b.clickJS("edit", `#channel-accounts tr.account[data-channel=api] button[data-act=edit]`)
				b.waitJS("the edit dialog", `!document.querySelector('#modal').hidden && document.querySelector('#edit-webhook')?.value === `+jsString(hook.srv.URL+"/parley"))
				require.Equal(t, acct.InboundURL, evalJS[string](b, `document.querySelector('#modal input[data-copy=edit-inbound-url]').value`))
				b.noOverflow(int(w.width))
				axeCheck(t, b, "settings-api-channel-edit-"+w.name)
				b.clickJS("rotate the token", "#edit-rotate-token")
				b.clickJS("save", "#modal-ok")
				b.waitJS("the new token", `!!document.querySelector('#api-secrets input[data-copy=api-inbound-token]')`)
				require.False(t, evalJS[bool](b, `!!document.querySelector('#api-secrets input[data-copy=api-webhook-secret]')`), "only the rotated secret is shown")
				fresh := copied("api-inbound-token")
				require.NotEqual(t, acct.InboundToken, fresh)
				msg := map[string]any{"source_id": "ui-2", "text": "again", "contact": map[string]any{"external_id": "urn:li:person:1"}}
				code, body := e.apiChannel(acct, "messages", acct.InboundToken, msg)
				require.Equal(t, http.StatusUnauthorized, code, string(body))
				code, body = e.apiChannel(acct, "messages", fresh, msg)
				require.Equal(t, http.StatusCreated, code, string(body))
			})
		})
	}
}

// apiAccountStored reads an API channel account from the store.
func (e *env) apiAccountStored(id string) (engine.ChannelAccount, bool) {
	e.t.Helper()
	all, err := e.store.ChannelAccounts()
	require.NoError(e.t, err)
	for _, a := range all {
		if a.Channel == engine.ChannelAPI && a.AccountID == id {
			return a, true
		}
	}
	return engine.ChannelAccount{}, false
}
