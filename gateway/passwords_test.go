package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
)

// refused checks that a request is answered with status and error code.
func (e *env) refused(method, path, token string, body any, status int, code string) {
	e.t.Helper()
	st, b := e.api(method, path, token, body)
	require.Equal(e.t, status, st, "%s %s: %s", method, path, b)
	require.Equal(e.t, code, errorCode(e.t, b), "%s %s", method, path)
}

// The first owner has only an API token: the setup link printed at start
// gives them a name, an email and a password, once, for 24 hours.
func TestSetupLink(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	old, err := gateway.SetupLink(e.store, clock.Now())
	require.NoError(t, err)
	require.NotEmpty(t, old)
	// A restart prints a new link; the old one stops working.
	code, err := gateway.SetupLink(e.store, clock.Now())
	require.NoError(t, err)
	require.NotEqual(t, old, code)
	good := map[string]any{"code": code, "name": "Olga Owner", "email": "Olga@Example.com", "password": "olga's password"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	const setup = "/api/v1/auth/setup"
	e.refused("POST", setup, "", with("code", old), http.StatusNotFound, "invalid_link")
	e.refused("POST", setup, "", with("code", "setup_nope"), http.StatusNotFound, "invalid_link")
	e.refused("POST", setup, "", with("email", "not an email"), http.StatusBadRequest, "invalid")
	e.refused("POST", setup, "", with("password", "short"), http.StatusBadRequest, "invalid")
	e.refused("POST", setup, "", with("name", " "), http.StatusBadRequest, "invalid")
	e.refused("POST", setup, "", with("email", nil), http.StatusBadRequest, "invalid")
	e.refused("POST", setup, "", with("extra", 1), http.StatusBadRequest, "bad_json")
	e.refused("POST", setup, "", []byte("{"), http.StatusBadRequest, "bad_json")
	// A reset link's code is no setup code, nor the other way round.
	e.refused("POST", "/api/v1/auth/reset-password", "", map[string]any{"code": code, "password": "whatever1"},
		http.StatusNotFound, "invalid_link")
	// An email that has an account already is refused.
	e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	e.refused("POST", setup, "", with("email", "ana@example.com"), http.StatusConflict, "email_taken")
	st, _, _ := e.login("olga@example.com", "olga's password")
	require.Equal(t, http.StatusUnauthorized, st, "nothing was stored by the refusals")

	st, body := e.api("POST", setup, "", good)
	require.Equal(t, http.StatusCreated, st, string(body))
	s := decodeAs[session](t, body)
	require.Equal(t, e.ownerID(), s.User.ID)
	require.Equal(t, "Olga Owner", s.User.Name)
	require.Equal(t, "olga@example.com", s.User.Email)
	require.Equal(t, engine.RoleOwner, s.User.Role)
	st, _ = e.api("GET", "/api/v1/me", s.Token, nil)
	require.Equal(t, http.StatusOK, st)
	st, _, _ = e.login("olga@example.com", "olga's password")
	require.Equal(t, http.StatusOK, st)
	// The API token still works, for scripts.
	st, _ = e.api("GET", "/api/v1/me", ownerToken, nil)
	require.Equal(t, http.StatusOK, st)
	// Once used, the code is gone, and no new link is made.
	e.refused("POST", setup, "", with("password", "another password"), http.StatusNotFound, "invalid_link")
	code, err = gateway.SetupLink(e.store, clock.Now())
	require.NoError(t, err)
	require.Empty(t, code)
}

// A setup link expires after 24 hours.
func TestSetupLinkExpires(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	code, err := gateway.SetupLink(e.store, clock.Now())
	require.NoError(t, err)
	clock.Advance(24 * time.Hour)
	e.refused("POST", "/api/v1/auth/setup", "", map[string]any{"code": code, "name": "O", "email": "o@example.com",
		"password": "o's password"}, http.StatusNotFound, "invalid_link")
}

// An owner or admin sets a user's password, or issues a one-time reset
// link; either ends the user's sessions.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	adm := e.addUser("adm@example.com", engine.RoleAdmin, "adm's password")
	boss := e.addUser("boss@example.com", engine.RoleOwner, "boss's password")
	pw := func(id engine.ID) string { return "/api/v1/users/" + id.String() + "/password" }
	link := func(id engine.ID) string { return "/api/v1/users/" + id.String() + "/password-reset" }

	// Roles: an agent changes nobody's; an admin not an owner's.
	e.refused("PUT", pw(adm.User.ID), ana.Token, map[string]any{"password": "new password"}, http.StatusForbidden, "forbidden")
	e.refused("POST", link(adm.User.ID), ana.Token, nil, http.StatusForbidden, "forbidden")
	e.refused("PUT", pw(boss.User.ID), adm.Token, map[string]any{"password": "new password"}, http.StatusForbidden, "forbidden")
	e.refused("POST", link(boss.User.ID), adm.Token, nil, http.StatusForbidden, "forbidden")
	// Bad input; unknown ids; a user with no email (the bootstrap owner).
	e.refused("PUT", pw(ana.User.ID), adm.Token, map[string]any{"password": "short"}, http.StatusBadRequest, "invalid")
	e.refused("PUT", pw(ana.User.ID), adm.Token, map[string]any{}, http.StatusBadRequest, "invalid")
	e.refused("PUT", pw(ana.User.ID), adm.Token, []byte("nope"), http.StatusBadRequest, "bad_json")
	e.refused("PUT", pw(engine.NewID(time.Now())), adm.Token, map[string]any{"password": "new password"}, http.StatusNotFound, "not_found")
	e.refused("POST", link(engine.NewID(time.Now())), adm.Token, nil, http.StatusNotFound, "not_found")
	e.refused("PUT", "/api/v1/users/x/password", adm.Token, map[string]any{"password": "new password"}, http.StatusNotFound, "not_found")
	e.refused("PUT", pw(e.ownerID()), boss.Token, map[string]any{"password": "new password"}, http.StatusConflict, "no_email")
	st, _, _ := e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st, "nothing changed")

	// The admin sets Ana's password: her sessions end, the admin's stays.
	st, body := e.api("PUT", pw(ana.User.ID), adm.Token, map[string]any{"password": "ana's new password"})
	require.Equal(t, http.StatusNoContent, st, string(body))
	st, _ = e.api("GET", "/api/v1/me", ana.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	st, _ = e.api("GET", "/api/v1/me", adm.Token, nil)
	require.Equal(t, http.StatusOK, st)
	st, _, _ = e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusUnauthorized, st)
	st, _, body = e.login("ana@example.com", "ana's new password")
	require.Equal(t, http.StatusOK, st)
	ana = decodeAs[session](t, body)

	// A reset link: one use; an older link of the user stops working.
	st, body = e.api("POST", link(ana.User.ID), adm.Token, nil)
	require.Equal(t, http.StatusCreated, st, string(body))
	first := decodeAs[struct {
		Code string `json:"code"`
	}](t, body).Code
	st, body = e.api("POST", link(ana.User.ID), boss.Token, nil)
	require.Equal(t, http.StatusCreated, st, string(body))
	v := decodeAs[struct {
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
	}](t, body)
	require.WithinDuration(t, clock.Now().Add(24*time.Hour), v.ExpiresAt, time.Second)
	const reset = "/api/v1/auth/reset-password"
	e.refused("POST", reset, "", map[string]any{"code": first, "password": "ana's third password"}, http.StatusNotFound, "invalid_link")
	e.refused("POST", reset, "", map[string]any{"code": v.Code, "password": "short"}, http.StatusBadRequest, "invalid")
	e.refused("POST", reset, "", map[string]any{"code": v.Code}, http.StatusBadRequest, "invalid")
	st, body = e.api("POST", reset, "", map[string]any{"code": v.Code, "password": "ana's third password"})
	require.Equal(t, http.StatusOK, st, string(body))
	s := decodeAs[session](t, body)
	require.Equal(t, ana.User.ID, s.User.ID)
	st, _ = e.api("GET", "/api/v1/me", ana.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st, "the reset ends the other sessions")
	st, _ = e.api("GET", "/api/v1/me", s.Token, nil)
	require.Equal(t, http.StatusOK, st)
	st, _, _ = e.login("ana@example.com", "ana's third password")
	require.Equal(t, http.StatusOK, st)
	e.refused("POST", reset, "", map[string]any{"code": v.Code, "password": "ana's fourth password"}, http.StatusNotFound, "invalid_link")

	// A link expires after 24 hours.
	st, body = e.api("POST", link(ana.User.ID), adm.Token, nil)
	require.Equal(t, http.StatusCreated, st, string(body))
	late := decodeAs[struct {
		Code string `json:"code"`
	}](t, body).Code
	clock.Advance(24 * time.Hour)
	e.refused("POST", reset, "", map[string]any{"code": late, "password": "ana's late password"}, http.StatusNotFound, "invalid_link")
}

