package gateway

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzCannedReplyBody feeds arbitrary bodies to the canned reply parser,
// as a create and as an update: no panic, every refusal is a 400 API
// error, a create names every field and an update at least one, and
// what is accepted is tidy, bounded, valid UTF-8.
func FuzzCannedReplyBody(f *testing.F) {
	for _, s := range []string{`{"short_code":"hi","title":"Hello","body":"Hi {{contact.first_name}}"}`, `{"title":"x"}`,
		`{"short_code":" A-b_1 ","title":" a \n b ","body":"\r\nx\r\n"}`, `{"short_code":"a b"}`, `{}`, ``, `null`, `[]`,
		`{"body":"\u0000"}`, "{\"title\":\"\xff\"}", `{"short_code":"x"} {}`, `{"short_code":null}`, `{"x":1}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		ch, err := parseCannedBody(body, create)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		n := 0
		if p := ch.ShortCode; p != nil {
			n++
			if *p == "" || len(*p) > engine.MaxCannedShortCodeBytes || *p != strings.ToLower(*p) ||
				strings.IndexFunc(*p, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' }) >= 0 {
				t.Fatalf("accepted short code %q", *p)
			}
		}
		if p := ch.Title; p != nil {
			n++
			if *p == "" || len(*p) > engine.MaxCannedTitleBytes || !utf8.ValidString(*p) || *p != strings.Join(strings.Fields(*p), " ") {
				t.Fatalf("accepted title %q", *p)
			}
		}
		if p := ch.Body; p != nil {
			n++
			if strings.TrimSpace(*p) != *p || *p == "" || len(*p) > engine.MaxCannedBodyBytes || !utf8.ValidString(*p) ||
				strings.ContainsRune(*p, '\r') || strings.IndexFunc(*p, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0 {
				t.Fatalf("accepted body %q", *p)
			}
		}
		if create && n != 3 || n == 0 {
			t.Fatalf("accepted %d fields (create %v)", n, create)
		}
	})
}
