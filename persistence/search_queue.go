package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// The search index is a projection, kept off the write path: a batch that
// changes what a conversation's search entries depend on (a new message,
// a new contact name, new activity, a deletion) adds one small queue entry
// in the same batch, and ProjectSearch later brings the index up to date
// from the stored conversation. The queue is durable with the data, so a
// crash between the two loses nothing: the projection resumes from the
// queue. Keys:
//
//	's' 'q' n ws conv                        → flags (1 byte)
//	'w' ws 'S' 'f' conv 0x00 's'             → indexed seq (8 bytes), contact name
//
// n makes each entry unique (a per-process counter seeded with the clock),
// so that ProjectSearch deletes exactly the entries it read and an entry
// written meanwhile stays queued. It comes first so that the queue is
// read in order from a cursor: the entries already projected (tombstones
// until a compaction) lie behind it and are not stepped over again.
// Stores of format 1 kept ws conv n under 'Q'; the migration to format 2
// moves those (format.go).
const (
	tSearchQueue   = 'q'
	tSearchQueueV1 = 'Q'
	tMarker        = 'M'

	queueProfile = 1 // the contact profile changed: reread it
	queueRebuild = 2 // messages were deleted: index the conversation again from nothing
)

func searchQueuePrefix() []byte { return []byte{spaceSystem, tSearchQueue} }

func searchQueueKey(ws, conv engine.ID, n uint64) []byte {
	k := make([]byte, 0, searchQueueKeyLen)
	k = appendUint64(append(k, spaceSystem, tSearchQueue), n)
	return append(append(k, ws[:]...), conv[:]...)
}

const searchQueueKeyLen = 2 + 8 + 32

// migrateSearchQueue (the migration to format 2) moves the queue entries
// of the layout before (ws conv n under 'Q') to the current one.
func (s *Store) migrateSearchQueue(p *migrationProgress) error {
	prefix := []byte{spaceSystem, tSearchQueueV1}
	it, err := s.iter(prefix, prefixEnd(prefix))
	if err != nil {
		return err
	}
	defer it.Close()
	b := s.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 2+32+8 {
			return fmt.Errorf("%w: search queue key %x", ErrCorrupt, k)
		}
		var ws, conv engine.ID
		copy(ws[:], k[2:18])
		copy(conv[:], k[18:34])
		b.setRaw(searchQueueKey(ws, conv, binary.BigEndian.Uint64(k[34:])), bytes.Clone(it.Value()))
		b.del(bytes.Clone(k))
		p.visited()
	}
	if err := iterErr(it); err != nil {
		return err
	}
	if b.b.Empty() {
		return nil
	}
	return s.Commit(b)
}

func forwardStateKey(ws, conv engine.ID) []byte {
	return append(forwardPrefix(ws, conv), fRecord, 's')
}

// searchStale reports whether writing c over old changes what its search
// entries depend on.
func searchStale(old, c *engine.Conversation) bool {
	return old == nil || old.LastSeq != c.LastSeq || old.ContactName != c.ContactName ||
		!old.LastActivityAt.Equal(c.LastActivityAt)
}

func (b *Batch) enqueueSearch(ws, conv engine.ID, profile bool) {
	var flags byte
	if profile {
		flags = queueProfile
	}
	b.setRaw(searchQueueKey(ws, conv, b.s.searchSeq.Add(1)), []byte{flags})
	b.searchQueued = true
}

// ReindexContactProfile queues conversation conv of workspace ws for
// reindexing with its contact's stored profile: call it in the batch that
// changes the profile (phone, email, company, name), for each of the
// contact's conversations.
func (b *Batch) ReindexContactProfile(ws, conv engine.ID) { b.enqueueSearch(ws, conv, true) }

type searchTask struct {
	ws, conv engine.ID
	profile  bool
	rebuild  bool
	keys     [][]byte
}

