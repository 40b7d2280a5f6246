package persistence

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// projectAll drains the search queue in steps of limit conversations.
func projectAll(tb testing.TB, s *Store, limit int) {
	tb.Helper()
	for {
		n, err := s.ProjectSearch(limit)
		require.NoError(tb, err)
		if n == 0 {
			return
		}
	}
}

// writeOnly writes a change the way the actors do: the batch holds the
// messages and the header, and the index is left to the projection.
func writeOnly(tb testing.TB, s *Store, old, c *engine.Conversation, msgs []engine.Message) {
	tb.Helper()
	commit(tb, s, func(b *Batch) {
		for i := range msgs {
			b.PutMessage(&msgs[i], c.Channel)
		}
		b.PutConversation(old, c)
	})
}

// TestSearchProjectionMatchesDirectIndex replays the same random history
// on two stores: one indexes in every batch, the other only queues and
// projects at random moments, several changes at once. Their search
// keyspaces must end byte for byte the same.
func TestSearchProjectionMatchesDirectIndex(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	direct, projected := openStore(t), openStore(t)
	ws := idOf('w', 1)
	vocab := []string{"pedido", "entrega", "Ñandú", "olá", "café", "reembolso", "São", "555-0102"}
	names := []string{"José", "Maria José", "Ana", ""}
	var convs []*engine.Conversation
	var deleted []*engine.Conversation
	for step := range 300 {
		var old *engine.Conversation
		var c *engine.Conversation
		var msgs []engine.Message
		switch r := rng.IntN(10); {
		case len(convs) == 0 || r < 2:
			nc := newConv(ws, len(convs)+len(deleted)+1, at(time.Duration(step)*time.Second))
			nc.ContactName = names[rng.IntN(len(names))]
			c = &nc
			convs = append(convs, c)
		case r < 3 && len(convs) > 1:
			i := rng.IntN(len(convs))
			gone := convs[i]
			convs = append(convs[:i], convs[i+1:]...)
			deleted = append(deleted, gone)
			for _, s := range []*Store{direct, projected} {
				b := s.NewBatch()
				b.DeleteConversation(gone, nil)
				if s == direct {
					require.NoError(t, s.UnindexConversation(b, ws, gone.ID))
				}
				require.NoError(t, s.Commit(b))
			}
			continue
		default:
			c = convs[rng.IntN(len(convs))]
			o := c.Clone()
			old = &o
			if rng.IntN(4) == 0 {
				c.ContactName = names[rng.IntN(len(names))]
			}
		}
		for range rng.IntN(3) {
			c.LastSeq++
			m := newMsg(c, c.LastSeq, "")
			m.Text = vocab[rng.IntN(len(vocab))] + " " + vocab[rng.IntN(len(vocab))]
			msgs = append(msgs, m)
		}
		c.LastActivityAt = at(time.Duration(step) * time.Second)
		commit(t, direct, func(b *Batch) {
			for i := range msgs {
				b.PutMessage(&msgs[i], c.Channel)
			}
			b.PutConversation(old, c)
			require.NoError(t, direct.IndexConversation(b, old, c, msgs, nil))
		})
		writeOnly(t, projected, old, c, msgs)
		if rng.IntN(6) == 0 {
			// The feed loses the conversation (full, or a restart): the
			// projection must read its messages back, now or after a gap.
			projected.feed.drop(convRef{ws, c.ID})
		}
		if rng.IntN(8) == 0 {
			_, err := projected.ProjectSearch(1 + rng.IntN(3))
			require.NoError(t, err)
		}
	}
	projectAll(t, projected, 7)
	n, err := projected.SearchBacklog()
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, rawKeys(t, direct, wsPrefix(ws, tSearch)), rawKeys(t, projected, wsPrefix(ws, tSearch)))
	require.Positive(t, projected.feed.served, "no projection took its messages from the feed")
	require.Positive(t, projected.feed.missed, "no projection read its messages back")
	require.Zero(t, projected.feed.held, "the feed keeps messages already projected")
	settle(t, projected)
	require.Zero(t, projected.Stats().SingleDeleteMisuse)
	for _, q := range []string{"pedido", "ana", "jose entrega", "5550102", "nandu"} {
		require.Equal(t, hitIDs(search(t, direct, ws, q)), hitIDs(search(t, projected, ws, q)), q)
	}
	for _, gone := range deleted {
		for _, k := range rawKeys(t, projected, wsPrefix(ws, tSearch)) {
			require.False(t, bytes.Contains(k, gone.ID[:]), "deleted conversation left %x", k)
		}
	}
}

