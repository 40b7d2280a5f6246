package actors

import (
	"context"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// aiPendingMargin is added to the debounce window and the agent timeout
// to place the backstop of a customer message waiting for the AI: in the
// ordinary course the answer is committed well before and removes it.
const aiPendingMargin = 15 * time.Second

// The debounce window and the AI call live in memory; a restart loses
// them. So that a customer who wrote just before a restart still gets
// their answer, the header carries AIPendingAt, a durable timer
// (persistence.TimerAIPending) written in the same batch as the message
// that asked for the AI, and moved or removed in the batch that answers,
// hands off or otherwise ends the wait. When it fires with the customer
// still waiting in AI mode, the AI is asked again; the answer goes
// through the usual stale checks (docs/ARCHITECTURE.md, invariant 5), so a late first answer
// and the second one cannot both be sent.

// aiWaiting reports whether the transaction's conversation waits for an
// AI answer that the AI may send: it may answer (engine's AIMayAnswer),
// inside the channel's window, and there is an agent to ask (its policy
// is returned).
func (t *txn) aiWaiting() (bool, AgentPolicy) {
	if !t.cur.AIMayAnswer() || !t.cur.InWindow(t.now) {
		return false, AgentPolicy{}
	}
	return t.policy()
}

// debounceWindow is the debounce window of an agent policy: its own, or
// the runtime's default.
func (rt *Runtime) debounceWindow(pol AgentPolicy) time.Duration {
	if pol.Debounce == 0 {
		return rt.cfg.AIDebounce
	}
	return pol.Debounce
}

// pendingAI brings the header's AIPendingAt up to date before the batch
// is committed: set (or pushed) when this transaction asks for a reply,
// cleared when nobody waits for the AI any more.
func (t *txn) pendingAI() {
	c, rt := &t.cur, t.a.rt
	asks := t.ask != nil && t.ask.Purpose == engine.PurposeReply
	if c.AIPendingAt.IsZero() && !asks {
		return // nothing to set or clear
	}
	waiting, pol := t.aiWaiting()
	switch {
	case waiting && asks:
		// The backstop fires once the longest debounce and the agent's
		// timeout have passed.
		c.AIPendingAt = t.now.Add(max(rt.debounceWindow(pol), 0)*maxDebounceWindows + rt.cfg.AgentTimeout + aiPendingMargin)
	case !waiting:
		c.AIPendingAt = time.Time{}
	}
}

// pendingDue handles the backstop timer: the customer still waits, so the
// AI is asked again: at once when the timer is due, after the debounce
// window when it is not (the startup recovery, recoverPending).
func (a *conversationActor) pendingDue(tm persistence.Timer) error {
	t := a.begin()
	if a.conv == nil || !a.conv.AIPendingAt.Equal(tm.Due) {
		t.b.DeleteTimer(tm) // stale: the header moved on
	} else if waiting, _ := t.aiWaiting(); waiting {
		c := &t.cur
		t.ask = &engine.AIRequest{WorkspaceID: c.WorkspaceID, ConversationID: c.ID,
			LastCustomerSeq: c.LastCustomerSeq, ModeEpoch: c.ModeEpoch}
		t.askNow = !tm.Due.After(t.now)
		a.rt.aiMetrics.pendingRetries.Inc()
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}

// pendingAtStart reads, at startup and before any message comes in, the
// backstops the previous process left: their customers were waiting for
// the AI when it stopped.
func (rt *Runtime) pendingAtStart() []persistence.Timer {
	if rt.cfg.Agents == nil {
		return nil
	}
	// No backstop is set further ahead than the longest debounce allows
	// (one set by a process with a longer agent timeout fires on its own).
	longest := maxDebounceWindows*max(engine.MaxAgentDebounce, rt.cfg.AIDebounce) + rt.cfg.AgentTimeout + aiPendingMargin
	timers, err := rt.store.TimersOfKind(persistence.TimerAIPending, rt.clock.Now().Add(longest))
	if err != nil {
		rt.log.Error("Reading the AI backstops; they will fire on their own", "err", err)
		return nil
	}
	return timers
}

// recoverPending asks the AI again for the customers of timers (from
// pendingAtStart): the debounce windows and AI calls of the previous
// process are gone, so they are asked for now (after the debounce window)
// rather than when their backstop fires.
func (rt *Runtime) recoverPending(ctx context.Context, timers []persistence.Timer) {
	for len(timers) > 0 && ctx.Err() == nil {
		n := min(len(timers), timerBatch)
		rt.tk.fire(ctx, timers[:n])
		timers = timers[n:]
	}
}

// settled clears the backstop of request req, which the agent pool chose
// not to answer (no agent, or a restricted agent with nothing to say):
// asking again would get the same.
func (a *conversationActor) settled(req engine.AIRequest) error {
	c := a.conv
	if c == nil || c.AIPendingAt.IsZero() || c.ModeEpoch != req.ModeEpoch || c.LastCustomerSeq != req.LastCustomerSeq {
		return nil
	}
	t := a.begin()
	t.cur.AIPendingAt = time.Time{}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}
