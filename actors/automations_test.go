package actors_test

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// autoWorkspace writes h's workspace and two users, and returns the
// users.
func autoWorkspace(h *harness) (engine.ID, engine.ID) {
	h.t.Helper()
	u1, u2 := engine.NewID(t0), engine.NewID(t0)
	b := h.store.NewBatch()
	b.PutWorkspace(&engine.Workspace{ID: h.ws, Name: "Auto", CreatedAt: t0})
	b.PutUser(&engine.User{ID: u1, WorkspaceID: h.ws, Name: "One", Role: engine.RoleAgent, CreatedAt: t0})
	b.PutUser(&engine.User{ID: u2, WorkspaceID: h.ws, Name: "Two", Role: engine.RoleAgent, CreatedAt: t0})
	require.NoError(h.t, h.store.Commit(b))
	return u1, u2
}

func (h *harness) preset(name string, users []engine.ID, stage engine.ID) engine.Automation {
	h.t.Helper()
	body, err := engine.AutomationPreset(name, users, stage)
	require.NoError(h.t, err)
	a, err := h.rt.SaveAutomation(h.ws, engine.ZeroID, body, name)
	require.NoError(h.t, err)
	return a
}

func (h *harness) newContact(name string) engine.ID {
	h.t.Helper()
	c, err := h.rt.CreateContact(h.t.Context(), engine.Contact{ID: engine.NewID(t0), WorkspaceID: h.ws,
		Profile: engine.Profile{Name: name}, Source: engine.SourceAPI, CreatedAt: t0, UpdatedAt: t0})
	require.NoError(h.t, err)
	return c.ID
}

func (h *harness) runs(rule engine.ID) []engine.AutomationRun {
	h.t.Helper()
	runs, _, err := h.rt.AutomationRuns(h.ws, rule, "", 100)
	require.NoError(h.t, err)
	return runs
}

// A stop between a run's plan and its actions leaves it pending; the
// next start applies it once: the contact gets the owner the
// round-robin chose before the stop and its stage, each change once in
// its activity, one run in each log, and the round-robin goes on from
// there (the next contact gets the other user). Another restart does
// nothing more.
func TestAutomationRestartMidwayRunsOnce(t *testing.T) {
	h := newHarness(t, nil)
	u1, u2 := autoWorkspace(h)
	ps, err := h.rt.Pipelines(h.ws)
	require.NoError(t, err)
	stage := ps[0].Stages[0].ID
	owners := h.preset(engine.PresetAssignOwners, []engine.ID{u1, u2}, engine.ZeroID)
	stageRule := h.preset(engine.PresetStartingStage, nil, stage)

	var stopped atomic.Int32
	actors.SetAutomationStop(t, func(run *engine.AutomationRun) bool {
		stopped.Add(1)
		return true
	})
	first := h.newContact("First")
	eventually(t, 5*time.Second, func() error {
		if n := stopped.Load(); n != 2 {
			return fmt.Errorf("%d runs planned", n)
		}
		return nil
	})
	pending, err := h.store.AutomationPending(h.ws)
	require.NoError(t, err)
	require.Len(t, pending, 2)
	c, err := h.store.Contact(h.ws, first)
	require.NoError(t, err)
	require.Nil(t, c.OwnerID, "nothing applied before the stop")

	actors.SetAutomationStop(t, nil)
	h.restart()
	eventually(t, 5*time.Second, func() error {
		if p, _ := h.store.AutomationPending(h.ws); len(p) != 0 {
			return fmt.Errorf("%d runs pending", len(p))
		}
		return nil
	})
	c, err = h.store.Contact(h.ws, first)
	require.NoError(t, err)
	require.Equal(t, u1, *c.OwnerID)
	require.Equal(t, stage, c.Stage.StageID)
	check := func() {
		t.Helper()
		changes, err := h.store.ContactChanges(h.ws, first)
		require.NoError(t, err)
		require.Len(t, changes, 2, "one owner change and one stage change")
		for _, rule := range []engine.ID{owners.ID, stageRule.ID} {
			n := 0
			for _, r := range h.runs(rule) {
				if r.Trigger.ContactID == first {
					n++
				}
			}
			require.Equal(t, 1, n, "runs of the first contact")
		}
	}
	check()
	run := h.runs(owners.ID)[0]
	require.Len(t, h.runs(owners.ID), 1)
	require.Equal(t, engine.RunDone, run.Outcome)
	require.Equal(t, u1.String(), run.Results[0].Detail)

	second := h.newContact("Second")
	eventually(t, 5*time.Second, func() error {
		c, err := h.store.Contact(h.ws, second)
		if err != nil || c.OwnerID == nil {
			return fmt.Errorf("no owner yet (%v)", err)
		}
		return nil
	})
	c, err = h.store.Contact(h.ws, second)
	require.NoError(t, err)
	require.Equal(t, u2, *c.OwnerID, "the round-robin moved once for the first contact")

	h.restart()
	h.advance(time.Minute) // a sweep; nothing is pending
	check()
}

