package engine_test

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

func segOf(match engine.SegmentMatch, conds ...engine.SegmentCondition) engine.Segment {
	return engine.Segment{ID: engine.NewID(time.Unix(1, 0)), Name: "s", Match: match, Conditions: conds}
}

func TestSegmentMatchesEveryCondition(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	stage, owner, other := engine.NewID(now), engine.NewID(now), engine.NewID(now)
	c := engine.Contact{
		Profile:      engine.Profile{Name: "Ana Lima", Email: "ana@example.com", Company: "Acme"},
		CustomFields: map[string]string{"plan": "Gold", "empty": ""},
		Source:       engine.SourceForm,
		Identities:   []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: "155"}},
		Stage:        &engine.ContactStage{StageID: stage},
		OwnerID:      &owner,
		CreatedAt:    now.Add(-40 * 24 * time.Hour),
		Activity:     engine.ContactActivity{LastMessageAt: now.Add(-3 * 24 * time.Hour), Tags: []string{"billing", "vip"}},
	}
	bare := engine.Contact{Source: engine.SourceChat, CreatedAt: now}
	cases := []struct {
		name     string
		cond     engine.SegmentCondition
		want     bool
		wantBare bool
	}{
		{"field is (any case)", engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpIs, Value: "gold"}, true, false},
		{"field is other", engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpIs, Value: "silver"}, false, false},
		{"field is_not", engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpIsNot, Value: "silver"}, true, true},
		{"field contains", engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpContains, Value: "OL"}, true, false},
		{"field exists", engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpExists}, true, false},
		{"field empty does not exist", engine.SegmentCondition{Kind: engine.SegField, Key: "empty", Op: engine.OpExists}, false, false},
		{"field not_exists", engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpNotExists}, false, true},
		{"profile email contains", engine.SegmentCondition{Kind: engine.SegProfile, Key: "email", Op: engine.OpContains, Value: "@example."}, true, false},
		{"profile company is", engine.SegmentCondition{Kind: engine.SegProfile, Key: "company", Op: engine.OpIs, Value: "ACME"}, true, false},
		{"profile phone not_exists", engine.SegmentCondition{Kind: engine.SegProfile, Key: "phone", Op: engine.OpNotExists}, true, true},
		{"tag is", engine.SegmentCondition{Kind: engine.SegTag, Op: engine.OpIs, Value: "vip"}, true, false},
		{"tag is_not", engine.SegmentCondition{Kind: engine.SegTag, Op: engine.OpIsNot, Value: "vip"}, false, true},
		{"stage is", engine.SegmentCondition{Kind: engine.SegStage, Op: engine.OpIs, Value: stage.String()}, true, false},
		{"stage is other", engine.SegmentCondition{Kind: engine.SegStage, Op: engine.OpIs, Value: other.String()}, false, false},
		{"stage is_not", engine.SegmentCondition{Kind: engine.SegStage, Op: engine.OpIsNot, Value: other.String()}, true, true},
		{"stage exists", engine.SegmentCondition{Kind: engine.SegStage, Op: engine.OpExists}, true, false},
		{"stage not_exists", engine.SegmentCondition{Kind: engine.SegStage, Op: engine.OpNotExists}, false, true},
		{"owner is", engine.SegmentCondition{Kind: engine.SegOwner, Op: engine.OpIs, Value: owner.String()}, true, false},
		{"owner not_exists", engine.SegmentCondition{Kind: engine.SegOwner, Op: engine.OpNotExists}, false, true},
		{"source is", engine.SegmentCondition{Kind: engine.SegSource, Op: engine.OpIs, Value: "form"}, true, false},
		{"source is_not", engine.SegmentCondition{Kind: engine.SegSource, Op: engine.OpIsNot, Value: "form"}, false, true},
		{"channel is", engine.SegmentCondition{Kind: engine.SegChannel, Op: engine.OpIs, Value: "whatsapp"}, true, false},
		{"channel is_not", engine.SegmentCondition{Kind: engine.SegChannel, Op: engine.OpIsNot, Value: "whatsapp"}, false, true},
		{"last message within 7 days", engine.SegmentCondition{Kind: engine.SegLastMessage, Op: engine.OpWithinDays, Days: 7}, true, false},
		{"last message within 2 days", engine.SegmentCondition{Kind: engine.SegLastMessage, Op: engine.OpWithinDays, Days: 2}, false, false},
		{"no message within 2 days (never counts)", engine.SegmentCondition{Kind: engine.SegLastMessage, Op: engine.OpNotWithinDays, Days: 2}, true, true},
		{"created within 30 days", engine.SegmentCondition{Kind: engine.SegCreated, Op: engine.OpWithinDays, Days: 30}, false, true},
		{"created not within 30 days", engine.SegmentCondition{Kind: engine.SegCreated, Op: engine.OpNotWithinDays, Days: 30}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := segOf(engine.MatchAll, tc.cond)
			if err := engine.ValidateSegment(&s); err != nil {
				t.Fatalf("valid condition refused: %v", err)
			}
			if got := engine.SegmentMatches(s, c, now); got != tc.want {
				t.Errorf("contact: got %v, want %v", got, tc.want)
			}
			if got := engine.SegmentMatches(s, bare, now); got != tc.wantBare {
				t.Errorf("bare contact: got %v, want %v", got, tc.wantBare)
			}
		})
	}
}

