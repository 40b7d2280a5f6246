package persistence

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Counters follow every index move: creating, refiling, assigning, reading
// and deleting conversations keep each folder's counts exact, across a
// reopen (the merge operator is registered at Open).
func TestCountersFollowTheIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := engine.NewID(time.Now())
	now := time.Now()
	var convs []engine.Conversation
	for i := range 10 {
		c := engine.NewConversation(engine.NewID(now), ws, engine.ChannelWhatsApp, "a", engine.NewID(now), fmt.Sprint(i), now)
		c.UnreadCount = i % 2
		b := s.NewBatch()
		b.PutConversation(nil, &c)
		require.NoError(t, s.Commit(b))
		convs = append(convs, c)
	}
	count := func(f engine.Folder, dim string) int64 {
		n, err := s.Count(ws, f, dim)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, int64(10), count(engine.FolderOpen, DimAll))
	require.Equal(t, int64(5), count(engine.FolderOpen, DimUnread))
	require.Equal(t, int64(10), count(engine.FolderOpen, DimUnassigned))
	// Solve three, assign two, read one, delete one.
	update := func(i int, f func(c *engine.Conversation)) {
		old := convs[i]
		c := old.Clone()
		f(&c)
		b := s.NewBatch()
		b.PutConversation(&old, &c)
		require.NoError(t, s.Commit(b))
		convs[i] = c
	}
	for i := range 3 {
		update(i, func(c *engine.Conversation) { c.Folder = engine.FolderSolved })
	}
	update(4, func(c *engine.Conversation) { c.AssigneeID = "u1" })
	update(5, func(c *engine.Conversation) { c.AssigneeID = "u1" })
	update(7, func(c *engine.Conversation) { c.UnreadCount = 0 })
	b := s.NewBatch()
	b.DeleteConversation(&convs[9], nil)
	require.NoError(t, s.Commit(b))
	require.NoError(t, s.Close())

	s, err = Open(Options{Dir: dir})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, int64(3), count(engine.FolderSolved, DimAll))
	require.Equal(t, int64(6), count(engine.FolderOpen, DimAll))
	require.Equal(t, int64(2), count(engine.FolderOpen, DimAssignee("u1")))
	require.Equal(t, int64(4), count(engine.FolderOpen, DimUnassigned))
	// Open unread: 3, 5 (7 read, 9 deleted, 1 solved).
	require.Equal(t, int64(2), count(engine.FolderOpen, DimUnread))
	require.Equal(t, int64(0), count(engine.FolderSpam, DimAll))
}
