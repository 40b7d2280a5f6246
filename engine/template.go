package engine

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WhatsApp message templates: the only messages a business may send
// outside the 24-hour window (docs/ARCHITECTURE.md, "Templates"). A
// template is made and approved at Meta; Parley keeps a copy of each of
// a WhatsApp Business Account's templates (synced from the Graph API,
// submitted from Parley, updated by status webhooks) and sends one by
// filling its variables. The rules here are pure: the gateway reads the
// template and the contact and hands them in.

// TemplateStatus is a template's review status at Meta, upper case as
// Meta writes it.
type TemplateStatus string

// Template statuses. Meta has a few more (IN_APPEAL, PENDING_DELETION,
// ARCHIVED...): they are stored as Meta names them and none of them
// sends.
const (
	TemplateApproved TemplateStatus = "APPROVED"
	TemplatePending  TemplateStatus = "PENDING"
	TemplateRejected TemplateStatus = "REJECTED"
	TemplatePaused   TemplateStatus = "PAUSED"
	TemplateDisabled TemplateStatus = "DISABLED"
)

// Template categories.
const (
	TemplateMarketing      = "MARKETING"
	TemplateUtility        = "UTILITY"
	TemplateAuthentication = "AUTHENTICATION"
)

// Limits of a template, from Meta's template guidelines.
const (
	MaxTemplateNameBytes  = 512
	MaxTemplateBodyBytes  = 1024
	MaxTemplateHeaderText = 60
	MaxTemplateFooterText = 60
	MaxTemplateButtons    = 10
	// MaxTemplateParamBytes caps one filled variable.
	MaxTemplateParamBytes = 1024
	// MaxTemplates caps the templates kept per WhatsApp Business Account.
	MaxTemplates = 2000
)

// Template is a WhatsApp message template as the WhatsApp Business
// Account (WABAID) holds it. A template is named by its name and
// language: the same name exists once per language.
type Template struct {
	WorkspaceID ID     `json:"workspace_id"`
	WABAID      string `json:"waba_id"`
	// ID is Meta's template id.
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Category   string              `json:"category"`
	Status     TemplateStatus      `json:"status"`
	Reason     string              `json:"reason,omitempty"` // why it was rejected, paused or disabled
	Components []TemplateComponent `json:"components"`
	// ParameterFormat is "POSITIONAL" ({{1}}) or "NAMED" ({{first_name}}).
	ParameterFormat string    `json:"parameter_format,omitempty"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// TemplateComponent is one part of a template: HEADER (Format TEXT,
// IMAGE, VIDEO, DOCUMENT or LOCATION), BODY, FOOTER or BUTTONS.
type TemplateComponent struct {
	Type    string           `json:"type"`
	Format  string           `json:"format,omitempty"`
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
	Example *TemplateExample `json:"example,omitempty"`
}

// TemplateButton is a button of a BUTTONS component.
type TemplateButton struct {
	Type        string `json:"type"` // QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE...
	Text        string `json:"text,omitempty"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	// Example is a URL button's sample link, when its URL has a variable.
	Example []string `json:"example,omitempty"`
}

// TemplateExample holds the sample values Meta's review asks for when a
// component has variables (or a media header).
type TemplateExample struct {
	HeaderText   []string   `json:"header_text,omitempty"`
	HeaderHandle []string   `json:"header_handle,omitempty"`
	BodyText     [][]string `json:"body_text,omitempty"`
	// Named parameters' samples.
	HeaderTextNamed []TemplateNamedExample `json:"header_text_named_params,omitempty"`
	BodyTextNamed   []TemplateNamedExample `json:"body_text_named_params,omitempty"`
}

// TemplateNamedExample is a named parameter's sample value.
type TemplateNamedExample struct {
	ParamName string `json:"param_name"`
	Example   string `json:"example"`
}

// Component returns the template's component of type typ, nil if none.
func (t *Template) Component(typ string) *TemplateComponent {
	for i := range t.Components {
		if strings.EqualFold(t.Components[i].Type, typ) {
			return &t.Components[i]
		}
	}
	return nil
}

