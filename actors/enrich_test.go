package actors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A WhatsApp customer from +34 writing Spanish: the contact's actor
// records the country and the formatted number read from the wa_id as
// the contact is created, and the detector the language once the
// customer wrote enough; a short first message says nothing yet, and a
// business echo in another language does not count.
func TestContactEnrichment(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	conv := h.say("34612345678", "m1", "Hola")
	contact := h.conv(conv).ContactID
	c, err := h.store.Contact(h.ws, contact)
	require.NoError(t, err)
	require.Equal(t, engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES"}, c.Detected)

	echo := h.inbound("34612345678", "m2", "Hello, thank you for writing to us, we will answer you very soon")
	echo.Echo = true
	h.ingest(echo)
	h.say("34612345678", "m3", "quería saber si tienen la camiseta azul en talla mediana")
	eventually(t, 5*time.Second, func() error {
		c, err = h.store.Contact(h.ws, contact)
		if err != nil || c.Detected.Language != "es" {
			return fmt.Errorf("language %q, %v", c.Detected.Language, err)
		}
		return nil
	})
	require.Equal(t, "ES", c.Detected.Country, "the phone's part stays")

	// A language and a country a person set are kept; the detected ones
	// sit beside them.
	c, err = h.rt.UpdateContact(ctx, h.ws, contact, engine.ContactPatch{Language: ptr("ca"), Country: ptr("AD")})
	require.NoError(t, err)
	require.Equal(t, "ca", c.Profile.Language)
	require.Equal(t, "AD", c.Profile.Country)
	require.Equal(t, "es", c.Detected.Language)
	require.Equal(t, "ES", c.Detected.Country)

	// A person's new phone moves the detected country with it.
	c, err = h.rt.UpdateContact(ctx, h.ws, contact, engine.ContactPatch{Phone: ptr("+33 6 12 34 56 78")})
	require.NoError(t, err)
	require.Equal(t, "FR", c.Detected.Country)
	require.Equal(t, "+33 6 12 34 56 78", c.Detected.PhoneInternational)
}

// A customer writing French in several short messages: none alone is
// enough, together they are.
func TestContactLanguageAccumulates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	conv := h.say("33612345678", "f1", "Bonjour")
	h.say("33612345678", "f2", "je voudrais savoir")
	h.say("33612345678", "f3", "si vous livrez en Belgique")
	contact := h.conv(conv).ContactID
	eventually(t, 5*time.Second, func() error {
		c, err := h.store.Contact(h.ws, contact)
		if err != nil || c.Detected.Language != "fr" {
			return fmt.Errorf("language %q, %v", c.Detected.Language, err)
		}
		return nil
	})
}

// A customer whose language settled (French, read several times) and who
// then writes English: the detector reads the settled contact's sample
// again only once all of it is new text, and finds the change.
func TestContactLanguageChangeAfterSettled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var conv engine.ID
	for i := range engine.LanguageSettledAfter + 2 {
		conv = h.say("33698765432", fmt.Sprintf("fr%d", i), "je voudrais savoir si vous livrez en Belgique la semaine prochaine")
	}
	contact := h.conv(conv).ContactID
	language := func(want string) {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			c, err := h.store.Contact(h.ws, contact)
			if err != nil || c.Detected.Language != want {
				return fmt.Errorf("language %q, %v", c.Detected.Language, err)
			}
			return nil
		})
	}
	language("fr")
	text := "could you tell me whether my order has shipped and when it will arrive"
	for i := range 2*engine.MaxLanguageSample/len(text) + 1 {
		h.say("33698765432", fmt.Sprintf("en%d", i), text)
	}
	language("en")
}
