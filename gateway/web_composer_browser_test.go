package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// manualConv has wa write to the business, takes the conversation over
// through the API and opens it in b, its composer ready.
func (b *tab) manualConv(t *testing.T, e *env, wa, name string) engine.ID {
	t.Helper()
	conv := e.writes(t, wa, name, "hello from "+name)
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/takeover", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	b.waitJS("the row", rowVisible(conv))
	b.openConv(conv)
	b.waitJS("the composer", `document.querySelector('#compose') && document.querySelector('#mode-reply')`)
	return conv
}

// enter presses Enter as a keyboard does: one keyDown that carries its
// text, so that a page that prevents the keydown's default gets no line
// break (kb.Enter sends the text as a separate char event, which the
// page cannot prevent).
func (b *tab) enter() {
	b.t.Helper()
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r"}
	up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
	b.do("press Enter", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, up)
		return err
	}))
}

// typeInComposer focuses the message box and types text key by key.
func (b *tab) typeInComposer(text string) {
	b.t.Helper()
	evalJS[bool](b, `(document.querySelector('#compose').focus(), true)`)
	b.do("type "+text, chromedp.KeyEvent(text))
}

func (e *env) notesOf(t *testing.T, conv engine.ID) []engine.Note {
	t.Helper()
	code, body := e.api("GET", "/api/v1/contacts/"+e.conv(conv).ContactID.String()+"/notes", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var notes struct{ Notes []engine.Note }
	require.NoError(t, json.Unmarshal(body, &notes))
	return notes.Notes
}

// Typing @ in the composer opens the teammate picker; the keyboard picks
// one, which puts their handle in and turns the composer to Note; Enter
// posts the internal note: stored with the mention, the teammate's
// WebSocket gets note.mentioned, and nothing goes to the customer.
func TestWebComposerMention(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	maria := e.addUser("maria.lopez@example.com", engine.RoleAgent, "correct horse battery")
	e.addUser("mario@example.com", engine.RoleAgent, "correct horse battery")
	mariaWS := e.events("token=" + maria.Token)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "@mention", func(t *testing.T, i int, screen string) {
		conv := b.manualConv(t, e, fmt.Sprintf("1555888000%d", i), fmt.Sprintf("Men Tion %d", i))
		sends := len(e.graph.requests("/messages"))
		require.Equal(t, "true", evalJS[string](b, `document.querySelector('#mode-reply').getAttribute('aria-pressed')`))

		b.typeInComposer("Can you check this @mar")
		b.waitJS("the teammate picker", `!document.querySelector('#compose-picker').hidden && document.querySelectorAll('#compose-picker [role=option]').length === 2`)
		require.Equal(t, "compose-picker", evalJS[string](b, `document.querySelector('#compose').getAttribute('aria-controls')`))
		require.Equal(t, "Teammates to mention", evalJS[string](b, `document.querySelector('#compose-picker').getAttribute('aria-label')`))
		b.screenshot("composer-mention-" + screen)
		// Narrowed as typed: "mari" still both, "maria" only Maria.
		b.do("narrow", chromedp.KeyEvent("ia"))
		b.waitJS("only Maria", `document.querySelectorAll('#compose-picker [role=option]').length === 1`)
		active := evalJS[string](b, `document.querySelector('#compose').getAttribute('aria-activedescendant')`)
		require.Equal(t, "true", evalJS[string](b, `document.getElementById(`+jsString(active)+`).getAttribute('aria-selected')`))
		b.key(kb.ArrowDown) // wraps round the one option
		b.enter()
		b.waitJS("the handle in, Note mode on", `document.querySelector('#compose').value === 'Can you check this @maria.lopez ' &&
			document.querySelector('#mode-note').getAttribute('aria-pressed') === 'true' && document.querySelector('#composer').dataset.compose === 'note'`)
		require.True(t, evalJS[bool](b, `document.querySelector('#compose-picker').hidden`), "Enter picked, it did not send")
		require.Equal(t, "Add note", evalJS[string](b, `document.querySelector('#composer .send').getAttribute('aria-label')`))
		b.do("finish the note", chromedp.KeyEvent("please"))
		b.screenshot("composer-note-" + screen)
		b.enter()
		b.waitJS("the box emptied", `document.querySelector('#compose').value === ''`)

		var note engine.Note
		eventually(t, 10*time.Second, func() error {
			notes := e.notesOf(t, conv)
			if len(notes) != 1 {
				return fmt.Errorf("%d notes", len(notes))
			}
			note = notes[0]
			return nil
		})
		require.Equal(t, "Can you check this @maria.lopez please", note.Text)
		require.Equal(t, []engine.ID{maria.User.ID}, note.Mentions)
		require.NotNil(t, note.ConversationID)
		require.Equal(t, conv, *note.ConversationID)
		ev := mariaWS.until("note.mentioned")
		require.Contains(t, string(ev.Data), note.ID.String())

		// The mention never went to the customer.
		require.Len(t, e.graph.requests("/messages"), sends)
		for _, m := range e.messages(conv) {
			require.NotEqual(t, engine.DirOut, m.Direction, "a message went out: %q", m.Text)
		}

		// Escape closes the picker and leaves the text as typed.
		b.typeInComposer("@ma")
		b.waitJS("the picker", `!document.querySelector('#compose-picker').hidden`)
		b.key(kb.Escape)
		b.waitJS("closed", `document.querySelector('#compose-picker').hidden && document.querySelector('#compose').value === '@ma'`)
		// A click picks too.
		b.do("more", chromedp.KeyEvent("r"))
		b.waitJS("the picker again", `document.querySelectorAll('#compose-picker [role=option]').length === 2`)
		b.clickJS("click Mario", `#compose-picker [role=option]:nth-child(2)`)
		b.waitJS("Mario's handle", `document.querySelector('#compose').value === '@mario '`)
		evalJS[bool](b, `(() => { const ta = document.querySelector('#compose'); ta.value = ''; ta.dispatchEvent(new Event('input')); return true; })()`)
		b.clickJS("back to Reply", "#mode-reply")

		// While the AI answers, a note (and its mention) needs no takeover.
		aiConv := e.writes(t, fmt.Sprintf("1555888100%d", i), fmt.Sprintf("Ai Note %d", i), "hello")
		if widths[i].phone {
			b.clickJS("back to the list", "#back")
		}
		b.waitJS("its row", rowVisible(aiConv))
		b.openConv(aiConv)
		b.clickJS("write a note", "#ai-note")
		b.waitJS("a notes-only composer", `document.activeElement && document.activeElement.id === 'compose' && document.querySelector('#mode-reply').hidden &&
			document.querySelector('#composer').dataset.compose === 'note' && document.querySelector('#composer').textContent.includes('AI is managing this conversation')`)
		b.typeInComposer("FYI @maria")
		b.waitJS("the picker", `document.querySelectorAll('#compose-picker [role=option]').length === 1`)
		b.enter()
		b.do("finish", chromedp.KeyEvent("look"))
		b.enter()
		eventually(t, 10*time.Second, func() error {
			if notes := e.notesOf(t, aiConv); len(notes) != 1 || notes[0].Text != "FYI @maria.lopez look" || len(notes[0].Mentions) != 1 {
				return fmt.Errorf("notes %+v", notes)
			}
			return nil
		})
		require.Contains(t, string(mariaWS.until("note.mentioned").Data), "FYI @maria.lopez look")
		require.Equal(t, engine.ModeAI, e.conv(aiConv).Mode, "the AI still answers")
		require.Len(t, e.graph.requests("/messages"), sends)
		b.clickJS("close the note", "#ai-note-close")
		b.waitJS("the banner back", `document.querySelector('#ai-note') && !document.querySelector('#compose')`)
	})
}

