package gateway

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzAssistantBody feeds arbitrary bodies to the assistant body parser,
// over the default assistant and another one: no panic, every refusal
// is a 400 API error, and what is accepted is a valid assistant with a
// tidy name and only the workspace's accounts.
func FuzzAssistantBody(f *testing.F) {
	for _, s := range []string{`{"name":"Sales"}`, `{"name":" Sales ","accounts":[{"channel":"whatsapp","account_id":"1"}]}`,
		`{"accounts":[{"channel":"whatsapp","account_id":"2"}]}`, `{"accounts":[{"channel":"fax","account_id":"1"}]}`,
		`{"accounts":[{"channel":"whatsapp","account_id":"1"},{"channel":"whatsapp","account_id":"1"}]}`,
		`{"agent":{"kind":"openai","base_url":"http://x","model":"m"}}`, `{"agent":{"kind":"oracle"}}`,
		`{"agent":{"stripe_webhook_secret":"whsec_1"}}`, `{"agent":{"timeout_seconds":-1}}`, `{"name":"a\nb"}`,
		`{"name":""}`, `{}`, ``, `null`, `[]`, "{\"name\":\"\xff\"}", `{"name":"x"} {}`, `{"x":1}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, isDefault bool) {
		var b assistantBody
		if err := decodeJSONBytes(body, &b); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("decoding: %v is not a 400 API error", err)
			}
			return
		}
		a := engine.Assistant{ID: "a1", Name: "Before", Settings: engine.AgentSettings{Kind: engine.AgentRulesKind}}
		if isDefault {
			a.ID = engine.DefaultAssistantID
		}
		err := applyAssistantBody(&a, &b, func(r engine.AccountRef) bool { return r.Channel == engine.ChannelWhatsApp && r.AccountID == "1" })
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted an invalid assistant: %v", err)
		}
		if a.Name != strings.TrimSpace(a.Name) || a.Name == "" || !utf8.ValidString(a.Name) || len(a.Name) > engine.MaxAssistantNameBytes {
			t.Fatalf("accepted name %q", a.Name)
		}
		for _, r := range a.Accounts {
			if r.Channel != engine.ChannelWhatsApp || r.AccountID != "1" {
				t.Fatalf("accepted account %v", r)
			}
		}
		if isDefault && len(a.Accounts) > 0 || !isDefault && a.Settings.StripeWebhookSecret != "" {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// FuzzConversationAssistantBody: the body of POST
// /conversations/{conv}/assistant decodes or is a 400.
func FuzzConversationAssistantBody(f *testing.F) {
	for _, s := range []string{`{"assistant_id":"default"}`, `{"assistant_id":1}`, `{}`, ``, `null`, `{"assistant_id":"a","x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b conversationAssistantBody
		if err := decodeJSONBytes(body, &b); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
		}
	})
}
