package persistence

import (
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// Batch collects the writes of one state change: a record and every index
// entry that points at it. Commit it with Store.Commit.
type Batch struct {
	b   *pebble.Batch
	s   *Store
	err error
	// proj is set on search projection batches (see tokenCache).
	proj *projection
	// searchQueued: the batch queues search work (see Store.OnSearchQueued).
	searchQueued bool
	// fed holds copies of the new messages the batch writes, for the
	// search feed once the batch is committed.
	fed []engine.Message
}

// NewBatch returns an empty batch.
func (s *Store) NewBatch() *Batch { return &Batch{b: s.db.NewBatch(), s: s} }

// Close releases a batch that will not be committed.
func (b *Batch) Close() {
	if b.b != nil {
		_ = b.b.Close()
		b.b = nil
	}
}

// Err returns the first error met while building the batch. Store.Commit
// refuses a batch with an error.
func (b *Batch) Err() error { return b.err }

func (b *Batch) set(key []byte, v any) {
	if b.err != nil {
		return
	}
	val, err := encode(v)
	if err != nil {
		b.err = err
		return
	}
	b.setRaw(key, val)
}

func (b *Batch) setRaw(key, val []byte) {
	if b.err == nil {
		b.err = b.b.Set(key, val, nil)
	}
}

func (b *Batch) del(key []byte) {
	if b.err == nil {
		b.err = b.b.Delete(key, nil)
	}
}

// delPrefix deletes every key with prefix p.
func (b *Batch) delPrefix(p []byte) {
	if b.err == nil {
		b.err = b.b.DeleteRange(p, prefixEnd(p), nil)
	}
}

// singleDel deletes a key that is set at most once between deletions
// (list index entries, search queue entries): Pebble drops such a
// deletion together with the set it meets in a flush or compaction, so
// the churn of moving entries never reaches the disk's lower levels.
// Setting the key twice without a deletion in between would let the
// older set come back: only use it where one writer knows the key's state
// (a conversation's actor for its list entries; the unique sequence
// number of a queue entry).
func (b *Batch) singleDel(key []byte) {
	if b.err == nil {
		b.err = b.b.SingleDelete(key, nil)
	}
}

// PutConversation writes the header c and brings its indexes (list index,
// durable timers, thread) from old to c. old is nil for a new
// conversation.
func (b *Batch) PutConversation(old *engine.Conversation, c *engine.Conversation) {
	b.set(conversationKey(c.WorkspaceID, c.ID), c)
	if old != nil && len(b.fed) > 0 {
		// Rewrites of older messages (statuses) are not new text.
		b.fed = slices.DeleteFunc(b.fed, func(m engine.Message) bool {
			return m.ConversationID == c.ID && m.Seq <= old.LastSeq
		})
	}
	oldList := indexEntries(old)
	newList := indexEntries(c)
	for _, e := range oldList {
		if !containsIndexEntry(newList, e.key) {
			b.singleDel(e.key)
		}
	}
	for _, e := range newList {
		if !containsIndexEntry(oldList, e.key) {
			b.setRaw(e.key, nil)
		}
	}
	// Counters move only when a (folder, dimension) pair comes or goes;
	// an entry that only moved in time (new activity) leaves them alone.
	oldDims, newDims := counterDims(old), counterDims(c)
	if old == nil || old.Folder != c.Folder {
		for _, d := range oldDims {
			b.addCounter(old.WorkspaceID, old.Folder, d, -1)
		}
		for _, d := range newDims {
			b.addCounter(c.WorkspaceID, c.Folder, d, +1)
		}
	} else {
		for _, d := range oldDims {
			if !slices.Contains(newDims, d) {
				b.addCounter(c.WorkspaceID, c.Folder, d, -1)
			}
		}
		for _, d := range newDims {
			if !slices.Contains(oldDims, d) {
				b.addCounter(c.WorkspaceID, c.Folder, d, +1)
			}
		}
	}
	b.moveTimer(old, c, TimerAIResume, func(c *engine.Conversation) time.Time { return c.AIResumesAt })
	b.moveTimer(old, c, TimerFollowUp, func(c *engine.Conversation) time.Time { return c.FollowUpAt })
	b.moveTimer(old, c, TimerAIPending, func(c *engine.Conversation) time.Time { return c.AIPendingAt })
	// A conversation that moves to another contact (a merge) is indexed
	// with the new contact's profile.
	moved := old != nil && old.ContactID != c.ContactID
	if moved || searchStale(old, c) {
		b.enqueueSearch(c.WorkspaceID, c.ID, moved)
	}
	b.moveContactConversation(old, c)
}

func (b *Batch) moveTimer(old, c *engine.Conversation, kind TimerKind, due func(*engine.Conversation) time.Time) {
	var was time.Time
	if old != nil {
		was = due(old)
	}
	now := due(c)
	if was.Equal(now) {
		return
	}
	if !was.IsZero() {
		b.del(timerKey(was, kind, c.WorkspaceID, c.ID))
	}
	if !now.IsZero() {
		b.setRaw(timerKey(now, kind, c.WorkspaceID, c.ID), nil)
	}
}

// indexEntry is one list index entry of a conversation and the dimension
// (and so the counter) it belongs to.
type indexEntry struct {
	dim string
	key []byte
}

func indexEntries(c *engine.Conversation) []indexEntry {
	if c == nil {
		return nil
	}
	dims := listDims(c)
	out := make([]indexEntry, len(dims))
	for i, d := range dims {
		out[i] = indexEntry{d, listKey(c.WorkspaceID, c.Folder, d, c.LastActivityAt, c.ID)}
	}
	return out
}

func containsIndexEntry(es []indexEntry, k []byte) bool {
	return slices.ContainsFunc(es, func(x indexEntry) bool { return string(x.key) == string(k) })
}

func threadValue(conv, contact engine.ID) []byte {
	v := make([]byte, 0, 32)
	v = append(v, conv[:]...)
	return append(v, contact[:]...)
}

// PutMessage writes message m, its channel message id index entry when it
// has one, and its reference to its stored media file when it has one.
func (b *Batch) PutMessage(m *engine.Message, ch engine.Channel) {
	b.set(messageKey(m.WorkspaceID, m.ConversationID, m.Seq), m)
	b.putMediaRef(m)
	b.fed = append(b.fed, *m)
	if m.ChannelMessageID != "" {
		b.setRaw(externalKey(m.WorkspaceID, ch, m.ChannelMessageID), messageRef(m.ConversationID, m.Seq))
	}
}

func messageRef(conv engine.ID, seq uint64) []byte {
	v := make([]byte, 0, 24)
	v = append(v, conv[:]...)
	return appendUint64(v, seq)
}

// PutOutbox records that outbound message seq must be sent, with no
// attempt made yet; the entry is removed with DeleteOutbox once the
// channel answered.
func (b *Batch) PutOutbox(ws, conv engine.ID, seq uint64) { b.setRaw(outboxKey(ws, conv, seq), nil) }

// outboxRecord is the value of an outbox entry once an attempt failed
// (a version 1 record); an entry with no attempt yet has an empty value.
type outboxRecord struct {
	Attempts int `json:"attempts"`
}

// PutOutboxAttempts records that outbound message seq was tried attempts
// times without success, so that its retry budget spans restarts.
func (b *Batch) PutOutboxAttempts(ws, conv engine.ID, seq uint64, attempts int) {
	b.set(outboxKey(ws, conv, seq), outboxRecord{Attempts: attempts})
}

// DeleteOutbox removes an outbox entry.
func (b *Batch) DeleteOutbox(ws, conv engine.ID, seq uint64) { b.del(outboxKey(ws, conv, seq)) }

// PutContact writes contact c and brings its identity and search
// indexes from old. When the profile fields conversation search holds
// (name, phone, email, company) change, it queues every conversation of
// the contact for reindexing, in the same batch.
func (b *Batch) PutContact(old *engine.Contact, c *engine.Contact) {
	b.set(contactKey(c.WorkspaceID, c.ID), c)
	b.indexContact(old, c)
	b.indexStageOwner(old, c)
	if old != nil && searchProfileChanged(&old.Profile, &c.Profile) {
		b.reindexContactConversations(c.WorkspaceID, c.ID)
	}
	if old != nil {
		for _, id := range old.Identities {
			if !slices.Contains(c.Identities, id) {
				b.del(identityKey(c.WorkspaceID, id.Channel, id.ExternalID))
			}
		}
	}
	for _, id := range c.Identities {
		b.setRaw(identityKey(c.WorkspaceID, id.Channel, id.ExternalID), c.ID[:])
	}
}

// PutOrphanStatus keeps a status report whose channel message id is not
// known yet; ApplyOrphans picks it up once the send call returns the id.
func (b *Batch) PutOrphanStatus(r *engine.StatusReport, seqNo uint64) {
	b.set(appendUint64(orphanPrefix(r.WorkspaceID, r.Channel, r.ChannelMessageID), seqNo), r)
}

// DeleteOrphans removes the kept status reports of a channel message id.
func (b *Batch) DeleteOrphans(ws engine.ID, ch engine.Channel, extID string) {
	p := orphanPrefix(ws, ch, extID)
	b.delPrefix(p)
}

// DeleteConversation removes conversation c for good: its header, index
// entries, timers, thread entry, messages, their channel id entries and
// their media references (read from the messages), held echoes, and the
// quarantined copies of its corrupt records.
// msgs are the conversation's messages with a channel message id (from
// Store.ChannelMessageIDs) whose index entries must go too.
func (b *Batch) DeleteConversation(c *engine.Conversation, channelIDs []string) {
	b.del(conversationKey(c.WorkspaceID, c.ID))
	for _, e := range indexEntries(c) {
		b.singleDel(e.key)
	}
	for _, d := range counterDims(c) {
		b.addCounter(c.WorkspaceID, c.Folder, d, -1)
	}
	if !c.AIResumesAt.IsZero() {
		b.del(timerKey(c.AIResumesAt, TimerAIResume, c.WorkspaceID, c.ID))
	}
	if !c.FollowUpAt.IsZero() {
		b.del(timerKey(c.FollowUpAt, TimerFollowUp, c.WorkspaceID, c.ID))
	}
	if !c.AIPendingAt.IsZero() {
		b.del(timerKey(c.AIPendingAt, TimerAIPending, c.WorkspaceID, c.ID))
	}
	b.del(threadKey(c.WorkspaceID, c.ChannelAccountID, engine.ThreadUser(c.ExternalUserID, c.Thread)))
	b.del(contactConvKey(c.WorkspaceID, c.ContactID, c.ID))
	for _, id := range channelIDs {
		b.del(externalKey(c.WorkspaceID, c.Channel, id))
	}
	b.releaseConversationMedia(c.WorkspaceID, c.ID)
	b.deleteConversationFeedback(c.WorkspaceID, c.ID)
	p := messagePrefix(c.WorkspaceID, c.ID)
	b.delPrefix(p)
	op := outboxConvPrefix(c.WorkspaceID, c.ID)
	b.delPrefix(op)
	b.delPrefix(heldEchoPrefix(c.WorkspaceID, c.ID))
	// Copies of its corrupt records go too: deleted means deleted.
	b.del(quarantineKey(conversationKey(c.WorkspaceID, c.ID)))
	b.delPrefix(quarantineKey(p))
	b.enqueueSearch(c.WorkspaceID, c.ID, false) // the projection unindexes it
}

func outboxConvPrefix(ws, conv engine.ID) []byte {
	k := outboxKey(ws, conv, 0)
	return k[:len(k)-8]
}

// DeleteTimer removes a timer entry (a stale one, or one that fired).
func (b *Batch) DeleteTimer(t Timer) { b.del(timerKey(t.Due, t.Kind, t.WorkspaceID, t.ConversationID)) }

// commitable returns the pebble batch or the build error.
func (b *Batch) commitable() error {
	if b.err != nil {
		return fmt.Errorf("persistence: building batch: %w", b.err)
	}
	return nil
}
