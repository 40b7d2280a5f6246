package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Segments: saved filters over a workspace's contacts. A segment's
// definition is a list of conditions joined by all (and) or any (or);
// whether a contact is a member is SegmentMatches, a pure function of the
// definition, the contact and the time. The contact's actor keeps its
// membership entries in step with the contact (docs/ARCHITECTURE.md,
// "Segments").

// Segment limits.
const (
	MaxSegmentNameBytes  = 100
	MaxSegmentConditions = 20
	MaxSegmentValueBytes = 256
	// MaxSegments is how many segments a workspace keeps.
	MaxSegments = 50
	// MaxSegmentDays bounds the days of an activity condition (ten years).
	MaxSegmentDays = 3650
)

// SegmentMatch joins a segment's conditions.
type SegmentMatch string

// How conditions join.
const (
	MatchAll SegmentMatch = "all" // every condition holds
	MatchAny SegmentMatch = "any" // at least one holds
)

// SegmentKind names what a condition looks at.
type SegmentKind string

// Condition kinds.
const (
	// SegField looks at custom field Key.
	SegField SegmentKind = "field"
	// SegProfile looks at profile field Key (name, email, phone, company,
	// title, country, language).
	SegProfile SegmentKind = "profile"
	// SegTag looks at the tags of the contact's conversations
	// (Contact.Activity.Tags).
	SegTag SegmentKind = "tag"
	// SegStage looks at the contact's stage (Value a stage id).
	SegStage SegmentKind = "stage"
	// SegOwner looks at the contact's owner (Value a user id).
	SegOwner SegmentKind = "owner"
	// SegSource looks at how the contact came (Value a ContactSource).
	SegSource SegmentKind = "source"
	// SegChannel looks at the channels the contact is known on (Value a
	// Channel).
	SegChannel SegmentKind = "channel"
	// SegLastMessage looks at when the contact last wrote
	// (Contact.Activity.LastMessageAt): within or not within Days days.
	SegLastMessage SegmentKind = "last_message"
	// SegCreated looks at when the contact was created: within or not
	// within Days days.
	SegCreated SegmentKind = "created"
)

// SegmentOp is a condition's comparison.
type SegmentOp string

// Comparisons. Which ones a kind takes is in segmentOps.
const (
	OpIs            SegmentOp = "is"
	OpIsNot         SegmentOp = "is_not"
	OpContains      SegmentOp = "contains"
	OpExists        SegmentOp = "exists"
	OpNotExists     SegmentOp = "not_exists"
	OpWithinDays    SegmentOp = "within_days"
	OpNotWithinDays SegmentOp = "not_within_days"
)

var segmentOps = map[SegmentKind][]SegmentOp{
	SegField:       {OpIs, OpIsNot, OpContains, OpExists, OpNotExists},
	SegProfile:     {OpIs, OpIsNot, OpContains, OpExists, OpNotExists},
	SegTag:         {OpIs, OpIsNot},
	SegStage:       {OpIs, OpIsNot, OpExists, OpNotExists},
	SegOwner:       {OpIs, OpIsNot, OpExists, OpNotExists},
	SegSource:      {OpIs, OpIsNot},
	SegChannel:     {OpIs, OpIsNot},
	SegLastMessage: {OpWithinDays, OpNotWithinDays},
	SegCreated:     {OpWithinDays, OpNotWithinDays},
}

// SegmentCondition is one condition of a segment. Key names the field of
// field and profile conditions; Value is what is compared (a text, a
// tag, an id, a source, a channel); Days is the window of the activity
// conditions.
type SegmentCondition struct {
	Kind  SegmentKind `json:"kind"`
	Key   string      `json:"key,omitempty"`
	Op    SegmentOp   `json:"op"`
	Value string      `json:"value,omitempty"`
	Days  int         `json:"days,omitempty"`
}

