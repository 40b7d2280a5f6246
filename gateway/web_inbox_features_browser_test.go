package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/stretchr/testify/require"
)

// The inbox features of issue 16 that the seeds ask for, each driven in
// headless Chromium against a real Parley, the result checked through
// the API.

// folderEventually waits until the stored conversation is in folder.
func (e *env) folderEventually(t *testing.T, conv engine.ID, folder engine.Folder) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if f := e.conv(conv).Folder; f != folder {
			return fmt.Errorf("folder %s, want %s", f, folder)
		}
		return nil
	})
}

// widths are the screens each feature is tried at: a desktop's and a
// phone's.
var widths = []struct {
	name  string
	w, h  int64
	phone bool
}{{"desktop", 1440, 900, false}, {"phone", 390, 844, true}}

// atEachWidth runs f as a subtest at each of widths (i its index,
// screen its name), with b resized so; on a phone it goes back to the
// list after.
func (b *tab) atEachWidth(t *testing.T, name string, f func(t *testing.T, i int, screen string)) {
	for i, w := range widths {
		t.Run(name+" at "+w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			f(t, i, w.name)
			if w.phone {
				b.clickJS("back to the list", "#back")
			}
		})
	}
}

// key presses key on whatever has the focus.
func (b *tab) key(key string) {
	b.t.Helper()
	b.do("press "+key, chromedp.KeyEvent(key))
}

// blur takes the focus off any text field, as a click on the page would.
func (b *tab) blur() {
	b.t.Helper()
	evalJS[bool](b, `(document.activeElement && document.activeElement.blur(), true)`)
}

