package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Teams: groups of a workspace's users that conversations are assigned
// to. A conversation assigned to a team carries the team's id
// (Conversation.TeamID) and, when the team's distribution found someone
// available, one of its members as assignee. Who that is, is
// PickTeamMember: a pure function of the team, its members' presence,
// their loads, the team's round-robin cursor and the time
// (docs/ARCHITECTURE.md, "Teams and presence").

// Team limits.
const (
	MaxTeamNameBytes = 80
	MaxTeamMembers   = 200
	// MaxTeams is how many teams a workspace keeps.
	MaxTeams = 100
)

// TeamDistribution is how a team hands a conversation to a member.
type TeamDistribution string

// Distribution modes.
const (
	// TeamRoundRobin gives each conversation to the next available
	// member after the last one given one, in member id order.
	TeamRoundRobin TeamDistribution = "round_robin"
	// TeamLeastLoaded gives it to the available member with the fewest
	// open conversations assigned; ties go round robin.
	TeamLeastLoaded TeamDistribution = "least_loaded"
	// TeamManual leaves it to the team, assigned to nobody.
	TeamManual TeamDistribution = "manual"
)

// Valid reports whether d is a known mode.
func (d TeamDistribution) Valid() bool {
	return d == TeamRoundRobin || d == TeamLeastLoaded || d == TeamManual
}

