package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// First run, password resets and sessions:
//
//	public
//	POST   /api/v1/auth/setup           {code, name, email, password} → 201 {token, expires_at, user}
//	POST   /api/v1/auth/reset-password  {code, password} → {token, expires_at, user}
//	authenticated
//	GET    /api/v1/auth/sessions        the caller's sessions and API tokens, with last use and device
//	POST   /api/v1/auth/logout-all      {include_current} → {revoked}: ends the caller's other sessions (or all)
//	PUT    /api/v1/users/{id}/password  admin+ {password} → 204: sets it and ends the user's sessions
//	POST   /api/v1/users/{id}/password-reset  admin+ → 201 {code, expires_at}: a one-time reset link's code
//
// A setup link is made at start (SetupLink) while no owner of the first
// workspace has a password; a reset link by an admin for a user. Both are
// one-time codes stored hashed (persistence.PasswordLink).
const (
	// setupLinkTTL is how long the first owner's setup link works.
	setupLinkTTL = 24 * time.Hour
	// resetLinkTTL is how long a password reset link works.
	resetLinkTTL = 24 * time.Hour
	// tokenUseEvery is how often a token's last use is written.
	tokenUseEvery = time.Minute
	// maxDevice bounds the User-Agent kept with a session.
	maxDevice = 256
)

var (
	errBadLink = &apiError{fiber.StatusNotFound, "invalid_link", "the link does not exist, was used or has expired"}
	errNoEmail = &apiError{fiber.StatusConflict, "no_email", "the user has no email to sign in with"}
)

// SetupLink returns the code of a new one-time setup link for the first
// owner of the first workspace, valid for 24 hours, while no owner of it
// has a password (and "" once one has). Links made before are revoked:
// only the newest printed link works.
func SetupLink(store *persistence.Store, now time.Time) (string, error) {
	wss, err := store.Workspaces()
	if err != nil || len(wss) == 0 {
		return "", wrapSetup(err)
	}
	ws := wss[0].ID
	list, err := store.Users(ws)
	if err != nil {
		return "", wrapSetup(err)
	}
	var first *engine.User
	for i := range list {
		m := &list[i]
		if m.Role != engine.RoleOwner {
			continue
		}
		has, err := hasPassword(store, m)
		if err != nil {
			return "", wrapSetup(err)
		}
		if has {
			return "", nil
		}
		if first == nil {
			first = m
		}
	}
	if first == nil {
		return "", nil
	}
	links, err := store.PasswordLinks()
	if err != nil {
		return "", wrapSetup(err)
	}
	b := store.NewBatch()
	for i := range links {
		if links[i].Kind == persistence.LinkSetup {
			b.DeletePasswordLink(&links[i])
		}
	}
	code := "setup_" + randomString(24)
	b.PutPasswordLink(code, &persistence.PasswordLink{Kind: persistence.LinkSetup, WorkspaceID: ws, UserID: first.ID,
		CreatedAt: now, ExpiresAt: now.Add(setupLinkTTL)})
	if err := store.Commit(b); err != nil {
		return "", wrapSetup(err)
	}
	return code, nil
}

func wrapSetup(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("setup link: %w", err)
}

