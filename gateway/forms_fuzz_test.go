package gateway

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzFormSubmission feeds arbitrary bodies to the public submission's
// parser and then to the form's rules (engine.ValidateSubmission): no
// panic, every refusal of the parser is a 4xx API error, the rules
// answer FieldErrors or values that are all fields of the form, bounded,
// valid UTF-8 on one line, and a patch with an email or a phone that a
// new contact accepts.
func FuzzFormSubmission(f *testing.F) {
	for _, s := range []string{`{"values":{"name":"Ada","email":"ada@example.com","plan":"pro"}}`,
		`{"values":{"phone":"+1 555 010 2030"},"website":""}`, `{"values":{"email":"x"},"website":"spam"}`,
		`{"values":{"tags":"a, b","vip":"yes"}}`, `{"values":null}`, `{}`, ``, `[]`, `{"values":{"email":"\u0000@x"}}`,
		"{\"values\":{\"name\":\"\xff\"}}", `{"values":{"name":"a\nb","email":"a@b.co"}}`} {
		f.Add([]byte(s))
	}
	defs := []engine.FieldDef{{Key: "plan", Label: "Plan", Type: engine.FieldSingleSelect, Options: []string{"Free", "Pro"}},
		{Key: "tags", Label: "Tags", Type: engine.FieldMultiSelect, Options: []string{"a", "b"}},
		{Key: "vip", Label: "VIP", Type: engine.FieldBoolean, Required: true}}
	form := engine.Form{Name: "F", Fields: []engine.FormField{{Key: "name", Label: "Name"}, {Key: "email", Label: "Email"},
		{Key: "phone", Label: "Phone"}, {Key: "plan", Label: "Plan"}, {Key: "tags", Label: "Tags"}, {Key: "vip", Label: "VIP"}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseSubmission(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
				t.Fatalf("error %v is not a 4xx API error", err)
			}
			return
		}
		in := maps.Clone(b.Values)
		values, p, err := engine.ValidateSubmission(&form, defs, b.Values)
		if !maps.Equal(in, b.Values) {
			t.Fatal("the rules changed the values given")
		}
		if err != nil {
			if _, ok := engine.AsFieldErrors(err); !ok {
				t.Fatalf("error %v is not FieldErrors", err)
			}
			return
		}
		if p.Email == nil && p.Phone == nil {
			t.Fatal("accepted a submission with neither email nor phone")
		}
		for k, v := range values {
			if _, ok := b.Values[k]; !ok {
				t.Fatalf("value %q was not given", k)
			}
			if v == "" || len(v) > engine.MaxFormValueBytes || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
				t.Fatalf("accepted value %q=%q", k, v)
			}
		}
		if _, err := engine.NewFormContact(engine.ID{1}, engine.ID{2}, p, time.Unix(0, 0)); err != nil {
			t.Fatalf("accepted values make no contact: %v", err)
		}
	})
}

// FuzzFormBody feeds arbitrary bodies to the form definition's parser,
// as a create and as an update, then to engine.ApplyForm: no panic,
// refusals are 400 API errors or ErrInvalid, and an accepted form has
// 1 to MaxFormFields distinct fields with an email or phone among them
// and origins that are origins.
func FuzzFormBody(f *testing.F) {
	for _, s := range []string{`{"name":"Demo","fields":[{"key":"email","required":true},{"key":"plan","label":"Plan?"}]}`,
		`{"name":"x","fields":[{"key":"phone"}],"allowed_origins":["https://a.example","http://b.test:8080/"]}`,
		`{"stage_id":null,"owner_id":""}`, `{"tag":"vip"}`, `{"fields":[]}`, `{}`, ``, `null`, `{"name":"x","fields":[{"key":"email"},{"key":"email"}]}`,
		`{"stage_id":"nope"}`, `{"allowed_origins":["javascript:alert(1)"]}`, "{\"name\":\"\xff\"}"} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	defs := []engine.FieldDef{{Key: "plan", Label: "Plan", Type: engine.FieldText}}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		ch, _, err := parseFormBody(body, create)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		base := engine.Form{Name: "Base", Fields: []engine.FormField{{Key: "email", Label: "Email"}}, AllowedOrigins: []string{}}
		if create {
			base = engine.Form{}
		}
		got, err := engine.ApplyForm(base, ch, defs, time.Unix(1, 0))
		if err != nil {
			if !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if got.Name == "" && create || len(got.Fields) == 0 || len(got.Fields) > engine.MaxFormFields {
			t.Fatalf("accepted form %+v", got)
		}
		seen, reach := map[string]bool{}, false
		for _, ff := range got.Fields {
			if seen[ff.Key] || ff.Label == "" {
				t.Fatalf("accepted fields %+v", got.Fields)
			}
			seen[ff.Key] = true
			reach = reach || ff.Key == "email" || ff.Key == "phone"
		}
		if !reach {
			t.Fatal("accepted a form with neither email nor phone")
		}
		for _, o := range got.AllowedOrigins {
			if n, err := engine.NormalizeOrigin(o); err != nil || n != o {
				t.Fatalf("accepted origin %q", o)
			}
		}
	})
}