// ProjectSearch applies up to limit queued conversations to the search
// index, in one batch, and returns how many it applied: zero means the
// queue is empty. It is meant to run in one goroutine (the index has one
// writer). The batch is not synced: if it is lost in a crash, so are the
// deletions of its queue entries, and the work is done again.
func (s *Store) ProjectSearch(limit int) (int, error) {
	tasks, err := s.searchTasks(limit)
	if err != nil {
		return 0, err
	}
	if len(tasks) == 0 {
		s.feed.release()
		return 0, nil
	}
	b := s.NewBatch()
	proj := newProjection()
	b.proj = proj
	for i := range tasks {
		t := &tasks[i]
		if err := s.project(b, t); err != nil {
			b.Close()
			return 0, fmt.Errorf("projecting search of %s: %w", t.conv, err)
		}
		for _, k := range t.keys {
			b.singleDel(k) // each queue key is set once (a unique n)
		}
	}
	if err := s.commitNoSync(b); err != nil {
		return 0, err
	}
	proj.teach(s.tokens)
	return len(tasks), nil
}

// searchTasks reads up to limit queued conversations, oldest entries
// first. It reads on from a cursor: each call starts after the last entry
// the previous one read, so the deletions of projected entries
// (tombstones until a compaction) are not stepped over again. A batch
// takes its n before it commits, so an entry can land behind the cursor:
// when a call reaches the end of the queue, it also reads from the start
// up to the cursor, at most once per searchWrapEvery (that read steps over
// the tombstones).
func (s *Store) searchTasks(limit int) ([]searchTask, error) {
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	from := s.searchAfter
	g := taskGroups{at: map[convRef]int{}}
	last, err := s.searchTasksFrom(&g, from, nil, limit)
	if err == nil && len(g.tasks) < limit && from != nil {
		if time.Since(s.searchWrapped) >= searchWrapEvery {
			s.searchWrapped = time.Now()
			s.searchBehindOwed = false
			_, err = s.searchTasksFrom(&g, nil, from, limit)
		} else {
			s.searchBehindOwed = true
		}
	}
	if err != nil {
		return nil, err
	}
	if last != nil {
		s.searchAfter = append(last, 0) // the next key after the last read
	}
	return g.tasks, nil
}

// searchWrapEvery is how often the search projection looks behind its
// cursor for entries committed out of order.
const searchWrapEvery = time.Second

// SearchLookBehindDue reports whether the last ProjectSearch reached the
// end of the queue but skipped looking behind its cursor (it does so at
// most once per second), and if so how long until the look is allowed.
// The projecting goroutine must call ProjectSearch again by then even if
// nothing new is committed: an entry that committed behind the cursor
// just before would otherwise wait for the next commit.
func (s *Store) SearchLookBehindDue() (time.Duration, bool) {
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	if !s.searchBehindOwed {
		return 0, false
	}
	return max(0, searchWrapEvery-time.Since(s.searchWrapped)), true
}

// taskGroups gathers queue entries by conversation.
type taskGroups struct {
	tasks []searchTask
	at    map[convRef]int // index in tasks
}

// searchTasksFrom reads queue entries in [lower, upper) (nil: from the
// start, to the end) into g, grouping each conversation's entries, until
// g holds limit conversations, and returns the last key read.
func (s *Store) searchTasksFrom(g *taskGroups, lower, upper []byte, limit int) ([]byte, error) {
	p := searchQueuePrefix()
	if lower == nil {
		lower = p
	}
	if upper == nil {
		upper = prefixEnd(p)
	}
	it, err := s.iter(lower, upper)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var last []byte
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != searchQueueKeyLen {
			return nil, fmt.Errorf("%w: search queue key %x", ErrCorrupt, k)
		}
		var r convRef
		copy(r.ws[:], k[10:26])
		copy(r.conv[:], k[26:42])
		i, ok := g.at[r]
		if !ok {
			if len(g.tasks) == limit {
				break
			}
			i = len(g.tasks)
			g.at[r] = i
			g.tasks = append(g.tasks, searchTask{ws: r.ws, conv: r.conv})
		}
		t := &g.tasks[i]
		last = bytes.Clone(k)
		t.keys = append(t.keys, last)
		if v := it.Value(); len(v) > 0 && v[0]&queueProfile != 0 {
			t.profile = true
		}
		if v := it.Value(); len(v) > 0 && v[0]&queueRebuild != 0 {
			t.rebuild = true
		}
	}
	return last, iterErr(it)
}

