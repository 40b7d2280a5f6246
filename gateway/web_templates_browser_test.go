package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// WhatsApp templates in the web app: Settings › Templates syncs the
// Business Account's templates (a row per template with its status) and
// submits a new one (the JSON Meta receives); in a conversation whose
// customer wrote more than 24 hours ago, the composer says why free text
// cannot go and its "Send template" picker fills the variables from the
// contact's fields with a fallback, previews the message and sends it
// (the JSON Meta receives). Desktop and phone, axe-core on each screen.
func TestWebTemplates(t *testing.T) {
	browser := startBrowser(t)
	// The server's clock starts 26 hours ago: the customers write then,
	// and the clock is brought to the browser's now, outside the window.
	clock := clockwork.NewFakeClockAt(time.Now().UTC().Add(-26 * time.Hour))
	e := newEnv(t, func(c *actors.Config) { c.Clock = clock })
	pages := templatePages([]string{tplOrder, tplPromo}, []string{tplPending, tplRejected})
	e.graph.other = func(r graphReq) (int, string, bool) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/"+wabaID+"/message_templates") {
			return http.StatusOK, `{"id":"777","status":"PENDING","category":"UTILITY"}`, true
		}
		return pages(r)
	}
	convs := map[string]engine.ID{}
	for i, w := range widths {
		wa := fmt.Sprintf("1555765432%d", i)
		code, _ := e.webhook(engine.ChannelWhatsApp, waText("wamid.tpl."+w.name, wa, "Dana Scully", "hello"))
		require.Equal(t, http.StatusOK, code)
		conv := e.thread(engine.ChannelWhatsApp, phoneID, wa)
		c := e.conv(conv)
		code, body := e.api("PATCH", "/api/v1/contacts/"+c.ContactID.String(), ownerToken, map[string]any{"custom_fields": map[string]string{"order_id": "A-4" + fmt.Sprint(i)}})
		require.Equal(t, http.StatusOK, code, string(body))
		convs[w.name] = conv
	}
	clock.Advance(26 * time.Hour)

	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)

		if i == 0 {
			step("Settings › Channels names the number's Business Account", func(t *testing.T) {
				b.goTo(e.url, "/#settings/channels")
				b.clickJS("edit", `#channel-accounts tr.account[data-channel=whatsapp] button[data-act=edit]`)
				b.fill("#edit-waba", wabaID)
				b.clickJS("save", "#modal-ok")
				eventually(t, 5*time.Second, func() error {
					all, err := e.store.ChannelAccounts()
					if err != nil {
						return err
					}
					for _, a := range all {
						if a.Channel == engine.ChannelWhatsApp && a.AccountID == phoneID && a.WABAID == wabaID {
							return nil
						}
					}
					return fmt.Errorf("the account has no waba_id yet")
				})
			})
		}

		step("Settings › Templates syncs and lists them with their status", func(t *testing.T) {
			b.goTo(e.url, "/#settings/templates")
			b.waitJS("the section", `document.querySelector('#templates-list h3') && document.querySelector('#templates-sync')`)
			b.clickJS("sync", "#templates-sync")
			b.waitJS("four rows", `document.querySelectorAll('#templates-list tr.template').length === 4 && document.querySelector('#templates-status').textContent.includes('Synced')`)
			require.Equal(t, "APPROVED,APPROVED,PENDING,REJECTED", evalJS[string](b,
				`['order_update/en_US','spring_promo/en_US','order_update/es','old_offer/en_US'].map((k) => { const [n, l] = k.split('/'); return document.querySelector('#templates-list tr.template[data-name="'+n+'"][data-language="'+l+'"] .tpl-status').dataset.status; }).join()`))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "Settings › Templates at "+screen)
		})

		step("a new template is submitted for review", func(t *testing.T) {
			name := "welcome_" + screen
			b.fill("#tpl-name", name)
			b.fill("#tpl-body", "Welcome {{1}}!")
			b.waitJS("the sample's field", `document.querySelector('#tpl-samples input[data-sample="body-1"]')`)
			b.fill(`#tpl-samples input[data-sample="body-1"]`, "Ann")
			b.clickJS("submit", "#tpl-submit")
			b.waitJS("its row, pending", fmt.Sprintf(`document.querySelector('#templates-list tr.template[data-name=%q]')?.dataset.status === 'PENDING'`, name))
			var posted string
			for _, r := range e.graph.requests("/message_templates") {
				if r.Method == http.MethodPost && strings.Contains(string(r.Body), name) {
					posted = string(r.Body)
				}
			}
			require.JSONEq(t, `{"name":"`+name+`","language":"en_US","category":"UTILITY","parameter_format":"POSITIONAL",
				"components":[{"type":"BODY","text":"Welcome {{1}}!","example":{"body_text":[["Ann"]]}}]}`, posted)
		})

		step("outside the window the composer sends a template with its variables", func(t *testing.T) {
			conv := convs[screen]
			b.goTo(e.url, "/#c/"+conv.String())
			b.waitChat()
			if evalJS[bool](b, `!!document.querySelector('#take-manual')`) {
				b.clickJS("take manual control", "#take-manual")
			}
			b.waitJS("the notice", `document.querySelector('#template-notice .tpl-why')?.textContent.includes('24 hours') && document.querySelector('#template-open')`)
			b.clickJS("Send template", "#template-open")
			b.waitJS("the picker", `document.querySelector('#template-choice') && document.querySelectorAll('#template-choice option').length === 2`)
			b.choose("#template-choice", "0")
			b.waitJS("four variables", `document.querySelectorAll('#template-vars .tpl-var').length === 4`)
			b.choose("#tpl-header-0-src", "order_id")
			b.choose("#tpl-body-0-src", "first_name")
			b.choose("#tpl-body-1-src", "order_id")
			b.fill("#tpl-body-2-text", "Monday")
			order := fmt.Sprintf("A-4%d", i)
			b.waitJS("the preview", `document.querySelector('#template-preview .tpl-prev-body')?.textContent === `+jsString("Hi Dana, your order "+order+" ships on Monday."))
			require.Equal(t, "Order "+order, evalJS[string](b, `document.querySelector('#template-preview .tpl-prev-header').textContent`))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "the template picker at "+screen)
			n := len(e.graph.requests("/" + phoneID + "/messages"))
			b.clickJS("send", "#template-send")
			b.waitJS("the template in the chat", `[...document.querySelectorAll('#msg-list .msg[data-kind="template"]')].some((m) => m.textContent.includes('Hi Dana, your order `+order+` ships on Monday.'))`)
			var sent []graphReq
			eventually(t, 5*time.Second, func() error {
				if sent = e.graph.requests("/" + phoneID + "/messages"); len(sent) != n+1 {
					return fmt.Errorf("%d sends", len(sent)-n)
				}
				return nil
			})
			require.Contains(t, string(sent[n].Body), `"template":{"name":"order_update","language":{"code":"en_US"},"components":[{"type":"header","parameters":[{"type":"text","text":"`+order+`"}]},{"type":"body","parameters":[{"type":"text","text":"Dana"},{"type":"text","text":"`+order+`"},{"type":"text","text":"Monday"}]}]}`)
		})
	}
}
