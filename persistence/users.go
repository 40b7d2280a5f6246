package persistence

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Accounts: credentials, issued tokens and invitations.
//
// System tables (a request finds its workspace through them):
//
//	's' 'E' lower(email)             credential: workspace, user, password hash
//	's' 'I' sha256(code)             invitation
//
// and per workspace:
//
//	'w' ws 'k' user token-id         issued token (with the sha256 of its secret)
//
// A token issued through IssueToken is written twice in one batch: under
// 's' 'K' sha256(secret), where requests look it up, and under its user in
// the workspace, where it is listed, revoked by id and rewritten when the
// user's role changes. Keying the index by user first makes "this user's
// tokens" one prefix scan (revoking everything of a deleted user) and
// keeps "this workspace's tokens" one too. Tokens written by PutToken
// (the bootstrap token) have no index entry and no id.
//
// Credentials live apart from engine.User so that a user record, which is
// returned by the API, never carries a password hash.
const (
	tCredential = 'E'
	tInvitation = 'I'
	tWsToken    = 'k'
)

// TokenKind says how a token was issued.
type TokenKind string

// Token kinds.
const (
	// TokenSession is issued by a password login and expires.
	TokenSession TokenKind = "session"
	// TokenAPI is a personal API token: it expires only if its creator
	// said when.
	TokenAPI TokenKind = "api"
)

// IssuedToken is an API credential with its id, kind and the hash of its
// secret; the secret itself is never stored. Its JSON form under
// 's' 'K' is a superset of engine.Token, so Store.TokenBySecret reads it.
type IssuedToken struct {
	ID   engine.ID `json:"id"`
	Kind TokenKind `json:"kind"`
	engine.Token
	// Hash is the sha256 of the secret: what revokes the token without
	// knowing the secret.
	Hash []byte `json:"hash"`
	// Device is the User-Agent of the client a session was issued to
	// (empty for API tokens).
	Device string `json:"device,omitempty"`
}

// Expired reports whether the token has expired at now.
func (t *IssuedToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Credential is how a person signs in with a password: one per email,
// whatever the number of workspaces the person belongs to. Each
// workspace has a user record of its own for the person (id, name and
// role there); Memberships lists them.
type Credential struct {
	// WorkspaceID and UserID are the membership a sign-in lands in: the
	// one last switched to or joined.
	WorkspaceID engine.ID `json:"workspace_id"`
	UserID      engine.ID `json:"user_id"`
	// PasswordHash is a self-describing hash string (PHC format for
	// argon2id) that the gateway creates and checks.
	PasswordHash string `json:"password_hash"`
	// Memberships are the (workspace, user) pairs the person signs in
	// to. A credential written before a person could belong to several
	// workspaces has none: its WorkspaceID and UserID are its only
	// membership (CredentialMemberships reads it so).
	Memberships []Membership `json:"memberships,omitempty"`
}

// Membership is one workspace a person belongs to, as the user they are
// there.
type Membership struct {
	WorkspaceID engine.ID `json:"workspace_id"`
	UserID      engine.ID `json:"user_id"`
}

// CredentialMemberships returns the memberships of c, oldest first; a
// credential stored before memberships were recorded has one, its
// WorkspaceID and UserID.
func (c *Credential) CredentialMemberships() []Membership {
	if len(c.Memberships) == 0 && c.UserID != engine.ZeroID {
		return []Membership{{WorkspaceID: c.WorkspaceID, UserID: c.UserID}}
	}
	return slices.Clone(c.Memberships)
}

// MemberIn returns the user the person is in workspace ws.
func (c *Credential) MemberIn(ws engine.ID) (engine.ID, bool) {
	for _, m := range c.CredentialMemberships() {
		if m.WorkspaceID == ws {
			return m.UserID, true
		}
	}
	return engine.ZeroID, false
}

// AddMembership records that the person is user in ws (replacing an
// older membership in ws) and lands their next sign-in there.
func (c *Credential) AddMembership(ws, user engine.ID) {
	ms := c.CredentialMemberships()
	ms = slices.DeleteFunc(ms, func(m Membership) bool { return m.WorkspaceID == ws })
	c.Memberships = append(ms, Membership{WorkspaceID: ws, UserID: user})
	c.WorkspaceID, c.UserID = ws, user
}

// RemoveMembership forgets the membership of user in ws and reports how
// many are left (with none, delete the credential); a sign-in that
// landed there lands in the oldest one left.
func (c *Credential) RemoveMembership(ws, user engine.ID) int {
	ms := slices.DeleteFunc(c.CredentialMemberships(), func(m Membership) bool {
		return m.WorkspaceID == ws && m.UserID == user
	})
	c.Memberships = ms
	switch {
	case len(ms) == 0: // the credential is to be deleted
		c.WorkspaceID, c.UserID = engine.ZeroID, engine.ZeroID
	case c.WorkspaceID == ws && c.UserID == user:
		c.WorkspaceID, c.UserID = ms[0].WorkspaceID, ms[0].UserID
	}
	return len(ms)
}

// Invitation lets whoever holds its code join a workspace with a role.
// Only the sha256 of the code is stored.
type Invitation struct {
	WorkspaceID engine.ID   `json:"workspace_id"`
	Email       string      `json:"email"`
	Role        engine.Role `json:"role"`
	InvitedBy   engine.ID   `json:"invited_by"`
	CreatedAt   time.Time   `json:"created_at"`
	ExpiresAt   time.Time   `json:"expires_at"`
}

// HashSecret returns the sha256 of a token secret or invitation code: the
// form in which they are stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func credentialKey(email string) []byte {
	return appendString([]byte{spaceSystem, tCredential}, strings.ToLower(email))
}

