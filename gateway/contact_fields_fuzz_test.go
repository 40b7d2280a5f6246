package gateway

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzContactFieldBody feeds arbitrary bodies to the field definition
// parser, as a create and as an update: no panic, every refusal is a 400
// API error, a create names a valid key, label and type, an update at
// least one field and never the key, and a create's options suit its
// type.
func FuzzContactFieldBody(f *testing.F) {
	for _, s := range []string{`{"key":"plan","label":"Plan","type":"single_select","options":["Free","Pro"],"allow_ai":true}`,
		`{"key":"b","label":"B","type":"number","required":true,"order":3}`, `{"label":"x"}`, `{"key":"x"}`, `{}`, ``, `null`, `[]`,
		`{"key":"x","label":"x","type":"multi_select","options":["a,b"]}`, `{"key":"Email","label":"x","type":"text"}`,
		"{\"label\":\"\xff\"}", `{"options":null}`, `{"type":"date","options":[]}`, `{"order":1e40}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		ch, err := parseFieldDefBody(body, create)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if !create {
			if ch.Key != nil {
				t.Fatal("an update changed the key")
			}
			if ch.Label == nil && ch.Type == nil && ch.Options == nil && ch.Required == nil && ch.AllowAI == nil && ch.Order == nil {
				t.Fatal("an update with no field")
			}
			return
		}
		k := *ch.Key
		if k == "" || len(k) > engine.MaxFieldKeyBytes || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" ||
			k[0] < 'a' || slices.Contains(engine.StandardContactFields, k) {
			t.Fatalf("accepted key %q", k)
		}
		if l := *ch.Label; l == "" || len(l) > engine.MaxFieldLabel || !utf8.ValidString(l) || l != strings.Join(strings.Fields(l), " ") {
			t.Fatalf("accepted label %q", l)
		}
		if !ch.Type.Valid() {
			t.Fatalf("accepted type %q", *ch.Type)
		}
		isSelect := *ch.Type == engine.FieldSingleSelect || *ch.Type == engine.FieldMultiSelect
		if isSelect != (len(*ch.Options) > 0) {
			t.Fatalf("type %s with options %q", *ch.Type, *ch.Options)
		}
		for _, o := range *ch.Options {
			if o == "" || strings.Contains(o, ",") || !utf8.ValidString(o) {
				t.Fatalf("accepted option %q", o)
			}
		}
	})
}
