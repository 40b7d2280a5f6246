package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func teamOf(mode TeamDistribution, members ...string) *Team {
	t := &Team{Name: "Support", Distribution: mode, Members: members}
	if err := CleanTeam(t); err != nil {
		panic(err)
	}
	return t
}

// TestPickTeamMemberRoundRobin: turns go in member id order from the
// cursor, wrap, and skip members who are offline; with nobody online
// the away members take turns; with nobody at all, nobody is picked.
func TestPickTeamMemberRoundRobin(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	a, b, c := NewID(clock.Now()).String(), NewID(clock.Now().Add(time.Millisecond)).String(), NewID(clock.Now().Add(2*time.Millisecond)).String()
	team := teamOf(TeamRoundRobin, c, a, b)
	r := DefaultPresenceRules
	presence := map[string]UserPresence{
		a: {Sockets: 1, LastActive: clock.Now()},
		b: {Sockets: 1, LastActive: clock.Now()},
		c: {Sockets: 1, LastActive: clock.Now()},
	}
	cursor := ""
	var got []string
	for range 4 {
		p := PickTeamMember(team, presence, nil, cursor, clock.Now(), r)
		got, cursor = append(got, p.UserID), p.Cursor
	}
	if want := []string{a, b, c, a}; !equalStrings(got, want) {
		t.Fatalf("round robin order %v, want %v", got, want)
	}
	// b closes their last socket: within the grace period they keep
	// their turn, after it they are skipped.
	presence[b] = UserPresence{LastActive: clock.Now(), ClosedAt: clock.Now()}
	clock.Advance(r.Grace - time.Second)
	// a, b and c stay active in the meantime (a and c report activity).
	presence[a] = UserPresence{Sockets: 1, LastActive: clock.Now()}
	presence[c] = UserPresence{Sockets: 1, LastActive: clock.Now()}
	if p := PickTeamMember(team, presence, nil, a, clock.Now(), r); p.UserID != b {
		t.Fatalf("within the grace period got %s, want b", p.UserID)
	}
	clock.Advance(time.Second)
	if p := PickTeamMember(team, presence, nil, a, clock.Now(), r); p.UserID != c {
		t.Fatalf("after the grace period got %s, want c (b offline)", p.UserID)
	}
	// a and c go quiet for AwayAfter: every member is away or offline,
	// so the away members take turns.
	clock.Advance(r.AwayAfter)
	if s := PresenceAt(presence[a], clock.Now(), r); s != PresenceAway {
		t.Fatalf("a is %s after %s without activity, want away", s, r.AwayAfter)
	}
	if p := PickTeamMember(team, presence, nil, c, clock.Now(), r); p.UserID != a {
		t.Fatalf("among away members got %s, want a", p.UserID)
	}
	// c becomes active again: online members come before away ones.
	presence[c] = UserPresence{Sockets: 1, LastActive: clock.Now()}
	if p := PickTeamMember(team, presence, nil, c, clock.Now(), r); p.UserID != c || p.Cursor != c {
		t.Fatalf("with c alone online got %+v, want c", p)
	}
	// Everyone offline: nobody, and the cursor stays.
	for _, m := range []string{a, b, c} {
		presence[m] = UserPresence{}
	}
	if p := PickTeamMember(team, presence, nil, c, clock.Now(), r); p.UserID != "" || p.Cursor != c {
		t.Fatalf("with everyone offline got %+v, want nobody and the cursor kept", p)
	}
}

// TestPickTeamMemberLeastLoaded: the lightest available member gets it;
// ties take turns from the cursor; a manual team picks nobody.
func TestPickTeamMemberLeastLoaded(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a, b, c := NewID(now).String(), NewID(now.Add(time.Millisecond)).String(), NewID(now.Add(2*time.Millisecond)).String()
	team := teamOf(TeamLeastLoaded, a, b, c)
	on := UserPresence{Sockets: 1, LastActive: now}
	presence := map[string]UserPresence{a: on, b: on, c: on}
	loads := map[string]int64{a: 3, b: 1, c: 2}
	if p := PickTeamMember(team, presence, loads, "", now, DefaultPresenceRules); p.UserID != b {
		t.Fatalf("got %s, want b (the lightest)", p.UserID)
	}
	// b offline: c is the lightest of those online.
	presence[b] = UserPresence{}
	if p := PickTeamMember(team, presence, loads, "", now, DefaultPresenceRules); p.UserID != c {
		t.Fatalf("got %s, want c (b offline)", p.UserID)
	}
	// a and c tied: the turn goes after the cursor.
	loads[a], loads[c] = 2, 2
	if p := PickTeamMember(team, presence, loads, a, now, DefaultPresenceRules); p.UserID != c {
		t.Fatalf("tie after cursor a: got %s, want c", p.UserID)
	}
	if p := PickTeamMember(team, presence, loads, c, now, DefaultPresenceRules); p.UserID != a {
		t.Fatalf("tie after cursor c: got %s, want a (wrapped)", p.UserID)
	}
	team.Distribution = TeamManual
	if p := PickTeamMember(team, presence, loads, "", now, DefaultPresenceRules); p.UserID != "" {
		t.Fatalf("manual team picked %s", p.UserID)
	}
}

