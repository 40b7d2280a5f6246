package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/argon2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Accounts and access: password login, session and personal API tokens,
// invitations, and the users of a workspace.
//
//	public
//	POST   /api/v1/auth/login          {email, password} → {token, expires_at, user}
//	POST   /api/v1/auth/accept-invite  {code, name, password} → 201 {token, expires_at, user}
//	authenticated
//	POST   /api/v1/auth/logout         revokes the calling session token → 204
//	GET    /api/v1/me                  → {user, workspace}
//	GET    /api/v1/users               any role → {users}
//	GET    /api/v1/users/{id}          any role → user
//	POST   /api/v1/users/invitations   admin+ {email, role} → 201 {code, email, role, expires_at}
//	PATCH  /api/v1/users/{id}          {role?, name?} → user
//	DELETE /api/v1/users/{id}          admin+, not oneself → 204
//	GET    /api/v1/tokens              the caller's tokens, never their secrets
//	POST   /api/v1/tokens              {name, expires_at?} → 201 with the secret, once
//	DELETE /api/v1/tokens/{id}         → 204
//
// A user id of another workspace is looked up under the caller's workspace
// and so is a 404, like an id that does not exist.
const (
	// sessionTTL is how long a login session lasts.
	sessionTTL = 30 * 24 * time.Hour
	// invitationTTL is how long an invitation code can be accepted.
	invitationTTL = 7 * 24 * time.Hour
	// maxSessions caps the live sessions of one user; a login beyond it
	// ends the oldest.
	maxSessions = 20
	// maxAPITokens caps the personal API tokens of one user.
	maxAPITokens = 50

	minPassword = 8
	maxPassword = 256
	maxName     = 128
	maxEmail    = 254
	maxCode     = 256

	// Failed logins allowed per window, per email and per client IP.
	loginFailuresPerEmail = 5
	loginFailuresPerIP    = 20
	loginWindow           = time.Minute
	// limiterCapacity bounds the keys each limiter remembers. Failures
	// cost a password hash each and hashing is bounded by hashSlots, so
	// a window cannot hold more failures than this from any number of
	// clients (4 slots × ~40 ms × 60 s ≈ 6,000).
	limiterCapacity = 1 << 16
	// hashSlots bounds concurrent password hashes: each takes
	// argonMemory KiB.
	hashSlots = 4
)

// Errors of the account routes.
var (
	errBadLogin = &apiError{fiber.StatusUnauthorized, "invalid_credentials", "the email or password is incorrect"}
	errBadCode  = &apiError{fiber.StatusNotFound, "invalid_invitation", "the invitation does not exist, was used or has expired"}
	errLastOwn  = &apiError{fiber.StatusConflict, "last_owner", "a workspace keeps at least one owner"}
	errTaken    = &apiError{fiber.StatusConflict, "email_taken", "a user with this email already exists"}
)

// users serves the account routes. mu serialises the read-check-write
// sequences that keep a workspace consistent: the last-owner rule, one
// account per email, one use per invitation. Parley is one process, so a
// mutex is enough.
type users struct {
	srv   *Server
	store *persistence.Store
	clock clockwork.Clock
	// emailLimit and ipLimit count failed logins (and failed invitation
	// codes, per IP).
	emailLimit, ipLimit *failureLimiter
	// hashes bounds concurrent password hashing (CPU and memory).
	hashes chan struct{}
	// dummy is a hash checked for unknown emails, so that a login takes
	// as long whether the email exists or not.
	dummyOnce sync.Once
	dummy     string

	mu sync.Mutex
}

