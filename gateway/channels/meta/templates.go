package meta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/goccy/go-json"
	"github.com/parleyhq/parley/engine"
)

// WhatsApp message templates: the Business Management API's
// /{waba-id}/message_templates, and the template messages of the send
// API.

// templatePageLimit is how many templates one page asks for.
const templatePageLimit = 100

// maxTemplatePages bounds a sync (engine.MaxTemplates at 100 a page).
const maxTemplatePages = engine.MaxTemplates / templatePageLimit

// ErrTooManyTemplates is returned by ListTemplates for a Business
// Account with more than engine.MaxTemplates templates.
var ErrTooManyTemplates = errors.New("meta: more templates than Parley keeps")

// waTemplate is a template as GET /{waba-id}/message_templates lists it.
type waTemplate struct {
	ID              string                     `json:"id"`
	Name            string                     `json:"name"`
	Language        string                     `json:"language"`
	Category        string                     `json:"category"`
	Status          string                     `json:"status"`
	RejectedReason  string                     `json:"rejected_reason"`
	ParameterFormat string                     `json:"parameter_format"`
	Components      []engine.TemplateComponent `json:"components"`
}

type waTemplatePage struct {
	Data   []waTemplate `json:"data"`
	Paging struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// ListTemplates returns every message template of the WhatsApp Business
// Account wabaID, page by page (GET /{waba-id}/message_templates,
// following paging.cursors.after while the page names a next one). The
// templates come back without WorkspaceID, WABAID or UpdatedAt. A
// template without a name or language is malformed; more than
// engine.MaxTemplates templates are refused.
func (c *Client) ListTemplates(ctx context.Context, wabaID, token string) ([]engine.Template, error) {
	var out []engine.Template
	after := ""
	for page := 0; ; page++ {
		if page >= maxTemplatePages {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyTemplates, engine.MaxTemplates)
		}
		q := url.Values{}
		q.Set("limit", fmt.Sprint(templatePageLimit))
		q.Set("fields", "id,name,language,category,status,rejected_reason,parameter_format,components")
		if after != "" {
			q.Set("after", after)
		}
		var resp waTemplatePage
		if err := c.call(ctx, "list templates", http.MethodGet, c.graphURL(wabaID, "message_templates")+"?"+q.Encode(),
			token, "", nil, &resp); err != nil {
			return nil, err
		}
		for _, t := range resp.Data {
			tpl, err := templateOf(t)
			if err != nil {
				return nil, err
			}
			out = append(out, tpl)
		}
		if resp.Paging.Next == "" || resp.Paging.Cursors.After == "" || resp.Paging.Cursors.After == after || len(resp.Data) == 0 {
			return out, nil
		}
		after = resp.Paging.Cursors.After
	}
}

func templateOf(t waTemplate) (engine.Template, error) {
	if t.Name == "" || t.Language == "" || len(t.Name) > engine.MaxTemplateNameBytes || len(t.Language) > 16 {
		return engine.Template{}, fmt.Errorf("%w: a template without a name or language", ErrBadResponse)
	}
	reason := t.RejectedReason
	if reason == "NONE" {
		reason = ""
	}
	comps := t.Components
	if comps == nil {
		comps = []engine.TemplateComponent{}
	}
	return engine.Template{ID: t.ID, Name: t.Name, Language: t.Language, Category: strings.ToUpper(t.Category),
		Status: engine.TemplateStatus(strings.ToUpper(t.Status)), Reason: reason, ParameterFormat: t.ParameterFormat,
		Components: comps}, nil
}

// waTemplateCreate is the body of POST /{waba-id}/message_templates.
type waTemplateCreate struct {
	Name            string                     `json:"name"`
	Language        string                     `json:"language"`
	Category        string                     `json:"category"`
	ParameterFormat string                     `json:"parameter_format,omitempty"`
	Components      []engine.TemplateComponent `json:"components"`
}

// CreateTemplate submits t to the WhatsApp Business Account wabaID for
// review (POST /{waba-id}/message_templates) and returns Meta's template
// id and the status Meta gave it (PENDING, or APPROVED at once for some
// utility templates).
func (c *Client) CreateTemplate(ctx context.Context, wabaID, token string, t engine.Template) (id string, status engine.TemplateStatus, err error) {
	body, err := json.Marshal(waTemplateCreate{Name: t.Name, Language: t.Language, Category: t.Category,
		ParameterFormat: t.ParameterFormat, Components: t.Components})
	if err != nil {
		return "", "", fmt.Errorf("meta: encoding template: %w", err)
	}
	var resp struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Category string `json:"category"`
	}
	if err := c.call(ctx, "create template", http.MethodPost, c.graphURL(wabaID, "message_templates"), token,
		"application/json", body, &resp); err != nil {
		return "", "", err
	}
	if resp.ID == "" {
		return "", "", fmt.Errorf("%w: create template: no id", ErrBadResponse)
	}
	status = engine.TemplateStatus(strings.ToUpper(resp.Status))
	if status == "" {
		status = engine.TemplatePending
	}
	return resp.ID, status, nil
}

