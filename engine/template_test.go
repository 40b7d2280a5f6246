package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

func orderTemplate() engine.Template {
	return engine.Template{WABAID: "waba1", ID: "111", Name: "order_update", Language: "en_US", Category: "UTILITY",
		Status: engine.TemplateApproved, Components: []engine.TemplateComponent{
			{Type: "HEADER", Format: "TEXT", Text: "Order {{1}}"},
			{Type: "BODY", Text: "Hi {{1}}, your order {{2}} ships on {{3}}."},
			{Type: "FOOTER", Text: "Reply STOP to opt out"}}}
}

func TestBuildTemplateMessage(t *testing.T) {
	contact := &engine.Contact{Profile: engine.Profile{Name: "Dana Scully", Email: "dana@example.com"},
		CustomFields: map[string]string{"order_id": "A-42"}}
	req := engine.TemplateSend{Name: "order_update", Language: "en_US",
		Header: []engine.TemplateVariable{{Field: "order_id"}},
		Body:   []engine.TemplateVariable{{Field: "first_name"}, {Field: "custom.order_id"}, {Field: "ship_date", Fallback: "Monday"}}}
	c, err := engine.BuildTemplateMessage(orderTemplate(), req, contact)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != engine.KindTemplate || c.Template == nil {
		t.Fatalf("content %+v", c)
	}
	if got := c.Template.Body; len(got) != 3 || got[0].Text != "Dana" || got[1].Text != "A-42" || got[2].Text != "Monday" {
		t.Errorf("body params %+v", got)
	}
	if got := c.Template.Header; len(got) != 1 || got[0].Text != "A-42" {
		t.Errorf("header params %+v", got)
	}
	want := "Order A-42\n\nHi Dana, your order A-42 ships on Monday.\n\nReply STOP to opt out"
	if c.Text != want {
		t.Errorf("text %q, want %q", c.Text, want)
	}
	// Typed text wins over the field.
	req.Body[0] = engine.TemplateVariable{Text: "Fox", Field: "first_name"}
	if c, err = engine.BuildTemplateMessage(orderTemplate(), req, contact); err != nil || c.Template.Body[0].Text != "Fox" {
		t.Errorf("typed value: %v %+v", err, c.Template)
	}
}

