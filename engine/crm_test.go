package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func ptr(s string) *string { return &s }

var crmNow = time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)

func TestRenameFromChannel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		c              engine.Contact
		reported, prev string
		want, chName   string
		changed, renam bool
	}{
		{"a chat contact follows its channel", engine.Contact{Profile: engine.Profile{Name: "Ana"}, ChannelName: "Ana"},
			"Ana María", "Ana", "Ana María", "Ana María", true, true},
		{"the same name again changes nothing", engine.Contact{Profile: engine.Profile{Name: "Ana"}, ChannelName: "Ana"},
			"Ana", "Ana", "Ana", "Ana", false, false},
		{"a contact without a name takes it", engine.Contact{}, "Bo", "", "Bo", "Bo", true, true},
		{"a name a person gave stays", engine.Contact{Profile: engine.Profile{Name: "Ana Lima"}, NameEdited: true, ChannelName: "Ana"},
			"Ana L.", "Ana Lima", "Ana Lima", "Ana L.", true, false},
		{"a person's name stays when the channel repeats itself", engine.Contact{Profile: engine.Profile{Name: "Ana Lima"}, NameEdited: true, ChannelName: "Ana"},
			"Ana", "Ana Lima", "Ana Lima", "Ana", false, false},
		{"an older record: a name other than the header's was a person's", engine.Contact{Profile: engine.Profile{Name: "Ana Lima"}},
			"Ana L.", "Ana", "Ana Lima", "Ana L.", true, false},
		{"an older record: the header's name was the channel's", engine.Contact{Profile: engine.Profile{Name: "Ana"}},
			"Ana L.", "Ana", "Ana L.", "Ana L.", true, true},
		{"an empty report is no report", engine.Contact{Profile: engine.Profile{Name: "Ana"}}, "", "Ana", "Ana", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, renamed := engine.RenameFromChannel(tc.c, tc.reported, tc.prev, crmNow)
			require.Equal(t, tc.want, got.Profile.Name)
			require.Equal(t, tc.chName, got.ChannelName)
			require.Equal(t, tc.changed, changed)
			require.Equal(t, tc.renam, renamed)
			if changed {
				require.Equal(t, crmNow, got.UpdatedAt)
			}
		})
	}
}

func TestPatchContact(t *testing.T) {
	t.Parallel()
	base := engine.Contact{Profile: engine.Profile{Name: "Ana", Phone: "+1 555"}, Source: engine.SourceChat,
		CustomFields: map[string]string{"plan": "gold", "old": "x"}}
	for _, tc := range []struct {
		name    string
		p       engine.ContactPatch
		check   func(t *testing.T, c engine.Contact)
		invalid bool
	}{
		{"fields are trimmed, absent ones kept", engine.ContactPatch{Company: ptr("  Acme ")}, func(t *testing.T, c engine.Contact) {
			require.Equal(t, "Acme", c.Profile.Company)
			require.Equal(t, "Ana", c.Profile.Name)
			require.False(t, c.NameEdited, "the name was not touched")
		}, false},
		{"a new name is a person's", engine.ContactPatch{Name: ptr("Ana Lima")}, func(t *testing.T, c engine.Contact) {
			require.True(t, c.NameEdited)
		}, false},
		{"the same name is no edit", engine.ContactPatch{Name: ptr("Ana")}, func(t *testing.T, c engine.Contact) {
			require.False(t, c.NameEdited)
		}, false},
		{"custom fields merge, null removes", engine.ContactPatch{CustomFields: map[string]*string{"old": nil, "tier": ptr("2")}},
			func(t *testing.T, c engine.Contact) {
				require.Equal(t, map[string]string{"plan": "gold", "tier": "2"}, c.CustomFields)
			}, false},
		{"removing every custom field leaves none", engine.ContactPatch{CustomFields: map[string]*string{"old": nil, "plan": nil}},
			func(t *testing.T, c engine.Contact) { require.Nil(t, c.CustomFields) }, false},
		{"a bad email is refused", engine.ContactPatch{Email: ptr("nope")}, nil, true},
		{"a bad phone is refused", engine.ContactPatch{Phone: ptr("call me")}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engine.PatchContact(base, tc.p, crmNow)
			if tc.invalid {
				require.ErrorIs(t, err, engine.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, crmNow, got.UpdatedAt)
			tc.check(t, got)
		})
	}
	require.Equal(t, map[string]string{"plan": "gold", "old": "x"}, base.CustomFields, "the input is not modified")
}