func TestWebInboxMenuAndShortcuts(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	var convs []engine.ID
	for i, name := range []string{"Ada Archive", "Sam Spam", "Kim Keys"} {
		wa := fmt.Sprintf("1555333000%d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.k"+wa, wa, name, "hello from "+name))
		require.Equal(t, http.StatusOK, code, string(body))
		id := e.thread(engine.ChannelWhatsApp, phoneID, wa)
		b.waitJS("the row of "+name, rowVisible(id))
		convs = append(convs, id)
	}
	ada, sam, kim := convs[0], convs[1], convs[2] // the list shows Kim, Sam, Ada

	// menu picks an entry of the chat header's menu by its label.
	menu := func(t *testing.T, label string) {
		t.Helper()
		b.clickJS("the menu", "#act-more")
		b.waitJS("the menu entry "+label, fmt.Sprintf(`!document.querySelector('#more-menu').hidden && [...document.querySelectorAll('#more-menu button')].some(x => x.textContent === %q && !x.hidden)`, label))
		b.clickJS(label, fmt.Sprintf(`#more-menu button[data-act=%s]`, map[string]string{
			"Move to Spam": "spam", "Not spam": "spam", "Archive": "archive", "Unarchive": "archive"}[label]))
	}

	for _, w := range widths {
		t.Run("the conversation menu moves to spam and archive and back at "+w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			if w.phone {
				b.clickJS("back to the list", "#back")
			}
			b.openConv(sam)
			menu(t, "Move to Spam")
			e.folderEventually(t, sam, engine.FolderSpam)
			b.waitJS("the row gone from Open", `!`+rowVisible(sam))
			menu(t, "Not spam")
			e.folderEventually(t, sam, engine.FolderOpen)
			menu(t, "Archive")
			e.folderEventually(t, sam, engine.FolderArchived)
			b.clickJS("the menu", "#act-more")
			b.waitJS("Unarchive offered", `document.querySelector('#more-menu [data-act=archive]').textContent === 'Unarchive'`)
			b.screenshot("inbox-menu-" + w.name)
			b.clickJS("Unarchive", "#more-menu [data-act=archive]")
			e.folderEventually(t, sam, engine.FolderOpen)
		})
	}

	t.Run("keyboard shortcuts act on the open conversation", func(t *testing.T) {
		b.t = t
		b.viewport(1440, 900, false)
		b.openConv(ada)
		b.blur()
		for _, s := range []struct {
			key    string
			folder engine.Folder
		}{{"e", engine.FolderArchived}, {"e", engine.FolderOpen}, {"!", engine.FolderSpam}, {"!", engine.FolderOpen},
			{"r", engine.FolderSolved}, {"r", engine.FolderOpen}} {
			b.key(s.key)
			e.folderEventually(t, ada, s.folder)
			b.waitJS("the header in step", fmt.Sprintf(`document.querySelector('#more-menu [data-act=archive]').textContent === %q && document.querySelector('#act-solve').title === %q`,
				map[bool]string{true: "Unarchive", false: "Archive"}[s.folder == engine.FolderArchived],
				map[bool]string{true: "Reopen", false: "Mark as solved"}[s.folder == engine.FolderSolved]))
		}

		// k opens the conversation above (newer), j the one below.
		b.waitJS("the list back to Kim, Sam, Ada", fmt.Sprintf(`JSON.stringify(%s) === JSON.stringify([%q, %q, %q])`, rowIDs, kim, sam, ada))
		b.key("k")
		b.waitJS("Sam's chat", fmt.Sprintf(`location.hash === '#c/%s' && document.querySelector('#chat-name').textContent === 'Sam Spam'`, sam))
		b.key("k")
		b.waitJS("Kim's chat", fmt.Sprintf(`location.hash === '#c/%s'`, kim))
		b.key("j")
		b.key("j")
		b.waitJS("Ada's chat", fmt.Sprintf(`location.hash === '#c/%s' && document.querySelector('#chat-name').textContent === 'Ada Archive'`, ada))

		// c focuses the composer (manual mode has one).
		code, body := e.api("POST", "/api/v1/conversations/"+ada.String()+"/takeover", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		b.waitJS("the composer", `document.querySelector('#compose')`)
		b.blur()
		b.key("c")
		b.waitJS("the composer focused", `document.activeElement && document.activeElement.id === 'compose'`)

		// Typing in a text field is not a shortcut: no request leaves (but
		// the reading of the chat opened).
		evalJS[bool](b, `(() => { window.__posts = []; const f = window.fetch; window.fetch = (u, o) => { if (o && o.method !== 'GET' && !String(u).endsWith('/read')) window.__posts.push(String(u)); return f(u, o); }; return true; })()`)
		b.do("type in the composer", chromedp.KeyEvent("era!"))
		evalJS[bool](b, `(document.querySelector('#search').focus(), true)`)
		b.do("type in the search box", chromedp.KeyEvent("rep"))
		require.Empty(t, evalJS[[]string](b, `window.__posts`), "letters typed into fields ran shortcuts")
		require.Equal(t, "era!", evalJS[string](b, `document.querySelector('#compose').value`))
		require.Equal(t, engine.FolderOpen, e.conv(ada).Folder)
		b.key(kb.Escape)
		b.blur()

		// p shows and hides the contact panel.
		b.key("p")
		b.waitJS("the contact panel", `!document.querySelector('#contact-pane').hidden`)
		b.key("p")
		b.waitJS("the contact panel hidden", `document.querySelector('#contact-pane').hidden`)

		// ? lists every shortcut; Esc closes the sheet.
		b.key("?")
		b.waitJS("the cheat sheet", `document.querySelector('#shortcuts') && !document.querySelector('#shortcuts').hidden`)
		got := evalJS[[]string](b, `[...document.querySelectorAll('#shortcuts dt')].map(d => d.textContent)`)
		require.Equal(t, []string{"J", "K", "R", "E", "W", "!", "C", "P", "/", "↑↓", "Enter", "Esc", "?"}, got)
		require.Equal(t, "dialog", evalJS[string](b, `document.querySelector('#shortcuts').getAttribute('role')`))
		b.screenshot("inbox-shortcuts-desktop")
		b.key(kb.Escape)
		b.waitJS("the sheet closed", `document.querySelector('#shortcuts').hidden`)
		require.Equal(t, "", evalJS[string](b, `document.querySelector('#contact-pane').hidden ? '' : 'open'`), "Esc closed the sheet only")
	})
}