// userRoutes registers the account routes. public routes take no token
// and are registered with full paths; the others are registered on api
// (a group at /api/v1) and check the token themselves unless the group
// already did. The public routes must be registered before any
// middleware that requires a token on /api/v1.
func (s *Server) userRoutes(public, api fiber.Router) {
	u := newUsers(s, s.cfg.Store, s.cfg.Runtime.Clock())
	public.Post("/api/v1/auth/login", u.login)
	public.Post("/api/v1/auth/accept-invite", u.acceptInvite)

	api.Post("/auth/logout", u.authed, u.logout)
	api.Get("/me", u.authed, u.me)
	api.Get("/users", u.authed, u.listUsers)
	api.Post("/users/invitations", u.authed, u.invite)
	api.Get("/users/:id", u.authed, u.getUser)
	api.Patch("/users/:id", u.authed, u.updateUser)
	api.Delete("/users/:id", u.authed, u.deleteUser)
	api.Get("/tokens", u.authed, u.listTokens)
	api.Post("/tokens", u.authed, u.createToken)
	api.Delete("/tokens/:id", u.authed, u.deleteToken)
	s.passwordRoutes(public, api, u)
	s.membershipRoutes(api, u)
	s.notificationRoutes(api, u)
}

func newUsers(s *Server, store *persistence.Store, clock clockwork.Clock) *users {
	return &users{
		srv: s, store: store, clock: clock,
		emailLimit: newFailureLimiter(clock, loginFailuresPerEmail, loginWindow, limiterCapacity),
		ipLimit:    newFailureLimiter(clock, loginFailuresPerIP, loginWindow, limiterCapacity),
		hashes:     make(chan struct{}, hashSlots),
	}
}

// authed requires a token unless a group middleware already checked it.
func (u *users) authed(c *fiber.Ctx) error {
	if who(c) != nil {
		return c.Next()
	}
	return u.srv.requireAuth(c)
}

// caller is the authenticated user of a request, as stored now.
type caller struct {
	user engine.User
	// role is the lesser of the token's role and the user's current
	// role.
	role engine.Role
}

func (u *users) caller(c *fiber.Ctx) (*caller, error) {
	p := who(c)
	if p == nil {
		return nil, errUnauthorized
	}
	return &caller{user: p.User, role: p.Role}, nil
}

// --- login and invitations (public) ---

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type sessionView struct {
	Token     string      `json:"token"`
	ExpiresAt time.Time   `json:"expires_at"`
	User      engine.User `json:"user"`
}

func (u *users) login(c *fiber.Ctx) error {
	var body loginBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	email, err := normalizeEmail(body.Email)
	if err != nil {
		return err
	}
	if body.Password == "" || len(body.Password) > maxPassword {
		return errorf(fiber.StatusBadRequest, "invalid", "password must be 1 to %d bytes", maxPassword)
	}
	ip := c.IP()
	if err := u.limited(c, u.ipLimit.blocked(ip), u.emailLimit.blocked(email)); err != nil {
		return err
	}
	cred, err := u.store.Credential(email)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	hash := cred.PasswordHash
	if err != nil {
		hash = u.dummyHash() // same work as a real check
	}
	ok := u.checkPassword(hash, body.Password) && err == nil
	var usr engine.User
	if ok {
		// The person signs in where they were last: the workspace they
		// last switched to or joined.
		if usr, ok, err = u.landing(&cred, email); err != nil {
			return err
		}
	}
	if !ok {
		u.ipLimit.fail(ip)
		u.emailLimit.fail(email)
		return errBadLogin
	}
	u.emailLimit.reset(email)
	// The right password to a suspended workspace says so, rather than
	// sign in to a session every route refuses (operator.go).
	if err := u.srv.ops.admits(usr.WorkspaceID); err != nil {
		return err
	}
	return u.commitSession(c, u.store.NewBatch(), usr, fiber.StatusOK)
}

// limited answers 429 with Retry-After when any wait is positive.
func (u *users) limited(c *fiber.Ctx, waits ...time.Duration) error {
	w := slices.Max(waits)
	if w <= 0 {
		return nil
	}
	secs := int((w + time.Second - 1) / time.Second)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return errorf(fiber.StatusTooManyRequests, "rate_limited", "too many failed attempts: retry in %d seconds", secs)
}

