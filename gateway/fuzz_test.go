package gateway

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeJSON feeds arbitrary API bodies to the strict decoder: it
// never panics, every failure is a 400 API error, and what it accepts is
// valid UTF-8 JSON.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"text":"hi"}`, `{"channel":"whatsapp","account_id":"1","access_token":"t"}`,
		`{`, `[]`, `{"text":5}`, "{\"text\":\"\xff\"}", `{"text":"a"} {}`, `{"nope":1}`, ``, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var (
			send   sendBody
			acct   accountBody
			login  loginBody
			accept acceptBody
			invite inviteBody
			update updateUserBody
			token  createTokenBody
		)
		for _, v := range []any{&send, &acct, &login, &accept, &invite, &update, &token} {
			err := decodeJSONBytes(body, v)
			if err == nil {
				if !utf8.Valid(body) {
					t.Fatalf("accepted invalid UTF-8: %q", body)
				}
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
		}
	})
}

// FuzzClientFrame feeds arbitrary WebSocket client frames to the frame
// parser: it never panics, and what it accepts is a ping or a subscribe
// with a valid filter.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, `{"type":"subscribe","filter":{"channel":"whatsapp","folder":"open"},"resume":{"epoch":"e","seq":3}}`,
		`{"type":"subscribe","filter":{"conversation_id":"bad"}}`, `{"type":"x"}`, `[`, `{"type":"ping","extra":1}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseClientFrame(b)
		if err != nil {
			return
		}
		if fr.Type != "ping" && fr.Type != "subscribe" {
			t.Fatalf("accepted frame type %q", fr.Type)
		}
		if _, err := fr.Filter.actors(); err != nil {
			t.Fatalf("accepted a bad filter: %v", err)
		}
	})
}
