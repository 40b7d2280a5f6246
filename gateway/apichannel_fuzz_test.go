package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// isBadRequest reports whether err is a 400 API error.
func isBadRequest(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == 400
}

// FuzzAPIChannelMessageBody feeds arbitrary bodies to the API channel's
// inbound message parser, as JSON and as a multipart payload: no panic,
// every refusal is a 400 API error, and what is accepted has non-blank
// ids within bounds, says something (text, or a file by http(s) URL or
// multipart part, not both) and has contact details a contact takes.
func FuzzAPIChannelMessageBody(f *testing.F) {
	for _, s := range []string{
		`{"source_id":"m1","text":"hi","contact":{"external_id":"u1","name":"Ana","email":"ana@example.com"}}`,
		`{"source_id":"m1","contact":{"external_id":"u1"},"attachment":{"url":"https://cdn.example.com/a.png","mime_type":"image/png"}}`,
		`{"source_id":"m1","text":"x","contact":{"external_id":"u1"},"sent_at":"2026-01-02T03:04:05Z"}`,
		`{"source_id":" ","text":"x","contact":{"external_id":"u1"}}`, `{"source_id":"m","contact":{"external_id":"u"}}`,
		`{"source_id":"m","text":"x","contact":{"external_id":"u","phone":"x"}}`, `{"source_id":"m","attachment":{"url":"file:///x"},"contact":{"external_id":"u"}}`,
		`{}`, ``, `null`, `[]`, `{"source_id":1}`, "{\"source_id\":\"\xff\"}", `{"source_id":"m","contact":{"external_id":"u"},"x":1}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, withFile bool) {
		b, patch, err := parseAPIMessage(body, withFile)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		for _, id := range []string{b.SourceID, b.Contact.ExternalID} {
			if strings.TrimSpace(id) == "" || utf8.RuneCountInString(id) > 256 || !utf8.ValidString(id) {
				t.Fatalf("accepted id %q", id)
			}
		}
		switch {
		case withFile && b.Attachment != nil:
			t.Fatal("accepted a file twice")
		case !withFile && b.Attachment == nil && strings.TrimSpace(b.Text) == "":
			t.Fatal("accepted a message that says nothing")
		case b.Attachment != nil && !strings.HasPrefix(b.Attachment.URL, "http://") && !strings.HasPrefix(b.Attachment.URL, "https://"):
			t.Fatalf("accepted file URL %q", b.Attachment.URL)
		}
		if patch != nil {
			if patch.Name != nil {
				t.Fatal("the name of a message's contact went into a patch")
			}
			if _, err := engine.PatchContact(engine.Contact{Source: engine.SourceAPI}, *patch, time.Time{}); err != nil {
				t.Fatalf("accepted contact details a contact refuses: %v", err)
			}
		}
		if !withFile {
			c := apiContent(&b)
			if (c.Kind == engine.KindText) != (b.Attachment == nil) || (c.Media != nil && c.Media.URL != b.Attachment.URL) {
				t.Fatalf("content %+v of %+v", c, b)
			}
		}
	})
}

// FuzzAPIChannelStatusBody feeds arbitrary bodies to the API channel's
// status parser: no panic, every refusal is a 400 API error, and what is
// accepted names a message id and a status an integrator may report.
func FuzzAPIChannelStatusBody(f *testing.F) {
	id := engine.NewID(time.Unix(1750000000, 0)).String()
	for _, s := range []string{`{"message_id":"` + id + `","status":"read"}`, `{"message_id":"` + id + `","status":"failed","reason":" blocked "}`,
		`{"message_id":"` + id + `","status":"sending"}`, `{"message_id":"x","status":"read"}`, `{"message_id":"` + id + `","status":"read","at":"2026-01-01T00:00:00Z"}`,
		`{}`, ``, `null`, `{"status":"read"}`, `{"message_id":"` + id + `","status":"read","x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseAPIStatus(body)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if _, err := engine.ParseID(b.MessageID); err != nil {
			t.Fatalf("accepted message id %q", b.MessageID)
		}
		switch b.Status {
		case engine.StatusSent, engine.StatusDelivered, engine.StatusRead, engine.StatusFailed:
		default:
			t.Fatalf("accepted status %q", b.Status)
		}
		if b.Reason != strings.TrimSpace(b.Reason) || !utf8.ValidString(b.Reason) || utf8.RuneCountInString(b.Reason) > 1024 {
			t.Fatalf("accepted reason %q", b.Reason)
		}
	})
}

// FuzzAPIChannelContactBody feeds arbitrary bodies to the API channel's
// contact update parser: no panic, every refusal is a 400 API error, and
// what is accepted names an external id and at least one field a contact
// takes.
func FuzzAPIChannelContactBody(f *testing.F) {
	for _, s := range []string{`{"external_id":"u1","name":"Ana Ruiz","phone":"+34 600 000 000"}`, `{"external_id":"u1"}`,
		`{"external_id":"u1","email":"nope"}`, `{"external_id":"u1","avatar_url":"ftp://x"}`, `{"external_id":" ","name":"x"}`,
		`{}`, ``, `null`, `{"external_id":"u1","name":"a\nb"}`, `{"external_id":"u1","name":"x","y":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, p, err := parseAPIContact(body)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if strings.TrimSpace(b.ExternalID) == "" {
			t.Fatalf("accepted external id %q", b.ExternalID)
		}
		if p.Name == nil && p.Email == nil && p.Phone == nil && p.AvatarURL == nil {
			t.Fatal("accepted an update of nothing")
		}
		if _, err := engine.PatchContact(engine.Contact{Source: engine.SourceAPI}, p, time.Time{}); err != nil {
			t.Fatalf("accepted a change a contact refuses: %v", err)
		}
	})
}