// TemplateMessage is what a template message carries: the template, its
// language and the values of its variables, as sent.
type TemplateMessage struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	// Category is the template's category when sent (a campaign's
	// pricing and limits depend on it).
	Category string `json:"category,omitempty"`
	// HeaderMedia is the header's image, video or document.
	HeaderMedia *TemplateMedia `json:"header_media,omitempty"`
	// Header and Body are the values of the header's and body's
	// variables, in order.
	Header []TemplateParam `json:"header,omitempty"`
	Body   []TemplateParam `json:"body,omitempty"`
	// Buttons are the values of the URL buttons' variables.
	Buttons []TemplateButtonParam `json:"buttons,omitempty"`
}

// TemplateButtonParam is the value of a URL button's variable: Index is
// the button's position among the template's buttons.
type TemplateButtonParam struct {
	Index int    `json:"index"`
	Text  string `json:"text"`
}

// TemplateParam is one variable's value; Name is set for a template
// with named parameters.
type TemplateParam struct {
	Name string `json:"name,omitempty"`
	Text string `json:"text"`
}

// TemplateMedia is a template's media header: a link Meta fetches, or a
// media id uploaded to the number.
type TemplateMedia struct {
	Type     string `json:"type"` // image, video or document
	Link     string `json:"link,omitempty"`
	ID       string `json:"id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// TemplateSend is a request to send a template: which one and the
// values of its variables.
type TemplateSend struct {
	Name     string             `json:"name"`
	Language string             `json:"language"`
	Header   []TemplateVariable `json:"header,omitempty"`
	Body     []TemplateVariable `json:"body,omitempty"`
	// HeaderMedia is the media of an IMAGE, VIDEO or DOCUMENT header.
	HeaderMedia *TemplateMedia `json:"header_media,omitempty"`
	// Buttons fill the variables of the URL buttons that have one, one
	// each, in the buttons' order.
	Buttons []TemplateVariable `json:"buttons,omitempty"`
}

// TemplateVariable says how one variable is filled: Text as typed, else
// the contact's Field (TemplateFieldValue), else Fallback. Name names a
// named parameter (positional ones go in order).
type TemplateVariable struct {
	Name     string `json:"name,omitempty"`
	Text     string `json:"text,omitempty"`
	Field    string `json:"field,omitempty"`
	Fallback string `json:"fallback,omitempty"`
}

// Errors of template sends. Each wraps ErrInvalid: the request is at
// fault, nothing is sent.
var (
	ErrTemplateNotApproved = fmt.Errorf("%w: the template is not approved", ErrInvalid)
	ErrTemplateLanguage    = fmt.Errorf("%w: the template does not exist in this language", ErrInvalid)
	ErrTemplateParams      = fmt.Errorf("%w: the variables do not match the template", ErrInvalid)
	ErrTemplateNotFound    = errors.New("engine: no such template")
)

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// TemplatePlaceholders returns the variables of a template text in
// order of first appearance: "1", "2"... or the names of named
// parameters.
func TemplatePlaceholders(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// TemplateFieldValue is the contact's value of field: name, first_name,
// email, phone, company, title, country, language, or a custom field by
// its key (with or without a "custom." prefix; "contact." is allowed in
// front of the standard ones). Empty when the contact has none.
func TemplateFieldValue(c *Contact, field string) string {
	if c == nil {
		return ""
	}
	f := strings.TrimPrefix(strings.TrimSpace(field), "contact.")
	switch f {
	case "name":
		return c.Profile.Name
	case "first_name":
		name, _, _ := strings.Cut(strings.TrimSpace(c.Profile.Name), " ")
		return name
	case "email":
		return c.Profile.Email
	case "phone":
		return c.Profile.Phone
	case "company":
		return c.Profile.Company
	case "title":
		return c.Profile.Title
	case "country":
		return c.Profile.Country
	case "language":
		return c.Profile.Language
	}
	return c.CustomFields[strings.TrimPrefix(f, "custom.")]
}

// BuildTemplateMessage checks a template send against its template and
// fills its variables from the contact (nil for none): the template
// must be approved and in the language asked for; each variable of the
// header and body must get exactly one non-empty value of at most
// MaxTemplateParamBytes without newlines, tabs or more than four spaces
// in a row (Meta refuses those, 132018); a media header must get media
// of its format (an https link or a media id), and only a media header
// may; each URL button whose link has a variable gets its value, in
// the buttons' order (Buttons). It returns the message's content: Kind template, the filled
// template, and Text, the template rendered for the inbox. A campaign
// sends a template to each recipient through the same rule.
func BuildTemplateMessage(t Template, req TemplateSend, contact *Contact) (Content, error) {
	if req.Name != t.Name {
		return Content{}, ErrTemplateNotFound
	}
	if req.Language != t.Language {
		return Content{}, fmt.Errorf("%w: %q is in %s, not %q", ErrTemplateLanguage, t.Name, t.Language, req.Language)
	}
	if t.Status != TemplateApproved {
		return Content{}, fmt.Errorf("%w: %q is %s", ErrTemplateNotApproved, t.Name, t.Status)
	}
	tm := TemplateMessage{Name: t.Name, Language: t.Language, Category: t.Category}
	var rendered []string
	if h := t.Component("HEADER"); h != nil {
		switch strings.ToUpper(h.Format) {
		case "", "TEXT":
			params, err := fillTemplateParams("header", h.Text, req.Header, contact)
			if err != nil {
				return Content{}, err
			}
			tm.Header = params
			rendered = append(rendered, renderTemplateText(h.Text, params))
		case "IMAGE", "VIDEO", "DOCUMENT":
			m, err := checkTemplateMedia(strings.ToLower(h.Format), req.HeaderMedia)
			if err != nil {
				return Content{}, err
			}
			tm.HeaderMedia = m
		default:
			return Content{}, fmt.Errorf("%w: %s headers cannot be sent from Parley", ErrTemplateParams, h.Format)
		}
		if len(req.Header) > 0 && tm.Header == nil {
			return Content{}, fmt.Errorf("%w: the header has no variables", ErrTemplateParams)
		}
	} else if len(req.Header) > 0 {
		return Content{}, fmt.Errorf("%w: the template has no header", ErrTemplateParams)
	}
	if tm.HeaderMedia == nil && req.HeaderMedia != nil {
		return Content{}, fmt.Errorf("%w: the template has no media header", ErrTemplateParams)
	}
	body := t.Component("BODY")
	bodyText := ""
	if body != nil {
		bodyText = body.Text
	}
	params, err := fillTemplateParams("body", bodyText, req.Body, contact)
	if err != nil {
		return Content{}, err
	}
	tm.Body = params
	if bodyText != "" {
		rendered = append(rendered, renderTemplateText(bodyText, params))
	}
	if f := t.Component("FOOTER"); f != nil && f.Text != "" {
		rendered = append(rendered, f.Text)
	}
	buttons, err := fillTemplateButtons(t, req.Buttons, contact)
	if err != nil {
		return Content{}, err
	}
	tm.Buttons = buttons
	text := strings.Join(rendered, "\n\n")
	if text == "" {
		text = t.Name
	}
	return Content{Kind: KindTemplate, Text: truncateBytes(text, MaxTextBytes), Template: &tm}, nil
}

func fillTemplateParams(part, text string, vars []TemplateVariable, contact *Contact) ([]TemplateParam, error) {
	names := TemplatePlaceholders(text)
	if len(vars) != len(names) {
		return nil, fmt.Errorf("%w: the %s has %d variables, %d given", ErrTemplateParams, part, len(names), len(vars))
	}
	if len(names) == 0 {
		return nil, nil
	}
	positional := isPositional(names)
	out := make([]TemplateParam, len(names))
	for i, name := range names {
		v := vars[i]
		if !positional {
			j := -1
			for k := range vars {
				if vars[k].Name == name {
					j = k
					break
				}
			}
			if j < 0 {
				return nil, fmt.Errorf("%w: the %s's variable {{%s}} is not given", ErrTemplateParams, part, name)
			}
			v = vars[j]
		}
		val := v.Text
		if val == "" && v.Field != "" {
			val = TemplateFieldValue(contact, v.Field)
		}
		if strings.TrimSpace(val) == "" {
			val = v.Fallback
		}
		val = strings.TrimSpace(val)
		if err := checkTemplateParam(val); err != nil {
			return nil, fmt.Errorf("%w: the %s's variable {{%s}} %s", ErrTemplateParams, part, name, err.Error())
		}
		out[i] = TemplateParam{Text: val}
		if !positional {
			out[i].Name = name
		}
	}
	return out, nil
}

// fillTemplateButtons fills the variable of each URL button that has
// one, in order, from vars.
func fillTemplateButtons(t Template, vars []TemplateVariable, contact *Contact) ([]TemplateButtonParam, error) {
	var idx []int
	if b := t.Component("BUTTONS"); b != nil {
		for i, btn := range b.Buttons {
			if strings.EqualFold(btn.Type, "URL") && len(TemplatePlaceholders(btn.URL)) > 0 {
				idx = append(idx, i)
			}
		}
	}
	if len(vars) != len(idx) {
		return nil, fmt.Errorf("%w: the buttons have %d variables, %d given", ErrTemplateParams, len(idx), len(vars))
	}
	var out []TemplateButtonParam
	for k, i := range idx {
		v := vars[k]
		val := v.Text
		if val == "" && v.Field != "" {
			val = TemplateFieldValue(contact, v.Field)
		}
		if strings.TrimSpace(val) == "" {
			val = v.Fallback
		}
		val = strings.TrimSpace(val)
		if err := checkTemplateParam(val); err != nil {
			return nil, fmt.Errorf("%w: button %d's variable %s", ErrTemplateParams, i+1, err.Error())
		}
		out = append(out, TemplateButtonParam{Index: i, Text: val})
	}
	return out, nil
}

func isPositional(names []string) bool {
	for _, n := range names {
		if _, err := strconv.Atoi(n); err != nil {
			return false
		}
	}
	return true
}

func checkTemplateParam(v string) error {
	switch {
	case v == "":
		return errors.New("is empty (no value, field or fallback)")
	case len(v) > MaxTemplateParamBytes || !utf8.ValidString(v):
		return fmt.Errorf("must be text of at most %d bytes", MaxTemplateParamBytes)
	case strings.ContainsAny(v, "\n\t\r") || strings.Contains(v, "     "):
		return errors.New("cannot have newlines, tabs or more than 4 spaces in a row")
	}
	return nil
}

func checkTemplateMedia(format string, m *TemplateMedia) (*TemplateMedia, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: the header needs a %s (a link or a media id)", ErrTemplateParams, format)
	}
	if m.Type != "" && !strings.EqualFold(m.Type, format) {
		return nil, fmt.Errorf("%w: the header is a %s, not a %s", ErrTemplateParams, format, m.Type)
	}
	out := TemplateMedia{Type: format, ID: strings.TrimSpace(m.ID), Link: strings.TrimSpace(m.Link)}
	if format == "document" {
		out.Filename = strings.TrimSpace(m.Filename)
	}
	switch {
	case (out.ID == "") == (out.Link == ""):
		return nil, fmt.Errorf("%w: the header's %s needs either a link or a media id", ErrTemplateParams, format)
	case len(out.ID) > 128 || strings.ContainsAny(out.ID, "/?# ") || !utf8.ValidString(out.ID):
		return nil, fmt.Errorf("%w: the header's media id is not valid", ErrTemplateParams)
	case len(out.Filename) > 256 || !utf8.ValidString(out.Filename):
		return nil, fmt.Errorf("%w: the header's filename is too long", ErrTemplateParams)
	}
	if out.Link != "" {
		u, err := url.Parse(out.Link)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(out.Link) > 2048 {
			return nil, fmt.Errorf("%w: the header's link must be an https URL", ErrTemplateParams)
		}
	}
	return &out, nil
}

// renderTemplateText writes text with its variables replaced by params
// (positional by number, named by name).
func renderTemplateText(text string, params []TemplateParam) string {
	names := TemplatePlaceholders(text)
	values := make(map[string]string, len(names))
	for i, n := range names {
		if i < len(params) {
			values[n] = params[i].Text
		}
	}
	return placeholderRE.ReplaceAllStringFunc(text, func(m string) string {
		sub := placeholderRE.FindStringSubmatch(m)
		if v, ok := values[sub[1]]; ok {
			return v
		}
		return m
	})
}

var templateNameRE = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)

// ValidateTemplate checks a template made in Parley before it is
// submitted to Meta: a name of lower-case letters, digits and
// underscores; a language code; a category Meta knows; a body of at most
// MaxTemplateBodyBytes; an optional text header of at most 60
// characters (or a media header with its sample handle); an optional
// footer of at most 60 characters without variables; at most ten
// buttons; and the samples of every variable Meta's review asks for,
// one per variable. Variables are all positional ({{1}}, {{2}}... in
// order, none skipped) or all named.
func ValidateTemplate(t *Template) error {
	t.Name = strings.TrimSpace(t.Name)
	t.Language = strings.TrimSpace(t.Language)
	t.Category = strings.ToUpper(strings.TrimSpace(t.Category))
	switch {
	case !templateNameRE.MatchString(t.Name):
		return fmt.Errorf("%w: name must be 1 to 512 lower-case letters, digits and underscores", ErrInvalid)
	case t.Language == "" || len(t.Language) > 16 || strings.ContainsAny(t.Language, " /?#"):
		return fmt.Errorf("%w: language must be a code such as en_US", ErrInvalid)
	case t.Category != TemplateMarketing && t.Category != TemplateUtility && t.Category != TemplateAuthentication:
		return fmt.Errorf("%w: category must be MARKETING, UTILITY or AUTHENTICATION", ErrInvalid)
	}
	seen := map[string]bool{}
	var format string
	for i := range t.Components {
		c := &t.Components[i]
		c.Type = strings.ToUpper(strings.TrimSpace(c.Type))
		c.Format = strings.ToUpper(strings.TrimSpace(c.Format))
		if seen[c.Type] {
			return fmt.Errorf("%w: at most one %s component", ErrInvalid, c.Type)
		}
		seen[c.Type] = true
		if !utf8.ValidString(c.Text) {
			return fmt.Errorf("%w: %s text is not valid UTF-8", ErrInvalid, c.Type)
		}
		names := TemplatePlaceholders(c.Text)
		if err := checkNames(c.Type, names, &format); err != nil {
			return err
		}
		switch c.Type {
		case "HEADER":
			switch c.Format {
			case "", "TEXT":
				c.Format = "TEXT"
				if c.Text == "" || utf8.RuneCountInString(c.Text) > MaxTemplateHeaderText {
					return fmt.Errorf("%w: a text header has 1 to %d characters", ErrInvalid, MaxTemplateHeaderText)
				}
				if len(names) > 1 {
					return fmt.Errorf("%w: a header has at most one variable", ErrInvalid)
				}
				if len(names) > 0 && (c.Example == nil || (len(c.Example.HeaderText) != len(names) && len(c.Example.HeaderTextNamed) != len(names))) {
					return fmt.Errorf("%w: the header's variable needs a sample value", ErrInvalid)
				}
			case "IMAGE", "VIDEO", "DOCUMENT":
				if c.Text != "" {
					return fmt.Errorf("%w: a media header has no text", ErrInvalid)
				}
				if c.Example == nil || len(c.Example.HeaderHandle) != 1 || c.Example.HeaderHandle[0] == "" {
					return fmt.Errorf("%w: a media header needs a sample (example.header_handle, an uploaded file's handle)", ErrInvalid)
				}
			default:
				return fmt.Errorf("%w: a header's format is TEXT, IMAGE, VIDEO or DOCUMENT", ErrInvalid)
			}
		case "BODY":
			if strings.TrimSpace(c.Text) == "" || len(c.Text) > MaxTemplateBodyBytes {
				return fmt.Errorf("%w: the body has 1 to %d bytes", ErrInvalid, MaxTemplateBodyBytes)
			}
			if len(names) > 0 && (c.Example == nil || ((len(c.Example.BodyText) != 1 || len(c.Example.BodyText[0]) != len(names)) && len(c.Example.BodyTextNamed) != len(names))) {
				return fmt.Errorf("%w: each of the body's %d variables needs a sample value", ErrInvalid, len(names))
			}
		case "FOOTER":
			if c.Text == "" || utf8.RuneCountInString(c.Text) > MaxTemplateFooterText || len(names) > 0 {
				return fmt.Errorf("%w: a footer has 1 to %d characters and no variables", ErrInvalid, MaxTemplateFooterText)
			}
		case "BUTTONS":
			if len(c.Buttons) == 0 || len(c.Buttons) > MaxTemplateButtons {
				return fmt.Errorf("%w: 1 to %d buttons", ErrInvalid, MaxTemplateButtons)
			}
			for _, b := range c.Buttons {
				if b.Text == "" || utf8.RuneCountInString(b.Text) > 25 || !utf8.ValidString(b.Text) {
					return fmt.Errorf("%w: a button's text has 1 to 25 characters", ErrInvalid)
				}
				switch strings.ToUpper(b.Type) {
				case "QUICK_REPLY":
				case "URL":
					if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
						return fmt.Errorf("%w: a URL button needs an http(s) url", ErrInvalid)
					}
					if n := len(TemplatePlaceholders(b.URL)); n > 1 || (n == 1 && (len(b.Example) != 1 || b.Example[0] == "")) {
						return fmt.Errorf("%w: a URL button has at most one variable, with a sample link (example)", ErrInvalid)
					}
				case "PHONE_NUMBER":
					if b.PhoneNumber == "" || len(b.PhoneNumber) > 20 {
						return fmt.Errorf("%w: a phone button needs a phone_number", ErrInvalid)
					}
				default:
					return fmt.Errorf("%w: a button's type is QUICK_REPLY, URL or PHONE_NUMBER", ErrInvalid)
				}
			}
		default:
			return fmt.Errorf("%w: a component's type is HEADER, BODY, FOOTER or BUTTONS", ErrInvalid)
		}
	}
	if !seen["BODY"] {
		return fmt.Errorf("%w: a template needs a BODY component", ErrInvalid)
	}
	t.ParameterFormat = "POSITIONAL"
	if format == "named" {
		t.ParameterFormat = "NAMED"
	}
	return nil
}

// checkNames checks one component's variables: positional ones numbered
// 1, 2... in order, or named ones; the same kind across the template.
func checkNames(part string, names []string, format *string) error {
	if len(names) == 0 {
		return nil
	}
	kind := "named"
	if isPositional(names) {
		kind = "positional"
		for i, n := range names {
			if n != strconv.Itoa(i+1) {
				return fmt.Errorf("%w: the %s's variables must be {{1}}, {{2}}... in order", ErrInvalid, strings.ToLower(part))
			}
		}
	}
	if *format != "" && *format != kind {
		return fmt.Errorf("%w: variables are all positional ({{1}}) or all named ({{name}})", ErrInvalid)
	}
	*format = kind
	return nil
}

// TemplateStatusUpdate is what a message_template_status_update webhook
// says of one template.
type TemplateStatusUpdate struct {
	WABAID   string
	ID       string
	Name     string
	Language string
	Event    string // APPROVED, REJECTED, PAUSED, DISABLED...
	Reason   string
}

// ApplyTemplateStatus returns t with the status an update reports. An
// update of an event that is no status (a category or quality change)
// leaves it as it is; an unchanged status reports false.
func ApplyTemplateStatus(t Template, u TemplateStatusUpdate, now time.Time) (Template, bool) {
	ev := TemplateStatus(strings.ToUpper(u.Event))
	switch ev {
	case TemplateApproved, TemplatePending, TemplateRejected, TemplatePaused, TemplateDisabled,
		"IN_APPEAL", "PENDING_DELETION", "ARCHIVED", "LIMIT_EXCEEDED", "FLAGGED", "REINSTATED", "UNARCHIVED":
	default:
		return t, false
	}
	if ev == "REINSTATED" || ev == "UNARCHIVED" {
		ev = TemplateApproved
	}
	reason := u.Reason
	if reason == "NONE" {
		reason = ""
	}
	if t.Status == ev && t.Reason == reason {
		return t, false
	}
	t.Status, t.Reason, t.UpdatedAt = ev, truncateBytes(reason, MaxFieldBytes), now
	if t.ID == "" {
		t.ID = u.ID
	}
	return t, true
}
