package gateway

import (
	"bytes"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzContactCSV feeds arbitrary import bodies to the CSV reader: it
// never panics, a refused header refuses the whole import, rows come in
// file order, and every row it accepts is a valid contact with a name,
// phone or email.
func FuzzContactCSV(f *testing.F) {
	for _, s := range []string{
		"name,email,phone,company,plan\nAna,ana@example.com,+1 555 0102,Acme,gold\n",
		"\ufeffName,Email\n\"Quoted, Name\",q@example.com\nshort\n\n,\n",
		"name,name\na,b\n", "company\nx\n", "", "name\n\"unterminated\n", "name,email\n'=SUM(A1),x@y.io\n",
		"name\n\xff\n", "phone\ncall me\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		last := 0
		err := readContactCSV(bytes.NewReader(body), func(r csvRow) error {
			if r.n < last {
				t.Fatalf("row %d after row %d", r.n, last)
			}
			last = r.n
			if r.err != nil {
				return nil
			}
			p := r.ct.Profile
			if p.Name == "" && p.Email == "" && p.Phone == "" {
				t.Fatalf("accepted a row with no name, phone or email: %+v", r.ct)
			}
			if err := engine.ValidateContact(&r.ct); err != nil {
				t.Fatalf("accepted an invalid contact: %v", err)
			}
			if r.ct.Source != engine.SourceImport {
				t.Fatalf("source %q", r.ct.Source)
			}
			return nil
		})
		var bad errBadHeader
		if err != nil && !errors.As(err, &bad) {
			t.Fatalf("error %v from an in-memory body", err)
		}
	})
}

// FuzzContactBody feeds arbitrary create and update bodies to the decoder
// and the contact rules: no panic, every refusal is a 400 API error, and
// what is accepted is a valid contact.
func FuzzContactBody(f *testing.F) {
	for _, s := range []string{`{"name":"Ana","email":"ana@example.com","custom_fields":{"plan":"gold","old":null}}`,
		`{"phone":"+1 (555) 010-2030","avatar":"https://x.io/a.png"}`, `{"email":"nope"}`, `{"name":5}`,
		`{"source":"api","name":"x"}`, `{"avatar":"a","avatar_url":"b"}`, `{"custom_fields":{"":"x"}}`, "{\"name\":\"\xff\"}", `{"text":"note @ana"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b contactBody
		if err := decodeJSONBytes(body, &b); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		ct := engine.Contact{Source: engine.SourceManual, CustomFields: map[string]string{"old": "v"}}
		patch, err := b.patch()
		if err == nil {
			ct, err = engine.PatchContact(ct, patch, time.Unix(0, 0))
			err = fromEngine(err)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if err := engine.ValidateContact(&ct); err != nil {
			t.Fatalf("accepted an invalid contact: %v", err)
		}
		var n noteBody
		if decodeJSONBytes(body, &n) == nil && engine.ValidateNoteText(n.Text) == nil {
			if !utf8.ValidString(n.Text) {
				t.Fatal("accepted a note that is not UTF-8")
			}
			for _, h := range engine.ParseMentions(n.Text) {
				if h == "" || !utf8.ValidString(h) {
					t.Fatalf("bad mention %q", h)
				}
			}
		}
	})
}

// FuzzTimelineCursor feeds arbitrary before= values to the timeline's
// cursor parser: it never panics, and a cursor it accepts encodes back
// to itself and decodes to the same position.
func FuzzTimelineCursor(f *testing.F) {
	for _, s := range []string{"", "nope", timelineCursor{at: time.Unix(1750000000, 5), key: "n01J"}.String(), "MTIz", "LTF8YQ", "MDAxfGE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseTimelineCursor(s)
		if err != nil {
			return
		}
		if c.key == "" || len(c.key) > maxCursorKeyBytes {
			t.Fatalf("accepted key %q", c.key)
		}
		if got := c.String(); got != s {
			t.Fatalf("%q encodes back as %q", s, got)
		}
		again, err := parseTimelineCursor(c.String())
		if err != nil || !again.at.Equal(c.at) || again.key != c.key {
			t.Fatalf("%q: %v %v", s, again, err)
		}
	})
}
