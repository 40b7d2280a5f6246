package gateway

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzMemoryBody feeds arbitrary bodies to the memory parser: no panic,
// every refusal is a 400 API error, and accepted text is tidy, bounded,
// valid UTF-8 with no control characters.
func FuzzMemoryBody(f *testing.F) {
	for _, s := range []string{`{"text":"prefers email"}`, `{"text":"  a\n\tb "}`, `{"text":""}`, `{"text":5}`, `{}`, ``,
		`{"text":"x","y":1}`, "{\"text\":\"\xff\"}", `{"text":"\u0000"}`, `{"text":"x"} {}`, `null`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		text, err := parseMemoryBody(body)
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
	})
}
