package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Automations (docs/ARCHITECTURE.md, "Automations"). The automation
// runner owns the workspaces' rules, their round-robin state and the
// pending runs: its mutex holds each rule change's read-check-write with
// its commit. A tap on the broadcaster hands it every published event of
// a workspace with an enabled rule (never waiting: a bounded buffer);
// its goroutine turns each event into triggers (engine.AutomationTriggers),
// matches the rules (engine.MatchAutomation), commits the planned run
// (engine.PlanAutomation: pending, with the owner a round-robin chose and
// the round-robin's new state, one batch), then has the owners apply it:
// each conversation action through the conversation's actor
// (Runtime.Execute; a tag, an assignee, the priority star are set only
// when not so already), and the contact's actions through the contact's
// actor, whose batch holds the contact's changes, the run's log entry and
// its rule × trigger key record, and removes the pending run. A pending
// run left by a stop is applied again at the next start: the record makes
// the contact's part happen once, and the conversation's part changes
// nothing the second time.

// automationBuffer bounds the events waiting for the runner.
const automationBuffer = 65536

// noReplySweep is how often, on the runtime's clock, open conversations
// are checked for the no_reply trigger; noReplyScan bounds the
// conversations one sweep reads per workspace, newest activity first.
const (
	noReplySweep = time.Minute
	noReplyScan  = 10000
)

// Automation errors.
var (
	// ErrTooManyAutomations is returned when a workspace holds
	// engine.MaxAutomations already.
	ErrTooManyAutomations = errors.New("actors: too many automations")
	// ErrAutomationNotFound is returned for an unknown rule id.
	ErrAutomationNotFound = fmt.Errorf("actors: automation not found: %w", persistence.ErrNotFound)
)

// automationStop, when set (by a test), is called after a run is
// committed as pending; returning true leaves it pending, as a stop
// between the plan and its actions would.
var automationStop func(run *engine.AutomationRun) bool

// automationActed, when set (by a test), is called after a run's actions
// outside the contact's actor are done and before the contact's commit;
// returning true leaves the run pending, as a stop there would.
var automationActed func(run *engine.AutomationRun) bool

type automationRunner struct {
	rt *Runtime

	// mu holds each rule change's read-check-write with its commit;
	// cacheMu guards rules, which changes swap in after their commit, so
	// that the tap and the runner read it without waiting for a commit.
	mu      sync.Mutex
	cacheMu sync.RWMutex
	rules   map[engine.ID][]engine.Automation // every rule, by workspace

	bufMu sync.Mutex
	buf   []engine.Event
	kickc chan struct{}
	// roomc tells feed that the runner emptied its buffer.
	roomc chan struct{}

	// causes holds, per conversation, the chain of the run that just
	// changed it through its actor; the next event of that conversation
	// the runner reads takes it (the actor publishes before it answers).
	causesMu sync.Mutex
	causes   map[engine.ID][]engine.ID

	runs     *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	loops    prometheus.Counter
	dropped  prometheus.Counter
	noReplyQ chan struct{}
}

func newAutomationRunner(rt *Runtime, reg prometheus.Registerer) *automationRunner {
	r := &automationRunner{rt: rt, rules: map[engine.ID][]engine.Automation{}, kickc: make(chan struct{}, 1), roomc: make(chan struct{}, 1),
		causes: map[engine.ID][]engine.ID{}, noReplyQ: make(chan struct{}, 1)}
	r.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_automation_runs_total",
		Help: "Automation runs finished, by outcome (done, failed, loop_stopped)."}, []string{"outcome"})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_automation_action_duration_seconds",
		Help: "Time to apply one automation action, by action type.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)},
		[]string{"action"})
	r.loops = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_automation_loops_stopped_total",
		Help: "Automation runs stopped because the rule was already in its trigger's chain or the chain was too long."})
	r.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_automation_events_dropped_total",
		Help: "Events the automation runner dropped because its buffer was full."})
	if reg != nil {
		reg.MustRegister(r.runs, r.latency, r.loops, r.dropped)
	}
	return r
}