// Segment is a saved filter over a workspace's contacts. Version is
// raised by every edit of the conditions: the backfill that computes the
// members of existing contacts works for one version.
type Segment struct {
	ID          ID                 `json:"id"`
	WorkspaceID ID                 `json:"workspace_id"`
	Name        string             `json:"name"`
	Match       SegmentMatch       `json:"match"`
	Conditions  []SegmentCondition `json:"conditions"`
	Version     uint64             `json:"version"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

// ContactActivity is what the contact's actor keeps of its
// conversations, for segments: when the contact last wrote (to the hour:
// a newer message within the hour is not written again) and the tags of
// its conversations, sorted.
type ContactActivity struct {
	LastMessageAt time.Time `json:"last_message_at,omitzero"`
	Tags          []string  `json:"tags,omitempty"`
}

// ActivityGranularity is how much newer a message must be than
// Activity.LastMessageAt for the contact's actor to write it again.
const ActivityGranularity = time.Hour

// ValidateSegment checks a segment's name and conditions.
func ValidateSegment(s *Segment) error {
	if strings.TrimSpace(s.Name) == "" || len(s.Name) > MaxSegmentNameBytes || !utf8.ValidString(s.Name) ||
		strings.ContainsAny(s.Name, "\x00\r\n") {
		return fmt.Errorf("%w: a segment's name is 1 to %d bytes of one-line text", ErrInvalid, MaxSegmentNameBytes)
	}
	if s.Match != MatchAll && s.Match != MatchAny {
		return fmt.Errorf("%w: match must be all or any", ErrInvalid)
	}
	if len(s.Conditions) == 0 || len(s.Conditions) > MaxSegmentConditions {
		return fmt.Errorf("%w: a segment has 1 to %d conditions", ErrInvalid, MaxSegmentConditions)
	}
	for i := range s.Conditions {
		if err := validateCondition(&s.Conditions[i]); err != nil {
			return fmt.Errorf("condition %d: %w", i+1, err)
		}
	}
	return nil
}

var profileKeys = []string{"name", "email", "phone", "company", "title", "country", "language"}

func validateCondition(c *SegmentCondition) error {
	ops, ok := segmentOps[c.Kind]
	if !ok {
		return fmt.Errorf("%w: unknown condition kind %q", ErrInvalid, c.Kind)
	}
	if !slices.Contains(ops, c.Op) {
		return fmt.Errorf("%w: a %s condition takes %s, not %q", ErrInvalid, c.Kind, joinOps(ops), c.Op)
	}
	if len(c.Value) > MaxSegmentValueBytes || !utf8.ValidString(c.Value) || strings.IndexByte(c.Value, 0) >= 0 {
		return fmt.Errorf("%w: value must be at most %d bytes of text", ErrInvalid, MaxSegmentValueBytes)
	}
	needsValue := c.Op == OpIs || c.Op == OpIsNot || c.Op == OpContains
	switch {
	case needsValue && c.Value == "":
		return fmt.Errorf("%w: a %s %s condition needs a value", ErrInvalid, c.Kind, c.Op)
	case !needsValue && c.Value != "":
		return fmt.Errorf("%w: a %s %s condition takes no value", ErrInvalid, c.Kind, c.Op)
	}
	switch c.Kind {
	case SegField:
		if strings.TrimSpace(c.Key) == "" || len(c.Key) > MaxCustomKeyBytes || !utf8.ValidString(c.Key) || strings.ContainsAny(c.Key, "\x00\r\n") {
			return fmt.Errorf("%w: a field condition names a custom field key of 1 to %d bytes", ErrInvalid, MaxCustomKeyBytes)
		}
	case SegProfile:
		if !slices.Contains(profileKeys, c.Key) {
			return fmt.Errorf("%w: a profile condition names one of %s", ErrInvalid, strings.Join(profileKeys, ", "))
		}
	default:
		if c.Key != "" {
			return fmt.Errorf("%w: a %s condition takes no key", ErrInvalid, c.Kind)
		}
	}
	switch c.Kind {
	case SegStage, SegOwner:
		if c.Value != "" {
			if _, err := ParseID(c.Value); err != nil {
				return fmt.Errorf("%w: a %s condition's value is an id", ErrInvalid, c.Kind)
			}
		}
	case SegSource:
		if !ContactSource(c.Value).Valid() || c.Value == "" {
			return fmt.Errorf("%w: unknown contact source %q", ErrInvalid, c.Value)
		}
	case SegChannel:
		if !Channel(c.Value).Valid() {
			return fmt.Errorf("%w: unknown channel %q", ErrInvalid, c.Value)
		}
	case SegTag:
		if strings.TrimSpace(c.Value) != c.Value || strings.ContainsAny(c.Value, "\r\n") {
			return fmt.Errorf("%w: a tag is one line without surrounding spaces", ErrInvalid)
		}
	}
	timed := c.Kind == SegLastMessage || c.Kind == SegCreated
	switch {
	case timed && (c.Days < 1 || c.Days > MaxSegmentDays):
		return fmt.Errorf("%w: days must be 1 to %d", ErrInvalid, MaxSegmentDays)
	case !timed && c.Days != 0:
		return fmt.Errorf("%w: a %s condition takes no days", ErrInvalid, c.Kind)
	}
	return nil
}

func joinOps(ops []SegmentOp) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// SegmentMatches reports whether contact c is a member of segment s at
// time now. It is pure: the automations and broadcast audiences call it
// as the contact's actor does.
func SegmentMatches(s Segment, c Contact, now time.Time) bool {
	if len(s.Conditions) == 0 {
		return false
	}
	for i := range s.Conditions {
		ok := conditionHolds(&s.Conditions[i], &c, now)
		if s.Match == MatchAny && ok {
			return true
		}
		if s.Match != MatchAny && !ok {
			return false
		}
	}
	return s.Match != MatchAny
}

func conditionHolds(cond *SegmentCondition, c *Contact, now time.Time) bool {
	switch cond.Kind {
	case SegField:
		v, ok := c.CustomFields[cond.Key]
		return textHolds(cond, v, ok && v != "")
	case SegProfile:
		p := c.Profile
		for _, f := range p.Fields() {
			if f.Name == cond.Key {
				return textHolds(cond, *f.Value, *f.Value != "")
			}
		}
		return false
	case SegTag:
		has := slices.Contains(c.Activity.Tags, strings.ToLower(cond.Value)) || slices.Contains(c.Activity.Tags, cond.Value)
		return has == (cond.Op == OpIs)
	case SegStage:
		var v string
		if c.Stage != nil {
			v = c.Stage.StageID.String()
		}
		return idHolds(cond, v)
	case SegOwner:
		var v string
		if c.OwnerID != nil {
			v = c.OwnerID.String()
		}
		return idHolds(cond, v)
	case SegSource:
		return (string(c.Source) == cond.Value) == (cond.Op == OpIs)
	case SegChannel:
		on := slices.ContainsFunc(c.Identities, func(id Identity) bool { return string(id.Channel) == cond.Value })
		return on == (cond.Op == OpIs)
	case SegLastMessage:
		return withinHolds(cond, c.Activity.LastMessageAt, now)
	case SegCreated:
		return withinHolds(cond, c.CreatedAt, now)
	}
	return false
}

// textHolds compares a text field: is and is_not ignore case, contains
// looks for the value in any case.
func textHolds(cond *SegmentCondition, v string, present bool) bool {
	switch cond.Op {
	case OpIs:
		return strings.EqualFold(v, cond.Value)
	case OpIsNot:
		return !strings.EqualFold(v, cond.Value)
	case OpContains:
		return strings.Contains(strings.ToLower(v), strings.ToLower(cond.Value))
	case OpExists:
		return present
	case OpNotExists:
		return !present
	}
	return false
}

func idHolds(cond *SegmentCondition, v string) bool {
	switch cond.Op {
	case OpIs:
		return v == cond.Value
	case OpIsNot:
		return v != cond.Value
	case OpExists:
		return v != ""
	case OpNotExists:
		return v == ""
	}
	return false
}

// withinHolds: at within Days days before now (a zero time never is).
func withinHolds(cond *SegmentCondition, at, now time.Time) bool {
	in := !at.IsZero() && now.Before(at.Add(days(cond.Days)))
	return in == (cond.Op == OpWithinDays)
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// SegmentNextChange returns the first time after now at which a time
// condition of one of segs changes its answer for contact c (a window of
// "within N days" closing), zero when none will: the contact's actor
// evaluates the contact again then.
func SegmentNextChange(segs []Segment, c Contact, now time.Time) time.Time {
	var next time.Time
	for i := range segs {
		for _, cond := range segs[i].Conditions {
			var at time.Time
			switch cond.Kind {
			case SegLastMessage:
				at = c.Activity.LastMessageAt
			case SegCreated:
				at = c.CreatedAt
			default:
				continue
			}
			if at.IsZero() {
				continue
			}
			if end := at.Add(days(cond.Days)); end.After(now) && (next.IsZero() || end.Before(next)) {
				next = end
			}
		}
	}
	return next
}

// SegmentTimed reports whether s has a time condition, whose answer
// changes as time passes.
func SegmentTimed(s *Segment) bool {
	return slices.ContainsFunc(s.Conditions, func(c SegmentCondition) bool {
		return c.Kind == SegLastMessage || c.Kind == SegCreated
	})
}

// SegmentChange is an entry of a contact's activity: it entered or left
// a segment (named as it was then).
type SegmentChange struct {
	ID          ID        `json:"id"`
	WorkspaceID ID        `json:"workspace_id"`
	ContactID   ID        `json:"contact_id"`
	SegmentID   ID        `json:"segment_id"`
	SegmentName string    `json:"segment_name"`
	Entered     bool      `json:"entered"`
	At          time.Time `json:"at"`
}

// Memberships returns which of segs contact c is a member of at now
// (nil c: none, the contact is gone).
func Memberships(segs []Segment, c *Contact, now time.Time) map[ID]bool {
	out := map[ID]bool{}
	if c == nil {
		return out
	}
	for i := range segs {
		if SegmentMatches(segs[i], *c, now) {
			out[segs[i].ID] = true
		}
	}
	return out
}

// UpdateActivity folds what a conversation reported into the contact's
// activity: a customer message at lastMessage (zero: none) and, when
// tags is not nil, the tags of all the contact's conversations. It
// reports whether the activity changed enough to write (a message within
// ActivityGranularity of the last one written is not).
func UpdateActivity(a ContactActivity, lastMessage time.Time, tags []string) (ContactActivity, bool) {
	changed := false
	if !lastMessage.IsZero() && (a.LastMessageAt.IsZero() || !lastMessage.Before(a.LastMessageAt.Add(ActivityGranularity))) {
		a.LastMessageAt, changed = lastMessage.UTC(), true
	}
	if tags != nil {
		t := slices.Clone(tags)
		slices.Sort(t)
		t = slices.Compact(t)
		if len(t) == 0 {
			t = nil
		}
		if !slices.Equal(t, a.Tags) {
			a.Tags, changed = t, true
		}
	}
	return a, changed
}
