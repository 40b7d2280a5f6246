package persistence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// TestBackfillContactConversations: conversations stored without their
// contact → conversation entries get them back after a reopen, across
// several backfill batches, once.
func TestBackfillContactConversations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	const n, contacts = 2*backfillBatch + 100, 7
	convs := make([]engine.Conversation, n)
	want := map[engine.ID][]engine.ID{}
	for i := range convs {
		convs[i] = newConv(ws, i, at(time.Duration(i)*time.Second))
		convs[i].ContactID = idOf('p', i%contacts)
		want[convs[i].ContactID] = append(want[convs[i].ContactID], convs[i].ID)
	}
	putConvs(t, s, convs)
	// A conversation with no contact (its entry is kept under the zero
	// id and never forgotten here).
	orphan := newConv(ws, n, at(0))
	orphan.ContactID = engine.ZeroID
	putConvs(t, s, []engine.Conversation{orphan})
	for ct := range want {
		require.NoError(t, s.ForgetContactConversations(ws, ct))
		got, err := s.ContactConversations(ws, ct)
		require.NoError(t, err)
		require.Empty(t, got)
	}
	require.Equal(t, 3, s.FormatVersion())

	s = reopen(t, s, dir)
	require.Equal(t, FormatVersion, s.FormatVersion())
	for ct, convs := range want {
		got, err := s.ContactConversations(ws, ct)
		require.NoError(t, err)
		require.ElementsMatch(t, convs, got)
	}
	require.Len(t, rawKeys(t, s, contactIndexPrefix(ws, cConversation)), n+1)

	// Done once: an entry removed now stays removed after a reopen.
	first := convs[0]
	commit(t, s, func(b *Batch) { b.del(contactConvKey(ws, first.ContactID, first.ID)) })
	s = reopen(t, s, dir)
	require.Zero(t, s.MigrationSteps())
	require.Len(t, rawKeys(t, s, contactIndexPrefix(ws, cConversation)), n)
}

// Contacts stored before the phone and email index get their entries from
// the migration to format 6, once.
func TestBackfillContactKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf(1, 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	old := newContact(ws, 1, engine.Profile{Name: "Ana", Phone: "+1 555 000 1111"})
	commit(t, s, func(b *Batch) { b.set(contactKey(ws, old.ID), &old) }) // as written before the index
	keys := engine.IdentityKeys(engine.ChannelWhatsApp, "15550001111")
	_, ok, err := s.ContactByKeys(ws, keys)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, s.SetFormatVersion(5))
	s = reopen(t, s, dir)
	require.Equal(t, FormatVersion-5, s.MigrationSteps(), "this step and those after it")
	id, ok, err := s.ContactByKeys(ws, keys)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, old.ID, id)
}
