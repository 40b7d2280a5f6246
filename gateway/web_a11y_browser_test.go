package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/stretchr/testify/require"
)

// Every screen of the web app, as one table that the accessibility pass
// (TestWebA11y: axe-core at a phone's and a desktop's width) and the
// screenshots (TestWebScreenshots: four widths) both walk. A new screen
// is one line of webScreens.

// screenEnv is the Parley the screens are shown from: a workspace with a
// few conversations (one of them answered), a teammate, and the codes of
// a setup link, a reset link and an invitation.
type screenEnv struct {
	*env
	// chat is the answered conversation, the one opened by the chat
	// screens.
	chat                 engine.ID
	setup, reset, invite string
	owner, public        *tab
}

// webScreen is one screen: open brings b (the owner's tab, or a signed
// out one when public) to it from anywhere and waits until it is shown.
type webScreen struct {
	name   string
	public bool
	open   func(s *screenEnv, b *tab)
}

// webScreens are the screens of the app. Most open by their address
// (goTo), then wait for what the screen shows.
var webScreens = []webScreen{
	{"signin", true, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/")
		b.waitJS("the login form", `!document.querySelector('#login').hidden`)
	}},
	{"signin-token", true, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/")
		b.clickJS("use an API token", "#login-mode")
		b.waitJS("the token field", `document.querySelector('#login-api-token').offsetWidth > 0`)
	}},
	{"setup", true, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#setup/"+s.setup)
		b.waitJS("the setup form", `document.querySelector('#setup-name')`)
	}},
	{"reset", true, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#reset/"+s.reset)
		b.waitJS("the reset form", `document.querySelector('#setup-password') && !document.querySelector('#setup-name')`)
	}},
	{"invite", true, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#invite/"+s.invite)
		b.waitJS("the invitation form", `document.querySelector('#invite-name')`)
	}},
	{"inbox", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/")
		b.waitJS("the rows", `document.querySelectorAll('#conv-list li.conv').length >= 3`)
	}},
	{"inbox-solved", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/")
		b.clickJS("the Solved folder", `.folder[data-folder="solved"]`)
		b.waitJS("its empty list", `document.querySelector('.folder[data-folder="solved"]').getAttribute('aria-selected') === 'true' && !document.querySelector('#list-empty').hidden`)
	}},
	{"inbox-filtered", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/")
		b.setSelect("Mode", "manual")
		b.waitJS("the answered conversation alone", `document.querySelectorAll('#conv-list li.conv').length === 1`)
	}},
	{"inbox-chat", false, func(s *screenEnv, b *tab) { b.goTo(s.url, "/#c/"+s.chat.String()); b.waitChat() }},
	{"inbox-contact", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#c/"+s.chat.String())
		b.waitChat()
		b.clickJS("the contact panel", "#act-contact")
		b.waitJS("the panel", `!document.querySelector('#contact-pane').hidden && document.querySelector('#contact-pane').textContent.includes('Profile')`)
	}},
	{"inbox-menu", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#c/"+s.chat.String())
		b.waitChat()
		b.clickJS("the menu", "#act-more")
		b.waitJS("the menu", `!document.querySelector('#more-menu').hidden`)
	}},
	{"inbox-delete", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#c/"+s.chat.String())
		b.waitChat()
		b.clickJS("the menu", "#act-more")
		b.clickJS("Delete chat", `#more-menu [data-act="delete"]`)
		b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
	}},
	{"inbox-shortcuts", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/")
		b.waitJS("the rows", `document.querySelectorAll('#conv-list li.conv').length >= 3`)
		b.blur()
		b.key("?")
		b.waitJS("the cheat sheet", `document.querySelector('#shortcuts') && !document.querySelector('#shortcuts').hidden`)
	}},
	{"settings-channels", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/channels")
		b.waitJS("the accounts", `document.querySelectorAll('#channel-accounts tr.account').length === 3`)
	}},
	{"settings-team", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/team")
		b.waitJS("the users", `document.querySelectorAll('#team-users tr.user').length === 2 && document.querySelector('#invite-form')`)
	}},
	{"settings-tokens", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/tokens")
		b.waitJS("the tokens", `document.querySelector('#token-form') && document.querySelector('#token-list tr.token')`)
	}},
	{"settings-ai", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/ai")
		b.waitJS("the agent form", `document.querySelector('#settings-main')?.dataset.section === 'ai' && document.querySelector('#settings-main select')`)
	}},
	{"analytics", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/analytics")
		b.waitJS("the charts", `document.querySelector('#settings-main')?.dataset.section === 'analytics' && document.querySelector('#settings-main svg')`)
	}},
	{"contacts", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#contacts")
		b.waitJS("the contacts", `document.querySelector('#contacts')?.hidden === false && document.querySelectorAll('#ct-rows li').length >= 3`)
	}},
	{"contact-page", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#contacts")
		b.waitJS("the contacts", `document.querySelectorAll('#ct-rows li a.ct-row').length >= 3`)
		b.clickJS("the first contact", "#ct-rows li a.ct-row")
		b.waitJS("its page", `location.hash.startsWith('#contacts/') && document.querySelector('#ct-name')?.textContent && document.querySelector('#ct-activity li.ct-act')`)
	}},
	{"composer-mention", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#c/"+s.chat.String())
		b.waitChat()
		b.waitJS("the composer", `document.querySelector('#compose') && document.querySelector('#mode-reply')`)
		evalJS[bool](b, `(document.querySelector('#compose').value = '', document.querySelector('#compose').focus(), true)`)
		b.do("type @", chromedp.KeyEvent("@"))
		b.waitJS("the teammate picker", `!document.querySelector('#compose-picker').hidden && document.querySelectorAll('#compose-picker [role=option]').length >= 1`)
	}},
	{"composer-note", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#c/"+s.chat.String())
		b.waitChat()
		b.clickJS("Note", "#mode-note")
		b.waitJS("note mode", `document.querySelector('#mode-note').getAttribute('aria-pressed') === 'true'`)
	}},
	{"settings-canned", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/canned")
		b.waitJS("the canned replies form", `document.querySelector('#settings-main .settings-section[data-section=canned] form.canned-form')`)
	}},
	{"pipeline", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#pipeline")
		b.waitJS("the board", `document.querySelector('#pipeline')?.hidden === false && document.querySelectorAll('.pl-col').length === 4 && ![...document.querySelectorAll('.pl-count')].some((c) => c.textContent === '…')`)
	}},
	{"settings-pipelines", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/pipelines")
		b.waitJS("the pipeline's form", `document.querySelectorAll('#settings-main form.pipeline-form .stage-row').length >= 4`)
	}},
	{"settings-knowledge", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/knowledge")
		b.waitJS("the knowledge base", `document.querySelector('#settings-main form.kn-tester #kn-query') && document.querySelector('#kn-entries h3')`)
	}},
	{"settings-notifications", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/notifications")
		b.waitJS("the toggles", `document.querySelector('input.notify-toggle[data-kind="assigned"][data-medium="push"]')`)
	}},
	{"contact-detected", false, func(s *screenEnv, b *tab) {
		code, body := s.webhook(engine.ChannelWhatsApp, waText("wamid.screen.es", "34612345678", "Lucía García",
			"Buenas tardes, quería saber si tienen la camiseta azul en talla mediana")) // the same message id each time: stored once
		require.Equal(b.t, http.StatusOK, code, string(body))
		conv := s.thread(engine.ChannelWhatsApp, phoneID, "34612345678")
		b.goTo(s.url, "/#c/"+conv.String())
		b.waitChat()
		b.clickJS("the contact panel", "#act-contact")
		b.waitJS("what was detected", `document.querySelector('#contact-pane dl.detected')?.textContent.includes('Spanish (detected)')`)
	}},
	{"settings-security", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/security")
		b.waitJS("the sessions and the reset form", `document.querySelector('#sessions li.security-session') && document.querySelector('#reset-user option')`)
	}},
	{"settings-templates", false, func(s *screenEnv, b *tab) {
		b.goTo(s.url, "/#settings/templates")
		b.waitJS("the templates and the form", `document.querySelector('#templates-list h3') && document.querySelector('#template-form #tpl-name')`)
	}},
	{"settings-forms", false, func(s *screenEnv, b *tab) {
		s.screenForm(b.t)
		b.goTo(s.url, "/#settings/forms")
		b.clickJS("Edit", `#fm-list tr.fm-row button[data-act=edit]`)
		b.waitJS("the builder", `document.querySelectorAll('#fm-fields .fm-item').length === 3 && document.querySelector('.fm-embed input[data-copy=script]')`)
	}},
	{"public-form", true, func(s *screenEnv, b *tab) {
		f := s.screenForm(b.t)
		b.goTo(s.url, "/f/"+f.WorkspaceID.String()+"/"+f.ID.String())
		b.waitJS("the form", `document.querySelector('#pf-form #pf-email')`)
	}},
}