// TestSearchQueueKeepsEntriesWrittenDuringProjection: a change committed
// after the projection read the queue, and before it committed, stays
// queued and is projected next time.
func TestSearchQueueKeepsEntriesWrittenDuringProjection(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute))
	c.LastSeq = 1
	m := newMsg(&c, 1, "")
	m.Text = "primeira"
	writeOnly(t, s, nil, &c, []engine.Message{m})

	tasks, err := s.searchTasks(10)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	// Meanwhile the conversation gets a message.
	old := c.Clone()
	c.LastSeq = 2
	c.LastActivityAt = at(2 * time.Minute)
	m2 := newMsg(&c, 2, "")
	m2.Text = "segunda"
	writeOnly(t, s, &old, &c, []engine.Message{m2})
	// The projection that read the queue before it commits.
	b := s.NewBatch()
	require.NoError(t, s.project(b, &tasks[0]))
	for _, k := range tasks[0].keys {
		b.del(k)
	}
	require.NoError(t, s.commitNoSync(b))

	n, err := s.SearchBacklog()
	require.NoError(t, err)
	require.Equal(t, 1, n, "the second change is still queued")
	projectAll(t, s, 10)
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "segunda")))
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "primeira")))
}

// TestSearchQueueSurvivesReopen: queued work is durable with the data it
// describes, and the projection's unsynced batch can be redone.
func TestSearchQueueSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute))
	c.ContactName = "Beatriz Nascimento"
	writeOnly(t, s, nil, &c, nil)
	require.NoError(t, s.Close())

	s, err = Open(Options{Dir: dir})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.Empty(t, search(t, s, ws, "beatriz"))
	projectAll(t, s, 10)
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "beatriz")))
}

// TestSearchProfileReindex: a profile change queued with
// ReindexContactProfile reaches the index.
func TestSearchProfileReindex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute))
	writeOnly(t, s, nil, &c, nil)
	projectAll(t, s, 10)
	require.Empty(t, search(t, s, ws, "acme"))

	ct := engine.Contact{ID: c.ContactID, WorkspaceID: ws, Profile: engine.Profile{Name: "Ana", Company: "ACME Ltda", Email: "ana@acme.example"}}
	commit(t, s, func(b *Batch) {
		b.PutContact(nil, &ct)
		b.ReindexContactProfile(ws, c.ID)
	})
	projectAll(t, s, 10)
	hits := search(t, s, ws, "acme")
	require.Equal(t, []engine.ID{c.ID}, hitIDs(hits))
}

// TestSearchBackfill queues conversations stored before the index, once
// (a second run finds them indexed).
func TestSearchBackfill(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	c := newConv(ws, 1, at(time.Minute))
	c.ContactName = "Carolina Maria"
	writeOnly(t, s, nil, &c, nil)
	// As if written before the queue existed: drop its queue entry.
	for _, k := range rawKeys(t, s, searchQueuePrefix()) {
		commit(t, s, func(b *Batch) { b.del(k) })
	}
	require.NoError(t, s.backfillSearch(quietProgress()))
	projectAll(t, s, 10)
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "carolina")))
	// Idempotent: a second run queues nothing.
	require.NoError(t, s.backfillSearch(quietProgress()))
	n, err := s.SearchBacklog()
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestSearchProjectionSkipsKnownTokens: a conversation repeating its
// words is projected message by message; the projection does not rewrite
// entries it knows (the forward entry keeps an older seq, at most
// snippetLag-1 behind), yet every hit still shows the newest matching
// message, also after a reopen empties the token cache.
func TestSearchProjectionSkipsKnownTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute))
	say := func(s *Store, text string) {
		var old *engine.Conversation
		if c.LastSeq > 0 {
			o := c.Clone()
			old = &o
		}
		c.LastSeq++
		c.LastActivityAt = at(time.Duration(c.LastSeq) * time.Minute)
		m := newMsg(&c, c.LastSeq, "")
		m.Text = text
		writeOnly(t, s, old, &c, []engine.Message{m})
		projectAll(t, s, 10)
	}
	forwardSeq := func(s *Store, tok string) uint64 {
		v, ok, err := s.getRaw(forwardTokenKey(ws, c.ID, tok, kindMessage))
		require.NoError(t, err)
		require.True(t, ok, tok)
		return binary.BigEndian.Uint64(v)
	}
	for i := range 40 {
		text := "pedido entrega"
		if i%7 == 3 {
			text = "pedido reembolso"
		}
		say(s, text)
		stored := forwardSeq(s, "pedido")
		require.LessOrEqual(t, stored, c.LastSeq)
		require.Greater(t, stored+snippetLag, c.LastSeq, "the entry fell too far behind")
		hits := search(t, s, ws, "pedido")
		require.Len(t, hits, 1)
		require.Equal(t, c.LastSeq, hits[0].Seq, "the newest message matches")
		hits = search(t, s, ws, "reembolso")
		if i >= 3 {
			require.Len(t, hits, 1)
			require.Equal(t, uint64(i-(i-3)%7+1), hits[0].Seq, "the newest refund message")
		}
	}
	// Written once for seqs 1, 17 and 33: the rest were skipped.
	require.Equal(t, uint64(33), forwardSeq(s, "pedido"))
	s = reopen(t, s, dir)
	say(s, "pedido cancelado")
	require.Equal(t, c.LastSeq, forwardSeq(s, "pedido"), "an empty cache writes again")
	hits := search(t, s, ws, "pedido cancelado")
	require.Len(t, hits, 1)
	require.Equal(t, c.LastSeq, hits[0].Seq)
}

