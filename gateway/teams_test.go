package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

type teamResp struct {
	engine.Team
	Presence map[string]engine.PresenceState `json:"presence"`
}

func (e *env) createTeam(token string, body map[string]any) teamResp {
	e.t.Helper()
	code, b := e.api("POST", "/api/v1/teams", token, body)
	require.Equal(e.t, http.StatusCreated, code, string(b))
	return decodeAs[teamResp](e.t, b)
}

// assignTeam assigns conv to team (with body extra) and returns the
// conversation as answered.
func (e *env) assignTeam(token string, conv engine.ID, team string) engine.Conversation {
	e.t.Helper()
	code, b := e.api("POST", "/api/v1/conversations/"+conv.String()+"/team", token, map[string]any{"team_id": team})
	require.Equal(e.t, http.StatusOK, code, string(b))
	return decodeAs[engine.Conversation](e.t, b)
}

// newConv makes a WhatsApp conversation from customer wa and returns its id.
func (e *env) newConv(wa string) engine.ID {
	e.t.Helper()
	code, b := e.webhook(engine.ChannelWhatsApp, waText("wamid.team."+wa, wa, "Customer "+wa, "hello"))
	require.Equal(e.t, http.StatusOK, code, string(b))
	return e.thread(engine.ChannelWhatsApp, phoneID, wa)
}

