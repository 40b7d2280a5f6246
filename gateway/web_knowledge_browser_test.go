package gateway_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// The knowledge base in the web app, at a desktop's and a phone's width
// with axe-core: Settings › Knowledge base adds an FAQ and uploads a
// document (each checked through the API), the tester shows the
// passages the agent would receive and the built-in agent's answer; a
// customer's question is answered from the FAQ, and the chat's fold-out
// reasoning names the entry used; an entry is deleted.
func TestWebKnowledge(t *testing.T) {
	browser := startBrowser(t)
	e := newAIEnv(t)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	doc := filepath.Join(t.TempDir(), "care-guide.md")
	require.NoError(t, os.WriteFile(doc, []byte("# Care guide\n\nWash the linen covers at 30 degrees and dry them flat."), 0o600))
	for i, w := range widths {
		t.Run(w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			question := []string{"Do you deliver to Iceland?", "Do you sell gift vouchers?"}[i]
			answer := []string{"Yes, Iceland takes 6 days.", "Yes, from 10 to 200 euros."}[i]

			// In-app navigation (the app stays loaded from the sign-in).
			b.waitJS("open the knowledge base", `(location.hash = '#settings/knowledge', true)`)
			b.waitJS("the section", `document.querySelector('form.kn-form #kn-question') && document.querySelector('#kn-entries h3')`)
			b.fill("form.kn-form #kn-question", question)
			b.fill("form.kn-form #kn-answer", answer)
			b.clickJS("Add entry", `form.kn-form button[type="submit"]`)
			row := fmt.Sprintf(`[...document.querySelectorAll('#kn-entries tr.kn-entry')].find((r) => r.querySelector('.kn-title').textContent === %q)`, question)
			b.waitJS("the new row", row)
			entries := e.knowledge(ownerToken).Entries
			faq := entries[slices.IndexFunc(entries, func(en engine.KnowledgeEntry) bool { return en.Question == question })]
			require.Equal(t, answer, faq.Answer)

			if i == 0 {
				b.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#kn-file"), []string{doc}))
				b.clickJS("Upload", `form.kn-upload button[type="submit"]`)
				b.waitJS("the document's row", `[...document.querySelectorAll('#kn-entries tr.kn-entry[data-kind=document]')].some((r) => r.querySelector('.kn-title').textContent === 'care-guide')`)
				l := e.knowledge(ownerToken)
				require.True(t, slices.ContainsFunc(l.Entries, func(en engine.KnowledgeEntry) bool {
					return en.Kind == engine.KnowledgeDocument && en.Document != nil && en.Document.Filename == "care-guide.md"
				}))
			}

			b.fill("#kn-query", question)
			b.clickJS("Test", `form.kn-tester button[type="submit"]`)
			b.waitJS("the answer and passages", fmt.Sprintf(`document.querySelector('#kn-results .kn-reply')?.textContent === %q && document.querySelector('#kn-results li.kn-passage')?.dataset.entry === %q`,
				answer, faq.ID.String()))
			axeCheck(t, b, "settings-knowledge-"+w.name)
			b.noOverflow(int(w.w))
			b.screenshot("settings-knowledge-" + w.name)

			// A customer asks: the rules agent answers from the FAQ, and the
			// reasoning panel names the entry.
			user := fmt.Sprintf("1555020700%d", i)
			code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.webkn.%d", i), user, "Ola", question))
			require.Equal(t, http.StatusOK, code, string(body))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, user)
			eventually(t, 5*time.Second, func() error {
				for _, m := range e.messages(conv) {
					if m.Sender.Kind == engine.SenderAI && m.Text == answer {
						return nil
					}
				}
				return fmt.Errorf("no answer from the FAQ yet")
			})
			b.waitJS("open the chat", fmt.Sprintf(`(location.hash = '#c/%s', true)`, conv))
			b.waitChat()
			b.clickJS("the reasoning", `.msg.ai details.reasoning summary`)
			b.waitJS("the knowledge used", fmt.Sprintf(`document.querySelector('.msg.ai details.reasoning[open] .reasoning-sources li[data-entry=%q] a')?.textContent === %q`, faq.ID.String(), question))
			axeCheck(t, b, "chat-knowledge-used-"+w.name)
			b.noOverflow(int(w.w))

			if i == 1 {
				b.waitJS("back to the knowledge base", `(location.hash = '#settings/knowledge', true)`)
				b.waitJS("the row", row)
				b.waitJS("delete it", `(() => { const r = `+row+`; r.querySelector('button[data-act=delete]').click(); return true; })()`)
				b.clickJS("confirm", "#modal-ok")
				b.waitJS("the row gone", `!(`+row+`) && document.querySelector('#kn-entries h3')`)
				require.False(t, slices.ContainsFunc(e.knowledge(ownerToken).Entries, func(en engine.KnowledgeEntry) bool { return en.ID == faq.ID }))

				// With a second assistant, the Assistant menu picks whose
				// base is shown and written.
				code, body := e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": "Sales desk"})
				require.Equal(t, http.StatusCreated, code, string(body))
				sales := decodeAs[struct {
					ID string `json:"id"`
				}](t, body)
				b.waitJS("leave the section", `(location.hash = '#settings/team', true)`)
				b.waitJS("and come back", `(location.hash = '#settings/knowledge', true)`)
				b.waitJS("the Assistant menu", `document.querySelector('#kn-assistant option[value="`+sales.ID+`"]')`)
				b.waitJS("pick Sales desk", `(() => { const s = document.querySelector('#kn-assistant'); s.value = '`+sales.ID+`'; s.dispatchEvent(new Event('change')); return true; })()`)
				b.waitJS("Sales desk's empty base", `document.querySelector('#kn-entries h3')?.textContent === 'Entries (0)' && document.querySelector('#kn-assistant').value === '`+sales.ID+`'`)
				b.fill("form.kn-form #kn-question", "Do you invoice yearly?")
				b.fill("form.kn-form #kn-answer", "Yes, with a 15% discount.")
				b.clickJS("Add entry", `form.kn-form button[type="submit"]`)
				b.waitJS("its row", `document.querySelector('#kn-entries h3')?.textContent === 'Entries (1)'`)
				code, body = e.api("GET", "/api/v1/assistants/"+sales.ID+"/knowledge", ownerToken, nil)
				require.Equal(t, http.StatusOK, code, string(body))
				require.Contains(t, string(body), "Do you invoice yearly?", "the entry is Sales desk's")
				require.NotContains(t, fmt.Sprint(e.knowledge(ownerToken).Entries), "invoice yearly", "not the default assistant's")
				axeCheck(t, b, "settings-knowledge-assistants-"+w.name)
			}
		})
	}
}
