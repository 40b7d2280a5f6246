package engine

import (
	"testing"
	"time"
)

// The monthly counters' month turns at midnight on the 1st in the plan's
// time zone, not in UTC.
func TestPlanMonth(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		now, tz, want string
	}{
		{"2026-12-31T23:30:00Z", "", "2026-12"},
		{"2026-12-31T23:30:00Z", "UTC", "2026-12"},
		{"2026-12-31T23:30:00Z", "Europe/Paris", "2027-01"},
		{"2026-12-31T22:59:59Z", "Europe/Paris", "2026-12"},
		{"2027-03-01T03:00:00Z", "America/New_York", "2027-02"},
		{"2027-03-01T05:00:00Z", "America/New_York", "2027-03"},
		{"2027-03-01T05:00:00Z", "Not/AZone", "2027-03"}, // unknown: UTC
	} {
		if got := PlanMonth(at(c.now), c.tz); got != c.want {
			t.Errorf("PlanMonth(%s, %q) = %s, want %s", c.now, c.tz, got, c.want)
		}
	}
}

func TestPlanAllowsAndChecks(t *testing.T) {
	for _, c := range []struct {
		limit, used, n int64
		want           bool
	}{{0, 1 << 40, 1, true}, {2, 1, 1, true}, {2, 2, 1, false}, {2, 3, 1, false}, {5, 0, 5, true}, {5, 0, 6, false}} {
		if got := PlanAllows(c.limit, c.used, c.n); got != c.want {
			t.Errorf("PlanAllows(%d, %d, %d) = %v", c.limit, c.used, c.n, got)
		}
	}
	if err := CheckPlanLimits(PlanLimits{Seats: -1}); err == nil {
		t.Error("a negative limit passed")
	}
	if err := CheckPlanLimits(PlanLimits{Contacts: MaxPlanLimit + 1}); err == nil {
		t.Error("a limit past the maximum passed")
	}
	if err := CheckPlanLimits(PlanLimits{Seats: 3, AIRepliesPerMonth: MaxPlanLimit}); err != nil {
		t.Error(err)
	}
	for _, tz := range []string{"Local", "local", "Mars/Olympus", "../etc"} {
		if CheckPlanTimeZone(tz) == nil {
			t.Errorf("time zone %q passed", tz)
		}
	}
	if err := CheckPlanTimeZone("Asia/Tokyo"); err != nil {
		t.Error(err)
	}
}

// A deletion is final; active and suspended go either way.
func TestNextWorkspaceState(t *testing.T) {
	for _, c := range []struct {
		from, to, want WorkspaceState
		ok             bool
	}{
		{"", WorkspaceSuspended, WorkspaceSuspended, true},
		{WorkspaceSuspended, WorkspaceActive, WorkspaceActive, true},
		{WorkspaceActive, WorkspaceDeleting, WorkspaceDeleting, true},
		{WorkspaceSuspended, WorkspaceDeleting, WorkspaceDeleting, true},
		{WorkspaceDeleting, WorkspaceActive, WorkspaceDeleting, false},
		{WorkspaceDeleting, WorkspaceSuspended, WorkspaceDeleting, false},
		{WorkspaceActive, "archived", WorkspaceActive, false},
	} {
		got, err := NextWorkspaceState(c.from, c.to)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("NextWorkspaceState(%q, %q) = %q, %v", c.from, c.to, got, err)
		}
	}
}
