package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// waitDetected waits until contact id's detected language is lang, and
// returns the contact as the API gives it.
func (e *env) waitDetected(id engine.ID, lang string) contactDetail {
	e.t.Helper()
	var d contactDetail
	eventually(e.t, 5*time.Second, func() error {
		if d = e.contactDetail(id); d.Detected.Language != lang {
			return fmt.Errorf("detected %+v", d.Detected)
		}
		return nil
	})
	return d
}

// A WhatsApp customer from +34 writing Spanish, and one from +33 writing
// French over several short messages: through the API each contact shows
// the country and the formatted number read from the number, and the
// language read from the customer's words; a country and a language a
// person sets win and the detected ones stay beside them.
func TestContactEnrichmentAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, es := e.waContact("wamid.es.1", "34612345678", "Lucía")
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.es.2", "34612345678", "Lucía",
		"Buenas tardes, quería saber si tienen la camiseta azul en talla mediana"))
	require.Equal(t, http.StatusOK, code, string(body))
	d := e.waitDetected(es, "es")
	require.Equal(t, engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES", Language: "es"}, d.Detected)
	require.Empty(t, d.Profile.Country, "the detected country is not a person's")

	_, fr := e.waContact("wamid.fr.1", "33612345678", "Zoé")
	for i, text := range []string{"Bonjour", "je voudrais savoir", "si vous livrez en Belgique"} {
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.fr.%d", i+2), "33612345678", "Zoé", text))
		require.Equal(t, http.StatusOK, code, string(body))
	}
	d = e.waitDetected(fr, "fr")
	require.Equal(t, "FR", d.Detected.Country)

	// The raw JSON names the fields as README and the OpenAPI document do.
	_, raw := e.api("GET", "/api/v1/contacts/"+fr.String(), ownerToken, nil)
	require.Contains(t, string(raw), `"detected":{"phone":"+33612345678","phone_international":"+33 6 12 34 56 78","country":"FR","language":"fr"}`)

	// What was detected is read-only: a request naming it is a 400 that
	// changes nothing.
	code, body = e.api("PATCH", "/api/v1/contacts/"+es.String(), ownerToken, map[string]any{"detected": map[string]any{"country": "US"}})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), `"code":"bad_json"`)
	require.Equal(t, "ES", e.contactDetail(es).Detected.Country)

	code, body = e.api("PATCH", "/api/v1/contacts/"+es.String(), ownerToken, map[string]any{"country": "AD", "language": "ca"})
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeAs[engine.Contact](t, body)
	require.Equal(t, "AD", got.Profile.Country)
	require.Equal(t, "ca", got.Profile.Language)
	require.Equal(t, engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES", Language: "es"}, got.Detected)
	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.es.3", "34612345678", "Lucía",
		"Hello again. My husband will pick up the order, he does not speak Spanish, so could you please write to us in English from now on? "+
			"We would also like to know whether the blue shirt can be exchanged for a larger size if it does not fit him. Thank you very much for your help!"))
	require.Equal(t, http.StatusOK, code)
	d = e.waitDetected(es, "en")
	require.Equal(t, "ca", d.Profile.Language, "a language a person set is kept")

	// A contact created through the API with a national number and the
	// country a person gave reads it in that country.
	c := e.createContact(ownerToken, map[string]any{"name": "Ana", "phone": "612 34 56 79", "country": "ES"})
	require.Equal(t, "+34 612 34 56 79", c.Detected.PhoneInternational)
	require.Equal(t, "ES", c.Detected.Country)
	// An import's row too.
	code, body = e.postCSV(ownerToken, "text/csv", []byte("name,phone\nBruno,+55 11 91234 5678\n"))
	require.Equal(t, http.StatusOK, code, string(body))
	page := e.contacts("q=Bruno")
	require.Len(t, page.Contacts, 1)
	require.Equal(t, "BR", page.Contacts[0].Detected.Country)
}

// The AI agent is told the detected country and language of the
// customer: the OpenAI-compatible request's system prompt, and the
// webhook agent's contact.
func TestAgentGetsDetectedCountryAndLanguage(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) { return 200, completion("¡Claro!", ""), 0 })
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ai.es1", "34612345678", "Lucía",
		"Buenas tardes, quería saber si tienen la camiseta azul en talla mediana"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "34612345678")
	e.waitDetected(e.conv(conv).ContactID, "es")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ai.es2", "34612345678", "Lucía", "¿Y el envío cuánto cuesta?"))
	var sys string
	eventually(t, 5*time.Second, func() error {
		reqs := ai.requests()
		if len(reqs) < 2 {
			return fmt.Errorf("%d requests", len(reqs))
		}
		var sent struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil {
			return err
		}
		sys = sent.Messages[0].Content
		return nil
	})
	require.Contains(t, sys, "country (ISO 3166-1, detected from the phone number): ES")
	require.Contains(t, sys, "language (ISO 639-1, detected from the customer's messages): es")
	require.Contains(t, sys, "phone: +34 612 34 56 78")

	hook := newFakeAI(t)
	hook.set(func(int) (int, string, time.Duration) { return 200, `{"reply":"Bonjour !"}`, 0 })
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook",
		"webhook_url": hook.srv.URL + "/bot", "api_key": "hook-secret"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ai.fr1", "33612345678", "Zoé", "Bonjour, je voudrais savoir si vous livrez en Belgique"))
	eventually(t, 5*time.Second, func() error {
		if len(hook.requests()) == 0 {
			return fmt.Errorf("no webhook call")
		}
		return nil
	})
	r := string(hook.requests()[0].Body)
	require.True(t, strings.Contains(r, `"country":"FR"`) && strings.Contains(r, `"phone_international":"+33 6 12 34 56 78"`), r)
}
