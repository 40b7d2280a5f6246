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
			setup  setupBody
			reset  resetBody
			pw     setPasswordBody
			all    logoutAllBody
		)
		for _, v := range []any{&send, &acct, &login, &accept, &invite, &update, &token, &setup, &reset, &pw, &all} {
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
