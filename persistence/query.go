package persistence

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// ErrBadCursor is returned for a pagination cursor that this store did
// not hand out.
var ErrBadCursor = errors.New("persistence: bad cursor")

// Conversation reads a conversation header.
func (s *Store) Conversation(ws, id engine.ID) (engine.Conversation, error) {
	var c engine.Conversation
	if err := s.get(conversationKey(ws, id), &c); err != nil {
		return engine.Conversation{}, fmt.Errorf("reading conversation %s: %w", id, err)
	}
	return c, nil
}

// Message reads one message by seq.
func (s *Store) Message(ws, conv engine.ID, seq uint64) (engine.Message, error) {
	var m engine.Message
	if err := s.get(messageKey(ws, conv, seq), &m); err != nil {
		return engine.Message{}, fmt.Errorf("reading message %s/%d: %w", conv, seq, err)
	}
	return m, nil
}

// Messages returns up to limit messages of a conversation, newest first,
// with seq < before (before == 0 means from the newest).
func (s *Store) Messages(ws, conv engine.ID, before uint64, limit int) ([]engine.Message, error) {
	p := messagePrefix(ws, conv)
	lower := p
	if before > 0 {
		lower = messageKey(ws, conv, before-1)
		if before == 1 {
			return nil, nil
		}
	}
	return s.readMessages(conv, lower, prefixEnd(p), limit)
}

// messagesAfter returns the messages of conversation conv with a seq
// above after, newest first: only those are read.
func (s *Store) messagesAfter(ws, conv engine.ID, after uint64) ([]engine.Message, error) {
	// Keys hold ^seq: newer sorts first.
	return s.readMessages(conv, messagePrefix(ws, conv), messageKey(ws, conv, after), math.MaxInt)
}

// readMessages decodes up to limit messages of conv stored in [lower, upper).
// A message that does not decode is skipped and quarantined.
func (s *Store) readMessages(conv engine.ID, lower, upper []byte, limit int) ([]engine.Message, error) {
	out, bad, err := s.scanMessages(lower, upper, limit)
	s.quarantine(bad)
	if err != nil {
		return nil, fmt.Errorf("reading messages of %s: %w", conv, err)
	}
	return out, nil
}

func (s *Store) scanMessages(lower, upper []byte, limit int) ([]engine.Message, []corruptRecord, error) {
	it, err := s.iter(lower, upper)
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var out []engine.Message
	var bad []corruptRecord
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		var m engine.Message
		if err := decode(it.Value(), &m); err != nil {
			bad = append(bad, skipped(corruptMessage, it.Key(), it.Value(), err))
			continue
		}
		out = append(out, m)
	}
	return out, bad, iterErr(it)
}

// ChannelMessageIDs lists the channel message ids of a conversation's
// messages, for deleting their index entries.
// A message that does not decode is skipped (its channel id entry, if
// any, stays) and quarantined.
func (s *Store) ChannelMessageIDs(ws, conv engine.ID) ([]string, error) {
	ids, bad, err := s.channelMessageIDs(ws, conv)
	s.quarantine(bad)
	if err != nil {
		return nil, fmt.Errorf("reading messages of %s: %w", conv, err)
	}
	return ids, nil
}

func (s *Store) channelMessageIDs(ws, conv engine.ID) (ids []string, bad []corruptRecord, err error) {
	p := messagePrefix(ws, conv)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var m engine.Message
		var slim struct {
			ID string `json:"channel_message_id"`
		}
		bin, err := decodePart(it.Value(), &m, fieldMask(mfChannelMessageID), &slim)
		if err != nil {
			bad = append(bad, skipped(corruptMessage, it.Key(), it.Value(), err))
			continue
		}
		if !bin {
			m.ChannelMessageID = slim.ID
		}
		if m.ChannelMessageID != "" {
			ids = append(ids, m.ChannelMessageID)
		}
	}
	return ids, bad, iterErr(it)
}

// MessageRef locates a message by its channel message id.
type MessageRef struct {
	ConversationID engine.ID
	Seq            uint64
}

// LookupChannelMessage finds the message a channel message id names.
func (s *Store) LookupChannelMessage(ws engine.ID, ch engine.Channel, extID string) (MessageRef, bool, error) {
	v, ok, err := s.getRaw(externalKey(ws, ch, extID))
	if err != nil || !ok {
		return MessageRef{}, false, err
	}
	if len(v) != 24 {
		return MessageRef{}, false, fmt.Errorf("%w: message ref of %d bytes", ErrCorrupt, len(v))
	}
	var r MessageRef
	copy(r.ConversationID[:], v)
	r.Seq = binary.BigEndian.Uint64(v[16:])
	return r, true, nil
}

