package gateway

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzFeedbackBody feeds arbitrary bodies to what POST .../feedback does
// with them: the strict decode, the OpenAPI schema, then the engine's
// rule on a conversation whose message 2 is the AI's reply to message 1.
// No panic; a refusal is a 400 API error or engine.ErrInvalid with an
// empty result; what is accepted is a valid rating with a trimmed
// correction of at most 4 KiB of UTF-8, and the question and answer of
// the conversation.
func FuzzFeedbackBody(f *testing.F) {
	for _, s := range []string{`{"rating":"up"}`, `{"rating":"down","correction":"It is 2 days."}`, `{"rating":"down","correction":"  "}`,
		`{"rating":"meh"}`, `{}`, ``, `null`, `[]`, `{"rating":"up","x":1}`, "{\"rating\":\"down\",\"correction\":\"\xff\"}",
		`{"rating":"up"} {}`, `{"rating":null}`, `{"rating":"down","correction":"\u0000"}`} {
		f.Add([]byte(s))
	}
	const route = "POST /api/v1/conversations/{conv}/messages/{seq}/feedback"
	schemas, err := bodySchemas()
	if err != nil {
		f.Fatal(err)
	}
	sch := schemas[route]
	if sch == nil {
		f.Fatal("no schema for the feedback route")
	}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	conv := engine.NewConversation(engine.NewID(now), engine.NewID(now), engine.ChannelWhatsApp, "acct", engine.NewID(now), "u", now)
	conv.LastSeq = 2
	msgs := map[uint64]engine.Message{
		1: {Seq: 1, Direction: engine.DirIn, Sender: engine.Sender{Kind: engine.SenderCustomer}, Content: engine.Content{Kind: engine.KindText, Text: "q?"}},
		2: {Seq: 2, Direction: engine.DirOut, Sender: engine.Sender{Kind: engine.SenderAI}, Content: engine.Content{Kind: engine.KindText, Text: "a."}},
	}
	lookup := func(seq uint64) (engine.Message, bool) { m, ok := msgs[seq]; return m, ok }
	user := engine.NewID(now)
	f.Fuzz(func(t *testing.T, body []byte) {
		var b feedbackBody
		err := decodeJSONBytes(body, &b)
		if err == nil {
			err = checkBody(sch, body)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		res, err := engine.Apply(conv, engine.RateReply{Seq: 2, UserID: user, Rating: b.Rating, Correction: b.Correction},
			now, engine.SeededIDs(1), engine.Settings{}, lookup)
		if err != nil {
			if !errors.Is(err, engine.ErrInvalid) || res.Feedback != nil {
				t.Fatalf("refusal %v with %+v", err, res.Feedback)
			}
			return
		}
		fb := res.Feedback
		if fb == nil || !fb.Rating.Valid() || len(fb.Correction) > engine.MaxCorrectionBytes || !utf8.ValidString(fb.Correction) ||
			fb.Question != "q?" || fb.Answer != "a." || fb.Seq != 2 || fb.UserID != user {
			t.Fatalf("accepted %+v", fb)
		}
	})
}
