package gateway_test

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/persistence"
)

// workspaceOf creates a workspace named name with an owner whose new API
// token it returns.
func (e *env) workspaceOf(name string) (engine.ID, string) {
	e.t.Helper()
	secret := gateway.NewSecret()
	return e.workspaceWith(name, secret), secret
}

type membershipList struct {
	Workspaces []struct {
		ID      engine.ID   `json:"id"`
		Name    string      `json:"name"`
		Role    engine.Role `json:"role"`
		UserID  engine.ID   `json:"user_id"`
		Current bool        `json:"current"`
	} `json:"workspaces"`
}

func (e *env) myWorkspaces(token string) membershipList {
	e.t.Helper()
	st, body := e.api("GET", "/api/v1/me/workspaces", token, nil)
	require.Equal(e.t, http.StatusOK, st, string(body))
	return decodeAs[membershipList](e.t, body)
}

// One person in two workspaces: joins the second with the password they
// have, signs in where they were last, switches (the old session ends,
// its socket closes), and stays in one workspace when removed from the
// other. Nobody of one workspace can set the shared password.
func TestMembershipsAcrossWorkspaces(t *testing.T) {
	t.Parallel()
	e, _, reg := newAuditEnv(t)
	wsB, ownerB := e.workspaceOf("Bravo")
	wsC, _ := e.workspaceOf("Charlie")
	ana := e.addUser("ana@example.com", engine.RoleAdmin, "ana's password")
	require.Len(t, e.myWorkspaces(ana.Token).Workspaces, 1)

	// Joining B asks for the existing password: a wrong one creates
	// nothing and leaves the invitation usable.
	code := e.invite(ownerB, "Ana@Example.com", engine.RoleAgent)
	st, body := e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Ana B", "password": "a new password"})
	require.Equal(t, http.StatusUnauthorized, st, string(body))
	require.Equal(t, "invalid_credentials", errorCode(t, body))
	require.Len(t, e.users(ownerB), 1)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Ana B", "password": "ana's password"})
	require.Equal(t, http.StatusCreated, st, string(body))
	inB := decodeAs[session](t, body)
	require.Equal(t, wsB, inB.User.WorkspaceID)
	require.Equal(t, engine.RoleAgent, inB.User.Role)
	require.Len(t, e.users(ownerB), 2)
	// The old password still opens A: there is one password.
	st, _, body = e.login("ana@example.com", "a new password")
	require.Equal(t, http.StatusUnauthorized, st, string(body))

	list := e.myWorkspaces(inB.Token).Workspaces
	require.Len(t, list, 2)
	require.Equal(t, e.ws, list[0].ID)
	require.Equal(t, engine.RoleAdmin, list[0].Role)
	require.False(t, list[0].Current)
	require.Equal(t, wsB, list[1].ID)
	require.Equal(t, "Bravo", list[1].Name)
	require.Equal(t, engine.RoleAgent, list[1].Role)
	require.True(t, list[1].Current)

	// Sign-in lands in the workspace joined last.
	st, _, body = e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st, string(body))
	s := decodeAs[session](t, body)
	require.Equal(t, wsB, s.User.WorkspaceID)

	// Switching ends the session (and its socket) and issues one in A.
	sock, _, err := e.dialWS("token=" + s.Token)
	require.NoError(t, err)
	st, body = e.api("POST", "/api/v1/me/workspaces/"+e.ws.String()+"/switch", s.Token, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	inA := decodeAs[session](t, body)
	require.Equal(t, ana.User.ID, inA.User.ID)
	require.Equal(t, engine.RoleAdmin, inA.User.Role)
	requireSocketEnds(t, sock)
	st, _ = e.api("GET", "/api/v1/me", s.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	st, body = e.api("GET", "/api/v1/me", inA.Token, nil)
	require.Equal(t, http.StatusOK, st)
	require.Contains(t, string(body), e.ws.String())
	require.Equal(t, 1.0, counterValue(t, reg, "parley_auth_workspace_switches_total", ""))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_auth_invitations_accepted_total", "existing"))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_auth_invitations_accepted_total", "new"))
	// ... and the next sign-in lands in A.
	st, _, body = e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st, string(body))
	require.Equal(t, e.ws, decodeAs[session](t, body).User.WorkspaceID)

	// Not a member of C, nor of a workspace that does not exist: 404.
	for _, id := range []engine.ID{wsC, engine.NewID(time.Now())} {
		st, body = e.api("POST", "/api/v1/me/workspaces/"+id.String()+"/switch", inA.Token, nil)
		require.Equal(t, http.StatusNotFound, st, string(body))
	}
	st, _ = e.api("POST", "/api/v1/me/workspaces/nope/switch", inA.Token, nil)
	require.Equal(t, http.StatusNotFound, st)
	// An API token stays in its workspace.
	st, body = e.api("POST", "/api/v1/tokens", inA.Token, map[string]any{"name": "ci"})
	require.Equal(t, http.StatusCreated, st, string(body))
	api := decodeAs[struct {
		Token string `json:"token"`
	}](t, body).Token
	st, body = e.api("POST", "/api/v1/me/workspaces/"+wsB.String()+"/switch", api, nil)
	require.Equal(t, http.StatusForbidden, st, string(body))
	require.Equal(t, "session_required", errorCode(t, body))
	// Nobody of A sets or resets the password that opens B too.
	st, body = e.api("PUT", "/api/v1/users/"+ana.User.ID.String()+"/password", ownerToken, map[string]any{"password": "owner's choice"})
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "shared_account", errorCode(t, body))
	st, body = e.api("POST", "/api/v1/users/"+ana.User.ID.String()+"/password-reset", ownerToken, nil)
	require.Equal(t, http.StatusConflict, st, string(body))
	// An owner of B still invites and removes people of B only.
	st, body = e.api("GET", "/api/v1/users/"+ana.User.ID.String(), ownerB, nil)
	require.Equal(t, http.StatusNotFound, st, string(body))

	// Removed from B, Ana keeps A.
	st, body = e.api("DELETE", "/api/v1/users/"+inB.User.ID.String(), ownerB, nil)
	require.Equal(t, http.StatusNoContent, st, string(body))
	st, _ = e.api("GET", "/api/v1/me", inB.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	list = e.myWorkspaces(inA.Token).Workspaces
	require.Len(t, list, 1)
	require.Equal(t, e.ws, list[0].ID)
	st, body = e.api("POST", "/api/v1/me/workspaces/"+wsB.String()+"/switch", inA.Token, nil)
	require.Equal(t, http.StatusNotFound, st, string(body))
	st, _, body = e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st, string(body))
	require.Equal(t, e.ws, decodeAs[session](t, body).User.WorkspaceID)
	// With A alone again, A's owner may set her password.
	st, body = e.api("PUT", "/api/v1/users/"+ana.User.ID.String()+"/password", ownerToken, map[string]any{"password": "owner's choice"})
	require.Equal(t, http.StatusNoContent, st, string(body))
	// Removed from A too, the account is gone.
	st, body = e.api("DELETE", "/api/v1/users/"+ana.User.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, st, string(body))
	st, _, _ = e.login("ana@example.com", "owner's choice")
	require.Equal(t, http.StatusUnauthorized, st)
	_, err = e.store.Credential("ana@example.com")
	require.ErrorIs(t, err, persistence.ErrNotFound)

	// Joining after a removal lands a fresh account in B.
	code = e.invite(ownerB, "ana@example.com", engine.RoleAdmin)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Ana", "password": "a third password"})
	require.Equal(t, http.StatusCreated, st, string(body))
	require.Len(t, e.myWorkspaces(decodeAs[session](t, body).Token).Workspaces, 1)
}

