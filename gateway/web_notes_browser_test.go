package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A note written in the contact panel shows its Markdown rendered (bold,
// a list, inline code, a link opening in a new tab) with its @mention
// highlighted, a javascript: link as plain text, and is stored as typed.
func TestWebNotesMarkdown(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	e.agent("ana@example.com", "Ana Agent", "correct horse battery")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	const text = "**Refund** approved, @ana\n\n- check `order 42`\n- see [the policy](https://example.com/policy)\n- [bad](javascript:alert(1))"
	b.atEachWidth(t, "a note's Markdown is rendered", func(t *testing.T, i int, screen string) {
		conv := e.writes(t, fmt.Sprintf("1555777000%d", i), "Mark Down", "where is my refund?")
		b.waitJS("the row", rowVisible(conv))
		b.openConv(conv)
		b.clickJS("open the contact panel", "#act-contact")
		b.waitJS("the note box, the panel's loads in", `document.querySelector('#contact-pane[data-loaded="`+conv.String()+`"] textarea.note-in')`)
		evalJS[bool](b, `(() => { const ta = document.querySelector('#contact-pane textarea.note-in');
			ta.value = `+jsString(text)+`; ta.dispatchEvent(new Event('input')); return true; })()`)
		b.clickJS("add it", `#contact-pane .note-compose button.primary`)
		b.waitJS("the note rendered", `document.querySelector('#contact-pane .note .note-text strong')`)

		note := `document.querySelector('#contact-pane .note .note-text')`
		require.Equal(t, "Refund", evalJS[string](b, note+`.querySelector('strong').textContent`))
		require.Equal(t, []string{"check order 42", "see the policy", "bad"},
			evalJS[[]string](b, `[...`+note+`.querySelectorAll('ul > li')].map(li => li.textContent)`))
		require.Equal(t, "order 42", evalJS[string](b, note+`.querySelector('li code').textContent`))
		require.Equal(t, "@ana", evalJS[string](b, note+`.querySelector('.mention').textContent`), "the mention is highlighted")
		link := evalJS[map[string]string](b, `(() => { const a = `+note+`.querySelector('a');
			return { href: a.href, target: a.target, rel: a.rel, text: a.textContent }; })()`)
		require.Equal(t, map[string]string{"href": "https://example.com/policy", "target": "_blank",
			"rel": "nofollow noreferrer noopener", "text": "the policy"}, link)
		require.Equal(t, 1, evalJS[int](b, note+`.querySelectorAll('a').length`), "javascript: is no link")
		require.False(t, evalJS[bool](b, `[...document.querySelectorAll('#contact-pane a')].some(a => a.protocol === 'javascript:')`))
		evalJS[bool](b, `(`+note+`.scrollIntoView({ block: 'center' }), true)`)
		b.screenshot("notes-markdown-" + screen)

		contact := e.conv(conv).ContactID
		code, body := e.api("GET", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var notes struct{ Notes []engine.Note }
		require.NoError(t, json.Unmarshal(body, &notes))
		require.Len(t, notes.Notes, 1)
		require.Equal(t, text, notes.Notes[0].Text, "stored as typed")
		require.Len(t, notes.Notes[0].Mentions, 1, "@ana reaches Ana")
		require.True(t, strings.HasPrefix(notes.Notes[0].HTML, "<p><strong>Refund</strong>"), notes.Notes[0].HTML)
		if i == len(widths)-1 {
			return
		}
		b.clickJS("close the contact panel", "#act-contact")
	})
}