// project brings the search entries of one conversation up to date with
// its stored header and messages, from the state last indexed.
func (s *Store) project(b *Batch, t *searchTask) error {
	cur, err := s.searchHeader(t.ws, t.conv)
	if errors.Is(err, ErrNotFound) {
		s.feed.drop(convRef{t.ws, t.conv})
		return s.UnindexConversation(b, t.ws, t.conv)
	}
	if err != nil {
		return err
	}
	old, err := s.indexedState(&cur)
	if err != nil {
		return err
	}
	if t.rebuild {
		// Messages were deleted: what the index holds of them cannot be
		// taken back token by token, nor may the feed hand them out.
		s.feed.drop(convRef{t.ws, t.conv})
		old = nil
	}
	if old == nil {
		// Never indexed, or half of it: start from nothing. Entries set
		// after the deletions win within the batch.
		if indexed, err := s.SearchIndexed(t.ws, t.conv); err != nil {
			return err
		} else if indexed {
			if err := s.UnindexConversation(b, t.ws, t.conv); err != nil {
				return err
			}
		}
	}
	var profile *engine.Profile
	if (old == nil || t.profile) && cur.ContactID != engine.ZeroID {
		ct, err := s.Contact(t.ws, cur.ContactID)
		switch {
		case err == nil:
			profile = &ct.Profile
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	var from uint64
	if old != nil {
		from = old.LastSeq
	}
	var msgs []engine.Message
	if cur.LastSeq > from {
		fed, ok := s.feed.take(convRef{t.ws, t.conv}, from, cur.LastSeq)
		if ok {
			msgs = fed
		} else if msgs, err = s.messagesAfter(t.ws, t.conv, from); err != nil {
			return err
		}
	}
	return s.IndexConversation(b, old, &cur, msgs, profile)
}

// indexedState returns the header as the index last saw it (the fields
// IndexConversation compares), or nil when c was never indexed.
func (s *Store) indexedState(c *engine.Conversation) (*engine.Conversation, error) {
	if st := s.tokens.state(convRef{c.WorkspaceID, c.ID}); st != nil {
		old := *st
		return &old, nil
	}
	v, ok, err := s.getRaw(forwardStateKey(c.WorkspaceID, c.ID))
	if err != nil || !ok {
		return nil, err
	}
	act, ok2, err := s.getRaw(activityOfKey(c.WorkspaceID, c.ID))
	if err != nil {
		return nil, err
	}
	if len(v) < 8 || !ok2 || len(act) != 8 {
		return nil, nil // half an index: rebuild it from the start
	}
	return indexedView(c, binary.BigEndian.Uint64(v), string(v[8:]), timeOf(act)), nil
}

// indexedView is conversation c as the search index sees it: its
// identity, with the seq, contact name and activity the index holds.
func indexedView(c *engine.Conversation, seq uint64, name string, act time.Time) *engine.Conversation {
	return &engine.Conversation{WorkspaceID: c.WorkspaceID, ID: c.ID, Channel: c.Channel,
		ExternalUserID: c.ExternalUserID, LastSeq: seq, ContactName: name, LastActivityAt: act}
}

// searchHeaderFields are the header fields the search index uses.
var searchHeaderFields = fieldMask(cfID, cfWorkspaceID, cfChannel, cfContactID, cfContactName,
	cfExternalUserID, cfLastActivityAt, cfLastSeq)

// searchHeader reads the fields of conversation conv's header that the
// search index uses (decoding the whole header costs more).
func (s *Store) searchHeader(ws, conv engine.ID) (engine.Conversation, error) {
	var c engine.Conversation
	var h struct {
		ID             engine.ID      `json:"id"`
		WorkspaceID    engine.ID      `json:"workspace_id"`
		Channel        engine.Channel `json:"channel"`
		ContactID      engine.ID      `json:"contact_id"`
		ContactName    string         `json:"contact_name,omitempty"`
		ExternalUserID string         `json:"external_user_id"`
		LastActivityAt time.Time      `json:"last_activity_at"`
		LastSeq        uint64         `json:"last_seq"`
	}
	var bin bool
	err := s.view(conversationKey(ws, conv), func(val []byte) (err error) {
		bin, err = decodePart(val, &c, searchHeaderFields, &h)
		return err
	})
	if err != nil {
		return engine.Conversation{}, fmt.Errorf("reading conversation %s: %w", conv, err)
	}
	if bin {
		return c, nil
	}
	return engine.Conversation{ID: h.ID, WorkspaceID: h.WorkspaceID, Channel: h.Channel, ContactID: h.ContactID,
		ContactName: h.ContactName, ExternalUserID: h.ExternalUserID, LastActivityAt: h.LastActivityAt, LastSeq: h.LastSeq}, nil
}

func searchStateValue(c *engine.Conversation) []byte {
	return append(appendUint64(nil, c.LastSeq), c.ContactName...)
}

// SearchBacklog counts the conversations waiting in the search queue (a
// conversation queued by several batches counts once per batch).
func (s *Store) SearchBacklog() (int, error) { return s.countKeys(searchQueuePrefix()) }

// backfillSearch (the migration to format 3) queues every conversation
// written before the search index existed.
func (s *Store) backfillSearch(p *migrationProgress) error {
	return s.backfillConversations(p, func(b *Batch, ws, conv engine.ID, _ []byte) (bool, error) {
		indexed, err := s.SearchIndexed(ws, conv)
		if err != nil || indexed {
			return false, err
		}
		b.enqueueSearch(ws, conv, true)
		return true, nil
	})
}

// backfillBatch is how many writes one backfill batch holds.
const backfillBatch = 1024

// backfillConversations runs a backfill over every stored conversation:
// visit sees the header of each and may add writes to b (reporting
// whether it did); the batches are committed every backfillBatch writes.
// A crash before the end leaves the data directory at its older format,
// so visit must be idempotent: the next Open does it again.
func (s *Store) backfillConversations(p *migrationProgress, visit func(b *Batch, ws, conv engine.ID, header []byte) (bool, error)) error {
	return s.backfillRecords(p, tConversation, visit)
}

// backfillRecords runs visit over every record of table (conversations,
// contacts) of every workspace, committing what it writes in batches of
// bounded size.
func (s *Store) backfillRecords(p *migrationProgress, table byte, visit func(b *Batch, ws, id engine.ID, v []byte) (bool, error)) error {
	wss, err := s.Workspaces()
	if err != nil {
		return err
	}
	b := s.NewBatch()
	pending := 0
	for _, w := range wss {
		prefix := wsPrefix(w.ID, table)
		it, err := s.iter(prefix, prefixEnd(prefix))
		if err != nil {
			b.Close()
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			p.visited()
			var id engine.ID
			copy(id[:], it.Key()[len(prefix):])
			wrote, err := visit(b, w.ID, id, it.Value())
			if err != nil {
				_ = it.Close()
				b.Close()
				return err
			}
			if !wrote {
				continue
			}
			if pending++; pending == backfillBatch {
				if err := s.Commit(b); err != nil {
					_ = it.Close()
					return err
				}
				b, pending = s.NewBatch(), 0
			}
		}
		if err := iterErr(it); err != nil {
			_ = it.Close()
			b.Close()
			return err
		}
		_ = it.Close()
	}
	return s.Commit(b)
}

// commitNoSync commits b without waiting for fsync, for writes that can
// be redone after a crash.
func (s *Store) commitNoSync(b *Batch) error { return s.commitDirect(b, pebble.NoSync) }

// searchProfileChanged reports whether a contact's profile changed in a
// field its conversations are searched by.
func searchProfileChanged(old, p *engine.Profile) bool {
	return old.Name != p.Name || old.Phone != p.Phone || old.Email != p.Email || old.Company != p.Company
}

// reindexContactConversations queues every conversation of contact for
// reindexing with the contact's profile (ReindexContactProfile), reading
// the contact → conversation index.
func (b *Batch) reindexContactConversations(ws, contact engine.ID) {
	if b.err != nil {
		return
	}
	err := b.s.eachContactConversation(ws, contact, func(conv engine.ID) bool {
		b.ReindexContactProfile(ws, conv)
		return b.err == nil
	})
	if b.err == nil {
		b.err = err
	}
}
