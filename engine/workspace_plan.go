package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Operator workspaces, plans and limits (docs/ARCHITECTURE.md, "Operator
// admin API, plans and limits"). The server's operator (a hosting
// provider) creates, suspends and deletes workspaces and sets each one's
// limits; the rules here are pure, with the time passed in.

// WorkspaceState is where a workspace stands for the operator.
type WorkspaceState string

// Workspace states.
const (
	// WorkspaceActive is a workspace in use.
	WorkspaceActive WorkspaceState = "active"
	// WorkspaceSuspended refuses its users and tokens (403
	// workspace_suspended) and keeps its data; its channels' inbound
	// messages are still acknowledged and stored.
	WorkspaceSuspended WorkspaceState = "suspended"
	// WorkspaceDeleting is a workspace whose data is being removed in the
	// background; it is inaccessible from the moment it is marked.
	WorkspaceDeleting WorkspaceState = "deleting"
)

// PlanResource names a limited resource of a plan.
type PlanResource string

// Plan resources.
const (
	PlanSeats              PlanResource = "seats"
	PlanChannelAccounts    PlanResource = "channel_accounts"
	PlanContacts           PlanResource = "contacts"
	PlanAIRepliesPerMonth  PlanResource = "ai_replies_per_month"
	PlanBroadcastsPerMonth PlanResource = "broadcasts_per_month"
)

// PlanResources lists every plan resource, in display order.
var PlanResources = []PlanResource{PlanSeats, PlanChannelAccounts, PlanContacts, PlanAIRepliesPerMonth, PlanBroadcastsPerMonth}

// Monthly reports whether the resource is counted per calendar month
// (in the workspace's time zone) rather than by what exists now.
func (r PlanResource) Monthly() bool {
	return r == PlanAIRepliesPerMonth || r == PlanBroadcastsPerMonth
}

// MaxPlanLimit bounds any one limit the operator may set.
const MaxPlanLimit = 1 << 40

// PlanLimits are a workspace's limits; 0 (or absent) is unlimited.
type PlanLimits struct {
	Seats              int64 `json:"seats,omitempty"`
	ChannelAccounts    int64 `json:"channel_accounts,omitempty"`
	Contacts           int64 `json:"contacts,omitempty"`
	AIRepliesPerMonth  int64 `json:"ai_replies_per_month,omitempty"`
	BroadcastsPerMonth int64 `json:"broadcasts_per_month,omitempty"`
}

// Of returns the limit on r (0: unlimited).
func (l PlanLimits) Of(r PlanResource) int64 {
	switch r {
	case PlanSeats:
		return l.Seats
	case PlanChannelAccounts:
		return l.ChannelAccounts
	case PlanContacts:
		return l.Contacts
	case PlanAIRepliesPerMonth:
		return l.AIRepliesPerMonth
	case PlanBroadcastsPerMonth:
		return l.BroadcastsPerMonth
	}
	return 0
}

// CheckPlanLimits reports a limit the operator may not set: negative or
// past MaxPlanLimit.
func CheckPlanLimits(l PlanLimits) error {
	for _, r := range PlanResources {
		if v := l.Of(r); v < 0 || v > MaxPlanLimit {
			return fmt.Errorf("%s must be between 0 (unlimited) and %d", r, int64(MaxPlanLimit))
		}
	}
	return nil
}

// PlanAllows reports whether adding n more of a resource of which used
// exist (or were used this month) stays within limit (0: unlimited).
func PlanAllows(limit, used, n int64) bool {
	return limit <= 0 || used+n <= limit
}

// PlanMonth names the calendar month at now in time zone tz (an IANA
// name; "" or unknown is UTC) as "2006-01": the period of the monthly
// counters, which start again at 0 when the month changes there.
func PlanMonth(now time.Time, tz string) string {
	return now.In(planLocation(tz)).Format("2006-01")
}

// WorkspacePlanLocation is the location of a workspace's plan time zone
// tz (an IANA name): UTC when it has none, or one this system does not
// know.
func WorkspacePlanLocation(tz string) *time.Location { return planLocation(tz) }

func planLocation(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// CheckPlanTimeZone reports a time zone that is not an IANA name.
func CheckPlanTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	if len(tz) > 64 || strings.EqualFold(tz, "local") {
		return fmt.Errorf("unknown time_zone %q", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("unknown time_zone %q", tz)
	}
	return nil
}

// WorkspaceDeletion is the progress of a workspace's deletion: the phase
// it is in and the keys (and files) removed so far of an estimated total.
type WorkspaceDeletion struct {
	Phase      string    `json:"phase"`
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	LastError  string    `json:"last_error,omitempty"`
	ErrorCount int       `json:"error_count,omitempty"`
}

// WorkspaceOperatorRecord is what the operator holds about a workspace:
// its state, plan and limits. It lives beside the workspace record (which
// the workspace's own users see) and outlives its data until the deletion
// is done.
type WorkspaceOperatorRecord struct {
	WorkspaceID ID             `json:"workspace_id"`
	State       WorkspaceState `json:"state"`
	// Plan is the operator's name for the plan (free text, shown only).
	Plan   string     `json:"plan,omitempty"`
	Limits PlanLimits `json:"limits"`
	// TimeZone is where the monthly counters' months begin (IANA; empty
	// is UTC).
	TimeZone   string             `json:"time_zone,omitempty"`
	OwnerEmail string             `json:"owner_email,omitempty"`
	ChangedAt  time.Time          `json:"changed_at"`
	Deletion   *WorkspaceDeletion `json:"deletion,omitempty"`
}

// ErrWorkspaceState is returned for a state change the workspace's state
// does not allow (suspending a workspace being deleted).
var ErrWorkspaceState = errors.New("the workspace's state does not allow this")

// NextWorkspaceState returns the state a workspace in from moves to when
// the operator asks for to: active and suspended go either way or to
// deleting; deleting is final.
func NextWorkspaceState(from, to WorkspaceState) (WorkspaceState, error) {
	if from == "" {
		from = WorkspaceActive
	}
	switch {
	case from == WorkspaceDeleting:
		return from, ErrWorkspaceState
	case to == WorkspaceActive, to == WorkspaceSuspended, to == WorkspaceDeleting:
		return to, nil
	}
	return from, ErrWorkspaceState
}
