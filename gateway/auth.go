package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// principal is who made a request, built once per request by
// authenticate: the token (its workspace, user and effective role: the
// lesser of the token's role and its user's current role), the token's id
// and kind, and the user as stored.
type principal struct {
	engine.Token
	TokenID engine.ID
	Kind    persistence.TokenKind
	// Hash identifies the token's secret (what revokes it).
	Hash []byte
	User engine.User
}

const principalKey = "parley.principal"

// requireAuth admits requests with a valid bearer token and records who
// made them.
func (s *Server) requireAuth(c *fiber.Ctx) error {
	if err := s.authenticate(c); err != nil {
		return err
	}
	return c.Next()
}

// authenticate checks the bearer token and records the principal.
func (s *Server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" || len(secret) > 512 {
		return errUnauthorized
	}
	issued, err := s.cfg.Store.IssuedTokenBySecret(secret)
	if errors.Is(err, persistence.ErrNotFound) {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	now := s.cfg.Runtime.Clock().Now()
	if issued.Expired(now) {
		return errUnauthorized
	}
	tok := issued.Token
	// The token acts with the lesser of its role and its user's current
	// role; a deleted user's tokens no longer work.
	usr, err := s.cfg.Store.User(tok.WorkspaceID, tok.UserID)
	if errors.Is(err, persistence.ErrNotFound) {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	// A suspended workspace's users and tokens, or a deleted one's, are
	// refused on every route and the WebSocket (operator.go).
	if err := s.ops.admits(tok.WorkspaceID); err != nil {
		return err
	}
	if !usr.Role.AtLeast(tok.Role) {
		tok.Role = usr.Role
	}
	c.Locals(principalKey, &principal{Token: tok, TokenID: issued.ID, Kind: issued.Kind, Hash: issued.Hash, User: usr})
	if err := s.touchToken(&issued, now); err != nil {
		s.log.Warn("Could not record a token's use", "err", err)
	}
	return nil
}

// authenticateCaller authenticates a WebSocket upgrade request for the
// realtime hub: the caller's workspace and user.
func (s *Server) authenticateCaller(c *fiber.Ctx) (workspace, user engine.ID, err error) {
	if err := s.authenticate(c); err != nil {
		return engine.ID{}, engine.ID{}, err
	}
	p := who(c)
	return p.WorkspaceID, p.UserID, nil
}

func who(c *fiber.Ctx) *principal {
	p, _ := c.Locals(principalKey).(*principal)
	return p
}

// requireRole admits principals with at least role min.
func requireRole(min engine.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p := who(c); p == nil || !p.Role.AtLeast(min) {
			return errForbidden
		}
		return c.Next()
	}
}

// NewSecret returns a random API token secret.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return "pk_" + base64.RawURLEncoding.EncodeToString(b)
}

// Bootstrap makes sure there is a workspace with an owner. When the store
// has no workspace, it creates one, an owner user and an owner API token
// whose secret is token (a new random one if token is empty) and returns
// the secret. When a workspace exists and token is set, it makes sure the
// token is a valid owner token of the first workspace, so scripts and
// tests can always log in with it. It returns "" when nothing was created.
func Bootstrap(store *persistence.Store, token string, now time.Time) (string, error) {
	wss, err := store.Workspaces()
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	b := store.NewBatch()
	var ws engine.ID
	var owner engine.ID
	created := false
	if len(wss) == 0 {
		w := engine.Workspace{ID: engine.NewID(now), Name: "Default", CreatedAt: now}
		u := engine.User{ID: engine.NewID(now), WorkspaceID: w.ID, Name: "Owner", Role: engine.RoleOwner, CreatedAt: now}
		b.PutWorkspace(&w)
		b.PutUser(&u)
		ws, owner, created = w.ID, u.ID, true
		if token == "" {
			token = NewSecret()
		}
	} else {
		if token == "" {
			b.Close()
			return "", nil
		}
		if _, err := store.TokenBySecret(token); err == nil {
			b.Close()
			return "", nil
		}
		ws = wss[0].ID
		owner = engine.NewID(now)
		u := engine.User{ID: owner, WorkspaceID: ws, Name: "Bootstrap owner", Role: engine.RoleOwner, CreatedAt: now}
		b.PutUser(&u)
	}
	b.IssueToken(token, &persistence.IssuedToken{ID: engine.NewID(now), Kind: persistence.TokenAPI,
		Token: engine.Token{WorkspaceID: ws, UserID: owner, Role: engine.RoleOwner, Name: "bootstrap", CreatedAt: now}})
	if err := store.Commit(b); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if !created {
		return "", nil
	}
	return token, nil
}