// Team is a named group of users of a workspace.
type Team struct {
	ID          ID     `json:"id"`
	WorkspaceID ID     `json:"workspace_id"`
	Name        string `json:"name"`
	// Members are user ids, sorted, without repeats.
	Members      []string         `json:"members"`
	Distribution TeamDistribution `json:"distribution"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

// HasMember reports whether user is a member of t.
func (t *Team) HasMember(user string) bool {
	_, ok := slices.BinarySearch(t.Members, user)
	return ok
}

// CleanTeam checks a team whole and normalises it: the name trimmed,
// the members parsed as ids, sorted and without repeats, the
// distribution round_robin when empty. Any refusal wraps ErrInvalid.
func CleanTeam(t *Team) error {
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" || len(t.Name) > MaxTeamNameBytes || !utf8.ValidString(t.Name) {
		return fmt.Errorf("%w: a team name is 1 to %d bytes of text", ErrInvalid, MaxTeamNameBytes)
	}
	if t.Distribution == "" {
		t.Distribution = TeamRoundRobin
	}
	if !t.Distribution.Valid() {
		return fmt.Errorf("%w: distribution must be round_robin, least_loaded or manual", ErrInvalid)
	}
	if len(t.Members) > MaxTeamMembers {
		return fmt.Errorf("%w: a team has at most %d members", ErrInvalid, MaxTeamMembers)
	}
	members := make([]string, 0, len(t.Members))
	for _, m := range t.Members {
		id, err := ParseID(m)
		if err != nil {
			return fmt.Errorf("%w: member %q is not a user id", ErrInvalid, m)
		}
		members = append(members, id.String())
	}
	slices.Sort(members)
	t.Members = slices.Compact(members)
	return nil
}

// PresenceState is a user's availability as the web app shows it.
type PresenceState string

// Presence states.
const (
	PresenceOnline  PresenceState = "online"
	PresenceAway    PresenceState = "away"
	PresenceOffline PresenceState = "offline"
)

// PresenceStates lists the states, for metrics and documents.
var PresenceStates = []PresenceState{PresenceOnline, PresenceAway, PresenceOffline}

// UserPresence is what the presence owner keeps of one user: the web app
// sockets open, the last activity any of them reported, whether the user
// set themselves away, and when the last socket closed.
type UserPresence struct {
	Sockets    int       `json:"-"`
	LastActive time.Time `json:"-"`
	ManualAway bool      `json:"-"`
	// ClosedAt is when the user's last socket closed (zero while one is
	// open or none ever was).
	ClosedAt time.Time `json:"-"`
}

// PresenceRules are the presence timeouts.
type PresenceRules struct {
	// AwayAfter is how long without activity makes an online user away.
	AwayAfter time.Duration
	// Grace is how long after the last socket closed the user keeps the
	// state they had, so that a reload or a reconnect does not flicker.
	Grace time.Duration
}

// Presence timeouts by default.
const (
	DefaultPresenceAwayAfter = 5 * time.Minute
	DefaultPresenceGrace     = 30 * time.Second
)

// DefaultPresenceRules are the default presence timeouts.
var DefaultPresenceRules = PresenceRules{AwayAfter: DefaultPresenceAwayAfter, Grace: DefaultPresenceGrace}

// PresenceAt is a user's state at now: offline with no socket open (after
// the grace period); away when set away or inactive for AwayAfter;
// online otherwise.
func PresenceAt(p UserPresence, now time.Time, r PresenceRules) PresenceState {
	if p.Sockets <= 0 && (p.ClosedAt.IsZero() || now.Sub(p.ClosedAt) >= r.Grace) {
		return PresenceOffline
	}
	if p.ManualAway || now.Sub(p.LastActive) >= r.AwayAfter {
		return PresenceAway
	}
	return PresenceOnline
}

// PresenceNextChange is when p's state changes next with no new report
// (zero: never): the end of the grace period, or the moment activity
// gets too old.
func PresenceNextChange(p UserPresence, now time.Time, r PresenceRules) time.Time {
	var next time.Time
	if p.Sockets <= 0 {
		if p.ClosedAt.IsZero() || now.Sub(p.ClosedAt) >= r.Grace {
			return time.Time{}
		}
		next = p.ClosedAt.Add(r.Grace)
	}
	if !p.ManualAway {
		if at := p.LastActive.Add(r.AwayAfter); at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// TeamPick is PickTeamMember's answer: the member given the conversation
// ("" when nobody is available or the team distributes manually) and the
// team's round-robin cursor after the pick.
type TeamPick struct {
	UserID string
	Cursor string
}

// PickTeamMember chooses who of team t gets a conversation. The pool is
// the members online at now; when none is, the members away; when none
// is either, nobody (the conversation stays with the team, unassigned).
// Round robin takes the first pool member after cursor (the last one
// picked) in member id order, wrapping; least loaded takes the pool
// member with the fewest open conversations in loads, ties going to the
// first after cursor the same way, so equal loads take turns. A cursor
// naming someone no longer a member still orders the turn by id.
func PickTeamMember(t *Team, presence map[string]UserPresence, loads map[string]int64, cursor string, now time.Time, r PresenceRules) TeamPick {
	out := TeamPick{Cursor: cursor}
	if t.Distribution == TeamManual || len(t.Members) == 0 {
		return out
	}
	var online, away []string
	for _, m := range t.Members {
		switch PresenceAt(presence[m], now, r) {
		case PresenceOnline:
			online = append(online, m)
		case PresenceAway:
			away = append(away, m)
		}
	}
	pool := online
	if len(pool) == 0 {
		pool = away
	}
	if len(pool) == 0 {
		return out
	}
	if t.Distribution == TeamLeastLoaded {
		least := loads[pool[0]]
		for _, m := range pool[1:] {
			least = min(least, loads[m])
		}
		pool = slices.DeleteFunc(slices.Clone(pool), func(m string) bool { return loads[m] != least })
	}
	// pool is in id order (Members is sorted): the turn goes to the
	// first after the cursor, else back to the first.
	out.UserID = pool[0]
	for _, m := range pool {
		if m > cursor {
			out.UserID = m
			break
		}
	}
	out.Cursor = out.UserID
	return out
}

// AssignTeam gives the conversation to team TeamID ("" takes it from its
// team) and to UserID within it ("" for nobody). By is the user who did
// it (zero when the system did).
type AssignTeam struct {
	TeamID string
	UserID string
	By     ID
}

func (AssignTeam) isCommand() {}

// maxTeamRefBytes bounds the ids an AssignTeam names (an ID's text is 26).
const maxTeamRefBytes = 64
