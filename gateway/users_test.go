package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// newUsersEnv is an env whose runtime clock (which the account routes
// read) is fake, starting now.
func newUsersEnv(t *testing.T) (*env, *clockwork.FakeClock) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Now())
	e := newEnv(t, func(c *actors.Config) { c.Clock = clock })
	return e, clock
}

// decodeAs unmarshals body into a T, failing the test on error.
func decodeAs[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	return v
}

type session struct {
	Token     string      `json:"token"`
	ExpiresAt time.Time   `json:"expires_at"`
	User      engine.User `json:"user"`
}

// invite has the inviter (a token) invite email with role and returns the
// code.
func (e *env) invite(inviter, email string, role engine.Role) string {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/users/invitations", inviter, map[string]any{"email": email, "role": role})
	require.Equal(e.t, http.StatusCreated, code, string(body))
	v := decodeAs[struct {
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
	}](e.t, body)
	require.NotEmpty(e.t, v.Code)
	return v.Code
}

// addUser invites email with role (as the bootstrap owner), accepts the
// invitation with password and returns the new session.
func (e *env) addUser(email string, role engine.Role, password string) session {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{
		"code": e.invite(ownerToken, email, role), "name": "User " + email, "password": password})
	require.Equal(e.t, http.StatusCreated, code, string(body))
	s := decodeAs[session](e.t, body)
	require.Equal(e.t, role, s.User.Role)
	return s
}

func (e *env) login(email, password string) (int, http.Header, []byte) {
	e.t.Helper()
	js, err := json.Marshal(map[string]string{"email": email, "password": password})
	require.NoError(e.t, err)
	req, err := http.NewRequest("POST", e.url+"/api/v1/auth/login", bytes.NewReader(js))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, resp.Header, b
}

// ownerID is the id of the bootstrap owner.
func (e *env) ownerID() engine.ID {
	e.t.Helper()
	tok, err := e.store.TokenBySecret(ownerToken)
	require.NoError(e.t, err)
	return tok.UserID
}

func (e *env) users(token string) []engine.User {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/users", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[struct {
		Users []engine.User `json:"users"`
	}](e.t, body).Users
}

