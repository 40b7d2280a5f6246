package gateway_test

import (
	"net/http"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Nobody removes themselves (409 self, nothing changed): another owner or
// admin does.
func TestRemoveSelf(t *testing.T) {
	t.Parallel()
	e, _ := newUsersEnv(t)
	admin := e.addUser("ad@example.com", engine.RoleAdmin, "admin password")
	owner2 := e.addUser("o2@example.com", engine.RoleOwner, "owner password")
	for _, s := range []session{admin, owner2} {
		st, body := e.api("DELETE", "/api/v1/users/"+s.User.ID.String(), s.Token, nil)
		require.Equal(t, http.StatusConflict, st, string(body))
		require.Equal(t, "self", errorCode(t, body))
		st, _ = e.api("GET", "/api/v1/me", s.Token, nil)
		require.Equal(t, http.StatusOK, st, "still signed in")
	}
	st, _ := e.api("DELETE", "/api/v1/users/"+admin.User.ID.String(), owner2.Token, nil)
	require.Equal(t, http.StatusNoContent, st)
	// With two owners, the bootstrap owner is removed by the other one,
	// not by itself.
	st, body := e.api("DELETE", "/api/v1/users/"+e.ownerID().String(), ownerToken, nil)
	require.Equal(t, http.StatusConflict, st, string(body))
	require.Equal(t, "self", errorCode(t, body))
	st, _ = e.api("DELETE", "/api/v1/users/"+e.ownerID().String(), owner2.Token, nil)
	require.Equal(t, http.StatusNoContent, st)
}
