package gateway

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// A person in several workspaces (docs/ARCHITECTURE.md, "People in
// several workspaces"): one credential per email lists the person's
// memberships, a (workspace, user) pair each; the person is a user of
// each workspace with a name and role of their own there. A token,
// session or API, belongs to one user and so to one workspace.
//
//	GET  /api/v1/me/workspaces              → {workspaces: [{id, name, role, user_id, current}]}
//	POST /api/v1/me/workspaces/{id}/switch  session only → {token, expires_at, user}
//
// Switching ends the calling session and issues one in the other
// workspace; the next sign-in lands there too. The credential is written
// under users.mu, like every other credential change.

// Errors of memberships.
var (
	errSessionOnly = &apiError{fiber.StatusForbidden, "session_required",
		"switching workspaces takes a signed-in session: an API token stays in its workspace"}
	errSharedAccount = &apiError{fiber.StatusConflict, "shared_account",
		"this person belongs to other workspaces too: only they can change their password"}
	errExistingAccount = &apiError{fiber.StatusUnauthorized, "invalid_credentials",
		"this email already has a Parley account: enter its password to join"}
	errAccountChanged = &apiError{fiber.StatusConflict, "conflict",
		"the account changed meanwhile: try again"}
)

// workspaceMembership is one workspace of the caller, as listed.
type workspaceMembership struct {
	ID     engine.ID   `json:"id"`
	Name   string      `json:"name"`
	Role   engine.Role `json:"role"`
	UserID engine.ID   `json:"user_id"`
	// Current is the workspace of the request's token.
	Current bool `json:"current"`
}

func (s *Server) membershipRoutes(api fiber.Router, u *users) {
	api.Get("/me/workspaces", u.authed, u.myWorkspaces)
	api.Post("/me/workspaces/:id/switch", u.authed, u.switchWorkspace)
}

// credentialOf reads the credential of usr's email when usr is one of its
// memberships (ok false otherwise, or without an email).
func (u *users) credentialOf(usr *engine.User) (persistence.Credential, bool, error) {
	if usr.Email == "" {
		return persistence.Credential{}, false, nil
	}
	cred, err := u.store.Credential(usr.Email)
	if errors.Is(err, persistence.ErrNotFound) {
		return cred, false, nil
	}
	if err != nil {
		return cred, false, err
	}
	id, ok := cred.MemberIn(usr.WorkspaceID)
	return cred, ok && id == usr.ID, nil
}

// memberUser reads the user m names if it is still the person whose
// email is given (ok false for a membership left behind).
func (u *users) memberUser(m persistence.Membership, email string) (engine.User, bool, error) {
	usr, err := u.store.User(m.WorkspaceID, m.UserID)
	if errors.Is(err, persistence.ErrNotFound) {
		return usr, false, nil
	}
	if err != nil {
		return usr, false, err
	}
	return usr, strings.EqualFold(usr.Email, email), nil
}

// landing returns the user a sign-in with cred lands as: the last used
// membership, else the oldest one still valid.
func (u *users) landing(cred *persistence.Credential, email string) (engine.User, bool, error) {
	ms := append([]persistence.Membership{{WorkspaceID: cred.WorkspaceID, UserID: cred.UserID}}, cred.CredentialMemberships()...)
	for _, m := range ms {
		if _, member := cred.MemberIn(m.WorkspaceID); !member {
			continue
		}
		usr, ok, err := u.memberUser(m, email)
		if err != nil || ok {
			return usr, ok, err
		}
	}
	return engine.User{}, false, nil
}

// myWorkspaces lists the workspaces of the caller's person.
func (u *users) myWorkspaces(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	cred, member, err := u.credentialOf(&me.user)
	if err != nil {
		return err
	}
	ms := []persistence.Membership{{WorkspaceID: me.user.WorkspaceID, UserID: me.user.ID}}
	if member {
		ms = cred.CredentialMemberships()
	}
	out := make([]workspaceMembership, 0, len(ms))
	for _, m := range ms {
		usr, ok, err := u.memberUser(m, me.user.Email)
		if err != nil {
			return err
		}
		if !ok && m.UserID != me.user.ID {
			continue
		}
		ws, err := u.store.Workspace(m.WorkspaceID)
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		role := usr.Role
		current := m.WorkspaceID == me.user.WorkspaceID
		if current {
			role = me.role
		}
		out = append(out, workspaceMembership{ID: ws.ID, Name: ws.Name, Role: role, UserID: m.UserID, Current: current})
	}
	return c.JSON(fiber.Map{"workspaces": out})
}

// switchWorkspace ends the calling session and signs the person in to
// another of their workspaces.
func (u *users) switchWorkspace(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	p := who(c)
	if p.Kind != persistence.TokenSession {
		return errSessionOnly
	}
	id, err := engine.ParseID(c.Params("id"))
	if err != nil {
		return errNotFound
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	cred, member, err := u.credentialOf(&me.user)
	if err != nil {
		return err
	}
	uid, ok := cred.MemberIn(id)
	if !member || !ok {
		return errNotFound
	}
	usr, ok, err := u.memberUser(persistence.Membership{WorkspaceID: id, UserID: uid}, me.user.Email)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound
	}
	cur := persistence.IssuedToken{ID: p.TokenID, Kind: p.Kind, Token: p.Token, Hash: p.Hash}
	b := u.store.NewBatch()
	b.RevokeToken(&cur)
	cred.AddMembership(id, usr.ID)
	b.PutCredential(usr.Email, &cred)
	if err := u.commitSession(c, b, usr, fiber.StatusOK); err != nil {
		return err
	}
	u.srv.metrics.workspaceSwitches.Inc()
	u.srv.signedOut([]persistence.IssuedToken{cur})
	return nil
}

// leaveCredential adds to b the end of usr's membership in the
// credential of their email: the credential is deleted with its last
// membership.
func (u *users) leaveCredential(b *persistence.Batch, usr *engine.User) error {
	cred, member, err := u.credentialOf(usr)
	if err != nil || !member {
		return err
	}
	if cred.RemoveMembership(usr.WorkspaceID, usr.ID) == 0 {
		b.DeleteCredential(usr.Email)
	} else {
		b.PutCredential(usr.Email, &cred)
	}
	return nil
}

// sharedElsewhere reports whether usr's person belongs to a workspace
// other than usr's: then nobody of usr's workspace but the person may set
// their password, which opens every workspace of theirs.
func (u *users) sharedElsewhere(usr *engine.User) (bool, error) {
	cred, member, err := u.credentialOf(usr)
	if err != nil || !member {
		return false, err
	}
	for _, m := range cred.CredentialMemberships() {
		if m.WorkspaceID != usr.WorkspaceID {
			return true, nil
		}
	}
	return false, nil
}

// endPersonSessions adds to b the end of the sessions of every
// membership of cred but the one whose hash is keep, and returns them.
func (u *users) endPersonSessions(b *persistence.Batch, cred *persistence.Credential, keep []byte) ([]persistence.IssuedToken, error) {
	var out []persistence.IssuedToken
	for _, m := range cred.CredentialMemberships() {
		ended, err := u.endSessions(b, &engine.User{WorkspaceID: m.WorkspaceID, ID: m.UserID}, keep)
		if err != nil {
			return nil, err
		}
		out = append(out, ended...)
	}
	return out, nil
}