// The template object of a send (type "template").
type outWATemplate struct {
	Name       string                   `json:"name"`
	Language   outWALanguage            `json:"language"`
	Components []outWATemplateComponent `json:"components,omitempty"`
}

type outWALanguage struct {
	Code string `json:"code"`
}

type outWATemplateComponent struct {
	Type       string             `json:"type"`
	SubType    string             `json:"sub_type,omitempty"`
	Index      string             `json:"index,omitempty"`
	Parameters []outWATemplateArg `json:"parameters"`
}

type outWATemplateArg struct {
	Type          string      `json:"type"`
	ParameterName string      `json:"parameter_name,omitempty"`
	Text          string      `json:"text,omitempty"`
	Image         *outWAMedia `json:"image,omitempty"`
	Video         *outWAMedia `json:"video,omitempty"`
	Document      *outWAMedia `json:"document,omitempty"`
}

// outTemplate builds the send API's template object: the header's media
// or text parameters, the body's, then each URL button's (sub_type url,
// its index as a string).
func outTemplate(t *engine.TemplateMessage) (*outWATemplate, error) {
	if t == nil || t.Name == "" || t.Language == "" {
		return nil, fmt.Errorf("%w: template without name or language", ErrUnsupportedContent)
	}
	out := &outWATemplate{Name: t.Name, Language: outWALanguage{Code: t.Language}}
	var header []outWATemplateArg
	if m := t.HeaderMedia; m != nil {
		wm := &outWAMedia{ID: m.ID, Link: m.Link}
		arg := outWATemplateArg{Type: m.Type}
		switch m.Type {
		case "image":
			arg.Image = wm
		case "video":
			arg.Video = wm
		case "document":
			wm.Filename = m.Filename
			arg.Document = wm
		default:
			return nil, fmt.Errorf("%w: template header of type %q", ErrUnsupportedContent, m.Type)
		}
		header = append(header, arg)
	}
	for _, p := range t.Header {
		header = append(header, outWATemplateArg{Type: "text", ParameterName: p.Name, Text: p.Text})
	}
	if len(header) > 0 {
		out.Components = append(out.Components, outWATemplateComponent{Type: "header", Parameters: header})
	}
	if len(t.Body) > 0 {
		body := make([]outWATemplateArg, len(t.Body))
		for i, p := range t.Body {
			body[i] = outWATemplateArg{Type: "text", ParameterName: p.Name, Text: p.Text}
		}
		out.Components = append(out.Components, outWATemplateComponent{Type: "body", Parameters: body})
	}
	for _, b := range t.Buttons {
		out.Components = append(out.Components, outWATemplateComponent{Type: "button", SubType: "url", Index: strconv.Itoa(b.Index),
			Parameters: []outWATemplateArg{{Type: "text", Text: b.Text}}})
	}
	return out, nil
}

// waTemplateStatusValue is the value of a message_template_status_update
// change. message_template_id comes as a number; it is read as JSON and
// kept as its digits.
type waTemplateStatusValue struct {
	Event    string          `json:"event"`
	ID       json.RawMessage `json:"message_template_id"`
	Name     string          `json:"message_template_name"`
	Language string          `json:"message_template_language"`
	Reason   string          `json:"reason"`
}

// templateStatusOf maps one message_template_status_update value of the
// WhatsApp Business Account waba. A value of the wrong JSON types is
// malformed; one that names no template (no name, language or event)
// is skipped (ok false), as an unknown field would be.
func templateStatusOf(waba string, raw json.RawMessage) (u engine.TemplateStatusUpdate, ok bool, err error) {
	var v waTemplateStatusValue
	if err := decode(raw, &v); err != nil {
		return u, false, err
	}
	id := strings.Trim(string(v.ID), `"`)
	if string(v.ID) == "null" {
		id = ""
	}
	switch {
	case waba == "" || len(waba) > maxIDBytes, v.Name == "" || len(v.Name) > engine.MaxTemplateNameBytes,
		v.Language == "" || len(v.Language) > 16, v.Event == "" || len(v.Event) > 64,
		len(id) > maxIDBytes || strings.ContainsAny(id, "\"{}[]"):
		return u, false, nil
	}
	return engine.TemplateStatusUpdate{WABAID: valid(waba), ID: valid(id), Name: valid(v.Name), Language: valid(v.Language),
		Event: strings.ToUpper(valid(v.Event)), Reason: clip(v.Reason, 1024)}, true, nil
}
