package persistence

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Canned replies are kept per workspace, oldest first, read back whole,
// and deleted one by one; a corrupt one is reported as corruption.
func TestCannedReplies(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf(1, 1), idOf(1, 2)
	var rs []engine.CannedReply
	commit(t, s, func(b *Batch) {
		for i, code := range []string{"b", "a"} {
			r := engine.CannedReply{ID: engine.NewID(at(time.Duration(i) * time.Second)), WorkspaceID: ws, ShortCode: code, Title: "T " + code,
				Body: "Hi {{contact.first_name}}", CreatedBy: idOf(2, 1), CreatedAt: at(0).UTC(), UpdatedAt: at(0).UTC()}
			rs = append(rs, r)
			b.PutCannedReply(&r)
		}
		b.PutCannedReply(&engine.CannedReply{ID: engine.NewID(at(0)), WorkspaceID: other, ShortCode: "a", Title: "other's", Body: "x"})
	})
	got, err := s.CannedReplies(ws)
	require.NoError(t, err)
	require.Equal(t, rs, got, "oldest first, every field")
	one, err := s.CannedReply(ws, rs[1].ID)
	require.NoError(t, err)
	require.Equal(t, rs[1], one)
	_, err = s.CannedReply(other, rs[1].ID)
	require.ErrorIs(t, err, ErrNotFound, "another workspace's id")

	commit(t, s, func(b *Batch) { b.DeleteCannedReply(ws, rs[0].ID) })
	got, err = s.CannedReplies(ws)
	require.NoError(t, err)
	require.Equal(t, rs[1:], got)
	theirs, err := s.CannedReplies(other)
	require.NoError(t, err)
	require.Len(t, theirs, 1)

	require.NoError(t, s.db.Set(cannedReplyKey(ws, rs[1].ID), []byte{recordVersion, '{'}, nil))
	_, err = s.CannedReplies(ws)
	require.True(t, IsCorruption(err), "%v", err)
	_, err = s.CannedReply(ws, rs[1].ID)
	require.True(t, IsCorruption(err), "%v", err)
}