// newAIEnvAt is newAIEnv on a fake clock set at start.
func newAIEnvAt(t *testing.T, clock clockwork.Clock) *env {
	return newEnv(t, func(c *actors.Config) {
		reg, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents = reg
		c.AIDebounce = -1
		c.Clock = clock
	})
}

// rowIDs is a JS expression: the ids of the list's rows, in order.
const rowIDs = `[...document.querySelectorAll('#conv-list li.conv')].map(r => r.dataset.id)`

// ids are the ids of the conversations of a list answer.
func ids(r listResp) []engine.ID {
	out := []engine.ID{}
	for _, c := range r.Conversations {
		out = append(out, c.ID)
	}
	return out
}

// setSelect picks value in the list's select named label, as a person does.
func (b *tab) setSelect(label, value string) {
	b.t.Helper()
	b.waitJS("the "+label+" select", fmt.Sprintf(`(() => { const s = document.querySelector('#filters select[aria-label=%q]'); if (!s) return false; s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, label, value))
}

func TestWebInboxModePeriodAndNeedsHuman(t *testing.T) {
	browser := startBrowser(t)
	clock := clockwork.NewFakeClockAt(time.Now().Add(-72 * time.Hour))
	ai := newFakeAI(t)
	e := newAIEnvAt(t, clock)
	e.useWebhookAgent(ai)
	reply := func(int) (int, string, time.Duration) { return 200, `{"reply":"Sure","reasoning":"a greeting"}`, 0 }
	handoff := func(int) (int, string, time.Duration) { return 200, `{"handoff":"wants a refund"}`, 0 }
	// customer writes from wa and waits until the AI answered or handed off.
	customer := func(wa, name, text string) engine.ID {
		t.Helper()
		clock.Advance(time.Second) // no two conversations share an instant
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.f"+wa+text, wa, name, text))
		require.Equal(t, http.StatusOK, code, string(body))
		id := e.thread(engine.ChannelWhatsApp, phoneID, wa)
		eventually(t, 5*time.Second, func() error {
			if c := e.conv(id); c.FirstReplyAt.IsZero() && !c.NeedsHuman {
				return fmt.Errorf("no answer yet")
			}
			return nil
		})
		return id
	}
	ai.set(reply)
	olga := customer("15554440001", "Olga Old", "hello")
	clock.Advance(72 * time.Hour)
	ai.set(handoff)
	hana := customer("15554440002", "Hana Handoff", "refund please")
	ai.set(reply)
	ivo := customer("15554440003", "Ivo AI", "hi")
	mia := customer("15554440004", "Mia Manual", "hi")
	code, body := e.api("POST", "/api/v1/conversations/"+mia.String()+"/takeover", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))

	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for _, id := range []engine.ID{olga, hana, ivo, mia} {
		b.waitJS("every row", rowVisible(id))
	}

	// rowsAre waits until the list shows, in the API's order, what the
	// API lists for query, which must be the conversations want.
	rowsAre := func(t *testing.T, query string, want ...engine.ID) {
		t.Helper()
		got := ids(e.list(query))
		require.ElementsMatch(t, want, got, query)
		js, err := json.Marshal(got)
		require.NoError(t, err)
		b.waitJS("the rows of "+query, fmt.Sprintf(`JSON.stringify(%s) === %s`, rowIDs, jsString(string(js))))
	}

	for _, w := range widths {
		t.Run("filters at "+w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			b.waitJS("the marker on Hana's row only", fmt.Sprintf(`%s?.querySelector('.marker.needs-human') && document.querySelectorAll('#conv-list .marker.needs-human').length === 1`, rowVisible(hana)))
			b.clickJS("Needs a human", `#filters [data-filter=needs-human]`)
			rowsAre(t, "needs_human=true", hana)
			b.screenshot("inbox-needs-human-" + w.name)
			b.clickJS("Needs a human off", `#filters [data-filter=needs-human]`)
			b.setSelect("Mode", "manual")
			rowsAre(t, "mode=manual", hana, mia)
			b.setSelect("Mode", "ai")
			rowsAre(t, "mode=ai", ivo, olga)
			b.setSelect("Mode", "")
			b.setSelect("Period", "today")
			rowsAre(t, "period=today", hana, ivo, mia)
			b.setSelect("Period", "week")
			rowsAre(t, "period=week", hana, ivo, mia, olga)
			b.setSelect("Period", "")
			rowsAre(t, "", hana, ivo, mia, olga)
		})
	}

	t.Run("a handoff shows live under the filter, and leaves it when a person replies", func(t *testing.T) {
		b.t = t
		b.clickJS("Needs a human", `#filters [data-filter=needs-human]`)
		rowsAre(t, "needs_human=true", hana)
		ai.set(handoff)
		nils := customer("15554440005", "Nils Next", "I want a person")
		b.waitJS("Nils live, marked", fmt.Sprintf(`%s?.querySelector('.marker.needs-human')`, rowVisible(nils)))
		rowsAre(t, "needs_human=true", hana, nils)
		code, body := e.api("POST", "/api/v1/conversations/"+hana.String()+"/messages", ownerToken, map[string]string{"text": "On it"})
		require.Equal(t, http.StatusCreated, code, string(body))
		b.waitJS("Hana gone", `!`+rowVisible(hana))
		rowsAre(t, "needs_human=true", nils)
		b.clickJS("Needs a human off", `#filters [data-filter=needs-human]`)
	})

	t.Run("a system message names the person who acted", func(t *testing.T) {
		b.t = t
		b.openConv(mia)
		b.waitJS("Taken over · You", `[...document.querySelectorAll('#msg-list .system-event')].some(s => s.textContent.includes('Taken over · You'))`)
	})
}