// TestPresenceAt: online while active, away after AwayAfter or when set
// away, offline after the grace period once no socket is left, and
// PresenceNextChange names the moment of the next change.
func TestPresenceAt(t *testing.T) {
	clock := clockwork.NewFakeClock()
	r := PresenceRules{AwayAfter: 2 * time.Minute, Grace: 10 * time.Second}
	p := UserPresence{Sockets: 1, LastActive: clock.Now()}
	if s := PresenceAt(p, clock.Now(), r); s != PresenceOnline {
		t.Fatalf("active: %s", s)
	}
	if next := PresenceNextChange(p, clock.Now(), r); !next.Equal(clock.Now().Add(r.AwayAfter)) {
		t.Fatalf("next change %v, want in %s", next, r.AwayAfter)
	}
	clock.Advance(r.AwayAfter)
	if s := PresenceAt(p, clock.Now(), r); s != PresenceAway {
		t.Fatalf("inactive: %s", s)
	}
	p.LastActive, p.ManualAway = clock.Now(), true
	if s := PresenceAt(p, clock.Now(), r); s != PresenceAway {
		t.Fatalf("set away: %s", s)
	}
	p = UserPresence{LastActive: clock.Now(), ClosedAt: clock.Now()}
	if s := PresenceAt(p, clock.Now(), r); s != PresenceOnline {
		t.Fatalf("just disconnected: %s, want online during the grace period", s)
	}
	if next := PresenceNextChange(p, clock.Now(), r); !next.Equal(clock.Now().Add(r.Grace)) {
		t.Fatalf("next change %v, want the grace period's end", next)
	}
	clock.Advance(r.Grace)
	if s := PresenceAt(p, clock.Now(), r); s != PresenceOffline {
		t.Fatalf("after grace: %s", s)
	}
	if next := PresenceNextChange(p, clock.Now(), r); !next.IsZero() {
		t.Fatalf("offline changes no more by itself, got %v", next)
	}
}

func TestCleanTeam(t *testing.T) {
	id := NewID(time.Now()).String()
	tm := Team{Name: "  Sales ", Members: []string{id, id}}
	if err := CleanTeam(&tm); err != nil || tm.Name != "Sales" || len(tm.Members) != 1 || tm.Distribution != TeamRoundRobin {
		t.Fatalf("got %+v, %v", tm, err)
	}
	for _, bad := range []Team{{Name: ""}, {Name: "x", Distribution: "random"}, {Name: "x", Members: []string{"nope"}}} {
		if err := CleanTeam(&bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWebhookTeamChange: a conversation moved to a team is a
// conversation_updated whose changed_attributes name team_id.
func TestWebhookTeamChange(t *testing.T) {
	before := Conversation{ID: NewID(time.Unix(1, 0)), Folder: FolderOpen, Mode: ModeAI}
	after := before.Clone()
	after.TeamID, after.AssigneeID = NewID(time.Unix(2, 0)).String(), NewID(time.Unix(3, 0)).String()
	outs := WebhookOuts(&Event{Type: EventConversationUpdated, ConversationID: before.ID, Conversation: &after, Before: &before}, nil)
	if len(outs) != 1 || outs[0].Event != WebhookConversationUpdated {
		t.Fatalf("outs %v", outs)
	}
	body := string(outs[0].Body)
	for _, want := range []string{`"team_id":{"current_value":"` + after.TeamID + `","previous_value":""}`, `"assignee_id":{`} {
		if !strings.Contains(body, want) {
			t.Fatalf("payload %s lacks %s", body, want)
		}
	}
}

// BenchmarkPickTeamMember: a team of MaxTeamMembers members, half online,
// least loaded (the longer path: loads, then the turn among ties).
func BenchmarkPickTeamMember(b *testing.B) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ids := NewIDs(now, MaxTeamMembers)
	team := &Team{Name: "Big", Distribution: TeamLeastLoaded}
	presence := map[string]UserPresence{}
	loads := map[string]int64{}
	for i, id := range ids {
		team.Members = append(team.Members, id.String())
		if i%2 == 0 {
			presence[id.String()] = UserPresence{Sockets: 1, LastActive: now}
		}
		loads[id.String()] = int64(i % 7)
	}
	if err := CleanTeam(team); err != nil {
		b.Fatal(err)
	}
	cursor := ""
	b.ReportAllocs()
	for b.Loop() {
		cursor = PickTeamMember(team, presence, loads, cursor, now, DefaultPresenceRules).Cursor
	}
}
