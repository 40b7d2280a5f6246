package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/stretchr/testify/require"
)

// shopSite serves a page embedding the widget, from an origin of its
// own (another port on 127.0.0.1): what a customer's website is.
func shopSite(t *testing.T, parley, widget string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Boot shop</title></head><body><main><h1>Boot shop</h1><p>Winter boots on sale.</p></main>
<script src="%s/widget.js" data-widget="%s" async></script></body></html>`, parley, widget)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// shadow is a JS expression: the widget's shadow root on the page.
const shadow = `document.querySelector('[data-parley-widget]').shadowRoot`

// A page served from another origin embeds the widget; a visitor chats
// with the keyboard, the rules agent answers, a person takes over from
// the inbox API and the visitor sees the reply live; a reload keeps the
// thread; on a phone the chat fills the screen; a person typing in the
// inbox's composer shows as typing in the widget; a page from an origin
// the widget does not allow gets no widget. axe-core finds nothing
// serious in the open widget.
func TestWebWidget(t *testing.T) {
	browser := startBrowser(t)
	w := newWidgetEnv(t, nil)
	site := shopSite(t, w.url, w.id)
	code, body := w.api("PATCH", "/api/v1/widgets/"+w.id, ownerToken, map[string]any{"allowed_origins": []string{site.URL},
		"title": "Boot shop", "greeting": "Hi! Ask us anything."})
	require.Equal(t, http.StatusOK, code, string(body))
	b := newTab(t, browser)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	var conv engine.ID

	step("chat from another origin", func(t *testing.T) {
		b.t = t
		b.do("open the shop", chromedp.Navigate(site.URL+"/boots?utm_source=news&utm_campaign=winter"))
		b.waitJS("the launcher", `(() => { const r = document.querySelector('[data-parley-widget]'); return r && r.shadowRoot && r.shadowRoot.querySelector('.launcher.right'); })()`)
		require.Equal(t, "Open chat", evalJS[string](b, shadow+`.querySelector('.launcher').getAttribute('aria-label')`))
		b.do("open the chat with the keyboard", chromedp.Evaluate[chromedp.Void](shadow+`.querySelector('.launcher').focus()`), chromedp.KeyEvent("\r"))
		b.waitJS("the panel, focus in the message box", shadow+`.querySelector('.panel:not([hidden])') && `+shadow+`.activeElement === `+shadow+`.querySelector('textarea')`)
		require.Equal(t, "Hi! Ask us anything.", evalJS[string](b, shadow+`.querySelector('.m.greeting').lastChild.textContent`))
		b.do("type a message", chromedp.KeyEvent("hello, do you have size 44?"), chromedp.KeyEvent("\r"))
		b.waitJS("the AI's answer", fmt.Sprintf(`[...%s.querySelectorAll('.m.ai')].some((m) => m.textContent.includes(%s))`, shadow, jsString(agents.DefaultGreeting)))
		conv = w.thread(engine.ChannelWebChat, w.id, evalJS[string](b, `'v:' + JSON.parse(localStorage.getItem('parley-widget:`+w.id+`')).visitor_id`))
		c := w.conv(conv)
		require.NotNil(t, c.Campaign)
		require.Equal(t, "winter", c.Campaign.Ref, "the page's UTM campaign")
		require.Contains(t, c.Campaign.URL, site.URL+"/boots")
		axeCheck(t, b, "widget-open")
		b.screenshot("widget-desktop")
	})

	step("a person takes over and the visitor sees the reply live", func(t *testing.T) {
		b.t = t
		code, body := w.api("POST", "/api/v1/conversations/"+conv.String()+"/takeover", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = w.api("POST", "/api/v1/conversations/"+conv.String()+"/typing", ownerToken, nil)
		require.Equal(t, http.StatusNoContent, code, string(body))
		b.waitJS("the typing line", shadow+`.querySelector('.typing').textContent.includes('typing')`)
		code, body = w.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "Sam here: yes, <b>size 44</b> is in stock."})
		require.Equal(t, http.StatusCreated, code, string(body))
		b.waitJS("the person's reply, as text", `[...`+shadow+`.querySelectorAll('.m.agent')].some((m) => m.textContent.includes('<b>size 44</b>') && !m.querySelector('b'))`)
		// The open chat read it: the inbox shows the reply read.
		eventually(t, 5*time.Second, func() error {
			ms := w.messages(conv)
			if ms[0].Status != engine.StatusRead {
				return fmt.Errorf("status %s", ms[0].Status)
			}
			return nil
		})
	})

	step("a reload keeps the thread", func(t *testing.T) {
		b.t = t
		b.do("reload", chromedp.Reload())
		b.waitJS("the launcher", `(() => { const r = document.querySelector('[data-parley-widget]'); return r && r.shadowRoot && r.shadowRoot.querySelector('.launcher'); })()`)
		b.do("open", chromedp.Evaluate[chromedp.Void](shadow+`.querySelector('.launcher').click()`))
		b.waitJS("the whole thread", shadow+`.querySelectorAll('.m.visitor').length === 1 && `+shadow+`.querySelectorAll('.m.ai').length === 1 && `+shadow+`.querySelectorAll('.m.agent').length === 1`)
		// Live again after the reload.
		code, body := w.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "Anything else?"})
		require.Equal(t, http.StatusCreated, code, string(body))
		b.waitJS("the new reply", `[...`+shadow+`.querySelectorAll('.m.agent')].some((m) => m.textContent.includes('Anything else?'))`)
		b.do("close with Escape", chromedp.KeyEvent(kbEscape))
		b.waitJS("closed, focus on the launcher", shadow+`.querySelector('.panel').hidden && `+shadow+`.activeElement === `+shadow+`.querySelector('.launcher')`)
	})

	step("full screen on a phone", func(t *testing.T) {
		b.t = t
		b.viewport(390, 844, true)
		b.do("open", chromedp.Evaluate[chromedp.Void](shadow+`.querySelector('.launcher').click()`))
		b.waitJS("the panel fills the screen", `(() => { const r = `+shadow+`.querySelector('.panel').getBoundingClientRect(); return r.width === 390 && r.height === 844 && r.left === 0 && r.top === 0; })()`)
		b.noOverflow(390)
		axeCheck(t, b, "widget-phone")
		b.screenshot("widget-phone")
	})

	step("a person typing in the inbox's composer", func(t *testing.T) {
		inbox := newTab(t, browser)
		inbox.signIn(w.url, ownerToken)
		inbox.openConv(conv)
		inbox.typeInComposer("One mo")
		b.t = t
		b.waitJS("the typing line", shadow+`.querySelector('.typing').textContent.includes('typing')`)
	})

	step("a page of another origin gets no widget", func(t *testing.T) {
		b.t = t
		before := metricValue(t, w.reg, "parley_widget_refused_origins_total")
		other := shopSite(t, w.url, w.id)
		b.do("open the other site", chromedp.Navigate(other.URL+"/"))
		eventually(t, 10*time.Second, func() error {
			if metricValue(t, w.reg, "parley_widget_refused_origins_total") <= before {
				return fmt.Errorf("not refused yet")
			}
			return nil
		})
		b.waitJS("no widget", `!document.querySelector('[data-parley-widget]')`)
		require.False(t, strings.Contains(evalJS[string](b, `document.body.innerText`), "Ask us anything"))
	})
}

// kbEscape is the Escape key for chromedp.KeyEvent.
const kbEscape = "\u001b"

// Settings › Chat widget, at 1440 and 390 px: an owner makes a widget
// (its secret shown once, copyable), sets its allowed origin, greeting,
// colour and a pre-chat email field, and saves; the API has them, and
// the snippet shown, pasted in a page of that origin, shows the widget
// with the greeting and the form. axe-core finds nothing serious.
func TestWebWidgetSettings(t *testing.T) {
	browser := startBrowser(t)
	for _, s := range []struct {
		name          string
		width, height int64
		phone         bool
	}{{"desktop", 1440, 900, false}, {"phone", 390, 844, true}} {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t, nil)
			b := newTab(t, browser)
			b.viewport(s.width, s.height, s.phone)
			b.signIn(e.url, ownerToken)
			b.do("Settings → Chat widget", chromedpNavigateHash("#settings/widget"))
			b.fill("#widget-new-name", "Boot shop site")
			b.clickJS("make it", "#widget-create")
			b.waitJS("the secret, once", `!!document.querySelector('#widget-secret input[data-copy=widget-secret]')`)
			secret := evalJS[string](b, `document.querySelector('#widget-secret input[data-copy=widget-secret]').value`)
			require.Regexp(t, `^wsec_[0-9a-f]{48}$`, secret)
			b.waitJS("the widget's card", `!!document.querySelector('#widget-list section.widget')`)
			id := evalJS[string](b, `document.querySelector('#widget-list section.widget').dataset.id`)
			snippet := evalJS[string](b, `document.querySelector('section.widget input[data-copy=widget-snippet]').value`)
			require.Equal(t, `<script src="`+e.url+`/widget.js" data-widget="`+id+`" async></script>`, snippet)

			site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Shop</title></head><body><main><h1>Shop</h1></main>%s</body></html>`, snippet)
			}))
			t.Cleanup(site.Close)
			b.fill("#widget-origins-"+id, site.URL)
			b.do("greeting", chromedp.Evaluate[chromedp.Void](`(() => { const g = document.querySelector('#widget-greeting-`+id+`'); g.value = 'Welcome to the boot shop'; })()`))
			b.clickJS("ask for an email", `section.widget input[data-prechat=email]`)
			b.noOverflow(int(s.width))
			axeCheck(t, b, "settings-widget-"+s.name)
			b.screenshot("settings-widget-" + s.name)
			b.clickJS("save", `section.widget button[data-act=save]`)
			eventually(t, 5*time.Second, func() error {
				code, body := e.api("GET", "/api/v1/widgets/"+id, ownerToken, nil)
				if code != http.StatusOK || !strings.Contains(string(body), `"allowed_origins":["`+site.URL+`"]`) ||
					!strings.Contains(string(body), `"greeting":"Welcome to the boot shop"`) || !strings.Contains(string(body), `"kind":"email"`) {
					return fmt.Errorf("%d %s", code, body)
				}
				return nil
			})
			require.NotContains(t, evalJS[string](b, `document.querySelector('#widget-list').textContent`), secret, "the secret is shown once")

			p := newTab(t, browser)
			p.do("the site", chromedp.Navigate(site.URL+"/"))
			p.waitJS("the launcher", `(() => { const r = document.querySelector('[data-parley-widget]'); return r && r.shadowRoot && r.shadowRoot.querySelector('.launcher'); })()`)
			p.do("open", chromedp.Evaluate[chromedp.Void](shadow+`.querySelector('.launcher').click()`))
			p.waitJS("the greeting and the email field", shadow+`.querySelector('.m.greeting').textContent.includes('Welcome to the boot shop') && `+shadow+`.querySelector('input[type=email][required]')`)
		})
	}
}