func TestWebInboxFollowUpBannerAndMarkers(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "follow-up banner with Cancel and row markers", func(t *testing.T, i int, screen string) {
		wa := fmt.Sprintf("1555555000%d", i)
		conv := e.writes(t, wa, "Fiona Followup", "call me later")
		b.waitJS("the row", rowVisible(conv))
		require.Equal(t, 0, evalJS[int](b, fmt.Sprintf(`%s.querySelectorAll('.marker').length`, rowVisible(conv))))
		code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/followup", ownerToken, map[string]string{"preset": "3h"})
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/csat", ownerToken, map[string]int{"score": 4})
		require.Equal(t, http.StatusOK, code, string(body))
		b.waitJS("the follow-up and CSAT markers", fmt.Sprintf(`%[1]s?.querySelector('.marker.followup') && %[1]s.querySelector('.marker.csat')?.textContent === '★ 4'`, rowVisible(conv)))
		at := e.conv(conv).FollowUpAt
		require.False(t, at.IsZero())
		label := evalJS[string](b, fmt.Sprintf(`%s.querySelector('.marker.followup').getAttribute('aria-label')`, rowVisible(conv)))
		require.Contains(t, label, "Follow-up ")
		b.openConv(conv)
		b.waitJS("the banner", `!document.querySelector('#followup-banner').hidden && document.querySelector('#followup-banner time')`)
		require.Equal(t, at.UTC(), parseTime(t, evalJS[string](b, `document.querySelector('#followup-banner time').getAttribute('datetime')`)))
		b.screenshot("inbox-followup-" + screen)
		b.clickJS("Cancel", "#followup-cancel")
		b.waitJS("the banner gone", `document.querySelector('#followup-banner').hidden`)
		eventually(t, 5*time.Second, func() error {
			if !e.conv(conv).FollowUpAt.IsZero() {
				return fmt.Errorf("follow-up still scheduled")
			}
			return nil
		})
		b.waitJS("the row's follow-up marker gone, the CSAT kept", fmt.Sprintf(`%[1]s && !%[1]s.querySelector('.marker.followup') && %[1]s.querySelector('.marker.csat')`, rowVisible(conv)))
	})
}

