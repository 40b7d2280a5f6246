package engine

import "time"

// HealthState is what Parley last learnt of a channel account's ability
// to work: whether its credentials are accepted and its channel answers.
type HealthState string

// Health states of a channel account.
const (
	// HealthUnknown: never checked.
	HealthUnknown HealthState = "unknown"
	// HealthConnected: the channel accepted the account's credentials at
	// the last check or send.
	HealthConnected HealthState = "connected"
	// HealthExpired: the channel refused the credentials (expired,
	// revoked or invalid access token); a new token is needed.
	HealthExpired HealthState = "expired"
	// HealthUnreachable: the channel could not be reached or was
	// temporarily failing (network errors, timeouts, HTTP 5xx, rate
	// limits).
	HealthUnreachable HealthState = "unreachable"
	// HealthError: the channel answered with another permanent error
	// (a missing permission, an unknown account id, a locked account).
	HealthError HealthState = "error"
)

// HealthStates lists every state, in the order the metrics show them.
var HealthStates = []HealthState{HealthUnknown, HealthConnected, HealthExpired, HealthUnreachable, HealthError}

// EventChannelHealth is published when a channel account's health state,
// reason or code changes; Data is {"channel", "account_id", "health"}.
const EventChannelHealth EventType = "channel.health"

// ChannelHealth is the health record of one channel account. It is a
// record of its own, written only by the health monitor (never with the
// account record the API edits).
type ChannelHealth struct {
	WorkspaceID ID          `json:"workspace_id"`
	Channel     Channel     `json:"channel"`
	AccountID   string      `json:"account_id"`
	State       HealthState `json:"state"`
	// Reason says what the channel answered, for people.
	Reason string `json:"reason,omitempty"`
	// Code is the channel's error code ("190" for a Graph error, or
	// "network", "timeout", "http_503"...); empty when connected.
	Code string `json:"code,omitempty"`
	// Since is when the account entered State; CheckedAt when it was last
	// checked (by a check or a send).
	Since     time.Time `json:"since,omitzero"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// HealthResult is the outcome of one check of an account, or what a send
// revealed about it.
type HealthResult struct {
	State  HealthState
	Reason string
	Code   string
}

// ApplyHealth is the rule of a new result: the account takes the result's
// state, reason and code, CheckedAt becomes now, and Since becomes now
// when the state differs from the current one (an unknown current record,
// with its zero Since, gets now too). It reports whether what a person
// sees changed (state, reason or code), which is when the change is
// published. A result in the unknown state is ignored.
func ApplyHealth(cur ChannelHealth, r HealthResult, now time.Time) (ChannelHealth, bool) {
	if r.State == "" || r.State == HealthUnknown {
		return cur, false
	}
	next := cur
	next.CheckedAt = now
	next.State, next.Reason, next.Code = r.State, r.Reason, r.Code
	if cur.State != r.State || cur.Since.IsZero() {
		next.Since = now
	}
	changed := cur.State != next.State || cur.Reason != next.Reason || cur.Code != next.Code
	return next, changed
}