// load reads every workspace's rules.
func (r *automationRunner) load() error {
	wss, err := r.rt.store.Workspaces()
	if err != nil {
		return fmt.Errorf("reading workspaces: %w", err)
	}
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	for _, w := range wss {
		rs, err := r.rt.store.Automations(w.ID)
		if err != nil {
			return err
		}
		if len(rs) > 0 {
			r.rules[w.ID] = rs
		}
	}
	return nil
}

func (r *automationRunner) active(ws engine.ID) bool {
	r.cacheMu.RLock()
	defer r.cacheMu.RUnlock()
	return slices.ContainsFunc(r.rules[ws], func(a engine.Automation) bool { return a.Enabled })
}

// exists reports whether rule id of ws is still there (not deleted).
func (r *automationRunner) exists(ws, id engine.ID) bool {
	r.cacheMu.RLock()
	defer r.cacheMu.RUnlock()
	return slices.ContainsFunc(r.rules[ws], func(a engine.Automation) bool { return a.ID == id })
}

func (r *automationRunner) rulesOf(ws engine.ID) []engine.Automation {
	r.cacheMu.RLock()
	defer r.cacheMu.RUnlock()
	return slices.Clone(r.rules[ws])
}

// tap keeps the events of workspaces with an enabled rule; it never
// waits.
func (r *automationRunner) tap(events []engine.Event) {
	var keep []engine.Event
	for i := range events {
		switch events[i].Type {
		case engine.EventContactCreated, engine.EventContactUpdated, engine.EventFormSubmitted,
			engine.EventConversationCreated, engine.EventConversationUpdated:
		default:
			continue
		}
		if r.active(events[i].WorkspaceID) {
			keep = append(keep, events[i])
		}
	}
	if len(keep) == 0 {
		return
	}
	r.bufMu.Lock()
	n := min(len(keep), automationBuffer-len(r.buf))
	r.buf = append(r.buf, keep[:n]...)
	r.bufMu.Unlock()
	if n < len(keep) {
		r.dropped.Add(float64(len(keep) - n))
	}
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

// feed hands the runner events that are not published (an import's
// contact.created), waiting for room in its buffer rather than dropping
// any.
func (r *automationRunner) feed(ctx context.Context, evs []engine.Event) error {
	for len(evs) > 0 {
		r.bufMu.Lock()
		n := min(len(evs), automationBuffer-len(r.buf))
		r.buf = append(r.buf, evs[:n]...)
		r.bufMu.Unlock()
		evs = evs[n:]
		select {
		case r.kickc <- struct{}{}:
		default:
		}
		if len(evs) == 0 {
			break
		}
		select {
		case <-r.roomc:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// run is the runner's goroutine: pending runs first, then events as
// they come and the no_reply sweep on the runtime's clock.
func (r *automationRunner) run(ctx context.Context) {
	r.resume(ctx)
	tick := r.rt.clock.NewTicker(noReplySweep)
	defer tick.Stop()
	for {
		r.bufMu.Lock()
		evs := r.buf
		r.buf = nil
		r.bufMu.Unlock()
		select {
		case r.roomc <- struct{}{}:
		default:
		}
		if len(evs) > 0 {
			p := r.newPlan()
			for i := range evs {
				r.handle(p, &evs[i])
			}
			r.commitAndApply(ctx, p)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kickc:
		case <-tick.Chan():
			r.sweepNoReply(ctx)
		case <-r.noReplyQ:
			r.sweepNoReply(ctx)
		}
	}
}

// resume applies the runs a stop left pending.
func (r *automationRunner) resume(ctx context.Context) {
	r.cacheMu.RLock()
	wss := make([]engine.ID, 0, len(r.rules))
	for ws := range r.rules {
		wss = append(wss, ws)
	}
	r.cacheMu.RUnlock()
	for _, ws := range wss {
		runs, err := r.rt.store.AutomationPending(ws)
		if err != nil {
			r.rt.log.Error("Reading pending automation runs", "workspace", ws, "err", err)
			continue
		}
		r.applyAll(ctx, runs)
	}
}

func (r *automationRunner) handle(p *automationPlan, ev *engine.Event) {
	if ev.Automation == nil && ev.Conversation != nil {
		r.causesMu.Lock()
		chain, ok := r.causes[ev.Conversation.ID]
		delete(r.causes, ev.Conversation.ID)
		r.causesMu.Unlock()
		if ok {
			e := *ev
			e.Automation = &engine.AutomationCause{Chain: chain}
			ev = &e
		}
	}
	for _, t := range engine.AutomationTriggers(ev) {
		r.trigger(p, ev.WorkspaceID, t)
	}
}

// automationPlan gathers the runs planned from a buffer of events, to be
// committed in one batch: the round-robin state and the owners' loads
// move on in memory from one run to the next.
type automationPlan struct {
	b       *persistence.Batch
	runs    []engine.AutomationRun // pending
	stopped []engine.AutomationRun // loop_stopped, recorded as they are
	planned map[string]bool        // rule NUL key
	cursors map[string]engine.ID   // rule NUL action → last owner given
	loads   map[string]int         // ws NUL user → contacts given here
}

func (r *automationRunner) newPlan() *automationPlan {
	return &automationPlan{b: r.rt.store.NewBatch(), planned: map[string]bool{}, cursors: map[string]engine.ID{}, loads: map[string]int{}}
}

// trigger plans the runs of the rules of ws that fire on t.
func (r *automationRunner) trigger(p *automationPlan, ws engine.ID, t engine.AutomationTrigger) {
	var rules []engine.Automation
	for _, a := range r.rulesOf(ws) {
		if a.Enabled && a.Trigger.Type == t.Type {
			rules = append(rules, a)
		}
	}
	if len(rules) == 0 {
		return
	}
	var s engine.AutomationState
	c, err := r.rt.store.Contact(ws, t.ContactID)
	if err != nil {
		if !errors.Is(err, persistence.ErrNotFound) {
			r.rt.log.Error("Reading an automation's contact", "contact", t.ContactID, "err", err)
		}
		return
	}
	s.Contact = &c
	if slices.ContainsFunc(rules, usesSegments) {
		ids, err := r.rt.store.ContactSegments(ws, c.ID)
		if err != nil {
			r.rt.log.Error("Reading an automation's contact segments", "contact", c.ID, "err", err)
			return
		}
		s.Segments = make(map[engine.ID]bool, len(ids))
		for _, id := range ids {
			s.Segments[id] = true
		}
	}
	if t.ConversationID != engine.ZeroID {
		conv, err := r.rt.store.Conversation(ws, t.ConversationID)
		if err == nil {
			s.Conversation = &conv
		}
	}
	now := r.rt.clock.Now().UTC()
	for i := range rules {
		if !engine.MatchAutomation(&rules[i], &t, s, now) {
			continue
		}
		key := rules[i].ID.String() + "\x00" + t.Key
		if p.planned[key] {
			continue
		}
		ran, err := r.rt.store.AutomationRan(ws, rules[i].ID, t.Key)
		if err != nil {
			r.rt.log.Error("Reading an automation's run record", "rule", rules[i].ID, "err", err)
			continue
		}
		if ran {
			continue
		}
		if err := r.plan(p, &rules[i], t, now); err != nil {
			r.rt.log.Error("Planning an automation run", "rule", rules[i].ID, "err", err)
			continue
		}
		p.planned[key] = true
	}
}

// plan adds to p the pending run of rule a on t, with the owners its
// assign_owner actions give and their round-robin state; a rule in a
// loop is recorded at once as stopped.
func (r *automationRunner) plan(p *automationPlan, a *engine.Automation, t engine.AutomationTrigger, now time.Time) error {
	id := engine.NewID(now)
	if engine.AutomationLoop(a.ID, &t) {
		run := engine.FinishAutomationRun(engine.PlanAutomation(a, t, nil, id, now), nil, now)
		p.b.FinishAutomationRun(&run)
		p.stopped = append(p.stopped, run)
		return nil
	}
	owners := map[int]engine.ID{}
	for i, act := range a.Actions {
		if act.Type != engine.ActionAssignOwner {
			continue
		}
		users, err := r.rt.store.Users(a.WorkspaceID)
		if err != nil {
			return err
		}
		ck := a.ID.String() + "\x00" + strconv.Itoa(i)
		var last *engine.ID
		if u, ok := p.cursors[ck]; ok {
			last = &u
		} else if last, err = r.rt.store.AutomationCursor(a.WorkspaceID, a.ID, i); err != nil {
			return err
		}
		loads := map[engine.ID]int{}
		if act.Strategy == engine.AssignLeastLoaded {
			for _, u := range act.Users {
				if loads[u], err = r.rt.store.CountContactsOwnedBy(a.WorkspaceID, u, 1<<20); err != nil {
					return err
				}
				loads[u] += p.loads[a.WorkspaceID.String()+"\x00"+u.String()]
			}
		}
		if u, ok := engine.PickOwner(&act, users, last, loads); ok {
			owners[i] = u
			p.loads[a.WorkspaceID.String()+"\x00"+u.String()]++
			if act.Strategy == engine.AssignRoundRobin {
				p.cursors[ck] = u
				p.b.SetAutomationCursor(a.WorkspaceID, a.ID, i, u)
			}
		}
	}
	run := engine.PlanAutomation(a, t, owners, id, now)
	p.b.PutAutomationPending(&run)
	p.runs = append(p.runs, run)
	return nil
}

// commitAndApply commits plan p in one batch, then has the owners carry
// out its runs.
func (r *automationRunner) commitAndApply(ctx context.Context, p *automationPlan) {
	if len(p.runs) == 0 && len(p.stopped) == 0 {
		p.b.Close()
		return
	}
	if err := r.rt.store.Commit(p.b); err != nil {
		p.b.Close()
		r.rt.log.Error("Committing planned automation runs", "runs", len(p.runs), "err", err)
		return
	}
	for _, run := range p.stopped {
		r.loops.Inc()
		r.runs.WithLabelValues(run.Outcome).Inc()
		r.rt.log.Warn("Automation loop stopped", "rule", run.RuleID, "trigger", run.Trigger.Key, "chain", run.Trigger.Chain)
	}
	runs := p.runs
	if automationStop != nil {
		runs = slices.DeleteFunc(slices.Clone(runs), func(run engine.AutomationRun) bool { return automationStop(&run) })
	}
	r.applyAll(ctx, runs)
}

// automationWorkers bounds the runs applied at once.
const automationWorkers = 16

// applyAll applies runs, those of one contact in order and those of
// different contacts at once (at most automationWorkers), and returns
// when all are done.
func (r *automationRunner) applyAll(ctx context.Context, runs []engine.AutomationRun) {
	byContact := map[engine.ID][]int{}
	var order []engine.ID
	for i := range runs {
		c := runs[i].Trigger.ContactID
		if _, ok := byContact[c]; !ok {
			order = append(order, c)
		}
		byContact[c] = append(byContact[c], i)
	}
	sem := make(chan struct{}, automationWorkers)
	var wg sync.WaitGroup
	for _, c := range order {
		idx := byContact[c]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			batch := make([]*engine.AutomationRun, len(idx))
			for j, i := range idx {
				batch[j] = &runs[i]
			}
			r.apply(ctx, batch)
		}()
	}
	wg.Wait()
}

// apply has the owners carry out pending runs, all of one contact:
// the conversation's actions of each first, then the contact's actions
// of them all, with their records, in one commit of the contact's actor.
func (r *automationRunner) apply(ctx context.Context, runs []*engine.AutomationRun) {
	runs = slices.DeleteFunc(runs, func(run *engine.AutomationRun) bool { return run.Outcome != engine.RunPending })
	if len(runs) == 0 {
		return
	}
	results := make([][]engine.AutomationActionResult, len(runs))
	for k, run := range runs {
		results[k] = make([]engine.AutomationActionResult, len(run.Actions))
		for i, act := range run.Actions {
			results[k][i].Type = act.Type
			if act.ContactAction() {
				continue
			}
			start := time.Now()
			switch act.Type {
			case engine.ActionNotifyUser:
				results[k][i].Result, results[k][i].Detail = r.notifyUser(ctx, run, i, act)
			case engine.ActionCallWebhook:
				results[k][i].Result, results[k][i].Detail = r.callWebhook(ctx, run, i, act)
			case engine.ActionSendCanned:
				results[k][i].Result, results[k][i].Detail = r.sendCanned(ctx, run, i, act)
			default:
				results[k][i].Result, results[k][i].Detail = r.conversationAction(ctx, run, act)
			}
			r.latency.WithLabelValues(string(act.Type)).Observe(time.Since(start).Seconds())
		}
	}
	if automationActed != nil {
		for k := 0; k < len(runs); k++ {
			if automationActed(runs[k]) {
				runs, results = slices.Delete(runs, k, k+1), slices.Delete(results, k, k+1)
				k--
			}
		}
		if len(runs) == 0 {
			return
		}
	}
	start := time.Now()
	fins, err := r.rt.finishAutomationRuns(ctx, runs, results)
	if err != nil {
		r.rt.log.Error("Applying automation runs", "contact", runs[0].Trigger.ContactID, "runs", len(runs), "err", err)
		return
	}
	took := time.Since(start).Seconds()
	for _, fin := range fins {
		for _, act := range fin.Actions {
			if act.ContactAction() {
				r.latency.WithLabelValues(string(act.Type)).Observe(took)
			}
		}
		r.runs.WithLabelValues(fin.Outcome).Inc()
	}
}

// conversationAction applies one conversation action of run through the
// conversation's actor, unless the conversation is so already.
func (r *automationRunner) conversationAction(ctx context.Context, run *engine.AutomationRun, act engine.AutomationAction) (string, string) {
	ws, conv := run.WorkspaceID, run.Trigger.ConversationID
	if conv == engine.ZeroID {
		return "skipped", "no conversation"
	}
	cur, err := r.rt.store.Conversation(ws, conv)
	if err != nil {
		return "skipped", "conversation gone"
	}
	var cmd engine.Command
	exec := func() error { _, err := r.rt.Execute(ctx, ws, conv, cmd); return err }
	switch act.Type {
	case engine.ActionAssignTeam:
		if cur.TeamID == act.TeamID {
			return "unchanged", ""
		}
		ta := r.rt.teams.Load()
		if ta == nil {
			return "skipped", "teams are not available"
		}
		exec = func() error { return (*ta).AssignToTeam(ctx, ws, conv, mustID(act.TeamID)) }
	case engine.ActionAddTag, engine.ActionSetPriority:
		tag := act.Tag
		if act.Type == engine.ActionSetPriority {
			tag = engine.PriorityTag
		}
		if cur.HasTag(tag) {
			return "unchanged", ""
		}
		cmd = engine.SetTag{Tag: tag}
	case engine.ActionRemoveTag:
		if !cur.HasTag(act.Tag) {
			return "unchanged", ""
		}
		cmd = engine.SetTag{Tag: act.Tag, Remove: true}
	case engine.ActionAssignConversation:
		if cur.AssigneeID == act.UserID {
			return "unchanged", ""
		}
		if _, err := r.rt.store.User(ws, mustID(act.UserID)); err != nil {
			return "failed", "not a user of the workspace"
		}
		cmd = engine.Assign{UserID: act.UserID}
	default:
		return "skipped", "unknown action"
	}
	r.causesMu.Lock()
	r.causes[conv] = run.Chain().Chain
	r.causesMu.Unlock()
	if err := exec(); err != nil {
		r.causesMu.Lock()
		delete(r.causes, conv)
		r.causesMu.Unlock()
		return "failed", err.Error()
	}
	return "done", ""
}

func mustID(s string) engine.ID {
	id, _ := engine.ParseID(s)
	return id
}

// finishAutomationRuns applies the contact actions of runs, all of one
// contact (results holds their conversation actions' results), in the
// contact's actor and records each run in the same batch, once per rule
// and trigger key. It returns the runs as recorded (none for a run that
// was recorded before).
func (rt *Runtime) finishAutomationRuns(ctx context.Context, runs []*engine.AutomationRun, results [][]engine.AutomationActionResult) ([]engine.AutomationRun, error) {
	first := runs[0]
	v, err := rt.contactCall(ctx, first.WorkspaceID, first.Trigger.ContactID, false, "automation", func(a *contactActor) (any, error) {
		now := rt.clock.Now().UTC()
		b := rt.store.NewBatch()
		var (
			evs  []engine.Event
			fins []engine.AutomationRun
			next engine.Contact
		)
		cur := a.c
		if cur != nil {
			next = *cur
		}
		rt.pipes.mu.RLock()
		defer rt.pipes.mu.RUnlock()
		var ps []engine.Pipeline
		var users []engine.User
		for k, run := range runs {
			ran, err := rt.store.AutomationRan(run.WorkspaceID, run.RuleID, run.Trigger.Key)
			if err != nil {
				b.Close()
				return nil, err
			}
			if ran || !rt.autos.exists(run.WorkspaceID, run.RuleID) {
				// Recorded before a stop, or its rule deleted since: only
				// the pending entry is left.
				b.DeleteAutomationPending(run.WorkspaceID, run.ID)
				continue
			}
			res := results[k]
			for i, act := range run.Actions {
				if !act.ContactAction() {
					continue
				}
				if cur == nil {
					res[i].Result, res[i].Detail = "skipped", "contact gone"
					continue
				}
				var (
					ch      engine.ContactChange
					changed bool
					after   engine.Contact
				)
				switch act.Type {
				case engine.ActionSetStage:
					if ps == nil {
						if ps, err = rt.store.Pipelines(run.WorkspaceID); err != nil {
							b.Close()
							return nil, err
						}
					}
					after, ch, changed, err = engine.SetContactStage(next, &engine.ContactStage{StageID: mustID(act.StageID)}, ps, nil, engine.NewID(now), now)
				case engine.ActionAssignOwner:
					owner, ok := run.Owners[i]
					if !ok {
						res[i].Result, res[i].Detail = "skipped", "none of its users is in the workspace"
						continue
					}
					if users == nil {
						if users, err = rt.store.Users(run.WorkspaceID); err != nil {
							b.Close()
							return nil, err
						}
					}
					after, ch, changed, err = engine.SetContactOwner(next, &owner, users, nil, engine.NewID(now), now)
					res[i].Detail = owner.String()
				}
				switch {
				case err != nil:
					res[i].Result, res[i].Detail = "failed", err.Error()
					err = nil
				case !changed:
					res[i].Result = "unchanged"
				default:
					res[i].Result = "done"
					next = after
					c := ch
					b.PutContactChange(&c)
					ev := rt.contactEvent(engine.EventContactUpdated, &after)
					ev.ContactChange, ev.Automation = &c, run.Chain()
					evs = append(evs, ev)
				}
			}
			fin := engine.FinishAutomationRun(*run, res, now)
			b.FinishAutomationRun(&fin)
			fins = append(fins, fin)
		}
		state := a.c
		if len(evs) > 0 {
			b.PutContact(a.c, &next)
			state = &next
			for i := range evs {
				evs[i].Data = &next
			}
		}
		if err := a.commit(b, state, evs...); err != nil {
			return nil, err
		}
		return fins, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]engine.AutomationRun), nil
}

// sweepNoReply starts the no_reply rules on the open conversations whose
// customer has waited for their hours.
func (r *automationRunner) sweepNoReply(ctx context.Context) {
	r.cacheMu.RLock()
	hours := map[engine.ID][]int{}
	for ws, rules := range r.rules {
		for _, a := range rules {
			if a.Enabled && a.Trigger.Type == engine.TriggerNoReply && !slices.Contains(hours[ws], a.Trigger.Hours) {
				hours[ws] = append(hours[ws], a.Trigger.Hours)
			}
		}
	}
	r.cacheMu.RUnlock()
	now := r.rt.clock.Now()
	p := r.newPlan()
	defer r.commitAndApply(ctx, p)
	for ws, hs := range hours {
		q := persistence.ListQuery{Folder: engine.FolderOpen, Limit: 500}
		for read := 0; read < noReplyScan; read += q.Limit {
			page, err := r.rt.store.List(ws, q)
			if err != nil {
				r.rt.log.Error("Listing conversations for no_reply automations", "workspace", ws, "err", err)
				break
			}
			for i := range page.Conversations {
				for _, h := range hs {
					if t, ok := engine.NoReplyDue(&page.Conversations[i], h, now); ok {
						r.trigger(p, ws, t)
					}
				}
			}
			if page.NextCursor == "" || ctx.Err() != nil {
				break
			}
			q.Cursor = page.NextCursor
		}
	}
}

// Automations returns the rules of workspace ws, oldest first.
func (rt *Runtime) Automations(ws engine.ID) []engine.Automation {
	return rt.autos.rulesOf(ws)
}

// Automation returns rule id of workspace ws.
func (rt *Runtime) Automation(ws, id engine.ID) (engine.Automation, error) {
	for _, a := range rt.autos.rulesOf(ws) {
		if a.ID == id {
			return a, nil
		}
	}
	return engine.Automation{}, ErrAutomationNotFound
}

// checkAutomationRefs checks that the stages and users body names are
// the workspace's.
func (rt *Runtime) checkAutomationRefs(ws engine.ID, body *engine.AutomationBody) error {
	ps, err := rt.Pipelines(ws)
	if err != nil {
		return err
	}
	users, err := rt.store.Users(ws)
	if err != nil {
		return err
	}
	isUser := func(id engine.ID) bool {
		return slices.ContainsFunc(users, func(u engine.User) bool { return u.ID == id })
	}
	stage := func(s string) error {
		if _, _, ok := engine.FindStage(ps, mustID(s)); !ok {
			return fmt.Errorf("%w: no stage %s in the workspace's pipelines", engine.ErrInvalid, s)
		}
		return nil
	}
	if body.Trigger.StageID != "" {
		if err := stage(body.Trigger.StageID); err != nil {
			return err
		}
	}
	for _, c := range body.Conditions {
		if c.Kind == engine.CondStage {
			if err := stage(c.Value); err != nil {
				return err
			}
		}
		if c.Kind == engine.CondSegment {
			if _, err := rt.Segment(ws, mustID(c.Value)); err != nil {
				return fmt.Errorf("%w: no segment %s in the workspace", engine.ErrInvalid, c.Value)
			}
		}
	}
	for _, a := range body.Actions {
		switch a.Type {
		case engine.ActionSetStage:
			if err := stage(a.StageID); err != nil {
				return err
			}
		case engine.ActionAssignOwner:
			for _, u := range a.Users {
				if !isUser(u) {
					return fmt.Errorf("%w: user %s is not in the workspace", engine.ErrInvalid, u)
				}
			}
		case engine.ActionSendCanned:
			if _, err := rt.store.CannedReply(ws, mustID(a.CannedID)); err != nil {
				return fmt.Errorf("%w: no canned reply %s in the workspace", engine.ErrInvalid, a.CannedID)
			}
		case engine.ActionAssignTeam:
			if _, err := rt.store.Team(ws, mustID(a.TeamID)); err != nil {
				return fmt.Errorf("%w: no team %s in the workspace", engine.ErrInvalid, a.TeamID)
			}
		case engine.ActionAssignConversation, engine.ActionNotifyUser:
			if !isUser(mustID(a.UserID)) {
				return fmt.Errorf("%w: user %s is not in the workspace", engine.ErrInvalid, a.UserID)
			}
		}
	}
	return nil
}

// SaveAutomation creates rule body in ws (id zero) or replaces rule id.
func (rt *Runtime) SaveAutomation(ws, id engine.ID, body engine.AutomationBody, preset string) (engine.Automation, error) {
	if err := rt.checkAutomationRefs(ws, &body); err != nil {
		return engine.Automation{}, err
	}
	r := rt.autos
	r.mu.Lock()
	defer r.mu.Unlock()
	rules := r.rules[ws]
	now := rt.clock.Now().UTC()
	var old engine.Automation
	idx := -1
	if id != engine.ZeroID {
		idx = slices.IndexFunc(rules, func(a engine.Automation) bool { return a.ID == id })
		if idx < 0 {
			return engine.Automation{}, ErrAutomationNotFound
		}
		old = rules[idx]
	} else if len(rules) >= engine.MaxAutomations {
		return engine.Automation{}, ErrTooManyAutomations
	}
	a := engine.ApplyAutomationBody(old, body, engine.NewID(now), ws, now)
	if preset != "" {
		a.Preset = preset
	}
	b := rt.store.NewBatch()
	b.PutAutomation(&a)
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return engine.Automation{}, fmt.Errorf("committing an automation: %w", err)
	}
	next := slices.Clone(rules)
	if idx >= 0 {
		next[idx] = a
	} else {
		next = append(next, a)
	}
	r.cacheMu.Lock()
	r.rules[ws] = next
	r.cacheMu.Unlock()
	return a, nil
}

// SetAutomationEnabled turns rule id on or off.
func (rt *Runtime) SetAutomationEnabled(ws, id engine.ID, on bool) (engine.Automation, error) {
	a, err := rt.Automation(ws, id)
	if err != nil {
		return a, err
	}
	body := engine.AutomationBody{Name: a.Name, Enabled: &on, Trigger: a.Trigger, Conditions: a.Conditions, Actions: a.Actions}
	return rt.SaveAutomation(ws, id, body, "")
}

// DeleteAutomation removes rule id with its log and its pending runs
// (one being applied records nothing: its rule is gone).
func (rt *Runtime) DeleteAutomation(ws, id engine.ID) error {
	r := rt.autos
	r.mu.Lock()
	defer r.mu.Unlock()
	rules := r.rules[ws]
	idx := slices.IndexFunc(rules, func(a engine.Automation) bool { return a.ID == id })
	if idx < 0 {
		return ErrAutomationNotFound
	}
	pending, err := rt.store.AutomationPending(ws)
	if err != nil {
		return err
	}
	b := rt.store.NewBatch()
	b.DeleteAutomation(ws, id)
	for _, run := range pending {
		if run.RuleID == id {
			b.DeleteAutomationPending(ws, run.ID)
		}
	}
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("deleting an automation: %w", err)
	}
	r.cacheMu.Lock()
	r.rules[ws] = slices.Delete(slices.Clone(rules), idx, idx+1)
	r.cacheMu.Unlock()
	return nil
}

// AutomationRuns returns a page of rule id's run log, newest first.
func (rt *Runtime) AutomationRuns(ws, id engine.ID, cursor string, limit int) ([]engine.AutomationRun, string, error) {
	if _, err := rt.Automation(ws, id); err != nil {
		return nil, "", err
	}
	return rt.store.AutomationRuns(ws, id, cursor, limit)
}

// CheckNoReply asks the runner for a no_reply sweep now (the sweep also
// runs every minute on the runtime's clock).
func (rt *Runtime) CheckNoReply() {
	select {
	case rt.autos.noReplyQ <- struct{}{}:
	default:
	}
}
