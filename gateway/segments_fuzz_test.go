package gateway

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzSegmentBody feeds arbitrary bodies to the segment parser as a
// create, an update and a preview: no panic, every refusal is a 400 API
// error, and an accepted create or preview is a segment that
// engine.ValidateSegment accepts (bounded name and conditions, each
// with an op of its kind), which SegmentMatches and SegmentNextChange
// evaluate on a contact without panicking.
func FuzzSegmentBody(f *testing.F) {
	id := engine.NewID(time.Unix(1e9, 0)).String()
	for _, s := range []string{
		`{"name":"VIP","conditions":[{"kind":"tag","op":"is","value":"vip"}]}`,
		`{"name":"x","match":"any","conditions":[{"kind":"field","key":"plan","op":"contains","value":"gold"},{"kind":"last_message","op":"within_days","days":7}]}`,
		`{"name":"x","conditions":[{"kind":"stage","op":"is","value":"` + id + `"}]}`,
		`{"name":"x","conditions":[{"kind":"created","op":"not_within_days","days":3650}]}`,
		`{"name":"x","conditions":[{"kind":"profile","key":"email","op":"exists"}]}`,
		`{"name":"x","conditions":[{"kind":"channel","op":"is_not","value":"whatsapp"}]}`,
		`{"name":"x","conditions":[{"kind":"source","op":"is","value":"form"}]}`,
		`{"name":"x","conditions":[{"kind":"owner","op":"not_exists"}]}`,
		`{"conditions":[{"kind":"tag","op":"is","value":"a"}]}`, `{"name":"y"}`, `{}`, ``, `null`, `[]`,
		`{"name":"x","conditions":[{"kind":"tag","op":"is","value":"a","days":-1}]}`, "{\"name\":\"\xff\"}",
		`{"name":"x","conditions":[{"kind":"last_message","op":"within_days","days":1e99}]}`, `{"name":"x"} {}`,
	} {
		for _, kind := range []string{"create", "update", "preview"} {
			f.Add([]byte(s), kind)
		}
	}
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	contact := engine.Contact{Source: engine.SourceChat, CreatedAt: now.Add(-time.Hour),
		CustomFields: map[string]string{"plan": "gold"}, Activity: engine.ContactActivity{LastMessageAt: now, Tags: []string{"vip"}}}
	f.Fuzz(func(t *testing.T, body []byte, kind string) {
		if kind != "create" && kind != "update" && kind != "preview" {
			return
		}
		b, s, err := parseSegmentBody(body, kind)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if kind == "update" {
			if b.Name == nil && b.Match == nil && b.Conditions == nil {
				t.Fatal("accepted an update that changes nothing")
			}
			return
		}
		if err := engine.ValidateSegment(&s); err != nil {
			t.Fatalf("accepted a segment the engine refuses: %v", err)
		}
		if len(s.Conditions) == 0 || len(s.Conditions) > engine.MaxSegmentConditions || !utf8.ValidString(s.Name) {
			t.Fatalf("accepted %+v", s)
		}
		engine.SegmentMatches(s, contact, now)
		if next := engine.SegmentNextChange([]engine.Segment{s}, contact, now); !next.IsZero() && !next.After(now) {
			t.Fatalf("next change %v is not after now", next)
		}
	})
}
