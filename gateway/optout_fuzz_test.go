package gateway

import (
	"slices"
	"testing"

	"github.com/parleyhq/parley/engine"
)

// FuzzOptOutSettingsBody feeds PUT /api/v1/settings/opt-out bodies to its
// parser: it never panics, and what it accepts is within the limits.
func FuzzOptOutSettingsBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"keywords":["STOP","ARRÊT"]}`, `{"keywords":[],"resubscribe_keywords":null}`,
		`{"confirmation":"Bye","resubscribe_confirmation":"Hi"}`, `{"keywords":["STOP"],"resubscribe_keywords":["stop"]}`,
		`{"keywords":[""]}`, `{"keywords":"x"}`, `[]`, `null`, `{"keywords":["\u00e9"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseOptOutBody(body)
		if err != nil {
			return
		}
		if len(s.Keywords) > engine.MaxOptOutKeywords || len(s.ResubscribeKeywords) > engine.MaxOptOutKeywords ||
			len(s.Confirmation) > engine.MaxOptOutConfirmationBytes || len(s.ResubscribeConfirmation) > engine.MaxOptOutConfirmationBytes {
			t.Fatalf("accepted out of bounds: %+v", s)
		}
		for _, k := range append(slices.Clone(s.Keywords), s.ResubscribeKeywords...) {
			if k == "" || len(k) > engine.MaxOptOutKeywordBytes {
				t.Fatalf("accepted keyword %q", k)
			}
		}
	})
}
