package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

type automationRunsPage struct {
	Runs       []engine.AutomationRun `json:"runs"`
	NextCursor string                 `json:"next_cursor"`
}

func (e *env) autoContact(id engine.ID) engine.Contact {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts/"+id.String(), ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[engine.Contact](e.t, body)
}

func (e *env) automationRuns(rule engine.ID, query string) automationRunsPage {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/automations/"+rule.String()+"/runs?"+query, ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[automationRunsPage](e.t, body)
}

// The seed's two one-click cases over HTTP: with the assign_owners and
// starting_stage presets, each new contact (by the API, or a new chat
// user) gets its owner round-robin across two users and the starting
// stage, once; the run logs say so, page by page; bad bodies are 400
// JSON errors that store nothing, agents may read but not manage.
func TestAutomationsOneClickPresets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a1 := e.addUser("auto-a1@example.com", engine.RoleAgent, "auto agent pw 1")
	a2 := e.addUser("auto-a2@example.com", engine.RoleAgent, "auto agent pw 2")
	stage := e.pipelines(ownerToken)[0].Stages[0].ID

	for _, bad := range []string{
		`{"preset":"assign_owners","users":[]}`,
		`{"preset":"nope"}`,
		`{"preset":"starting_stage","stage_id":"` + engine.NewID(time.Now()).String() + `"}`,
		`{"preset":"assign_owners","users":["` + engine.NewID(time.Now()).String() + `"]}`,
		`{"name":"x"`,
	} {
		code, body := e.api("POST", "/api/v1/automations/presets", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, bad+": "+string(body))
		require.NotEmpty(t, errorCode(t, body))
	}
	code, body := e.api("POST", "/api/v1/automations", ownerToken, `{"name":"x","trigger":{"type":"contact_created"},"actions":[{"type":"set_stage","stage_id":"`+stage.String()+`","tag":"x"}]}`)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = e.api("POST", "/api/v1/automations/presets", a1.Token, map[string]any{"preset": "starting_stage", "stage_id": stage})
	require.Equal(t, http.StatusForbidden, code, string(body))
	code, body = e.api("GET", "/api/v1/automations", a1.Token, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"automations":[]}`, string(body))

	code, body = e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "assign_owners", "users": []engine.ID{a1.User.ID, a2.User.ID}})
	require.Equal(t, http.StatusCreated, code, string(body))
	owners := decodeAs[engine.Automation](t, body)
	require.Equal(t, engine.PresetAssignOwners, owners.Preset)
	code, body = e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "starting_stage", "stage_id": stage})
	require.Equal(t, http.StatusCreated, code, string(body))
	stageRule := decodeAs[engine.Automation](t, body)

	var ids []engine.ID
	for i := range 4 {
		code, body := e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": fmt.Sprintf("Lead %d", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
		ids = append(ids, decodeAs[engine.Contact](t, body).ID)
	}
	// A new chat user's contact is new too.
	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.auto1", "15550009999", "Chat Lead", "hello"))
	require.Equal(t, http.StatusOK, code)
	ids = append(ids, e.conv(e.thread(engine.ChannelWhatsApp, phoneID, "15550009999")).ContactID)

	want := []engine.ID{a1.User.ID, a2.User.ID, a1.User.ID, a2.User.ID, a1.User.ID}
	for i, id := range ids {
		eventually(t, 10*time.Second, func() error {
			c := e.autoContact(id)
			if c.OwnerID == nil || c.Stage == nil {
				return fmt.Errorf("contact %d: owner %v stage %v", i, c.OwnerID, c.Stage)
			}
			return nil
		})
		c := e.autoContact(id)
		require.Equal(t, want[i], *c.OwnerID, "contact %d", i)
		require.Equal(t, stage, c.Stage.StageID)
	}

	page := e.automationRuns(owners.ID, "limit=3")
	require.Len(t, page.Runs, 3)
	require.NotEmpty(t, page.NextCursor)
	rest := e.automationRuns(owners.ID, "limit=3&cursor="+page.NextCursor)
	require.Len(t, rest.Runs, 2)
	require.Empty(t, rest.NextCursor)
	seen := map[engine.ID]bool{}
	for _, r := range append(page.Runs, rest.Runs...) {
		require.Equal(t, engine.RunDone, r.Outcome)
		require.Equal(t, "done", r.Results[0].Result)
		require.False(t, seen[r.Trigger.ContactID], "a contact ran twice")
		seen[r.Trigger.ContactID] = true
	}
	require.Equal(t, ids[0], rest.Runs[1].Trigger.ContactID, "newest first")
	require.Len(t, e.automationRuns(stageRule.ID, "").Runs, 5)
	code, body = e.api("GET", "/api/v1/automations/"+owners.ID.String()+"/runs?cursor=zz", ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))

	// Turned off, a rule does nothing.
	code, body = e.api("PATCH", "/api/v1/automations/"+owners.ID.String(), ownerToken, map[string]any{"enabled": false})
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[engine.Automation](t, body).Enabled)
	code, body = e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Late lead"})
	require.Equal(t, http.StatusCreated, code, string(body))
	late := decodeAs[engine.Contact](t, body).ID
	eventually(t, 10*time.Second, func() error {
		if e.autoContact(late).Stage == nil {
			return fmt.Errorf("no stage yet")
		}
		return nil
	})
	require.Nil(t, e.autoContact(late).OwnerID)

	code, _ = e.api("DELETE", "/api/v1/automations/"+owners.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("GET", "/api/v1/automations/"+owners.ID.String()+"/runs", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// "No reply for N hours" fires through the runtime's clock: nothing
// before the hours have passed, the tag once after, and not again on the
// next sweeps.
func TestAutomationNoReplyFiresOnTheClock(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, func(c *actors.Config) { c.Clock = clock })
	code, body := e.api("POST", "/api/v1/automations", ownerToken, map[string]any{
		"name": "Chase after 2 hours", "trigger": map[string]any{"type": "no_reply", "hours": 2},
		"conditions": []map[string]any{{"kind": "channel", "value": "whatsapp"}},
		"actions":    []map[string]any{{"type": "add_tag", "tag": "waiting"}, {"type": "set_priority"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	rule := decodeAs[engine.Automation](t, body)

	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.nr1", "15550007777", "Waiting", "anyone there?"))
	require.Equal(t, http.StatusOK, code)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550007777")

	wrote := clock.Now()
	clock.Advance(time.Hour + 59*time.Minute)
	e.rt.CheckNoReply() // a sweep before the two hours: nothing due

	clock.Advance(2 * time.Minute) // the minute's sweep is due
	eventually(t, 10*time.Second, func() error {
		if c := e.conv(conv); !c.HasTag("waiting") {
			return fmt.Errorf("not tagged yet")
		}
		if len(e.automationRuns(rule.ID, "").Runs) != 1 {
			return fmt.Errorf("run not recorded yet")
		}
		return nil
	})
	after := e.conv(conv)
	require.True(t, after.HasTag(engine.PriorityTag))
	clock.Advance(time.Minute)
	e.rt.CheckNoReply()
	clock.Advance(time.Minute)
	runs := e.automationRuns(rule.ID, "").Runs
	require.Len(t, runs, 1)
	require.Equal(t, engine.TriggerNoReply, runs[0].Trigger.Type)
	require.Equal(t, conv, runs[0].Trigger.ConversationID)
	require.False(t, runs[0].At.Before(wrote.Add(2*time.Hour)), "ran at %v, before the two hours", runs[0].At)
}

// A token of workspace B gets 404 for A's rule on every rule route, and
// the rule stays as it was; B's list is empty.
func TestAutomationsWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	stage := e.pipelines(ownerToken)[0].Stages[1].ID
	code, body := e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "starting_stage", "stage_id": stage})
	require.Equal(t, http.StatusCreated, code, string(body))
	rule := decodeAs[engine.Automation](t, body)
	e.newWorkspace("pk_workspace_b")
	id := rule.ID.String()
	for _, r := range [][3]string{
		{"GET", "/api/v1/automations/" + id, ""},
		{"PUT", "/api/v1/automations/" + id, `{"name":"x","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority"}]}`},
		{"PATCH", "/api/v1/automations/" + id, `{"enabled":false}`},
		{"GET", "/api/v1/automations/" + id + "/runs", ""},
		{"DELETE", "/api/v1/automations/" + id, ""},
	} {
		var b any
		if r[2] != "" {
			b = r[2]
		}
		code, body := e.api(r[0], r[1], "pk_workspace_b", b)
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r[0], r[1], body)
	}
	code, body = e.api("GET", "/api/v1/automations", "pk_workspace_b", nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"automations":[]}`, string(body))
	code, body = e.api("GET", "/api/v1/automations/"+id, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, rule, decodeAs[engine.Automation](t, body))
}

