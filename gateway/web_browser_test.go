package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// The inbox web app, end to end: a real Parley (newEnv) and the real
// headless Chromium of the machine (Debian's chromium, installed by
// .ci/run), driven over the DevTools protocol. Screenshots go to
// $PARLEY_SCREENSHOTS when set, else to the test's temp directory.

const chromiumPath = "/usr/bin/chromium"

// startBrowser starts one headless Chromium for the test and its
// subtests. Without the binary the test is skipped, except in CI where
// it fails.
func startBrowser(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: .ci/run installs Debian's chromium", chromiumPath)
		}
		t.Skipf("%s is missing: apt-get install chromium to run the browser tests", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "starting chromium")
	return ctx
}

// tab is one browser tab with helpers that fail the test on error.
type tab struct {
	t   testing.TB
	ctx context.Context
}

func newTab(t testing.TB, browser context.Context) *tab {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx))
	return &tab{t: t, ctx: ctx}
}

func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...), what)
}

// waitJS waits until the JavaScript expression is truthy.
func (b *tab) waitJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(time.Until(deadline))))
		// A navigation replaced the page the poll ran in (the app's own
		// location changes, a reload): poll again in the new one.
		if err == nil || !navigatedAway(err) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		b.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, html)
	}
}

// navigatedAway reports whether err is Chromium's answer to an
// evaluation in a page a navigation has just replaced.
func navigatedAway(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") || strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Inspected target navigated or closed")
}

// clickJS clicks the element selector names once it exists, finding and
// clicking it in one evaluation so that a re-render in between cannot
// leave a stale node.
func (b *tab) clickJS(what, selector string) {
	b.t.Helper()
	b.waitJS(what, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false; el.click(); return true; })()`, selector))
}

func evalJS[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, expr)
	return v
}

func (b *tab) screenshot(name string) string {
	b.t.Helper()
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(b.t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot %s", path)
	return path
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rowVisible is a JS expression: the list shows a row for the conversation.
func rowVisible(id engine.ID) string {
	return fmt.Sprintf(`document.querySelector('#conv-list li.conv[data-id="%s"]')`, id)
}

// waBatch is one WhatsApp webhook carrying a message from each of
// senders (one may repeat).
func waBatch(prefix string, senders []string, name func(i int) string, text func(i int) string) string {
	var contacts, msgs []string
	seen := map[string]bool{}
	for i, wa := range senders {
		if !seen[wa] {
			seen[wa] = true
			contacts = append(contacts, fmt.Sprintf(`{"profile":{"name":%s},"wa_id":"%s"}`, jsString(name(i)), wa))
		}
		msgs = append(msgs, fmt.Sprintf(`{"from":"%s","id":"%s.%d","timestamp":"%d","type":"text","text":{"body":%s}}`,
			wa, prefix, i, time.Now().Unix(), jsString(text(i))))
	}
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"contacts":[%s],"messages":[%s]}}]}]}`,
		phoneID, strings.Join(contacts, ","), strings.Join(msgs, ","))
}

// agent invites a user with a password, as an admin would.
func (e *env) agent(email, name, password string) {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": email, "role": "admin"})
	require.Equal(e.t, http.StatusCreated, code, string(body))
	var inv struct{ Code string }
	require.NoError(e.t, json.Unmarshal(body, &inv))
	code, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": inv.Code, "name": name, "password": password})
	require.Equal(e.t, http.StatusCreated, code, string(body))
}