// Deleting a rule removes its pending runs: after a restart nothing of
// it is applied and nothing of it is left.
func TestAutomationDeletedRuleLeavesNothing(t *testing.T) {
	h := newHarness(t, nil)
	u1, u2 := autoWorkspace(h)
	owners := h.preset(engine.PresetAssignOwners, []engine.ID{u1, u2}, engine.ZeroID)
	var stopped atomic.Int32
	actors.SetAutomationStop(t, func(*engine.AutomationRun) bool { stopped.Add(1); return true })
	ct := h.newContact("Pending")
	eventually(t, 5*time.Second, func() error {
		if stopped.Load() != 1 {
			return fmt.Errorf("not planned yet")
		}
		return nil
	})
	require.NoError(t, h.rt.DeleteAutomation(h.ws, owners.ID))
	pending, err := h.store.AutomationPending(h.ws)
	require.NoError(t, err)
	require.Empty(t, pending)
	actors.SetAutomationStop(t, nil)
	h.restart()
	c, err := h.store.Contact(h.ws, ct)
	require.NoError(t, err)
	require.Nil(t, c.OwnerID)
	_, _, err = h.rt.AutomationRuns(h.ws, owners.ID, "", 10)
	require.ErrorIs(t, err, actors.ErrAutomationNotFound)
	require.Empty(t, h.rt.Automations(h.ws))
}

// A rule whose action triggers it again (tag added → add a tag) runs
// once and is stopped the second time, recorded as loop_stopped; a
// person's next tag starts it again, once.
func TestAutomationLoopIsStopped(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) { c.Registerer = reg })
	autoWorkspace(h)
	a, err := h.rt.SaveAutomation(h.ws, engine.ZeroID, engine.AutomationBody{Name: "Tag on tag",
		Trigger: engine.AutomationTriggerSpec{Type: engine.TriggerTagAdded},
		Actions: []engine.AutomationAction{{Type: engine.ActionAddTag, Tag: "auto"}}}, "")
	require.NoError(t, err)
	conv := h.say("15550001", "wamid.loop1", "hi")
	h.exec(conv, engine.SetTag{Tag: "vip"})
	eventually(t, 5*time.Second, func() error {
		if len(h.runs(a.ID)) != 2 {
			return fmt.Errorf("%d runs", len(h.runs(a.ID)))
		}
		return nil
	})
	byTag := func() map[string]engine.AutomationRun {
		out := map[string]engine.AutomationRun{}
		for _, r := range h.runs(a.ID) {
			out[r.Trigger.Tag] = r
		}
		return out
	}
	runs := byTag() // the fake clock stands still: order the runs by tag
	require.Equal(t, engine.RunLoopStopped, runs["auto"].Outcome)
	require.Equal(t, []engine.ID{a.ID}, runs["auto"].Trigger.Chain)
	require.Empty(t, runs["auto"].Results)
	require.Equal(t, engine.RunDone, runs["vip"].Outcome)
	require.Empty(t, runs["vip"].Trigger.Chain)
	cv := h.conv(conv)
	require.True(t, cv.HasTag("auto"))
	// The counters move just after the commits the runs are read from.
	eventually(t, 5*time.Second, func() error {
		if v := testutil.ToFloat64(metric(t, reg, "parley_automation_runs_total", "outcome", "done")); v != 1 {
			return fmt.Errorf("%v runs counted done", v)
		}
		if v := testutil.ToFloat64(metric(t, reg, "parley_automation_loops_stopped_total")); v != 1 {
			return fmt.Errorf("%v loops counted", v)
		}
		return nil
	})
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_automation_loops_stopped_total")))
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_automation_runs_total", "outcome", "loop_stopped")))
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_automation_runs_total", "outcome", "done")))
	n, err := testutil.GatherAndCount(reg, "parley_automation_action_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n, "one series: add_tag, observed")

	h.exec(conv, engine.SetTag{Tag: "later"})
	eventually(t, 5*time.Second, func() error {
		if len(h.runs(a.ID)) != 3 {
			return fmt.Errorf("%d runs", len(h.runs(a.ID)))
		}
		return nil
	})
	runs = byTag()
	require.Equal(t, engine.RunDone, runs["later"].Outcome)
	require.Equal(t, "unchanged", runs["later"].Results[0].Result, "auto is there already: no event, no loop")
}

