package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testFieldDefs() []FieldDef {
	return []FieldDef{
		{Key: "notes", Label: "Notes", Type: FieldText},
		{Key: "budget", Label: "Budget", Type: FieldNumber, AllowAI: true},
		{Key: "birthday", Label: "Birthday", Type: FieldDate},
		{Key: "plan", Label: "Plan", Type: FieldSingleSelect, Options: []string{"Free", "Pro"}, AllowAI: true},
		{Key: "topics", Label: "Topics", Type: FieldMultiSelect, Options: []string{"Sales", "Support", "Billing"}},
		{Key: "work_email", Label: "Work email", Type: FieldEmail},
		{Key: "mobile", Label: "Mobile", Type: FieldPhone},
		{Key: "site", Label: "Site", Type: FieldURL},
		{Key: "vip", Label: "VIP", Type: FieldBoolean},
		{Key: "account", Label: "Account", Type: FieldText, Required: true},
	}
}

// Every type's values are normalised or refused with a message naming
// the field; required fields, removals and keys without a definition
// follow the documented rules.
func TestValidateFieldValues(t *testing.T) {
	defs := testFieldDefs()
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name     string
		in       map[string]*string
		creating bool
		want     map[string]*string
		errs     []string // fields refused
	}{
		{name: "text trimmed", in: map[string]*string{"notes": s("  hi there ")}, want: map[string]*string{"notes": s("hi there")}},
		{name: "number canonical", in: map[string]*string{"budget": s("1e3")}, want: map[string]*string{"budget": s("1000")}},
		{name: "number decimal", in: map[string]*string{"budget": s(" 03.50 ")}, want: map[string]*string{"budget": s("3.5")}},
		{name: "number refused", in: map[string]*string{"budget": s("12 euros")}, errs: []string{"budget"}},
		{name: "number inf refused", in: map[string]*string{"budget": s("Inf")}, errs: []string{"budget"}},
		{name: "date", in: map[string]*string{"birthday": s("1990-02-03")}, want: map[string]*string{"birthday": s("1990-02-03")}},
		{name: "date from timestamp", in: map[string]*string{"birthday": s("1990-02-03T10:00:00Z")}, want: map[string]*string{"birthday": s("1990-02-03")}},
		{name: "date refused", in: map[string]*string{"birthday": s("03/02/1990")}, errs: []string{"birthday"}},
		{name: "date impossible", in: map[string]*string{"birthday": s("1990-02-30")}, errs: []string{"birthday"}},
		{name: "select case", in: map[string]*string{"plan": s("pro")}, want: map[string]*string{"plan": s("Pro")}},
		{name: "select refused", in: map[string]*string{"plan": s("Gold")}, errs: []string{"plan"}},
		{name: "multi ordered once", in: map[string]*string{"topics": s("billing, sales,Billing")}, want: map[string]*string{"topics": s("Sales, Billing")}},
		{name: "multi refused", in: map[string]*string{"topics": s("Sales, Gold")}, errs: []string{"topics"}},
		{name: "multi only commas", in: map[string]*string{"topics": s(" , ,")}, errs: []string{"topics"}},
		{name: "email", in: map[string]*string{"work_email": s(" a@b.co ")}, want: map[string]*string{"work_email": s("a@b.co")}},
		{name: "email refused", in: map[string]*string{"work_email": s("not mail")}, errs: []string{"work_email"}},
		{name: "phone e164", in: map[string]*string{"mobile": s("+1 555 000 1111")}, want: map[string]*string{"mobile": s("+15550001111")}},
		{name: "phone short kept", in: map[string]*string{"mobile": s("112")}, want: map[string]*string{"mobile": s("112")}},
		{name: "phone refused", in: map[string]*string{"mobile": s("call me")}, errs: []string{"mobile"}},
		{name: "url", in: map[string]*string{"site": s("https://example.com/x")}, want: map[string]*string{"site": s("https://example.com/x")}},
		{name: "url refused", in: map[string]*string{"site": s("javascript:alert(1)")}, errs: []string{"site"}},
		{name: "bool yes", in: map[string]*string{"vip": s("Yes")}, want: map[string]*string{"vip": s("true")}},
		{name: "bool 0", in: map[string]*string{"vip": s("0")}, want: map[string]*string{"vip": s("false")}},
		{name: "bool refused", in: map[string]*string{"vip": s("maybe")}, errs: []string{"vip"}},
		{name: "empty removes", in: map[string]*string{"notes": s(" "), "vip": nil}, want: map[string]*string{"notes": nil, "vip": nil}},
		{name: "required not removed", in: map[string]*string{"account": nil}, errs: []string{"account"}},
		{name: "required empty refused", in: map[string]*string{"account": s("")}, errs: []string{"account"}},
		{name: "required absent on update", in: map[string]*string{"notes": s("x")}, want: map[string]*string{"notes": s("x")}},
		{name: "required absent on create", in: map[string]*string{"notes": s("x")}, creating: true, errs: []string{"account"}},
		{name: "required given on create", in: map[string]*string{"account": s("A1")}, creating: true, want: map[string]*string{"account": s("A1")}},
		{name: "unknown key free text", in: map[string]*string{"Favourite colour": s(" blue ")}, want: map[string]*string{"Favourite colour": s(" blue ")}},
		{name: "every error listed", in: map[string]*string{"budget": s("x"), "vip": s("x"), "notes": s("ok")}, errs: []string{"budget", "vip"}},
		{name: "too long", in: map[string]*string{"notes": s(string(make([]byte, MaxCustomValueBytes+1)))}, errs: []string{"notes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateFieldValues(defs, tc.in, tc.creating)
			if tc.errs != nil {
				fe, ok := AsFieldErrors(err)
				require.True(t, ok, "%v", err)
				require.ErrorIs(t, err, ErrInvalid)
				var fields []string
				for _, e := range fe {
					require.NotEmpty(t, e.Message)
					fields = append(fields, e.Field)
				}
				require.Equal(t, tc.errs, fields)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// A definition's key is a slug that is not a standard field; a select
// needs distinct options without commas; other types have none.
func TestApplyFieldDef(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	s := func(v string) *string { return &v }
	typ := func(v FieldType) *FieldType { return &v }
	opts := func(v ...string) *[]string { return &v }
	d, err := ApplyFieldDef(FieldDef{}, FieldDefChange{Key: s(" plan_2 "), Label: s("  Plan \t kind "), Type: typ(FieldSingleSelect),
		Options: opts(" Free ", "Pro  plus")}, now)
	require.NoError(t, err)
	require.Equal(t, FieldDef{Key: "plan_2", Label: "Plan kind", Type: FieldSingleSelect, Options: []string{"Free", "Pro plus"}, UpdatedAt: now}, d)
	for name, ch := range map[string]FieldDefChange{
		"key upper":        {Key: s("Plan"), Label: s("x"), Type: typ(FieldText)},
		"key digit first":  {Key: s("1plan"), Label: s("x"), Type: typ(FieldText)},
		"key dash":         {Key: s("a-b"), Label: s("x"), Type: typ(FieldText)},
		"key standard":     {Key: s("email"), Label: s("x"), Type: typ(FieldText)},
		"key long":         {Key: s("a23456789012345678901234567890123456789012"), Label: s("x"), Type: typ(FieldText)},
		"label empty":      {Key: s("a"), Label: s("  "), Type: typ(FieldText)},
		"type unknown":     {Key: s("a"), Label: s("x"), Type: typ("colour")},
		"text options":     {Key: s("a"), Label: s("x"), Type: typ(FieldText), Options: opts("a")},
		"select none":      {Key: s("a"), Label: s("x"), Type: typ(FieldMultiSelect)},
		"option comma":     {Key: s("a"), Label: s("x"), Type: typ(FieldMultiSelect), Options: opts("a,b")},
		"option duplicate": {Key: s("a"), Label: s("x"), Type: typ(FieldSingleSelect), Options: opts("A", "a")},
	} {
		_, err := ApplyFieldDef(FieldDef{}, ch, now)
		require.ErrorIs(t, err, ErrInvalid, name)
	}
	// A select turned into text loses its options.
	d, err = ApplyFieldDef(d, FieldDefChange{Type: typ(FieldText), Options: opts()}, now)
	require.NoError(t, err)
	require.Nil(t, d.Options)
}

// The AI writes standard fields and custom fields that allow it, never
// one without Allow for AI or without a definition, and skips invalid,
// empty and unchanged values.
func TestApplyAIContactWrite(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := Contact{ID: ID{1}, Source: SourceChat, Profile: Profile{Name: "wa-123"}, CustomFields: map[string]string{"plan": "Free", "old": "x"}}
	for _, tc := range []struct {
		name    string
		in      map[string]string
		written []string
		refused []string
		profile Profile
		fields  map[string]string
	}{
		{name: "allowed and standard", in: map[string]string{"name": " Ana Diaz ", "email": "ana@x.io", "budget": "1e3", "plan": "pro"},
			written: []string{"budget", "email", "name", "plan"}, profile: Profile{Name: "Ana Diaz", Email: "ana@x.io"},
			fields: map[string]string{"plan": "Pro", "old": "x", "budget": "1000"}},
		{name: "not allowed", in: map[string]string{"vip": "true", "notes": "hello"}, refused: []string{"notes", "vip"},
			profile: c.Profile, fields: c.CustomFields},
		{name: "undefined", in: map[string]string{"old": "y"}, refused: []string{"old"}, profile: c.Profile, fields: c.CustomFields},
		{name: "invalid value", in: map[string]string{"budget": "lots", "email": "nope", "company": "Acme"}, written: []string{"company"},
			refused: []string{"budget", "email"}, profile: Profile{Name: "wa-123", Company: "Acme"}, fields: c.CustomFields},
		{name: "unchanged and empty", in: map[string]string{"plan": "free", "title": " "}, profile: c.Profile, fields: c.CustomFields},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, written, refused := ApplyAIContactWrite(c, testFieldDefs(), tc.in, now)
			require.Equal(t, tc.written, written)
			var rf []string
			for _, r := range refused {
				rf = append(rf, r.Field)
			}
			require.Equal(t, tc.refused, rf)
			require.Equal(t, tc.profile, next.Profile)
			require.Equal(t, tc.fields, next.CustomFields)
			if len(written) > 0 {
				require.Equal(t, now, next.UpdatedAt)
			} else {
				require.Equal(t, c, next)
			}
		})
	}
	require.Equal(t, map[string]string{"plan": "Free", "old": "x"}, c.CustomFields, "the stored contact's map is not changed")
}
