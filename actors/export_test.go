package actors

import (
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// SetStageChecked sets f to run between a check about a stage and its
// commit (a pipeline change removing stages, a contact's move), until
// the test ends.
func SetStageChecked(t *testing.T, f func(is string)) {
	stageChecked = f
	t.Cleanup(func() { stageChecked = nil })
}

// Kick makes the timekeeper look at the timers again now. Tests that move
// a fake clock use it to rule out the lost wake-up between reading the
// clock and arming a timer, which a real clock cannot produce.
func Kick(rt *Runtime) { rt.tk.kick() }

// Panic makes the actor of a conversation panic while handling a message
// and returns the error its caller got.
func Panic(rt *Runtime, ws, conv engine.ID) error {
	m := &panicMsg{reply: make(chan error, 1)}
	rt.dir.send(ws, conv, m)
	return <-m.reply
}

// ActorPID returns the process id of a conversation's live actor, or "".
func ActorPID(rt *Runtime, ws, conv engine.ID) string {
	k := convKey{ws: ws, conv: conv}
	sh := rt.dir.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.entries[k]; e != nil {
		return e.pid.String()
	}
	return ""
}

// Ping round-trips a no-op message through a conversation's actor,
// activating it if it was passivated, and says whether it exists.
func Ping(rt *Runtime, ws, conv engine.ID) bool {
	m := &pingMsg{reply: make(chan bool, 1)}
	rt.dir.send(ws, conv, m)
	return <-m.reply
}

// HeldAIRequests returns how many AI requests wait for their debounce
// window to end.
func HeldAIRequests(rt *Runtime) int { return rt.debounce.held() }

// Wire returns the value an envelope's JSON encodes.
func Wire(e *Envelope) any { return e.wire() }

// SetAutomationStop sets f to run after each automation run is committed
// as pending; f returning true leaves the run pending, as a stop would.
func SetAutomationStop(t *testing.T, f func(run *engine.AutomationRun) bool) {
	automationStop = f
	t.Cleanup(func() { automationStop = nil })
}

// SetAutomationActed sets the hook called between a run's actions
// outside the contact's actor and the contact's commit, for the test.
func SetAutomationActed(t *testing.T, f func(run *engine.AutomationRun) bool) {
	automationActed = f
	t.Cleanup(func() { automationActed = nil })
}

// QueueCap is the capacity of a notified subscription's queue: zero once
// everything queued was taken.
func QueueCap(s *Subscription) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cap(s.q)
}

// SetRetentionBatchDone sets f to run after each retention batch's
// progress is committed, until the test ends.
func SetRetentionBatchDone(t *testing.T, f func(ws engine.ID, p persistence.RetentionProgress)) {
	retentionBatchDone = f
	t.Cleanup(func() { retentionBatchDone = nil })
}

// KnownThreads counts the threads the directory's thread cache holds.
func KnownThreads(rt *Runtime) int {
	n := 0
	for i := range rt.dir.threads {
		ts := &rt.dir.threads[i]
		ts.mu.Lock()
		n += len(ts.known)
		ts.mu.Unlock()
	}
	return n
}
