package meta_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/gateway/channels/meta"
)

// seed adds every testdata payload, plus a few hand-made edge cases, to f.
func seed(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"object":"page","entry":[{"id":"1","messaging":[{}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{}}]}]}`,
		`{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"timestamp":1,"message":{"mid":"m","text":"\ud800"}}]}]}`,
	} {
		f.Add([]byte(s))
	}
}

func fuzzParser(f *testing.F, parse parser) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parse(body)
		if err != nil {
			if !errors.Is(err, meta.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		requireValid(t, b)
	})
}

func FuzzParseWhatsApp(f *testing.F)  { fuzzParser(f, meta.ParseWhatsApp) }
func FuzzParseMessenger(f *testing.F) { fuzzParser(f, meta.ParseMessenger) }
func FuzzParseInstagram(f *testing.F) { fuzzParser(f, meta.ParseInstagram) }

func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte(`{"object":"page"}`), "sha256=00", []byte("secret"))
	f.Add([]byte(""), "", []byte(""))
	f.Add([]byte(`{"text":"Caf\u00e9"}`), meta.Sign([]byte(`{"text":"Caf\u00e9"}`), []byte("k")), []byte("k"))
	f.Fuzz(func(t *testing.T, body []byte, header string, secret []byte) {
		// Never panics; a correct signature always verifies, under any
		// non-empty secret, alone or rotated with another.
		_ = meta.VerifySignature(body, header, secret)
		if len(secret) == 0 {
			if meta.VerifySignature(body, meta.Sign(body, secret), secret) {
				t.Fatal("an empty secret verified")
			}
			return
		}
		sig := meta.Sign(body, secret)
		if !meta.VerifySignature(body, sig, secret) || !meta.VerifySignature(body, sig, []byte("other"), secret) {
			t.Fatal("own signature rejected")
		}
		if header != sig && meta.VerifySignature(body, header, secret) && len(header) == len(sig) {
			// Only a different spelling of the same digest (hex case or
			// surrounding space) may verify.
			for i := range header {
				if header[i]|0x20 != sig[i]|0x20 {
					t.Fatalf("forged header %q verified", header)
				}
			}
		}
		tampered := append([]byte{'x'}, body...)
		if meta.VerifySignature(tampered, sig, secret) {
			t.Fatal("tampered body verified")
		}
	})
}

// FuzzTemplateStatusWebhook feeds arbitrary message_template_status_update
// values to the WhatsApp parser: no panic, refusals are ErrMalformed, and
// every update kept names its Business Account, template, language and
// event within bounds.
func FuzzTemplateStatusWebhook(f *testing.F) {
	for _, v := range []string{
		`{"event":"APPROVED","message_template_id":594425479261596,"message_template_name":"order_update","message_template_language":"en_US","reason":"NONE"}`,
		`{"event":"REJECTED","message_template_id":"1","message_template_name":"x","message_template_language":"es","reason":"INVALID_FORMAT","rejection_info":{"reason":"x"}}`,
		`{"event":"PAUSED","message_template_id":null,"message_template_name":"x","message_template_language":"en"}`,
		`{"event":1}`, `[]`, `{}`, `null`, `{"message_template_id":{"a":1},"message_template_name":"x","message_template_language":"en","event":"APPROVED"}`,
	} {
		f.Add("102290129340398", v)
	}
	f.Fuzz(func(t *testing.T, waba, value string) {
		wabaJSON, _ := json.Marshal(waba)
		body := `{"object":"whatsapp_business_account","entry":[{"id":` + string(wabaJSON) + `,"changes":[{"field":"message_template_status_update","value":` + value + `}]}]}`
		b, err := meta.ParseWhatsApp([]byte(body))
		if err != nil {
			if !errors.Is(err, meta.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, u := range b.TemplateStatuses {
			if u.WABAID == "" || u.Name == "" || u.Language == "" || u.Event == "" || len(u.Reason) > 1024 ||
				!utf8.ValidString(u.Name+u.Language+u.Event+u.Reason+u.ID+u.WABAID) || strings.ContainsAny(u.ID, `"{}[]`) {
				t.Fatalf("kept %+v", u)
			}
		}
	})
}
