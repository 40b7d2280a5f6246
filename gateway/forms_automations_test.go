package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// A public form submission makes a contact, and the two one-click rules
// give it its owner (round-robin between two people) and its starting
// stage; a rule on the form's own trigger runs once per submission, and a
// second submission of a known email updates the contact without making
// it new again (issue 17's end-to-end case, over HTTP against the real
// server).
func TestFormSubmissionRunsAutomations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a1 := e.addUser("form-auto-a1@example.com", engine.RoleAgent, "form auto pw 1")
	a2 := e.addUser("form-auto-a2@example.com", engine.RoleAgent, "form auto pw 2")
	stages := e.pipelines(ownerToken)[0].Stages
	start, won := stages[0].ID, stages[len(stages)-1].ID

	code, body := e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "assign_owners", "users": []engine.ID{a1.User.ID, a2.User.ID}})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/automations/presets", ownerToken, map[string]any{"preset": "starting_stage", "stage_id": start})
	require.Equal(t, http.StatusCreated, code, string(body))

	f := e.addForm(ownerToken, map[string]any{"name": "Book a demo",
		"fields": []map[string]any{{"key": "name", "required": true}, {"key": "email", "required": true}}})
	other := e.addForm(ownerToken, map[string]any{"name": "Newsletter", "fields": []map[string]any{{"key": "email", "required": true}}})
	// A rule on the demo form alone counts its submissions.
	code, body = e.api("POST", "/api/v1/automations", ownerToken, map[string]any{"name": "Demo asked",
		"trigger": map[string]any{"type": "form_submitted", "form_id": f.ID.String()},
		"actions": []map[string]any{{"type": "set_priority"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	demoRule := decodeAs[engine.Automation](t, body)

	var ids []engine.ID
	for i := range 3 {
		email := fmt.Sprintf("lead%d@example.com", i)
		code, body := e.submitForm(f, "", map[string]any{"values": map[string]string{"name": fmt.Sprintf("Lead %d", i), "email": email}})
		require.Equal(t, http.StatusCreated, code, string(body))
		got := e.contactIDs(ownerToken, "q="+email)
		require.Len(t, got, 1, email)
		ids = append(ids, got[0])
	}
	want := []engine.ID{a1.User.ID, a2.User.ID, a1.User.ID}
	for i, id := range ids {
		eventually(t, 10*time.Second, func() error {
			c := e.autoContact(id)
			if c.OwnerID == nil || c.Stage == nil {
				return fmt.Errorf("contact %d: owner %v stage %v", i, c.OwnerID, c.Stage)
			}
			return nil
		})
		c := e.autoContact(id)
		require.Equal(t, engine.SourceForm, c.Source)
		require.Equal(t, want[i], *c.OwnerID, "contact %d's owner, round-robin", i)
		require.Equal(t, start, c.Stage.StageID, "contact %d's starting stage", i)
	}

	// The first contact moves on; submitting again with its email updates
	// it, and neither its owner nor its stage is set again.
	code, body = e.api("POST", "/api/v1/contacts/"+ids[0].String()+"/stage", ownerToken, map[string]any{"stage_id": won})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.submitForm(f, "", map[string]any{"values": map[string]string{"name": "Lead Zero", "email": "LEAD0@example.com"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	// And a submission of the other form is not the demo rule's.
	code, body = e.submitForm(other, "", map[string]any{"values": map[string]string{"email": "reader@example.com"}})
	require.Equal(t, http.StatusCreated, code, string(body))

	eventually(t, 10*time.Second, func() error {
		if n := len(e.automationRuns(demoRule.ID, "limit=50").Runs); n != 4 {
			return fmt.Errorf("the demo rule ran %d times, want 4 (one per submission of its form)", n)
		}
		return nil
	})
	for _, run := range e.automationRuns(demoRule.ID, "limit=50").Runs {
		require.Equal(t, engine.TriggerFormSubmitted, run.Trigger.Type)
		require.Equal(t, f.ID.String(), run.Trigger.FormID)
	}
	reader := e.contactIDs(ownerToken, "q=reader@example.com")
	require.Len(t, reader, 1)
	eventually(t, 10*time.Second, func() error {
		if c := e.autoContact(reader[0]); c.OwnerID == nil || *c.OwnerID != a2.User.ID {
			return fmt.Errorf("the newsletter contact's owner is %v, want the second person's turn", c.OwnerID)
		}
		return nil
	})
	c := e.autoContact(ids[0])
	require.Equal(t, "Lead Zero", c.Profile.Name, "the second submission updated the contact")
	require.Equal(t, a1.User.ID, *c.OwnerID, "an updated contact keeps its owner")
	require.Equal(t, won, c.Stage.StageID, "an updated contact is not put back in the starting stage")
}