// A canned reply typed as /code at the start of the composer, or chosen
// with the picker button, is inserted with its variables filled in
// (unknown ones left visible), and what is sent is that text.
func TestWebComposerCannedReply(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	const body = "Hi {{contact.first_name}}, {{ agent.name }} from {{workspace.name}} here ({{contact.email}}|{{contact.phone}}|{{contact.name}}) {{order.id}}"
	for _, r := range [][3]string{{"greet", "Greeting", body}, {"bye", "Goodbye", "Bye {{agent.first_name}}!"}, {"greeting-long", "Long greeting", "Hello there"}} {
		code, resp := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{"short_code": r[0], "title": r[1], "body": r[2]})
		require.Equal(t, http.StatusCreated, code, string(resp))
	}
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)

	// expand, the pure function, on its own.
	require.Equal(t, "Hi Ana, Bo here. {{nope.x}} {{contact.email}}",
		evalJS[string](b, `import('/js/canned.js').then(m => m.expand('Hi {{contact.first_name}}, {{agent.first_name}} here. {{nope.x}} {{contact.email}}',
			{ ...m.varsOf({ contact: { name: 'Ana Ruiz' }, agent: { name: 'Bo Li' } }), 'contact.email': '{{contact.email}}' }))`),
		"a value is never expanded again")
	require.Equal(t, "Hi , ", evalJS[string](b, `import('/js/canned.js').then(m => m.expand('Hi {{contact.first_name}}, {{workspace.name}}', m.varsOf({})))`))

	b.atEachWidth(t, "canned replies", func(t *testing.T, i int, screen string) {
		wa := fmt.Sprintf("1555999000%d", i)
		name := fmt.Sprintf("Carla Canned%d", i)
		conv := b.manualConv(t, e, wa, name)
		code, resp := e.api("GET", "/api/v1/contacts/"+e.conv(conv).ContactID.String(), ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(resp))
		var ct engine.Contact
		require.NoError(t, json.Unmarshal(resp, &ct))
		require.Equal(t, name, ct.Profile.Name)
		want := fmt.Sprintf("Hi Carla, Owner from Default here (|%s|%s) {{order.id}}", ct.Profile.Phone, name)

		b.typeInComposer("/gre")
		b.waitJS("the canned picker", `!document.querySelector('#compose-picker').hidden && document.querySelector('#compose-picker').dataset.kind === 'canned'`)
		require.Equal(t, []string{"/greet", "/greeting-long"}, evalJS[[]string](b, `[...document.querySelectorAll('#compose-picker [role=option] .picker-main')].map(x => x.textContent)`))
		b.screenshot("composer-canned-" + screen)
		b.enter()
		b.waitJS("the reply inserted, expanded", `document.querySelector('#compose').value === `+jsString(want))
		require.Equal(t, "reply", evalJS[string](b, `document.querySelector('#composer').dataset.compose`))
		b.enter()
		eventually(t, 10*time.Second, func() error {
			for _, r := range e.graph.requests("/messages") {
				var sent struct{ Text struct{ Body string } }
				if json.Unmarshal(r.Body, &sent) == nil && sent.Text.Body == want {
					return nil
				}
			}
			return fmt.Errorf("the Graph API has not seen %q", want)
		})

		// The picker button: search, arrows, Enter, at the caret.
		b.typeInComposer("Thanks. ")
		b.clickJS("the canned reply button", "#canned-open")
		b.waitJS("the popup", `document.activeElement && document.activeElement.id === 'canned-search' && document.querySelectorAll('#canned-list [role=option]').length === 3`)
		require.Equal(t, "combobox", evalJS[string](b, `document.querySelector('#canned-search').getAttribute('role')`))
		b.do("search", chromedp.KeyEvent("gr"))
		b.waitJS("two left", `document.querySelectorAll('#canned-list [role=option]').length === 2`)
		b.key(kb.ArrowDown)
		b.key(kb.ArrowDown) // round to the first again
		b.key(kb.ArrowUp)   // round back to the last: /greeting-long
		b.enter()
		b.waitJS("inserted at the caret", `!document.querySelector('#canned-popover') && document.querySelector('#compose').value === 'Thanks. Hello there' && document.activeElement.id === 'compose'`)
		// Escape closes the popup and changes nothing.
		b.clickJS("the canned reply button", "#canned-open")
		b.waitJS("the popup", `document.activeElement && document.activeElement.id === 'canned-search'`)
		b.key(kb.Escape)
		b.waitJS("closed", `!document.querySelector('#canned-popover') && document.querySelector('#compose').value === 'Thanks. Hello there'`)
		evalJS[bool](b, `(() => { const ta = document.querySelector('#compose'); ta.value = ''; ta.dispatchEvent(new Event('input')); return true; })()`)
	})
}

