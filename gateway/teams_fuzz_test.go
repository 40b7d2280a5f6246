package gateway

import (
	"errors"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// FuzzTeamBody feeds arbitrary bodies to the team parser as a create and
// an update: no panic, every refusal is a 400 API error, and an accepted
// body applied to a team gives one engine.CleanTeam accepts (a bounded
// name, sorted distinct member ids, a known distribution) or a 400; the
// distribution then picks a member of the team or nobody.
func FuzzTeamBody(f *testing.F) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	a, b := engine.NewID(now).String(), engine.NewID(now.Add(time.Millisecond)).String()
	for _, s := range []string{
		`{"name":"Support","members":["` + a + `","` + b + `"],"distribution":"least_loaded"}`,
		`{"name":"x","members":["` + b + `","` + b + `"]}`, `{"name":" "}`, `{"distribution":"manual"}`,
		`{"name":"x","members":["nope"]}`, `{"name":"x","distribution":"random"}`, `{"members":null}`,
		`{}`, ``, `null`, `[]`, `{"name":1}`, "{\"name\":\"\xff\"}", `{"name":"x"} {}`, `{"name":"x","extra":1}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		tb, err := parseTeamBody(body, create)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("refusal %v is not a 400", err)
			}
			return
		}
		tm := engine.Team{Name: "kept", Distribution: engine.TeamRoundRobin}
		if err := tb.apply(&tm); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("refusal %v is not a 400", err)
			}
			return
		}
		if tm.Name == "" || len(tm.Name) > engine.MaxTeamNameBytes || !utf8.ValidString(tm.Name) || !tm.Distribution.Valid() ||
			!slices.IsSorted(tm.Members) || len(slices.Compact(slices.Clone(tm.Members))) != len(tm.Members) {
			t.Fatalf("accepted a bad team %+v", tm)
		}
		on := map[string]engine.UserPresence{}
		for _, m := range tm.Members {
			on[m] = engine.UserPresence{Sockets: 1, LastActive: now}
		}
		p := engine.PickTeamMember(&tm, on, nil, "", now, engine.DefaultPresenceRules)
		if p.UserID != "" && !tm.HasMember(p.UserID) {
			t.Fatalf("picked %s, not a member of %v", p.UserID, tm.Members)
		}
		if (p.UserID == "") != (tm.Distribution == engine.TeamManual || len(tm.Members) == 0) {
			t.Fatalf("pick %+v for %+v", p, tm)
		}
	})
}
