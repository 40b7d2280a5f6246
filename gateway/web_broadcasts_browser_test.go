package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Opt-out keywords: an owner changes the keywords and the
// confirmation (checked through the API and by a customer's message
// afterwards), puts the defaults back; an agent sees them read-only.
// Desktop and phone, axe-core on each screen.
func TestWebOptOutSettings(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for i, w := range widths {
		ok := t.Run("owner at "+w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			b.goTo(e.url, "/#settings/opt-out")
			want := "STOP" // the defaults, then what the last width saved
			if i > 0 {
				want = "Fin"
			}
			b.waitJS("the form", `document.querySelector('#optout-keywords')?.value.includes('`+want+`')`)
			b.noOverflow(int(w.w))
			axeCheck(t, b, "settings-optout-"+w.name)
			b.fill("#optout-keywords", "BASTA, Fin")
			b.fill("#optout-confirmation", "Ciao "+w.name)
			b.clickJS("save", "#optout-save")
			eventually(t, 5*time.Second, func() error {
				if got := e.optOut(ownerToken); strings.Join(got.Keywords, ",") != "BASTA,Fin" || got.Confirmation != "Ciao "+w.name {
					return fmt.Errorf("saved %+v", got)
				}
				return nil
			})
		})
		if !ok {
			t.FailNow()
		}
	}
	// The saved keywords are what the rule follows.
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.optweb.1", "15550501", "Ann", "basta"))
	require.Equal(t, http.StatusOK, code, string(body))
	sent := e.waitSent(1)
	require.Equal(t, "Ciao phone", sent[0])

	t.Run("the defaults back", func(t *testing.T) {
		b.t = t
		b.goTo(e.url, "/#settings/opt-out")
		b.waitJS("the form", `document.querySelector('#optout-keywords')?.value === 'BASTA, Fin'`)
		b.clickJS("the defaults", "#optout-defaults")
		b.clickJS("save", "#optout-save")
		eventually(t, 5*time.Second, func() error {
			if got := e.optOut(ownerToken); got.Keywords[0] != "STOP" || got.Confirmation != engine.DefaultOptOutConfirmation {
				return fmt.Errorf("saved %+v", got)
			}
			return nil
		})
	})
	t.Run("an agent reads them", func(t *testing.T) {
		a := newTab(t, browser)
		a.signIn(e.url, agent.Token)
		a.goTo(e.url, "/#settings/opt-out")
		a.waitJS("the form, read-only", `document.querySelector('#optout-keywords')?.readOnly && !document.querySelector('#optout-save')`)
	})
}

// tplHello is an approved marketing template with one body variable.
const tplHello = `{"name":"hello_all","language":"en_US","status":"APPROVED","category":"MARKETING","id":"1010",
	"components":[{"type":"BODY","text":"Hi {{1}}, our spring sale starts now.","example":{"body_text":[["Ann"]]}}]}`

// needBroadcastsAPI skips t when the server has no broadcasts API (the
// sending core): the web app's screens need it.
func needBroadcastsAPI(t *testing.T, e *env) {
	t.Helper()
	if code, _ := e.api("GET", "/api/v1/broadcasts", ownerToken, nil); code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		t.Skip("needs the broadcasts API (GET /api/v1/broadcasts, POST /api/v1/broadcasts/preview, GET /api/v1/contacts/{id}/broadcasts), which this build does not have")
	}
}