// hasPassword reports whether u can sign in with a password: its email's
// credential is its own.
func hasPassword(store *persistence.Store, u *engine.User) (bool, error) {
	if u.Email == "" {
		return false, nil
	}
	cred, err := store.Credential(u.Email)
	if errors.Is(err, persistence.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	id, ok := cred.MemberIn(u.WorkspaceID)
	return ok && id == u.ID, nil
}

func (s *Server) passwordRoutes(public, api fiber.Router, u *users) {
	public.Post("/api/v1/auth/setup", u.setup)
	public.Post("/api/v1/auth/reset-password", u.resetPassword)
	api.Get("/auth/sessions", u.authed, u.sessions)
	api.Post("/auth/logout-all", u.authed, u.logoutAll)
	api.Put("/users/:id/password", u.authed, u.setPassword)
	api.Post("/users/:id/password-reset", u.authed, u.passwordReset)
}

// validLink reads a password link of kind that can still be used.
func (u *users) validLink(code string, kind persistence.PasswordLinkKind) (persistence.PasswordLink, error) {
	l, err := u.store.PasswordLink(code)
	if errors.Is(err, persistence.ErrNotFound) {
		return l, errBadLink
	}
	if err != nil {
		return l, err
	}
	if l.Kind != kind || !u.clock.Now().Before(l.ExpiresAt) {
		return l, errBadLink
	}
	return l, nil
}

// checkLinkCode checks a link code's shape and the caller's failed
// attempts, then reads the link; a code that is not a link counts as a
// failure of the client's IP.
func (u *users) checkLinkCode(c *fiber.Ctx, code string, kind persistence.PasswordLinkKind) error {
	if code == "" || len(code) > maxCode {
		return errorf(fiber.StatusBadRequest, "invalid", "code is required")
	}
	ip := c.IP()
	if err := u.limited(c, u.ipLimit.blocked(ip)); err != nil {
		return err
	}
	if _, err := u.validLink(code, kind); err != nil {
		if errors.Is(err, errBadLink) {
			u.ipLimit.fail(ip)
		}
		return err
	}
	return nil
}

type setupBody struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// setup gives the first owner a name, an email and a password, and signs
// them in.
func (u *users) setup(c *fiber.Ctx) error {
	var body setupBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	name, err := cleanName(body.Name)
	if err != nil {
		return err
	}
	email, err := normalizeEmail(body.Email)
	if err != nil {
		return err
	}
	if err := checkNewPassword(body.Password); err != nil {
		return err
	}
	if err := u.checkLinkCode(c, body.Code, persistence.LinkSetup); err != nil {
		return err
	}
	hash, err := u.hashPassword(body.Password) // outside the lock: it is slow
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	l, err := u.validLink(body.Code, persistence.LinkSetup) // it may have been used meanwhile
	if err != nil {
		return err
	}
	usr, err := u.store.User(l.WorkspaceID, l.UserID)
	if errors.Is(err, persistence.ErrNotFound) {
		return errBadLink
	}
	if err != nil {
		return err
	}
	switch _, err := u.store.Credential(email); {
	case err == nil:
		return errTaken
	case !errors.Is(err, persistence.ErrNotFound):
		return err
	}
	b := u.store.NewBatch()
	if usr.Email != "" && !strings.EqualFold(usr.Email, email) {
		if err := u.dropCredential(b, &usr); err != nil {
			b.Close()
			return err
		}
	}
	usr.Name, usr.Email = name, email
	b.PutUser(&usr)
	cred := persistence.Credential{PasswordHash: hash}
	cred.AddMembership(usr.WorkspaceID, usr.ID)
	b.PutCredential(email, &cred)
	b.DeletePasswordLink(&l)
	return u.commitSession(c, b, usr, fiber.StatusCreated)
}

// dropCredential adds to b the end of usr's membership in the credential
// of their email, if it has one that is usr's.
func (u *users) dropCredential(b *persistence.Batch, usr *engine.User) error {
	return u.leaveCredential(b, usr)
}

// commitSession adds a new session of usr to b, commits it and answers
// with it; the WebSockets of a session it ends (beyond maxSessions) are
// closed.
func (u *users) commitSession(c *fiber.Ctx, b *persistence.Batch, usr engine.User, status int) error {
	secret, tok, ended, err := u.issueSession(b, usr, c.Get(fiber.HeaderUserAgent))
	if err != nil {
		b.Close()
		return err
	}
	u.srv.auditInto(c, b, usr, tok.ID, tok.Kind, status)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	u.srv.signedOut(ended)
	return c.Status(status).JSON(sessionView{Token: secret, ExpiresAt: tok.ExpiresAt, User: usr})
}

type resetBody struct {
	Code     string `json:"code"`
	Password string `json:"password"`
}

// resetPassword sets a user's password by a reset link, ends the user's
// sessions and signs them in.
func (u *users) resetPassword(c *fiber.Ctx) error {
	var body resetBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := checkNewPassword(body.Password); err != nil {
		return err
	}
	if err := u.checkLinkCode(c, body.Code, persistence.LinkReset); err != nil {
		return err
	}
	hash, err := u.hashPassword(body.Password)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	l, err := u.validLink(body.Code, persistence.LinkReset)
	if err != nil {
		return err
	}
	usr, err := u.store.User(l.WorkspaceID, l.UserID)
	if errors.Is(err, persistence.ErrNotFound) {
		return errBadLink
	}
	if err != nil {
		return err
	}
	// The link works while whoever made it may still manage the user.
	by, err := u.store.User(l.WorkspaceID, l.CreatedBy)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && !canInvite(by.Role, usr.Role)) {
		return errBadLink
	}
	if err != nil {
		return err
	}
	// Nor once the person belongs to another workspace, whose admins
	// the link's maker is not.
	if shared, err := u.sharedElsewhere(&usr); err != nil || shared {
		if err == nil {
			err = errBadLink
		}
		return err
	}
	b := u.store.NewBatch()
	revoked, err := u.putPassword(b, &usr, hash, nil)
	if err != nil {
		b.Close()
		return err
	}
	b.DeletePasswordLink(&l)
	if err := u.commitSession(c, b, usr, fiber.StatusOK); err != nil {
		return err
	}
	u.srv.signedOut(revoked)
	return nil
}

