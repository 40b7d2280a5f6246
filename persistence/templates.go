package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// WhatsApp message templates. Keys, under the workspace prefix:
//
//	'w' ws '8' waba name language            template (engine.Template)
//
// A template is named by its WhatsApp Business Account, its name and its
// language, as Meta names it. A store written before templates existed
// simply has none: the prefix needs no migration.
const tTemplate = '8'

func templatePrefix(ws engine.ID, waba string) []byte {
	return appendString(wsPrefix(ws, tTemplate), waba)
}

func templateKey(ws engine.ID, waba, name, lang string) []byte {
	return appendString(appendString(templatePrefix(ws, waba), name), lang)
}

// PutTemplate writes template t (new or changed).
func (b *Batch) PutTemplate(t *engine.Template) {
	b.set(templateKey(t.WorkspaceID, t.WABAID, t.Name, t.Language), t)
}

// DeleteTemplate removes a template.
func (b *Batch) DeleteTemplate(ws engine.ID, waba, name, lang string) {
	b.del(templateKey(ws, waba, name, lang))
}

// Templates returns the templates of a workspace's WhatsApp Business
// Account waba, by name then language; every account's when waba is
// empty.
func (s *Store) Templates(ws engine.ID, waba string) ([]engine.Template, error) {
	p := wsPrefix(ws, tTemplate)
	if waba != "" {
		p = templatePrefix(ws, waba)
	}
	return readAll[engine.Template](s, p, "templates")
}

// Template reads one template.
func (s *Store) Template(ws engine.ID, waba, name, lang string) (engine.Template, error) {
	var t engine.Template
	if err := s.get(templateKey(ws, waba, name, lang), &t); err != nil {
		return engine.Template{}, fmt.Errorf("reading template %s/%s: %w", name, lang, err)
	}
	return t, nil
}