// Thread is the conversation and contact of a channel user on a channel
// account.
type Thread struct {
	ConversationID engine.ID
	ContactID      engine.ID
}

// LookupThread finds the conversation of a channel user (extUser is
// engine.ThreadUser's for an email thread).
func (s *Store) LookupThread(ws engine.ID, account, extUser string) (Thread, bool, error) {
	v, ok, err := s.getRaw(threadKey(ws, account, extUser))
	if err != nil || !ok {
		return Thread{}, false, err
	}
	if len(v) != 32 {
		return Thread{}, false, fmt.Errorf("%w: thread of %d bytes", ErrCorrupt, len(v))
	}
	var t Thread
	copy(t.ConversationID[:], v)
	copy(t.ContactID[:], v[16:])
	return t, true, nil
}

// Contact reads a contact.
func (s *Store) Contact(ws, id engine.ID) (engine.Contact, error) {
	var c engine.Contact
	if err := s.get(contactKey(ws, id), &c); err != nil {
		return engine.Contact{}, fmt.Errorf("reading contact %s: %w", id, err)
	}
	return c, nil
}

// ContactByIdentity finds the contact a channel knows by extID.
func (s *Store) ContactByIdentity(ws engine.ID, ch engine.Channel, extID string) (engine.ID, bool, error) {
	v, ok, err := s.getRaw(identityKey(ws, ch, extID))
	if err != nil || !ok {
		return engine.ZeroID, false, err
	}
	if len(v) != 16 {
		return engine.ZeroID, false, fmt.Errorf("%w: identity of %d bytes", ErrCorrupt, len(v))
	}
	var id engine.ID
	copy(id[:], v)
	return id, true, nil
}

