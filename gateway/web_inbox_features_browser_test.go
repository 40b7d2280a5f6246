package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/engine"
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

	for _, w := range []struct {
		name  string
		w, h  int64
		phone bool
	}{{"desktop", 1440, 900, false}, {"phone", 390, 844, true}} {
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
		b.waitJS("Ada's row back in the list", rowVisible(ada))
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

		// Typing in a text field is not a shortcut: no request leaves.
		evalJS[bool](b, `(() => { window.__posts = []; const f = window.fetch; window.fetch = (u, o) => { if (o && o.method !== 'GET') window.__posts.push(String(u)); return f(u, o); }; return true; })()`)
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
		require.Equal(t, []string{"J", "K", "R", "E", "!", "C", "P", "/", "↑↓", "Enter", "Esc", "?"}, got)
		require.Equal(t, "dialog", evalJS[string](b, `document.querySelector('#shortcuts').getAttribute('role')`))
		b.screenshot("inbox-shortcuts-desktop")
		b.key(kb.Escape)
		b.waitJS("the sheet closed", `document.querySelector('#shortcuts').hidden`)
		require.Equal(t, "", evalJS[string](b, `document.querySelector('#contact-pane').hidden ? '' : 'open'`), "Esc closed the sheet only")
	})
}