// issueSession adds a new session token of usr to b, for the client whose
// User-Agent is device, and ends the user's expired sessions and, beyond
// maxSessions, the oldest ones (which it returns).
func (u *users) issueSession(b *persistence.Batch, usr engine.User, device string) (string, persistence.IssuedToken, []persistence.IssuedToken, error) {
	now := u.clock.Now()
	existing, err := u.store.UserTokens(usr.WorkspaceID, usr.ID)
	if err != nil {
		return "", persistence.IssuedToken{}, nil, err
	}
	var live []persistence.IssuedToken
	for i := range existing {
		t := &existing[i]
		switch {
		case t.Expired(now):
			b.RevokeToken(t)
		case t.Kind == persistence.TokenSession:
			live = append(live, *t)
		}
	}
	var ended []persistence.IssuedToken
	for i := 0; i+maxSessions <= len(live); i++ { // oldest first
		b.RevokeToken(&live[i])
		ended = append(ended, live[i])
	}
	secret := NewSecret()
	tok := persistence.IssuedToken{ID: engine.NewID(now), Kind: persistence.TokenSession, Token: engine.Token{
		WorkspaceID: usr.WorkspaceID, UserID: usr.ID, Role: usr.Role, Name: "session",
		CreatedAt: now, ExpiresAt: now.Add(sessionTTL)}, Device: cleanDevice(device)}
	b.IssueToken(secret, &tok)
	return secret, tok, ended, nil
}

type acceptBody struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (u *users) acceptInvite(c *fiber.Ctx) error {
	var body acceptBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Code == "" || len(body.Code) > maxCode {
		return errorf(fiber.StatusBadRequest, "invalid", "code is required")
	}
	name, err := cleanName(body.Name)
	if err != nil {
		return err
	}
	if err := checkNewPassword(body.Password); err != nil {
		return err
	}
	ip := c.IP()
	if err := u.limited(c, u.ipLimit.blocked(ip)); err != nil {
		return err
	}
	inv, err := u.validInvitation(body.Code)
	if err != nil {
		if errors.Is(err, errBadCode) {
			u.ipLimit.fail(ip)
		}
		return err
	}
	// An email that already signs in to another workspace joins this one
	// with the password it has: the body's password must be it.
	cred, err := u.store.Credential(inv.Email)
	existing := err == nil
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	hash := cred.PasswordHash
	if existing { // outside the lock: checking and hashing are slow
		if err := u.limited(c, u.emailLimit.blocked(inv.Email)); err != nil {
			return err
		}
		if !u.checkPassword(hash, body.Password) {
			u.ipLimit.fail(ip)
			u.emailLimit.fail(inv.Email)
			return errExistingAccount
		}
	} else if hash, err = u.hashPassword(body.Password); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if inv, err = u.validInvitation(body.Code); err != nil { // it may have been used meanwhile
		return err
	}
	fresh, err := u.store.Credential(inv.Email)
	switch {
	case err != nil && !errors.Is(err, persistence.ErrNotFound):
		return err
	case (err == nil) != existing || fresh.PasswordHash != cred.PasswordHash:
		return errAccountChanged
	}
	cred = fresh
	if _, ok := cred.MemberIn(inv.WorkspaceID); ok {
		return errTaken
	}
	if err := u.srv.ops.admits(inv.WorkspaceID); err != nil {
		return err
	}
	if err := u.srv.ops.seatsForAcceptance(inv.WorkspaceID); err != nil {
		return err
	}
	at := u.clock.Now()
	usr := engine.User{ID: engine.NewID(at), WorkspaceID: inv.WorkspaceID, Email: inv.Email, Name: name,
		Role: inv.Role, CreatedAt: at}
	cred.PasswordHash = hash
	cred.AddMembership(usr.WorkspaceID, usr.ID)
	b := u.store.NewBatch()
	b.PutUser(&usr)
	b.PutCredential(inv.Email, &cred)
	b.DeleteInvitation(body.Code)
	if err := u.commitSession(c, b, usr, fiber.StatusCreated); err != nil {
		return err
	}
	account := "new"
	if existing {
		account = "existing"
	}
	u.srv.metrics.invitationsAccepted.WithLabelValues(account).Inc()
	return nil
}