// writes has the WhatsApp customer wa send text, and returns the
// conversation.
func (e *env) writes(t *testing.T, wa, name, text string) engine.ID {
	t.Helper()
	code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.%s.%d", wa, time.Now().UnixNano()), wa, name, text))
	require.Equal(t, http.StatusOK, code, string(body))
	return e.thread(engine.ChannelWhatsApp, phoneID, wa)
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, s)
	return v.UTC()
}

func TestWebInboxAIReasoning(t *testing.T) {
	browser := startBrowser(t)
	ai := newFakeAI(t)
	e := newAIEnv(t)
	e.useWebhookAgent(ai)
	const why = "The customer asks about delivery; the shipping policy says 2 days.\nSo: answer with the policy."
	ai.set(func(int) (int, string, time.Duration) {
		return 200, fmt.Sprintf(`{"reply":"Shipping takes 2 days.","reasoning":%q}`, why), 0
	})
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "the reasoning folds out under the AI's message", func(t *testing.T, i int, screen string) {
		wa := fmt.Sprintf("1555666000%d", i)
		conv := e.writes(t, wa, "Rhea Reason", "when will it arrive?")
		var seq uint64
		eventually(t, 5*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Sender.Kind == engine.SenderAI && m.Reasoning == why {
					seq = m.Seq
					return nil
				}
			}
			return fmt.Errorf("no AI message with its reasoning")
		})
		b.waitJS("the row", rowVisible(conv))
		b.openConv(conv)
		sel := fmt.Sprintf(`#msg-list .msg.ai[data-seq="%d"]`, seq)
		b.waitJS("the AI message with its reasoning folded", fmt.Sprintf(`document.querySelector('%s details.reasoning') && !document.querySelector('%[1]s details.reasoning').open`, sel))
		require.Empty(t, evalJS[string](b, fmt.Sprintf(`document.querySelector('%s').title`, sel)), "not a tooltip")
		require.False(t, evalJS[bool](b, fmt.Sprintf(`document.querySelector('%s details.reasoning p').checkVisibility()`, sel)))
		b.clickJS("unfold it", sel+" details.reasoning summary")
		b.waitJS("the reasoning shown", fmt.Sprintf(`document.querySelector('%s details.reasoning p').checkVisibility()`, sel))
		require.Equal(t, why, evalJS[string](b, fmt.Sprintf(`document.querySelector('%s details.reasoning p').textContent`, sel)))
		b.screenshot("inbox-reasoning-" + screen)
	})
}

// waReaction is a WhatsApp reaction webhook from wa on the message target.
func waReaction(wamid, wa, target, emoji string) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Lena Links"},"wa_id":"%s"}],"messages":[{"from":"%s","id":"%s","timestamp":"1750000000","type":"reaction","reaction":{"message_id":"%s","emoji":%q}}]}}]}]}`,
		phoneID, wa, wa, wamid, target, emoji)
}