func TestNewContact(t *testing.T) {
	t.Parallel()
	id, ws := engine.NewID(crmNow), engine.NewID(crmNow)
	c, err := engine.NewContact(id, ws, engine.SourceAPI, engine.ContactPatch{Name: ptr(" Ana ")}, crmNow)
	require.NoError(t, err)
	require.Equal(t, "Ana", c.Profile.Name)
	require.True(t, c.NameEdited)
	require.Equal(t, crmNow, c.CreatedAt)
	_, err = engine.NewContact(id, ws, engine.SourceChat, engine.ContactPatch{Name: ptr("Ana")}, crmNow)
	require.ErrorIs(t, err, engine.ErrInvalid, "only manual or api")
	_, err = engine.NewContact(id, ws, engine.SourceManual, engine.ContactPatch{Company: ptr("Acme")}, crmNow)
	require.ErrorIs(t, err, engine.ErrInvalid, "a name, an email or a phone")
}

func TestMergeContact(t *testing.T) {
	t.Parallel()
	wa := engine.Identity{Channel: engine.ChannelWhatsApp, ExternalID: "1555"}
	ig := engine.Identity{Channel: engine.ChannelInstagram, ExternalID: "IG1"}
	target := engine.Contact{Profile: engine.Profile{Name: "Ana"}, Identities: []engine.Identity{wa},
		CustomFields: map[string]string{"plan": "gold"}}
	src := engine.Contact{Profile: engine.Profile{Name: "Ana IG", Email: "ana@example.com"}, Identities: []engine.Identity{ig, wa},
		CustomFields: map[string]string{"plan": "silver", "tier": "2"}, Blocked: true}
	m := engine.MergeContact(target, src, crmNow)
	require.Equal(t, "Ana", m.Profile.Name, "the target keeps its fields")
	require.Equal(t, "ana@example.com", m.Profile.Email, "and fills its empty ones")
	require.Equal(t, []engine.Identity{wa, ig}, m.Identities)
	require.Equal(t, map[string]string{"plan": "gold", "tier": "2"}, m.CustomFields)
	require.True(t, m.Blocked)
	require.Equal(t, crmNow, m.UpdatedAt)
	require.Len(t, target.Identities, 1, "the input is not modified")

	full := map[string]string{}
	for i := range engine.MaxCustomFields {
		full[fmt.Sprintf("f%02d", i)] = "v"
	}
	require.Len(t, engine.MergeCustomFields(full, map[string]string{"extra": "x"}), engine.MaxCustomFields)
	require.Equal(t, map[string]string{"a": "1"}, engine.MergeCustomFields(nil, map[string]string{"a": "1"}))
}

func TestImportRow(t *testing.T) {
	t.Parallel()
	c := engine.Contact{Profile: engine.Profile{Name: "ana", Company: "Old"}, Source: engine.SourceChat}
	got, err := engine.ImportRow(c, engine.Contact{Profile: engine.Profile{Company: "New"}, CustomFields: map[string]string{"a": "1"}}, crmNow)
	require.NoError(t, err)
	require.Equal(t, "New", got.Profile.Company)
	require.Equal(t, "ana", got.Profile.Name, "an empty cell changes nothing")
	require.False(t, got.NameEdited)
	got, err = engine.ImportRow(got, engine.Contact{Profile: engine.Profile{Name: "Ana Lima"}}, crmNow)
	require.NoError(t, err)
	require.True(t, got.NameEdited, "an imported name is a person's")
	_, err = engine.ImportRow(c, engine.Contact{Profile: engine.Profile{Email: "bad"}}, crmNow)
	require.ErrorIs(t, err, engine.ErrInvalid)
}

func TestNormalizePhoneAndKeys(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+1 555 000 1111":   "+15550001111",
		"15550001111":       "+15550001111",
		"001 555 000 1111":  "+15550001111",
		"+1 (555) 000-1111": "+15550001111",
		"555-0102":          "",
		"0555 000 1111":     "",
		"+1234567890123456": "",
		"call me":           "",
		"":                  "",
	} {
		require.Equal(t, want, engine.NormalizePhone(in), in)
	}
	c := engine.Contact{Profile: engine.Profile{Email: " Ana@Example.COM", Phone: "+1 555 000 1111"},
		Identities: []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: "15550001111"},
			{Channel: engine.ChannelWhatsApp, ExternalID: "447700900123"}, {Channel: engine.ChannelMessenger, ExternalID: "PSID"}}}
	require.Equal(t, []string{"e:ana@example.com", "p:+15550001111", "p:+447700900123"}, engine.ContactKeys(&c))
	short := engine.Contact{Profile: engine.Profile{Phone: "555-0102"}}
	require.Equal(t, []string{"d:5550102"}, engine.ContactKeys(&short), "a short number still dedupes an import")
	require.Equal(t, []string{"p:+15550001111"}, engine.IdentityKeys(engine.ChannelWhatsApp, "15550001111"))
	require.Empty(t, engine.IdentityKeys(engine.ChannelMessenger, "15550001111"), "a page-scoped id is no phone")
	require.Equal(t, []string{"e:ana@example.com"}, engine.IdentityKeys(engine.ChannelEmail, "Ana@example.com"))
}