func TestBuildTemplateMessageRefusals(t *testing.T) {
	ok := engine.TemplateSend{Name: "order_update", Language: "en_US", Header: []engine.TemplateVariable{{Text: "1"}},
		Body: []engine.TemplateVariable{{Text: "a"}, {Text: "b"}, {Text: "c"}}}
	media := engine.Template{Name: "promo", Language: "en", Status: engine.TemplateApproved, Components: []engine.TemplateComponent{
		{Type: "HEADER", Format: "IMAGE"}, {Type: "BODY", Text: "Look"}}}
	for _, tc := range []struct {
		name string
		tpl  engine.Template
		edit func(*engine.TemplateSend)
		want error
	}{
		{"not approved", func() engine.Template { t := orderTemplate(); t.Status = engine.TemplatePaused; return t }(), nil, engine.ErrTemplateNotApproved},
		{"pending", func() engine.Template { t := orderTemplate(); t.Status = engine.TemplatePending; return t }(), nil, engine.ErrTemplateNotApproved},
		{"language", orderTemplate(), func(r *engine.TemplateSend) { r.Language = "es" }, engine.ErrTemplateLanguage},
		{"too few", orderTemplate(), func(r *engine.TemplateSend) { r.Body = r.Body[:2] }, engine.ErrTemplateParams},
		{"too many", orderTemplate(), func(r *engine.TemplateSend) { r.Body = append(r.Body, engine.TemplateVariable{Text: "d"}) }, engine.ErrTemplateParams},
		{"empty value", orderTemplate(), func(r *engine.TemplateSend) { r.Body[1] = engine.TemplateVariable{Field: "nothing"} }, engine.ErrTemplateParams},
		{"newline", orderTemplate(), func(r *engine.TemplateSend) { r.Body[1].Text = "a\nb" }, engine.ErrTemplateParams},
		{"five spaces", orderTemplate(), func(r *engine.TemplateSend) { r.Body[1].Text = "a     b" }, engine.ErrTemplateParams},
		{"too long", orderTemplate(), func(r *engine.TemplateSend) { r.Body[1].Text = strings.Repeat("x", 1025) }, engine.ErrTemplateParams},
		{"header missing", orderTemplate(), func(r *engine.TemplateSend) { r.Header = nil }, engine.ErrTemplateParams},
		{"media on text header", orderTemplate(), func(r *engine.TemplateSend) {
			r.HeaderMedia = &engine.TemplateMedia{Type: "image", Link: "https://x.test/a.png"}
		}, engine.ErrTemplateParams},
		{"media missing", media, func(r *engine.TemplateSend) { *r = engine.TemplateSend{Name: "promo", Language: "en"} }, engine.ErrTemplateParams},
		{"media type", media, func(r *engine.TemplateSend) {
			*r = engine.TemplateSend{Name: "promo", Language: "en", HeaderMedia: &engine.TemplateMedia{Type: "video", Link: "https://x.test/a.mp4"}}
		}, engine.ErrTemplateParams},
		{"media http", media, func(r *engine.TemplateSend) {
			*r = engine.TemplateSend{Name: "promo", Language: "en", HeaderMedia: &engine.TemplateMedia{Link: "http://x.test/a.png"}}
		}, engine.ErrTemplateParams},
		{"url button variable missing", func() engine.Template {
			t := orderTemplate()
			t.Components = append(t.Components, engine.TemplateComponent{Type: "BUTTONS", Buttons: []engine.TemplateButton{
				{Type: "URL", Text: "Track", URL: "https://shop.test/track/{{1}}"}}})
			return t
		}(), nil, engine.ErrTemplateParams},
		{"button variable without button", orderTemplate(), func(r *engine.TemplateSend) {
			r.Buttons = []engine.TemplateVariable{{Text: "x"}}
		}, engine.ErrTemplateParams},
		{"media both", media, func(r *engine.TemplateSend) {
			*r = engine.TemplateSend{Name: "promo", Language: "en", HeaderMedia: &engine.TemplateMedia{Link: "https://x.test/a.png", ID: "9"}}
		}, engine.ErrTemplateParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			req.Body = append([]engine.TemplateVariable(nil), ok.Body...)
			if tc.edit != nil {
				tc.edit(&req)
			}
			_, err := engine.BuildTemplateMessage(tc.tpl, req, nil)
			if !errors.Is(err, tc.want) || !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	withButtons := orderTemplate()
	withButtons.Components = append(withButtons.Components, engine.TemplateComponent{Type: "BUTTONS", Buttons: []engine.TemplateButton{
		{Type: "QUICK_REPLY", Text: "Stop"}, {Type: "URL", Text: "Track", URL: "https://shop.test/track/{{1}}"}}})
	req := ok
	req.Buttons = []engine.TemplateVariable{{Field: "order_id", Fallback: "none"}}
	c, err := engine.BuildTemplateMessage(withButtons, req, &engine.Contact{CustomFields: map[string]string{"order_id": "A-42"}})
	if err != nil || len(c.Template.Buttons) != 1 || c.Template.Buttons[0] != (engine.TemplateButtonParam{Index: 1, Text: "A-42"}) {
		t.Fatalf("url button: %v %+v", err, c.Template)
	}
	c, err = engine.BuildTemplateMessage(media, engine.TemplateSend{Name: "promo", Language: "en",
		HeaderMedia: &engine.TemplateMedia{ID: "4490709327384033"}}, nil)
	if err != nil || c.Template.HeaderMedia == nil || c.Template.HeaderMedia.Type != "image" || c.Template.HeaderMedia.ID != "4490709327384033" {
		t.Fatalf("media header by id: %v %+v", err, c.Template)
	}
}

func TestBuildTemplateMessageNamed(t *testing.T) {
	tpl := engine.Template{Name: "welcome", Language: "en", Status: engine.TemplateApproved, ParameterFormat: "NAMED",
		Components: []engine.TemplateComponent{{Type: "BODY", Text: "Hi {{first_name}}, code {{code}}. Bye {{first_name}}"}}}
	c, err := engine.BuildTemplateMessage(tpl, engine.TemplateSend{Name: "welcome", Language: "en",
		Body: []engine.TemplateVariable{{Name: "code", Text: "X1"}, {Name: "first_name", Text: "Ann"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Template.Body; b[0] != (engine.TemplateParam{Name: "first_name", Text: "Ann"}) || b[1] != (engine.TemplateParam{Name: "code", Text: "X1"}) {
		t.Errorf("params %+v", b)
	}
	if c.Text != "Hi Ann, code X1. Bye Ann" {
		t.Errorf("text %q", c.Text)
	}
}

func TestValidateTemplate(t *testing.T) {
	good := func() engine.Template {
		return engine.Template{Name: "order_update", Language: "en_US", Category: "utility", Components: []engine.TemplateComponent{
			{Type: "header", Text: "Order {{1}}", Example: &engine.TemplateExample{HeaderText: []string{"A-1"}}},
			{Type: "BODY", Text: "Hi {{1}}, order {{2}}", Example: &engine.TemplateExample{BodyText: [][]string{{"Ann", "A-1"}}}},
			{Type: "FOOTER", Text: "Thanks"},
			{Type: "BUTTONS", Buttons: []engine.TemplateButton{{Type: "QUICK_REPLY", Text: "Stop"}}}}}
	}
	tpl := good()
	tpl.Components[3].Buttons = append(tpl.Components[3].Buttons,
		engine.TemplateButton{Type: "URL", Text: "Track", URL: "https://x.test/{{1}}", Example: []string{"https://x.test/A-1"}})
	if err := engine.ValidateTemplate(&tpl); err != nil {
		t.Fatal(err)
	}
	if tpl.Category != "UTILITY" || tpl.Components[0].Type != "HEADER" || tpl.Components[0].Format != "TEXT" || tpl.ParameterFormat != "POSITIONAL" {
		t.Errorf("not normalised: %+v", tpl)
	}
	for name, edit := range map[string]func(*engine.Template){
		"name":        func(t *engine.Template) { t.Name = "Order Update" },
		"category":    func(t *engine.Template) { t.Category = "PROMO" },
		"no body":     func(t *engine.Template) { t.Components = t.Components[:1] },
		"no example":  func(t *engine.Template) { t.Components[1].Example = nil },
		"skipped var": func(t *engine.Template) { t.Components[1].Text = "Hi {{1}}, order {{3}}" },
		"footer var":  func(t *engine.Template) { t.Components[2].Text = "Bye {{1}}" },
		"two bodies":  func(t *engine.Template) { t.Components = append(t.Components, t.Components[1]) },
		"media no eg": func(t *engine.Template) { t.Components[0] = engine.TemplateComponent{Type: "HEADER", Format: "IMAGE"} },
		"button type": func(t *engine.Template) { t.Components[3].Buttons[0].Type = "CALL" },
		"url no sample": func(t *engine.Template) {
			t.Components[3].Buttons[0] = engine.TemplateButton{Type: "URL", Text: "Track", URL: "https://x.test/{{1}}"}
		},
		"mixed formats": func(t *engine.Template) { t.Components[0].Text = "Order {{order}}" },
	} {
		tpl := good()
		edit(&tpl)
		if err := engine.ValidateTemplate(&tpl); !errors.Is(err, engine.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestApplyTemplateStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tpl := orderTemplate()
	tpl.Status = engine.TemplatePending
	got, ok := engine.ApplyTemplateStatus(tpl, engine.TemplateStatusUpdate{Event: "APPROVED", Reason: "NONE"}, now)
	if !ok || got.Status != engine.TemplateApproved || got.Reason != "" || !got.UpdatedAt.Equal(now) {
		t.Fatalf("approved: %v %+v", ok, got)
	}
	if _, ok := engine.ApplyTemplateStatus(got, engine.TemplateStatusUpdate{Event: "APPROVED", Reason: "NONE"}, now); ok {
		t.Error("the same status again reports a change")
	}
	got, ok = engine.ApplyTemplateStatus(got, engine.TemplateStatusUpdate{Event: "REJECTED", Reason: "INVALID_FORMAT"}, now)
	if !ok || got.Status != engine.TemplateRejected || got.Reason != "INVALID_FORMAT" {
		t.Errorf("rejected: %+v", got)
	}
	if _, ok := engine.ApplyTemplateStatus(got, engine.TemplateStatusUpdate{Event: "CATEGORY_UPDATE"}, now); ok {
		t.Error("an event that is no status changed the template")
	}
}

func TestTemplateOutsideWindow(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	conv := engine.Conversation{ID: engine.NewID(now), Channel: engine.ChannelWhatsApp, LastInboundAt: now.Add(-48 * time.Hour), Mode: engine.ModeAI, Folder: engine.FolderOpen}
	ids := engine.SeededIDs(1)
	if _, err := engine.Apply(conv, engine.SendHuman{UserID: "u", Content: engine.Content{Kind: engine.KindText, Text: "hi"}}, now, ids, engine.Settings{}, nil); !errors.Is(err, engine.ErrOutsideWindow) {
		t.Fatalf("free text outside the window: %v", err)
	}
	c, err := engine.BuildTemplateMessage(orderTemplate(), engine.TemplateSend{Name: "order_update", Language: "en_US",
		Header: []engine.TemplateVariable{{Text: "1"}}, Body: []engine.TemplateVariable{{Text: "a"}, {Text: "b"}, {Text: "c"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Apply(conv, engine.SendHuman{UserID: "u", Content: c}, now, ids, engine.Settings{}, nil)
	if err != nil || len(res.Send) != 1 || res.Send[0].Kind != engine.KindTemplate {
		t.Fatalf("template outside the window: %v %+v", err, res.Send)
	}
	// A failed template may be retried outside the window; a failed
	// text may not.
	msg := res.Send[0]
	lookup := func(seq uint64) (engine.Message, bool) { return msg, seq == msg.Seq }
	res, err = engine.Apply(res.Conversation, engine.UpdateStatus{Seq: msg.Seq, Status: engine.StatusFailed, At: now, ErrorCode: "132001"}, now, ids, engine.Settings{}, lookup)
	if err != nil || len(res.Messages) != 1 || res.Messages[0].Status != engine.StatusFailed {
		t.Fatalf("failing the template: %v %+v", err, res.Messages)
	}
	msg = res.Messages[0]
	if res, err = engine.Apply(res.Conversation, engine.Retry{Seq: msg.Seq}, now, ids, engine.Settings{}, lookup); err != nil || len(res.Send) != 1 {
		t.Fatalf("retrying a template outside the window: %v", err)
	}
	msg.Kind, msg.Template = engine.KindText, nil
	if _, err := engine.Apply(res.Conversation, engine.Retry{Seq: msg.Seq}, now, ids, engine.Settings{}, lookup); !errors.Is(err, engine.ErrOutsideWindow) {
		t.Errorf("retrying a text outside the window: %v", err)
	}
	conv.Channel = engine.ChannelMessenger
	if _, err := engine.Apply(conv, engine.SendHuman{UserID: "u", Content: c}, now, ids, engine.Settings{}, nil); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("a template on messenger: %v", err)
	}
}
