package gateway

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzBroadcastBody feeds arbitrary bodies to the broadcast parser and
// checks the result against a template with a header and three body
// variables: no panic, every refusal is a 400-class API error, and an
// accepted broadcast has a bounded name, a rate within the tier, an
// audience, and fills its template for a contact (or skips it) without
// panicking.
func FuzzBroadcastBody(f *testing.F) {
	id := engine.NewID(time.Unix(1e9, 0)).String()
	for _, s := range []string{
		`{"name":"June","account_id":"1","template":{"name":"order_update","language":"en_US"},"variables":[{"component":"header","index":1,"fallback":"A"},{"component":"body","index":1,"field":"first_name","fallback":"there"},{"component":"body","index":2,"field":"custom.order","fallback":"#1"},{"component":"body","index":3,"fallback":"Monday"}],"audience":{"contact_ids":["` + id + `"]}}`,
		`{"name":"x","account_id":"1","template":{"name":"order_update","language":"en_US"},"variables":[],"audience":{"csv":"phone,name\n+15550000001,Ann\nbad,x\n\"unterminated"}}`,
		`{"name":"x","account_id":"1","template":{"name":"order_update","language":"en_US"},"audience":{"segment_id":"` + id + `","tags":["vip"]},"scheduled_at":"2026-12-24T09:00:00","rate_per_second":5}`,
		`{"name":"x","scheduled_at":"2026-12-24T09:00:00+01:00","rate_per_second":-1}`,
		`{"name":"x","variables":[{"component":"footer","index":0}]}`, `{}`, ``, `null`, `[]`, "{\"name\":\"\xff\"}",
		`{"name":"x","header_media_url":"http://x"}`, `{"name":"x"} {}`, `{"name":"x","rate_per_second":1e99}`,
	} {
		f.Add([]byte(s))
	}
	tmpl := engine.Template{Name: "order_update", Language: "en_US", Status: engine.TemplateApproved, Category: engine.TemplateMarketing,
		Components: []engine.TemplateComponent{{Type: "HEADER", Format: "TEXT", Text: "Order {{1}}"},
			{Type: "BODY", Text: "Hi {{1}}, your order {{2}} ships on {{3}}."}}}
	contact := engine.Contact{Profile: engine.Profile{Name: "Ann Lee", Phone: "+15550000001"}, CustomFields: map[string]string{"order": "B-7"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseBroadcastBody(body, time.UTC)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("refusal is not a 400 API error: %v", err)
			}
			return
		}
		if err := engine.ValidateBroadcast(&b, tmpl, engine.BroadcastDefaultRate); err != nil {
			if !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("refusal is not ErrInvalid: %v", err)
			}
			return
		}
		switch {
		case b.Name == "" || len(b.Name) > engine.MaxBroadcastNameBytes || !utf8.ValidString(b.Name):
			t.Fatalf("accepted name %q", b.Name)
		case b.RatePerSecond < 1 || b.RatePerSecond > engine.BroadcastDefaultRate:
			t.Fatalf("accepted rate %d", b.RatePerSecond)
		case b.Audience.SegmentID == "" && len(b.Audience.Tags) == 0 && len(b.Audience.ContactIDs) == 0 && b.Audience.CSV == "":
			t.Fatal("accepted an empty audience")
		}
		if c, err := engine.BroadcastMessage(&b, tmpl, &contact); err == nil && c.Template == nil {
			t.Fatal("a filled broadcast message without its template")
		}
		_, _ = engine.ParseBroadcastCSV(b.Audience.CSV)
	})
}