func TestRememberAndMergeMemories(t *testing.T) {
	t.Parallel()
	ws, ct := engine.NewID(crmNow), engine.NewID(crmNow)
	have := []engine.Memory{{Text: "Prefers email"}}
	facts := []engine.Fact{{Text: " prefers  EMAIL "}, {Text: ""}, {Text: "has a dog", Type: engine.MemoryExperience},
		{Text: strings.Repeat("x", engine.MaxMemoryBytes+1)}, {Text: "has a dog"}}
	add, full := engine.Remember(have, facts, engine.NewIDs(crmNow, len(facts)), ws, ct, engine.MemoryAI, nil, crmNow)
	require.False(t, full)
	require.Len(t, add, 1)
	require.Equal(t, "has a dog", add[0].Text)
	require.Equal(t, engine.MemoryExperience, add[0].Type)
	require.Equal(t, ct, add[0].ContactID)

	var many []engine.Memory
	for i := range engine.MaxMemories {
		many = append(many, engine.Memory{Text: fmt.Sprintf("fact %d", i)})
	}
	add, full = engine.Remember(many, []engine.Fact{{Text: "one more"}}, engine.NewIDs(crmNow, 1), ws, ct, engine.MemoryHuman, nil, crmNow)
	require.True(t, full)
	require.Empty(t, add)

	m, err := engine.AddMemory(have, " prefers email ", "", engine.NewID(crmNow), ws, ct, nil, crmNow)
	require.NoError(t, err, "a person may write what the contact holds already")
	require.Equal(t, engine.MemoryHuman, m.Source)
	require.Equal(t, engine.MemoryFact, m.Type, "no type is a fact")
	_, err = engine.AddMemory(many, "one more", engine.MemoryGoal, engine.NewID(crmNow), ws, ct, nil, crmNow)
	require.ErrorIs(t, err, engine.ErrMemoriesFull)

	into := engine.NewID(crmNow)
	moved := engine.MergeMemories(have, []engine.Memory{{Text: "prefers email"}, {Text: "vegan"}}, into)
	require.Equal(t, []engine.Memory{{Text: "vegan", ContactID: into}}, moved)
	require.Empty(t, engine.MergeMemories(many, []engine.Memory{{Text: "vegan"}}, into), "no room")
}

// NormalizePhone reads WhatsApp ids and imported cells: whatever it
// returns is "+" and 8 to 15 digits, and the same digits written another
// way give the same number.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+1 555 000 1111", "15550001111", "00 44 7700 900123", "555", "+", "\xff", "+1-(555)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := engine.NormalizePhone(s)
		if p == "" {
			return
		}
		if p[0] != '+' || len(p) < 9 || len(p) > 16 || engine.PhoneDigits(p) != p[1:] {
			t.Fatalf("NormalizePhone(%q) = %q", s, p)
		}
		if again := engine.NormalizePhone(p); again != p {
			t.Fatalf("not stable: %q → %q → %q", s, p, again)
		}
	})
}

// A memory's type: the four of seed 003, none a fact; a person's other
// word is refused, an agent's is a fact (LooseMemoryType).
func TestMemoryTypes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		want  engine.MemoryType
		err   bool
		loose engine.MemoryType
	}{
		{"", engine.MemoryFact, false, engine.MemoryFact},
		{"fact", engine.MemoryFact, false, engine.MemoryFact},
		{" Preference ", engine.MemoryPreference, false, engine.MemoryPreference},
		{"goal", engine.MemoryGoal, false, engine.MemoryGoal},
		{"EXPERIENCE", engine.MemoryExperience, false, engine.MemoryExperience},
		{"pet", "", true, engine.MemoryFact},
		{"facts", "", true, engine.MemoryFact},
	} {
		got, err := engine.ParseMemoryType(c.in)
		if c.err {
			require.ErrorIs(t, err, engine.ErrInvalid, c.in)
		} else {
			require.NoError(t, err, c.in)
			require.Equal(t, c.want, got, c.in)
		}
		require.Equal(t, c.loose, engine.LooseMemoryType(c.in), c.in)
	}
	ws, ct := engine.NewID(crmNow), engine.NewID(crmNow)
	_, err := engine.AddMemory(nil, "likes jazz", "hobby", engine.NewID(crmNow), ws, ct, nil, crmNow)
	require.ErrorIs(t, err, engine.ErrInvalid, "a person picks one of the four")
	m, err := engine.AddMemory(nil, "likes jazz", engine.MemoryPreference, engine.NewID(crmNow), ws, ct, nil, crmNow)
	require.NoError(t, err)
	require.Equal(t, engine.MemoryPreference, m.Type)
}
