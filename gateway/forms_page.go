package gateway

import (
	"bytes"
	"errors"
	"html/template"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
)

// The public page of a form: a small standalone HTML page (its own CSS
// and script, /form/form.css and /form/form.js from the web app's
// files; no framework, nothing from elsewhere) that posts the values as
// JSON to the same address and shows the errors beside their fields.
// It may be framed only by the server itself and the form's allowed
// origins (frame-ancestors); /form/embed.js frames it in another site.

// pageField is one input of the public page.
type pageField struct {
	Key, Label, Input string
	Required          bool
	Options           []string
	Multiple          bool
}

type pageData struct {
	Name, Action, ThankYou string
	Fields                 []pageField
	Honeypot               string
}

var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title>
<link rel="stylesheet" href="/form/form.css">
<script src="/form/form.js" defer></script>
</head>
<body>
<main class="pf">
<h1 class="pf-title">{{.Name}}</h1>
<form class="pf-form" id="pf-form" method="post" action="{{.Action}}" novalidate data-thank-you="{{.ThankYou}}">
<p class="pf-error pf-summary" id="pf-summary" role="alert" hidden></p>
{{range .Fields}}<div class="pf-field" data-key="{{.Key}}">
{{if eq .Input "checkbox"}}<label class="pf-check"><input type="checkbox" id="pf-{{.Key}}" name="{{.Key}}" value="true" aria-describedby="pf-{{.Key}}-error"> {{.Label}}{{if .Required}} <span class="pf-req" aria-hidden="true">*</span>{{end}}</label>
{{else}}<label for="pf-{{.Key}}">{{.Label}}{{if .Required}} <span class="pf-req" aria-hidden="true">*</span>{{end}}</label>
{{if eq .Input "select"}}<select id="pf-{{.Key}}" name="{{.Key}}"{{if .Multiple}} multiple{{end}}{{if .Required}} required aria-required="true"{{end}} aria-describedby="pf-{{.Key}}-error">{{if not .Multiple}}<option value="">Choose…</option>{{end}}{{range .Options}}<option>{{.}}</option>{{end}}</select>
{{else if eq .Input "textarea"}}<textarea id="pf-{{.Key}}" name="{{.Key}}" rows="3"{{if .Required}} required aria-required="true"{{end}} aria-describedby="pf-{{.Key}}-error"></textarea>
{{else}}<input type="{{.Input}}" id="pf-{{.Key}}" name="{{.Key}}"{{if .Required}} required aria-required="true"{{end}} aria-describedby="pf-{{.Key}}-error"{{if eq .Input "email"}} autocomplete="email"{{else if eq .Input "tel"}} autocomplete="tel"{{else if eq .Key "name"}} autocomplete="name"{{end}}>
{{end}}{{end}}<p class="pf-error" id="pf-{{.Key}}-error"></p>
</div>
{{end}}<div class="pf-hp" aria-hidden="true"><label for="pf-hp">Leave this empty</label><input type="text" id="pf-hp" name="{{.Honeypot}}" tabindex="-1" autocomplete="off"></div>
<button type="submit" class="pf-submit">Send</button>
<noscript><p class="pf-error">This form needs JavaScript.</p></noscript>
</form>
<p class="pf-thanks" id="pf-thanks" role="status" tabindex="-1" hidden></p>
</main>
</body>
</html>
`))

// inputOf is the input a field takes on the public page.
func inputOf(key string, d *engine.FieldDef) pageField {
	pf := pageField{Key: key, Input: "text"}
	switch key {
	case "email":
		pf.Input = "email"
	case "phone":
		pf.Input = "tel"
	}
	if d == nil {
		return pf
	}
	switch d.Type {
	case engine.FieldNumber:
		pf.Input = "number"
	case engine.FieldDate:
		pf.Input = "date"
	case engine.FieldEmail:
		pf.Input = "email"
	case engine.FieldPhone:
		pf.Input = "tel"
	case engine.FieldURL:
		pf.Input = "url"
	case engine.FieldBoolean:
		pf.Input = "checkbox"
	case engine.FieldSingleSelect, engine.FieldMultiSelect:
		pf.Input, pf.Options, pf.Multiple = "select", d.Options, d.Type == engine.FieldMultiSelect
	}
	return pf
}

// framePolicy is the page's Content-Security-Policy: its own files only,
// posting to itself, framed by the server and the allowed origins.
func framePolicy(f *engine.Form) string {
	anc := append([]string{"'self'"}, f.AllowedOrigins...)
	return "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors " + strings.Join(anc, " ")
}

// goneForm is the page of a form that does not exist (any more).
var goneForm = []byte(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Form not found</title>
<link rel="stylesheet" href="/form/form.css"></head>
<body><main class="pf"><h1 class="pf-title">This form is not available</h1><p>It may have been removed. Check the link you followed.</p></main></body>
</html>
`)

func (h *forms) page(c *fiber.Ctx) error {
	f, err := h.publicForm(c)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == fiber.StatusNotFound {
		c.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors *")
		c.Response().Header.Del(fiber.HeaderXFrameOptions)
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Status(fiber.StatusNotFound).Send(goneForm)
	}
	if err != nil {
		return err
	}
	defs, err := h.store.FieldDefs(f.WorkspaceID)
	if err != nil {
		return err
	}
	data := pageData{Name: f.Name, Action: c.Path(), ThankYou: f.ThankYou, Honeypot: formHoneypot}
	if data.ThankYou == "" {
		data.ThankYou = engine.DefaultThankYou
	}
	for _, ff := range f.Fields {
		var d *engine.FieldDef
		if i := slices.IndexFunc(defs, func(d engine.FieldDef) bool { return d.Key == ff.Key }); i >= 0 {
			d = &defs[i]
		}
		pf := inputOf(ff.Key, d)
		pf.Label, pf.Required = ff.Label, ff.Required || d != nil && d.Required
		data.Fields = append(data.Fields, pf)
	}
	var buf bytes.Buffer
	if err := formPage.Execute(&buf, data); err != nil {
		return err
	}
	hd := &c.Response().Header
	hd.Del(fiber.HeaderXFrameOptions) // frame-ancestors says who may frame it
	c.Set("Content-Security-Policy", framePolicy(&f))
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}
