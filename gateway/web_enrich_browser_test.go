package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// detectedJS reads what the list of detected values under selector
// shows, as "Label: value" joined by "; ".
func detectedJS(selector string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('%s dl.detected:not([hidden]) > div')].map((d) => d.querySelector('dt').textContent + ': ' + d.querySelector('dd').textContent).join('; ')`, selector)
}

// waitDetectedShown waits until the list under selector shows want.
func (b *tab) waitDetectedShown(selector, want string) {
	b.t.Helper()
	b.waitJS("detected: "+want, fmt.Sprintf(`%s === %q`, detectedJS(selector), want))
}

// Contact enrichment in the web app (issue 18), at a phone's and a
// desktop's width: a WhatsApp customer from +34 writing Spanish shows
// "Country: Spain (detected)" and "Language: Spanish (detected)" with the
// formatted number in the contact panel; a country set in the panel
// replaces the detected one there and on the contact's page, the stored
// record keeping both; a French customer's panel, open while they write
// short messages, shows French once there is enough text, without a
// reload.
func TestWebContactEnrichment(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for i, w := range []struct {
		name  string
		w, h  int64
		phone bool
	}{{"phone", 390, 844, true}, {"desktop", 1440, 900, false}} {
		t.Run(w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			es := fmt.Sprintf("3461234567%d", i)
			code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.enr.es.%d", i), es, "Lucía",
				"Buenas tardes, quería saber si tienen la camiseta azul en talla mediana"))
			require.Equal(t, http.StatusOK, code, string(body))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, es)
			contact := e.conv(conv).ContactID
			e.waitDetected(contact, "es")

			b.goTo(e.url, "/#c/"+conv.String())
			b.waitChat()
			b.clickJS("the contact panel", "#act-contact")
			b.waitDetectedShown("#contact-pane", fmt.Sprintf("Country: Spain (detected); Language: Spanish (detected); Phone: +34 612 34 56 7%d", i))
			axeCheck(t, b, fmt.Sprintf("contact-detected-%d", w.w))
			b.noOverflow(int(w.w))

			// A person's country wins over the detected one.
			b.fill(`#contact-pane form.profile input[name="country"]`, "AD")
			b.clickJS("Save", `#contact-pane form.profile button[type="submit"]`)
			b.waitDetectedShown("#contact-pane", fmt.Sprintf("Language: Spanish (detected); Phone: +34 612 34 56 7%d", i))
			d := e.contactDetail(contact)
			require.Equal(t, "AD", d.Profile.Country)
			require.Equal(t, "ES", d.Detected.Country, "the detected country is kept beside it")

			b.goTo(e.url, "/#contacts/"+contact.String())
			b.waitDetectedShown("#ct-profile-card", fmt.Sprintf("Language: Spanish (detected); Phone: +34 612 34 56 7%d", i))
			require.Equal(t, "AD", evalJS[string](b, `document.querySelector('#ct-profile-card input[name="country"]').value`))

			// The panel follows a language detected while it is open.
			fr := fmt.Sprintf("3361234567%d", i)
			code, body = e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.enr.fr.%d.1", i), fr, "Zoé", "Bonjour"))
			require.Equal(t, http.StatusOK, code, string(body))
			frConv := e.thread(engine.ChannelWhatsApp, phoneID, fr)
			b.goTo(e.url, "/#c/"+frConv.String())
			b.waitChat()
			b.clickJS("the contact panel", "#act-contact")
			b.waitDetectedShown("#contact-pane", fmt.Sprintf("Country: France (detected); Phone: +33 6 12 34 56 7%d", i))
			for j, text := range []string{"je voudrais savoir", "si vous livrez en Belgique"} {
				code, body = e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.enr.fr.%d.%d", i, j+2), fr, "Zoé", text))
				require.Equal(t, http.StatusOK, code, string(body))
			}
			b.waitDetectedShown("#contact-pane", fmt.Sprintf("Country: France (detected); Language: French (detected); Phone: +33 6 12 34 56 7%d", i))
			require.Equal(t, "fr", e.contactDetail(e.conv(frConv).ContactID).Detected.Language)
		})
	}
}
