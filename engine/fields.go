package engine

import (
	"errors"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Custom field definitions: a workspace describes the custom fields of
// its contacts (key, label, type, options, required, Allow for AI), and
// every write of a contact's custom fields (the API, an import, the AI
// agent, forms) passes its values through ValidateFieldValues.
//
// Values stay strings in the contact's CustomFields map, normalised by
// type: numbers in their shortest decimal form ("1e3" → "1000"), dates
// as YYYY-MM-DD, booleans as "true" or "false", a single select as its
// option's spelling, a multi select as its options in the definition's
// order joined by ", " (options cannot hold a comma), emails trimmed,
// phones in E.164 when they have one, URLs as given (http or https).
//
// A key without a definition is free text, as before definitions
// existed: it is checked only against the contact limits
// (ValidateContact). A deleted definition leaves the stored values in
// place; they read as free text from then on.

// FieldType is the type of a custom field.
type FieldType string

// Field types.
const (
	FieldText         FieldType = "text"
	FieldNumber       FieldType = "number"
	FieldDate         FieldType = "date"
	FieldSingleSelect FieldType = "single_select"
	FieldMultiSelect  FieldType = "multi_select"
	FieldEmail        FieldType = "email"
	FieldPhone        FieldType = "phone"
	FieldURL          FieldType = "url"
	FieldBoolean      FieldType = "boolean"
)

// FieldTypes lists the field types, in the order the settings offer them.
var FieldTypes = []FieldType{FieldText, FieldNumber, FieldDate, FieldSingleSelect, FieldMultiSelect,
	FieldEmail, FieldPhone, FieldURL, FieldBoolean}

// Valid reports whether t is a known field type.
func (t FieldType) Valid() bool { return slices.Contains(FieldTypes, t) }

// Field definition limits.
const (
	// MaxFieldDefs is how many field definitions a workspace keeps (a
	// contact keeps at most MaxCustomFields values).
	MaxFieldDefs      = MaxCustomFields
	MaxFieldKeyBytes  = 40
	MaxFieldLabel     = 100
	MaxFieldOptions   = 100
	MaxFieldOptionLen = 100
	// MultiSelectSep joins the options of a multi select's value.
	MultiSelectSep = ", "
)

// StandardContactFields are the profile fields the AI agent may fill
// beside the custom fields; no definition may take their keys.
var StandardContactFields = []string{"name", "email", "phone", "company", "title"}

// FieldDef is the definition of one custom field of a workspace's
// contacts. Key is the key of the value in Contact.CustomFields: a slug,
// unique in the workspace, that never changes.
type FieldDef struct {
	ID          ID        `json:"id"`
	WorkspaceID ID        `json:"workspace_id"`
	Key         string    `json:"key"`
	Label       string    `json:"label"`
	Type        FieldType `json:"type"`
	// Options are the choices of a single or multi select (none for
	// other types).
	Options  []string `json:"options,omitempty"`
	Required bool     `json:"required"`
	// AllowAI lets the AI agent write the field; it never writes one
	// without it.
	AllowAI   bool      `json:"allow_ai"`
	Order     int       `json:"order"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FieldDefChange is a change to a field definition: the fields given
// (nil leaves a field as it is). Key is set only on creation.
type FieldDefChange struct {
	Key, Label        *string
	Type              *FieldType
	Options           *[]string
	Required, AllowAI *bool
	Order             *int
}

// NormalizeFieldKey checks a field key: a lower-case slug of letters,
// digits and '_', starting with a letter, at most MaxFieldKeyBytes, and
// not one of StandardContactFields.
func NormalizeFieldKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxFieldKeyBytes || s[0] < 'a' || s[0] > 'z' {
		return "", fmt.Errorf("%w: key must be 1 to %d bytes starting with a lower-case letter", ErrInvalid, MaxFieldKeyBytes)
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return "", fmt.Errorf("%w: key may hold only a-z, 0-9 and '_'", ErrInvalid)
		}
	}
	if slices.Contains(StandardContactFields, s) {
		return "", fmt.Errorf("%w: key %q is a standard contact field", ErrInvalid, s)
	}
	return s, nil
}

// ApplyFieldDef returns d with change applied, each part tidied and
// checked, and UpdatedAt set to now. It does not check that the key is
// free: the owner of the workspace's definitions does.
func ApplyFieldDef(d FieldDef, ch FieldDefChange, now time.Time) (FieldDef, error) {
	var err error
	if ch.Key != nil {
		if d.Key, err = NormalizeFieldKey(*ch.Key); err != nil {
			return d, err
		}
	}
	if ch.Label != nil {
		l := strings.Join(strings.Fields(*ch.Label), " ")
		if l == "" || len(l) > MaxFieldLabel || !utf8.ValidString(l) || hasControl(l) {
			return d, fmt.Errorf("%w: label must be 1 to %d bytes of one-line text", ErrInvalid, MaxFieldLabel)
		}
		d.Label = l
	}
	if ch.Type != nil {
		if !ch.Type.Valid() {
			return d, fmt.Errorf("%w: unknown field type %q", ErrInvalid, *ch.Type)
		}
		d.Type = *ch.Type
	}
	if ch.Options != nil {
		d.Options = slices.Clone(*ch.Options)
	}
	if ch.Required != nil {
		d.Required = *ch.Required
	}
	if ch.AllowAI != nil {
		d.AllowAI = *ch.AllowAI
	}
	if ch.Order != nil {
		d.Order = *ch.Order
	}
	if d.Options, err = normalizeOptions(d.Type, d.Options); err != nil {
		return d, err
	}
	d.UpdatedAt = now
	return d, nil
}

// normalizeOptions checks the options of a field of type t: a select has
// 1 to MaxFieldOptions distinct (case aside) one-line options without a
// comma; other types have none.
func normalizeOptions(t FieldType, opts []string) ([]string, error) {
	if t != FieldSingleSelect && t != FieldMultiSelect {
		if len(opts) > 0 {
			return nil, fmt.Errorf("%w: only a single or multi select has options", ErrInvalid)
		}
		return nil, nil
	}
	if len(opts) == 0 || len(opts) > MaxFieldOptions {
		return nil, fmt.Errorf("%w: a select needs 1 to %d options", ErrInvalid, MaxFieldOptions)
	}
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		o = strings.Join(strings.Fields(o), " ")
		if o == "" || len(o) > MaxFieldOptionLen || !utf8.ValidString(o) || hasControl(o) || strings.Contains(o, ",") {
			return nil, fmt.Errorf("%w: an option is 1 to %d bytes of one-line text without a comma", ErrInvalid, MaxFieldOptionLen)
		}
		if slices.ContainsFunc(out, func(p string) bool { return strings.EqualFold(p, o) }) {
			return nil, fmt.Errorf("%w: option %q is given twice", ErrInvalid, o)
		}
		out = append(out, o)
	}
	return out, nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// SortFieldDefs orders definitions as they are shown: by Order, then by
// key.
func SortFieldDefs(defs []FieldDef) {
	slices.SortStableFunc(defs, func(a, b FieldDef) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// FieldError is what is wrong with the value of one field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors is the list of a write's invalid values, by field; it
// wraps ErrInvalid.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Message
	}
	return "engine: invalid command: " + strings.Join(parts, "; ")
}

// Unwrap makes FieldErrors an ErrInvalid.
func (e FieldErrors) Unwrap() error { return ErrInvalid }

// AsFieldErrors returns the field errors err holds, if any.
func AsFieldErrors(err error) (FieldErrors, bool) {
	var fe FieldErrors
	ok := errors.As(err, &fe)
	return fe, ok
}

// ValidateFieldValues checks the custom field values a write proposes
// against the workspace's definitions and returns them normalised (see
// the top of this file), or the FieldErrors of every invalid one. A nil
// or empty value removes its field; keys without a definition are kept
// as given. With creating (a new contact), every required field must be
// given; otherwise a write may not remove a required field (a contact
// stored before its field was made required still takes other changes).
func ValidateFieldValues(defs []FieldDef, values map[string]*string, creating bool) (map[string]*string, error) {
	byKey := make(map[string]*FieldDef, len(defs))
	for i := range defs {
		byKey[defs[i].Key] = &defs[i]
	}
	var errs FieldErrors
	out := make(map[string]*string, len(values))
	for _, k := range sortedKeys(values) {
		v := values[k]
		d := byKey[k]
		if d == nil {
			out[k] = v
			continue
		}
		if v == nil || strings.TrimSpace(*v) == "" {
			if d.Required {
				errs = append(errs, FieldError{k, d.Label + " is required"})
				continue
			}
			out[k] = nil
			continue
		}
		n, err := NormalizeFieldValue(d, *v)
		if err != nil {
			errs = append(errs, FieldError{k, err.Error()})
			continue
		}
		out[k] = &n
	}
	if creating {
		for i := range defs {
			if d := &defs[i]; d.Required {
				if _, given := values[d.Key]; !given {
					errs = append(errs, FieldError{d.Key, d.Label + " is required"})
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// NormalizeFieldValue returns value v of field d in its stored form, or
// why it is not a value of d (the message is for people: no prefix).
func NormalizeFieldValue(d *FieldDef, v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > MaxCustomValueBytes || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return "", fmt.Errorf("must be at most %d bytes of text", MaxCustomValueBytes)
	}
	switch d.Type {
	case FieldText:
		return v, nil
	case FieldNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", errors.New("must be a number, such as 42 or 3.5")
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case FieldDate:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				return "", errors.New("must be a date, YYYY-MM-DD")
			}
		}
		return t.Format(time.DateOnly), nil
	case FieldSingleSelect:
		if o, ok := option(d, v); ok {
			return o, nil
		}
		return "", fmt.Errorf("must be one of: %s", strings.Join(d.Options, MultiSelectSep))
	case FieldMultiSelect:
		return multiSelect(d, v)
	case FieldEmail:
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v {
			return "", errors.New("must be an email address")
		}
		return v, nil
	case FieldPhone:
		if !validPhone(v) {
			return "", errors.New("must be a phone number")
		}
		if p := NormalizePhone(v); p != "" {
			return p, nil
		}
		return v, nil
	case FieldURL:
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", errors.New("must be an http or https URL")
		}
		return v, nil
	case FieldBoolean:
		switch strings.ToLower(v) {
		case "true", "yes", "1", "on":
			return "true", nil
		case "false", "no", "0", "off":
			return "false", nil
		}
		return "", errors.New("must be true or false")
	}
	return "", fmt.Errorf("has an unknown type %q", d.Type)
}

// option returns d's option matching v, case aside.
func option(d *FieldDef, v string) (string, bool) {
	for _, o := range d.Options {
		if strings.EqualFold(o, v) {
			return o, true
		}
	}
	return "", false
}

// multiSelect reads a comma-separated list of d's options and returns
// them in the definition's order, each once, joined by MultiSelectSep.
func multiSelect(d *FieldDef, v string) (string, error) {
	picked := make([]bool, len(d.Options))
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		o, ok := option(d, part)
		if !ok {
			return "", fmt.Errorf("%q is not one of: %s", part, strings.Join(d.Options, MultiSelectSep))
		}
		picked[slices.Index(d.Options, o)] = true
	}
	var out []string
	for i, p := range picked {
		if p {
			out = append(out, d.Options[i])
		}
	}
	if len(out) == 0 {
		return "", errors.New("must name at least one option")
	}
	return strings.Join(out, MultiSelectSep), nil
}

// AIContactWrite is the record of one write the AI agent made on a
// contact: the fields it wrote (standard profile fields by their names,
// custom fields by key), those it was refused, and the message it came
// from (the customer's last message the answer replied to). It shows in
// the contact's activity.
type AIContactWrite struct {
	ID             ID           `json:"id"`
	WorkspaceID    ID           `json:"workspace_id"`
	ContactID      ID           `json:"contact_id"`
	ConversationID ID           `json:"conversation_id"`
	Seq            uint64       `json:"seq"`
	Fields         []string     `json:"fields"`
	Refused        []FieldError `json:"refused,omitempty"`
	At             time.Time    `json:"at"`
}

// ApplyAIContactWrite applies the values the AI agent asked to write on
// contact c: values holds standard profile fields by name
// (StandardContactFields) and custom fields by key. A custom field
// without a definition, or whose definition does not allow the AI, is
// refused, as is a value invalid for its field; empty values are
// ignored (the AI does not clear fields). It returns the contact with
// the accepted values, the fields written (changed ones only, sorted)
// and the refusals; the contact is unchanged when nothing was written.
func ApplyAIContactWrite(c Contact, defs []FieldDef, values map[string]string, now time.Time) (next Contact, written []string, refused []FieldError) {
	next = c
	next.CustomFields = nil
	fields := c.CustomFields
	for _, k := range sortedKeys(values) {
		v := strings.TrimSpace(values[k])
		if v == "" {
			continue
		}
		if slices.Contains(StandardContactFields, k) {
			try := next
			p := ContactPatch{}
			p.setStandard(k, &v)
			p.apply(&try)
			if err := ValidateContact(&try); err != nil {
				refused = append(refused, FieldError{k, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")})
				continue
			}
			if try.Profile != next.Profile {
				if k == "name" {
					try.NameEdited = true
				}
				next, written = try, append(written, k)
			}
			continue
		}
		i := slices.IndexFunc(defs, func(d FieldDef) bool { return d.Key == k })
		switch {
		case i < 0:
			refused = append(refused, FieldError{k, "no such field"})
			continue
		case !defs[i].AllowAI:
			refused = append(refused, FieldError{k, "the AI may not write this field"})
			continue
		}
		n, err := NormalizeFieldValue(&defs[i], v)
		if err != nil {
			refused = append(refused, FieldError{k, err.Error()})
			continue
		}
		if cur, ok := fields[k]; ok && cur == n {
			continue
		}
		if _, ok := fields[k]; !ok && len(fields) >= MaxCustomFields {
			refused = append(refused, FieldError{k, fmt.Sprintf("the contact keeps at most %d custom fields", MaxCustomFields)})
			continue
		}
		fields = PatchCustomFields(fields, map[string]*string{k: &n})
		written = append(written, k)
	}
	next.CustomFields = fields
	if len(written) == 0 {
		return c, nil, refused
	}
	next.UpdatedAt = now
	return next, written, refused
}

// setStandard sets the standard profile field named key (one of
// StandardContactFields) to v, and says whether key names one.
func (p *ContactPatch) setStandard(key string, v *string) bool {
	switch key {
	case "name":
		p.Name = v
	case "email":
		p.Email = v
	case "phone":
		p.Phone = v
	case "company":
		p.Company = v
	case "title":
		p.Title = v
	default:
		return false
	}
	return true
}
