package engine

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Contact limits.
const (
	MaxContactFieldBytes = 256
	MaxCustomFields      = 50
	MaxCustomKeyBytes    = 64
	MaxCustomValueBytes  = 1024
	MaxNoteBytes         = 16 << 10
	MaxMentions          = 20
)

// Note is an internal note on a contact, written by a user of the inbox;
// the customer never sees it. ConversationID is set when the note was
// written from a conversation. Mentions are the ids of the users the
// text mentions with @name.
type Note struct {
	ID             ID        `json:"id"`
	WorkspaceID    ID        `json:"workspace_id"`
	ContactID      ID        `json:"contact_id"`
	ConversationID *ID       `json:"conversation_id"`
	AuthorID       ID        `json:"author_id"`
	Text           string    `json:"text"`
	Mentions       []ID      `json:"mentions"`
	CreatedAt      time.Time `json:"created_at"`

	// HTML is Text's Markdown rendered as sanitised HTML. It is derived,
	// never stored: the gateway fills it in the notes it hands out.
	HTML string `json:"html,omitempty"`
}

// ValidateNoteText checks the text of a note: 1 to MaxNoteBytes of valid
// UTF-8 that is not only white space.
func ValidateNoteText(s string) error {
	if strings.TrimSpace(s) == "" || len(s) > MaxNoteBytes || !utf8.ValidString(s) {
		return fmt.Errorf("%w: a note is 1 to %d bytes of text", ErrInvalid, MaxNoteBytes)
	}
	return nil
}

// ReassignContact points a conversation at contact ContactID: a merge
// moved the conversation to another contact. The header's ContactName
// stays what the channel last reported: the actor compares it with the
// next reported name to tell a new profile name from the channel apart
// from a name a person gave the contact.
type ReassignContact struct {
	ContactID ID
}

func (ReassignContact) isCommand() {}

// ValidateContact checks a contact's profile and custom fields against
// the limits: bounded valid UTF-8 everywhere, a parsable email address, a
// phone number of digits and the usual separators, a known source.
func ValidateContact(c *Contact) error {
	p := &c.Profile
	for _, f := range p.Fields() {
		if v := *f.Value; len(v) > MaxContactFieldBytes || !utf8.ValidString(v) {
			return fmt.Errorf("%w: %s must be at most %d bytes of text", ErrInvalid, f.Name, MaxContactFieldBytes)
		} else if strings.ContainsAny(v, "\x00\r\n") {
			return fmt.Errorf("%w: %s must be one line", ErrInvalid, f.Name)
		}
	}
	if p.Email != "" {
		a, err := mail.ParseAddress(p.Email)
		if err != nil || a.Address != p.Email {
			return fmt.Errorf("%w: email %q is not an address", ErrInvalid, p.Email)
		}
	}
	if p.Phone != "" && !validPhone(p.Phone) {
		return fmt.Errorf("%w: phone %q is not a phone number", ErrInvalid, p.Phone)
	}
	if p.AvatarURL != "" && !strings.HasPrefix(p.AvatarURL, "https://") && !strings.HasPrefix(p.AvatarURL, "http://") {
		return fmt.Errorf("%w: avatar_url must be an http(s) URL", ErrInvalid)
	}
	if len(c.CustomFields) > MaxCustomFields {
		return fmt.Errorf("%w: at most %d custom fields", ErrInvalid, MaxCustomFields)
	}
	for k, v := range c.CustomFields {
		if strings.TrimSpace(k) == "" || len(k) > MaxCustomKeyBytes || !utf8.ValidString(k) || strings.ContainsAny(k, "\x00\r\n") {
			return fmt.Errorf("%w: custom field names are 1 to %d bytes of one-line text", ErrInvalid, MaxCustomKeyBytes)
		}
		if len(v) > MaxCustomValueBytes || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%w: custom field %q must be at most %d bytes of text", ErrInvalid, k, MaxCustomValueBytes)
		}
	}
	if !c.Source.Valid() {
		return fmt.Errorf("%w: unknown contact source %q", ErrInvalid, c.Source)
	}
	return nil
}

// validPhone accepts 3 to 20 digits with an optional leading '+' and the
// separators people write between groups.
func validPhone(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			digits++
		case c == '+' && i == 0, phoneSep(c):
		default:
			return false
		}
	}
	return digits >= 3 && digits <= 20
}

