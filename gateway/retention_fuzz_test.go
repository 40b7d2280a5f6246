package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// FuzzRetentionBodies feeds arbitrary bodies to the retention policy,
// legal hold and erasure parsers, each after the route's schema as the
// handlers run them: no panic, every refusal is a 400 API error, an
// accepted policy is within bounds (engine.CheckRetentionPolicy), an
// accepted hold reason is trimmed and bounded, and an erasure is
// accepted only with the contact's id as its confirmation.
func FuzzRetentionBodies(f *testing.F) {
	id := engine.NewID(time.Unix(1e9, 0))
	for _, s := range []string{
		`{"message_days":30,"closed_conversation_days":90}`, `{"message_days":0,"closed_conversation_days":0}`,
		`{"message_days":-1,"closed_conversation_days":0}`, `{"message_days":36501,"closed_conversation_days":0}`,
		`{"message_days":1}`, `{"message_days":1e99,"closed_conversation_days":1}`, `{"message_days":"1","closed_conversation_days":1}`,
		`{"reason":"court order"}`, `{"reason":" padded "}`, `{}`, ``, `null`, `[]`, "{\"reason\":\"\xff\"}",
		`{"confirm":"` + id.String() + `"}`, `{"confirm":""}`, `{"confirm":1}`, `{"confirm":"x"} {}`,
	} {
		for _, route := range []string{"PUT /api/v1/retention", "PUT /api/v1/contacts/{id}/legal-hold", "POST /api/v1/contacts/{id}/erase"} {
			f.Add([]byte(s), route)
		}
	}
	schemas, err := bodySchemas()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, route string) {
		sch, ok := schemas[route]
		if !ok {
			return
		}
		refused := func(err error) bool {
			if err == nil {
				return false
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("%s %q: refusal %v is not a 400 API error", route, body, err)
			}
			return true
		}
		if refused(checkBody(sch, body)) {
			return
		}
		switch route {
		case "PUT /api/v1/retention":
			p, err := parseRetentionBody(body)
			if refused(err) {
				return
			}
			if err := p.CheckRetentionPolicy(); err != nil {
				t.Fatalf("%q: accepted an invalid policy %+v", body, p)
			}
		case "PUT /api/v1/contacts/{id}/legal-hold":
			var b legalHoldBody
			if refused(decodeJSONBytes(body, &b)) {
				return
			}
			r, err := engine.CheckLegalHoldReason(b.Reason)
			if err != nil {
				if !errors.Is(err, engine.ErrInvalid) {
					t.Fatalf("%q: %v", body, err)
				}
				return
			}
			if len(r) > engine.LegalHoldReasonMax {
				t.Fatalf("%q: reason of %d bytes accepted", body, len(r))
			}
		case "POST /api/v1/contacts/{id}/erase":
			if refused(parseEraseBody(body, id)) {
				return
			}
			if err := parseEraseBody(body, engine.NewID(time.Unix(2e9, 0))); err == nil {
				t.Fatalf("%q: confirmed the erasure of another contact", body)
			}
		}
	})
}