func TestWebInboxLinksReactionsAndFailures(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "links, reactions and a failed send's reason", func(t *testing.T, i int, screen string) {
		wa := fmt.Sprintf("1555777000%d", i)
		conv := e.writes(t, wa, "Lena Links", `see https://example.com/a?b=1&c=(2), or www.example.org. Not javascript:alert(1) nor data:text/html,<b>x</b> nor <a href="javascript:alert(2)">this</a>; mail mailto:sales@example.com or call tel:+15551234!`)
		b.waitJS("the row", rowVisible(conv))
		b.openConv(conv)
		b.waitJS("the links", `document.querySelectorAll('#msg-list .msg.in .text a').length > 0`)
		type link struct{ Href, Text, Target, Rel string }
		links := evalJS[[]link](b, `[...document.querySelectorAll('#msg-list a')].filter(a => !a.classList.contains('doc')).map(a => ({Href: a.getAttribute('href'), Text: a.textContent, Target: a.target, Rel: a.rel}))`)
		require.Equal(t, []link{
			{"https://example.com/a?b=1&c=(2)", "https://example.com/a?b=1&c=(2)", "_blank", "noopener noreferrer"},
			{"https://www.example.org/", "www.example.org", "_blank", "noopener noreferrer"},
			{"mailto:sales@example.com", "mailto:sales@example.com", "_blank", "noopener noreferrer"},
			{"tel:+15551234", "tel:+15551234", "_blank", "noopener noreferrer"},
		}, links)
		require.Contains(t, evalJS[string](b, `document.querySelector('#msg-list .msg.in .text').textContent`), `<a href="javascript:alert(2)">this</a>`, "markup stays text")

		// The customer reacts to our reply: the emoji shows on it, not as
		// a message of its own; taking it off takes it away.
		code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/takeover", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "Here is your order"})
		require.Equal(t, http.StatusCreated, code, string(body))
		var reply engine.Message
		eventually(t, 5*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Text == "Here is your order" && m.ChannelMessageID != "" {
					reply = m
					return nil
				}
			}
			return fmt.Errorf("reply not sent yet")
		})
		code, body = e.webhook(engine.ChannelWhatsApp, waReaction("wamid.react."+wa, wa, reply.ChannelMessageID, "❤️"))
		require.Equal(t, http.StatusOK, code, string(body))
		sel := fmt.Sprintf(`#msg-list .msg.out[data-seq="%d"]`, reply.Seq)
		b.waitJS("the heart on the reply", fmt.Sprintf(`document.querySelector('%s .reactions')?.textContent === '❤️'`, sel))
		require.Equal(t, 0, evalJS[int](b, `document.querySelectorAll('#msg-list .msg[data-kind=reaction]').length`), "no bubble of its own")
		reactions := 0
		for _, m := range e.messages(conv) {
			if m.Kind == engine.KindReaction {
				reactions++
				require.Equal(t, reply.ChannelMessageID, m.Reaction.TargetChannelMessageID)
			}
		}
		require.Equal(t, 1, reactions, "stored as a message of its own")
		b.screenshot("inbox-reaction-" + screen)
		code, body = e.webhook(engine.ChannelWhatsApp, waReaction("wamid.unreact."+wa, wa, reply.ChannelMessageID, ""))
		require.Equal(t, http.StatusOK, code, string(body))
		b.waitJS("the heart gone", fmt.Sprintf(`document.querySelector('%[1]s') && !document.querySelector('%[1]s .reactions')`, sel))

		// A send the channel refuses says why under the message, with Retry.
		e.graph.mu.Lock()
		e.graph.send = func(graphReq) (int, string) {
			return http.StatusBadRequest, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"details":"More than 24 hours have passed since the customer last replied."}}}`
		}
		e.graph.mu.Unlock()
		code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "Are you there?"})
		require.Equal(t, http.StatusCreated, code, string(body))
		var failed engine.Message
		eventually(t, 10*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Text == "Are you there?" && m.Status == engine.StatusFailed {
					failed = m
					return nil
				}
			}
			return fmt.Errorf("not failed yet")
		})
		require.NotEmpty(t, failed.ErrorReason)
		fsel := fmt.Sprintf(`#msg-list .msg.out[data-seq="%d"]`, failed.Seq)
		b.waitJS("the reason under the message", fmt.Sprintf(`document.querySelector('%s .send-error')?.checkVisibility()`, fsel))
		require.Equal(t, "Not sent: "+failed.ErrorReason, evalJS[string](b, fmt.Sprintf(`document.querySelector('%s .send-error span').textContent`, fsel)))
		b.screenshot("inbox-failed-" + screen)
		e.graph.mu.Lock()
		e.graph.send = nil
		e.graph.mu.Unlock()
		b.clickJS("Retry", fsel+" .send-error button.retry")
		eventually(t, 10*time.Second, func() error {
			for _, m := range e.messages(conv) {
				if m.Seq == failed.Seq && m.Status != engine.StatusFailed && m.Status != engine.StatusSending {
					return nil
				}
			}
			return fmt.Errorf("not sent again")
		})
		b.waitJS("the reason gone", fmt.Sprintf(`document.querySelector('%[1]s') && !document.querySelector('%[1]s .send-error')`, fsel))
	})
}