// Settings › Canned replies: an owner adds, edits and deletes replies
// (checked through the API), a taken short code is refused with a
// message; an agent sees the list with nothing to change.
func TestWebComposerCannedSettings(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "settings", func(t *testing.T, i int, screen string) {
		b.do("open the section", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/canned'`))
		b.waitJS("the form", `document.querySelector('#settings-main .settings-section[data-section=canned] form.canned-form')`)
		code := fmt.Sprintf("thanks%d", i)
		b.fill("#canned-code", code)
		b.fill("#canned-title", "Thank you")
		b.fill("#canned-body", "Thanks ")
		evalJS[bool](b, `(() => { const ta = document.querySelector('#canned-body'); ta.focus(); ta.setSelectionRange(7, 7); return true; })()`)
		b.clickJS("insert {{contact.first_name}}", `.canned-var-btns button[aria-label^="Insert {{contact.first_name}}"]`)
		b.clickJS("add", `form.canned-form button[type=submit]`)
		b.waitJS("listed", fmt.Sprintf(`document.querySelector('#canned-replies li.canned-reply[data-code=%q]')`, code))
		b.noOverflow(int(widths[i].w))
		b.screenshot("settings-canned-" + screen)
		got := e.cannedReplies(ownerToken)
		require.Len(t, got, 1)
		require.Equal(t, code, got[0].ShortCode)
		require.Equal(t, "Thanks {{contact.first_name}}", got[0].Body)

		// A taken short code says so, and adds nothing.
		b.fill("#canned-code", code)
		b.fill("#canned-title", "Again")
		b.fill("#canned-body", "again")
		b.clickJS("add", `form.canned-form button[type=submit]`)
		b.waitJS("the refusal", `document.querySelector('form.canned-form .canned-error').textContent.includes('is taken')`)
		require.Len(t, e.cannedReplies(ownerToken), 1)

		// Edit.
		row := fmt.Sprintf(`#canned-replies li.canned-reply[data-code=%q]`, code)
		b.clickJS("edit", row+` button[data-act=edit]`)
		id := got[0].ID.String()
		b.waitJS("the edit form", `document.querySelector('#canned-title-`+id+`')`)
		b.fill("#canned-title-"+id, "Thanks a lot")
		b.clickJS("save", `#canned-replies form.canned-form button[type=submit]`)
		b.waitJS("saved", `document.querySelector(`+jsString(row+" .canned-title")+`)?.textContent === 'Thanks a lot'`)
		require.Equal(t, "Thanks a lot", e.cannedReplies(ownerToken)[0].Title)

		// Delete, after a confirmation.
		b.clickJS("delete", row+` button[data-act=delete]`)
		b.clickJS("confirm", "#modal-ok")
		b.waitJS("gone", `!document.querySelector(`+jsString(row)+`)`)
		require.Empty(t, e.cannedReplies(ownerToken))
		b.do("back to the inbox", chromedp.Evaluate[chromedp.Void](`history.replaceState(null, '', '/'); dispatchEvent(new HashChangeEvent('hashchange'))`))
	})

	// An agent reads them and has nothing to change.
	code, body := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{"short_code": "hours", "title": "Opening hours", "body": "9 to 5"})
	require.Equal(t, http.StatusCreated, code, string(body))
	a := newTab(t, browser)
	a.signIn(e.url, agent.Token)
	a.do("open the section", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/canned'`))
	a.waitJS("the list", `document.querySelector('#canned-replies li.canned-reply[data-code=hours]')`)
	require.Zero(t, evalJS[int](a, `document.querySelectorAll('#settings-main form, #settings-main button[data-act]').length`), "no form, no Edit, no Delete")
}

