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

// setValue types text into the input selector names: cleared first, then
// real key events.
func (b *tab) setValue(selector, text string) {
	b.t.Helper()
	b.do("clear "+selector, chromedp.WaitVisible(chromedp.CSS(selector)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ''`, selector)),
		chromedp.SendKeys(chromedp.CSS(selector), text))
}

// noSideScroll is a JS expression: the page is no wider than the screen.
const noSideScroll = `document.documentElement.scrollWidth <= window.innerWidth`

// The AI agent screen and the Analytics dashboard, end to end: the kind,
// keywords and answers changed through the UI are stored; the test
// console runs the built-in rules agent and a real server speaking
// OpenAI's chat-completions format; an agent (role) sees neither the
// screen nor its link; the dashboard shows the figures a few real
// conversations produced. At 1440 px and on a 390 px phone.
func TestWebAIScreens(t *testing.T) {
	browser := startBrowser(t)
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion("Your order ships tomorrow.", "the order is paid"), 0
	})
	e := newAIEnv(t)
	b := newTab(t, browser)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	getAgent := func(t *testing.T) map[string]any {
		code, body := e.api("GET", "/api/v1/agent", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		return v
	}

	var before map[string]any
	step("open the AI agent screen from the header", func(t *testing.T) {
		b.t = t
		before = getAgent(t)
		b.viewport(1440, 900, false)
		b.signIn(e.url, ownerToken)
		b.clickJS("the Settings button", "#open-settings")
		b.clickJS("the AI agent section", `#settings-nav a[data-section="ai"]`)
		b.waitJS("the AI agent section", `location.hash === '#settings/ai' && document.querySelector('#ai-form') && document.querySelector('#settings-nav a[aria-current=page]').textContent === 'AI agent'`)
		b.waitJS("the saved kind", `document.querySelector('#ai-kind-rules').checked && !document.querySelector('[data-for=rules]').hidden && document.querySelector('[data-for="openai webhook"]').hidden`)
		require.True(t, evalJS[bool](b, `getComputedStyle(document.querySelector('main.panes')).display === 'none'`), "the inbox makes way")
		require.Equal(t, "not set", evalJS[string](b, `document.querySelector('#ai-api-key-state').textContent`))
		// Every control has a label.
		require.Equal(t, 0, evalJS[int](b, `[...document.querySelectorAll('#settings input, #settings select, #settings textarea')].filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).length`))
	})

	step("keywords and answers saved through the UI", func(t *testing.T) {
		b.t = t
		b.setValue("#ai-handoff-keywords", "human, manager")
		b.clickJS("add an answer", "#ai-add-answer")
		b.setValue(".ai-answer:last-child .ai-answer-keys", "hours, open")
		b.setValue(".ai-answer:last-child .ai-answer-text", "We're open 9 to 5.")
		b.clickJS("save", "#ai-save")
		b.waitJS("saved", `document.querySelector('#ai-status').textContent === 'Saved'`)
		a := getAgent(t)
		require.Equal(t, "rules", a["kind"])
		require.Equal(t, []any{"human", "manager"}, a["handoff_keywords"])
		require.Equal(t, []any{map[string]any{"keywords": []any{"hours", "open"}, "answer": "We're open 9 to 5."}}, a["answers"])
		for _, k := range []string{"debounce_ms", "timeout_seconds", "csat_survey", "auto_followup_max", "greeting", "restricted"} {
			require.Equal(t, before[k], a[k], "%s, not touched, is kept as it was", k)
		}
	})

	step("test console against the rules agent", func(t *testing.T) {
		b.t = t
		b.setValue(".ai-line:last-child .ai-line-text", "Hi, when are you open?")
		b.clickJS("run the test", "#ai-run")
		b.waitJS("the keyword answer", `document.querySelector('#ai-reply')?.textContent === "We're open 9 to 5." && document.querySelector('.ai-reasoning dd').textContent.includes('keyword "open"')`)
		b.setValue(".ai-line:last-child .ai-line-text", "Can I talk to a manager?")
		b.clickJS("run the test", "#ai-run")
		b.waitJS("the handoff", `document.querySelector('.ai-outcome')?.dataset.outcome === 'handoff' && document.querySelector('.ai-handoff dd').textContent.includes('by a handoff keyword') && !document.querySelector('#ai-reply')`)
		b.screenshot("ai-desktop-rules")
	})

	step("OpenAI kind tried against a real chat-completions server, then saved", func(t *testing.T) {
		b.t = t
		b.clickJS("the OpenAI kind", "#ai-kind-openai")
		b.waitJS("its fields", `!document.querySelector('[data-for="openai webhook"]').hidden && document.querySelector('[data-for=rules]').hidden`)
		b.setValue("#ai-base-url", ai.srv.URL+"/v1")
		b.setValue("#ai-model", "test-model")
		b.setValue("#ai-api-key", "sk-from-the-ui")
		b.setValue("#ai-prompt", "You answer for Acme Shoes.")
		b.setValue(".ai-line:last-child .ai-line-text", "Where is my order?")
		b.clickJS("run the test", "#ai-run")
		b.waitJS("the model's reply and reasoning", `document.querySelector('#ai-reply')?.textContent === 'Your order ships tomorrow.' && document.querySelector('.ai-reasoning dd').textContent === 'the order is paid'`)
		reqs := ai.requests()
		require.Len(t, reqs, 1)
		require.Equal(t, "Bearer sk-from-the-ui", reqs[0].Header.Get("Authorization"))
		require.Contains(t, string(reqs[0].Body), "Acme Shoes")
		require.Contains(t, string(reqs[0].Body), "Where is my order?")
		require.Equal(t, "rules", getAgent(t)["kind"], "a test saves nothing")
		b.screenshot("ai-desktop-openai")

		b.clickJS("save", "#ai-save")
		b.waitJS("saved, the key shown as set", `document.querySelector('#ai-status').textContent === 'Saved' && document.querySelector('#ai-api-key-state').textContent === 'set' && document.querySelector('#ai-api-key').value === ''`)
		a := getAgent(t)
		require.Equal(t, "openai", a["kind"])
		require.Equal(t, ai.srv.URL+"/v1", a["base_url"])
		require.Equal(t, true, a["has_api_key"])
		require.Equal(t, []any{"human", "manager"}, a["handoff_keywords"])
		_, hasKey := a["api_key"]
		require.False(t, hasKey)
	})

	step("an agent sees neither the screen nor its link", func(t *testing.T) {
		b.t = t
		ag := e.addUser("agent@example.com", engine.RoleAgent, "agent password 1")
		p := newTab(t, browser)
		p.signIn(e.url, ag.Token)
		p.do("open the AI agent's address", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/ai'`))
		p.waitJS("a section of theirs instead", `(() => { const s = document.querySelector('#settings:not([hidden]) .settings-section'); return !!s && s.dataset.section !== 'ai' })()`)
		require.False(t, evalJS[bool](p, `!!document.querySelector('#ai-form, a[href="#settings/ai"]')`))
	})

	// A few real conversations: two customers on WhatsApp and one on
	// Messenger, answered by the AI, one answered by a person too, one
	// solved and rated.
	ai.set(func(int) (int, string, time.Duration) { return 200, completion("Thanks, we are on it.", ""), 0 })
	e.webhook(engine.ChannelWhatsApp, waText("wamid.an.1", "15550301", "Ana", "where is my order?"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.an.2", "15550302", "Bo", "hello"))
	e.webhook(engine.ChannelMessenger, messengerText("mid.an.3", "psid-an-3", "hi there"))
	first := e.thread(engine.ChannelWhatsApp, phoneID, "15550301")
	eventually(t, 10*time.Second, func() error {
		if n := len(e.sentTexts()); n < 2 {
			return fmt.Errorf("%d WhatsApp replies", n)
		}
		return nil
	})
	for _, c := range []struct {
		path string
		body any
	}{{"/messages", map[string]string{"text": "A person here: it ships today."}}, {"/csat", map[string]int{"score": 4}},
		{"/folder", map[string]string{"folder": "solved"}}} {
		code, body := e.api("POST", "/api/v1/conversations/"+first.String()+c.path, ownerToken, c.body)
		require.Less(t, code, 300, string(body))
	}
	var want analyticsBody
	eventually(t, 10*time.Second, func() error {
		want = e.analytics("period=week")
		if want.Totals["replies_ai"] != float64(3) || want.Totals["resolved"] != float64(1) {
			return fmt.Errorf("totals %v", want.Totals)
		}
		return nil
	})

	step("analytics shows the figures of those conversations", func(t *testing.T) {
		b.t = t
		b.clickJS("the Analytics link", "#open-analytics")
		kpi := func(id string) string {
			return fmt.Sprintf(`document.querySelector('#%s .kpi-value')?.textContent`, id)
		}
		b.waitJS("the figures", kpi("kpi-opened")+` === '3'`)
		require.Equal(t, "33%", evalJS[string](b, kpi("kpi-resolution-rate")))
		require.Equal(t, "75%", evalJS[string](b, kpi("kpi-ai-share")), "3 AI replies, 1 human")
		require.Equal(t, "4.0 / 5", evalJS[string](b, kpi("kpi-csat")))
		require.Equal(t, 3.0, want.Totals["conversations_opened"])
		// A week of days, today's bar and numbers.
		today := time.Now().UTC().Format("Jan 2")
		require.Equal(t, 7, evalJS[int](b, `document.querySelectorAll('#chart-opened tbody tr').length`))
		require.Equal(t, []string{today, "3", "1"}, evalJS[[]string](b, `[...document.querySelector('#chart-opened tbody tr:last-child').children].map(c => c.textContent)`))
		require.Equal(t, []string{today, "3", "1"}, evalJS[[]string](b, `[...document.querySelector('#chart-replies tbody tr:last-child').children].map(c => c.textContent)`))
		label := evalJS[string](b, `document.querySelector('#chart-opened svg').getAttribute('aria-label')`)
		require.Contains(t, label, "Opened")
		require.Contains(t, label, today+" 3")
		require.Equal(t, evalJS[string](b, `document.querySelector('#chart-opened svg').getAttribute('role')`), "img")
		require.GreaterOrEqual(t, evalJS[int](b, `document.querySelectorAll('#chart-opened rect.bar').length`), 2)
		require.Equal(t, []string{"Messenger", "WhatsApp"}, evalJS[[]string](b, `[...document.querySelectorAll('#an-channels tbody th')].map(c => c.textContent)`))
		b.screenshot("analytics-desktop")
		require.True(t, evalJS[bool](b, `document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true, cancelable: true }))`),
			"the inbox's arrow keys leave the settings page its scrolling")

		b.clickJS("today", `button[data-period=today]`)
		b.waitJS("one day", `document.querySelectorAll('#chart-opened tbody tr').length === 1 && `+kpi("kpi-opened")+` === '3'`)
		b.do("only Messenger", chromedp.SetValue(chromedp.CSS("#an-channel"), "messenger"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#an-channel').dispatchEvent(new Event('change', { bubbles: true }))`))
		b.waitJS("Messenger's figures", kpi("kpi-opened")+` === '1' && `+kpi("kpi-resolution-rate")+` === '0%'`)
	})

	step("on a 390 px phone", func(t *testing.T) {
		b.t = t
		b.viewport(390, 844, true)
		b.waitJS("the dashboard fits", noSideScroll+` && document.querySelector('#kpi-opened').getBoundingClientRect().right <= 390`)
		b.screenshot("analytics-phone")
		b.do("the AI agent screen", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/ai'`))
		b.waitJS("it fits", `document.querySelector('#ai-form') && `+noSideScroll+` && document.querySelector('#ai-run').getBoundingClientRect().right <= 390`)
		b.screenshot("ai-phone")
		b.clickJS("back to the inbox", "#settings-back")
		b.waitJS("the inbox", `document.querySelector('#settings').hidden && getComputedStyle(document.querySelector('main.panes')).display !== 'none' && document.querySelector('#list-pane').offsetWidth === 390`)
		// The header's links leave every channel tab in sight.
		require.Equal(t, 0, evalJS[int](b, `(() => { const bar = document.querySelector('#channel-tabs').getBoundingClientRect(); return [...document.querySelectorAll('#channel-tabs .tab')].filter(t => t.getBoundingClientRect().right > bar.right + 0.5).length })()`))
		require.True(t, evalJS[bool](b, `document.querySelector('#open-settings').getBoundingClientRect().right <= 390 && document.querySelector('#open-analytics').offsetWidth > 0`))
	})
}
