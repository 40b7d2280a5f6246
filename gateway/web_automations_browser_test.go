package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Automations in the web app: the two one-click cases turn on
// with a click each and a new contact then gets its owner and stage; the
// rule's run log shows the run; a rule is turned off and on; the editor
// adds a rule (trigger, condition, action) and a refused one shows the
// API's error and stores nothing; the editor offers the segment
// condition and the send_canned, notify_user and call_webhook actions;
// an agent sees the rules without the controls. At a desktop's and a phone's width, with axe-core.
func TestWebAutomations(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	agent := e.addUser("auto-web-agent@example.com", engine.RoleAgent, "auto web agent pw")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	rules := func(t *testing.T) []engine.Automation {
		code, body := e.api("GET", "/api/v1/automations", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[struct {
			Automations []engine.Automation `json:"automations"`
		}](t, body).Automations
	}
	rule := func(t *testing.T, name string) engine.Automation {
		rs := rules(t)
		i := slices.IndexFunc(rs, func(a engine.Automation) bool { return a.Name == name })
		require.GreaterOrEqual(t, i, 0, "rule %q", name)
		return rs[i]
	}
	seg := e.createSegment(ownerToken, map[string]any{"name": "Acme people", "conditions": []any{companyIs("Acme")}})
	code, body := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{"short_code": "hello", "title": "Hello", "body": "Hello from Parley"})
	require.Equal(t, http.StatusCreated, code, string(body))
	canned := decodeAs[engine.CannedReply](t, body)
	row := func(id engine.ID) string { return fmt.Sprintf(`#automation-list li.automation[data-id=%q]`, id) }

	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)

		if i == 0 {
			step("the two one-click cases", func(t *testing.T) {
				b.goTo(e.url, "/#settings/automations")
				b.waitJS("the presets", `document.querySelector('#preset-owners') && document.querySelector('#automation-list h3')`)
				// Owners taken in turn between the agent and the owner.
				evalJS[bool](b, `([...document.querySelectorAll('.auto-users input')].forEach((i) => { i.checked = true; }), true)`)
				b.clickJS("Auto-assign owners", "#preset-owners")
				b.waitJS("its row", `document.querySelectorAll('#automation-list li.automation').length === 1`)
				b.clickJS("Set a starting stage", "#preset-stage-on")
				b.waitJS("its row", `document.querySelectorAll('#automation-list li.automation').length === 2`)
				rs := rules(t)
				require.Len(t, rs, 2)
				require.Equal(t, engine.PresetAssignOwners, rs[0].Preset)
				require.Equal(t, engine.PresetStartingStage, rs[1].Preset)
				require.Len(t, rs[0].Actions[0].Users, 2)

				code, body := e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Web lead"})
				require.Equal(t, http.StatusCreated, code, string(body))
				id := decodeAs[engine.Contact](t, body).ID
				eventually(t, 10*time.Second, func() error {
					if c := e.autoContact(id); c.OwnerID == nil || c.Stage == nil {
						return fmt.Errorf("not yet")
					}
					return nil
				})
				b.clickJS("the run log", row(rs[0].ID)+` button[data-act=runs]`)
				b.waitJS("the run", fmt.Sprintf(`document.querySelector('%s tr.automation-run[data-outcome=done][data-contact=%q]')`, row(rs[0].ID), id))
			})
		}

		step("turn a rule off and on", func(t *testing.T) {
			b.goTo(e.url, "/#settings/automations")
			id := rules(t)[0].ID
			b.waitJS("the rule", `document.querySelector('`+row(id)+`')`)
			b.clickJS("turn off", row(id)+` button[data-act=toggle]`)
			b.waitJS("off", `document.querySelector('`+row(id)+`')?.dataset.enabled === 'false'`)
			require.False(t, rules(t)[0].Enabled)
			b.clickJS("turn on", row(id)+` button[data-act=toggle]`)
			b.waitJS("on", `document.querySelector('`+row(id)+`')?.dataset.enabled === 'true'`)
			require.True(t, rules(t)[0].Enabled)
		})

		name := "VIP follow-up " + screen
		step("the editor adds a rule; a refused one stores nothing", func(t *testing.T) {
			const form = `#auto-form-new`
			b.waitJS("the editor", `document.querySelector('`+form+`')`)
			n := len(rules(t))
			b.fill("#auto-name-new", name)
			b.choose("#auto-trigger-new", "tag_added")
			b.waitJS("the tag input", `document.querySelector('`+form+` .t-tag')`)
			b.fill(form+" .t-tag", "vip")
			b.clickJS("add a condition", form+" .add-condition")
			b.choose(form+" .auto-row .c-kind", "channel")
			b.choose(form+" .auto-row .c-value", "whatsapp")
			b.choose(form+" ol[aria-label=Actions] .a-type", "add_tag")
			b.fill(form+" ol[aria-label=Actions] .a-tag", "")
			b.clickJS("add", form+" button.primary")
			b.waitJS("the error", `document.querySelector('`+form+` .auto-error').textContent.includes('tag')`)
			require.Len(t, rules(t), n, "nothing stored")
			b.fill(form+" ol[aria-label=Actions] .a-tag", "follow-up")
			b.clickJS("add", form+" button.primary")
			b.waitJS("its row", fmt.Sprintf(`[...document.querySelectorAll('#automation-list .automation-name')].some((s) => s.textContent === %q)`, name))
			r := rule(t, name)
			require.Equal(t, engine.AutomationTriggerSpec{Type: engine.TriggerTagAdded, Tag: "vip"}, r.Trigger)
			require.Equal(t, []engine.AutomationCondition{{Kind: engine.CondChannel, Value: "whatsapp"}}, r.Conditions)
			require.Equal(t, []engine.AutomationAction{{Type: engine.ActionAddTag, Tag: "follow-up"}}, r.Actions)
		})

		handoff := "Acme hand-off " + screen
		step("the editor's segment condition and message, notification and webhook actions", func(t *testing.T) {
			const form = `#auto-form-new`
			const acts = form + " ol[aria-label=Actions]"
			b.goTo(e.url, "/#settings/automations")
			b.waitJS("the editor", `document.querySelector('`+form+`')`)
			b.fill("#auto-name-new", handoff)
			b.choose("#auto-trigger-new", "contact_created")
			b.clickJS("add a condition", form+" .add-condition")
			b.choose(form+" ol[aria-label=Conditions] .auto-row:last-child .c-kind", "segment")
			b.choose(form+" ol[aria-label=Conditions] .auto-row:last-child .c-value", seg.ID.String())
			b.choose(acts+" .a-type", "send_canned")
			b.choose(acts+" .a-canned", canned.ID.String())
			b.clickJS("add an action", form+" .add-action")
			b.choose(acts+" .auto-row:nth-child(2) .a-type", "notify_user")
			b.choose(acts+" .auto-row:nth-child(2) .a-user-id", agent.User.ID.String())
			b.fill(acts+" .auto-row:nth-child(2) .a-text", "An Acme lead")
			b.clickJS("add an action", form+" .add-action")
			b.choose(acts+" .auto-row:nth-child(3) .a-type", "call_webhook")
			b.fill(acts+" .auto-row:nth-child(3) .a-url", "https://crm.example/hook")
			b.fill(acts+" .auto-row:nth-child(3) .a-secret", "short")
			n := len(rules(t))
			b.clickJS("add", form+" button.primary")
			b.waitJS("the error", `document.querySelector('`+form+` .auto-error').textContent.includes('secret')`)
			require.Len(t, rules(t), n, "nothing stored")
			b.fill(acts+" .auto-row:nth-child(3) .a-secret", "0123456789abcdef-secret")
			b.clickJS("add", form+" button.primary")
			b.waitJS("its row", fmt.Sprintf(`[...document.querySelectorAll('#automation-list .automation-name')].some((s) => s.textContent === %q)`, handoff))
			r := rule(t, handoff)
			require.Equal(t, []engine.AutomationCondition{{Kind: engine.CondSegment, Value: seg.ID.String()}}, r.Conditions)
			require.Equal(t, []engine.AutomationAction{
				{Type: engine.ActionSendCanned, CannedID: canned.ID.String()},
				{Type: engine.ActionNotifyUser, UserID: agent.User.ID.String(), Text: "An Acme lead"},
				{Type: engine.ActionCallWebhook, URL: "https://crm.example/hook", Secret: "0123456789abcdef-secret"},
			}, r.Actions)
			b.waitJS("its description", fmt.Sprintf(`document.querySelector('%s .automation-what').textContent.includes('/hello')`, row(r.ID)))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "Settings › Automations at "+screen)
			b.screenshot("settings-automations-" + screen)
		})
	}

	t.Run("an agent sees the rules without the controls", func(t *testing.T) {
		a := newTab(t, browser)
		a.signIn(e.url, agent.Token)
		a.goTo(e.url, "/#settings/automations")
		a.waitJS("the rules", `document.querySelectorAll('#automation-list li.automation').length === 6`)
		require.False(t, evalJS[bool](a, `!!document.querySelector('#preset-owners, #auto-form-new, #automation-list button[data-act=toggle], #automation-list button[data-act=delete]')`))
		require.True(t, evalJS[bool](a, `!!document.querySelector('#automation-list button[data-act=runs]')`))
	})
}
