package gateway

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzPushSubscriptionBody feeds arbitrary bodies to the push
// subscription parser: no panic, every refusal a 400 API error, and what
// it accepts is an https endpoint with a 65-byte key and a 16-byte
// secret.
func FuzzPushSubscriptionBody(f *testing.F) {
	key := "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	for _, s := range []string{
		`{"endpoint":"https://push.example.com/x","keys":{"p256dh":"` + key + `","auth":"tBHItJI5svbpez7KI4CCXg"}}`,
		`{"endpoint":"https://push.example.com/x","keys":{"p256dh":"` + key + `=","auth":"tBHItJI5svbpez7KI4CCXg=="},"expirationTime":null}`,
		`{"endpoint":"http://push.example.com/x","keys":{"p256dh":"x","auth":"y"}}`, `{"endpoint":"https://","keys":{}}`,
		`{}`, ``, `null`, `[]`, `{"endpoint":5}`, "{\"endpoint\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parsePushBody(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		u, err := url.Parse(b.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(b.Endpoint) > maxPushEndpoint {
			t.Fatalf("accepted endpoint %q", b.Endpoint)
		}
		p, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(b.Keys.P256dh, "="))
		a, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(b.Keys.Auth, "="))
		if err1 != nil || err2 != nil || len(p) != 65 || len(a) != 16 {
			t.Fatalf("accepted keys %+v", b.Keys)
		}
	})
}

// FuzzNotificationSettingsBody feeds arbitrary bodies to the settings
// parser: no panic, every refusal a 400 API error, and what it accepts
// changes at least one medium of one kind.
func FuzzNotificationSettingsBody(f *testing.F) {
	for _, s := range []string{`{"settings":{"assigned":{"push":true}}}`, `{"settings":{"new_conversation":{"browser":false,"push":true,"email":true}}}`,
		`{"settings":{}}`, `{"settings":{"assigned":{}}}`, `{"settings":{"x":{"push":true}}}`, `{}`, ``, `null`, `{"settings":{"assigned":{"push":1}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseNotificationsBody(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		changes := 0
		for _, m := range []*mediaUpdate{b.Settings.NewConversation, b.Settings.Assigned, b.Settings.Mentioned, b.Settings.NeedsHuman} {
			if m == nil {
				continue
			}
			if m.Browser == nil && m.Push == nil && m.Email == nil {
				t.Fatalf("accepted a kind with no medium: %s", body)
			}
			changes++
		}
		if changes == 0 {
			t.Fatalf("accepted no change: %s", body)
		}
	})
}