type sessionRow struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	Device     string    `json:"device"`
	Current    bool      `json:"current"`
}

// The sessions list shows each sign-in with its device and last use, and
// signing out everywhere ends the other sessions, their WebSockets too.
func TestSessionsAndLogoutAll(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	first := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	clock.Advance(time.Second) // ids (and so the list's order) follow creation
	st, _, body := e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st)
	second := decodeAs[session](t, body)
	clock.Advance(time.Second)
	st, body = e.api("POST", "/api/v1/tokens", first.Token, map[string]any{"name": "script"})
	require.Equal(t, http.StatusCreated, st)
	script := decodeAs[struct {
		Token string `json:"token"`
	}](t, body).Token
	clock.Advance(2 * time.Minute)
	st, _ = e.api("GET", "/api/v1/me", first.Token, nil)
	require.Equal(t, http.StatusOK, st)

	st, body = e.api("GET", "/api/v1/auth/sessions", second.Token, nil)
	require.Equal(t, http.StatusOK, st, string(body))
	rows := decodeAs[struct {
		Sessions []sessionRow `json:"sessions"`
	}](t, body).Sessions
	require.Len(t, rows, 3)
	require.Equal(t, []string{"api", "session", "session"}, []string{rows[0].Kind, rows[1].Kind, rows[2].Kind})
	require.Equal(t, []bool{false, true, false}, []bool{rows[0].Current, rows[1].Current, rows[2].Current})
	require.Contains(t, rows[1].Device, "Go-http-client")
	require.Empty(t, rows[0].Device, "an API token has no device")
	require.WithinDuration(t, clock.Now(), rows[2].LastUsedAt, time.Second, "the first session was used just now")
	require.WithinDuration(t, clock.Now(), rows[1].LastUsedAt, time.Second)

	ws, _, err := e.dialWS("token=" + first.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", ws.events(1)[0].Type)

	e.refused("POST", "/api/v1/auth/logout-all", second.Token, []byte("[]"), http.StatusBadRequest, "bad_json")
	e.refused("POST", "/api/v1/auth/logout-all", second.Token, map[string]any{"include_current": "yes"}, http.StatusBadRequest, "bad_json")
	st, _ = e.api("GET", "/api/v1/me", first.Token, nil)
	require.Equal(t, http.StatusOK, st, "nothing changed")

	e.refused("POST", "/api/v1/auth/logout-all", second.Token, map[string]any{}, http.StatusBadRequest, "invalid")
	st, body = e.api("POST", "/api/v1/auth/logout-all", second.Token, map[string]any{"include_current": false})
	require.Equal(t, http.StatusOK, st, string(body))
	require.JSONEq(t, `{"revoked":1}`, string(body))
	st, _ = e.api("GET", "/api/v1/me", first.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, 4401, ws.closeFrame().Code, "the other session's WebSocket is closed")
	_, resp, err := e.dialWS("token=" + first.Token)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	for _, tok := range []string{second.Token, script} {
		st, _ = e.api("GET", "/api/v1/me", tok, nil)
		require.Equal(t, http.StatusOK, st, "the current session and API tokens stay")
	}
	st, body = e.api("GET", "/api/v1/auth/sessions", second.Token, nil)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, decodeAs[struct {
		Sessions []sessionRow `json:"sessions"`
	}](t, body).Sessions, 2)

	// include_current ends the current one too.
	st, body = e.api("POST", "/api/v1/auth/logout-all", second.Token, map[string]any{"include_current": true})
	require.Equal(t, http.StatusOK, st, string(body))
	require.JSONEq(t, `{"revoked":1}`, string(body))
	st, _ = e.api("GET", "/api/v1/me", second.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
}

