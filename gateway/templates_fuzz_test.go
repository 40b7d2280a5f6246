package gateway

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzTemplateCreateBody feeds arbitrary bodies to the parser of a
// template to submit: no panic, every refusal is a 400 API error, and
// what is accepted is what Meta's review asks for (a name of lower-case
// letters, digits and _, a known category, one BODY, valid UTF-8).
func FuzzTemplateCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"order_ready","language":"en_US","category":"UTILITY","components":[{"type":"BODY","text":"Hi {{1}}","example":{"body_text":[["Ann"]]}}]}`,
		`{"name":"promo","language":"en","category":"marketing","components":[{"type":"HEADER","format":"IMAGE","example":{"header_handle":["4::x"]}},{"type":"BODY","text":"Look"},{"type":"BUTTONS","buttons":[{"type":"URL","text":"Go","url":"https://x.test"}]}]}`,
		`{"name":"named","language":"en","category":"UTILITY","components":[{"type":"BODY","text":"Hi {{first_name}}","example":{"body_text_named_params":[{"param_name":"first_name","example":"Ann"}]}}]}`,
		`{"name":"x","components":[]}`, `{}`, ``, `null`, `[]`, `{"name":"\xff"}`, `{"components":[{"type":"BODY","text":"{{2}}"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, tpl, err := parseTemplateCreate(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if tpl.Name == "" || strings.Trim(tpl.Name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Fatalf("accepted name %q", tpl.Name)
		}
		switch tpl.Category {
		case engine.TemplateMarketing, engine.TemplateUtility, engine.TemplateAuthentication:
		default:
			t.Fatalf("accepted category %q", tpl.Category)
		}
		bodies := 0
		for _, c := range tpl.Components {
			if c.Type == "BODY" {
				bodies++
				if len(c.Text) > engine.MaxTemplateBodyBytes {
					t.Fatalf("accepted a body of %d bytes", len(c.Text))
				}
			}
			if !utf8.ValidString(c.Text) {
				t.Fatalf("accepted invalid UTF-8 %q", c.Text)
			}
		}
		if bodies != 1 {
			t.Fatalf("accepted %d bodies", bodies)
		}
	})
}

// FuzzTemplateSendBody feeds arbitrary send bodies to the parser and the
// template rule: no panic, refusals are 400s (or the rule's template
// errors), and an accepted send fills every variable of the template
// with a bounded, one-line value.
func FuzzTemplateSendBody(f *testing.F) {
	tpl := engine.Template{Name: "order_update", Language: "en_US", Status: engine.TemplateApproved, Components: []engine.TemplateComponent{
		{Type: "HEADER", Format: "TEXT", Text: "Order {{1}}"}, {Type: "BODY", Text: "Hi {{1}}, order {{2}}"}}}
	contact := &engine.Contact{Profile: engine.Profile{Name: "Dana Scully"}, CustomFields: map[string]string{"order_id": "A-1\nB"}}
	for _, s := range []string{
		`{"name":"order_update","language":"en_US","header":[{"text":"1"}],"body":[{"field":"first_name"},{"field":"order_id","fallback":"x"}]}`,
		`{"name":"order_update","language":"en_US","header":[{"text":"1"}],"body":[{"text":"a"},{"text":"b     c"}]}`,
		`{"name":"order_update","language":"en_US","header_media":{"link":"https://x.test/a.png"}}`,
		`{"name":"order_update","language":"es"}`, `{}`, ``, `null`, `{"name":1}`, `{"body":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseTemplateSend(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		c, err := engine.BuildTemplateMessage(tpl, req, contact)
		if err != nil {
			if !errors.Is(err, engine.ErrInvalid) && !errors.Is(err, engine.ErrTemplateNotFound) {
				t.Fatalf("refusal %v is not a template error", err)
			}
			return
		}
		if c.Kind != engine.KindTemplate || len(c.Template.Header) != 1 || len(c.Template.Body) != 2 {
			t.Fatalf("accepted %+v", c.Template)
		}
		for _, p := range append(c.Template.Header, c.Template.Body...) {
			if p.Text == "" || len(p.Text) > engine.MaxTemplateParamBytes || strings.ContainsAny(p.Text, "\n\t\r") || !utf8.ValidString(p.Text) {
				t.Fatalf("accepted value %q", p.Text)
			}
		}
	})
}
