package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseMentions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"ping @ana", []string{"ana"}},
		{"@Ana.Lima, can you call? cc @bob-s.", []string{"ana.lima", "bob-s"}},
		{"@José and @JOSE", []string{"jose"}},
		{"write to ana@example.com", nil},
		{"@ @. @-", nil},
		{"(@maria_p)", []string{"maria_p"}},
		{"no mentions", nil},
	} {
		got := ParseMentions(tc.text)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ParseMentions(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if n := len(ParseMentions(manyHandles(50))); n != MaxMentions {
		t.Errorf("%d mentions, want at most %d", n, MaxMentions)
	}
}

func manyHandles(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" @u")
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(byte('a' + i/26))
	}
	return b.String()
}

func TestMentionHandles(t *testing.T) {
	t.Parallel()
	hs, first := MentionHandles(&User{Name: "Ana María Lima", Email: "ana.lima@example.com"})
	want := []string{"ana.lima", "anamarialima", "ana.maria.lima", "ana_maria_lima", "ana-maria-lima"}
	if strings.Join(hs, ",") != strings.Join(want, ",") || first != "ana" {
		t.Fatalf("MentionHandles = %q, %q", hs, first)
	}
}

func TestValidateContact(t *testing.T) {
	t.Parallel()
	ok := Contact{Profile: Profile{Name: "Ana", Email: "ana@example.com", Phone: "+1 (555) 010-2030",
		AvatarURL: "https://example.com/a.png"}, CustomFields: map[string]string{"plan": "pro"}, Source: SourceManual}
	if err := ValidateContact(&ok); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(c *Contact){
		"bad email":      func(c *Contact) { c.Profile.Email = "not an email" },
		"email w/ name":  func(c *Contact) { c.Profile.Email = "Ana <ana@example.com>" },
		"phone letters":  func(c *Contact) { c.Profile.Phone = "call me" },
		"phone short":    func(c *Contact) { c.Profile.Phone = "12" },
		"long name":      func(c *Contact) { c.Profile.Name = strings.Repeat("a", MaxContactFieldBytes+1) },
		"bad utf8":       func(c *Contact) { c.Profile.Company = "\xff" },
		"two lines":      func(c *Contact) { c.Profile.Title = "a\nb" },
		"avatar scheme":  func(c *Contact) { c.Profile.AvatarURL = "javascript:alert(1)" },
		"empty key":      func(c *Contact) { c.CustomFields = map[string]string{" ": "x"} },
		"long value":     func(c *Contact) { c.CustomFields = map[string]string{"k": strings.Repeat("v", MaxCustomValueBytes+1)} },
		"unknown source": func(c *Contact) { c.Source = "magic" },
		"too many fields": func(c *Contact) {
			c.CustomFields = map[string]string{}
			for i := range MaxCustomFields + 1 {
				c.CustomFields[strings.Repeat("k", i+1)] = "v"
			}
		},
	} {
		c := ok
		c.CustomFields = map[string]string{"plan": "pro"}
		mutate(&c)
		if err := ValidateContact(&c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestReassignContact(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewConversation(NewID(now), NewID(now), ChannelWhatsApp, "acct", NewID(now), "user", now)
	to := NewID(now)
	c.ContactName = "Ana (WhatsApp)"
	res, err := Apply(c, ReassignContact{ContactID: to}, now, NewID, Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Conversation.ContactID != to || res.Conversation.ContactName != "Ana (WhatsApp)" {
		t.Fatalf("header %+v", res.Conversation)
	}
	if len(res.Events) != 1 || res.Events[0].Type != EventConversationUpdated || len(res.Messages) != 0 {
		t.Fatalf("events %+v, messages %d", res.Events, len(res.Messages))
	}
	if _, err := Apply(c, ReassignContact{}, now, NewID, Settings{}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero contact: %v", err)
	}
}

func TestFillEmpty(t *testing.T) {
	t.Parallel()
	p := Profile{Name: "Ana", Email: ""}
	if !p.FillEmpty(Profile{Name: "Other", Email: "a@x.io", Company: "Acme"}) {
		t.Fatal("nothing filled")
	}
	if p.Name != "Ana" || p.Email != "a@x.io" || p.Company != "Acme" {
		t.Fatalf("profile %+v", p)
	}
	if p.FillEmpty(Profile{Name: "Z"}) {
		t.Fatal("filled a set field")
	}
}

// TestNewIDsSortInOrder: IDs made together sort in the order returned,
// whatever other IDs are made meanwhile.
func TestNewIDsSortInOrder(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for range 50 {
		_ = NewID(at.Add(time.Millisecond)) // another millisecond resets the entropy
		ids := NewIDs(at, 5)
		for i := 1; i < len(ids); i++ {
			if ids[i-1].Compare(ids[i]) >= 0 {
				t.Fatalf("ids %d and %d out of order: %s, %s", i-1, i, ids[i-1], ids[i])
			}
		}
	}
}