// presenceClient opens a web app connection for token and reports it
// active, as the web app does when it connects.
func (e *env) presenceClient(token string) *wsClient {
	e.t.Helper()
	c, _, err := e.dialWS("token=" + token)
	require.NoError(e.t, err)
	require.Equal(e.t, "hello", c.events(1)[0].Type)
	require.NoError(e.t, c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"presence","state":"active"}`)))
	return c
}

// waitPresence reads c's events until user's presence.changed to state.
func (c *wsClient) waitPresence(user engine.ID, state engine.PresenceState) {
	c.t.Helper()
	for {
		for _, ev := range c.frames() {
			if ev.Type != string(engine.EventPresenceChanged) {
				continue
			}
			var d struct {
				UserID engine.ID            `json:"user_id"`
				State  engine.PresenceState `json:"state"`
			}
			require.NoError(c.t, json.Unmarshal(ev.Data, &d))
			if d.UserID == user && d.State == state {
				return
			}
		}
	}
}

func (e *env) listIDs(token, query string) []engine.ID {
	e.t.Helper()
	code, b := e.api("GET", "/api/v1/conversations?"+query, token, nil)
	require.Equal(e.t, http.StatusOK, code, string(b))
	var out []engine.ID
	for _, c := range decodeAs[struct {
		Conversations []engine.Conversation `json:"conversations"`
	}](e.t, b).Conversations {
		out = append(out, c.ID)
	}
	return out
}

// TestTeamsAPI: owners and admins create, change and delete teams,
// agents read them; bodies are checked whole (members must be users of
// the workspace) and a refused one leaves the team as it was; a user
// removed from the workspace leaves its teams.
func TestTeamsAPI(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "correct horse")
	bob := e.addUser("bob@example.com", engine.RoleAgent, "correct horse")
	owner := e.ownerID().String()

	tm := e.createTeam(ownerToken, map[string]any{"name": " Support ", "members": []string{bob.User.ID.String(), ana.User.ID.String(), ana.User.ID.String()}})
	require.Equal(t, "Support", tm.Name)
	require.Equal(t, engine.TeamRoundRobin, tm.Distribution)
	require.Len(t, tm.Members, 2)
	require.Equal(t, engine.PresenceOffline, tm.Presence[ana.User.ID.String()])

	code, b := e.api("POST", "/api/v1/teams", ana.Token, map[string]any{"name": "Mine"})
	require.Equal(t, http.StatusForbidden, code, string(b))
	for _, bad := range []string{`{}`, `{"name":""}`, `{"name":"x","distribution":"random"}`, `{"name":"x","members":["nope"]}`,
		`{"name":"x","members":["` + engine.NewID(time.Now()).String() + `"]}`, `{"name":"x","color":"red"}`, `{"name":"` + strings.Repeat("n", 81) + `"}`} {
		code, b := e.api("POST", "/api/v1/teams", ownerToken, json.RawMessage(bad))
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", bad, b)
	}
	path := "/api/v1/teams/" + tm.ID.String()
	code, b = e.api("PATCH", path, ownerToken, map[string]any{"members": []string{"nope"}})
	require.Equal(t, http.StatusBadRequest, code, string(b))
	code, b = e.api("PATCH", path, ana.Token, map[string]any{"name": "x"})
	require.Equal(t, http.StatusForbidden, code, string(b))
	code, b = e.api("PATCH", path, ownerToken, map[string]any{"distribution": "least_loaded", "members": []string{ana.User.ID.String(), bob.User.ID.String(), owner}})
	require.Equal(t, http.StatusOK, code, string(b))
	code, b = e.api("GET", path, ana.Token, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	got := decodeAs[teamResp](t, b)
	require.Equal(t, "Support", got.Name)
	require.Equal(t, engine.TeamLeastLoaded, got.Distribution)
	require.Len(t, got.Members, 3)

	// Removing bob from the workspace takes him out of the team.
	code, b = e.api("DELETE", "/api/v1/users/"+bob.User.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(b))
	code, b = e.api("GET", "/api/v1/teams", ana.Token, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	list := decodeAs[struct {
		Teams []teamResp `json:"teams"`
	}](t, b).Teams
	require.Len(t, list, 1)
	require.NotContains(t, list[0].Members, bob.User.ID.String())
	require.Len(t, list[0].Members, 2)

	code, b = e.api("DELETE", path, ana.Token, nil)
	require.Equal(t, http.StatusForbidden, code, string(b))
	code, b = e.api("DELETE", path, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(b))
	code, _ = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// TestTeamDistribution assigns conversations to a team over the API
// while the members' web app connections come and go, on the runtime's
// fake clock: round robin takes turns among the online members, skips
// one whose connection closed once the grace period ends, falls back on
// away members, and leaves the conversation to the team when nobody is
// there; least loaded picks the member with the fewest open
// conversations. Presence shows in GET /users, in the team, in the
// presence.changed events and in parley_users_online.
func TestTeamDistribution(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Now())
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(g *gateway.Config) { g.Registerer = reg })
	// ana and bob by id: the round robin's order.
	ana := e.addUser("ana@example.com", engine.RoleAgent, "correct horse")
	bob := e.addUser("bob@example.com", engine.RoleAgent, "correct horse")
	if bob.User.ID.String() < ana.User.ID.String() {
		ana, bob = bob, ana
	}
	a, bb := ana.User.ID, bob.User.ID
	tm := e.createTeam(ownerToken, map[string]any{"name": "Support", "members": []string{a.String(), bb.String()}})
	// The owner watches without counting: no presence frame.
	watch, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)
	require.Equal(t, "hello", watch.events(1)[0].Type)

	// Nobody online: the conversation waits in the team.
	c0 := e.assignTeam(ownerToken, e.newConv("15557000"), tm.ID.String())
	require.Equal(t, tm.ID.String(), c0.TeamID)
	require.Empty(t, c0.AssigneeID)

	anaWS := e.presenceClient(ana.Token)
	watch.waitPresence(a, engine.PresenceOnline)
	bobWS := e.presenceClient(bob.Token)
	watch.waitPresence(bb, engine.PresenceOnline)
	for _, u := range e.usersWithPresence(ownerToken) {
		if u.ID == a || u.ID == bb {
			require.Equal(t, engine.PresenceOnline, u.Presence, u.Name)
		}
	}
	require.Equal(t, 2.0, gaugeValue(t, reg, "parley_users_online", map[string]string{"state": "online"}))

	// Round robin: the turn goes in member id order (ana joined first).
	var got []string
	var convs []engine.ID
	for i := range 3 {
		conv := e.newConv(fmt.Sprintf("1555710%d", i))
		convs = append(convs, conv)
		got = append(got, e.assignTeam(ownerToken, conv, tm.ID.String()).AssigneeID)
	}
	require.Equal(t, []string{a.String(), bb.String(), a.String()}, got)

	// Bob's app closes: he keeps his turn through the grace period, then
	// goes offline and is skipped.
	require.NoError(t, bobWS.conn.Close())
	eventually(t, 10*time.Second, func() error {
		if n := gateway.PresenceSockets(e.gw, e.ws, bb); n != 0 {
			return fmt.Errorf("%d connections of bob counted", n)
		}
		return nil
	})
	clock.Advance(engine.DefaultPresenceGrace - time.Second)
	require.Equal(t, bb.String(), e.assignTeam(ownerToken, e.newConv("15557200"), tm.ID.String()).AssigneeID)
	clock.Advance(5 * time.Second)
	watch.waitPresence(bb, engine.PresenceOffline)
	require.Equal(t, a.String(), e.assignTeam(ownerToken, e.newConv("15557201"), tm.ID.String()).AssigneeID)
	require.Equal(t, a.String(), e.assignTeam(ownerToken, e.newConv("15557202"), tm.ID.String()).AssigneeID)

	// Ana sets herself away: with nobody online, the away take turns.
	require.NoError(t, anaWS.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"presence","state":"away"}`)))
	watch.waitPresence(a, engine.PresenceAway)
	require.Equal(t, a.String(), e.assignTeam(ownerToken, e.newConv("15557203"), tm.ID.String()).AssigneeID)
	code, b := e.api("POST", "/api/v1/presence", ana.Token, map[string]any{"state": "online"})
	require.Equal(t, http.StatusOK, code, string(b))
	require.Contains(t, string(b), `"state":"online"`)
	watch.waitPresence(a, engine.PresenceOnline)
	// Without activity for AwayAfter she is away by the clock.
	clock.Advance(engine.DefaultPresenceAwayAfter)
	watch.waitPresence(a, engine.PresenceAway)

	// Least loaded: ana has 5 open conversations, bob 2; bob comes back
	// online while ana is away, and gets the next three.
	code, b = e.api("PATCH", "/api/v1/teams/"+tm.ID.String(), ownerToken, map[string]any{"distribution": "least_loaded"})
	require.Equal(t, http.StatusOK, code, string(b))
	bobWS = e.presenceClient(bob.Token)
	watch.waitPresence(bb, engine.PresenceOnline)
	_ = bobWS
	for i := range 3 {
		conv := e.newConv(fmt.Sprintf("1555730%d", i))
		require.Equal(t, bb.String(), e.assignTeam(ownerToken, conv, tm.ID.String()).AssigneeID, "pick %d", i)
	}
	// ana (online again) 5, bob 5: a tie; the turn goes after the last
	// pick (bob), wrapping to ana.
	require.NoError(t, anaWS.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"presence","state":"active"}`)))
	watch.waitPresence(a, engine.PresenceOnline)
	require.Equal(t, a.String(), e.assignTeam(ownerToken, e.newConv("15557400"), tm.ID.String()).AssigneeID)
	for _, c := range []struct {
		mode, result string
		want         float64
	}{{"round_robin", "member", 7}, {"round_robin", "team", 1}, {"least_loaded", "member", 4}} {
		got := gaugeValue(t, reg, "parley_team_assignments_total", map[string]string{"distribution": c.mode, "result": c.result})
		require.Equal(t, c.want, got, "%s %s", c.mode, c.result)
	}

	// The inbox filter: the team's conversations, and "my team".
	all := e.listIDs(ownerToken, "team="+tm.ID.String())
	require.Len(t, all, 12)
	require.ElementsMatch(t, all, e.listIDs(ana.Token, "team=mine"))
	require.Empty(t, e.listIDs(ownerToken, "team=mine"))
	require.Subset(t, all, convs)
	require.Len(t, e.listIDs(ownerToken, "team="+tm.ID.String()+"&assignee=unassigned"), 1)

	// Taken from the team, a conversation keeps its assignee.
	code, b = e.api("POST", "/api/v1/conversations/"+convs[0].String()+"/team", ownerToken, map[string]any{"team_id": nil})
	require.Equal(t, http.StatusOK, code, string(b))
	c := decodeAs[engine.Conversation](t, b)
	require.Empty(t, c.TeamID)
	require.Equal(t, a.String(), c.AssigneeID)
	require.Len(t, e.listIDs(ownerToken, "team="+tm.ID.String()), 11)
	// A chosen member; someone outside the team is refused.
	code, b = e.api("POST", "/api/v1/conversations/"+convs[0].String()+"/team", ownerToken, map[string]any{"team_id": tm.ID.String(), "user_id": bb.String()})
	require.Equal(t, http.StatusOK, code, string(b))
	require.Equal(t, bb.String(), decodeAs[engine.Conversation](t, b).AssigneeID)
	code, b = e.api("POST", "/api/v1/conversations/"+convs[0].String()+"/team", ownerToken, map[string]any{"team_id": tm.ID.String(), "user_id": e.ownerID().String()})
	require.Equal(t, http.StatusBadRequest, code, string(b))
	require.Equal(t, bb.String(), e.conv(convs[0]).AssigneeID)
}

// TestTeamIsolation: another workspace's teams are neither listed, read,
// changed, deleted, assigned nor filtered by.
func TestTeamIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tm := e.createTeam(ownerToken, map[string]any{"name": "Support", "members": []string{e.ownerID().String()}})
	conv := e.newConv("15557900")
	e.newWorkspace("pk_workspace_b")
	code, b := e.api("GET", "/api/v1/teams", "pk_workspace_b", nil)
	require.Equal(t, http.StatusOK, code, string(b))
	require.Equal(t, `{"teams":[]}`, string(b))
	path := "/api/v1/teams/" + tm.ID.String()
	for _, r := range [][3]string{{"GET", path, ""}, {"PATCH", path, `{"name":"Mine"}`}, {"DELETE", path, ""}} {
		var body any
		if r[2] != "" {
			body = json.RawMessage(r[2])
		}
		code, b := e.api(r[0], r[1], "pk_workspace_b", body)
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r[0], r[1], b)
	}
	code, b = e.api("GET", "/api/v1/conversations?team="+tm.ID.String(), "pk_workspace_b", nil)
	require.Equal(t, http.StatusBadRequest, code, string(b))
	// B's owner cannot put A's conversation in A's team, nor B's team
	// member (an A user) into B's team.
	code, b = e.api("POST", "/api/v1/conversations/"+conv.String()+"/team", "pk_workspace_b", map[string]any{"team_id": tm.ID.String()})
	require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, code, string(b))
	code, b = e.api("POST", "/api/v1/teams", "pk_workspace_b", map[string]any{"name": "B", "members": []string{e.ownerID().String()}})
	require.Equal(t, http.StatusBadRequest, code, string(b))
	require.Empty(t, e.conv(conv).TeamID)
	code, b = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	require.Equal(t, "Support", decodeAs[teamResp](t, b).Name)
}

type userPresenceResp struct {
	engine.User
	Presence engine.PresenceState `json:"presence"`
}

func (e *env) usersWithPresence(token string) []userPresenceResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/users", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[struct {
		Users []userPresenceResp `json:"users"`
	}](e.t, body).Users
}

// TestAutomationAssignTeam: an automation's assign_team action gives a
// new conversation to the team, whose distribution picks the online
// member; a team of another workspace (or none) is refused when the
// rule is saved.
func TestAutomationAssignTeam(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "correct horse")
	tm := e.createTeam(ownerToken, map[string]any{"name": "Support", "members": []string{ana.User.ID.String(), e.ownerID().String()}})
	rule := map[string]any{"name": "New chats to Support", "trigger": map[string]any{"type": "conversation_opened"},
		"actions": []map[string]any{{"type": "assign_team", "team_id": tm.ID}}}
	code, b := e.api("POST", "/api/v1/automations", ownerToken, rule)
	require.Equal(t, http.StatusCreated, code, string(b))
	for _, bad := range []map[string]any{{"type": "assign_team", "team_id": engine.NewID(time.Now())}, {"type": "assign_team"},
		{"type": "assign_team", "team_id": tm.ID, "user_id": ana.User.ID}, {"type": "add_tag", "tag": "x", "team_id": tm.ID}} {
		code, b := e.api("POST", "/api/v1/automations", ownerToken, map[string]any{"name": "Bad", "trigger": map[string]any{"type": "conversation_opened"},
			"actions": []map[string]any{bad}})
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, b)
	}
	// Ana alone is online: the team gives her the conversation.
	anaWS := e.presenceClient(ana.Token)
	anaWS.waitPresence(ana.User.ID, engine.PresenceOnline)
	conv := e.newConv("15557800")
	eventually(t, 10*time.Second, func() error {
		if c := e.conv(conv); c.TeamID != tm.ID.String() || c.AssigneeID != ana.User.ID.String() {
			return fmt.Errorf("team %q assignee %q", c.TeamID, c.AssigneeID)
		}
		return nil
	})
}