// The composer's text and mode are kept per conversation when switching
// and across a reload, in localStorage, with no request while typing;
// sending clears the draft; drafts are bounded.
func TestWebComposerDrafts(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	b.atEachWidth(t, "drafts", func(t *testing.T, i int, screen string) {
		convA := b.manualConv(t, e, fmt.Sprintf("1555777100%d", i), fmt.Sprintf("Dra Ft A%d", i))
		code, body := e.api("POST", "/api/v1/conversations/"+e.writes(t, fmt.Sprintf("1555777200%d", i), fmt.Sprintf("Dra Ft B%d", i), "hi").String()+"/takeover", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		convB := e.thread(engine.ChannelWhatsApp, phoneID, fmt.Sprintf("1555777200%d", i))
		b.waitJS("B's row", rowVisible(convB))
		evalJS[bool](b, `(() => { window.__req = []; const f = window.fetch; window.fetch = (u, o) => { if (o && o.method !== 'GET' && !String(u).endsWith('/read')) window.__req.push(String(u)); return f(u, o); }; return true; })()`)
		b.typeInComposer("half a reply for A")
		require.Empty(t, evalJS[[]string](b, `window.__req`), "no request per keystroke")
		key := func(conv engine.ID) string {
			return `Object.keys(localStorage).find(k => k.startsWith('parley.draft.') && k.endsWith(` + jsString("."+conv.String()) + `))`
		}
		b.waitJS("A's draft stored", key(convA))
		require.Equal(t, "parley.draft."+e.ws.String()+"."+e.ownerID().String()+"."+convA.String(), evalJS[string](b, key(convA)),
			"keyed by workspace, user and conversation")
		require.Equal(t, map[string]any{"text": "half a reply for A", "mode": "reply"},
			evalJS[map[string]any](b, `(() => { const d = JSON.parse(localStorage.getItem(`+key(convA)+`)); return { text: d.text, mode: d.mode }; })()`))

		if widths[i].phone {
			b.clickJS("back to the list", "#back")
		}
		b.waitJS("B's row", rowVisible(convB))
		b.openConv(convB)
		b.waitJS("B's empty composer", `document.querySelector('#compose') && document.querySelector('#compose').value === ''`)
		b.clickJS("Note mode", "#mode-note")
		b.typeInComposer("a note for B")
		if widths[i].phone {
			b.clickJS("back to the list", "#back")
		}
		b.openConv(convA)
		b.waitJS("A's draft back", `document.querySelector('#compose').value === 'half a reply for A' && document.querySelector('#composer').dataset.compose === 'reply'`)

		b.do("reload", chromedp.Reload())
		b.waitJS("the inbox", `document.body.dataset.ready === 'true'`)
		b.waitJS("B's row", rowVisible(convB))
		b.openConv(convB)
		b.waitJS("B's draft and mode after the reload", `document.querySelector('#compose').value === 'a note for B' && document.querySelector('#mode-note').getAttribute('aria-pressed') === 'true'`)
		b.screenshot("composer-draft-" + screen)

		// Sending clears the draft, for good.
		evalJS[bool](b, `(document.querySelector('#compose').focus(), true)`)
		b.enter()
		b.waitJS("sent", `document.querySelector('#compose').value === ''`)
		b.waitJS("B's draft gone", `!`+key(convB))
		eventually(t, 10*time.Second, func() error {
			if n := len(e.notesOf(t, convB)); n != 1 {
				return fmt.Errorf("%d notes", n)
			}
			return nil
		})
		b.do("reload", chromedp.Reload())
		b.waitJS("the inbox", `document.body.dataset.ready === 'true'`)
		b.waitJS("B's row", rowVisible(convB))
		b.openConv(convB)
		b.waitJS("B's composer", `document.querySelector('#compose')`)
		require.Equal(t, "", evalJS[string](b, `document.querySelector('#compose').value`))
		require.True(t, evalJS[bool](b, key(convA)+` !== undefined`), "A's draft stays")
	})

	// At most MAX_DRAFTS per user: the oldest go.
	n := evalJS[int](b, `import('/js/composer.js').then(m => {
		for (let i = 0; i < m.MAX_DRAFTS + 25; i++) m.saveDraft('conv' + i, 'draft ' + i, 'reply');
		return Object.keys(localStorage).filter(k => k.startsWith('parley.draft.')).length; })`)
	require.Equal(t, 200, n)
	require.Nil(t, evalJS[any](b, `import('/js/composer.js').then(m => m.loadDraft('conv0'))`), "the oldest went")
	require.Equal(t, "draft 224", evalJS[string](b, `import('/js/composer.js').then(m => m.loadDraft('conv224').text)`))
	require.True(t, strings.HasPrefix(evalJS[string](b, `Object.keys(localStorage).find(k => k.startsWith('parley.draft.'))`), "parley.draft."))
}