// validInvitation reads an invitation that can still be accepted: not
// expired, and its inviter still a member who may grant its role.
func (u *users) validInvitation(code string) (persistence.Invitation, error) {
	inv, err := u.store.Invitation(code)
	if errors.Is(err, persistence.ErrNotFound) {
		return inv, errBadCode
	}
	if err != nil {
		return inv, err
	}
	if !u.clock.Now().Before(inv.ExpiresAt) {
		return inv, errBadCode
	}
	if inv.InvitedBy == engine.ZeroID && inv.Role == engine.RoleOwner {
		return inv, nil // the operator's invitation of a new workspace's owner (operator.go)
	}
	inviter, err := u.store.User(inv.WorkspaceID, inv.InvitedBy)
	if errors.Is(err, persistence.ErrNotFound) {
		return inv, errBadCode
	}
	if err != nil {
		return inv, err
	}
	if !canInvite(inviter.Role, inv.Role) {
		return inv, errBadCode
	}
	return inv, nil
}

// canInvite reports whether a user with role by may invite (or make)
// a user with role r: admins invite admins and agents, owners anyone.
func canInvite(by, r engine.Role) bool {
	return by.AtLeast(engine.RoleAdmin) && (r != engine.RoleOwner || by == engine.RoleOwner)
}

// --- the caller ---

// logout ends the calling session. Signed in with an API token, it ends
// nothing (the token is for scripts too: revoke it with DELETE
// /api/v1/tokens/{id}) and answers 204 all the same, so that a client
// signs out alike whatever it signed in with.
func (u *users) logout(c *fiber.Ctx) error {
	if _, err := u.caller(c); err != nil {
		return err
	}
	p := who(c)
	if p.Kind != persistence.TokenSession {
		return c.SendStatus(fiber.StatusNoContent)
	}
	tok := persistence.IssuedToken{ID: p.TokenID, Kind: p.Kind, Token: p.Token, Hash: p.Hash}
	b := u.store.NewBatch()
	b.RevokeToken(&tok)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	u.srv.signedOut([]persistence.IssuedToken{tok})
	return c.SendStatus(fiber.StatusNoContent)
}

func (u *users) me(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	ws, err := u.store.Workspace(me.user.WorkspaceID)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(fiber.Map{"user": me.user, "workspace": ws, "role": me.role})
}

// --- users of the workspace ---

func (u *users) listUsers(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	list, err := u.store.Users(me.user.WorkspaceID)
	if err != nil {
		return err
	}
	// Each with its presence (presence.go): online, away or offline.
	out := make([]userWithPresence, len(list))
	for i := range list {
		out[i] = userWithPresence{User: list[i], Presence: u.srv.presence.State(list[i].WorkspaceID, list[i].ID)}
	}
	return c.JSON(fiber.Map{"users": out})
}

// userWithPresence is a user as the users list shows it.
type userWithPresence struct {
	engine.User
	Presence engine.PresenceState `json:"presence"`
}

// target reads the user named by the :id parameter in the caller's
// workspace: ids of other workspaces are not found.
func (u *users) target(c *fiber.Ctx, me *caller) (engine.User, error) {
	id, err := engine.ParseID(c.Params("id"))
	if err != nil {
		return engine.User{}, errNotFound
	}
	usr, err := u.store.User(me.user.WorkspaceID, id)
	if err != nil {
		return usr, fromEngine(err)
	}
	return usr, nil
}

func (u *users) getUser(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	usr, err := u.target(c, me)
	if err != nil {
		return err
	}
	return c.JSON(usr)
}

type inviteBody struct {
	Email string      `json:"email"`
	Role  engine.Role `json:"role"`
}

func (u *users) invite(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	if !me.role.AtLeast(engine.RoleAdmin) {
		return errForbidden
	}
	var body inviteBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	email, err := normalizeEmail(body.Email)
	if err != nil {
		return err
	}
	if !body.Role.Valid() {
		return errorf(fiber.StatusBadRequest, "invalid", "role must be owner, admin or agent")
	}
	if !canInvite(me.role, body.Role) {
		return errorf(fiber.StatusForbidden, "forbidden", "only an owner can invite an owner")
	}
	// A member of this workspace with the email is a conflict; an
	// account elsewhere is only told to whoever accepts, so that an
	// invitation does not reveal other workspaces' users.
	list, err := u.store.Users(me.user.WorkspaceID)
	if err != nil {
		return err
	}
	for _, m := range list {
		if strings.EqualFold(m.Email, email) {
			return errTaken
		}
	}
	now := u.clock.Now()
	code := "inv_" + randomString(32)
	inv := persistence.Invitation{WorkspaceID: me.user.WorkspaceID, Email: email, Role: body.Role,
		InvitedBy: me.user.ID, CreatedAt: now, ExpiresAt: now.Add(invitationTTL)}
	// A pending invitation holds a seat of the plan (operator.go).
	err = u.srv.ops.withinLimit(me.user.WorkspaceID, engine.PlanSeats, 1, func() error {
		b := u.store.NewBatch()
		b.PutInvitation(code, &inv)
		return u.store.Commit(b)
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"code": code, "email": inv.Email, "role": inv.Role, "expires_at": inv.ExpiresAt})
}