// The other triggers over HTTP: a form submission as the forms publish it
// (form.submitted after their commit, a new contact) starts the
// form_submitted rule of its form and the contact_created rules of
// source form; a stage change by a person starts stage_changed into that
// stage; a customer's new conversation starts conversation_opened, with
// a condition on its channel, and its rule tags and assigns it.
func TestAutomationTriggersOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a1 := e.addUser("auto-t1@example.com", engine.RoleAgent, "auto agent pw 1")
	a2 := e.addUser("auto-t2@example.com", engine.RoleAgent, "auto agent pw 2")
	stages := e.pipelines(ownerToken)[0].Stages
	create := func(body map[string]any) engine.Automation {
		t.Helper()
		code, b := e.api("POST", "/api/v1/automations", ownerToken, body)
		require.Equal(t, http.StatusCreated, code, string(b))
		return decodeAs[engine.Automation](t, b)
	}
	formRule := create(map[string]any{"name": "Form leads", "trigger": map[string]any{"type": "form_submitted", "form_id": "demo"},
		"actions": []map[string]any{{"type": "set_stage", "stage_id": stages[1].ID}}})
	fromForms := create(map[string]any{"name": "Form contacts get an owner", "trigger": map[string]any{"type": "contact_created", "source": "form"},
		"actions": []map[string]any{{"type": "assign_owner", "strategy": "least_loaded", "users": []engine.ID{a1.User.ID, a2.User.ID}}}})
	create(map[string]any{"name": "Customers go to a2", "trigger": map[string]any{"type": "stage_changed", "stage_id": stages[2].ID},
		"actions": []map[string]any{{"type": "assign_owner", "strategy": "round_robin", "users": []engine.ID{a2.User.ID}}}})
	opened := create(map[string]any{"name": "WhatsApp chats", "trigger": map[string]any{"type": "conversation_opened"},
		"conditions": []map[string]any{{"kind": "channel", "value": "whatsapp"}},
		"actions":    []map[string]any{{"type": "add_tag", "tag": "wa"}, {"type": "assign_conversation", "user_id": a1.User.ID}}})

	// A form's new contact: the forms store it, then publish.
	code, body := e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Form person"})
	require.Equal(t, http.StatusCreated, code, string(body))
	ct := decodeAs[engine.Contact](t, body).ID
	e.rt.Broadcaster().Publish([]engine.Event{{Type: engine.EventFormSubmitted, WorkspaceID: e.ws, At: time.Now(),
		Data: map[string]any{"form_id": "demo", "submission_id": "sub-1", "contact_id": ct.String(), "created": true}}})
	eventually(t, 10*time.Second, func() error {
		c := e.autoContact(ct)
		if c.Stage == nil || c.Stage.StageID != stages[1].ID || c.OwnerID == nil {
			return fmt.Errorf("stage %v owner %v", c.Stage, c.OwnerID)
		}
		return nil
	})
	require.Equal(t, a1.User.ID, *e.autoContact(ct).OwnerID, "least loaded: both own none, the first")
	require.Len(t, e.automationRuns(formRule.ID, "").Runs, 1)
	require.Len(t, e.automationRuns(fromForms.ID, "").Runs, 1)
	// The same submission published again runs nothing again.
	e.rt.Broadcaster().Publish([]engine.Event{{Type: engine.EventFormSubmitted, WorkspaceID: e.ws, At: time.Now(),
		Data: map[string]any{"form_id": "demo", "submission_id": "sub-1", "contact_id": ct.String(), "created": true}}})

	// A person moves the contact to Customer: its owner becomes a2.
	e.setStage(ownerToken, ct, stages[2].ID)
	eventually(t, 10*time.Second, func() error {
		if c := e.autoContact(ct); c.OwnerID == nil || *c.OwnerID != a2.User.ID {
			return fmt.Errorf("owner %v", c.OwnerID)
		}
		return nil
	})

	// A customer writes on WhatsApp: the conversation is tagged and
	// assigned.
	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.open1", "15550006666", "Opener", "hello"))
	require.Equal(t, http.StatusOK, code)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550006666")
	eventually(t, 10*time.Second, func() error {
		if c := e.conv(conv); !c.HasTag("wa") || c.AssigneeID != a1.User.ID.String() {
			return fmt.Errorf("tags %v assignee %q", c.Tags, c.AssigneeID)
		}
		return nil
	})
	// Messenger is not WhatsApp: no run (the runner reads events in
	// order, so the next WhatsApp run comes after it was passed over).
	fb := e.say(engine.ChannelMessenger, "mid.open2", "psid-open-2")
	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.open3", "15550006667", "Opener 2", "hello"))
	require.Equal(t, http.StatusOK, code)
	eventually(t, 10*time.Second, func() error {
		if n := len(e.automationRuns(opened.ID, "").Runs); n != 2 {
			return fmt.Errorf("%d runs", n)
		}
		return nil
	})
	for _, r := range e.automationRuns(opened.ID, "").Runs {
		require.NotEqual(t, fb, r.Trigger.ConversationID)
		if r.Trigger.ConversationID == conv {
			require.Equal(t, []string{"done", "done"}, []string{r.Results[0].Result, r.Results[1].Result})
		}
	}
	fbc := e.conv(fb)
	require.False(t, fbc.HasTag("wa"))
	require.Len(t, e.automationRuns(formRule.ID, "").Runs, 1, "the submission ran once")
}