// Broadcasts in the web app: an owner makes one with the wizard
// (an approved template, contacts picked, the variable filled from the
// contact's name with a fallback, now), sees the server's preview per
// recipient, sends it; the detail's counts and progress bar move live as
// the fake Graph API lets each send through, one failure shows its error
// code and reason in the recipients filtered by status; the contact
// panel and the contact page list the broadcast received. The list and
// the detail at a phone's width, axe-core on each screen.
func TestWebBroadcasts(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	needBroadcastsAPI(t, e)
	code, body := e.api("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, map[string]any{"waba_id": wabaID})
	require.Equal(t, http.StatusOK, code, string(body))
	e.graph.other = templatePages([]string{tplHello, tplOrder})
	syncTemplates(t, e)

	// Three customers who wrote on WhatsApp; Cy's sends fail.
	names := []string{"Ann Broad", "Bob Broad", "Cy Broad"}
	var contacts, convs []engine.ID
	for i, n := range names {
		wa := fmt.Sprintf("1555060000%d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.bcweb.%d", i), wa, n, "hello"))
		require.Equal(t, http.StatusOK, code, string(body))
		conv := e.thread(engine.ChannelWhatsApp, phoneID, wa)
		convs = append(convs, conv)
		contacts = append(contacts, e.conv(conv).ContactID)
	}
	// Each send waits for a token, so that the test sees the counts move.
	tokens := make(chan struct{}, 8)
	e.graph.mu.Lock()
	e.graph.send = func(r graphReq) (int, string) {
		if !strings.Contains(string(r.Body), `"template"`) {
			return 0, ""
		}
		<-tokens
		if strings.Contains(string(r.Body), "15550600002") {
			return http.StatusBadRequest, `{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"error_data":{"messaging_product":"whatsapp","details":"Message undeliverable"}}}`
		}
		return 0, ""
	}
	e.graph.mu.Unlock()
	t.Cleanup(func() { close(tokens) })

	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, func(t *testing.T) { b.t = t; f(t) }) {
			t.FailNow()
		}
	}
	var id string
	step("the wizard", func(t *testing.T) {
		b.viewport(1440, 900, false)
		b.clickJS("the header link", "#open-broadcasts")
		b.waitJS("the list", `location.hash === '#broadcasts' && document.querySelector('#bc-new') && document.querySelector('#bc-status')`)
		b.clickJS("new", "#bc-new")
		b.waitJS("step 1", `document.querySelector('#bc-template option[value="hello_all|en_US"]')`)
		axeCheck(t, b, "broadcast-wizard-template")
		b.fill("#bc-name", "Spring sale")
		b.choose("#bc-template", "hello_all|en_US")
		b.waitJS("the template's text", `document.querySelector('.bc-template-preview').textContent.includes('spring sale')`)
		b.clickJS("next", "#bc-next")
		b.waitJS("step 2", `document.querySelector('#bc-audience-contacts')`)
		b.clickJS("contacts I pick", "#bc-audience-contacts")
		for _, c := range contacts {
			b.clickJS("pick a contact", "#bc-pick-"+c.String())
		}
		b.waitJS("three picked", `document.querySelectorAll('#bc-contact-chosen li').length === 3`)
		axeCheck(t, b, "broadcast-wizard-audience")
		b.clickJS("next", "#bc-next")
		b.choose("#bc-var-body-1-field", "name")
		b.fill("#bc-var-body-1-fallback", "friend")
		b.clickJS("next", "#bc-next")
		b.waitJS("step 4", `document.querySelector('#bc-when-now')?.checked`)
		b.clickJS("next", "#bc-next")
		b.waitJS("the preview", `document.querySelector('#bc-preview-total')?.textContent.startsWith('3 ')`)
		require.Contains(t, evalJS[string](b, `document.querySelector('#bc-samples').textContent`), "Hi Ann Broad, our spring sale starts now.")
		axeCheck(t, b, "broadcast-wizard-review")
		b.clickJS("send", "#bc-create")
		b.waitJS("the broadcast", `/^#broadcasts\/\w+$/.test(location.hash) && document.querySelector('#bc-counts li[data-count=total] .bc-count-n')?.textContent === '3'`)
		id = strings.TrimPrefix(evalJS[string](b, `location.hash`), "#broadcasts/")
	})
	step("live progress", func(t *testing.T) {
		require.Equal(t, "0", evalJS[string](b, `document.querySelector('#bc-progress').getAttribute('aria-valuenow')`))
		tokens <- struct{}{}
		b.waitJS("one sent", `document.querySelector('#bc-progress').getAttribute('aria-valuenow') === '1'`)
		tokens <- struct{}{}
		tokens <- struct{}{}
		b.waitJS("all handled", `document.querySelector('#bc-progress').getAttribute('aria-valuenow') === '3' && document.querySelector('#bc-counts li[data-count=failed] .bc-count-n').textContent === '1'`)
		axeCheck(t, b, "broadcast-detail")
	})
	step("the failure's code and reason", func(t *testing.T) {
		b.choose("#bc-filter", "failed")
		b.waitJS("one failed recipient", `document.querySelectorAll('#bc-recipient-rows tr').length === 1 && document.querySelector('#bc-recipient-rows tr').dataset.status === 'failed'`)
		require.Contains(t, evalJS[string](b, `document.querySelector('#bc-recipient-rows .bc-why').textContent`), "131026")
		b.choose("#bc-filter", "")
		b.waitJS("everyone", `document.querySelectorAll('#bc-recipient-rows tr').length === 3`)
	})
	step("at a phone's width", func(t *testing.T) {
		b.viewport(390, 844, true)
		b.goTo(e.url, "/#broadcasts")
		b.waitJS("the row", `document.querySelector('#bc-rows li[data-id="`+id+`"]')`)
		b.noOverflow(390)
		axeCheck(t, b, "broadcast-list-phone")
		b.clickJS("open it", `#bc-rows li[data-id="`+id+`"] a.bc-row-name`)
		b.waitJS("the detail", `document.querySelectorAll('#bc-recipient-rows tr').length === 3`)
		b.noOverflow(390)
		axeCheck(t, b, "broadcast-detail-phone")
	})
	step("broadcasts received, in the contact panel and page", func(t *testing.T) {
		b.viewport(1440, 900, false)
		b.goTo(e.url, "/#c/"+convs[0].String())
		b.waitChat()
		if !evalJS[bool](b, `document.body.classList.contains('contact-open')`) {
			b.clickJS("the contact panel", "#act-contact")
		}
		b.waitJS("the broadcast in the panel", `document.querySelector('#panel-broadcasts li[data-id="`+id+`"]')?.textContent.includes('Spring sale')`)
		b.goTo(e.url, "/#contacts/"+contacts[0].String())
		b.waitJS("the broadcast on the page", `document.querySelector('#ct-broadcasts-list li[data-id="`+id+`"]')`)
		b.clickJS("its link", `#ct-broadcasts-list li[data-id="`+id+`"] a`)
		b.waitJS("the broadcast", `location.hash === '#broadcasts/`+id+`' && document.querySelector('#bc-counts')`)
	})
}

// An agent sees the broadcasts but neither makes nor controls one.
func TestWebBroadcastsAgent(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	needBroadcastsAPI(t, e)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.signIn(e.url, agent.Token)
	b.clickJS("the header link", "#open-broadcasts")
	b.waitJS("the list", `location.hash === '#broadcasts' && document.querySelector('#bc-status')?.textContent.startsWith('No broadcasts')`)
	require.False(t, evalJS[bool](b, `!!document.querySelector('#bc-new')`))
	b.goTo(e.url, "/#broadcasts/new")
	b.waitJS("sent back to the list", `location.hash === '#broadcasts' && !document.querySelector('#bc-wizard')`)
}