type updateUserBody struct {
	Role *engine.Role `json:"role"`
	Name *string      `json:"name"`
}

func (u *users) updateUser(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	var body updateUserBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Role == nil && body.Name == nil {
		return errorf(fiber.StatusBadRequest, "invalid", "nothing to change: set role or name")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, err := u.target(c, me)
	if err != nil {
		return err
	}
	self := usr.ID == me.user.ID
	before := auditedUser{Name: usr.Name, Role: usr.Role}
	if body.Name != nil && !self && !me.role.AtLeast(engine.RoleAdmin) {
		return errorf(fiber.StatusForbidden, "forbidden", "only an admin can rename another user")
	}
	if body.Role != nil && me.role != engine.RoleOwner {
		return errorf(fiber.StatusForbidden, "forbidden", "only an owner can change roles")
	}
	if body.Name != nil {
		if usr.Name, err = cleanName(*body.Name); err != nil {
			return err
		}
	}
	roleChanged := false
	if body.Role != nil {
		if !body.Role.Valid() {
			return errorf(fiber.StatusBadRequest, "invalid", "role must be owner, admin or agent")
		}
		if usr.Role == engine.RoleOwner && *body.Role != engine.RoleOwner {
			if err := u.checkNotLastOwner(usr.WorkspaceID); err != nil {
				return err
			}
		}
		roleChanged = usr.Role != *body.Role
		usr.Role = *body.Role
	}
	b := u.store.NewBatch()
	b.PutUser(&usr)
	if roleChanged {
		// Tokens carry their role: the user's tokens follow the change
		// in the same batch.
		toks, err := u.store.UserTokens(usr.WorkspaceID, usr.ID)
		if err != nil {
			b.Close()
			return err
		}
		for i := range toks {
			toks[i].Role = usr.Role
			b.PutIssuedToken(&toks[i])
		}
	}
	// The change and its audit entry, with the name and role before and
	// after, commit together.
	auditChange(c, before, auditedUser{Name: usr.Name, Role: usr.Role})
	p := who(c)
	u.srv.auditInto(c, b, p.User, p.TokenID, p.Kind, fiber.StatusOK)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	return c.JSON(usr)
}

// auditedUser is what the audit log keeps of a user before and after a
// change.
type auditedUser struct {
	Name string      `json:"name"`
	Role engine.Role `json:"role"`
}

// checkNotLastOwner fails when ws has one owner or none; call it with mu
// held before an owner is demoted or deleted.
func (u *users) checkNotLastOwner(ws engine.ID) error {
	list, err := u.store.Users(ws)
	if err != nil {
		return err
	}
	owners := 0
	for _, m := range list {
		if m.Role == engine.RoleOwner {
			owners++
		}
	}
	if owners <= 1 {
		return errLastOwn
	}
	return nil
}

func (u *users) deleteUser(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	if !me.role.AtLeast(engine.RoleAdmin) {
		return errForbidden
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, err := u.target(c, me)
	if err != nil {
		return err
	}
	if usr.Role == engine.RoleOwner {
		if me.role != engine.RoleOwner {
			return errorf(fiber.StatusForbidden, "forbidden", "only an owner can remove an owner")
		}
		if err := u.checkNotLastOwner(usr.WorkspaceID); err != nil {
			return err
		}
	}
	if usr.ID == me.user.ID {
		// Another owner or admin removes a user: nobody locks themselves
		// out by a slip.
		return errorf(fiber.StatusConflict, "self", "you cannot remove yourself: another owner or admin can")
	}
	toks, err := u.store.UserTokens(usr.WorkspaceID, usr.ID)
	if err != nil {
		return err
	}
	b := u.store.NewBatch()
	for i := range toks {
		b.RevokeToken(&toks[i])
	}
	// The person keeps their other workspaces: only this membership of
	// their credential ends.
	if err := u.leaveCredential(b, &usr); err != nil {
		b.Close()
		return err
	}
	b.DeleteUser(usr.WorkspaceID, usr.ID)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	u.srv.signedOut(toks)
	// The user's contacts lose their owner, each through its actor.
	if err := u.srv.cfg.Runtime.RemoveOwner(c.UserContext(), usr.WorkspaceID, usr.ID); err != nil {
		u.srv.log.Error("Clearing the owner of a removed user's contacts", "user", usr.ID, "err", err)
	}
	// And leaves its teams, through the teams' owner.
	if err := u.srv.teams.removeMember(usr.WorkspaceID, usr.ID); err != nil {
		u.srv.log.Error("Removing a removed user from its teams", "user", usr.ID, "err", err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// --- personal tokens ---

// tokenView is a token as the API shows it: never its secret, except in
// the answer that creates it.
type tokenView struct {
	ID        engine.ID             `json:"id"`
	Kind      persistence.TokenKind `json:"kind"`
	Name      string                `json:"name"`
	Role      engine.Role           `json:"role"`
	CreatedAt time.Time             `json:"created_at"`
	ExpiresAt time.Time             `json:"expires_at,omitzero"`
	Token     string                `json:"token,omitempty"`
}

func viewToken(t *persistence.IssuedToken) tokenView {
	return tokenView{ID: t.ID, Kind: t.Kind, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

func (u *users) listTokens(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	toks, err := u.store.UserTokens(me.user.WorkspaceID, me.user.ID)
	if err != nil {
		return err
	}
	now := u.clock.Now()
	out := make([]tokenView, 0, len(toks))
	for i := range toks {
		if !toks[i].Expired(now) {
			out = append(out, viewToken(&toks[i]))
		}
	}
	return c.JSON(fiber.Map{"tokens": out})
}

type createTokenBody struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (u *users) createToken(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	var body createTokenBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	name, err := cleanName(body.Name)
	if err != nil {
		return err
	}
	now := u.clock.Now()
	if !body.ExpiresAt.IsZero() && !body.ExpiresAt.After(now) {
		return errorf(fiber.StatusBadRequest, "invalid", "expires_at must be in the future")
	}
	toks, err := u.store.UserTokens(me.user.WorkspaceID, me.user.ID)
	if err != nil {
		return err
	}
	n := 0
	for i := range toks {
		if toks[i].Kind == persistence.TokenAPI && !toks[i].Expired(now) {
			n++
		}
	}
	if n >= maxAPITokens {
		return errorf(fiber.StatusConflict, "too_many_tokens", "a user has at most %d API tokens: revoke one first", maxAPITokens)
	}
	secret := NewSecret()
	tok := persistence.IssuedToken{ID: engine.NewID(now), Kind: persistence.TokenAPI, Token: engine.Token{
		WorkspaceID: me.user.WorkspaceID, UserID: me.user.ID, Role: me.role, Name: name,
		CreatedAt: now, ExpiresAt: body.ExpiresAt.UTC()}}
	b := u.store.NewBatch()
	b.IssueToken(secret, &tok)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	v := viewToken(&tok)
	v.Token = secret
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (u *users) deleteToken(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	id, err := engine.ParseID(c.Params("id"))
	if err != nil {
		return errNotFound
	}
	tok, err := u.store.IssuedToken(me.user.WorkspaceID, me.user.ID, id)
	if err != nil {
		return fromEngine(err)
	}
	b := u.store.NewBatch()
	b.RevokeToken(&tok)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	u.srv.signedOut([]persistence.IssuedToken{tok})
	return c.SendStatus(fiber.StatusNoContent)
}

// --- validation ---

// normalizeEmail checks an email address and returns it trimmed and in
// lower case: one account per address whatever its case.
func normalizeEmail(s string) (string, error) {
	bad := errorf(fiber.StatusBadRequest, "invalid", "email must be a plain address like name@example.com")
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmail || !utf8.ValidString(s) {
		return "", bad
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' {
			return "", bad
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at > 64 || at == len(s)-1 {
		return "", bad
	}
	return strings.ToLower(s), nil
}

// cleanName checks a display name and returns it trimmed.
func cleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxName || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", errorf(fiber.StatusBadRequest, "invalid", "name must be 1 to %d bytes of text", maxName)
	}
	return s, nil
}

// cleanDevice keeps a User-Agent as a session's device: printable text,
// at most maxDevice bytes.
func cleanDevice(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, ua)
	for len(ua) > maxDevice {
		_, n := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-n]
	}
	return strings.TrimSpace(ua)
}

func checkNewPassword(p string) error {
	if len(p) < minPassword || len(p) > maxPassword {
		return errorf(fiber.StatusBadRequest, "invalid", "password must be %d to %d bytes", minPassword, maxPassword)
	}
	return nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// --- passwords: argon2id, in PHC string format ---

// Argon2id parameters: OWASP's first recommendation (19 MiB, 2 passes,
// one lane). The hash string records them, so changing them later still
// checks old hashes.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

func (u *users) hashPassword(p string) (string, error) {
	u.hashes <- struct{}{}
	defer func() { <-u.hashes }()
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	key := argon2.IDKey([]byte(p), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// checkPassword reports whether p matches encoded. A malformed hash, or
// one whose parameters are out of bounds, matches nothing.
func (u *users) checkPassword(encoded, p string) bool {
	var version int
	var memory, passes uint32
	var threads uint8
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 ||
		memory < 8 || memory > 256*1024 || passes < 1 || passes > 16 || threads < 1 || threads > 16 {
		return false
	}
	u.hashes <- struct{}{}
	defer func() { <-u.hashes }()
	got := argon2.IDKey([]byte(p), salt, passes, memory, threads, uint32(len(key))) //nolint:gosec // len(key) ≤ 64
	return subtle.ConstantTimeCompare(got, key) == 1
}

func (u *users) dummyHash() string {
	u.dummyOnce.Do(func() {
		h, err := u.hashPassword(randomString(16))
		if err == nil {
			u.dummy = h
		}
	})
	return u.dummy
}

// --- rate limiting ---

// failureLimiter counts failures per key in fixed windows that open at a
// key's first failure: after max failures in a window the key is blocked
// until the window ends. It remembers at most capacity keys; when full it
// drops ended windows, then an arbitrary key.
type failureLimiter struct {
	clock    clockwork.Clock
	max      int
	window   time.Duration
	capacity int
	// mu guards m.
	mu struct {
		sync.Mutex
		m map[string]failWindow
	}
}

type failWindow struct {
	start time.Time
	n     int
}

func newFailureLimiter(clock clockwork.Clock, maxFailures int, window time.Duration, capacity int) *failureLimiter {
	l := &failureLimiter{clock: clock, max: maxFailures, window: window, capacity: capacity}
	l.mu.m = make(map[string]failWindow)
	return l
}

// blocked returns how long key must wait before its next attempt, or 0.
func (l *failureLimiter) blocked(key string) time.Duration {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.mu.m[key]
	if !ok || w.n < l.max {
		return 0
	}
	return max(0, w.start.Add(l.window).Sub(now))
}

// fail counts a failure of key.
func (l *failureLimiter) fail(key string) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.mu.m[key]
	if !ok || !now.Before(w.start.Add(l.window)) {
		if !ok && len(l.mu.m) >= l.capacity {
			l.makeRoomLocked(now)
		}
		w = failWindow{start: now}
	}
	w.n++
	l.mu.m[key] = w
}

// reset forgets key's failures.
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	delete(l.mu.m, key)
	l.mu.Unlock()
}

func (l *failureLimiter) makeRoomLocked(now time.Time) {
	for k, w := range l.mu.m {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.mu.m, k)
		}
	}
	for k := range l.mu.m {
		if len(l.mu.m) < l.capacity {
			break
		}
		delete(l.mu.m, k)
	}
}