// TestSearchQueueMigratesOldLayout: entries queued under the layout of
// format 1 (ws conv n under 'Q') are moved at Open and projected.
func TestSearchQueueMigratesOldLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute))
	c.ContactName = "Olívia Antiga"
	writeOnly(t, s, nil, &c, nil)
	// Rewrite its queue entry in the old layout.
	keys := rawKeys(t, s, searchQueuePrefix())
	require.Len(t, keys, 1)
	commit(t, s, func(b *Batch) {
		b.del(keys[0])
		old := append([]byte{spaceSystem, tSearchQueueV1}, ws[:]...)
		old = appendUint64(append(old, c.ID[:]...), 7)
		b.setRaw(old, []byte{queueProfile})
	})
	require.NoError(t, s.SetFormatVersion(1))
	s = reopen(t, s, dir)
	require.Empty(t, rawKeys(t, s, []byte{spaceSystem, tSearchQueueV1}))
	require.Len(t, rawKeys(t, s, searchQueuePrefix()), 1)
	projectAll(t, s, 10)
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "olivia")))
}

// TestSearchQueueFindsEntriesCommittedBehindTheCursor: a batch that took
// its queue number before the projection read past it, and committed
// after, is projected all the same.
func TestSearchQueueFindsEntriesCommittedBehindTheCursor(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	late := newConv(ws, 1, at(time.Minute))
	late.ContactName = "Tardía"
	b := s.NewBatch() // takes its number now
	b.PutConversation(nil, &late)
	early := newConv(ws, 2, at(time.Minute))
	early.ContactName = "Temprana"
	writeOnly(t, s, nil, &early, nil)
	projectAll(t, s, 10) // the cursor passes the late batch's number
	require.NoError(t, s.Commit(b))
	s.searchMu.Lock()
	s.searchWrapped = time.Time{} // as if a while had passed
	s.searchMu.Unlock()
	projectAll(t, s, 10)
	require.Equal(t, []engine.ID{late.ID}, hitIDs(search(t, s, ws, "tardia")))
}

// reopen closes s and opens the store in dir again.
func reopen(tb testing.TB, s *Store, dir string) *Store {
	tb.Helper()
	require.NoError(tb, s.Close())
	s, err := Open(Options{Dir: dir})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// TestSearchLookBehindOwed: when a projection reaches the end of the queue
// within a second of the last look behind the cursor, it skips the look
// and says so, so the projecting goroutine comes back for an entry that
// committed behind the cursor without another commit to wake it.
func TestSearchLookBehindOwed(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	late := newConv(ws, 1, at(time.Minute))
	late.ContactName = "Rezagada"
	b := s.NewBatch() // takes its number now
	b.PutConversation(nil, &late)
	for i, name := range []string{"Primera", "Segunda"} {
		c := newConv(ws, 2+i, at(time.Minute))
		c.ContactName = name
		writeOnly(t, s, nil, &c, nil)
		projectAll(t, s, 10) // the second pass also looks behind the cursor
	}
	require.NoError(t, s.Commit(b))
	projectAll(t, s, 10)
	require.Empty(t, search(t, s, ws, "rezagada"), "the look behind waits for its second")
	wait, due := s.SearchLookBehindDue()
	require.True(t, due, "the skipped look is owed")
	require.LessOrEqual(t, wait, time.Second)
	s.searchMu.Lock()
	s.searchWrapped = s.searchWrapped.Add(-time.Second) // the second has passed
	s.searchMu.Unlock()
	n, err := s.ProjectSearch(10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the look behind finds the late entry")
	_, due = s.SearchLookBehindDue()
	require.False(t, due, "and is no longer owed")
	require.Equal(t, []engine.ID{late.ID}, hitIDs(search(t, s, ws, "rezagada")))
}