func TestLoginAndRateLimit(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "correct horse")

	code, _, body := e.login("ANA@example.com ", "correct horse")
	require.Equal(t, http.StatusOK, code, string(body))
	s := decodeAs[session](t, body)
	require.Equal(t, ana.User, s.User)
	require.NotEqual(t, ana.Token, s.Token, "each login is a new session")
	require.WithinDuration(t, clock.Now().Add(30*24*time.Hour), s.ExpiresAt, time.Second)
	code, body = e.api("GET", "/api/v1/me", s.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	me := decodeAs[struct {
		User      engine.User      `json:"user"`
		Workspace engine.Workspace `json:"workspace"`
	}](t, body)
	require.Equal(t, ana.User.ID, me.User.ID)
	require.Equal(t, e.ws, me.Workspace.ID)

	// Unknown email and wrong password: the same answer.
	_, _, wrong := e.login("ana@example.com", "wrong horse")
	_, _, unknown := e.login("nobody@example.com", "correct horse")
	require.Equal(t, "invalid_credentials", errorCode(t, wrong))
	require.JSONEq(t, string(wrong), string(unknown))

	// Five failures for the email in a minute (one so far), then 429 even
	// with the right password, until the window ends.
	for range 4 {
		code, _, _ = e.login("ana@example.com", "wrong horse")
		require.Equal(t, http.StatusUnauthorized, code)
	}
	clock.Advance(10 * time.Second)
	code, hdr, body := e.login("ana@example.com", "correct horse")
	require.Equal(t, http.StatusTooManyRequests, code, string(body))
	require.Equal(t, "rate_limited", errorCode(t, body))
	retry, err := strconv.Atoi(hdr.Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 50, retry, 1)
	clock.Advance(time.Duration(retry) * time.Second)
	code, _, body = e.login("ana@example.com", "correct horse")
	require.Equal(t, http.StatusOK, code, string(body))

	// Per client IP: twenty failures whatever the emails.
	for i := range 20 {
		code, _, _ = e.login(fmt.Sprintf("spray%d@example.com", i), "guess-guess")
		require.Equal(t, http.StatusUnauthorized, code, i)
	}
	code, hdr, body = e.login("ana@example.com", "correct horse")
	require.Equal(t, http.StatusTooManyRequests, code, string(body))
	require.NotEmpty(t, hdr.Get("Retry-After"))
	clock.Advance(time.Minute)
	code, _, body = e.login("ana@example.com", "correct horse")
	require.Equal(t, http.StatusOK, code, string(body))

	// A session ends after 30 days.
	clock.Advance(30*24*time.Hour + time.Second)
	code, _ = e.api("GET", "/api/v1/me", s.Token, nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestInvitationFlow(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	code := e.invite(ownerToken, " Bo@Example.COM ", engine.RoleAgent)
	// Bad acceptances change nothing.
	for _, bad := range []map[string]any{
		{"code": code, "name": "Bo", "password": "short"},
		{"code": code, "name": "Bo", "password": strings.Repeat("p", 257)},
		{"code": code, "name": "  ", "password": "long enough"},
		{"code": "", "name": "Bo", "password": "long enough"},
	} {
		st, body := e.api("POST", "/api/v1/auth/accept-invite", "", bad)
		require.Equal(t, http.StatusBadRequest, st, "%v: %s", bad, body)
		require.Equal(t, "invalid", errorCode(t, body))
	}
	st, body := e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": "inv_nope", "name": "Bo", "password": "long enough"})
	require.Equal(t, http.StatusNotFound, st)
	require.Equal(t, "invalid_invitation", errorCode(t, body))
	require.Len(t, e.users(ownerToken), 1)

	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": " Bo ", "password": "bo's password"})
	require.Equal(t, http.StatusCreated, st, string(body))
	bo := decodeAs[session](t, body)
	require.Equal(t, "bo@example.com", bo.User.Email)
	require.Equal(t, "Bo", bo.User.Name)
	require.Equal(t, engine.RoleAgent, bo.User.Role)
	require.Equal(t, e.ws, bo.User.WorkspaceID)
	// A code works once.
	st, _ = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Bo", "password": "long enough"})
	require.Equal(t, http.StatusNotFound, st)

	// The new password logs in.
	st, _, body = e.login("bo@example.com", "bo's password")
	require.Equal(t, http.StatusOK, st, string(body))
	tok := decodeAs[session](t, body).Token

	// An agent sees the team but may not manage it.
	require.Len(t, e.users(tok), 2)
	st, body = e.api("GET", "/api/v1/users/"+e.ownerID().String(), tok, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/users/invitations", map[string]any{"email": "x@example.com", "role": "agent"}},
		{"DELETE", "/api/v1/users/" + e.ownerID().String(), nil},
		{"PATCH", "/api/v1/users/" + bo.User.ID.String(), map[string]any{"role": "admin"}},
		{"PATCH", "/api/v1/users/" + e.ownerID().String(), map[string]any{"name": "Boss"}},
		{"POST", "/api/v1/channels", map[string]any{"channel": "whatsapp", "account_id": "x", "access_token": "t"}},
	} {
		st, body = e.api(r.method, r.path, tok, r.body)
		require.Equal(t, http.StatusForbidden, st, "%s %s: %s", r.method, r.path, body)
		require.Equal(t, "forbidden", errorCode(t, body))
	}
	// ... but may rename themselves.
	st, body = e.api("PATCH", "/api/v1/users/"+bo.User.ID.String(), tok, map[string]any{"name": "Bo B."})
	require.Equal(t, http.StatusOK, st, string(body))
	require.Equal(t, "Bo B.", decodeAs[engine.User](t, body).Name)

	// An admin invites admins and agents, not owners.
	admin := e.addUser("cy@example.com", engine.RoleAdmin, "cy's password")
	st, body = e.api("POST", "/api/v1/users/invitations", admin.Token, map[string]any{"email": "dee@example.com", "role": "owner"})
	require.Equal(t, http.StatusForbidden, st, string(body))
	e.invite(admin.Token, "dee@example.com", engine.RoleAdmin)
	// A member's email is taken, whatever its case.
	st, body = e.api("POST", "/api/v1/users/invitations", admin.Token, map[string]any{"email": "BO@example.com", "role": "agent"})
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "email_taken", errorCode(t, body))
	// Two invitations to one email: the second acceptance is refused.
	c1, c2 := e.invite(ownerToken, "eve@example.com", engine.RoleAgent), e.invite(ownerToken, "eve@example.com", engine.RoleAdmin)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": c1, "name": "Eve", "password": "eve's password"})
	require.Equal(t, http.StatusCreated, st, string(body))
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": c2, "name": "Eve", "password": "eve's password"})
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "email_taken", errorCode(t, body))

	// An invitation expires after 7 days.
	late := e.invite(ownerToken, "fay@example.com", engine.RoleAgent)
	clock.Advance(7*24*time.Hour + time.Second)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": late, "name": "Fay", "password": "fay's password"})
	require.Equal(t, http.StatusNotFound, st, string(body))
	require.Len(t, e.users(ownerToken), 4)
}

