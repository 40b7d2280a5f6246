package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// Presence: whether a user is online, away or offline, as the web app
// reports it over its WebSocket (gateway/realtime: a presence frame when
// it connects, on activity, and when the user sets themselves away or
// back). The tracker is the one owner of every user's presence: the
// connections, the API (POST /api/v1/presence) and its sweep tell it
// what happened, it keeps the state (engine.UserPresence, in memory:
// presence does not outlive the process) and publishes presence.changed
// to the workspace's subscribers when a user's state, as
// engine.PresenceAt computes it, changes. Team distribution reads it
// (Snapshot). docs/ARCHITECTURE.md, "Teams and presence".
type presenceTracker struct {
	clock   clockwork.Clock
	rules   engine.PresenceRules
	publish func([]engine.Event)
	online  *prometheus.GaugeVec

	mu    sync.Mutex
	users map[presenceKey]*presenceEntry
}

type presenceKey struct{ ws, user engine.ID }

type presenceEntry struct {
	p engine.UserPresence
	// shown is the state last published.
	shown engine.PresenceState
}

// presenceSweepEvery is how often the tracker looks for users whose
// state changed with time (away after inactivity, offline after the
// grace period).
const presenceSweepEvery = 5 * time.Second

func newPresenceTracker(clock clockwork.Clock, rules engine.PresenceRules, publish func([]engine.Event), reg prometheus.Registerer) *presenceTracker {
	t := &presenceTracker{clock: clock, rules: rules, publish: publish, users: map[presenceKey]*presenceEntry{},
		online: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "parley_users_online",
			Help: "Users by presence state (online, away) across workspaces."}, []string{"state"})}
	for _, s := range []engine.PresenceState{engine.PresenceOnline, engine.PresenceAway} {
		t.online.WithLabelValues(string(s))
	}
	if reg != nil {
		reg.MustRegister(t.online)
	}
	return t
}

// Connected counts one more web app connection of user.
func (t *presenceTracker) Connected(ws, user engine.ID) {
	t.change(ws, user, func(p *engine.UserPresence, now time.Time) {
		p.Sockets++
		p.ClosedAt = time.Time{}
		p.LastActive = now
	})
}

// Disconnected counts one connection fewer; the last one starts the
// grace period.
func (t *presenceTracker) Disconnected(ws, user engine.ID) {
	t.change(ws, user, func(p *engine.UserPresence, now time.Time) {
		p.Sockets = max(0, p.Sockets-1)
		if p.Sockets == 0 {
			p.ClosedAt = now
		}
	})
}

// Report records activity ("active"), a manual away ("away") or the end
// of one ("online", which is activity too).
func (t *presenceTracker) Report(ws, user engine.ID, state string) {
	t.change(ws, user, func(p *engine.UserPresence, now time.Time) {
		switch state {
		case "away":
			p.ManualAway = true
		case "online":
			p.ManualAway = false
			p.LastActive = now
		default:
			p.LastActive = now
		}
	})
}

func (t *presenceTracker) change(ws, user engine.ID, f func(*engine.UserPresence, time.Time)) {
	now := t.clock.Now()
	t.mu.Lock()
	k := presenceKey{ws, user}
	e := t.users[k]
	if e == nil {
		e = &presenceEntry{shown: engine.PresenceOffline}
		t.users[k] = e
	}
	f(&e.p, now)
	ev, ok := t.settleLocked(k, e, now)
	t.mu.Unlock()
	if ok {
		t.publish([]engine.Event{ev})
	}
}

// settleLocked compares e's state at now with the one last published,
// and returns the event to publish when it changed. An offline entry
// with nothing to keep is dropped.
func (t *presenceTracker) settleLocked(k presenceKey, e *presenceEntry, now time.Time) (engine.Event, bool) {
	s := engine.PresenceAt(e.p, now, t.rules)
	if s == engine.PresenceOffline && !e.p.ManualAway {
		delete(t.users, k)
	}
	if s == e.shown {
		return engine.Event{}, false
	}
	if e.shown != engine.PresenceOffline {
		t.online.WithLabelValues(string(e.shown)).Dec()
	}
	if s != engine.PresenceOffline {
		t.online.WithLabelValues(string(s)).Inc()
	}
	e.shown = s
	return engine.Event{Type: engine.EventPresenceChanged, WorkspaceID: k.ws, At: now,
		Data: presenceView{UserID: k.user, State: s}}, true
}

// presenceView is a user's presence as the API and presence.changed show it.
type presenceView struct {
	UserID engine.ID            `json:"user_id"`
	State  engine.PresenceState `json:"state"`
}

// sweep settles every user whose state changed with time.
func (t *presenceTracker) sweep() {
	now := t.clock.Now()
	var evs []engine.Event
	t.mu.Lock()
	for k, e := range t.users {
		if ev, ok := t.settleLocked(k, e, now); ok {
			evs = append(evs, ev)
		}
	}
	t.mu.Unlock()
	if len(evs) > 0 {
		t.publish(evs)
	}
}

// run sweeps every presenceSweepEvery on the clock until ctx ends.
func (t *presenceTracker) run(ctx context.Context) {
	tk := t.clock.NewTicker(presenceSweepEvery)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.Chan():
			t.sweep()
		}
	}
}

// State is user's presence now.
func (t *presenceTracker) State(ws, user engine.ID) engine.PresenceState {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.users[presenceKey{ws, user}]; e != nil {
		return engine.PresenceAt(e.p, now, t.rules)
	}
	return engine.PresenceOffline
}

// Snapshot returns what the tracker holds of users (those it knows
// nothing of are offline), for engine.PickTeamMember.
func (t *presenceTracker) Snapshot(ws engine.ID, users []string) map[string]engine.UserPresence {
	out := make(map[string]engine.UserPresence, len(users))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range users {
		id, err := engine.ParseID(u)
		if err != nil {
			continue
		}
		if e := t.users[presenceKey{ws, id}]; e != nil {
			out[u] = e.p
		}
	}
	return out
}

type presenceBody struct {
	State string `json:"state"`
}

// setPresence answers POST /api/v1/presence {"state":"away"|"online"}:
// the caller sets themselves away or back; the answer is their state.
func (s *Server) setPresence(c *fiber.Ctx) error {
	var b presenceBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.State != "away" && b.State != "online" {
		return errorf(fiber.StatusBadRequest, "invalid", "state must be away or online")
	}
	p := who(c)
	s.presence.Report(p.WorkspaceID, p.UserID, b.State)
	return c.JSON(presenceView{UserID: p.UserID, State: s.presence.State(p.WorkspaceID, p.UserID)})
}