// TestAutomationThroughput measures new contacts per second through the
// runtime with the two one-click rules on (each contact created, then
// given its owner and stage by the rules, every run recorded) against
// the same creations with no rule, and writes the figures to
// bench/results/automations.md. Run it with PARLEY_AUTOMATION_BENCH=1
// (N contacts, default 2000).
func TestAutomationThroughput(t *testing.T) {
	if os.Getenv("PARLEY_AUTOMATION_BENCH") == "" {
		t.Skip("set PARLEY_AUTOMATION_BENCH=1 to measure")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("PARLEY_AUTOMATION_N")); err == nil && v > 0 {
		n = v
	}
	const workers = 8
	run := func(rules bool) (time.Duration, time.Duration) {
		h := newHarness(t, nil)
		u1, u2 := autoWorkspace(h)
		ps, err := h.rt.Pipelines(h.ws)
		require.NoError(t, err)
		stage := ps[0].Stages[0].ID
		if rules {
			h.preset(engine.PresetAssignOwners, []engine.ID{u1, u2}, engine.ZeroID)
			h.preset(engine.PresetStartingStage, nil, stage)
		}
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					h.newContact(fmt.Sprintf("Bench %d", i))
				}
			}()
		}
		wg.Wait()
		created := time.Since(start)
		if rules {
			for {
				in, err := h.store.CountContactsInStage(h.ws, stage, n)
				require.NoError(t, err)
				a, err := h.store.CountContactsOwnedBy(h.ws, u1, n)
				require.NoError(t, err)
				b, err := h.store.CountContactsOwnedBy(h.ws, u2, n)
				require.NoError(t, err)
				if in == n && a+b == n {
					require.Equal(t, n/2, a, "round-robin")
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		return created, time.Since(start)
	}
	// Rounds alternate the two runs, so that a burst of load from
	// elsewhere on a shared machine falls on both; the report gives each
	// round and the median ratio.
	const rounds = 5
	rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	var rows strings.Builder
	ratios := make([]float64, 0, rounds)
	for i := range rounds {
		_, bare := run(false)
		created, done := run(true)
		ratios = append(ratios, rate(done)/rate(bare))
		fmt.Fprintf(&rows, "| %d | %.0f | %.0f | %.0f | %.2f | %s |\n", i+1, rate(bare), rate(created), rate(done), rate(done)/rate(bare), loadAvg())
	}
	slices.Sort(ratios)
	report := fmt.Sprintf(`# Automation throughput

%s, %d CPUs (GOMAXPROCS %d), %s. %d contacts created through
`+"`Runtime.CreateContact`"+` by %d concurrent callers, on a real Pebble store
(synced commits) in a temporary directory, %d rounds each running the
same creations with no rule, then with the two one-click rules
(assign_owners round-robin between two users, starting_stage);
`+"`PARLEY_AUTOMATION_BENCH=1 go test -count=1 -run TestAutomationThroughput ./actors`"+`.

| round | no rule, contacts/s | two rules, contacts created/s | two rules, owner and stage set/s | ratio | load average |
|---|---|---|---|---|---|
%s
Median ratio, contacts with their owner and stage (each run recorded)
per second with the two rules to contacts per second with none: %.2f
(from %.2f to %.2f; the machine is shared with other work, so the
rounds vary). Besides its own commit, a new contact costs its share of
one commit of the runs planned from a buffer of events (the pending
runs with the round-robin state) and one commit in its contact actor
for both rules' changes (the owner and stage, their activity entries,
the runs' records and log entries); runs of different contacts are
applied 16 at a time. The rules' work competes with the creations for
the two cores, so the creations themselves slow down while the rules
run.
`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS+"/"+runtime.GOARCH,
		n, workers, rounds, rows.String(), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	t.Log(report)
	require.NoError(t, os.WriteFile("../bench/results/automations.md", []byte(report), 0o644))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// A stop after the send_canned and notify_user actions of a run were
// done but before the run was recorded: the next start applies the run
// again, finds the message and the note, and neither sends a second
// message nor writes a second note; the run is recorded once, both
// actions "unchanged".
func TestAutomationActionsOnceAcrossRestart(t *testing.T) {
	h := newHarness(t, nil)
	u1, _ := autoWorkspace(h)
	canned := engine.CannedReply{ID: engine.NewID(t0), WorkspaceID: h.ws, ShortCode: "hi", Title: "Hi", Body: "Hello from the team", CreatedAt: t0, UpdatedAt: t0}
	b := h.store.NewBatch()
	b.PutCannedReply(&canned)
	require.NoError(t, h.store.Commit(b))
	body := engine.AutomationBody{Name: "Greet and tell One", Trigger: engine.AutomationTriggerSpec{Type: engine.TriggerContactCreated},
		Actions: []engine.AutomationAction{{Type: engine.ActionSendCanned, CannedID: canned.ID.String()},
			{Type: engine.ActionNotifyUser, UserID: u1.String(), Text: "New lead"}}}
	require.NoError(t, engine.ValidateAutomationBody(&body))
	rule, err := h.rt.SaveAutomation(h.ws, engine.ZeroID, body, "")
	require.NoError(t, err)

	var acted atomic.Int32
	actors.SetAutomationActed(t, func(run *engine.AutomationRun) bool {
		acted.Add(1)
		return true
	})
	conv := h.say("15550001", "wamid.a1", "hello")
	contact := h.conv(conv).ContactID
	eventually(t, 5*time.Second, func() error {
		if acted.Load() != 1 {
			return fmt.Errorf("not acted yet")
		}
		return nil
	})
	sent := func() int {
		n := 0
		for _, m := range h.messages(conv) {
			if m.Direction == engine.DirOut && m.Content.Text == canned.Body {
				require.Equal(t, engine.SenderAI, m.Sender.Kind)
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, sent())
	notes, err := h.store.Notes(h.ws, contact, 10)
	require.NoError(t, err)
	require.Len(t, notes, 1)
	require.Equal(t, []engine.ID{u1}, notes[0].Mentions)
	require.Contains(t, notes[0].Text, "New lead")
	require.Empty(t, h.runs(rule.ID), "not recorded before the stop")

	actors.SetAutomationActed(t, nil)
	h.restart()
	eventually(t, 5*time.Second, func() error {
		if p, _ := h.store.AutomationPending(h.ws); len(p) != 0 {
			return fmt.Errorf("%d runs pending", len(p))
		}
		return nil
	})
	require.Equal(t, 1, sent(), "sent once")
	notes, err = h.store.Notes(h.ws, contact, 10)
	require.NoError(t, err)
	require.Len(t, notes, 1, "notified once")
	runs := h.runs(rule.ID)
	require.Len(t, runs, 1)
	require.Equal(t, engine.RunDone, runs[0].Outcome)
	require.Equal(t, "unchanged", runs[0].Results[0].Result)
	require.Equal(t, "unchanged", runs[0].Results[1].Result)
}

// TestAutomationImportThroughput measures how fast imported contacts go
// through the two one-click rules: one import of n contacts, then the
// time until each has its owner and stage. PARLEY_AUTOMATION_BENCH=1
// runs it.
func TestAutomationImportThroughput(t *testing.T) {
	if os.Getenv("PARLEY_AUTOMATION_BENCH") == "" {
		t.Skip("set PARLEY_AUTOMATION_BENCH=1 to measure")
	}
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("PARLEY_AUTOMATION_N")); err == nil && v > 0 {
		n = v
	}
	h := newHarness(t, nil)
	u1, u2 := autoWorkspace(h)
	ps, err := h.rt.Pipelines(h.ws)
	require.NoError(t, err)
	stage := ps[0].Stages[0].ID
	h.preset(engine.PresetAssignOwners, []engine.ID{u1, u2}, engine.ZeroID)
	h.preset(engine.PresetStartingStage, nil, stage)
	cs := make([]*engine.Contact, n)
	for i := range cs {
		cs[i] = &engine.Contact{ID: engine.NewID(t0), WorkspaceID: h.ws, Profile: engine.Profile{Name: fmt.Sprintf("Imported %d", i)},
			Source: engine.SourceImport, CreatedAt: t0, UpdatedAt: t0}
	}
	start := time.Now()
	const batch = 500 // the import's flush size
	for i := 0; i < n; i += batch {
		require.NoError(t, h.rt.ImportContacts(t.Context(), cs[i:min(i+batch, n)]))
	}
	imported := time.Since(start)
	for {
		in, err := h.store.CountContactsInStage(h.ws, stage, n)
		require.NoError(t, err)
		a, err := h.store.CountContactsOwnedBy(h.ws, u1, n)
		require.NoError(t, err)
		b, err := h.store.CountContactsOwnedBy(h.ws, u2, n)
		require.NoError(t, err)
		if in == n && a+b == n {
			require.Equal(t, n/2, a, "round-robin")
			break
		}
		time.Sleep(100 * time.Millisecond) // counting is a scan: not too often
	}
	done := time.Since(start)
	t.Logf("%d imported contacts: written in %v, owner and stage on all after %v (%.0f contacts/s)", n, imported.Round(time.Millisecond), done.Round(time.Millisecond), float64(n)/done.Seconds())
}
