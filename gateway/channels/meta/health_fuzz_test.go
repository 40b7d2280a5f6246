package meta

import (
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzHealthOf reads any Graph answer to an account check: it never
// panics, always gives one of the checked states with a valid, bounded
// reason, and gives connected only to a success.
func FuzzHealthOf(f *testing.F) {
	f.Add(200, []byte(`{"id":"1"}`))
	f.Add(400, []byte(`{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A"}}`))
	f.Add(500, []byte(`{"error":{"message":"x","code":1}}`))
	f.Add(503, []byte(`<html>`))
	f.Add(200, []byte(`{"error":{"code":102}}`))
	f.Add(429, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ge := parseGraphError(status, body)
		var err error
		if ge != nil {
			err = ge
		}
		r := HealthOf(err)
		switch r.State {
		case engine.HealthConnected:
			if ge != nil {
				t.Fatalf("connected on an error: %v", ge)
			}
		case engine.HealthExpired, engine.HealthUnreachable, engine.HealthError:
			if ge == nil {
				t.Fatalf("%s without an error", r.State)
			}
			if r.Code == "" || r.Reason == "" {
				t.Fatalf("%s without a code or reason: %+v", r.State, r)
			}
		default:
			t.Fatalf("state %q", r.State)
		}
		if len(r.Reason) > MaxReasonBytes || !utf8.ValidString(r.Reason) {
			t.Fatalf("reason %q", r.Reason)
		}
	})
}