// PhoneDigits returns the digits of a phone number: the form contacts are
// compared by ("+1 (555) 010-2030" and "15550102030" are one number).
func PhoneDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// ProfileField is one text field of a profile, named as in its JSON.
type ProfileField struct {
	Name  string
	Value *string
}

// Fields returns the text fields of p, in a fixed order, to read or set.
func (p *Profile) Fields() [8]ProfileField {
	return [8]ProfileField{{"name", &p.Name}, {"avatar_url", &p.AvatarURL}, {"phone", &p.Phone}, {"email", &p.Email},
		{"company", &p.Company}, {"title", &p.Title}, {"country", &p.Country}, {"language", &p.Language}}
}

// FillEmpty copies into p the fields of from that p leaves empty, and
// reports whether it changed p.
func (p *Profile) FillEmpty(from Profile) bool {
	changed := false
	src := from.Fields()
	for i, f := range p.Fields() {
		if *f.Value == "" && *src[i].Value != "" {
			*f.Value = *src[i].Value
			changed = true
		}
	}
	return changed
}

// Overlay copies into p the fields of from that are not empty.
func (p *Profile) Overlay(from Profile) {
	src := from.Fields()
	for i, f := range p.Fields() {
		if *src[i].Value != "" {
			*f.Value = *src[i].Value
		}
	}
}

// SearchFields returns the profile fields contact search looks in: name,
// phone, email and company, and the WhatsApp identities (a wa_id is the
// customer's phone number).
func (c *Contact) SearchFields() (text []string, phones []string) {
	text = append(text, c.Profile.Name, c.Profile.Email, c.Profile.Company)
	phones = append(phones, c.Profile.Phone)
	for _, id := range c.Identities {
		if id.Channel == ChannelWhatsApp {
			phones = append(phones, id.ExternalID)
		}
	}
	return text, phones
}

// SearchTokens returns the distinct search tokens of a contact: the
// Tokens of its name, email and company and the PhoneTokens of its phone
// numbers, at most MaxTokensPerText of them.
func (c *Contact) SearchTokens() []string {
	text, phones := c.SearchFields()
	seen := map[string]struct{}{}
	var out []string
	add := func(toks []string) {
		for _, t := range toks {
			if _, ok := seen[t]; !ok && len(out) < MaxTokensPerText {
				seen[t] = struct{}{}
				out = append(out, t)
			}
		}
	}
	for _, s := range text {
		add(Tokens(s))
	}
	for _, s := range phones {
		if s != "" {
			add(PhoneTokens(s))
		}
	}
	return out
}

// ParseMentions returns the handles mentioned in a note's text with @,
// folded (lower case, no accents), in order of first appearance, at most
// MaxMentions. A handle is a run of letters, digits, '.', '_' and '-'
// after an '@' that does not follow a letter or digit (so an email
// address in the text mentions no one); a trailing '.' or '-' is
// punctuation, not part of the handle.
func ParseMentions(text string) []string {
	var out []string
	for i := 0; i < len(text) && len(out) < MaxMentions; i++ {
		if text[i] != '@' {
			continue
		}
		if i > 0 {
			r, _ := utf8.DecodeLastRuneInString(text[:i])
			if wordRune(r) {
				continue
			}
		}
		j := i + 1
		for j < len(text) {
			r, n := utf8.DecodeRuneInString(text[j:])
			if !wordRune(r) && r != '.' && r != '_' && r != '-' || r == utf8.RuneError && n == 1 {
				break
			}
			j += n
		}
		h := strings.TrimRight(text[i+1:j], ".-")
		if h == "" {
			continue
		}
		h = Fold(h)
		found := false
		for _, o := range out {
			found = found || o == h
		}
		if !found {
			out = append(out, h)
		}
		i = j - 1
	}
	return out
}

// MentionHandles returns the handles that mention user u: the local part
// of the email address, and the name with its words joined (by nothing,
// '.', '_' or '-'), all folded. The first word of the name alone is
// returned separately: it mentions u only when no other user has it.
func MentionHandles(u *User) (handles []string, first string) {
	if at := strings.LastIndexByte(u.Email, '@'); at > 0 {
		handles = append(handles, Fold(u.Email[:at]))
	}
	var words []string
	scanWords(u.Name, nil, func(t tokenSpan) { words = append(words, t.tok) })
	if len(words) > 0 {
		for _, sep := range []string{"", ".", "_", "-"} {
			handles = append(handles, strings.Join(words, sep))
		}
		first = words[0]
	}
	return handles, first
}
