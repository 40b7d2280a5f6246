package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// CRM rules: what a change does to a contact, as pure functions of the
// contact as it stands, the change, the time and the ids to use. The
// contact's actor (actors/contact.go) applies them one at a time and
// commits each result with its indexes (docs/ARCHITECTURE.md).

// ContactPatch is a change to a contact's profile and custom fields: a nil
// field is unchanged; a custom field set to nil is removed.
type ContactPatch struct {
	Name, Email, Phone, Company, Title, Country, Language, AvatarURL *string
	CustomFields                                                     map[string]*string
}

// apply writes the fields of p onto c, trimmed of surrounding spaces, and
// merges its custom fields; it reports whether p set the name.
func (p *ContactPatch) apply(c *Contact) bool {
	pr := &c.Profile
	for _, f := range []struct {
		v  *string
		to *string
	}{{p.Name, &pr.Name}, {p.Email, &pr.Email}, {p.Phone, &pr.Phone}, {p.Company, &pr.Company}, {p.Title, &pr.Title},
		{p.Country, &pr.Country}, {p.Language, &pr.Language}, {p.AvatarURL, &pr.AvatarURL}} {
		if f.v != nil {
			*f.to = strings.TrimSpace(*f.v)
		}
	}
	c.CustomFields = PatchCustomFields(c.CustomFields, p.CustomFields)
	return p.Name != nil
}

