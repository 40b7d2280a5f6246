package persistence

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A channel account's health is a record of its own: written and read
// beside the account, and deleting it leaves the account alone.
func TestChannelHealthRecords(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	acct := engine.ChannelAccount{WorkspaceID: ws, Channel: engine.ChannelWhatsApp, AccountID: "1", AccessToken: "tok"}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	h := engine.ChannelHealth{WorkspaceID: ws, Channel: engine.ChannelWhatsApp, AccountID: "1", State: engine.HealthExpired,
		Reason: "Access token expired or invalid", Code: "190", Since: at, CheckedAt: at}
	other := engine.ChannelHealth{WorkspaceID: ws, Channel: engine.ChannelMessenger, AccountID: "1", State: engine.HealthConnected, Since: at, CheckedAt: at}
	commit(t, s, func(b *Batch) { b.PutChannelAccount(&acct) })
	commit(t, s, func(b *Batch) {
		b.PutChannelHealth(&h)
		b.PutChannelHealth(&other)
	})
	all, err := s.ChannelHealths()
	require.NoError(t, err)
	require.ElementsMatch(t, []engine.ChannelHealth{h, other}, all)

	commit(t, s, func(b *Batch) { b.DeleteChannelHealth(engine.ChannelWhatsApp, "1") })
	all, err = s.ChannelHealths()
	require.NoError(t, err)
	require.Equal(t, []engine.ChannelHealth{other}, all)
	got, err := s.ChannelAccount(engine.ChannelWhatsApp, "1")
	require.NoError(t, err)
	require.Equal(t, "tok", got.AccessToken, "the account record is untouched")
	accts, err := s.ChannelAccounts()
	require.NoError(t, err)
	require.Len(t, accts, 1, "health records are not read as accounts")
}