// A signed-out session's WebSocket is closed with 4401 at once.
func TestLogoutClosesWebSocket(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	ws, _, err := e.dialWS("token=" + ana.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", ws.events(1)[0].Type)
	st, _ := e.api("POST", "/api/v1/auth/logout", ana.Token, nil)
	require.Equal(t, http.StatusNoContent, st)
	require.Equal(t, 4401, ws.closeFrame().Code)
}

// A user of another workspace is not found: their password is neither set
// nor reset.
func TestPasswordRoutesIsolateWorkspaces(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	e.newWorkspace("pk_workspace_b")
	id := ana.User.ID.String()
	e.refused("PUT", "/api/v1/users/"+id+"/password", "pk_workspace_b", map[string]any{"password": "new password"},
		http.StatusNotFound, "not_found")
	e.refused("POST", "/api/v1/users/"+id+"/password-reset", "pk_workspace_b", nil, http.StatusNotFound, "not_found")
	st, _, _ := e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st)
}

// A sign-in beyond the 20 sessions a user may hold ends the oldest one,
// and closes its WebSocket.
func TestOldestSessionEndsWithItsWebSocket(t *testing.T) {
	t.Parallel()
	e, clock := newUsersEnv(t)
	oldest := e.addUser("ana@example.com", engine.RoleAgent, "ana's password")
	ws, _, err := e.dialWS("token=" + oldest.Token)
	require.NoError(t, err)
	require.Equal(t, "hello", ws.events(1)[0].Type)
	for range 19 {
		clock.Advance(time.Second) // ids (and so ages) in order
		st, _, _ := e.login("ana@example.com", "ana's password")
		require.Equal(t, http.StatusOK, st)
	}
	st, _ := e.api("GET", "/api/v1/me", oldest.Token, nil)
	require.Equal(t, http.StatusOK, st, "20 sessions are kept")
	st, _, _ = e.login("ana@example.com", "ana's password")
	require.Equal(t, http.StatusOK, st)
	st, _ = e.api("GET", "/api/v1/me", oldest.Token, nil)
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, 4401, ws.closeFrame().Code)
}