func invitationKey(code string) []byte {
	return append([]byte{spaceSystem, tInvitation}, HashSecret(code)...)
}

func tokenHashKey(hash []byte) []byte {
	return append([]byte{spaceSystem, tToken}, hash...)
}

func wsTokenPrefix(ws, user engine.ID) []byte { return append(wsPrefix(ws, tWsToken), user[:]...) }

func wsTokenKey(ws, user, id engine.ID) []byte { return append(wsTokenPrefix(ws, user), id[:]...) }

// IssueToken stores a new token under the hash of secret and indexes it
// under its user. It sets t.Hash.
func (b *Batch) IssueToken(secret string, t *IssuedToken) {
	t.Hash = HashSecret(secret)
	b.PutIssuedToken(t)
}

// PutIssuedToken rewrites a token issued by IssueToken (for example with
// its user's new role), addressed by its hash.
func (b *Batch) PutIssuedToken(t *IssuedToken) {
	if len(t.Hash) != tokenHashLen {
		if b.err == nil {
			b.err = fmt.Errorf("persistence: token %s has no secret hash", t.ID)
		}
		return
	}
	b.set(tokenHashKey(t.Hash), t)
	if t.ID != engine.ZeroID {
		b.set(wsTokenKey(t.WorkspaceID, t.UserID, t.ID), t)
	}
}

// RevokeToken deletes a token, its index entry, its last use and the
// push subscriptions registered with it.
func (b *Batch) RevokeToken(t *IssuedToken) {
	if len(t.Hash) == tokenHashLen {
		b.del(tokenHashKey(t.Hash))
		b.del(tokenUseKey(t.Hash))
		b.deleteTokenPushSubscriptions(t.WorkspaceID, t.UserID, t.Hash)
	}
	if t.ID != engine.ZeroID {
		b.del(wsTokenKey(t.WorkspaceID, t.UserID, t.ID))
	}
}

// PutCredential writes the credential of the account whose (normalised)
// email is given.
func (b *Batch) PutCredential(email string, c *Credential) { b.set(credentialKey(email), c) }

// DeleteCredential removes the credential of email.
func (b *Batch) DeleteCredential(email string) { b.del(credentialKey(email)) }

// PutInvitation stores an invitation under the hash of its code.
func (b *Batch) PutInvitation(code string, inv *Invitation) { b.set(invitationKey(code), inv) }

// DeleteInvitation removes the invitation whose code is given.
func (b *Batch) DeleteInvitation(code string) { b.del(invitationKey(code)) }

// DeleteUser removes a user record with its notification settings and
// push subscriptions. Its tokens and credential are separate records:
// revoke and delete them in the same batch.
func (b *Batch) DeleteUser(ws, id engine.ID) {
	b.del(userKey(ws, id))
	b.deleteNotifications(ws, id)
}

// IssuedTokenBySecret reads the token whose secret is given, with its id
// and kind when it was issued by IssueToken.
func (s *Store) IssuedTokenBySecret(secret string) (IssuedToken, error) {
	var t IssuedToken
	if err := s.get(tokenHashKey(HashSecret(secret)), &t); err != nil {
		return t, fmt.Errorf("reading token: %w", err)
	}
	t.Hash = HashSecret(secret) // tokens written by PutToken carry none
	return t, nil
}

// IssuedTokenByHash reads the token whose secret has the given sha256.
func (s *Store) IssuedTokenByHash(hash []byte) (IssuedToken, error) {
	var t IssuedToken
	if err := s.get(tokenHashKey(hash), &t); err != nil {
		return t, fmt.Errorf("reading token: %w", err)
	}
	t.Hash = slices.Clone(hash)
	return t, nil
}

// IssuedToken reads one token of a user by id.
func (s *Store) IssuedToken(ws, user, id engine.ID) (IssuedToken, error) {
	var t IssuedToken
	if err := s.get(wsTokenKey(ws, user, id), &t); err != nil {
		return t, fmt.Errorf("reading token %s: %w", id, err)
	}
	return t, nil
}

// UserTokens lists the issued tokens of a user, oldest first.
func (s *Store) UserTokens(ws, user engine.ID) ([]IssuedToken, error) {
	return scanTokens(s, wsTokenPrefix(ws, user))
}

