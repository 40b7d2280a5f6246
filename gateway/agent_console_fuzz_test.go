package gateway

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/engine"
)

// FuzzAgentTestBody feeds arbitrary test console bodies to the decoder
// and the sample conversation reader: they never panic, every refusal is
// a 400 API error, and an accepted conversation keeps every line, newest
// first, with the newest customer line's text.
func FuzzAgentTestBody(f *testing.F) {
	for _, s := range []string{`{"messages":[{"from":"customer","text":"hi"}]}`,
		`{"settings":{"kind":"off"},"messages":[{"from":"agent","text":"a"},{"from":"customer","text":"b"},{"from":"agent","text":"c"}]}`,
		`{"messages":[]}`, `{"messages":[{"from":"bot","text":"x"}]}`, `{"messages":[{"from":"customer","text":"  "}]}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b agentTestBody
		if err := decodeJSONBytes(body, &b); err != nil {
			return
		}
		hist, last, err := agentTestHistory(engine.ZeroID, b.Messages)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if len(hist) != len(b.Messages) {
			t.Fatalf("%d lines became %d messages", len(b.Messages), len(hist))
		}
		for i := 1; i < len(hist); i++ {
			if hist[i].Seq >= hist[i-1].Seq || hist[i].CreatedAt.After(hist[i-1].CreatedAt) {
				t.Fatalf("history not newest first at %d", i)
			}
		}
		for _, m := range hist {
			if m.Sender.Kind == engine.SenderCustomer {
				if m.Text != last {
					t.Fatalf("newest customer text %q, got %q", m.Text, last)
				}
				break
			}
		}
	})
}