// PatchCustomFields returns fields with patch applied: a nil value
// removes its field, any other sets it. fields is not modified; an empty
// result is nil.
func PatchCustomFields(fields map[string]string, patch map[string]*string) map[string]string {
	if len(patch) == 0 {
		return fields
	}
	out := maps.Clone(fields)
	if out == nil {
		out = make(map[string]string, len(patch))
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// NewContact builds a contact a person or a script creates: id and now
// are given, source is manual or api, and it needs a name, an email or
// a phone.
func NewContact(id, ws ID, source ContactSource, p ContactPatch, now time.Time) (Contact, error) {
	if source != SourceManual && source != SourceAPI {
		return Contact{}, fmt.Errorf("%w: source must be manual or api", ErrInvalid)
	}
	c := Contact{ID: id, WorkspaceID: ws, Source: source, CreatedAt: now, UpdatedAt: now}
	c.NameEdited = p.apply(&c) && c.Profile.Name != ""
	if err := ValidateContact(&c); err != nil {
		return Contact{}, err
	}
	if c.Profile.Name == "" && c.Profile.Email == "" && c.Profile.Phone == "" {
		return Contact{}, fmt.Errorf("%w: a contact needs a name, an email or a phone", ErrInvalid)
	}
	return c, nil
}

// PatchContact applies a person's change to contact c at now. A name set
// by a person is kept from then on: channels no longer rename the contact.
func PatchContact(c Contact, p ContactPatch, now time.Time) (Contact, error) {
	c.CustomFields = maps.Clone(c.CustomFields)
	was := c.Profile.Name
	if p.apply(&c) && c.Profile.Name != was {
		c.NameEdited = c.Profile.Name != ""
	}
	if err := ValidateContact(&c); err != nil {
		return Contact{}, err
	}
	c.UpdatedAt = now
	return c, nil
}

// RenameFromChannel applies a profile name a channel reported for contact
// c: the contact takes it unless a person gave it a name. previous is
// the name the reporting conversation showed before; for a contact stored
// before ChannelName was kept, a name other than it was a person's. It
// returns the contact and whether it changed, and renamed when the name
// did.
func RenameFromChannel(c Contact, name, previous string, now time.Time) (next Contact, changed, renamed bool) {
	if name == "" || name == c.ChannelName && name == c.Profile.Name {
		return c, false, false
	}
	edited := c.NameEdited || c.ChannelName == "" && c.Profile.Name != "" && c.Profile.Name != previous
	if !edited && c.Profile.Name != name {
		c.Profile.Name, renamed = name, true
	}
	if c.ChannelName == name && !renamed {
		return c, false, false
	}
	c.ChannelName, c.UpdatedAt = name, now
	return c, true, renamed
}

// MergeContact returns target with src merged in at now: the target's
// empty profile fields are filled from src, it takes src's identities and
// the custom fields it lacks (within MaxCustomFields), and it is blocked
// or unsubscribed if either was; it keeps its stage and owner, or takes
// src's when it has none.
func MergeContact(target, src Contact, now time.Time) Contact {
	m := target
	m.Identities = slices.Clone(target.Identities)
	if m.Profile.Name == "" && src.Profile.Name != "" {
		m.NameEdited = src.NameEdited
	}
	m.Profile.FillEmpty(src.Profile)
	for _, id := range src.Identities {
		if !slices.Contains(m.Identities, id) {
			m.Identities = append(m.Identities, id)
		}
	}
	m.CustomFields = MergeCustomFields(target.CustomFields, src.CustomFields)
	for _, t := range src.Tags {
		if !slices.Contains(m.Tags, t) && len(m.Tags) < MaxTags {
			m.Tags = append(slices.Clone(m.Tags), t)
		}
	}
	slices.Sort(m.Tags)
	m.Blocked = m.Blocked || src.Blocked
	m.Unsubscribed = m.Unsubscribed || src.Unsubscribed
	if src.Campaign != nil && (m.Campaign == nil || src.Campaign.At.Before(m.Campaign.At)) {
		m.Campaign = src.Campaign // the earlier first touch of the two
	}
	if src.Subscription != nil && (m.Subscription == nil || src.Subscription.Active && !m.Subscription.Active) {
		m.Subscription = src.Subscription // paid access survives a merge
	}
	if m.ChannelName == "" {
		m.ChannelName = src.ChannelName
	}
	if m.Stage == nil {
		m.Stage = src.Stage
	}
	if m.OwnerID == nil {
		m.OwnerID = src.OwnerID
	}
	if m.Detected.Language == "" {
		m.Detected.Language = src.Detected.Language
	}
	m.UpdatedAt = now
	return m
}

// MergeCustomFields returns dst with the fields of src it lacks, while it
// has fewer than MaxCustomFields; dst's own values win. dst is not
// modified.
func MergeCustomFields(dst, src map[string]string) map[string]string {
	out := maps.Clone(dst)
	keys := slices.Sorted(maps.Keys(src)) // which fields fit must not depend on map order
	for _, k := range keys {
		if _, ok := out[k]; !ok && len(out) < MaxCustomFields {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = src[k]
		}
	}
	return out
}

// MergeMemories returns the memories of src moved to contact into that
// have (into's memories) does not hold yet, within MaxMemories.
func MergeMemories(have, src []Memory, into ID) []Memory {
	have = slices.Clone(have)
	var out []Memory
	for _, m := range src {
		if len(have) >= MaxMemories {
			break
		}
		if HasMemory(have, m.Text) {
			continue
		}
		m.ContactID = into
		out = append(out, m)
		have = append(have, m)
	}
	return out
}

// Remember returns the memories facts add to a contact holding have:
// each tidied, those already held, invalid or beyond MaxMemories dropped,
// a type that is not one of MemoryTypes read as a fact. ids[i] is the id
// of facts[i]; full reports facts dropped for room.
func Remember(have []Memory, facts []Fact, ids []ID, ws, contact ID, src MemorySource, author *ID, now time.Time) (add []Memory, full bool) {
	have = slices.Clone(have)
	for i, f := range facts {
		text, err := NormalizeMemoryText(f.Text)
		if err != nil || HasMemory(have, text) {
			continue
		}
		if len(have) >= MaxMemories {
			return add, true
		}
		m := Memory{ID: ids[i], WorkspaceID: ws, ContactID: contact, Text: text, Type: LooseMemoryType(string(f.Type)), Source: src, AuthorID: author, CreatedAt: now}
		add = append(add, m)
		have = append(have, m)
	}
	return add, false
}

// AddMemory returns the memory of type typ ("" a fact) a person adds to
// a contact holding have, or ErrMemoriesFull when it holds MaxMemories.
func AddMemory(have []Memory, text string, typ MemoryType, id, ws, contact ID, author *ID, now time.Time) (Memory, error) {
	text, err := NormalizeMemoryText(text)
	if err != nil {
		return Memory{}, err
	}
	if typ, err = ParseMemoryType(string(typ)); err != nil {
		return Memory{}, err
	}
	if len(have) >= MaxMemories {
		return Memory{}, ErrMemoriesFull
	}
	return Memory{ID: id, WorkspaceID: ws, ContactID: contact, Text: text, Type: typ, Source: MemoryHuman, AuthorID: author, CreatedAt: now}, nil
}

// ImportRow applies a row of a CSV import to the stored contact c it
// matched: the row's non-empty fields overwrite, its custom fields are
// set, and a name it gives counts as a person's.
func ImportRow(c Contact, row Contact, now time.Time) (Contact, error) {
	c.Profile.Overlay(row.Profile)
	if row.Profile.Name != "" {
		c.NameEdited = true
	}
	if len(row.CustomFields) > 0 {
		fields := maps.Clone(c.CustomFields)
		if fields == nil {
			fields = map[string]string{}
		}
		maps.Copy(fields, row.CustomFields)
		c.CustomFields = fields
	}
	if err := ValidateContact(&c); err != nil {
		return Contact{}, err
	}
	c.UpdatedAt = now
	return c, nil
}

// Contact keys: the normalised phone numbers and email addresses a
// contact is known by, across channels. Identity resolution matches an
// inbound sender to a stored contact by them, and imports find the
// contact a row describes by them.
const (
	KeyPhone = "p:" // and an E.164 number
	KeyEmail = "e:" // and a folded address
	// KeyDigits and the digits of a phone number with no E.164 form (too
	// short for one): an import still matches it with the same digits.
	KeyDigits = "d:"
)

// NormalizePhone returns s in E.164 form ("+15550001111"), or "" when s
// is not a phone number of 8 to 15 digits. A number without '+' is read
// as international digits (a WhatsApp id is the country code and number):
// "+1 555 000 1111", "15550001111" and "001 555 000 1111" are one number.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	if !validPhone(s) {
		return ""
	}
	d := PhoneDigits(s)
	if !strings.HasPrefix(s, "+") {
		d = strings.TrimPrefix(d, "00")
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	return "+" + d
}

// NormalizeEmail returns the folded form addresses are compared in, or
// "" when s is not an address.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	return Fold(s)
}

