package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testForm() Form {
	return Form{Name: "Demo", Fields: []FormField{
		{Key: "name", Label: "Your name", Required: true},
		{Key: "email", Label: "Email"},
		{Key: "phone", Label: "Phone"},
		{Key: "budget", Label: "Budget"},
		{Key: "plan", Label: "Plan"},
		{Key: "account", Label: "Account"},
	}}
}

// A submission's values are checked against the form and the field
// definitions: unknown keys, missing required values (the form's or the
// definition's), invalid values by type, and neither email nor phone are
// refused field by field; the rest are normalised into the contact patch.
func TestValidateSubmission(t *testing.T) {
	defs := testFieldDefs()
	for _, tc := range []struct {
		name   string
		in     map[string]string
		want   map[string]string
		errs   []string
		custom map[string]string
	}{
		{name: "valid, normalised", in: map[string]string{"name": " Ada ", "email": "ada@example.com", "budget": "1e3", "plan": "pro", "account": "A1"},
			want: map[string]string{"name": "Ada", "email": "ada@example.com", "budget": "1000", "plan": "Pro", "account": "A1"}},
		{name: "phone to E.164", in: map[string]string{"name": "Bo", "phone": "+1 (555) 010-2030", "account": "x"},
			want: map[string]string{"name": "Bo", "phone": "+15550102030", "account": "x"}},
		{name: "form-required missing", in: map[string]string{"email": "a@b.co", "account": "x"}, errs: []string{"name"}},
		{name: "definition-required missing", in: map[string]string{"name": "A", "email": "a@b.co"}, errs: []string{"account"}},
		{name: "unknown key", in: map[string]string{"name": "A", "email": "a@b.co", "account": "x", "hack": "1"}, errs: []string{"hack"}},
		{name: "bad email", in: map[string]string{"name": "A", "email": "not-mail", "account": "x"}, errs: []string{"email"}},
		{name: "bad phone", in: map[string]string{"name": "A", "phone": "call me", "account": "x"}, errs: []string{"phone"}},
		{name: "bad number and option", in: map[string]string{"name": "A", "email": "a@b.co", "budget": "lots", "plan": "Gold", "account": "x"}, errs: []string{"budget", "plan"}},
		{name: "no way to reach", in: map[string]string{"name": "A", "account": "x"}, errs: []string{"email"}},
		{name: "multi-line name", in: map[string]string{"name": "A\nB", "email": "a@b.co", "account": "x"}, errs: []string{"name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testForm()
			got, p, err := ValidateSubmission(&f, defs, tc.in)
			if tc.errs != nil {
				fe, ok := AsFieldErrors(err)
				require.True(t, ok, "%v", err)
				var fields []string
				for _, e := range fe {
					fields = append(fields, e.Field)
				}
				require.ElementsMatch(t, tc.errs, fields)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			if v, ok := tc.want["email"]; ok {
				require.Equal(t, v, *p.Email)
			}
			if v, ok := tc.want["budget"]; ok {
				require.Equal(t, v, *p.CustomFields["budget"])
			}
			c, err := NewFormContact(ID{1}, ID{2}, p, time.Unix(0, 0))
			require.NoError(t, err)
			require.Equal(t, SourceForm, c.Source)
			require.Equal(t, tc.want["name"], c.Profile.Name)
		})
	}
}

// A form's definition: fields known and distinct, an email or phone
// among them, labels defaulting to the field's own, origins normalised.
func TestApplyForm(t *testing.T) {
	defs := testFieldDefs()
	now := time.Unix(100, 0)
	s := func(v string) *string { return &v }
	fs := func(f ...FormField) *[]FormField { return &f }
	for _, tc := range []struct {
		name string
		ch   FormChange
		ok   func(t *testing.T, f Form)
		bad  bool
	}{
		{name: "minimal", ch: FormChange{Name: s(" Contact  us "), Fields: fs(FormField{Key: "email"}, FormField{Key: "budget", Required: true})},
			ok: func(t *testing.T, f Form) {
				require.Equal(t, "Contact us", f.Name)
				require.Equal(t, []FormField{{Key: "email", Label: "Email"}, {Key: "budget", Label: "Budget", Required: true}}, f.Fields)
				require.Equal(t, []string{}, f.AllowedOrigins)
				require.Equal(t, now, f.UpdatedAt)
			}},
		{name: "origins", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "phone"}), AllowedOrigins: &[]string{"HTTPS://Example.com/", "https://example.com", "http://a.test:8080"}},
			ok: func(t *testing.T, f Form) {
				require.Equal(t, []string{"https://example.com", "http://a.test:8080"}, f.AllowedOrigins)
			}},
		{name: "stage owner tag", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "email"}), Stage: &ContactStage{PipelineID: ID{1}, StageID: ID{2}}, OwnerID: &ID{3}, Tag: s(" webinar ")},
			ok: func(t *testing.T, f Form) {
				require.Equal(t, ID{2}, f.Stage.StageID)
				require.Equal(t, ID{3}, *f.OwnerID)
				require.Equal(t, "webinar", f.Tag)
			}},
		{name: "no fields", ch: FormChange{Name: s("x")}, bad: true},
		{name: "no email or phone", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "name"})}, bad: true},
		{name: "unknown field", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "email"}, FormField{Key: "nope"})}, bad: true},
		{name: "twice", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "email"}, FormField{Key: "email"})}, bad: true},
		{name: "empty name", ch: FormChange{Name: s("  "), Fields: fs(FormField{Key: "email"})}, bad: true},
		{name: "origin with path", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "email"}), AllowedOrigins: &[]string{"https://a.test/page"}}, bad: true},
		{name: "origin not http", ch: FormChange{Name: s("x"), Fields: fs(FormField{Key: "email"}), AllowedOrigins: &[]string{"javascript://x"}}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ApplyForm(Form{}, tc.ch, defs, now)
			if tc.bad {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			tc.ok(t, f)
		})
	}
}

func TestAddContactTag(t *testing.T) {
	c := Contact{Tags: []string{"b"}}
	now := time.Unix(5, 0)
	next, changed, err := AddContactTag(c, " a ", now)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, []string{"a", "b"}, next.Tags)
	require.Equal(t, []string{"b"}, c.Tags, "the contact given is not modified")
	_, changed, err = AddContactTag(next, "a", now)
	require.NoError(t, err)
	require.False(t, changed)
	_, _, err = AddContactTag(next, "", now)
	require.ErrorIs(t, err, ErrInvalid)
}
