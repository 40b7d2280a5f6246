package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Teams in the web app: Settings › Teams creates a team with members
// and a distribution, shows each member's presence (the app's own
// connection makes its user online; "Set me away" and "I'm back" change
// it), the contact panel assigns a conversation to the team (the team
// picks its online member, the header names the team) and the inbox's
// Team filter ("Assigned to my team") lists it. Checked through the API,
// at a phone's and a desktop's width, with axe-core on each screen.
func TestWebTeams(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "correct horse")
	owner := e.ownerID()
	const create = `.settings-section[data-section=teams] > form.team-form`
	teamsNow := func(t *testing.T) []teamResp {
		code, body := e.api("GET", "/api/v1/teams", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[struct {
			Teams []teamResp `json:"teams"`
		}](t, body).Teams
	}
	presence := func(id engine.ID) engine.PresenceState {
		for _, u := range e.usersWithPresence(ownerToken) {
			if u.ID == id {
				return u.Presence
			}
		}
		return ""
	}

	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		name := "Support " + screen
		var team teamResp

		step("create a team with members and a distribution", func(t *testing.T) {
			b.goTo(e.url, "/#settings/teams")
			b.waitJS("the form", `document.querySelector('`+create+` #team-name') && document.querySelector('#team-list h3')`)
			// The app's connection makes the owner online.
			b.waitJS("the owner online", fmt.Sprintf(`document.querySelector('%s input[value=%q]')?.parentElement.querySelector('.presence-dot')?.dataset.presence === 'online'`, create, owner))
			require.Equal(t, engine.PresenceOnline, presence(owner))
			b.fill("#team-name", name)
			b.choose("#team-distribution", "least_loaded")
			b.clickJS("owner as member", fmt.Sprintf(`%s input[value=%q]`, create, owner))
			b.clickJS("ana as member", fmt.Sprintf(`%s input[value=%q]`, create, ana.User.ID))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "Settings › Teams at "+screen)
			b.screenshot("settings-teams-" + screen)
			b.clickJS("add", create+` button.primary`)
			b.waitJS("its row", fmt.Sprintf(`[...document.querySelectorAll('#team-list .team-name')].some((n) => n.textContent === %q)`, name))
			for _, tm := range teamsNow(t) {
				if tm.Name == name {
					team = tm
				}
			}
			require.Equal(t, engine.TeamLeastLoaded, team.Distribution)
			require.ElementsMatch(t, []string{owner.String(), ana.User.ID.String()}, team.Members)
			row := fmt.Sprintf(`#team-list li.team-row[data-id=%q]`, team.ID)
			b.waitJS("the members with their presence", fmt.Sprintf(`document.querySelector('%s li[data-user=%q] .presence-dot')?.dataset.presence === 'online'
				&& document.querySelector('%s li[data-user=%q] .presence-dot')?.dataset.presence === 'offline'`, row, owner, row, ana.User.ID))
		})

		step("a refused team shows the API's error and stores nothing", func(t *testing.T) {
			n := len(teamsNow(t))
			b.fill("#team-name", " ")
			b.clickJS("add", create+` button.primary`)
			b.waitJS("the error", `document.querySelector('`+create+` .team-error').textContent.length > 0`)
			require.Len(t, teamsNow(t), n)
		})

		step("set yourself away and back", func(t *testing.T) {
			b.clickJS("away", "#presence-away")
			b.waitJS("shown away", `document.querySelector('#presence-status .presence-dot')?.dataset.presence === 'away'`)
			require.Equal(t, engine.PresenceAway, presence(owner))
			b.clickJS("back", "#presence-online")
			b.waitJS("shown online", `document.querySelector('#presence-status .presence-dot')?.dataset.presence === 'online'`)
			require.Equal(t, engine.PresenceOnline, presence(owner))
		})

		step("assign a conversation to the team and filter by it", func(t *testing.T) {
			wa := fmt.Sprintf("1555666000%d", i)
			code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.teamweb."+wa, wa, "Tia "+screen, "hello"))
			require.Equal(t, http.StatusOK, code, string(body))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, wa)
			b.goTo(e.url, "/")
			b.waitJS("the row", fmt.Sprintf(`document.querySelector('li.conv[data-id="%s"]')`, conv))
			b.openConv(conv)
			b.clickJS("the contact button", "#act-contact")
			b.choose("#panel-team", team.ID.String())
			// Ana is offline: the team gives it to the owner, online.
			require.Eventually(t, func() bool { c := e.conv(conv); return c.TeamID == team.ID.String() && c.AssigneeID == owner.String() },
				10*time.Second, 20*time.Millisecond, "assigned through the team")
			b.waitJS("the header names the team", fmt.Sprintf(`document.querySelector('#chat-sub .team-tag')?.textContent === %q`, "Team: "+name))
			b.waitJS("the agent select follows", fmt.Sprintf(`document.querySelector('select[aria-label=Agent]')?.value === %q`, owner))
			axeCheck(t, b, "panel-team-"+screen)
			b.goTo(e.url, "/")
			pick := func(v string) {
				b.waitJS("the Team filter", fmt.Sprintf(`(() => { const s = document.querySelector('#filters select[aria-label="Team"]');
					if (!s || ![...s.options].some((o) => o.value === %q)) return false; s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, v, v))
			}
			pick("mine")
			b.waitJS("the team's conversation alone", fmt.Sprintf(`(() => { const ids = [...document.querySelectorAll('#conv-list li.conv')].map((li) => li.dataset.id); return ids.length === 1 && ids[0] === %q; })()`, conv))
			pick("")
			b.waitJS("every conversation again", fmt.Sprintf(`document.querySelectorAll('#conv-list li.conv').length === %d`, i+1))
		})

		step("an automation assigns new conversations to the team", func(t *testing.T) {
			const form = `#auto-form-new`
			b.goTo(e.url, "/#settings/automations")
			b.waitJS("the editor", `document.querySelector('`+form+`')`)
			rule := "To " + name
			b.fill("#auto-name-new", rule)
			b.choose("#auto-trigger-new", "conversation_opened")
			b.choose(form+" ol[aria-label=Actions] .a-type", "assign_team")
			b.choose(form+" ol[aria-label=Actions] .a-team", team.ID.String())
			b.clickJS("add", form+" button.primary")
			b.waitJS("its row", fmt.Sprintf(`[...document.querySelectorAll('#automation-list .automation-name')].some((s) => s.textContent === %q)`, rule))
			code, body := e.api("GET", "/api/v1/automations", ownerToken, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			var found bool
			for _, a := range decodeAs[struct {
				Automations []engine.Automation `json:"automations"`
			}](t, body).Automations {
				if a.Name == rule {
					found = true
					require.Equal(t, []engine.AutomationAction{{Type: engine.ActionAssignTeam, TeamID: team.ID.String()}}, a.Actions)
					code, body := e.api("DELETE", "/api/v1/automations/"+a.ID.String(), ownerToken, nil)
					require.Equal(t, http.StatusNoContent, code, string(body))
				}
			}
			require.True(t, found, "the rule is stored")
		})

		step("delete the team", func(t *testing.T) {
			b.goTo(e.url, "/#settings/teams")
			row := fmt.Sprintf(`#team-list li.team-row[data-id=%q]`, team.ID)
			b.waitJS("its row", `document.querySelector('`+row+`')`)
			b.clickJS("delete", row+` button[data-act=delete]`)
			b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("the row gone", `!document.querySelector('`+row+`')`)
			code, _ := e.api("GET", "/api/v1/teams/"+team.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNotFound, code)
		})
	}
}