// putPassword adds to b usr's new password hash and the end of their
// sessions but keep (nil for all), and returns the sessions ended.
func (u *users) putPassword(b *persistence.Batch, usr *engine.User, hash string, keep []byte) ([]persistence.IssuedToken, error) {
	if usr.Email == "" {
		return nil, errNoEmail
	}
	cred, member, err := u.credentialOf(usr)
	switch {
	case err != nil:
		return nil, err
	case !member && cred.UserID != engine.ZeroID:
		return nil, errTaken // the email signs in to another person's account
	case !member:
		cred.AddMembership(usr.WorkspaceID, usr.ID)
	}
	cred.PasswordHash = hash
	b.PutCredential(usr.Email, &cred)
	// One password opens every workspace of the person: the sessions of
	// each end.
	return u.endPersonSessions(b, &cred, keep)
}

// endSessions adds to b the revocation of usr's sessions but the one
// whose hash is keep, and returns them.
func (u *users) endSessions(b *persistence.Batch, usr *engine.User, keep []byte) ([]persistence.IssuedToken, error) {
	toks, err := u.store.UserTokens(usr.WorkspaceID, usr.ID)
	if err != nil {
		return nil, err
	}
	var out []persistence.IssuedToken
	for i := range toks {
		t := &toks[i]
		if t.Kind != persistence.TokenSession || (keep != nil && string(t.Hash) == string(keep)) {
			continue
		}
		b.RevokeToken(t)
		out = append(out, *t)
	}
	return out, nil
}

// signedOut closes the WebSockets opened with tokens just revoked.
func (s *Server) signedOut(toks []persistence.IssuedToken) {
	if len(toks) == 0 || s.hub == nil {
		return
	}
	keys := make([]string, len(toks))
	for i := range toks {
		keys[i] = credentialName(toks[i].Hash)
	}
	s.hub.CloseCredentials(keys...)
}

// credentialName names a token for the realtime hub: its secret's hash.
func credentialName(hash []byte) string { return hex.EncodeToString(hash) }

// manageable reads the :id user for a password change by the caller: an
// admin manages admins and agents, an owner anyone.
func (u *users) manageable(c *fiber.Ctx) (*caller, engine.User, error) {
	me, err := u.caller(c)
	if err != nil {
		return nil, engine.User{}, err
	}
	if !me.role.AtLeast(engine.RoleAdmin) {
		return nil, engine.User{}, errForbidden
	}
	usr, err := u.target(c, me)
	if err != nil {
		return nil, usr, err
	}
	if !canInvite(me.role, usr.Role) {
		return nil, usr, errorf(fiber.StatusForbidden, "forbidden", "only an owner can change an owner's password")
	}
	if usr.Email == "" {
		return nil, usr, errNoEmail
	}
	if usr.ID != me.user.ID {
		shared, err := u.sharedElsewhere(&usr)
		if err != nil {
			return nil, usr, err
		}
		if shared {
			return nil, usr, errSharedAccount
		}
	}
	return me, usr, nil
}

type setPasswordBody struct {
	Password string `json:"password"`
}

// setPassword sets a user's password and ends their sessions (but the
// caller's own current one).
func (u *users) setPassword(c *fiber.Ctx) error {
	if _, _, err := u.manageable(c); err != nil {
		return err
	}
	var body setPasswordBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := checkNewPassword(body.Password); err != nil {
		return err
	}
	hash, err := u.hashPassword(body.Password)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, usr, err := u.manageable(c) // as stored now
	if err != nil {
		return err
	}
	b := u.store.NewBatch()
	revoked, err := u.putPassword(b, &usr, hash, who(c).Hash)
	if err != nil {
		b.Close()
		return err
	}
	if err := u.store.Commit(b); err != nil {
		return err
	}
	u.srv.signedOut(revoked)
	return c.SendStatus(fiber.StatusNoContent)
}

