package gateway

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzAdminWorkspaceBody feeds arbitrary bodies to the operator's
// workspace parser as a create and as an update: no panic, every refusal
// is a 400 API error that leaves the record as it was, and what is
// accepted keeps to the rules: a named workspace with an owner's email,
// limits between 0 and MaxPlanLimit, a known time zone, an update that
// changes something.
func FuzzAdminWorkspaceBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Shop","owner_email":"owner@shop.test"}`,
		`{"name":"Shop","owner_email":"owner@shop.test","plan":"pro","limits":{"seats":5,"channel_accounts":2,"contacts":1000,"ai_replies_per_month":500,"broadcasts_per_month":4},"time_zone":"Europe/Paris"}`,
		`{"plan":"pro"}`, `{"limits":{"seats":0}}`, `{"time_zone":"America/New_York"}`, `{"limits":{"seats":-1}}`,
		`{"limits":{"seats":1e20}}`, `{"limits":{"seats":1.5}}`, `{"time_zone":"Local"}`, `{"time_zone":"../../etc/passwd"}`,
		`{"name":"","owner_email":"a@b.test"}`, `{"name":"x\ny","owner_email":"a@b.test"}`, `{"name":"x","owner_email":"nope"}`,
		`{"name":"x","owner_email":"a@b.test","extra":1}`, `{}`, ``, `null`, `[]`, `{"plan":"` + strings.Repeat("p", 101) + `"}`,
		"{\"name\":\"\xff\",\"owner_email\":\"a@b.test\"}", `{"name":"x","owner_email":"a@b.test"} {}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		before := engine.WorkspaceOperatorRecord{Plan: "old", Limits: engine.PlanLimits{Seats: 3}, TimeZone: "UTC"}
		rec := before
		name, email, err := parseAdminWorkspaceBody(body, create, &rec)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			if rec != before {
				t.Fatalf("a refused body changed the record: %+v", rec)
			}
			return
		}
		if create && (name == "" || len(name) > maxWorkspaceName || !utf8.ValidString(name) || !strings.Contains(email, "@")) {
			t.Fatalf("accepted name %q, email %q", name, email)
		}
		if err := engine.CheckPlanLimits(rec.Limits); err != nil {
			t.Fatalf("accepted limits the engine refuses: %v", err)
		}
		if err := engine.CheckPlanTimeZone(rec.TimeZone); err != nil {
			t.Fatalf("accepted a time zone the engine refuses: %v", err)
		}
		if len(rec.Plan) > maxPlanName {
			t.Fatalf("accepted plan %q", rec.Plan)
		}
	})
}
