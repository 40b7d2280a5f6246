package agents

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzParseChatCompletion feeds arbitrary AI service responses to the
// parser: it never panics, every failure is ErrResponse, and an
// answer it accepts is text (or nothing) with a bounded follow-up.
func FuzzParseChatCompletion(f *testing.F) {
	for _, s := range []string{`{"choices":[{"message":{"content":"hi"}}]}`, `{"choices":[]}`, `{`, `null`,
		`{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"handoff_to_human","arguments":"{\"reason\":\"x\"}"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"function":{"name":"schedule_follow_up","arguments":"{\"in_hours\":1e308}"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"function":{"name":"handoff_to_human","arguments":"nope"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"function":{"name":"update_contact","arguments":"{\"seats\":[1],\"email\":\"a@b\"}"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"function":{"name":"update_contact","arguments":"{\"plan\":[\"a\",\"b\"],\"n\":1e3}"}}]}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ans, err := parseChatCompletion(body)
		if err != nil {
			if !errors.Is(err, ErrResponse) {
				t.Fatalf("error %v is not ErrResponse", err)
			}
			return
		}
		if ans.Content.Kind != "" && ans.Content.Kind != engine.KindText {
			t.Fatalf("kind %q", ans.Content.Kind)
		}
		if ans.FollowUpAfter < 0 || ans.FollowUpAfter > engine.MaxFollowUpPeriod {
			t.Fatalf("follow-up after %v", ans.FollowUpAfter)
		}
		if ans.Content.Text != "" && !utf8.ValidString(ans.Content.Text) {
			t.Log("invalid UTF-8 is refused later by the engine")
		}
	})
}

// FuzzParseWebhookReply does the same for the webhook agent's answers.
func FuzzParseWebhookReply(f *testing.F) {
	for _, s := range []string{`{"reply":"hi"}`, `{"handoff":"x"}`, `{"follow_up_in_seconds":-1}`, `[]`, `{"reply":5}`,
		`{"contact":{"vip":true,"seats":3,"topics":["a","b"]}}`, `{"contact":[1]}`, `{"contact":{"x":{}}}`,
		`{"remember":["a",{"text":"b","type":"preference"}]}`, `{"remember":{"text":"b"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ans, err := parseWebhookReply(body)
		if err != nil {
			if !errors.Is(err, ErrResponse) {
				t.Fatalf("error %v is not ErrResponse", err)
			}
			return
		}
		if ans.FollowUpAfter < 0 || ans.FollowUpAfter > engine.MaxFollowUpPeriod {
			t.Fatalf("follow-up after %v", ans.FollowUpAfter)
		}
	})
}