// passwordReset issues a one-time reset link's code for a user; an older
// reset link of the user stops working.
func (u *users) passwordReset(c *fiber.Ctx) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	me, usr, err := u.manageable(c)
	if err != nil {
		return err
	}
	links, err := u.store.PasswordLinks()
	if err != nil {
		return err
	}
	b := u.store.NewBatch()
	for i := range links {
		if links[i].Kind == persistence.LinkReset && links[i].WorkspaceID == usr.WorkspaceID && links[i].UserID == usr.ID {
			b.DeletePasswordLink(&links[i])
		}
	}
	now := u.clock.Now()
	code := "reset_" + randomString(24)
	l := persistence.PasswordLink{Kind: persistence.LinkReset, WorkspaceID: usr.WorkspaceID, UserID: usr.ID,
		CreatedBy: me.user.ID, CreatedAt: now, ExpiresAt: now.Add(resetLinkTTL)}
	b.PutPasswordLink(code, &l)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"code": code, "user_id": usr.ID, "expires_at": l.ExpiresAt})
}

// sessionInfo is a token of the caller as the sessions list shows it.
type sessionInfo struct {
	tokenView
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	Device     string    `json:"device,omitempty"`
	// Current is the token of the request.
	Current bool `json:"current"`
}

// sessions lists the caller's sessions and API tokens, newest first.
func (u *users) sessions(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	toks, err := u.store.UserTokens(me.user.WorkspaceID, me.user.ID)
	if err != nil {
		return err
	}
	now := u.clock.Now()
	cur := who(c).Hash
	out := make([]sessionInfo, 0, len(toks))
	for i := len(toks) - 1; i >= 0; i-- {
		t := &toks[i]
		if t.Expired(now) {
			continue
		}
		used, err := u.store.TokenUse(t.Hash)
		if err != nil {
			return err
		}
		out = append(out, sessionInfo{tokenView: viewToken(t), LastUsedAt: used, Device: t.Device,
			Current: string(t.Hash) == string(cur)})
	}
	return c.JSON(fiber.Map{"sessions": out})
}

type logoutAllBody struct {
	IncludeCurrent bool `json:"include_current"`
}

// logoutAll ends the caller's sessions but the current one (all of them
// with include_current true); API tokens stay.
func (u *users) logoutAll(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	var body logoutAllBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	keep := who(c).Hash
	if body.IncludeCurrent {
		keep = nil
	}
	b := u.store.NewBatch()
	revoked, err := u.endSessions(b, &me.user, keep)
	if err != nil {
		b.Close()
		return err
	}
	if err := u.store.Commit(b); err != nil {
		return err
	}
	u.srv.signedOut(revoked)
	return c.JSON(fiber.Map{"revoked": len(revoked)})
}

// tokenUses writes when tokens were last used, at most once a minute per
// token. The record is its own (persistence.PutTokenUse), never the
// token's: a use cannot bring a revoked token back.
type tokenUses struct {
	mu   sync.Mutex
	last map[string]time.Time // secret hash → last write
}

// touch records that the token t was used at now.
func (s *Server) touchToken(t *persistence.IssuedToken, now time.Time) error {
	key := string(t.Hash)
	s.uses.mu.Lock()
	if s.uses.last == nil {
		s.uses.last = map[string]time.Time{}
	}
	if last, ok := s.uses.last[key]; ok && now.Sub(last) < tokenUseEvery {
		s.uses.mu.Unlock()
		return nil
	}
	if len(s.uses.last) >= limiterCapacity {
		clear(s.uses.last)
	}
	s.uses.last[key] = now
	s.uses.mu.Unlock()
	b := s.cfg.Store.NewBatch()
	b.PutTokenUse(t.Hash, now)
	if err := s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("recording a token's use: %w", err)
	}
	// A revocation committed meanwhile deleted the token and its use
	// together, or comes after this check: no use outlives its token.
	if _, err := s.cfg.Store.IssuedTokenByHash(t.Hash); errors.Is(err, persistence.ErrNotFound) {
		b := s.cfg.Store.NewBatch()
		b.RevokeToken(&persistence.IssuedToken{Hash: t.Hash})
		return s.cfg.Store.Commit(b)
	}
	return nil
}
