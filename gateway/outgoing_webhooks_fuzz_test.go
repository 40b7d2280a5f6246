package gateway

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// FuzzWebhookBody feeds arbitrary bodies to the outgoing webhook parser,
// as a create and as an update: no panic, every refusal is a 400 API
// error, and what is accepted makes a valid subscription (an http or
// https URL with a host, a secret of 16 to 256 bytes, known events only,
// each once).
func FuzzWebhookBody(f *testing.F) {
	for _, s := range []string{`{"url":"https://hooks.example/p","events":["message_created","handoff"]}`,
		`{"url":"http://127.0.0.1:9/x","events":["contact_updated"],"secret":"0123456789abcdef","active":false}`,
		`{"active":true}`, `{"events":[]}`, `{"url":"ftp://x","events":["handoff"]}`, `{}`, ``, `null`, `[]`,
		`{"url":"https://u:p@x","events":["handoff"]}`, `{"events":["handoff","handoff"]}`, `{"secret":"short"}`, `{"x":1}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		ch, err := parseHookBody(body, create)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if create && (ch.URL == nil || ch.Secret == nil || ch.Events == nil) {
			t.Fatalf("a create without url, secret or events: %+v", ch)
		}
		base := engine.Webhook{URL: "https://base.example", Secret: "0123456789abcdef", Events: []engine.WebhookEvent{engine.WebhookHandoff}}
		if create {
			base = engine.Webhook{}
		}
		w, err := engine.ApplyWebhook(base, ch, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("accepted a change the rule refuses: %v", err)
		}
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("accepted url %q", w.URL)
		}
		if len(w.Secret) < engine.MinWebhookSecretBytes || len(w.Secret) > engine.MaxWebhookSecretBytes {
			t.Fatalf("accepted a secret of %d bytes", len(w.Secret))
		}
		for i, e := range w.Events {
			if !slices.Contains(engine.WebhookEvents, e) || slices.Contains(w.Events[:i], e) {
				t.Fatalf("accepted events %v", w.Events)
			}
		}
	})
}