func TestPersonalTokens(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAdmin, "ana's password")

	st, body := e.api("POST", "/api/v1/tokens", ana.Token, map[string]any{"name": "CI"})
	require.Equal(t, http.StatusCreated, st, string(body))
	type tokenView struct {
		ID        engine.ID   `json:"id"`
		Kind      string      `json:"kind"`
		Name      string      `json:"name"`
		Role      engine.Role `json:"role"`
		ExpiresAt time.Time   `json:"expires_at"`
		Token     string      `json:"token"`
	}
	ci := decodeAs[tokenView](t, body)
	require.Equal(t, "api", ci.Kind)
	require.Equal(t, engine.RoleAdmin, ci.Role)
	require.True(t, ci.ExpiresAt.IsZero(), "no expiry unless set")
	require.NotEmpty(t, ci.Token)

	// It works on every route, with the user's role.
	st, body = e.api("GET", "/api/v1/channels", ci.Token, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	st, _ = e.api("GET", "/api/v1/me", ci.Token, nil)
	require.Equal(t, http.StatusOK, st)

	// Listed (with the session) without any secret.
	st, body = e.api("GET", "/api/v1/tokens", ana.Token, nil)
	require.Equal(t, http.StatusOK, st)
	require.NotContains(t, string(body), ci.Token)
	require.NotContains(t, string(body), ana.Token)
	list := decodeAs[struct {
		Tokens []tokenView `json:"tokens"`
	}](t, body).Tokens
	require.Len(t, list, 2)
	// Both tokens were issued in the same (fake) millisecond, so their
	// order is not part of the contract.
	kinds := map[string]tokenView{}
	for _, tv := range list {
		kinds[tv.Kind] = tv
		require.Empty(t, tv.Token)
	}
	require.Contains(t, kinds, "session")
	require.Equal(t, ci.ID, kinds["api"].ID)
	// Another user's list does not show them, nor can they revoke them.
	st, body = e.api("GET", "/api/v1/tokens", ownerToken, nil)
	require.Equal(t, http.StatusOK, st)
	require.NotContains(t, string(body), ci.ID.String())
	st, _ = e.api("DELETE", "/api/v1/tokens/"+ci.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, st)

	// Revoked: 401 everywhere.
	st, _ = e.api("DELETE", "/api/v1/tokens/"+ci.ID.String(), ana.Token, nil)
	require.Equal(t, http.StatusNoContent, st)
	for _, p := range []string{"/api/v1/me", "/api/v1/channels"} {
		st, body = e.api("GET", p, ci.Token, nil)
		require.Equal(t, http.StatusUnauthorized, st, p)
		require.Equal(t, "unauthorized", errorCode(t, body))
	}
	st, _ = e.api("DELETE", "/api/v1/tokens/"+ci.ID.String(), ana.Token, nil)
	require.Equal(t, http.StatusNotFound, st)
	st, _ = e.api("DELETE", "/api/v1/tokens/not-an-id", ana.Token, nil)
	require.Equal(t, http.StatusNotFound, st)

	// Expiry: in the past is refused; in the future is kept.
	st, body = e.api("POST", "/api/v1/tokens", ana.Token, map[string]any{"name": "old", "expires_at": clock.Now().Add(-time.Hour)})
	require.Equal(t, http.StatusBadRequest, st, string(body))
	require.Equal(t, "invalid", errorCode(t, body))
	st, body = e.api("POST", "/api/v1/tokens", ana.Token, map[string]any{"name": "day", "expires_at": clock.Now().Add(24 * time.Hour)})
	require.Equal(t, http.StatusCreated, st, string(body))
	day := decodeAs[tokenView](t, body)
	require.False(t, day.ExpiresAt.IsZero())
	clock.Advance(24*time.Hour + time.Second)
	st, _ = e.api("GET", "/api/v1/me", day.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	st, _, body := e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st)
	other := decodeAs[session](t, body)

	st, body = e.api("POST", "/api/v1/auth/logout", ana.Token, nil)
	require.Equal(t, http.StatusNoContent, st, string(body))
	st, _ = e.api("GET", "/api/v1/me", ana.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	st, _ = e.api("POST", "/api/v1/auth/logout", ana.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	// The other session lives on.
	st, _ = e.api("GET", "/api/v1/me", other.Token, nil)
	require.Equal(t, http.StatusOK, st)

	// Signed in with an API token (or the bootstrap token), logout
	// answers 204 like a session's (it was a 400 not_a_session, which
	// the web app's Sign out met) but revokes nothing: the token is for
	// scripts too.
	st, body = e.api("POST", "/api/v1/tokens", other.Token, map[string]any{"name": "script"})
	require.Equal(t, http.StatusCreated, st)
	api := decodeAs[struct {
		Token string `json:"token"`
	}](t, body).Token
	for _, tok := range []string{api, ownerToken} {
		st, body = e.api("POST", "/api/v1/auth/logout", tok, nil)
		require.Equal(t, http.StatusNoContent, st, string(body))
		st, _ = e.api("GET", "/api/v1/me", tok, nil)
		require.Equal(t, http.StatusOK, st)
	}
}

func TestRolesAndLastOwner(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	owner := e.ownerID().String()
	// The bootstrap owner is the only owner: not demoted, not deleted.
	st, body := e.api("PATCH", "/api/v1/users/"+owner, ownerToken, map[string]any{"role": "admin"})
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "last_owner", errorCode(t, body))
	st, body = e.api("DELETE", "/api/v1/users/"+owner, ownerToken, nil)
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "last_owner", errorCode(t, body))

	admin := e.addUser("ad@example.com", engine.RoleAdmin, "admin password")
	agent := e.addUser("ag@example.com", engine.RoleAgent, "agent password")
	// Only an owner changes roles; an admin cannot remove an owner.
	st, _ = e.api("PATCH", "/api/v1/users/"+agent.User.ID.String(), admin.Token, map[string]any{"role": "admin"})
	require.Equal(t, http.StatusForbidden, st)
	st, _ = e.api("DELETE", "/api/v1/users/"+owner, admin.Token, nil)
	require.Equal(t, http.StatusForbidden, st)
	st, body = e.api("PATCH", "/api/v1/users/"+agent.User.ID.String(), ownerToken, map[string]any{"role": "boss"})
	require.Equal(t, http.StatusBadRequest, st, string(body))
	require.Equal(t, "invalid", errorCode(t, body))
	st, body = e.api("PATCH", "/api/v1/users/"+agent.User.ID.String(), ownerToken, map[string]any{})
	require.Equal(t, http.StatusBadRequest, st, string(body))

	// Promote the agent to owner: their existing session follows.
	st, body = e.api("PATCH", "/api/v1/users/"+agent.User.ID.String(), ownerToken, map[string]any{"role": "owner"})
	require.Equal(t, http.StatusOK, st, string(body))
	require.Equal(t, engine.RoleOwner, decodeAs[engine.User](t, body).Role)
	st, body = e.api("POST", "/api/v1/channels", agent.Token, map[string]any{"channel": "whatsapp", "account_id": "PN_2", "access_token": "t"})
	require.Equal(t, http.StatusCreated, st, string(body))
	// Now the first owner may step down, and the second may not.
	st, body = e.api("PATCH", "/api/v1/users/"+owner, agent.Token, map[string]any{"role": "agent"})
	require.Equal(t, http.StatusOK, st, string(body))
	st, body = e.api("PATCH", "/api/v1/users/"+agent.User.ID.String(), agent.Token, map[string]any{"role": "admin"})
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "last_owner", errorCode(t, body))
	// The demoted bootstrap owner's token (not an issued one) acts with
	// the user's current role on these routes.
	st, _ = e.api("POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": "x@example.com", "role": "agent"})
	require.Equal(t, http.StatusForbidden, st)

	// Demote the admin: their session token loses admin rights at once.
	st, _ = e.api("PATCH", "/api/v1/users/"+admin.User.ID.String(), agent.Token, map[string]any{"role": "agent"})
	require.Equal(t, http.StatusOK, st)
	st, _ = e.api("POST", "/api/v1/channels", admin.Token, map[string]any{"channel": "whatsapp", "account_id": "PN_3", "access_token": "t"})
	require.Equal(t, http.StatusForbidden, st)

	// Deleting a user revokes their tokens and their password.
	st, _ = e.api("DELETE", "/api/v1/users/"+admin.User.ID.String(), agent.Token, nil)
	require.Equal(t, http.StatusNoContent, st)
	st, _ = e.api("GET", "/api/v1/channels", admin.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	st, _, _ = e.login("ad@example.com", "admin password")
	require.Equal(t, http.StatusUnauthorized, st)
	st, _ = e.api("GET", "/api/v1/users/"+admin.User.ID.String(), agent.Token, nil)
	require.Equal(t, http.StatusNotFound, st)
	st, _ = e.api("DELETE", "/api/v1/users/"+admin.User.ID.String(), agent.Token, nil)
	require.Equal(t, http.StatusNotFound, st)
	// The email can be invited again.
	e.invite(agent.Token, "ad@example.com", engine.RoleAgent)
}

func TestUsersWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAdmin, "ana's password")
	st, body := e.api("POST", "/api/v1/tokens", ana.Token, map[string]any{"name": "ci"})
	require.Equal(t, http.StatusCreated, st)
	anaTok := decodeAs[struct {
		ID engine.ID `json:"id"`
	}](t, body).ID

	// A second workspace, made directly in the store.
	ws2, secret2 := e.workspaceOf("Other")

	list := e.users(secret2)
	require.Len(t, list, 1)
	require.Equal(t, "Other owner", list[0].Name)
	for _, id := range []engine.ID{e.ownerID(), ana.User.ID} {
		for _, r := range [][2]string{{"GET", ""}, {"PATCH", `{"name":"x"}`}, {"DELETE", ""}} {
			var body any
			if r[1] != "" {
				body = r[1]
			}
			st, resp := e.api(r[0], "/api/v1/users/"+id.String(), secret2, body)
			require.Equal(t, http.StatusNotFound, st, "%s %s: %s", r[0], id, resp)
			require.Equal(t, "not_found", errorCode(t, resp))
		}
	}
	st, _ = e.api("DELETE", "/api/v1/tokens/"+anaTok.String(), secret2, nil)
	require.Equal(t, http.StatusNotFound, st)
	// Nothing of the first workspace changed.
	require.Len(t, e.users(ownerToken), 2)
	st, _ = e.api("GET", "/api/v1/me", ana.Token, nil)
	require.Equal(t, http.StatusOK, st)

	// An invitation of the second workspace makes a user there only.
	code := e.invite(secret2, "zed@example.com", engine.RoleAgent)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Zed", "password": "zed's password"})
	require.Equal(t, http.StatusCreated, st, string(body))
	zed := decodeAs[session](t, body)
	require.Equal(t, ws2, zed.User.WorkspaceID)
	require.Len(t, e.users(secret2), 2)
	require.Len(t, e.users(ownerToken), 2)
	st, _ = e.api("GET", "/api/v1/users/"+zed.User.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, st)
	st, _ = e.api("GET", "/api/v1/users/"+ana.User.ID.String(), zed.Token, nil)
	require.Equal(t, http.StatusNotFound, st)
	// One account per email across workspaces: joining another workspace
	// takes the account's password (TestMembershipsAcrossWorkspaces).
	code = e.invite(secret2, "ana@example.com", engine.RoleAgent)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Ana", "password": "another password"})
	require.Equal(t, http.StatusUnauthorized, st, string(body))
	require.Len(t, e.users(secret2), 2)
}

