package agents

import (
	"fmt"
	"strings"

	"github.com/parleyhq/parley/engine"
)

// writeDetected adds to the system prompt what enrichment found about
// contact c (engine/enrich.go) where a person set nothing: the country
// read from the phone and the language read from the customer's
// messages, as ISO codes.
func writeDetected(sys *strings.Builder, c *engine.Contact) {
	if country, detected := engine.EffectiveCountry(c); detected {
		fmt.Fprintf(sys, "\n- country (ISO 3166-1, detected from the phone number): %s", country)
	}
	if lang, detected := engine.EffectiveLanguage(c); detected {
		fmt.Fprintf(sys, "\n- language (ISO 639-1, detected from the customer's messages): %s", lang)
	}
	if d := c.Detected.PhoneInternational; d != "" && c.Profile.Phone == "" {
		fmt.Fprintf(sys, "\n- phone: %s", d)
	}
}
