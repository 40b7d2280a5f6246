package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Channel health in the web app (issue 16, the channel issue's "Channel
// health"), at 1440 and 390 px: the inbox's banner for owners and admins
// when an account is expired or in error (a link to Settings → Channels,
// dismissed until another problem comes, none for agents), the badges of
// Settings → Channels with their reasons, "Check now" checked through the
// API, a badge that follows a periodic check live; and the AI agent form
// the AI agent screen and an account's override share, each saved and
// checked through the API.
func TestWebChannelHealth(t *testing.T) {
	browser := startBrowser(t)
	for _, w := range []struct {
		name   string
		width  int64
		height int64
		phone  bool
	}{{"desktop", 1440, 900, false}, {"phone", 390, 844, true}} {
		t.Run(w.name, func(t *testing.T) {
			const interval = 10 * time.Minute
			e, clock, _, answers := healthEnv(t, interval)
			e.waitHealth(engine.ChannelInstagram, igID, engine.HealthConnected)
			// The WhatsApp number's token expires: the next check says so.
			answers.set(phoneID, http.StatusBadRequest, graphTokenExpired)
			code, body := e.api("POST", "/api/v1/channels/whatsapp/"+phoneID+"/check", ownerToken, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			agent := e.addUser("agent@example.com", engine.RoleAgent, "agent password 1")

			b := newTab(t, browser)
			b.viewport(w.width, w.height, w.phone)
			b.signIn(e.url, ownerToken)
			step := func(name string, f func(t *testing.T)) {
				t.Helper()
				if !t.Run(name, f) {
					t.FailNow()
				}
			}
			row := func(ch, id string) string {
				return fmt.Sprintf(`#channel-accounts tr.account[data-channel=%q][data-account=%q]`, ch, id)
			}
			badge := func(ch, id string) string {
				return fmt.Sprintf(`document.querySelector('%s .health-badge')`, row(ch, id))
			}

			step("the inbox's banner names the expired account", func(t *testing.T) {
				b.t = t
				b.waitJS("the banner", `document.querySelector('#health-banner')?.textContent.includes('WhatsApp whatsapp test: access token expired')`)
				require.True(t, evalJS[bool](b, `document.querySelector('#health-banner').getAttribute('aria-label') === 'Channel health' && !!document.querySelector('#health-banner button[aria-label="Dismiss the channel health warning"]')`))
				b.noOverflow(int(w.width))
				b.screenshot("health-banner-" + w.name)
				b.clickJS("the banner's link", `#health-banner a.health-banner-link`)
				b.waitJS("Settings → Channels", `location.hash === '#settings/channels' && document.querySelectorAll('#channel-accounts tr.account').length === 3`)
			})

			step("badges with their reasons", func(t *testing.T) {
				b.t = t
				b.waitJS("expired", badge("whatsapp", phoneID)+`?.dataset.state === 'expired'`)
				require.Equal(t, "Expired", evalJS[string](b, badge("whatsapp", phoneID)+`.textContent`))
				require.True(t, evalJS[bool](b, `!!document.querySelector('`+row("whatsapp", phoneID)+` .health-reconnect[aria-label^="Reconnect"]')`))
				reason := evalJS[string](b, `document.querySelector('`+row("whatsapp", phoneID)+` .health-reason').textContent`)
				require.Contains(t, reason, "Access token expired or invalid")
				require.Contains(t, reason, "(190)")
				require.Equal(t, "connected", evalJS[string](b, badge("messenger", pageID)+`.dataset.state`))
				require.Equal(t, "Connected", evalJS[string](b, badge("messenger", pageID)+`.textContent`))
				b.noOverflow(int(w.width))
				b.screenshot("health-settings-" + w.name)
				// reconnect opens the account's edit dialog for a new token.
				b.clickJS("reconnect", row("whatsapp", phoneID)+` .health-reconnect`)
				b.waitJS("the edit dialog", `!document.querySelector('#modal').hidden && document.querySelector('#edit-token')`)
				b.clickJS("cancel", "#modal-cancel")
			})

			step("Check now", func(t *testing.T) {
				b.t = t
				answers.set(igID, http.StatusServiceUnavailable, `<html>Service Unavailable</html>`)
				calls := answers.calls(igID)
				b.clickJS("check now", row("instagram", igID)+` button[data-act=check][aria-label="Check now instagram test"]`)
				b.waitJS("unreachable", badge("instagram", igID)+`?.dataset.state === 'unreachable'`)
				require.Equal(t, calls+1, answers.calls(igID), "one check")
				require.Contains(t, evalJS[string](b, `document.querySelector('`+row("instagram", igID)+` .health-reason').textContent`), "Meta answered HTTP 503")
				require.Equal(t, engine.HealthUnreachable, e.healthOf(engine.ChannelInstagram, igID).State)
				all, err := e.store.ChannelHealths()
				require.NoError(t, err)
				stored := map[string]engine.HealthState{}
				for _, h := range all {
					stored[h.AccountID] = h.State
				}
				require.Equal(t, map[string]engine.HealthState{phoneID: engine.HealthExpired, pageID: engine.HealthConnected, igID: engine.HealthUnreachable}, stored)
			})

			step("a periodic check moves a badge live", func(t *testing.T) {
				b.t = t
				answers.set(pageID, http.StatusForbidden, `{"error":{"message":"(#200) Requires pages_messaging permission","type":"OAuthException","code":200,"fbtrace_id":"AbC"}}`)
				answers.set(igID, http.StatusOK, `{"id":"`+igID+`","username":"shop"}`)
				clock.Advance(interval)
				b.waitJS("messenger in error", badge("messenger", pageID)+`?.dataset.state === 'error'`)
				b.waitJS("instagram connected", badge("instagram", igID)+`?.dataset.state === 'connected'`)
				require.Contains(t, evalJS[string](b, `document.querySelector('`+row("messenger", pageID)+` .health-reason').textContent`), "Requires pages_messaging permission")
			})

			step("the banner, dismissed until another problem", func(t *testing.T) {
				b.t = t
				b.do("back to the inbox", chromedpNavigateHash(""))
				b.waitJS("the banner names both", `document.querySelector('#health-banner')?.textContent.includes('2 channel accounts need attention') && document.querySelector('#health-banner').textContent.includes('Messenger messenger test: error')`)
				b.clickJS("dismiss", `#health-banner .health-dismiss`)
				b.waitJS("gone", `!document.querySelector('#health-banner')`)
				b.signIn(e.url, ownerToken) // a reload
				require.False(t, evalJS[bool](b, `!!document.querySelector('#health-banner')`), "still dismissed after a reload")
				// Instagram's token expires too: a new problem shows again, live.
				answers.set(igID, http.StatusUnauthorized, graphTokenExpired)
				code, body := e.api("POST", "/api/v1/channels/instagram/"+igID+"/check", ownerToken, nil)
				require.Equal(t, http.StatusOK, code, string(body))
				b.waitJS("the banner again", `document.querySelector('#health-banner')?.textContent.includes('3 channel accounts need attention')`)
			})

			step("the shared agent form saves an account's override and runs its console", func(t *testing.T) {
				b.t = t
				b.do("Settings → Channels", chromedpNavigateHash("#settings/channels"))
				b.clickJS("AI agent", row("messenger", pageID)+` button[data-act=agent]`)
				b.waitJS("the override form", `document.querySelector('#agent-inherit')?.checked && document.querySelector('#agent-form .ai-settings').hidden && document.querySelector('#agent-run')`)
				b.clickJS("its own agent", "#agent-own")
				b.waitJS("the fields", `!document.querySelector('#agent-form .ai-settings').hidden`)
				b.clickJS("rules", "#agent-kind-rules")
				b.fill("#agent-greeting", "Hello from the page")
				b.fill("#agent-handoff-keywords", "manager")
				b.clickJS("run the test", "#agent-run")
				b.waitJS("the override's greeting", `document.querySelector('#agent-reply')?.textContent === 'Hello from the page'`)
				b.noOverflow(int(w.width))
				b.screenshot("health-agent-override-" + w.name)
				b.clickJS("save", "#agent-save")
				b.waitJS("the form closed", `!document.querySelector('.agent-row')`)
				code, body := e.api("GET", "/api/v1/channels/messenger/"+pageID+"/agent", ownerToken, nil)
				require.Equal(t, http.StatusOK, code, string(body))
				var v struct {
					Inherited       bool     `json:"inherited"`
					Kind            string   `json:"kind"`
					Greeting        string   `json:"greeting"`
					HandoffKeywords []string `json:"handoff_keywords"`
				}
				require.NoError(t, json.Unmarshal(body, &v))
				require.False(t, v.Inherited)
				require.Equal(t, "rules", v.Kind)
				require.Equal(t, "Hello from the page", v.Greeting)
				require.Equal(t, []string{"manager"}, v.HandoffKeywords)
			})

			step("the same form saves the workspace agent", func(t *testing.T) {
				b.t = t
				b.do("Settings → AI agent", chromedpNavigateHash("#settings/ai"))
				b.waitJS("the AI form", `document.querySelector('#ai-form #ai-greeting')`)
				b.clickJS("rules", "#ai-kind-rules")
				b.fill("#ai-greeting", "Welcome to the workspace")
				b.clickJS("save", "#ai-save")
				b.waitJS("saved", `document.querySelector('#ai-status').textContent === 'Saved'`)
				code, body := e.api("GET", "/api/v1/agent", ownerToken, nil)
				require.Equal(t, http.StatusOK, code, string(body))
				require.Contains(t, string(body), `"greeting":"Welcome to the workspace"`)
				code, body = e.api("GET", "/api/v1/channels/messenger/"+pageID+"/agent", ownerToken, nil)
				require.Equal(t, http.StatusOK, code, string(body))
				require.Contains(t, string(body), `"greeting":"Hello from the page"`, "the override is the account's own")
			})
			step("a disconnected account leaves the banner", func(t *testing.T) {
				b.t = t
				b.do("Settings → Channels", chromedpNavigateHash("#settings/channels"))
				b.clickJS("disconnect", row("instagram", igID)+` button[data-act=disconnect]`)
				b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
				b.clickJS("confirm", "#modal-ok")
				b.waitJS("its row gone", `document.querySelectorAll('#channel-accounts tr.account').length === 2`)
				b.do("back to the inbox", chromedpNavigateHash(""))
				// What is left are the two problems dismissed before.
				b.waitJS("the banner gone with it", `document.body.dataset.ready === 'true' && !document.querySelector('#health-banner')`)
				time.Sleep(200 * time.Millisecond)
				require.False(t, evalJS[bool](b, `!!document.querySelector('#health-banner')`))
			})

			step("agents see no banner and no Check now (last: the tabs share the token)", func(t *testing.T) {
				b.t = t
				p := newTab(t, browser)
				p.viewport(w.width, w.height, w.phone)
				p.signIn(e.url, agent.Token)
				time.Sleep(300 * time.Millisecond) // the accounts are loaded after the rows
				require.False(t, evalJS[bool](p, `!!document.querySelector('#health-banner')`))
				p.do("open Settings → Channels", chromedpNavigateHash("#settings/channels"))
				p.waitJS("settings", `!document.querySelector('#settings').hidden`)
				require.False(t, evalJS[bool](p, `!!document.querySelector('#channel-accounts, button[data-act=check]')`))
			})

		})
	}
}

// chromedpNavigateHash sets the address's hash, as a link would.
func chromedpNavigateHash(hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`location.hash = ` + jsString(hash))
}