func TestSegmentMatchAllAny(t *testing.T) {
	now := time.Unix(1e9, 0)
	c := engine.Contact{Source: engine.SourceForm, CustomFields: map[string]string{"plan": "gold"}}
	yes := engine.SegmentCondition{Kind: engine.SegSource, Op: engine.OpIs, Value: "form"}
	no := engine.SegmentCondition{Kind: engine.SegField, Key: "plan", Op: engine.OpIs, Value: "silver"}
	for _, tc := range []struct {
		match engine.SegmentMatch
		conds []engine.SegmentCondition
		want  bool
	}{
		{engine.MatchAll, []engine.SegmentCondition{yes, yes}, true},
		{engine.MatchAll, []engine.SegmentCondition{yes, no}, false},
		{engine.MatchAny, []engine.SegmentCondition{no, yes}, true},
		{engine.MatchAny, []engine.SegmentCondition{no, no}, false},
		{engine.MatchAll, nil, false},
	} {
		if got := engine.SegmentMatches(segOf(tc.match, tc.conds...), c, now); got != tc.want {
			t.Errorf("%s %v: got %v, want %v", tc.match, tc.conds, got, tc.want)
		}
	}
}

func TestValidateSegmentRefuses(t *testing.T) {
	ok := engine.SegmentCondition{Kind: engine.SegSource, Op: engine.OpIs, Value: "form"}
	long := string(make([]byte, engine.MaxSegmentNameBytes+1))
	many := make([]engine.SegmentCondition, engine.MaxSegmentConditions+1)
	for i := range many {
		many[i] = ok
	}
	for _, tc := range []struct {
		name string
		s    engine.Segment
	}{
		{"no name", engine.Segment{Match: engine.MatchAll, Conditions: []engine.SegmentCondition{ok}}},
		{"long name", engine.Segment{Name: long, Match: engine.MatchAll, Conditions: []engine.SegmentCondition{ok}}},
		{"bad match", engine.Segment{Name: "x", Match: "most", Conditions: []engine.SegmentCondition{ok}}},
		{"no conditions", engine.Segment{Name: "x", Match: engine.MatchAll}},
		{"too many conditions", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: many}},
		{"unknown kind", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: "mood", Op: engine.OpIs, Value: "x"}}}},
		{"op of another kind", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegTag, Op: engine.OpContains, Value: "x"}}}},
		{"is without value", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegTag, Op: engine.OpIs}}}},
		{"exists with value", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegStage, Op: engine.OpExists, Value: "x"}}}},
		{"field without key", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegField, Op: engine.OpExists}}}},
		{"unknown profile key", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegProfile, Key: "shoe", Op: engine.OpExists}}}},
		{"key on a tag", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegTag, Key: "k", Op: engine.OpIs, Value: "x"}}}},
		{"stage not an id", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegStage, Op: engine.OpIs, Value: "lead"}}}},
		{"unknown source", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegSource, Op: engine.OpIs, Value: "fax"}}}},
		{"unknown channel", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegChannel, Op: engine.OpIs, Value: "fax"}}}},
		{"no days", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegLastMessage, Op: engine.OpWithinDays}}}},
		{"too many days", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegCreated, Op: engine.OpWithinDays, Days: engine.MaxSegmentDays + 1}}}},
		{"days on a tag", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegTag, Op: engine.OpIs, Value: "x", Days: 3}}}},
		{"invalid utf-8 value", engine.Segment{Name: "x", Match: engine.MatchAll, Conditions: []engine.SegmentCondition{{Kind: engine.SegField, Key: "k", Op: engine.OpIs, Value: "\xff"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := engine.ValidateSegment(&tc.s); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSegmentNextChange(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	c := engine.Contact{CreatedAt: now.Add(-10 * day), Activity: engine.ContactActivity{LastMessageAt: now.Add(-1 * day)}}
	segs := []engine.Segment{
		segOf(engine.MatchAll, engine.SegmentCondition{Kind: engine.SegLastMessage, Op: engine.OpWithinDays, Days: 7}),
		segOf(engine.MatchAll, engine.SegmentCondition{Kind: engine.SegCreated, Op: engine.OpNotWithinDays, Days: 30}),
		segOf(engine.MatchAll, engine.SegmentCondition{Kind: engine.SegSource, Op: engine.OpIs, Value: "chat"}),
	}
	if got, want := engine.SegmentNextChange(segs, c, now), now.Add(6*day); !got.Equal(want) {
		t.Fatalf("next change %v, want %v (the 7-day window closing)", got, want)
	}
	if got, want := engine.SegmentNextChange(segs, c, now.Add(6*day)), now.Add(20*day); !got.Equal(want) {
		t.Fatalf("next change after the first %v, want %v (30 days after creation)", got, want)
	}
	if got := engine.SegmentNextChange(segs[2:], c, now); !got.IsZero() {
		t.Fatalf("a segment without time conditions changes at %v", got)
	}
	if !engine.SegmentMatches(segs[0], c, now.Add(6*day-time.Nanosecond)) || engine.SegmentMatches(segs[0], c, now.Add(6*day)) {
		t.Fatal("membership does not change at the time SegmentNextChange names")
	}
}

func TestUpdateActivity(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	a, changed := engine.UpdateActivity(engine.ContactActivity{}, t0, nil)
	if !changed || !a.LastMessageAt.Equal(t0) {
		t.Fatalf("first message not kept: %+v", a)
	}
	if _, changed := engine.UpdateActivity(a, t0.Add(30*time.Minute), nil); changed {
		t.Fatal("a message within the hour is written again")
	}
	if b, changed := engine.UpdateActivity(a, t0.Add(time.Hour), nil); !changed || !b.LastMessageAt.Equal(t0.Add(time.Hour)) {
		t.Fatal("a message an hour later is not kept")
	}
	b, changed := engine.UpdateActivity(a, time.Time{}, []string{"vip", "billing", "vip"})
	if !changed || len(b.Tags) != 2 || b.Tags[0] != "billing" {
		t.Fatalf("tags not kept sorted and distinct: %v", b.Tags)
	}
	if _, changed := engine.UpdateActivity(b, time.Time{}, []string{"billing", "vip"}); changed {
		t.Fatal("the same tags count as a change")
	}
	if c, changed := engine.UpdateActivity(b, time.Time{}, []string{}); !changed || c.Tags != nil {
		t.Fatal("removing every tag is not a change")
	}
}
