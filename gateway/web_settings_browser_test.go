package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// The Settings view (issue 16): the frame with its nav and #settings/...
// routes, Channels (connect, edit, agent override, disconnect, the
// webhook URLs and verify token) and Team (role, remove, invitation link
// accepted in a second browser, personal API tokens), each checked
// through the API; an agent is offered none of the admin actions; desktop
// and phone widths.

// fill types value into the input selector names, emptied first.
func (b *tab) fill(selector, value string) {
	b.t.Helper()
	b.waitJS("the field "+selector, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false; el.value = ''; el.focus(); return true; })()`, selector))
	b.do("type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), value))
}

// choose picks value in the select selector names, as a user would.
func (b *tab) choose(selector, value string) {
	b.t.Helper()
	b.waitJS("the choice "+value+" in "+selector, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el || ![...el.options].some((o) => o.value === %q)) return false; el.value = %q; el.dispatchEvent(new Event('change', { bubbles: true })); return true; })()`, selector, value, value))
}

// noOverflow fails when the page is wider than the screen.
func (b *tab) noOverflow(width int) {
	b.t.Helper()
	w := evalJS[int](b, `document.documentElement.scrollWidth`)
	require.LessOrEqual(b.t, w, width, "the page scrolls sideways")
}

func TestWebSettings(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	e.agent("ana@example.com", "Ana Admin", "correct horse battery")
	bob := e.addUser("bob@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.viewport(1440, 900, false)
	b.signIn(e.url, ownerToken)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	account := func(ch engine.Channel, id string) (engine.ChannelAccount, bool) {
		all, err := e.store.ChannelAccounts()
		require.NoError(t, err)
		for _, a := range all {
			if a.Channel == ch && a.AccountID == id {
				return a, true
			}
		}
		return engine.ChannelAccount{}, false
	}
	rowSel := func(ch, id string) string {
		return fmt.Sprintf(`#channel-accounts tr.account[data-channel=%q][data-account=%q]`, ch, id)
	}

	step("the gear opens Settings on Channels", func(t *testing.T) {
		b.t = t
		b.waitJS("the gear", `document.querySelector('#open-settings[aria-label=Settings]').innerHTML.includes('<svg')`)
		b.clickJS("the gear", `#open-settings`)
		b.waitJS("the frame", `!document.querySelector('#settings').hidden && location.hash === '#settings/channels' && document.querySelector('#settings-main h2').textContent === 'Channels'`)
		b.waitJS("the connected accounts", fmt.Sprintf(`document.querySelectorAll('#channel-accounts tr.account').length === 3 && %s`, `document.querySelector('`+rowSel("whatsapp", phoneID)+`')`))
		require.True(t, evalJS[bool](b, `getComputedStyle(document.querySelector('.panes')).display === 'none'`), "the inbox is hidden")
	})

	step("webhook URLs and verify token, copyable", func(t *testing.T) {
		b.t = t
		for _, ch := range []string{"whatsapp", "messenger", "instagram"} {
			b.waitJS(ch+" callback URL", fmt.Sprintf(`document.querySelector('input[data-copy="webhook-%s"]').value === %s`, ch, jsString(e.url+"/webhooks/"+ch)))
		}
		b.waitJS("the verify token", `document.querySelector('input[data-copy="verify-token"]').value === `+jsString(verifyToken))
		b.do("let the page use the clipboard", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: e.url}); err != nil {
					return err
				}
			}
			return nil
		}))
		b.clickJS("copy the verify token", `button[aria-label="Copy Verify token"]`)
		b.waitJS("copied", `document.querySelector('button[aria-label="Copy Verify token"]').dataset.copied === 'true'`)
		require.Equal(t, verifyToken, evalJS[string](b, `navigator.clipboard.readText()`), "the clipboard holds the verify token")
		b.screenshot("settings-channels-desktop")
	})

	step("connect a Messenger page", func(t *testing.T) {
		b.t = t
		b.choose("#connect-channel", "messenger")
		b.waitJS("the field names a page", `document.querySelector('#connect-form').textContent.includes('Page ID')`)
		b.fill("#connect-account", "PAGE-NEW")
		b.fill("#connect-name", "New page")
		b.fill("#connect-token", "tok-new")
		b.clickJS("connect", "#connect-submit")
		b.waitJS("its row", `document.querySelector('`+rowSel("messenger", "PAGE-NEW")+`')`)
		a, ok := account(engine.ChannelMessenger, "PAGE-NEW")
		require.True(t, ok)
		require.Equal(t, "New page", a.Name)
		require.Equal(t, "tok-new", a.AccessToken)
		require.Equal(t, e.ws, a.WorkspaceID)
		// A bad connection shows the API's error and stores nothing.
		b.fill("#connect-account", phoneID)
		b.fill("#connect-token", "tok-dup")
		b.choose("#connect-channel", "whatsapp")
		b.clickJS("connect again", "#connect-submit")
		b.waitJS("the conflict", `document.querySelector('#connect-form .error').textContent.includes('already connected')`)
		a, _ = account(engine.ChannelWhatsApp, phoneID)
		require.Equal(t, "tok-"+phoneID, a.AccessToken)
	})

	step("edit its name and token", func(t *testing.T) {
		b.t = t
		b.clickJS("edit", rowSel("messenger", "PAGE-NEW")+` button[data-act=edit]`)
		b.waitJS("the edit dialog", `!document.querySelector('#modal').hidden && document.querySelector('#edit-name').value === 'New page'`)
		b.fill("#edit-name", "Renamed page")
		b.fill("#edit-token", "tok-2")
		b.clickJS("save", "#modal-ok")
		b.waitJS("the new name", `document.querySelector('`+rowSel("messenger", "PAGE-NEW")+` .account-name').textContent === 'Renamed page'`)
		a, _ := account(engine.ChannelMessenger, "PAGE-NEW")
		require.Equal(t, "Renamed page", a.Name)
		require.Equal(t, "tok-2", a.AccessToken)
	})

	agentOf := func(t *testing.T) map[string]any {
		code, body := e.api("GET", "/api/v1/channels/messenger/PAGE-NEW/agent", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		return v
	}
	step("the account's own agent, then the workspace's again", func(t *testing.T) {
		b.t = t
		b.clickJS("AI agent", rowSel("messenger", "PAGE-NEW")+` button[data-act=agent]`)
		b.waitJS("the agent form", `document.querySelector('#agent-inherit')?.checked`)
		b.clickJS("its own agent", "#agent-own")
		b.clickJS("the webhook kind", "#agent-kind-webhook")
		b.fill("#agent-webhook-url", "https://agent.example.com/hook")
		b.clickJS("save", "#agent-save")
		b.waitJS("the form closed", `!document.querySelector('.agent-row')`)
		v := agentOf(t)
		require.Equal(t, false, v["inherited"])
		require.Equal(t, "webhook", v["kind"])
		require.Equal(t, "https://agent.example.com/hook", v["webhook_url"])

		b.clickJS("AI agent again", rowSel("messenger", "PAGE-NEW")+` button[data-act=agent]`)
		b.waitJS("the override shown", `document.querySelector('#agent-own')?.checked && document.querySelector('#agent-webhook-url')?.value === 'https://agent.example.com/hook'`)
		b.clickJS("the workspace agent", "#agent-inherit")
		b.clickJS("save", "#agent-save")
		b.waitJS("the form closed", `!document.querySelector('.agent-row')`)
		require.Equal(t, true, agentOf(t)["inherited"])
	})

	step("disconnect, after a confirmation", func(t *testing.T) {
		b.t = t
		b.clickJS("disconnect", rowSel("messenger", "PAGE-NEW")+` button[data-act=disconnect]`)
		b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
		b.clickJS("cancel", "#modal-cancel")
		_, ok := account(engine.ChannelMessenger, "PAGE-NEW")
		require.True(t, ok, "a cancelled disconnect keeps the account")
		b.clickJS("disconnect", rowSel("messenger", "PAGE-NEW")+` button[data-act=disconnect]`)
		b.clickJS("confirm", "#modal-ok")
		b.waitJS("the row gone", `!document.querySelector('`+rowSel("messenger", "PAGE-NEW")+`') && document.querySelectorAll('#channel-accounts tr.account').length === 3`)
		code, _ := e.api("GET", "/api/v1/channels/messenger/PAGE-NEW", ownerToken, nil)
		require.Equal(t, http.StatusNotFound, code)
	})

	userRow := func(email string) string { return fmt.Sprintf(`#team-users tr.user[data-email=%q]`, email) }
	roleOf := func(t *testing.T, email string) (engine.Role, bool) {
		users, err := e.store.Users(e.ws)
		require.NoError(t, err)
		for _, u := range users {
			if u.Email == email {
				return u.Role, true
			}
		}
		return "", false
	}
	step("Team: change a role, remove a user", func(t *testing.T) {
		b.t = t
		b.clickJS("the Team link", `#settings-nav a[data-section=team]`)
		b.waitJS("the users", `location.hash === '#settings/team' && document.querySelector('`+userRow("ana@example.com")+`') && document.querySelector('`+userRow("bob@example.com")+`')`)
		b.choose(userRow("ana@example.com")+" select.user-role", "agent")
		b.waitJS("the toast", `document.querySelector('#toast').textContent.includes('is now Agent')`)
		r, _ := roleOf(t, "ana@example.com")
		require.Equal(t, engine.RoleAgent, r)
		b.clickJS("remove Bob", userRow("bob@example.com")+` button[data-act=remove]`)
		b.clickJS("confirm", "#modal-ok")
		b.waitJS("Bob gone", `!document.querySelector('`+userRow("bob@example.com")+`')`)
		_, ok := roleOf(t, "bob@example.com")
		require.False(t, ok)
		code, _ := e.api("GET", "/api/v1/me", bob.Token, nil)
		require.Equal(t, http.StatusUnauthorized, code, "a removed user's session ends")
		// Nobody removes themselves, nor the last owner, from here.
		require.Equal(t, 0, evalJS[int](b, `document.querySelectorAll('#team-users tr.user button[data-act=remove]').length - document.querySelectorAll('#team-users tr.user').length + 1`),
			"only the owner's own row has no Remove")
	})

	var link string
	step("Team: invite, a copyable link", func(t *testing.T) {
		b.t = t
		b.fill("#invite-email", "carla@example.com")
		b.choose("#invite-role", "agent")
		b.clickJS("invite", "#invite-submit")
		b.waitJS("the link", `document.querySelector('input[data-copy="invite-link"]')`)
		link = evalJS[string](b, `document.querySelector('input[data-copy="invite-link"]').value`)
		require.True(t, strings.HasPrefix(link, e.url+"/#invite/inv_"), link)
		b.screenshot("settings-team-desktop")
	})

	var secret string
	step("API tokens: create (secret once), use, revoke", func(t *testing.T) {
		b.t = t
		b.clickJS("the API tokens link", `#settings-nav a[data-section=tokens]`)
		b.waitJS("the tokens screen", `location.hash === '#settings/tokens' && document.querySelector('#token-form')`)
		b.fill("#token-name", "CI script")
		b.clickJS("create", "#token-submit")
		b.waitJS("the secret", `document.querySelector('input[data-copy="token-secret"]') && document.querySelector('#token-list tr.token')`)
		secret = evalJS[string](b, `document.querySelector('input[data-copy="token-secret"]').value`)
		code, _ := e.api("GET", "/api/v1/me", secret, nil)
		require.Equal(t, http.StatusOK, code, "the secret shown works")
		ci := `[...document.querySelectorAll('#token-list tr.token')].find((r) => r.querySelector('.token-name').textContent === 'CI script')`
		b.waitJS("its row", ci)
		b.waitJS("revoke it", `(() => { const r = `+ci+`; r.querySelector('button[data-act=revoke]').click(); return true; })()`)
		b.clickJS("confirm", "#modal-ok")
		b.waitJS("its row gone", `!`+ci+` && document.querySelector('#token-list h3')`)
		code, _ = e.api("GET", "/api/v1/me", secret, nil)
		require.Equal(t, http.StatusUnauthorized, code, "a revoked token is refused")
	})

	step("phone: the nav is a dropdown, nothing overflows, Back to the inbox", func(t *testing.T) {
		b.t = t
		b.viewport(390, 844, true)
		for _, sec := range []string{"team", "channels", "tokens"} {
			b.choose("#settings-select", sec)
			b.waitJS(sec+" shown", fmt.Sprintf(`location.hash === '#settings/%s' && document.querySelector('#settings-main').dataset.section === '%s' && document.querySelector('.settings-section h3')`, sec, sec))
			require.True(t, evalJS[bool](b, `getComputedStyle(document.querySelector('#settings-select')).display !== 'none' && getComputedStyle(document.querySelector('#settings-nav')).display === 'none'`))
			if sec == "channels" {
				b.waitJS("the accounts", `document.querySelectorAll('#channel-accounts tr.account').length === 3`)
			}
			b.noOverflow(390)
			b.screenshot("settings-" + sec + "-phone")
		}
		b.clickJS("back to the inbox", "#settings-back")
		b.waitJS("the inbox", `document.querySelector('#settings').hidden && getComputedStyle(document.querySelector('.panes')).display !== 'none' && !location.hash`)
	})

	step("Back leaves Settings for the chat that was open", func(t *testing.T) {
		b.t = t
		b.viewport(1440, 900, false)
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.set1", "15557770001", "Dora", "hello"))
		require.Equal(t, http.StatusOK, code, string(body))
		conv := e.thread(engine.ChannelWhatsApp, phoneID, "15557770001")
		b.waitJS("the row", rowVisible(conv))
		b.openConv(conv)
		chatShown := fmt.Sprintf(`location.hash === '#c/%s' && document.querySelector('#settings').hidden && getComputedStyle(document.querySelector('#chat-pane')).display !== 'none'`, conv)
		for _, leave := range []func(){
			func() { b.do("the browser's Back", chromedp.NavigateBack()) },
			func() { b.clickJS("back to the inbox", "#settings-back") },
		} {
			b.clickJS("the gear", "#open-settings")
			b.waitJS("Settings", `!document.querySelector('#settings').hidden && location.hash === '#settings/channels'`)
			b.choose("#settings-select", "team")
			b.waitJS("Team", `location.hash === '#settings/team' && document.querySelector('#team-users')`)
			leave()
			b.waitJS("the chat again", chatShown)
		}
	})

	step("an admin: Channels, no role changes, no removing the owner", func(t *testing.T) {
		dan := e.addUser("dan@example.com", engine.RoleAdmin, "correct horse battery")
		d := newTab(t, browser)
		d.signIn(e.url, dan.Token)
		d.clickJS("the gear", "#open-settings")
		d.waitJS("Channels", `location.hash === '#settings/channels' && document.querySelectorAll('#channel-accounts tr.account').length === 3`)
		d.clickJS("the Team link", `#settings-nav a[data-section=team]`)
		d.waitJS("the users", `document.querySelector('`+userRow("dan@example.com")+`') && document.querySelector('#invite-form')`)
		require.Equal(t, 0, evalJS[int](d, `document.querySelectorAll('#team-users select.user-role').length`), "only an owner changes roles")
		require.Equal(t, "ana@example.com", evalJS[string](d, `[...document.querySelectorAll('#team-users tr.user')].filter((r) => r.querySelector('button[data-act=remove]')).map((r) => r.dataset.email).join()`),
			"an admin removes an agent, not the owner nor themselves")
		require.Equal(t, "admin,agent", evalJS[string](d, `[...document.querySelectorAll('#invite-role option')].map((o) => o.value).join()`))
	})

	step("the invitation link: a name, a password, signed in as an agent", func(t *testing.T) {
		c := newTab(t, browser)
		c.viewport(390, 844, true)
		c.do("open the link", chromedp.Navigate(link))
		c.waitJS("the invitation page", `!document.querySelector('#invite-page').hidden && document.querySelector('#login').hidden`)
		c.noOverflow(390)
		c.fill("#invite-name", "Carla")
		c.fill("#invite-pass", "a good long password")
		c.fill("#invite-pass2", "a different password")
		c.clickJS("join", "#invite-accept")
		c.waitJS("the mismatch", `document.querySelector('#invite-error').textContent.includes('differ')`)
		_, ok := roleOf(t, "carla@example.com")
		require.False(t, ok, "nothing stored yet")
		c.fill("#invite-pass2", "a good long password")
		c.screenshot("settings-invite-phone")
		c.clickJS("join", "#invite-accept")
		c.waitJS("the inbox", `document.body.dataset.ready === 'true' && !document.querySelector('#app').hidden && !location.hash`)
		r, ok := roleOf(t, "carla@example.com")
		require.True(t, ok)
		require.Equal(t, engine.RoleAgent, r)
		code, _, _ := e.login("carla@example.com", "a good long password")
		require.Equal(t, http.StatusOK, code)

		// An agent: no Channels, Team without admin actions, own tokens.
		c.clickJS("the gear", "#open-settings")
		c.waitJS("Team first", `location.hash === '#settings/team' && document.querySelector('#team-users tr.user')`)
		require.Equal(t, "team,teams,tokens,feedback,canned,fields,pipelines,analytics,notifications,security,automations,assistants,knowledge,forms,segments,templates,opt-out", evalJS[string](c, `[...document.querySelectorAll('#settings-select option')].map((o) => o.value).join()`))
		require.Equal(t, 0, evalJS[int](c, `document.querySelectorAll('#team-users select, #team-users button[data-act], #invite-form').length`))
		c.do("ask for Channels by address", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/channels'`))
		c.waitJS("sent to Team", `location.hash === '#settings/team' && !document.querySelector('#channel-accounts')`)
		c.choose("#settings-select", "fields")
		c.waitJS("the contact fields, read-only", `document.querySelector('#contact-fields h3') && !document.querySelector('form.cf-form') && !document.querySelector('#contact-fields button')`)
		c.choose("#settings-select", "tokens")
		c.waitJS("own tokens", `document.querySelector('#token-form')`)
	})

	step("a session that ends in Settings: the next user's sections are their own", func(t *testing.T) {
		eve := e.addUser("eve@example.com", engine.RoleAdmin, "correct horse battery")
		d := newTab(t, browser)
		d.signIn(e.url, eve.Token)
		d.clickJS("the gear", "#open-settings")
		d.clickJS("the API tokens link", `#settings-nav a[data-section=tokens]`)
		d.waitJS("Eve's tokens", `location.hash === '#settings/tokens' && document.querySelector('#token-list h3')`)
		code, _ := e.api("DELETE", "/api/v1/users/"+eve.User.ID.String(), ownerToken, nil)
		require.Equal(t, http.StatusNoContent, code)
		d.choose("#settings-select", "team")
		d.waitJS("the sign-in page", `!document.querySelector('#login').hidden`)
		d.fill("#login-email", "carla@example.com")
		d.fill("#login-pass", "a good long password")
		d.clickJS("sign in", "#login-submit")
		d.waitJS("Carla's Team, read-only", `document.body.dataset.ready === 'true' && location.hash === '#settings/team' && document.querySelector('`+userRow("carla@example.com")+`') && !document.querySelector('#invite-form')`)
	})

	step("a used invitation link says so and stores nothing", func(t *testing.T) {
		users, err := e.store.Users(e.ws)
		require.NoError(t, err)
		d := newTab(t, browser)
		d.do("open the used link", chromedp.Navigate(link))
		d.fill("#invite-name", "Carla again")
		d.fill("#invite-pass", "another long password")
		d.fill("#invite-pass2", "another long password")
		d.clickJS("join", "#invite-accept")
		d.waitJS("the refusal", `document.querySelector('#invite-error').textContent.includes('ask for a new one') && !document.querySelector('#invite-page').hidden`)
		after, err := e.store.Users(e.ws)
		require.NoError(t, err)
		require.Len(t, after, len(users))
	})
}
