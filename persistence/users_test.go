package persistence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestUsersPerWorkspace(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws1, ws2 := idOf('w', 1), idOf('w', 2)
	u1 := engine.User{ID: idOf('u', 1), WorkspaceID: ws1, Email: "a@example.com", Name: "A", Role: engine.RoleOwner, CreatedAt: t0}
	u2 := engine.User{ID: idOf('u', 2), WorkspaceID: ws1, Name: "B", Role: engine.RoleAgent, CreatedAt: t0}
	u3 := engine.User{ID: idOf('u', 3), WorkspaceID: ws2, Name: "C", Role: engine.RoleOwner, CreatedAt: t0}
	commit(t, s, func(b *Batch) {
		for _, u := range []*engine.User{&u1, &u2, &u3} {
			b.PutUser(u)
		}
	})
	got, err := s.Users(ws1)
	require.NoError(t, err)
	require.Equal(t, []engine.User{u1, u2}, got)
	got, err = s.Users(ws2)
	require.NoError(t, err)
	require.Equal(t, []engine.User{u3}, got)
	got, err = s.Users(idOf('w', 3))
	require.NoError(t, err)
	require.Empty(t, got)

	commit(t, s, func(b *Batch) { b.DeleteUser(ws1, u2.ID) })
	_, err = s.User(ws1, u2.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.User(ws2, u1.ID) // ids do not cross workspaces
	require.ErrorIs(t, err, ErrNotFound)
}

func TestIssuedTokens(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws1, ws2 := idOf('w', 1), idOf('w', 2)
	alice, bob := idOf('u', 1), idOf('u', 2)
	tok := func(n int, ws, user engine.ID, kind TokenKind) IssuedToken {
		return IssuedToken{ID: idOf('k', n), Kind: kind, Token: engine.Token{
			WorkspaceID: ws, UserID: user, Role: engine.RoleAdmin, Name: "t", CreatedAt: t0}}
	}
	a1, a2 := tok(1, ws1, alice, TokenSession), tok(2, ws1, alice, TokenAPI)
	a1.ExpiresAt = at(time.Hour)
	b1 := tok(3, ws1, bob, TokenAPI)
	c1 := tok(4, ws2, alice, TokenAPI) // same user id in another workspace
	commit(t, s, func(b *Batch) {
		b.IssueToken("secret-a1", &a1)
		b.IssueToken("secret-a2", &a2)
		b.IssueToken("secret-b1", &b1)
		b.IssueToken("secret-c1", &c1)
	})
	require.Equal(t, HashSecret("secret-a1"), a1.Hash)

	// The request path reads them as engine.Token.
	et, err := s.TokenBySecret("secret-a1")
	require.NoError(t, err)
	require.Equal(t, a1.Token, et)
	got, err := s.IssuedTokenBySecret("secret-a1")
	require.NoError(t, err)
	require.Equal(t, a1, got)
	require.False(t, got.Expired(at(time.Hour-1)))
	require.True(t, got.Expired(at(time.Hour)))

	list, err := s.UserTokens(ws1, alice)
	require.NoError(t, err)
	require.Equal(t, []IssuedToken{a1, a2}, list)
	list, err = s.WorkspaceTokens(ws1)
	require.NoError(t, err)
	require.Equal(t, []IssuedToken{a1, a2, b1}, list)
	list, err = s.UserTokens(ws2, alice)
	require.NoError(t, err)
	require.Equal(t, []IssuedToken{c1}, list)
	_, err = s.IssuedToken(ws2, alice, a1.ID)
	require.ErrorIs(t, err, ErrNotFound)

	// Rewriting by hash (a role change) reaches both records.
	a2.Role = engine.RoleAgent
	commit(t, s, func(b *Batch) { b.PutIssuedToken(&a2) })
	et, err = s.TokenBySecret("secret-a2")
	require.NoError(t, err)
	require.Equal(t, engine.RoleAgent, et.Role)
	got, err = s.IssuedToken(ws1, alice, a2.ID)
	require.NoError(t, err)
	require.Equal(t, engine.RoleAgent, got.Role)

	// Revoking by id (without the secret) removes both records.
	commit(t, s, func(b *Batch) { b.RevokeToken(&got) })
	_, err = s.TokenBySecret("secret-a2")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.IssuedToken(ws1, alice, a2.ID)
	require.ErrorIs(t, err, ErrNotFound)
	list, err = s.UserTokens(ws1, alice)
	require.NoError(t, err)
	require.Equal(t, []IssuedToken{a1}, list)

	// A token without a hash is refused rather than written under a bad
	// key.
	b := s.NewBatch()
	b.PutIssuedToken(&IssuedToken{ID: idOf('k', 9), Token: engine.Token{WorkspaceID: ws1, UserID: alice}})
	require.Error(t, s.Commit(b))
	_, err = s.IssuedToken(ws1, alice, idOf('k', 9))
	require.ErrorIs(t, err, ErrNotFound)

	// Bootstrap-style tokens (PutToken) have no id and no index entry.
	commit(t, s, func(b *Batch) {
		b.PutToken("boot", &engine.Token{WorkspaceID: ws1, UserID: bob, Role: engine.RoleOwner, Name: "bootstrap", CreatedAt: t0})
	})
	got, err = s.IssuedTokenBySecret("boot")
	require.NoError(t, err)
	require.Equal(t, engine.ZeroID, got.ID)
	require.Equal(t, HashSecret("boot"), got.Hash)
	list, err = s.UserTokens(ws1, bob)
	require.NoError(t, err)
	require.Equal(t, []IssuedToken{b1}, list)
	commit(t, s, func(b *Batch) { b.RevokeToken(&got) })
	_, err = s.TokenBySecret("boot")
	require.ErrorIs(t, err, ErrNotFound)

	// Every index key lives under its workspace.
	for _, k := range workspaceKeys(t, s, ws2) {
		require.Equal(t, byte(spaceWorkspace), k[0])
	}
	require.Len(t, rawKeys(t, s, wsPrefix(ws2, tWsToken)), 1)
}

func TestCredentialsAndInvitations(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	cred := Credential{WorkspaceID: ws, UserID: idOf('u', 1), PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$x$y"}
	commit(t, s, func(b *Batch) { b.PutCredential("Ana@Example.com", &cred) })
	for _, email := range []string{"ana@example.com", "ANA@EXAMPLE.COM"} {
		got, err := s.Credential(email)
		require.NoError(t, err, email)
		require.Equal(t, cred, got)
	}
	_, err := s.Credential("ana@example.co")
	require.ErrorIs(t, err, ErrNotFound)
	// An email that is a prefix of another does not match it.
	_, err = s.Credential("ana@example.com\x00")
	require.ErrorIs(t, err, ErrNotFound)
	commit(t, s, func(b *Batch) { b.DeleteCredential("ana@example.com") })
	_, err = s.Credential("ana@example.com")
	require.ErrorIs(t, err, ErrNotFound)

	inv := Invitation{WorkspaceID: ws, Email: "bo@example.com", Role: engine.RoleAgent, InvitedBy: cred.UserID,
		CreatedAt: t0, ExpiresAt: at(7 * 24 * time.Hour)}
	commit(t, s, func(b *Batch) { b.PutInvitation("code-1", &inv) })
	got, err := s.Invitation("code-1")
	require.NoError(t, err)
	require.Equal(t, inv, got)
	_, err = s.Invitation("code-2")
	require.ErrorIs(t, err, ErrNotFound)
	// Only the hash of the code is stored.
	for _, k := range rawKeys(t, s, []byte{spaceSystem, tInvitation}) {
		require.NotContains(t, string(k), "code-1")
	}
	commit(t, s, func(b *Batch) { b.DeleteInvitation("code-1") })
	_, err = s.Invitation("code-1")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestPasswordLinksAndTokenUse(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	l := PasswordLink{Kind: LinkSetup, WorkspaceID: ws, UserID: idOf('u', 1), CreatedAt: t0, ExpiresAt: at(24 * time.Hour)}
	commit(t, s, func(b *Batch) { b.PutPasswordLink("setup-1", &l) })
	got, err := s.PasswordLink("setup-1")
	require.NoError(t, err)
	require.Equal(t, l, got)
	_, err = s.PasswordLink("setup-2")
	require.ErrorIs(t, err, ErrNotFound)
	for _, k := range rawKeys(t, s, []byte{spaceSystem, tPasswordLink}) {
		require.NotContains(t, string(k), "setup-1")
	}
	all, err := s.PasswordLinks()
	require.NoError(t, err)
	require.Equal(t, []PasswordLink{l}, all)
	commit(t, s, func(b *Batch) { b.DeletePasswordLink(&all[0]) })
	_, err = s.PasswordLink("setup-1")
	require.ErrorIs(t, err, ErrNotFound)

	// A token's last use goes with the token.
	tok := IssuedToken{ID: idOf('k', 1), Kind: TokenSession, Token: engine.Token{WorkspaceID: ws, UserID: l.UserID,
		Role: engine.RoleOwner, CreatedAt: t0}}
	commit(t, s, func(b *Batch) { b.IssueToken("secret", &tok) })
	used, err := s.TokenUse(tok.Hash)
	require.NoError(t, err)
	require.True(t, used.IsZero())
	commit(t, s, func(b *Batch) { b.PutTokenUse(tok.Hash, at(time.Hour)) })
	used, err = s.TokenUse(tok.Hash)
	require.NoError(t, err)
	require.True(t, used.Equal(at(time.Hour)))
	commit(t, s, func(b *Batch) { b.RevokeToken(&tok) })
	require.Empty(t, rawKeys(t, s, []byte{spaceSystem, tTokenUse}))
}

// A credential's memberships: one read from a credential stored before
// they were recorded, added ones landing the next sign-in, removed ones
// moving it to the oldest left, and none left when the last goes.
func TestCredentialMemberships(t *testing.T) {
	now := time.Now()
	ws1, u1 := engine.NewID(now), engine.NewID(now)
	ws2, u2 := engine.NewID(now), engine.NewID(now)
	ws3, u3 := engine.NewID(now), engine.NewID(now)
	c := Credential{WorkspaceID: ws1, UserID: u1, PasswordHash: "h"}
	require.Equal(t, []Membership{{ws1, u1}}, c.CredentialMemberships())
	c.AddMembership(ws2, u2)
	c.AddMembership(ws3, u3)
	require.Equal(t, []Membership{{ws1, u1}, {ws2, u2}, {ws3, u3}}, c.CredentialMemberships())
	require.Equal(t, ws3, c.WorkspaceID, "the next sign-in lands in the workspace joined last")
	id, ok := c.MemberIn(ws2)
	require.True(t, ok)
	require.Equal(t, u2, id)
	_, ok = c.MemberIn(engine.NewID(now))
	require.False(t, ok)
	require.Equal(t, 2, c.RemoveMembership(ws3, u3))
	require.Equal(t, Membership{ws1, u1}, Membership{c.WorkspaceID, c.UserID}, "it lands in the oldest left")
	require.Equal(t, 2, c.RemoveMembership(ws3, u3), "removing twice changes nothing")
	require.Equal(t, 2, c.RemoveMembership(ws2, u1), "another user of a workspace is not this membership")
	require.Equal(t, 1, c.RemoveMembership(ws1, u1))
	require.Equal(t, Membership{ws2, u2}, Membership{c.WorkspaceID, c.UserID})
	require.Equal(t, 0, c.RemoveMembership(ws2, u2))
	require.Empty(t, c.CredentialMemberships(), "a credential left with none has none, not its old one")
}
