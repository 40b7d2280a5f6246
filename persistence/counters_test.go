package persistence

import (
	"bytes"
	"fmt"
	"slices"
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

// The filter counts of a channel tab (DimChannel) follow every change of
// channel, unread count, assignee and folder, and a store written before
// they existed gets them, once, when it is opened.
func TestChannelCounters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	channels := []engine.Channel{engine.ChannelWhatsApp, engine.ChannelMessenger, engine.ChannelInstagram}
	convs := make([]engine.Conversation, 30)
	for i := range convs {
		convs[i] = newConv(ws, i, at(time.Duration(i)*time.Second))
		convs[i].Channel = channels[i%3]
		convs[i].UnreadCount = i % 2
		if i%5 == 0 {
			convs[i].AssigneeID = "u1"
		}
	}
	convs[4].Tags = []string{"R&D"} // a tag counter with & in its name is not the backfill's
	putConvs(t, s, convs)
	update := func(i int, f func(c *engine.Conversation)) {
		old := convs[i]
		c := old.Clone()
		f(&c)
		commit(t, s, func(b *Batch) { b.PutConversation(&old, &c) })
		convs[i] = c
	}
	update(1, func(c *engine.Conversation) { c.UnreadCount = 0 })   // WhatsApp read
	update(3, func(c *engine.Conversation) { c.AssigneeID = "u1" }) // WhatsApp assigned
	update(7, func(c *engine.Conversation) { c.Folder = engine.FolderSolved })
	commit(t, s, func(b *Batch) { b.DeleteConversation(&convs[9], nil) })
	convs = slices.Delete(convs, 9, 10)

	// want counts the conversations as they are now.
	want := func(f engine.Folder, ch engine.Channel, keep func(c *engine.Conversation) bool) int64 {
		var n int64
		for i := range convs {
			if convs[i].Folder == f && convs[i].Channel == ch && keep(&convs[i]) {
				n++
			}
		}
		return n
	}
	check := func(s *Store) {
		t.Helper()
		for _, f := range engine.Folders {
			for _, ch := range channels {
				for dim, keep := range map[string]func(c *engine.Conversation) bool{
					DimUnread:         func(c *engine.Conversation) bool { return c.UnreadCount > 0 },
					DimUnassigned:     func(c *engine.Conversation) bool { return c.AssigneeID == "" },
					DimAssignee("u1"): func(c *engine.Conversation) bool { return c.AssigneeID == "u1" },
				} {
					n, err := s.Count(ws, f, DimChannel(ch, dim))
					require.NoError(t, err)
					require.Equal(t, want(f, ch, keep), n, "%s %s %s", f, ch, dim)
				}
			}
		}
	}
	check(s)
	require.Equal(t, int64(4), want(engine.FolderOpen, engine.ChannelWhatsApp, func(c *engine.Conversation) bool { return c.UnreadCount > 0 }),
		"the test counts something")

	// A store of before (format 6): no channel counters. Opening it sets
	// them from the conversations.
	commit(t, s, func(b *Batch) {
		for _, k := range rawKeys(t, s, wsPrefix(ws, tCounter)) {
			for _, d := range []string{"&unread", "&unassigned", "&asg:"} {
				if bytes.Contains(k, []byte(d)) {
					b.del(k)
				}
			}
		}
		b.rewindFormat(6)
	})
	n, err := s.Count(ws, engine.FolderOpen, DimChannel(engine.ChannelWhatsApp, DimUnread))
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, s.Close())
	s, err = Open(Options{Dir: dir})
	require.NoError(t, err)
	check(s)
	tags, err := s.Tags(ws)
	require.NoError(t, err)
	require.Equal(t, []TagCount{{"R&D", 1}}, tags)
	// Once: the next open leaves them to the merges.
	update(2, func(c *engine.Conversation) { c.UnreadCount = 3 })
	require.NoError(t, s.Close())
	s, err = Open(Options{Dir: dir})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	check(s)
}

// Tags reads the tag counters of every folder: a tag counts once per
// conversation carrying it, and one no conversation carries any more is
// not listed.
func TestTags(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf('w', 1), idOf('w', 2)
	convs := make([]engine.Conversation, 4)
	for i := range convs {
		convs[i] = newConv(ws, i, at(time.Duration(i)*time.Second))
	}
	convs[0].Tags = []string{"billing", "a\x00b"}
	convs[1].Tags = []string{"billing"}
	convs[1].Folder = engine.FolderSolved
	convs[2].Tags = []string{"gone"}
	elsewhere := newConv(other, 9, at(0))
	elsewhere.Tags = []string{"secret"}
	putConvs(t, s, append(convs, elsewhere))
	old := convs[2]
	c := old.Clone()
	c.Tags = nil
	commit(t, s, func(b *Batch) { b.PutConversation(&old, &c) })

	got, err := s.Tags(ws)
	require.NoError(t, err)
	require.Equal(t, []TagCount{{"a\x00b", 1}, {"billing", 2}}, got)
	got, err = s.Tags(idOf('w', 3))
	require.NoError(t, err)
	require.Empty(t, got)
}
