package persistence

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Retention policy, legal holds and the retention worker's progress.
// Keys, under the workspace prefix:
//
//	'w' ws '%' 'p'                           retention policy (engine.RetentionPolicy)
//	'w' ws '%' 'h' contact                   legal hold of a contact (engine.LegalHold)
//	'w' ws '%' 'c'                           the retention run's progress (RetentionProgress)
//
// The policy is written by the retention routes under their mutex, a
// hold by its contact's actor, the progress by the retention worker
// (docs/ARCHITECTURE.md, "Retention, legal hold, export and erasure").
// A store written before retention existed has none of these keys: they
// need no migration.
const (
	tRetention = '%'

	rtPolicy   = 'p'
	rtHold     = 'h'
	rtProgress = 'c'
)

func retentionKey(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tRetention), sub) }

func legalHoldKey(ws, contact engine.ID) []byte {
	return append(retentionKey(ws, rtHold), contact[:]...)
}

// RetentionPolicy reads workspace ws's retention policy; the zero policy
// (keep everything) when none was set.
func (s *Store) RetentionPolicy(ws engine.ID) (engine.RetentionPolicy, error) {
	var p engine.RetentionPolicy
	if err := s.get(retentionKey(ws, rtPolicy), &p); err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("reading the retention policy: %w", err)
	}
	return p, nil
}

// PutRetentionPolicy writes workspace ws's retention policy.
func (b *Batch) PutRetentionPolicy(ws engine.ID, p *engine.RetentionPolicy) {
	b.set(retentionKey(ws, rtPolicy), p)
}

// LegalHold reads the legal hold of contact, if there is one.
func (s *Store) LegalHold(ws, contact engine.ID) (engine.LegalHold, bool, error) {
	var h engine.LegalHold
	err := s.get(legalHoldKey(ws, contact), &h)
	if errors.Is(err, ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("reading the legal hold of %s: %w", contact, err)
	}
	return h, true, nil
}

// PutLegalHold writes a contact's legal hold.
func (b *Batch) PutLegalHold(ws engine.ID, h *engine.LegalHold) {
	b.set(legalHoldKey(ws, h.ContactID), h)
}

// DeleteLegalHold releases a contact's legal hold.
func (b *Batch) DeleteLegalHold(ws, contact engine.ID) { b.del(legalHoldKey(ws, contact)) }