// A restart in the middle of a run, over HTTP: the store holds a run
// planned before the stop (pending, with the owner its round-robin
// chose and the round-robin moved on, as a crash after the plan's commit
// leaves it); the next start applies it once: the contact gets that
// owner, its activity has one owner change, the run log one run; another
// restart changes nothing, and the round-robin goes on from there. The
// clock is the runtime's fake one.
func TestAutomationRestartMidwayOverHTTP(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, func(c *actors.Config) { c.Clock = clock })
	a1 := e.addUser("auto-r1@example.com", engine.RoleAgent, "auto agent pw 1")
	a2 := e.addUser("auto-r2@example.com", engine.RoleAgent, "auto agent pw 2")
	code, body := e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "assign_owners", "users": []engine.ID{a1.User.ID, a2.User.ID}})
	require.Equal(t, http.StatusCreated, code, string(body))
	rule := decodeAs[engine.Automation](t, body)
	code, body = e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "First"})
	require.Equal(t, http.StatusCreated, code, string(body))
	first := decodeAs[engine.Contact](t, body).ID
	eventually(t, 10*time.Second, func() error {
		if c := e.autoContact(first); c.OwnerID == nil || *c.OwnerID != a1.User.ID {
			return fmt.Errorf("owner %v", c.OwnerID)
		}
		return nil
	})

	// What a crash after the plan's commit leaves: the contact (no owner
	// yet), the pending run with a2 chosen, the round-robin at a2.
	e.stop()
	store, err := persistence.Open(persistence.Options{Dir: e.dir + "/db"})
	require.NoError(t, err)
	now := clock.Now()
	second := engine.Contact{ID: engine.NewID(now), WorkspaceID: e.ws, Profile: engine.Profile{Name: "Second"}, Source: engine.SourceAPI, CreatedAt: now, UpdatedAt: now}
	tr := engine.AutomationTrigger{Type: engine.TriggerContactCreated, Key: "contact:" + second.ID.String(), ContactID: second.ID, Source: engine.SourceAPI}
	run := engine.PlanAutomation(&rule, tr, map[int]engine.ID{0: a2.User.ID}, engine.NewID(now), now)
	b := store.NewBatch()
	b.PutContact(nil, &second)
	b.PutAutomationPending(&run)
	b.SetAutomationCursor(e.ws, rule.ID, 0, a2.User.ID)
	require.NoError(t, store.Commit(b))
	require.NoError(t, store.Close())

	e.start()
	eventually(t, 10*time.Second, func() error {
		if c := e.autoContact(second.ID); c.OwnerID == nil {
			return fmt.Errorf("no owner yet")
		}
		return nil
	})
	require.Equal(t, a2.User.ID, *e.autoContact(second.ID).OwnerID)
	ownerChanges := func() int {
		changes, err := e.store.ContactChanges(e.ws, second.ID)
		require.NoError(t, err)
		n := 0
		for _, ch := range changes {
			if ch.Kind == engine.ChangeOwner {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, ownerChanges())
	require.Len(t, e.automationRuns(rule.ID, "").Runs, 2)
	pending, err := e.store.AutomationPending(e.ws)
	require.NoError(t, err)
	require.Empty(t, pending)

	e.stop()
	e.start()
	clock.Advance(time.Minute) // a sweep: nothing to do
	code, body = e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Third"})
	require.Equal(t, http.StatusCreated, code, string(body))
	third := decodeAs[engine.Contact](t, body).ID
	eventually(t, 10*time.Second, func() error {
		if c := e.autoContact(third); c.OwnerID == nil {
			return fmt.Errorf("no owner yet")
		}
		return nil
	})
	require.Equal(t, a1.User.ID, *e.autoContact(third).OwnerID, "the round-robin went on from a2")
	require.Equal(t, 1, ownerChanges())
	require.Len(t, e.automationRuns(rule.ID, "").Runs, 3)
}