// screenForm is the form the forms screens show, made on first use.
func (s *screenEnv) screenForm(t testing.TB) engine.Form {
	t.Helper()
	code, body := s.api("GET", "/api/v1/forms", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var list struct {
		Forms []engine.Form `json:"forms"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	if len(list.Forms) > 0 {
		return list.Forms[0]
	}
	code, body = s.api("POST", "/api/v1/forms", ownerToken, map[string]any{"name": "Book a demo", "tag": "demo",
		"fields": []map[string]any{{"key": "name", "required": true}, {"key": "email", "required": true}, {"key": "company"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	var f engine.Form
	require.NoError(t, json.Unmarshal(body, &f))
	return f
}

// goTo loads the app at path (with a hash route, say) afresh.
func (b *tab) goTo(base, path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate("about:blank"), chromedp.Navigate(base+path))
	b.waitJS("the app", `document.readyState === 'complete'`)
}

// waitChat waits for the open chat's messages.
func (b *tab) waitChat() {
	b.t.Helper()
	b.waitJS("the chat", `!document.querySelector('#chat').hidden && document.querySelectorAll('#msg-list .msg').length > 0 && document.querySelector('#chat-name').textContent !== ''`)
}

// newScreenEnv starts a Parley seeded for the screens and two tabs of
// browser: the owner's, signed in, and a signed-out one.
func newScreenEnv(t *testing.T) *screenEnv {
	t.Helper()
	browser := startBrowser(t)
	s := &screenEnv{env: newEnv(t, nil)}
	s.agent("ana@example.com", "Ana Agent", "correct horse battery")
	for i, name := range []string{"Maria Lopez", "Kenji Sato", "Amara Okafor"} {
		wa := fmt.Sprintf("1555444000%d", i)
		code, body := s.webhook(engine.ChannelWhatsApp, waText("wamid.s"+wa, wa, name, "Hello, where is my order 55"+wa[len(wa)-2:]+"?"))
		require.Equal(t, http.StatusOK, code, string(body))
		s.chat = s.thread(engine.ChannelWhatsApp, phoneID, wa)
	}
	chat := "/api/v1/conversations/" + s.chat.String()
	code, body := s.api("POST", chat+"/takeover", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = s.api("POST", chat+"/messages", ownerToken, map[string]any{"text": "It ships today, tracking link to follow."})
	require.Less(t, code, 300, string(body))
	eventually(t, 10*time.Second, func() error {
		for _, m := range s.messages(s.chat) {
			if m.Direction == engine.DirOut && m.Status == engine.StatusSent {
				return nil
			}
		}
		return fmt.Errorf("the answer is not sent yet")
	})

	var err error
	s.setup, err = gateway.SetupLink(s.store, time.Now())
	require.NoError(t, err)
	require.NotEmpty(t, s.setup)
	ana := s.userID("ana@example.com")
	code, body = s.api("POST", "/api/v1/users/"+ana+"/password-reset", ownerToken, nil)
	require.Equal(t, http.StatusCreated, code, string(body))
	var reset struct{ Code string }
	require.NoError(t, json.Unmarshal(body, &reset))
	s.reset = reset.Code
	s.invite = s.env.invite(ownerToken, "carla@example.com", engine.RoleAgent)

	s.owner = newTab(t, browser)
	s.owner.signIn(s.url, ownerToken)
	s.public = newProfileTab(t, browser)
	return s
}

// userID is the id of the workspace's user with email.
func (e *env) userID(email string) string {
	e.t.Helper()
	users, err := e.store.Users(e.ws)
	require.NoError(e.t, err)
	for _, u := range users {
		if u.Email == email {
			return u.ID.String()
		}
	}
	e.t.Fatalf("no user %s", email)
	return ""
}

// screenSize is a screen the web app is tried at: w×h, a phone's
// (touch and all) under 700 px.
type screenSize struct{ w, h int64 }

// eachScreen opens each of webScreens at each of sizes in a subtest
// named <screen>-<width> and runs check on it.
func (s *screenEnv) eachScreen(t *testing.T, sizes []screenSize, check func(t *testing.T, b *tab, name string)) {
	for _, size := range sizes {
		for _, scr := range webScreens {
			name := fmt.Sprintf("%s-%d", scr.name, size.w)
			t.Run(name, func(t *testing.T) {
				b := s.owner
				if scr.public {
					b = s.public
				}
				b.t = t
				b.viewport(size.w, size.h, size.w < 700)
				scr.open(s, b)
				check(t, b, name)
			})
		}
	}
}

// TestWebA11y runs axe-core on every screen at a phone's and a
// desktop's width: no serious or critical violation.
func TestWebA11y(t *testing.T) {
	s := newScreenEnv(t)
	s.eachScreen(t, []screenSize{{390, 844}, {1440, 900}}, func(t *testing.T, b *tab, name string) { axeCheck(t, b, name) })
}

// axe-core goes in through the DevTools protocol, which the app's
// Content-Security-Policy does not govern: the same script as an inline
// <script> is refused, and axe runs all the same.
func TestWebA11yAxeUnderCSP(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	code, _ := e.api("GET", "/", "", nil)
	require.Equal(t, http.StatusOK, code)
	b := newTab(t, browser)
	b.goTo(e.url, "/")
	b.waitJS("the login form", `!document.querySelector('#login').hidden`)
	blocked := evalJS[bool](b, `new Promise((done) => {
		document.addEventListener('securitypolicyviolation', () => done(true), { once: true });
		const s = document.createElement('script'); s.textContent = 'window.__inline = true'; document.head.append(s);
		setTimeout(() => done(false), 2000);
	}).then((v) => v && !window.__inline)`)
	require.True(t, blocked, "the page's CSP refuses an inline script")
	axeCheck(t, b, "the login page")
	require.Equal(t, axeVersion, evalJS[string](b, `axe.version`), "axe-core is in the page")
}

// The conversation menu works from the keyboard (the menu button
// pattern): Enter opens it on its first item, the arrows, Home and End
// move, Escape closes it back on the button, Enter on an item acts;
// the button says whether the menu is open. Desktop and phone.
func TestWebA11yMenuKeyboard(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	active := `document.activeElement.dataset.act || document.activeElement.id`
	b.atEachWidth(t, "the conversation menu", func(t *testing.T, i int, screen string) {
		wa := fmt.Sprintf("1555666000%d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.menu"+wa, wa, "Kim Keys "+screen, "hello"))
		require.Equal(t, http.StatusOK, code, string(body))
		conv := e.thread(engine.ChannelWhatsApp, phoneID, wa)
		b.waitJS("its row", rowVisible(conv))
		b.openConv(conv)
		require.Equal(t, "false", evalJS[string](b, `document.querySelector('#act-more').getAttribute('aria-expanded')`))
		b.do("Enter on the menu button", chromedp.Focus(chromedp.CSS("#act-more")), chromedp.KeyEvent(kb.Enter))
		b.waitJS("the menu open on its first item", `!document.querySelector('#more-menu').hidden && document.activeElement.dataset.act === 'unread'`)
		require.Equal(t, "true", evalJS[string](b, `document.querySelector('#act-more').getAttribute('aria-expanded')`))
		for _, k := range []struct{ key, want string }{
			{kb.ArrowDown, "pending"}, {kb.ArrowDown, "archive"}, {kb.ArrowDown, "spam"}, {kb.End, "delete"}, {kb.ArrowDown, "unread"},
			{kb.ArrowUp, "delete"}, {kb.Home, "unread"},
		} {
			b.key(k.key)
			require.Equal(t, k.want, evalJS[string](b, active), "after %q", k.key)
		}
		b.key(kb.Escape)
		b.waitJS("closed, the focus back on the button", `document.querySelector('#more-menu').hidden && document.activeElement.id === 'act-more' && document.querySelector('#act-more').getAttribute('aria-expanded') === 'false'`)
		require.True(t, evalJS[bool](b, `!document.querySelector('#chat').hidden`), "Escape closed the menu only")
		b.do("open it again, down to Archive, Enter", chromedp.KeyEvent(kb.Enter))
		b.waitJS("the first item", `document.activeElement.dataset.act === 'unread'`)
		b.key(kb.ArrowDown) // Mark pending
		b.key(kb.ArrowDown)
		require.Equal(t, "archive", evalJS[string](b, active))
		b.do("Enter", chromedp.KeyEvent(kb.Enter))
		e.folderEventually(t, conv, engine.FolderArchived)
	})
}
