package persistence

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestNotificationSettings(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, u := idOf('w', 1), idOf('u', 1)
	got, err := s.NotificationSettings(ws, u)
	require.NoError(t, err)
	require.Equal(t, engine.DefaultNotificationSettings(), got, "none chosen: the defaults")
	mine := engine.NotificationSettings{Mentioned: engine.NotifyMedia{Email: true}}
	commit(t, s, func(b *Batch) { b.PutNotificationSettings(ws, u, &mine) })
	got, err = s.NotificationSettings(ws, u)
	require.NoError(t, err)
	require.Equal(t, mine, got)
	other, err := s.NotificationSettings(idOf('w', 2), u)
	require.NoError(t, err)
	require.Equal(t, engine.DefaultNotificationSettings(), other, "settings do not cross workspaces")
}

// TestPushSubscriptionsFollowTheirTokenAndUser: revoking the token that
// registered a subscription removes it, the user's others stay; deleting
// the user removes all of theirs and their settings.
func TestPushSubscriptionsFollowTheirTokenAndUser(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, alice, bob := idOf('w', 1), idOf('u', 1), idOf('u', 2)
	tok := func(n int, user engine.ID) IssuedToken {
		return IssuedToken{ID: idOf('k', n), Kind: TokenSession, Token: engine.Token{WorkspaceID: ws, UserID: user, Role: engine.RoleAgent, CreatedAt: t0}}
	}
	phone, laptop, bobs := tok(1, alice), tok(2, alice), tok(3, bob)
	sub := func(tk *IssuedToken, endpoint string) PushSubscription {
		return PushSubscription{WorkspaceID: ws, UserID: tk.UserID, TokenHash: tk.Hash, Endpoint: endpoint, P256dh: "p", Auth: "a", CreatedAt: t0}
	}
	commit(t, s, func(b *Batch) {
		b.IssueToken("phone", &phone)
		b.IssueToken("laptop", &laptop)
		b.IssueToken("bob", &bobs)
	})
	p1, p2, p3 := sub(&phone, "https://push.example/1"), sub(&laptop, "https://push.example/2"), sub(&bobs, "https://push.example/3")
	commit(t, s, func(b *Batch) {
		b.PutPushSubscription(&p1)
		b.PutPushSubscription(&p2)
		b.PutPushSubscription(&p3)
		b.PutNotificationSettings(ws, alice, &engine.NotificationSettings{})
	})
	subs, err := s.PushSubscriptions(ws, alice)
	require.NoError(t, err)
	require.ElementsMatch(t, []PushSubscription{p1, p2}, subs)

	commit(t, s, func(b *Batch) { b.RevokeToken(&phone) })
	subs, err = s.PushSubscriptions(ws, alice)
	require.NoError(t, err)
	require.Equal(t, []PushSubscription{p2}, subs)

	commit(t, s, func(b *Batch) { b.DeleteUser(ws, alice) })
	subs, err = s.PushSubscriptions(ws, alice)
	require.NoError(t, err)
	require.Empty(t, subs)
	got, err := s.NotificationSettings(ws, alice)
	require.NoError(t, err)
	require.Equal(t, engine.DefaultNotificationSettings(), got)
	subs, err = s.PushSubscriptions(ws, bob)
	require.NoError(t, err)
	require.Equal(t, []PushSubscription{p3}, subs, "another user's stay")

	commit(t, s, func(b *Batch) { b.DeletePushSubscription(&p3) })
	subs, err = s.PushSubscriptions(ws, bob)
	require.NoError(t, err)
	require.Empty(t, subs)

	b := s.NewBatch()
	b.PutPushSubscription(&PushSubscription{WorkspaceID: ws, UserID: bob, Endpoint: "https://x"})
	require.Error(t, b.Err(), "a subscription without its token")
	b.Close()
}

func TestVAPIDKeys(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	_, err := s.VAPIDKeys()
	require.ErrorIs(t, err, ErrNotFound)
	k := VAPIDKeys{Public: "pub", Private: "priv"}
	commit(t, s, func(b *Batch) { b.PutVAPIDKeys(&k) })
	got, err := s.VAPIDKeys()
	require.NoError(t, err)
	require.Equal(t, k, got)
}