// OrphanStatuses returns the kept status reports of a channel message id,
// oldest first.
func (s *Store) OrphanStatuses(ws engine.ID, ch engine.Channel, extID string) ([]engine.StatusReport, error) {
	p := orphanPrefix(ws, ch, extID)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.StatusReport
	for ok := it.First(); ok; ok = it.Next() {
		var r engine.StatusReport
		if err := decode(it.Value(), &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, iterErr(it)
}

// ListQuery selects conversations of one folder, newest activity first.
// Empty filter fields do not filter.
type ListQuery struct {
	Folder   engine.Folder
	Channel  engine.Channel
	Unread   bool
	Tag      string
	Assignee string // a user id
	// Unassigned selects conversations with no assignee.
	Unassigned bool
	Mode       engine.Mode
	// Campaign keeps the conversations whose newest campaign has this key
	// (engine.Campaign.Key: an ad id or a ref).
	Campaign string
	// Assistant keeps the conversations the assistant of this id handles
	// (engine.Conversation.AssistantID).
	Assistant string
	// Teams keeps the conversations assigned to one of these teams
	// (engine.Conversation.TeamID). One team walks its index dimension;
	// several ("my teams") are checked on the headers of the other
	// dimensions' entries, as NeedsHuman is. A non-nil empty list keeps
	// nothing (a user in no team asking for their teams').
	Teams []string
	// NeedsHuman keeps the conversations a handoff left waiting for a
	// person. It has no index dimension of its own: the headers of the
	// other dimensions' entries are checked.
	NeedsHuman bool
	// Since drops conversations whose last activity is before it.
	Since time.Time
	// Contact keeps the conversations whose contact stands in
	// Contact.Stage and/or is owned by Contact.Owner. The conversation
	// index keeps no copy of a contact's stage or owner (the contact
	// actor owns them, docs/ARCHITECTURE.md): each candidate's contact is
	// looked up in the contacts' stage and owner index ('w' ws 'C'), one
	// point read in the list's snapshot, as NeedsHuman checks headers.
	Contact ContactFilter
	// Segment keeps the conversations whose contact is a member of this
	// segment (zero: any), checked like Contact: one point read of the
	// segment's member entry ('w' ws '5' 'm') per candidate.
	Segment engine.ID
	Cursor  string
	Limit   int // 1 to 500; zero means 50
}

// ListPage is one page of a list query; NextCursor is empty on the last
// page.
type ListPage struct {
	Conversations []engine.Conversation
	NextCursor    string
}

func (q *ListQuery) match(c *engine.Conversation) bool {
	return (q.Channel == "" || c.Channel == q.Channel) &&
		(!q.Unread || c.UnreadCount > 0) &&
		(q.Tag == "" || c.HasTag(q.Tag)) &&
		(q.Assignee == "" || c.AssigneeID == q.Assignee) &&
		(!q.Unassigned || c.AssigneeID == "") &&
		(q.Mode == "" || c.Mode == q.Mode) &&
		(q.Campaign == "" || c.Campaign.Key() == q.Campaign) &&
		(q.Assistant == "" || c.Assistant() == q.Assistant) &&
		(!q.NeedsHuman || c.NeedsHuman) &&
		(q.Teams == nil || slices.Contains(q.Teams, c.TeamID))
}

// List returns one page of conversations matching q: the intersection
// of the list index dimensions of its filters (see listMerge), read from
// one snapshot, and the headers of the page. A header that does not
// decode is skipped and quarantined.
func (s *Store) List(ws engine.ID, q ListQuery) (ListPage, error) {
	page, bad, err := s.list(ws, q)
	s.quarantine(bad)
	return page, err
}

func (s *Store) list(ws engine.ID, q ListQuery) (page ListPage, bad []corruptRecord, err error) {
	if !q.Folder.Valid() {
		return ListPage{}, nil, fmt.Errorf("%w: unknown folder %q", engine.ErrInvalid, q.Folder)
	}
	switch {
	case q.Limit <= 0:
		q.Limit = 50
	case q.Limit > 500:
		q.Limit = 500
	}
	var after []byte
	if q.Cursor != "" {
		c, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(c) != listSuffixLen {
			return ListPage{}, nil, ErrBadCursor
		}
		after = c
	}
	dims := q.dims()
	counts, err := s.dimCounts(ws, &q, dims)
	if err != nil {
		return ListPage{}, bad, err
	}
	// The index and the headers are read from one snapshot, so a
	// conversation that moves or goes during the scan is seen as it was.
	if err := s.enter(); err != nil {
		return ListPage{}, bad, err
	}
	defer s.leave()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	m, err := openListMerge(snap, ws, &q, dims, counts, after)
	if err != nil {
		return ListPage{}, bad, err
	}
	defer m.close()
	var last []byte
	for suffix, err := m.next(true); suffix != nil || err != nil; suffix, err = m.next(false) {
		if err != nil {
			return ListPage{}, bad, err
		}
		if len(page.Conversations) == q.Limit {
			page.NextCursor = base64.RawURLEncoding.EncodeToString(last)
			break
		}
		var id engine.ID
		copy(id[:], suffix[listSuffixLen-16:])
		var c engine.Conversation
		val, closer, err := snap.Get(conversationKey(ws, id))
		if err != nil {
			return ListPage{}, bad, fmt.Errorf("reading conversation %s: %w", id, err)
		}
		if err := decode(val, &c); err != nil {
			bad = append(bad, skipped(corruptConversation, conversationKey(ws, id), val, err))
			closer.Close()
			continue
		}
		closer.Close()
		if !q.match(&c) {
			continue // the index and the header disagree: trust the header
		}
		if q.Contact != (ContactFilter{}) {
			in, err := contactIndexed(snap, ws, q.Contact, c.ContactID)
			if err != nil {
				return ListPage{}, bad, err
			}
			if !in {
				continue
			}
		}
		if q.Segment != engine.ZeroID {
			in, err := contactInSegment(snap, ws, q.Segment, c.ContactID)
			if err != nil {
				return ListPage{}, bad, err
			}
			if !in {
				continue
			}
		}
		page.Conversations = append(page.Conversations, c)
		last = append(last[:0], suffix...)
	}
	return page, bad, nil
}

// Timer is a durable timer: at Due, tell conversation ConversationID.
type Timer struct {
	Due            time.Time
	Kind           TimerKind
	WorkspaceID    engine.ID
	ConversationID engine.ID
}

var (
	timerPrefix  = []byte{spaceSystem, tTimer}
	outboxPrefix = []byte{spaceSystem, tOutbox}
)

// DueTimers returns up to limit timers due at or before now, earliest
// first, and the due time of the next timer after them (zero if none).
func (s *Store) DueTimers(now time.Time, limit int) ([]Timer, time.Time, error) {
	it, err := s.iter(timerPrefix, prefixEnd(timerPrefix))
	if err != nil {
		return nil, time.Time{}, err
	}
	defer it.Close()
	var out []Timer
	for ok := it.First(); ok; ok = it.Next() {
		t, err := parseTimerKey(it.Key())
		if err != nil {
			return nil, time.Time{}, err
		}
		if t.Due.After(now) || len(out) == limit {
			return out, t.Due, iterErr(it)
		}
		out = append(out, t)
	}
	return out, time.Time{}, iterErr(it)
}

func parseTimerKey(k []byte) (Timer, error) {
	if len(k) != 2+8+1+32 {
		return Timer{}, fmt.Errorf("%w: timer key of %d bytes", ErrCorrupt, len(k))
	}
	t := Timer{Due: time.Unix(0, int64(binary.BigEndian.Uint64(k[2:10]))), Kind: TimerKind(k[10])} //nolint:gosec // written from UnixNano
	copy(t.WorkspaceID[:], k[11:27])
	copy(t.ConversationID[:], k[27:43])
	return t, nil
}

// TimersOfKind returns the timers of kind due until until, earliest
// first. It reads every timer due until then (timers are ordered by due
// time): a startup scan, not a hot path.
func (s *Store) TimersOfKind(kind TimerKind, until time.Time) ([]Timer, error) {
	it, err := s.iter(timerPrefix, prefixEnd(timerPrefix))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Timer
	for ok := it.First(); ok; ok = it.Next() {
		t, err := parseTimerKey(it.Key())
		if err != nil {
			return nil, err
		}
		if t.Due.After(until) {
			break
		}
		if t.Kind == kind {
			out = append(out, t)
		}
	}
	return out, iterErr(it)
}

// OutboxEntry names an outbound message waiting to be sent.
type OutboxEntry struct {
	WorkspaceID    engine.ID
	ConversationID engine.ID
	Seq            uint64
	// Attempts is how many sends were tried and failed (temporarily)
	// before the entry was read.
	Attempts int
}

// Outbox returns every outbox entry.
func (s *Store) Outbox() ([]OutboxEntry, error) {
	it, err := s.iter(outboxPrefix, prefixEnd(outboxPrefix))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []OutboxEntry
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 2+32+8 {
			return nil, fmt.Errorf("%w: outbox key of %d bytes", ErrCorrupt, len(k))
		}
		var e OutboxEntry
		copy(e.WorkspaceID[:], k[2:18])
		copy(e.ConversationID[:], k[18:34])
		e.Seq = binary.BigEndian.Uint64(k[34:])
		if v := it.Value(); len(v) > 0 {
			var r outboxRecord
			if err := decode(v, &r); err != nil {
				// The entry still says the message must go: a lost
				// count only gives it a fresh budget.
				s.log.Warn("Outbox entry with an unreadable attempt count", "conversation", e.ConversationID, "seq", e.Seq, "err", err)
			}
			e.Attempts = max(r.Attempts, 0)
		}
		out = append(out, e)
	}
	return out, iterErr(it)
}

// CountConversations counts the conversation headers of a workspace; for
// tests and tools, it scans.
func (s *Store) CountConversations(ws engine.ID) (int, error) {
	return s.countKeys(wsPrefix(ws, tConversation))
}

// countKeys counts the keys with prefix p.
func (s *Store) countKeys(p []byte) (int, error) { return s.countKeysUpTo(p, math.MaxInt) }

// countKeysUpTo counts the keys with prefix p, up to limit.
func (s *Store) countKeysUpTo(p []byte, limit int) (int, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		n++
	}
	return n, iterErr(it)
}

// iterator is a Pebble iterator admitted past Close's gate; Close it.
type iterator struct {
	*pebble.Iterator
	s *Store
}

// Close closes the iterator and lets Close proceed.
func (it iterator) Close() error {
	err := it.Iterator.Close()
	it.s.leave()
	return err
}

func (s *Store) iter(lower, upper []byte) (iterator, error) {
	if err := s.enter(); err != nil {
		return iterator{}, err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		s.leave()
		return iterator{}, fmt.Errorf("persistence: iterator: %w", err)
	}
	return iterator{it, s}, nil
}

func iterErr(it iterator) error {
	if err := it.Error(); err != nil {
		return fmt.Errorf("persistence: iterating: %w", err)
	}
	return nil
}
