package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzVisitorMessageBody feeds arbitrary bodies to the visitor message
// parser, as JSON and as a multipart payload: no panic, every refusal is
// a 4xx API error, and what is accepted has a client id, text within the
// limit (some text unless a file comes with it) and a form a contact
// takes.
func FuzzVisitorMessageBody(f *testing.F) {
	for _, s := range []string{
		`{"client_id":"c1","text":"hi"}`,
		`{"client_id":"c1","text":"hi","page_url":"https://shop.example/?utm_campaign=x","referrer":"https://g.example/","browser":"Firefox"}`,
		`{"client_id":"c1","text":"hi","form":{"name":"Ana","email":"ana@example.com","phone":"+33 6 12 34 56 78","fields":{"order":"A1"}}}`,
		`{"client_id":"c1","text":"hi","form":{"email":"nope"}}`, `{"client_id":" ","text":"x"}`, `{"client_id":"c","text":"  "}`,
		`{"client_id":"c","text":"<script>alert(1)</script>"}`, `{"text":"x"}`, `{}`, `null`, `[]`, `{"client_id":"c","text":"x","html":1}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, withFile bool) {
		b, p, err := parseVisitorMessage(raw, withFile)
		if err != nil {
			if !isClientError(err) {
				t.Fatalf("refused without a 4xx: %v", err)
			}
			return
		}
		if strings.TrimSpace(b.ClientID) == "" || len(b.ClientID) > 128 || len(b.Text) > maxVisitorText || !utf8.ValidString(b.Text) {
			t.Fatalf("accepted %+v", b)
		}
		if !withFile && b.Text == "" {
			t.Fatal("accepted an empty message")
		}
		if p != nil {
			if _, err := engine.PatchContact(engine.Contact{Source: engine.SourceForm}, *p, time.Time{}); err != nil {
				t.Fatalf("accepted a form a contact refuses: %v", err)
			}
		}
	})
}

// FuzzWidgetSessionBody: the session body parser never panics and
// refuses with a 400.
func FuzzWidgetSessionBody(f *testing.F) {
	for _, s := range []string{`{"page_url":"https://shop.example/"}`, `{"page_url":"x","visitor_id":"01","token":"01.ab","user_id":"u","user_hash":"00"}`,
		`{}`, `{"page_url":1}`, `{"page_url":"x","admin":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := parseSessionBody(raw); err != nil && !isBadRequest(err) {
			t.Fatalf("refused without a 400: %v", err)
		}
	})
}

// FuzzVisitorFrame: a visitor's WebSocket frame is accepted only when it
// is one of the frames the protocol names, well formed.
func FuzzVisitorFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, `{"type":"typing"}`, `{"type":"read","message_id":"01J0000000000000000000000A"}`,
		`{"type":"delivered","message_id":"x"}`, `{"type":"subscribe"}`, `{"type":"ping","message_id":"01J0000000000000000000000A"}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := parseVisitorFrame(raw)
		if err != nil {
			return
		}
		switch fr.Type {
		case "ping", "typing":
			if fr.MessageID != "" {
				t.Fatalf("accepted %+v", fr)
			}
		case "read", "delivered":
			if _, err := engine.ParseID(fr.MessageID); err != nil {
				t.Fatalf("accepted %+v", fr)
			}
		default:
			t.Fatalf("accepted %+v", fr)
		}
	})
}

// FuzzWidgetSettingsBody: a widget's create and update bodies never
// panic, are refused with a 400, and what is accepted is clean settings
// (Clean accepts them again unchanged).
func FuzzWidgetSettingsBody(f *testing.F) {
	for _, s := range []string{`{"name":"Shop","allowed_origins":["https://Shop.example"],"color":"#112233","position":"left"}`,
		`{"name":"x","pre_chat":[{"kind":"text","key":"order_id","label":"Order"},{"kind":"email","label":"Email","required":true}]}`,
		`{"name":"x","hours":{"time_zone":"Europe/Paris","days":[{"day":1,"open":"09:00","close":"17:00"}]}}`,
		`{"name":"x","hours":null}`, `{"rotate_secret":true}`, `{"name":"x","allowed_origins":["*"]}`, `{"color":"red"}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, create bool) {
		got, _, err := parseWidgetBody(raw, engine.DefaultWidgetSettings(), create)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("refused without a 400: %v", err)
			}
			return
		}
		again, err := got.Clean()
		if err != nil {
			t.Fatalf("accepted settings Clean refuses: %v", err)
		}
		if strings.Join(again.AllowedOrigins, " ") != strings.Join(got.AllowedOrigins, " ") {
			t.Fatalf("origins not clean: %v", got.AllowedOrigins)
		}
	})
}

// isClientError reports whether err is a 4xx API error.
func isClientError(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}
