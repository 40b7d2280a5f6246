package agents

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
)

// FuzzParseStructuredReply feeds arbitrary model output to the json
// reply format's parser: it never panics, every failure is
// ErrResponse (counted as an invalid reply), and an accepted answer
// is text or nothing, with a bounded follow-up and memories.
func FuzzParseStructuredReply(f *testing.F) {
	for _, s := range []string{`{"reply":"hi","handoff":false}`, "```json\n{\"reply\":\"x\"}\n```", `{"handoff":"yes","handoff_reason":""}`,
		`{"follow_up_in":1e308}`, `{"follow_up_in":"NaN"}`, `{"follow_up_in":-3}`, `{"remember":"a"}`, `{"remember":["a",1]}`, `{"remember":[{"text":"a","type":"goal"},"b",{"fact":"c","type":9}]}`, `{"remember":[{"text":5}]}`,
		`{"handoff":2}`, `}{`, ``, `no json here`, `{"reply":null,"reasoning":"r"}`, `{"reply":"a"} trailing {"b":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		ans, err := parseStructuredReply(content)
		if err != nil {
			if !errors.Is(err, ErrResponse) || !errors.Is(err, ports.ErrInvalidAnswer) {
				t.Fatalf("error %v is not ErrResponse", err)
			}
			return
		}
		if ans.Content.Kind != "" && (ans.Content.Kind != engine.KindText || strings.TrimSpace(ans.Content.Text) == "") {
			t.Fatalf("content %+v", ans.Content)
		}
		if ans.FollowUpAfter < 0 || ans.FollowUpAfter > engine.MaxFollowUpPeriod {
			t.Fatalf("follow-up after %v", ans.FollowUpAfter)
		}
		if len(ans.Remember) > engine.MaxMemories {
			t.Fatalf("%d facts", len(ans.Remember))
		}
		for _, r := range ans.Remember {
			if strings.TrimSpace(r.Text) == "" {
				t.Fatal("an empty fact")
			}
			if !slices.Contains(engine.MemoryTypes, r.Type) {
				t.Fatalf("a fact of type %q", r.Type)
			}
		}
	})
}
