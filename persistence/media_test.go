package persistence

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// digestOf returns the hex SHA-256 of s, as the media store names files.
func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// mediaMsg returns message seq of c carrying the stored file digest.
func mediaMsg(c *engine.Conversation, seq uint64, digest string) engine.Message {
	m := newMsg(c, seq, "")
	m.Content = engine.Content{Kind: engine.KindImage, Media: &engine.Media{
		StorageKey: c.WorkspaceID.String() + "/" + digest, SHA256: digest, MimeType: "image/png", Size: 3}}
	return m
}

// TestMediaRefs: a file shared by two conversations is referenced by
// both; a status rewrite adds no second reference; deleting one
// conversation leaves the other's, deleting the second leaves none;
// ReleaseMessageMedia drops one message's.
func TestMediaRefs(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	shared, own := digestOf("shared"), digestOf("own")
	a, b := newConv(ws, 1, at(0)), newConv(ws, 2, at(0))
	a1, a2 := mediaMsg(&a, 1, shared), mediaMsg(&a, 2, own)
	a3 := newMsg(&a, 3, "wamid.3") // text: no reference
	pending := mediaMsg(&a, 4, shared)
	pending.Media.StorageKey = "" // inbound, not fetched yet: no reference
	b1 := mediaMsg(&b, 1, shared)
	commit(t, s, func(bt *Batch) {
		bt.PutConversation(nil, &a)
		bt.PutConversation(nil, &b)
		for _, m := range []*engine.Message{&a1, &a2, &a3, &pending, &b1} {
			bt.PutMessage(m, engine.ChannelWhatsApp)
		}
	})
	// A status change rewrites the message: still one reference.
	a1.Status = engine.StatusRead
	commit(t, s, func(bt *Batch) { bt.PutMessage(&a1, engine.ChannelWhatsApp) })

	refs, err := s.MediaRefs(ws, shared, 0)
	require.NoError(t, err)
	require.Equal(t, []MessageRef{{a.ID, 1}, {b.ID, 1}}, refs)
	refs, err = s.MediaRefs(ws, shared, 1)
	require.NoError(t, err)
	require.Len(t, refs, 1)
	uses, err := s.ConversationMedia(ws, a.ID)
	require.NoError(t, err)
	require.Equal(t, []MediaUse{{2, own}, {1, shared}}, uses)
	// Another workspace does not see them.
	ok, err := s.MediaReferenced(idOf('w', 2), shared)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = s.MediaRefs(ws, "not-a-digest", 0)
	require.Error(t, err)

	commit(t, s, func(bt *Batch) { bt.DeleteConversation(&a, []string{"wamid.3"}) })
	refs, err = s.MediaRefs(ws, shared, 0)
	require.NoError(t, err)
	require.Equal(t, []MessageRef{{b.ID, 1}}, refs)
	ok, err = s.MediaReferenced(ws, own)
	require.NoError(t, err)
	require.False(t, ok)

	var released string
	commit(t, s, func(bt *Batch) { released = bt.ReleaseMessageMedia(&b1) })
	require.Equal(t, shared, released)
	ok, err = s.MediaReferenced(ws, shared)
	require.NoError(t, err)
	require.False(t, ok)
	require.Empty(t, rawKeys(t, s, wsPrefix(ws, tMediaRef)))
}

// TestBackfillMediaRefs: messages with media stored before the reference
// index existed (binary and JSON records) get their references at the
// next Open, across several backfill batches, once.
func TestBackfillMediaRefs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	a, b := newConv(ws, 1, at(0)), newConv(ws, 2, at(0))
	putConvs(t, s, []engine.Conversation{a, b})
	const n = backfillBatch + 10
	digests := []string{digestOf("x"), digestOf("y")}
	commit(t, s, func(bt *Batch) {
		for i := range uint64(n) {
			m := mediaMsg(&a, i+1, digests[i%2])
			bt.PutMessage(&m, engine.ChannelWhatsApp)
		}
		// A version 1 (JSON) record, as written before the binary codec.
		m := mediaMsg(&b, 1, digests[0])
		v, err := encodeJSON(&m)
		require.NoError(t, err)
		bt.setRaw(messageKey(ws, b.ID, 1), v)
	})
	// Make the store look as it did before the index.
	require.NoError(t, s.ForgetMediaRefs(ws))
	ok, err := s.MediaReferenced(ws, digests[0])
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 4, s.FormatVersion())
	s = reopen(t, s, dir)
	require.Equal(t, FormatVersion, s.FormatVersion())
	require.Equal(t, FormatVersion-4, s.MigrationSteps())
	refs, err := s.MediaRefs(ws, digests[0], 0)
	require.NoError(t, err)
	require.Len(t, refs, n/2+1)
	require.Contains(t, refs, MessageRef{b.ID, 1})
	refs, err = s.MediaRefs(ws, digests[1], 0)
	require.NoError(t, err)
	require.Len(t, refs, n/2)

	// Done once: a reference removed now stays removed after a reopen.
	commit(t, s, func(bt *Batch) { bt.delPrefix(wsPrefix(ws, tMediaRef)) })
	s = reopen(t, s, dir)
	require.Zero(t, s.MigrationSteps())
	require.Empty(t, rawKeys(t, s, wsPrefix(ws, tMediaRef)))
}
