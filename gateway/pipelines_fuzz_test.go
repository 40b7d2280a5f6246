package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzPipelineBody feeds arbitrary bodies to the pipeline parser and the
// engine's rule behind it, as a create and as an update of the default
// pipeline: no panic, every refusal of the parser is a 400 API error and
// every refusal of the rule engine.ErrInvalid, and an accepted pipeline
// has a tidy name, 1 to MaxStages stages with unique ids and names (case
// aside), and colours that are #rrggbb or empty.
func FuzzPipelineBody(f *testing.F) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	ids := make([]engine.ID, len(engine.DefaultStageNames))
	for i := range ids {
		ids[i] = engine.NewID(now)
	}
	base := engine.DefaultPipeline(engine.NewID(now), engine.NewID(now), ids, now)
	kept := ids[1].String()
	for _, s := range []string{`{"name":"Sales","stages":[{"name":"New"},{"name":"Won","color":"#00FF00"}]}`, `{"name":" a \t b "}`,
		`{"stages":[{"id":"` + kept + `","name":"Q"},{"name":"New"}]}`, `{"stages":[{"id":"` + kept + `","name":"a"},{"id":"` + kept + `","name":"b"}]}`,
		`{"stages":[]}`, `{}`, ``, `null`, `[]`, `{"name":"\u0000"}`, "{\"name\":\"\xff\"}", `{"stages":[{"name":"a"},{"name":"A"}]}`,
		`{"stages":[{"id":"nope","name":"a"}]}`, `{"stages":[{"name":"a","color":"#12345"}]}`, `{"name":"x"} {}`, `{"x":1}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		ch, err := parsePipelineBody(body, create)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if create && (ch.Name == nil || ch.Stages == nil) || ch.Name == nil && ch.Stages == nil {
			t.Fatalf("accepted a body without its fields (create %v)", create)
		}
		from := base
		if create {
			from = engine.Pipeline{ID: engine.NewID(now), WorkspaceID: base.WorkspaceID}
		}
		p, err := engine.ApplyPipeline(from, ch, func() engine.ID { return engine.NewID(now) }, now)
		if err != nil {
			if !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("refusal %v is not ErrInvalid", err)
			}
			return
		}
		if p.Name == "" || len(p.Name) > engine.MaxPipelineNameBytes || !utf8.ValidString(p.Name) || p.Name != strings.Join(strings.Fields(p.Name), " ") {
			t.Fatalf("accepted name %q", p.Name)
		}
		if len(p.Stages) == 0 || len(p.Stages) > engine.MaxStages {
			t.Fatalf("accepted %d stages", len(p.Stages))
		}
		seen := map[string]bool{}
		for _, s := range p.Stages {
			k := strings.ToLower(s.Name)
			if s.Name == "" || len(s.Name) > engine.MaxStageNameBytes || seen[k] || seen[s.ID.String()] || s.ID == engine.ZeroID {
				t.Fatalf("accepted stages %+v", p.Stages)
			}
			seen[k], seen[s.ID.String()] = true, true
			if s.Color != "" && (len(s.Color) != 7 || s.Color[0] != '#' || strings.ToLower(s.Color) != s.Color) {
				t.Fatalf("accepted color %q", s.Color)
			}
		}
	})
}