// IdentityKeys returns the keys an inbound sender on channel ch known as
// extID is matched by: a WhatsApp id is a phone number, an email
// channel's sender an address.
func IdentityKeys(ch Channel, extID string) []string {
	switch ch {
	case ChannelWhatsApp:
		if p := NormalizePhone(extID); p != "" {
			return []string{KeyPhone + p}
		}
	case ChannelEmail:
		if e := NormalizeEmail(extID); e != "" {
			return []string{KeyEmail + e}
		}
	case ChannelWebChat:
		return webChatKeys(extID)
	}
	return nil
}

// ContactKeys returns the distinct keys of contact c: its email, its
// phone and its WhatsApp identities, email first.
func ContactKeys(c *Contact) []string {
	var out []string
	add := func(k string) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if e := NormalizeEmail(c.Profile.Email); e != "" {
		add(KeyEmail + e)
	}
	if p := NormalizePhone(c.Profile.Phone); p != "" {
		add(KeyPhone + p)
	} else if d := PhoneDigits(c.Profile.Phone); len(d) >= 3 {
		add(KeyDigits + d)
	}
	for _, id := range c.Identities {
		for _, k := range IdentityKeys(id.Channel, id.ExternalID) {
			add(k)
		}
	}
	if s := c.Subscription; s != nil && s.Provider == ProviderStripe && s.CustomerID != "" {
		add(KeyStripeCustomer + s.CustomerID)
	}
	return out
}

// ContactEventData is the data of contact.deleted: the contact merged
// away and the one it was merged into.
type ContactEventData struct {
	ID         ID `json:"id"`
	MergedInto ID `json:"merged_into"`
}

// NoteEventData is the data of note.created, note.deleted and
// note.mentioned (UserID set: the user mentioned).
type NoteEventData struct {
	Note   Note `json:"note"`
	UserID *ID  `json:"user_id,omitempty"`
}

// MemoryEventData is the data of memory.created and memory.deleted.
type MemoryEventData struct {
	Memory Memory `json:"memory"`
}

// ErrMemoriesFull is returned when a contact holds MaxMemories already.
var ErrMemoriesFull = fmt.Errorf("%w: the contact keeps at most %d memories", ErrInvalid, MaxMemories)

// ValidateProfileName checks a profile name a channel reports: at most
// MaxContactFieldBytes of valid one-line UTF-8.
func ValidateProfileName(s string) error {
	if len(s) > MaxContactFieldBytes || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
		return fmt.Errorf("%w: a profile name is at most %d bytes of one-line text", ErrInvalid, MaxContactFieldBytes)
	}
	return nil
}

// LinkIdentity adds identity id to contact c (a sender matched to it by
// phone or email) and reports whether it was new.
func LinkIdentity(c Contact, id Identity, now time.Time) (Contact, bool) {
	if slices.Contains(c.Identities, id) {
		return c, false
	}
	c.Identities = append(slices.Clone(c.Identities), id)
	c.UpdatedAt = now
	return c, true
}

// ImportProgress is the data of contacts.import.progress, and the answer
// of the import: the rows read so far and what became of them; Errors
// (set once done) the failed rows, and Stopped why the import stopped
// before the end of its body, if it did.
type ImportProgress struct {
	Job      ID                `json:"job"`
	Rows     int               `json:"rows"`
	Imported int               `json:"imported"`
	Updated  int               `json:"updated"`
	Failed   int               `json:"failed"`
	Done     bool              `json:"done"`
	Errors   *[]ImportRowError `json:"errors,omitempty"`
	Stopped  string            `json:"stopped,omitempty"`
}

// ImportRowError is one failed row of an import: the line it starts on
// (the header is line 1) and why it failed.
type ImportRowError struct {
	Row   int    `json:"row"`
	Error string `json:"error"`
}