// WorkspaceTokens lists the issued tokens of every user of a workspace,
// by user then age.
func (s *Store) WorkspaceTokens(ws engine.ID) ([]IssuedToken, error) {
	return scanTokens(s, wsPrefix(ws, tWsToken))
}

func scanTokens(s *Store, p []byte) ([]IssuedToken, error) { return scanAll[IssuedToken](s, p) }

// Users lists the users of a workspace, oldest first (ids sort by
// creation time).
func (s *Store) Users(ws engine.ID) ([]engine.User, error) {
	p := wsPrefix(ws, tUser)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.User
	for ok := it.First(); ok; ok = it.Next() {
		var u engine.User
		if err := decode(it.Value(), &u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, iterErr(it)
}

// Credential reads the credential of email.
func (s *Store) Credential(email string) (Credential, error) {
	var c Credential
	if err := s.get(credentialKey(email), &c); err != nil {
		return c, fmt.Errorf("reading credential: %w", err)
	}
	return c, nil
}

// Invitation reads the invitation whose code is given.
func (s *Store) Invitation(code string) (Invitation, error) {
	var inv Invitation
	if err := s.get(invitationKey(code), &inv); err != nil {
		return inv, fmt.Errorf("reading invitation: %w", err)
	}
	return inv, nil
}

// Password links and token use (system tables):
//
//	's' 'P' sha256(code)             password link
//	's' 'J' sha256(token secret)     when the token was last used
//
// A password link lets whoever holds its code set the password of one
// existing user: the first owner's setup link (which also sets their
// name and email) and the reset links an admin issues. Only the sha256 of
// the code is stored. A token's last use is a record of its own, written
// only by the requests that use the token (at most once a minute) and
// deleted with the token, so that it never rewrites the token itself.
const (
	tPasswordLink = 'P'
	tTokenUse     = 'J'
)

// PasswordLinkKind says what a password link is for.
type PasswordLinkKind string

// Password link kinds.
const (
	// LinkSetup is the first owner's: it sets name, email and password.
	LinkSetup PasswordLinkKind = "setup"
	// LinkReset is issued by an admin for a user: it sets the password.
	LinkReset PasswordLinkKind = "reset"
)

// PasswordLink is a one-time code that sets a user's password.
type PasswordLink struct {
	Kind        PasswordLinkKind `json:"kind"`
	WorkspaceID engine.ID        `json:"workspace_id"`
	UserID      engine.ID        `json:"user_id"`
	CreatedBy   engine.ID        `json:"created_by,omitzero"`
	CreatedAt   time.Time        `json:"created_at"`
	ExpiresAt   time.Time        `json:"expires_at"`
	// Hash is the sha256 of the code (the key), filled in when read.
	Hash []byte `json:"-"`
}

func passwordLinkKey(hash []byte) []byte {
	return append([]byte{spaceSystem, tPasswordLink}, hash...)
}

func tokenUseKey(hash []byte) []byte { return append([]byte{spaceSystem, tTokenUse}, hash...) }

// PutPasswordLink stores a password link under the hash of its code.
func (b *Batch) PutPasswordLink(code string, l *PasswordLink) {
	l.Hash = HashSecret(code)
	b.set(passwordLinkKey(l.Hash), l)
}

// DeletePasswordLink removes a password link, addressed by its hash.
func (b *Batch) DeletePasswordLink(l *PasswordLink) {
	if len(l.Hash) == tokenHashLen {
		b.del(passwordLinkKey(l.Hash))
	}
}

// PasswordLink reads the password link whose code is given.
func (s *Store) PasswordLink(code string) (PasswordLink, error) {
	var l PasswordLink
	if err := s.get(passwordLinkKey(HashSecret(code)), &l); err != nil {
		return l, fmt.Errorf("reading password link: %w", err)
	}
	l.Hash = HashSecret(code)
	return l, nil
}

// PasswordLinks lists every stored password link (expired ones too):
// there are a few at most, one per user.
func (s *Store) PasswordLinks() ([]PasswordLink, error) {
	p := []byte{spaceSystem, tPasswordLink}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []PasswordLink
	for ok := it.First(); ok; ok = it.Next() {
		var l PasswordLink
		if err := decode(it.Value(), &l); err != nil {
			return nil, err
		}
		l.Hash = slices.Clone(it.Key()[2:])
		out = append(out, l)
	}
	return out, iterErr(it)
}

// tokenUse is the stored last use of a token.
type tokenUse struct {
	At time.Time `json:"at"`
}

// PutTokenUse records when the token with the given secret hash was last
// used.
func (b *Batch) PutTokenUse(hash []byte, at time.Time) {
	if len(hash) == tokenHashLen {
		b.set(tokenUseKey(hash), &tokenUse{At: at})
	}
}

// TokenUse reads when the token with the given secret hash was last used;
// the zero time if never recorded.
func (s *Store) TokenUse(hash []byte) (time.Time, error) {
	var u tokenUse
	err := s.get(tokenUseKey(hash), &u)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading token use: %w", err)
	}
	return u.At, nil
}
