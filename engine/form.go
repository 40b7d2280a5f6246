package engine

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Forms: a workspace publishes forms (a list of fields drawn from the
// standard contact fields and its custom field definitions) at public
// addresses; a submission creates or updates the contact it names by
// email or phone, with source form, and may set its stage, owner and a
// tag. The rules here are pure: ApplyForm checks a form's definition,
// ValidateSubmission a submission's values against the form and the
// definitions, FormContactChange what it does to the contact.

// Form limits.
const (
	MaxForms           = 50
	MaxFormFields      = 30
	MaxFormName        = 100
	MaxFormThankYou    = 1000
	MaxFormOrigins     = 20
	MaxFormOriginBytes = 200
	// MaxFormValueBytes bounds one submitted value (custom field values
	// are bounded by MaxCustomValueBytes, standard ones by
	// MaxContactFieldBytes).
	MaxFormValueBytes = MaxCustomValueBytes
)

// FormField is one field of a form: Key is a standard contact field
// (StandardContactFields) or the key of a custom field definition.
// Label is what the public page shows; Required asks for a value (a
// custom field whose definition is required is required on the form too).
type FormField struct {
	Key      string `json:"key"`
	Label    string `json:"label"`
	Required bool   `json:"required"`
}

// Form is a workspace's form. Stage, OwnerID and Tag, when set, are
// given to the contact of each submission; AllowedOrigins are the sites
// (scheme://host[:port]) that may embed the form and submit it, beside
// the server's own address.
type Form struct {
	ID             ID            `json:"id"`
	WorkspaceID    ID            `json:"workspace_id"`
	Name           string        `json:"name"`
	Fields         []FormField   `json:"fields"`
	ThankYou       string        `json:"thank_you"`
	Stage          *ContactStage `json:"stage,omitempty"`
	OwnerID        *ID           `json:"owner_id,omitempty"`
	Tag            string        `json:"tag,omitempty"`
	AllowedOrigins []string      `json:"allowed_origins"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
}

// FormChange is a change to a form: the parts given (nil leaves a part
// as it is). ClearStage, ClearOwner remove the stage and owner.
type FormChange struct {
	Name, ThankYou, Tag    *string
	Fields                 *[]FormField
	Stage                  *ContactStage
	OwnerID                *ID
	ClearStage, ClearOwner bool
	AllowedOrigins         *[]string
}

// DefaultThankYou is the thank-you message of a form that sets none.
const DefaultThankYou = "Thank you! We will be in touch."

// standardLabels are the default labels of the standard fields.
var standardLabels = map[string]string{"name": "Name", "email": "Email", "phone": "Phone", "company": "Company", "title": "Title"}

// ApplyForm returns f with ch applied, each part tidied and checked
// against the workspace's field definitions (defs), and UpdatedAt set to
// now. A form has 1 to MaxFormFields distinct fields, among them an email
// or a phone (a submission's contact is matched by them). It does not
// check that the stage and owner exist: their owners do.
func ApplyForm(f Form, ch FormChange, defs []FieldDef, now time.Time) (Form, error) {
	if ch.Name != nil {
		n := strings.Join(strings.Fields(*ch.Name), " ")
		if n == "" || len(n) > MaxFormName || !utf8.ValidString(n) {
			return f, fmt.Errorf("%w: name must be 1 to %d bytes of one-line text", ErrInvalid, MaxFormName)
		}
		f.Name = n
	}
	if ch.ThankYou != nil {
		t := strings.TrimSpace(*ch.ThankYou)
		if len(t) > MaxFormThankYou || !utf8.ValidString(t) || strings.IndexByte(t, 0) >= 0 {
			return f, fmt.Errorf("%w: thank_you must be at most %d bytes of text", ErrInvalid, MaxFormThankYou)
		}
		f.ThankYou = t
	}
	if ch.Tag != nil {
		t := strings.TrimSpace(*ch.Tag)
		if len(t) > MaxTagBytes || !utf8.ValidString(t) || hasControl(t) {
			return f, fmt.Errorf("%w: tag must be at most %d bytes of one-line text", ErrInvalid, MaxTagBytes)
		}
		f.Tag = t
	}
	if ch.ClearStage {
		f.Stage = nil
	} else if ch.Stage != nil {
		s := *ch.Stage
		f.Stage = &s
	}
	if ch.ClearOwner {
		f.OwnerID = nil
	} else if ch.OwnerID != nil {
		o := *ch.OwnerID
		f.OwnerID = &o
	}
	if ch.AllowedOrigins != nil {
		os, err := normalizeOrigins(*ch.AllowedOrigins)
		if err != nil {
			return f, err
		}
		f.AllowedOrigins = os
	}
	if f.AllowedOrigins == nil {
		f.AllowedOrigins = []string{}
	}
	if ch.Fields != nil {
		fs, err := normalizeFormFields(*ch.Fields, defs)
		if err != nil {
			return f, err
		}
		f.Fields = fs
	}
	if len(f.Fields) == 0 {
		return f, fmt.Errorf("%w: a form needs at least one field", ErrInvalid)
	}
	f.UpdatedAt = now
	return f, nil
}

// normalizeFormFields checks a form's fields: known keys, each once,
// labels of one line (the field's own label when empty), an email or a
// phone among them.
func normalizeFormFields(in []FormField, defs []FieldDef) ([]FormField, error) {
	if len(in) == 0 || len(in) > MaxFormFields {
		return nil, fmt.Errorf("%w: a form has 1 to %d fields", ErrInvalid, MaxFormFields)
	}
	out := make([]FormField, 0, len(in))
	contactable := false
	for _, ff := range in {
		k := strings.TrimSpace(ff.Key)
		label, std := standardLabels[k]
		if !std {
			i := slices.IndexFunc(defs, func(d FieldDef) bool { return d.Key == k })
			if i < 0 {
				return nil, fmt.Errorf("%w: field %q is neither a standard field nor a contact field", ErrInvalid, k)
			}
			label = defs[i].Label
		}
		if slices.ContainsFunc(out, func(o FormField) bool { return o.Key == k }) {
			return nil, fmt.Errorf("%w: field %q is on the form twice", ErrInvalid, k)
		}
		if l := strings.Join(strings.Fields(ff.Label), " "); l != "" {
			label = l
		}
		if len(label) > MaxFieldLabel || !utf8.ValidString(label) {
			return nil, fmt.Errorf("%w: the label of %q must be 1 to %d bytes of one-line text", ErrInvalid, k, MaxFieldLabel)
		}
		contactable = contactable || k == "email" || k == "phone"
		out = append(out, FormField{Key: k, Label: label, Required: ff.Required})
	}
	if !contactable {
		return nil, fmt.Errorf("%w: a form needs an email or a phone field, by which its contact is found", ErrInvalid)
	}
	return out, nil
}

// NormalizeOrigin returns s as an origin (scheme://host[:port], lower
// case, http or https, no path), or an error.
func NormalizeOrigin(s string) (string, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || len(s) > MaxFormOriginBytes || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%w: origin %q must be scheme://host[:port], http or https, without a path", ErrInvalid, s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func normalizeOrigins(in []string) ([]string, error) {
	if len(in) > MaxFormOrigins {
		return nil, fmt.Errorf("%w: at most %d allowed origins", ErrInvalid, MaxFormOrigins)
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		o, err := NormalizeOrigin(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// FormSubmission is one submission of a form: the values as stored (by
// field key, normalised), the contact it created or updated.
type FormSubmission struct {
	ID          ID                `json:"id"`
	WorkspaceID ID                `json:"workspace_id"`
	FormID      ID                `json:"form_id"`
	FormName    string            `json:"form_name"`
	ContactID   ID                `json:"contact_id"`
	Created     bool              `json:"created"`
	Values      map[string]string `json:"values"`
	// Origin is the site the submission came from (its Origin header),
	// empty when the browser sent none.
	Origin    string    `json:"origin,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// FormSubmitted is the Data of a form.submitted event.
type FormSubmitted struct {
	FormID       ID   `json:"form_id"`
	SubmissionID ID   `json:"submission_id"`
	ContactID    ID   `json:"contact_id"`
	Created      bool `json:"created"`
}

// ValidateSubmission checks the values of a submission of form f against
// its fields and the workspace's field definitions (defs): every value
// names a field of the form, a required field has one, each is valid for
// its field (standard fields as contacts take them, custom fields by
// their definitions, NormalizeFieldValue), and an email or a phone is
// given. It returns the values normalised (empty ones left out) and the
// contact patch they make, or the FieldErrors of every invalid one.
func ValidateSubmission(f *Form, defs []FieldDef, values map[string]string) (map[string]string, ContactPatch, error) {
	var errs FieldErrors
	for _, k := range sortedKeys(values) {
		if !slices.ContainsFunc(f.Fields, func(ff FormField) bool { return ff.Key == k }) {
			errs = append(errs, FieldError{k, "is not a field of this form"})
		}
	}
	out := make(map[string]string, len(f.Fields))
	var p ContactPatch
	for _, ff := range f.Fields {
		v := strings.TrimSpace(values[ff.Key])
		var def *FieldDef
		if _, std := standardLabels[ff.Key]; !std {
			if i := slices.IndexFunc(defs, func(d FieldDef) bool { return d.Key == ff.Key }); i >= 0 {
				def = &defs[i]
			}
		}
		if v == "" {
			if ff.Required || def != nil && def.Required {
				errs = append(errs, FieldError{ff.Key, ff.Label + " is required"})
			}
			continue
		}
		n, err := submittedValue(ff.Key, def, v)
		if err != nil {
			errs = append(errs, FieldError{ff.Key, ff.Label + " " + err.Error()})
			continue
		}
		out[ff.Key] = n
		if !p.setStandard(ff.Key, &n) {
			if p.CustomFields == nil {
				p.CustomFields = map[string]*string{}
			}
			p.CustomFields[ff.Key] = &n
		}
	}
	if len(errs) == 0 && p.Email == nil && p.Phone == nil {
		k := "email"
		if !slices.ContainsFunc(f.Fields, func(ff FormField) bool { return ff.Key == k }) {
			k = "phone"
		}
		errs = append(errs, FieldError{k, "Give an email or a phone number, so that we can reach you"})
	}
	if len(errs) > 0 {
		return nil, ContactPatch{}, errs
	}
	return out, p, nil
}

// submittedValue checks and normalises value v of field key (def is its
// definition, nil for a standard field or a definition deleted since the
// form was saved, read as text).
func submittedValue(key string, def *FieldDef, v string) (string, error) {
	if def != nil {
		return NormalizeFieldValue(def, v)
	}
	limit := MaxContactFieldBytes
	if _, std := standardLabels[key]; !std {
		limit = MaxCustomValueBytes
	}
	if len(v) > limit || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
		return "", fmt.Errorf("must be at most %d bytes of one-line text", limit)
	}
	switch key {
	case "email":
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v {
			return "", fmt.Errorf("must be an email address")
		}
	case "phone":
		if !validPhone(v) {
			return "", fmt.Errorf("must be a phone number")
		}
		if n := NormalizePhone(v); n != "" {
			return n, nil
		}
	}
	return v, nil
}

// NewFormContact builds the contact a submission creates (source form):
// id and now are given, p is the submission's patch.
func NewFormContact(id, ws ID, p ContactPatch, now time.Time) (Contact, error) {
	c := Contact{ID: id, WorkspaceID: ws, Source: SourceForm, CreatedAt: now, UpdatedAt: now}
	c.NameEdited = p.apply(&c) && c.Profile.Name != ""
	if err := ValidateContact(&c); err != nil {
		return Contact{}, err
	}
	return c, nil
}

// AddContactTag returns c with tag added (kept sorted), and whether it
// changed; a contact holds at most MaxTags tags.
func AddContactTag(c Contact, tag string, now time.Time) (Contact, bool, error) {
	tag = strings.TrimSpace(tag)
	if tag == "" || len(tag) > MaxTagBytes || !utf8.ValidString(tag) {
		return c, false, fmt.Errorf("%w: tag must be 1 to %d bytes of text", ErrInvalid, MaxTagBytes)
	}
	if slices.Contains(c.Tags, tag) {
		return c, false, nil
	}
	if len(c.Tags) >= MaxTags {
		return c, false, fmt.Errorf("%w: at most %d tags", ErrInvalid, MaxTags)
	}
	c.Tags = append(slices.Clone(c.Tags), tag)
	slices.Sort(c.Tags)
	c.UpdatedAt = now
	return c, true, nil
}

// ValidateFormSubmission is the public submission body's shape limit:
// at most MaxFormFields+1 values (the honeypot aside), each at most
// MaxFormValueBytes. It runs before the form's own rules.
func ValidateFormSubmission(values map[string]string) error {
	if len(values) > MaxFormFields+1 {
		return fmt.Errorf("%w: too many values", ErrInvalid)
	}
	for k, v := range values {
		if len(k) > MaxCustomKeyBytes || len(v) > MaxFormValueBytes {
			return fmt.Errorf("%w: a value is at most %d bytes", ErrInvalid, MaxFormValueBytes)
		}
	}
	return nil
}
