package gateway

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzMemoryBody feeds arbitrary bodies to the memory parser: no panic,
// every refusal is a 400 API error, accepted text is tidy, bounded,
// valid UTF-8 with no control characters, and its type one of
// engine.MemoryTypes.
func FuzzMemoryBody(f *testing.F) {
	for _, s := range []string{`{"text":"prefers email"}`, `{"text":"  a\n\tb "}`, `{"text":""}`, `{"text":5}`, `{}`, ``,
		`{"text":"x","y":1}`, "{\"text\":\"\xff\"}", `{"text":"\u0000"}`, `{"text":"x"} {}`, `null`, `[]`,
		`{"text":"x","type":"goal"}`, `{"text":"x","type":"hobby"}`, `{"text":"x","type":7}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		text, typ, err := parseMemoryBody(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if text == "" || len(text) > engine.MaxMemoryBytes || !utf8.ValidString(text) ||
			strings.IndexFunc(text, unicode.IsControl) >= 0 || text != strings.Join(strings.Fields(text), " ") {
			t.Fatalf("accepted %q", text)
		}
		if !slices.Contains(engine.MemoryTypes, typ) {
			t.Fatalf("accepted the type %q", typ)
		}
	})
}