func TestUserRoutesBadBodies(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	self := "/api/v1/users/" + ana.User.ID.String()
	routes := []struct {
		method, path, token string
	}{
		{"POST", "/api/v1/auth/login", ""},
		{"POST", "/api/v1/auth/accept-invite", ""},
		{"POST", "/api/v1/users/invitations", ownerToken},
		{"PATCH", self, ownerToken},
		{"POST", "/api/v1/tokens", ownerToken},
	}
	for _, r := range routes {
		for _, bad := range []string{`{`, `[]`, `{"name": 5}`, `{"email": true}`, `{"nope": 1}`, "{\"name\": \"\xff\"}",
			`{"name":"a"} trailing`, ``, `null x`, `{"expires_at":"yesterday"}`, `{"role": 3}`} {
			st, body := e.api(r.method, r.path, r.token, bad)
			require.Equal(t, http.StatusBadRequest, st, "%s %s %q: %s", r.method, r.path, bad, body)
			require.Equal(t, "bad_json", errorCode(t, body))
		}
	}
	// Well-formed but invalid values.
	for _, c := range []struct {
		method, path, token string
		body                map[string]any
	}{
		{"POST", "/api/v1/auth/login", "", map[string]any{"email": "not an email", "password": "x"}},
		{"POST", "/api/v1/auth/login", "", map[string]any{"email": "Ana <ana@example.com>", "password": "x"}},
		{"POST", "/api/v1/auth/login", "", map[string]any{"email": "ana@example.com", "password": ""}},
		{"POST", "/api/v1/auth/login", "", map[string]any{"email": "ana@example.com", "password": strings.Repeat("x", 257)}},
		{"POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": "@example.com", "role": "agent"}},
		{"POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": "a@", "role": "agent"}},
		{"POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": strings.Repeat("a", 250) + "@x.io", "role": "agent"}},
		{"POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": "a\u0000b@example.com", "role": "agent"}},
		{"POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": "x@example.com", "role": "god"}},
		{"POST", "/api/v1/users/invitations", ownerToken, map[string]any{"email": "x@example.com"}},
		{"PATCH", self, ownerToken, map[string]any{"name": ""}},
		{"PATCH", self, ownerToken, map[string]any{"name": strings.Repeat("n", 129)}},
		{"PATCH", self, ownerToken, map[string]any{"name": "tab\tname"}},
		{"POST", "/api/v1/tokens", ownerToken, map[string]any{}},
	} {
		st, body := e.api(c.method, c.path, c.token, c.body)
		require.Equal(t, http.StatusBadRequest, st, "%s %s %v: %s", c.method, c.path, c.body, body)
		require.Equal(t, "invalid", errorCode(t, body))
	}
	// Nothing changed.
	list := e.users(ownerToken)
	require.Len(t, list, 2)
	require.Contains(t, list, ana.User)
	st, body := e.api("GET", "/api/v1/tokens", ownerToken, nil)
	require.Equal(t, http.StatusOK, st)
	var toks struct {
		Tokens []struct {
			Name string `json:"name"`
		} `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal(body, &toks))
	require.Len(t, toks.Tokens, 1, "only the bootstrap token: no token was created")
	require.Equal(t, "bootstrap", toks.Tokens[0].Name)
	st, _, _ = e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st)
}

func TestUserRoutesNeedAToken(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	id := e.ownerID().String()
	tok := engine.NewID(time.Now()).String()
	for _, r := range [][2]string{
		{"POST", "/api/v1/auth/logout"}, {"GET", "/api/v1/me"},
		{"GET", "/api/v1/users"}, {"GET", "/api/v1/users/" + id}, {"POST", "/api/v1/users/invitations"},
		{"PATCH", "/api/v1/users/" + id}, {"DELETE", "/api/v1/users/" + id},
		{"GET", "/api/v1/tokens"}, {"POST", "/api/v1/tokens"}, {"DELETE", "/api/v1/tokens/" + tok},
		{"GET", "/api/v1/auth/sessions"}, {"POST", "/api/v1/auth/logout-all"},
		{"PUT", "/api/v1/users/" + id + "/password"}, {"POST", "/api/v1/users/" + id + "/password-reset"},
	} {
		for _, token := range []string{"", "pk_wrong"} {
			st, body := e.api(r[0], r[1], token, nil)
			require.Equal(t, http.StatusUnauthorized, st, "%s %s", r[0], r[1])
			require.Equal(t, "unauthorized", errorCode(t, body))
		}
	}
	// The public routes take none.
	st, body := e.api("POST", "/api/v1/auth/login", "", map[string]any{"email": "a@example.com", "password": "whatever1"})
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, "invalid_credentials", errorCode(t, body))
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": "x", "name": "x", "password": "whatever1"})
	require.Equal(t, http.StatusNotFound, st)
	require.Equal(t, "invalid_invitation", errorCode(t, body))
}

// Concurrent requests cannot break the account rules: an invitation
// accepted twice at once makes one user; two owners demoting each other
// leave one owner.
func TestUsersConcurrentRules(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	second := e.addUser("two@example.com", engine.RoleOwner, "second owner")

	race := func(f func(i int) int) []int {
		out := make(chan int, 2)
		for i := range 2 {
			go func() { out <- f(i) }()
		}
		return []int{<-out, <-out}
	}
	code := e.invite(ownerToken, "new@example.com", engine.RoleAgent)
	accepts := race(func(i int) int {
		st, _ := e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{
			"code": code, "name": fmt.Sprint("New ", i), "password": "new password"})
		return st
	})
	require.Contains(t, accepts, http.StatusCreated)
	require.NotEqual(t, accepts[0], accepts[1])

	pairs := [2][2]string{{ownerToken, second.User.ID.String()}, {second.Token, e.ownerID().String()}}
	demotes := race(func(i int) int {
		st, _ := e.api("PATCH", "/api/v1/users/"+pairs[i][1], pairs[i][0], map[string]any{"role": "agent"})
		return st
	})
	require.Contains(t, demotes, http.StatusOK)
	require.NotEqual(t, demotes[0], demotes[1]) // the other: 409, or 403 once demoted

	owners, news := 0, 0
	for _, u := range e.users(second.Token) {
		if u.Role == engine.RoleOwner {
			owners++
		}
		if u.Email == "new@example.com" {
			news++
		}
	}
	require.Equal(t, 1, owners)
	require.Equal(t, 1, news)
}
