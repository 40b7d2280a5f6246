package actors

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/persistence"
)

// timekeeper fires durable timers. Timers live in Pebble, ordered by due
// time, written in the same batch as the header that sets them; so they
// survive restarts and fire for passivated conversations (the message
// re-activates the actor). The conversation decides whether a timer is
// stale, by comparing its deadline with the header's.
type timekeeper struct {
	rt    *Runtime
	kickc chan struct{}
	// wake is when the timekeeper will look again, in Unix nanoseconds:
	// math.MinInt64 while it is scanning, math.MaxInt64 when it waits for
	// a kick only. A timer due after it needs no kick.
	wake atomic.Int64
}

// kickAt tells the timekeeper that a timer due at due was set: it looks
// again only if due is before its next wake-up. Deadlines pushed later
// (each human message pushes the AI's return) cost nothing then; a scan
// would step over every moved timer's deletion.
func (tk *timekeeper) kickAt(due time.Time) {
	if due.UnixNano() < tk.wake.Load() {
		tk.kick()
	}
}

// kick asks the timekeeper to look again: a timer may have been set
// earlier than the one it waits for. Kicks coalesce.
func (tk *timekeeper) kick() {
	select {
	case tk.kickc <- struct{}{}:
	default:
	}
}

const timerBatch = 256

func (tk *timekeeper) run(ctx context.Context) {
	rt := tk.rt
	for {
		tk.wake.Store(math.MinInt64)
		now := rt.clock.Now()
		due, next, err := rt.store.DueTimers(now, timerBatch)
		if err != nil {
			rt.log.Error("Reading timers", "err", err)
			next = now.Add(time.Second) // try again soon
		}
		if len(due) > 0 {
			if tk.fire(ctx, due) {
				continue // there may be more due
			}
			// Some conversation could not handle its timer: do not spin
			// on it, look again in a second.
			next = now.Add(time.Second)
		}
		if !next.IsZero() {
			tk.wake.Store(next.UnixNano())
			t := rt.clock.NewTimer(next.Sub(now))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-tk.kickc:
			case <-t.Chan():
			}
			t.Stop()
			continue
		}
		tk.wake.Store(math.MaxInt64)
		select {
		case <-ctx.Done():
			return
		case <-tk.kickc:
		}
	}
}

// fire delivers due timers to their conversations, in parallel, and waits
// until each has been handled, so the next scan does not see them again.
func (tk *timekeeper) fire(ctx context.Context, due []persistence.Timer) bool {
	rt := tk.rt
	dones := make([]chan error, len(due))
	for i, t := range due {
		dones[i] = make(chan error, 1)
		rt.dir.send(t.WorkspaceID, t.ConversationID, &timerMsg{t: t, done: dones[i]})
	}
	ok := true
	for i, d := range dones {
		select {
		case err := <-d:
			if err != nil {
				ok = false
				rt.log.Error("Firing timer", "conversation", due[i].ConversationID, "err", err)
			} else {
				rt.metrics.timersFired.Inc()
			}
		case <-ctx.Done():
			return false
		}
	}
	return ok
}