// A credential stored before a person could belong to several workspaces
// (no memberships recorded) signs in, lists its workspace and joins
// another with its password.
func TestMembershipsOfAnExistingStore(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	bo := e.addUser("bo@example.com", engine.RoleAgent, "bo's password")
	// Rewrite the credential in its earlier form.
	cred, err := e.store.Credential("bo@example.com")
	require.NoError(t, err)
	require.Len(t, cred.Memberships, 1)
	old := persistence.Credential{WorkspaceID: cred.WorkspaceID, UserID: cred.UserID, PasswordHash: cred.PasswordHash}
	b := e.store.NewBatch()
	b.PutCredential("bo@example.com", &old)
	require.NoError(t, e.store.Commit(b))

	st, _, body := e.login("bo@example.com", "bo's password")
	require.Equal(t, http.StatusOK, st, string(body))
	s := decodeAs[session](t, body)
	require.Equal(t, bo.User.ID, s.User.ID)
	list := e.myWorkspaces(s.Token).Workspaces
	require.Len(t, list, 1)
	require.Equal(t, e.ws, list[0].ID)

	wsB, ownerB := e.workspaceOf("Bravo")
	code := e.invite(ownerB, "bo@example.com", engine.RoleAdmin)
	st, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Bo", "password": "bo's password"})
	require.Equal(t, http.StatusCreated, st, string(body))
	inB := decodeAs[session](t, body)
	list = e.myWorkspaces(inB.Token).Workspaces
	require.Len(t, list, 2)
	require.Equal(t, []engine.ID{e.ws, wsB}, []engine.ID{list[0].ID, list[1].ID})
	cred, err = e.store.Credential("bo@example.com")
	require.NoError(t, err)
	require.Equal(t, []persistence.Membership{{WorkspaceID: e.ws, UserID: bo.User.ID}, {WorkspaceID: wsB, UserID: inB.User.ID}}, cred.Memberships)
	st, body = e.api("POST", "/api/v1/me/workspaces/"+e.ws.String()+"/switch", inB.Token, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	require.Equal(t, bo.User.ID, decodeAs[session](t, body).User.ID)
}

// requireSocketEnds reads a socket's frames until the server closes it.
func requireSocketEnds(t *testing.T, c *wsClient) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept the socket open")
			return
		}
	}
}