func TestWebInbox(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	e.agent("ana@example.com", "Ana Agent", "correct horse battery")
	b := newTab(t, browser)
	// Each step builds on the one before: stop at the first failure.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	// The app is served at / with the API still winning under /api and
	// the webhooks.
	code, body := e.api("GET", "/", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `<script type="module" src="/js/app.js">`)
	code, _ = e.api("GET", "/api/v1/conversations", "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = e.api("GET", "/js/missing.js", "", nil)
	require.Equal(t, http.StatusNotFound, code)

	step("login", func(t *testing.T) {
		b.t = t
		b.do("open the login page", chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.CSS("#login-email")))
		b.do("wrong password", chromedp.SendKeys(chromedp.CSS("#login-email"), "ana@example.com"),
			chromedp.SendKeys(chromedp.CSS("#login-pass"), "wrong password"), chromedp.Click(chromedp.CSS("#login-submit")))
		b.waitJS("the login error", `document.querySelector('#login-error').textContent.includes('Wrong email or password')`)
		b.do("sign in", chromedp.Evaluate[chromedp.Void](`document.querySelector('#login-pass').value = ''`),
			chromedp.SendKeys(chromedp.CSS("#login-pass"), "correct horse battery"), chromedp.Click(chromedp.CSS("#login-submit")))
		b.waitJS("the inbox", `document.body.dataset.ready === 'true' && !document.querySelector('#app').hidden`)
		b.waitJS("the realtime connection", `document.querySelector('#conn').dataset.state === 'live'`)
	})

	const maria = "15551230001"
	var conv engine.ID
	step("webhook shows the conversation and message without reload", func(t *testing.T) {
		b.t = t
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.m1", maria, "Maria Lopez", "Hola, where is my order 5521?"))
		require.Equal(t, http.StatusOK, code, string(body))
		conv = e.thread(engine.ChannelWhatsApp, phoneID, maria)
		b.waitJS("the new row", rowVisible(conv))
		b.waitJS("the preview and unread badge", fmt.Sprintf(`(() => { const r = %s; return r.textContent.includes('Maria Lopez') && r.textContent.includes('where is my order') && r.querySelector('.badge').textContent === '1' })()`, rowVisible(conv)))
		b.clickJS("open it", fmt.Sprintf(`li.conv[data-id="%s"]`, conv))
		b.waitJS("the message", `document.querySelector('#msg-list').textContent.includes('where is my order 5521?')`)
		b.waitJS("the date separator", `document.querySelector('.day-sep').textContent.length > 0`)
		b.waitJS("the AI banner", `document.querySelector('#composer').textContent.includes('AI is managing this conversation')`)
		// A second message lands in the open chat, live.
		code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.m2", maria, "Maria Lopez", "It was due yesterday"))
		require.Equal(t, http.StatusOK, code)
		b.waitJS("the live message", `document.querySelector('#msg-list').textContent.includes('It was due yesterday')`)
		eventually(t, 5*time.Second, func() error { // opening the chat marks it read
			if n := e.conv(conv).UnreadCount; n != 0 {
				return fmt.Errorf("unread %d", n)
			}
			return nil
		})
	})

	step("take over, send, ticks follow the status webhooks", func(t *testing.T) {
		b.t = t
		// The button is re-rendered when the conversation's read update
		// arrives: click whichever node is current, in one evaluation.
		b.clickJS("take manual control", "#take-manual")
		b.do("the composer", chromedp.WaitVisible(chromedp.CSS("#compose")))
		b.waitJS("the manual pill and countdown", `document.querySelector('#mode-pill').dataset.mode === 'manual' && /AI resumes in \d+:\d\d/.test(document.querySelector('#countdown').textContent)`)
		b.do("type and press Enter", chromedp.SendKeys(chromedp.CSS("#compose"), "Your order ships today"),
			chromedp.KeyEvent(kb.Enter))
		b.waitJS("the outbound bubble", `[...document.querySelectorAll('.msg.out')].some(m => m.textContent.includes('Your order ships today'))`)
		var out engine.Message
		eventually(t, 10*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Direction == engine.DirOut && m.Text == "Your order ships today" && m.Status == engine.StatusSent {
					out = m
					return nil
				}
			}
			return fmt.Errorf("not sent yet")
		})
		sel := fmt.Sprintf(`document.querySelector('.msg.out[data-seq="%d"]')`, out.Seq)
		b.waitJS("one tick", sel+`?.dataset.status === 'sent' && `+sel+`.querySelector('.status.sent')`)
		b.screenshot("desktop-sent")
		for _, st := range []string{"delivered", "read"} {
			code, body := e.webhook(engine.ChannelWhatsApp, waStatus(out.ChannelMessageID, st, time.Now().Unix(), ""))
			require.Equal(t, http.StatusOK, code, string(body))
			b.waitJS(st+" ticks", sel+`?.dataset.status === '`+st+`' && `+sel+`.querySelector('.status.`+st+`')`)
		}
		require.Equal(t, 1, evalJS[int](b, `[...document.querySelectorAll('.msg.out')].filter(m => m.textContent.includes('Your order ships today')).length`),
			"the optimistic copy is replaced, not doubled")
	})

	step("media, attachments and a failed send retried", func(t *testing.T) {
		b.t = t
		var img bytes.Buffer
		pic := image.NewRGBA(image.Rect(0, 0, 120, 80))
		for i := range pic.Pix {
			pic.Pix[i] = uint8(i * 7)
		}
		require.NoError(t, png.Encode(&img, pic))
		e.graph.mu.Lock()
		e.graph.media["MEDIA_PIC"] = img.Bytes()
		e.graph.mu.Unlock()
		code, body := e.webhook(engine.ChannelWhatsApp, fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Maria Lopez"},"wa_id":"%s"}],"messages":[{"from":"%s","id":"wamid.pic","timestamp":"%d","type":"image","image":{"id":"MEDIA_PIC","mime_type":"image/png","caption":"the box arrived like this"}}]}}]}]}`,
			phoneID, maria, maria, time.Now().Unix()))
		require.Equal(t, http.StatusOK, code, string(body))
		b.waitJS("the thumbnail", `(() => { const i = document.querySelector('.msg.in img.thumb'); return i && i.naturalWidth === 120 })()`)
		b.waitJS("the caption", `document.querySelector('#msg-list').textContent.includes('the box arrived like this')`)
		b.clickJS("open the lightbox", ".msg.in img.thumb")
		b.waitJS("the lightbox", `!document.querySelector('#lightbox').hidden && document.querySelector('#lightbox-body img').naturalWidth === 120`)
		b.do("Esc closes it", chromedp.KeyEvent(kb.Escape))
		b.waitJS("no lightbox", `document.querySelector('#lightbox').hidden`)

		doc := filepath.Join(t.TempDir(), "invoice.pdf")
		require.NoError(t, os.WriteFile(doc, []byte("%PDF-1.4 invoice"), 0o644))
		b.do("attach a file", chromedp.SetUploadFiles(chromedp.CSS(`#composer input[type=file]:not([accept])`), []string{doc}))
		b.waitJS("the preview", `!document.querySelector('#modal').hidden && document.querySelector('#modal').textContent.includes('invoice.pdf')`)
		b.do("caption and send", chromedp.SendKeys(chromedp.CSS("#caption"), "your invoice"), chromedp.Click(chromedp.CSS("#modal-ok")))
		var out engine.Message
		eventually(t, 10*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Kind == engine.KindDocument && m.Status == engine.StatusSent {
					out = m
					return nil
				}
			}
			return fmt.Errorf("document not sent yet")
		})
		sel := fmt.Sprintf(`document.querySelector('.msg.out[data-seq="%d"]')`, out.Seq)
		b.waitJS("the document card", sel+`?.dataset.status === 'sent' && `+sel+`.querySelector('a.doc').textContent.includes('invoice.pdf') && `+sel+`.textContent.includes('your invoice') && `+sel+`.querySelector('a.doc').href.startsWith('blob:')`)

		code, body = e.webhook(engine.ChannelWhatsApp, waStatus(out.ChannelMessageID, "failed", time.Now().Unix(), `{"code":131026,"title":"Message undeliverable"}`))
		require.Equal(t, http.StatusOK, code, string(body))
		b.waitJS("the red alert with Retry", sel+`?.dataset.status === 'failed' && `+sel+`.querySelector('.status.failed button.retry')`)
		b.screenshot("desktop-failed")
		b.clickJS("retry", fmt.Sprintf(`.msg.out[data-seq="%d"] button.retry`, out.Seq))
		eventually(t, 10*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Seq == out.Seq && m.Status != engine.StatusSent {
					return fmt.Errorf("status %s %s", m.Status, m.ErrorReason)
				}
			}
			return nil
		})
		b.waitJS("sent again", sel+`?.dataset.status === 'sent'`)
		b.screenshot("desktop")
	})

	step("toggle back to AI", func(t *testing.T) {
		b.t = t
		b.clickJS("click the pill", "#mode-pill")
		b.waitJS("AI mode", `document.querySelector('#mode-pill').dataset.mode === 'ai' && document.querySelector('#composer').textContent.includes('AI is managing')`)
		eventually(t, 5*time.Second, func() error {
			if m := e.conv(conv).Mode; m != engine.ModeAI {
				return fmt.Errorf("mode %s", m)
			}
			return nil
		})
	})

	step("solve and find it in Solved", func(t *testing.T) {
		b.t = t
		b.clickJS("solve", "#act-solve")
		b.waitJS("gone from Open", "!"+rowVisible(conv))
		b.clickJS("open Solved", `.folder[data-folder="solved"]`)
		b.waitJS("in Solved", rowVisible(conv))
		require.Equal(t, engine.FolderSolved, e.conv(conv).Folder)
		b.waitJS("the reopen button", `document.querySelector('#act-solve').title === 'Reopen'`)
	})

	step("search finds it by message text", func(t *testing.T) {
		b.t = t
		// The index follows commits by a few milliseconds.
		eventually(t, 5*time.Second, func() error {
			if n := len(e.search(ownerToken, "order 5521").Hits); n != 1 {
				return fmt.Errorf("%d hits", n)
			}
			return nil
		})
		b.do("type / then the query", chromedp.Click(chromedp.CSS("#chat-name")), chromedp.KeyEvent("/"))
		b.waitJS("focus on search", `document.activeElement.id === 'search'`)
		b.do("query", chromedp.SendKeys(chromedp.CSS("#search"), "ORDER 5521"))
		b.waitJS("the hit", rowVisible(conv))
		b.do("Esc clears", chromedp.KeyEvent(kb.Escape))
		b.waitJS("cleared", `document.querySelector('#search').value === ''`)
	})

	const long = "15551230002"
	var longConv engine.ID
	step("older messages keep the scroll position", func(t *testing.T) {
		b.t = t
		senders := make([]string, 80)
		for i := range senders {
			senders[i] = long
		}
		code, body := e.webhook(engine.ChannelWhatsApp, waBatch("wamid.long", senders,
			func(int) string { return "Long Talker" }, func(i int) string { return fmt.Sprintf("message number %d", i+1) }))
		require.Equal(t, http.StatusOK, code, string(body))
		longConv = e.thread(engine.ChannelWhatsApp, phoneID, long)
		b.clickJS("back to Open", `.folder[data-folder="open"]`)
		// Every live event of the 80 messages is applied before the chat
		// opens, so that the chat shows the newest page only.
		b.waitJS("the events of the 80 messages", fmt.Sprintf(`+(document.querySelector('#conn').dataset.seq || 0) >= %d`, e.rt.Broadcaster().LastSeq(e.ws)))
		b.waitJS("its row", rowVisible(longConv))
		b.clickJS("open it", fmt.Sprintf(`li.conv[data-id="%s"]`, longConv))
		b.waitJS("the newest page", `document.querySelector('#msg-list').textContent.includes('message number 80') && !document.querySelector('#load-older').hidden`)
		eventually(t, 5*time.Second, func() error {
			if n := e.conv(longConv).UnreadCount; n != 0 {
				return fmt.Errorf("unread %d", n)
			}
			return nil
		})
		n0 := evalJS[int](b, `document.querySelectorAll('#msg-list .msg').length`)
		require.Equal(t, 30, n0, evalJS[string](b, `[...document.querySelectorAll('#msg-list .msg')].map(e => e.dataset.seq).join(',')`))

		// Scrolling to the top loads the page before; the message that was
		// at the top stays where it was on screen.
		y0 := evalJS[float64](b, `(() => { const box = document.querySelector('#messages'); box.scrollTop = 0;
			window.__anchor = document.querySelector('#msg-list .msg'); return window.__anchor.getBoundingClientRect().top })()`)
		b.waitJS("the older page", `document.querySelectorAll('#msg-list .msg').length === 60`)
		y1 := evalJS[float64](b, `window.__anchor.getBoundingClientRect().top`)
		require.InDelta(t, y0, y1, 2, "the anchor moved: the scroll position was not kept")
		require.Greater(t, evalJS[float64](b, `document.querySelector('#messages').scrollTop`), 100.0)

		// The button does the same from wherever the view is.
		y0 = evalJS[float64](b, `(() => { const box = document.querySelector('#messages'); box.scrollTop = 300;
			window.__anchor = document.querySelector('#msg-list .msg[data-seq="40"]'); const y = window.__anchor.getBoundingClientRect().top;
			document.querySelector('#load-older').click(); return y })()`)
		b.waitJS("the oldest page", `document.querySelectorAll('#msg-list .msg').length === 80 && document.querySelector('#load-older').hidden`)
		y1 = evalJS[float64](b, `window.__anchor.getBoundingClientRect().top`)
		require.InDelta(t, y0, y1, 2, "the anchor moved after the button")
	})

	step("keyboard moves in the list and opens", func(t *testing.T) {
		b.t = t
		b.do("focus the list", chromedp.Focus(chromedp.CSS("#conv-list")))
		b.do("down, enter", chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter))
		b.waitJS("the focused row opened", `document.querySelector('li.conv.focused') && document.querySelector('li.conv.focused').classList.contains('selected')`)
	})

	step("contact panel", func(t *testing.T) {
		b.t = t
		b.clickJS("open the contact panel", "#act-contact")
		b.waitJS("the panel", `!document.querySelector('#contact-pane').hidden && document.querySelector('#contact-pane').textContent.includes('Profile')`)
		b.do("add a tag", chromedp.SendKeys(chromedp.CSS(`#contact-pane input[aria-label="Add a tag"]`), "vip\r"))
		b.waitJS("the tag", `[...document.querySelectorAll('#contact-pane .tag')].some(t => t.textContent.includes('vip'))`)
		b.screenshot("desktop-contact")
		b.clickJS("close", "#act-contact")
	})

	step("phone width", func(t *testing.T) {
		p := newTab(t, browser) // same origin: the session is in localStorage
		p.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
			chromedp.Navigate(e.url+"/"))
		p.waitJS("the list", `document.body.dataset.ready === 'true' && document.querySelector('#list-pane').offsetWidth > 0`)
		require.Equal(t, 0, evalJS[int](p, `document.querySelector('#chat-pane').offsetWidth`), "the chat is a separate screen")
		p.screenshot("phone-list")
		p.clickJS("open a conversation", fmt.Sprintf(`li.conv[data-id="%s"]`, longConv))
		p.waitJS("the chat screen", `document.querySelector('#chat-pane').offsetWidth === 390 && document.querySelector('#list-pane').offsetWidth === 0 && document.querySelector('#back').offsetWidth > 0`)
		p.waitJS("its messages", `document.querySelector('#msg-list').textContent.includes('message number 80')`)
		p.screenshot("phone")
		p.clickJS("contact sheet", "#act-contact")
		p.waitJS("the sheet", `(() => { const r = document.querySelector('#contact-pane').getBoundingClientRect(); return r.width === 390 && r.bottom === 844 && r.top > 0 })()`)
		p.screenshot("phone-contact")
		p.do("back", chromedp.Click(chromedp.CSS(`#contact-pane button[aria-label="Close"]`)), chromedp.Click(chromedp.CSS("#back")))
		p.waitJS("the list again", `document.querySelector('#list-pane').offsetWidth === 390`)
	})
	step("a contact renamed elsewhere is renamed in the open chat and its row, live", func(t *testing.T) {
		b.t = t
		contact := e.conv(longConv).ContactID
		for _, name := range []string{"Long Talker Jr", "Long Talker"} {
			code, body := e.api("PATCH", "/api/v1/contacts/"+contact.String(), ownerToken, map[string]any{"name": name})
			require.Equal(t, http.StatusOK, code, string(body))
			b.waitJS("the header says "+name, fmt.Sprintf(`document.querySelector('#chat-name').textContent === %q`, name))
			b.waitJS("the row says "+name, fmt.Sprintf(`%s.querySelector('.conv-name').textContent === %q`, rowVisible(longConv), name))
		}
	})
	step("star, then delete with confirmation", func(t *testing.T) {
		b.t = t
		b.clickJS("star", "#act-star")
		b.waitJS("starred", `document.querySelector('#act-star').getAttribute('aria-pressed') === 'true'`)
		eventually(t, 5*time.Second, func() error {
			if !slices.Contains(e.conv(longConv).Tags, engine.PriorityTag) {
				return fmt.Errorf("tags %v", e.conv(longConv).Tags)
			}
			return nil
		})
		b.do("more, delete", chromedp.Click(chromedp.CSS("#act-more")), chromedp.Click(chromedp.CSS(`#more-menu [data-act="delete"]`)))
		b.waitJS("the confirmation", `!document.querySelector('#modal').hidden && document.querySelector('#modal-body').textContent.includes('Delete the chat with Long Talker')`)
		b.clickJS("cancel", "#modal-cancel")
		require.Equal(t, "Long Talker", e.conv(longConv).ContactName)
		b.do("more, delete, confirm", chromedp.Click(chromedp.CSS("#act-more")), chromedp.Click(chromedp.CSS(`#more-menu [data-act="delete"]`)),
			chromedp.Click(chromedp.CSS("#modal-ok")))
		b.waitJS("gone", "!"+rowVisible(longConv)+` && !document.querySelector('#chat-empty').hidden`)
		code, _ := e.api("GET", "/api/v1/conversations/"+longConv.String(), ownerToken, nil)
		require.Equal(t, http.StatusNotFound, code)
	})

}