// RetentionProgress is how far the retention worker's run over a
// workspace got: every conversation of id up to After is done. A run
// with FinishedAt set is complete; the next starts from the first
// conversation.
type RetentionProgress struct {
	After         engine.ID `json:"after"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	Messages      int64     `json:"messages"`
	Conversations int64     `json:"conversations"`
}

// RetentionProgress reads the progress of workspace ws's retention run.
func (s *Store) RetentionProgress(ws engine.ID) (RetentionProgress, bool, error) {
	var p RetentionProgress
	err := s.get(retentionKey(ws, rtProgress), &p)
	if errors.Is(err, ErrNotFound) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("reading the retention progress: %w", err)
	}
	return p, true, nil
}

// PutRetentionProgress writes the progress of workspace ws's retention run.
func (b *Batch) PutRetentionProgress(ws engine.ID, p *RetentionProgress) {
	b.set(retentionKey(ws, rtProgress), p)
}

// ConversationIDsAfter returns up to limit ids of workspace ws's
// conversations greater than after (ZeroID: from the first), in id order.
func (s *Store) ConversationIDsAfter(ws, after engine.ID, limit int) ([]engine.ID, error) {
	return s.recordIDsAfter(wsPrefix(ws, tConversation), after, limit)
}

// OldestMessages returns up to limit of conversation conv's messages,
// oldest first.
func (s *Store) OldestMessages(ws, conv engine.ID, limit int) ([]engine.Message, error) {
	p := messagePrefix(ws, conv)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.Message
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		var m engine.Message
		if err := decode(it.Value(), &m); err != nil {
			return nil, fmt.Errorf("%w: message %x: %v", ErrCorrupt, it.Key(), err)
		}
		out = append(out, m)
	}
	if err := iterErr(it); err != nil {
		return nil, fmt.Errorf("reading the oldest messages of %s: %w", conv, err)
	}
	return out, nil
}

// DeleteMessages removes messages msgs of conversation c for good: the
// records, their channel id entries, media references, ratings, outbox
// entries and quarantined copies, and queues the conversation's search
// entries to be rebuilt from the messages left. It returns the digests
// of the media files the messages referenced, for the media store to
// remove those no other message references once the batch is committed.
func (b *Batch) DeleteMessages(c *engine.Conversation, msgs []engine.Message) []string {
	var digests []string
	ws := c.WorkspaceID
	for i := range msgs {
		m := &msgs[i]
		b.del(messageKey(ws, c.ID, m.Seq))
		b.del(quarantineKey(messageKey(ws, c.ID, m.Seq)))
		if m.ChannelMessageID != "" {
			b.del(externalKey(ws, c.Channel, m.ChannelMessageID))
		}
		if d := b.ReleaseMessageMedia(m); d != "" {
			digests = append(digests, d)
		}
		b.del(outboxKey(ws, c.ID, m.Seq))
		b.deleteMessageFeedback(ws, c.ID, m.Seq)
	}
	b.RebuildSearch(ws, c.ID)
	return digests
}

// deleteMessageFeedback removes the ratings of one message and their
// index entries.
func (b *Batch) deleteMessageFeedback(ws, conv engine.ID, seq uint64) {
	b.deleteFeedbackUnder(appendUint64(feedbackPrefix(ws, conv), seq), conv)
}

// RebuildSearch queues conversation conv's search entries to be rebuilt
// from nothing out of its stored messages: after messages were deleted,
// whose tokens the index cannot take back one by one.
func (b *Batch) RebuildSearch(ws, conv engine.ID) {
	b.setRaw(searchQueueKey(ws, conv, b.s.searchSeq.Add(1)), []byte{queueRebuild})
	b.searchQueued = true
}

// ScanAll calls f with every key and value of the store, in key order,
// until f returns false: for tests that prove erased data is gone, and
// for diagnostics. key and value are valid only during the call.
func (s *Store) ScanAll(f func(key, value []byte) bool) error {
	it, err := s.iter(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if !f(it.Key(), it.Value()) {
			break
		}
	}
	return iterErr(it)
}

// CountMessages returns how many messages conversation conv holds.
func (s *Store) CountMessages(ws, conv engine.ID) (int, error) {
	return s.countKeys(messagePrefix(ws, conv))
}

// DeleteFormSubmissions removes form submissions subs, both the copy kept
// by form and the one kept by contact: an erasure's (a merge keeps the
// form's copies, naming the target).
func (b *Batch) DeleteFormSubmissions(subs []engine.FormSubmission) {
	for i := range subs {
		sub := &subs[i]
		b.del(append(append(formPrefix(sub.WorkspaceID, formByForm), sub.FormID[:]...), sub.ID[:]...))
		b.del(append(append(formPrefix(sub.WorkspaceID, formByContact), sub.ContactID[:]...), sub.ID[:]...))
	}
}

// ForgetContactConversation removes the entry that lists conversation
// conv under contact (one its deletion left behind).
func (b *Batch) ForgetContactConversation(ws, contact, conv engine.ID) {
	b.del(contactConvKey(ws, contact, conv))
}

// ContactIDBefore returns the greatest id of workspace ws's contacts
// below id, or ZeroID when there is none.
func (s *Store) ContactIDBefore(ws, id engine.ID) (engine.ID, error) {
	p := wsPrefix(ws, tContact)
	it, err := s.iter(p, contactKey(ws, id))
	if err != nil {
		return engine.ZeroID, err
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		if k := it.Key(); len(k) == len(p)+16 {
			var prev engine.ID
			copy(prev[:], k[len(p):])
			return prev, nil
		}
	}
	return engine.ZeroID, iterErr(it)
}
