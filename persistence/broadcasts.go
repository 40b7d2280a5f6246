package persistence

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Broadcasts (engine/broadcast.go). Keys, under the workspace prefix:
//
//	'w' ws '^' 'b' ^created id               broadcast (engine.Broadcast), newest first
//	'w' ws '^' 'i' id                        → created: where the broadcast's record is
//	'w' ws '^' 'r' broadcast contact         recipient (engine.BroadcastRecipient)
//	'w' ws '^' 'c' contact broadcast         the contact received the broadcast (its list)
//	'w' ws '^' 'k' broadcast contact         → conv seq: the recipient's message exists
//	'w' ws '^' 'l' conv                      → broadcast contact sent-at: the newest broadcast sent in conv
//
// and in the system space:
//
//	's' '#' ws broadcast                     the broadcast is active (scheduled, sending or paused)
//
// The broadcast, its recipients and the contact entries are written by
// the broadcast's owner (actors/broadcasts.go); 'k' and 'l' are written
// by the conversation's actor in the batch of the message they name, so
// that a send made again after a crash finds the message it made before
// (the idempotency key is the pair broadcast, contact). A store written
// before broadcasts existed has none of these keys: no migration.
const (
	tBroadcast       = '^'
	tBroadcastActive = '#'

	bcRecord     = 'b'
	bcWhere      = 'i'
	bcRecipient  = 'r'
	bcOfContact  = 'c'
	bcMessage    = 'k'
	bcLastInConv = 'l'
)

func bcPrefix(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tBroadcast), sub) }

func broadcastKey(ws engine.ID, created time.Time, id engine.ID) []byte {
	return append(appendTimeDesc(bcPrefix(ws, bcRecord), created), id[:]...)
}

func broadcastWhereKey(ws, id engine.ID) []byte { return append(bcPrefix(ws, bcWhere), id[:]...) }

func recipientsPrefix(ws, bc engine.ID) []byte { return append(bcPrefix(ws, bcRecipient), bc[:]...) }

func recipientKey(ws, bc, contact engine.ID) []byte {
	return append(recipientsPrefix(ws, bc), contact[:]...)
}

func contactBroadcastsPrefix(ws, contact engine.ID) []byte {
	return append(bcPrefix(ws, bcOfContact), contact[:]...)
}

func broadcastMessageKey(ws, bc, contact engine.ID) []byte {
	return append(append(bcPrefix(ws, bcMessage), bc[:]...), contact[:]...)
}

func lastBroadcastKey(ws, conv engine.ID) []byte {
	return append(bcPrefix(ws, bcLastInConv), conv[:]...)
}

func activeBroadcastKey(ws, bc engine.ID) []byte {
	b := make([]byte, 0, 2+32)
	b = append(b, spaceSystem, tBroadcastActive)
	b = append(b, ws[:]...)
	return append(b, bc[:]...)
}

// PutBroadcast writes broadcast b (new or changed) and its entry in the
// active index.
func (b *Batch) PutBroadcast(bc *engine.Broadcast) {
	b.set(broadcastKey(bc.WorkspaceID, bc.CreatedAt, bc.ID), bc)
	b.setRaw(broadcastWhereKey(bc.WorkspaceID, bc.ID), appendTime(nil, bc.CreatedAt))
	if bc.Active() {
		b.setRaw(activeBroadcastKey(bc.WorkspaceID, bc.ID), nil)
	} else {
		b.del(activeBroadcastKey(bc.WorkspaceID, bc.ID))
	}
}

// PutBroadcastRecipient writes a recipient and the contact's entry of
// the broadcast.
func (b *Batch) PutBroadcastRecipient(ws engine.ID, r *engine.BroadcastRecipient) {
	b.set(recipientKey(ws, r.BroadcastID, r.ContactID), r)
	b.setRaw(append(contactBroadcastsPrefix(ws, r.ContactID), r.BroadcastID[:]...), nil)
}

// BroadcastMessageRef names the message a broadcast sent a contact.
type BroadcastMessageRef struct {
	ConversationID engine.ID
	Seq            uint64
}

// PutBroadcastMessage records, in the batch of the message, that the
// broadcast's message to contact is conv's seq, and that it is the
// newest broadcast sent in conv.
func (b *Batch) PutBroadcastMessage(ws, bc, contact, conv engine.ID, seq uint64, at time.Time) {
	b.setRaw(broadcastMessageKey(ws, bc, contact), binary.BigEndian.AppendUint64(append([]byte(nil), conv[:]...), seq))
	v := append(append([]byte(nil), bc[:]...), contact[:]...)
	b.setRaw(lastBroadcastKey(ws, conv), appendTime(v, at))
}

// Broadcast reads broadcast id of ws; ErrNotFound if there is none.
func (s *Store) Broadcast(ws, id engine.ID) (engine.Broadcast, error) {
	v, ok, err := s.getRaw(broadcastWhereKey(ws, id))
	if err != nil {
		return engine.Broadcast{}, err
	}
	if !ok || len(v) != 8 {
		return engine.Broadcast{}, fmt.Errorf("reading broadcast %s: %w", id, ErrNotFound)
	}
	var bc engine.Broadcast
	if err := s.get(broadcastKey(ws, timeOf(v), id), &bc); err != nil {
		return engine.Broadcast{}, fmt.Errorf("reading broadcast %s: %w", id, err)
	}
	return bc, nil
}

// Broadcasts returns a page of ws's broadcasts, newest first, after
// cursor (the last id of the previous page; "" for the first), and the
// next page's cursor ("" at the end).
func (s *Store) Broadcasts(ws engine.ID, cursor string, limit int) ([]engine.Broadcast, string, error) {
	p := bcPrefix(ws, bcRecord)
	lower := p
	if cursor != "" {
		id, err := engine.ParseID(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrBadCursor)
		}
		v, ok, err := s.getRaw(broadcastWhereKey(ws, id))
		if err != nil {
			return nil, "", err
		}
		if !ok || len(v) != 8 {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrBadCursor)
		}
		lower = append(broadcastKey(ws, timeOf(v), id), 0)
	}
	it, err := s.iter(lower, prefixEnd(p))
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	var out []engine.Broadcast
	next := ""
	for ok := it.First(); ok; ok = it.Next() {
		if len(out) == limit {
			next = out[len(out)-1].ID.String()
			break
		}
		var bc engine.Broadcast
		if err := decode(it.Value(), &bc); err != nil {
			return nil, "", fmt.Errorf("reading broadcasts: %w", err)
		}
		out = append(out, bc)
	}
	return out, next, iterErr(it)
}

// ActiveBroadcasts returns the (workspace, broadcast) pairs of every
// broadcast that is scheduled, sending or paused.
func (s *Store) ActiveBroadcasts() ([][2]engine.ID, error) {
	p := []byte{spaceSystem, tBroadcastActive}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out [][2]engine.ID
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 2+32 {
			return nil, fmt.Errorf("%w: active broadcast entry of %d bytes", ErrCorrupt, len(k))
		}
		var pair [2]engine.ID
		copy(pair[0][:], k[2:18])
		copy(pair[1][:], k[18:])
		out = append(out, pair)
	}
	return out, iterErr(it)
}

// BroadcastRecipient reads one recipient; ErrNotFound if there is none.
func (s *Store) BroadcastRecipient(ws, bc, contact engine.ID) (engine.BroadcastRecipient, error) {
	var r engine.BroadcastRecipient
	err := s.get(recipientKey(ws, bc, contact), &r)
	return r, err
}

// EachBroadcastRecipient calls f with bc's recipients in contact order
// after contact after (ZeroID: from the first) until f returns false.
func (s *Store) EachBroadcastRecipient(ws, bc, after engine.ID, f func(*engine.BroadcastRecipient) bool) error {
	p := recipientsPrefix(ws, bc)
	lower := p
	if after != engine.ZeroID {
		lower = append(append(p[:len(p):len(p)], after[:]...), 0)
	}
	it, err := s.iter(lower, prefixEnd(p))
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var r engine.BroadcastRecipient
		if err := decode(it.Value(), &r); err != nil {
			return fmt.Errorf("reading broadcast recipients: %w", err)
		}
		if !f(&r) {
			break
		}
	}
	return iterErr(it)
}

// BroadcastMessage returns the message the broadcast sent contact, if
// one was made.
func (s *Store) BroadcastMessage(ws, bc, contact engine.ID) (BroadcastMessageRef, bool, error) {
	v, ok, err := s.getRaw(broadcastMessageKey(ws, bc, contact))
	if err != nil || !ok {
		return BroadcastMessageRef{}, false, err
	}
	if len(v) != 24 {
		return BroadcastMessageRef{}, false, fmt.Errorf("%w: broadcast message entry of %d bytes", ErrCorrupt, len(v))
	}
	var r BroadcastMessageRef
	copy(r.ConversationID[:], v[:16])
	r.Seq = binary.BigEndian.Uint64(v[16:])
	return r, true, nil
}

// LastBroadcast returns the newest broadcast sent in conv, to whom and
// when; ok false when none was.
func (s *Store) LastBroadcast(ws, conv engine.ID) (bc, contact engine.ID, at time.Time, ok bool, err error) {
	v, found, err := s.getRaw(lastBroadcastKey(ws, conv))
	if err != nil || !found {
		return engine.ZeroID, engine.ZeroID, time.Time{}, false, err
	}
	if len(v) != 40 {
		return engine.ZeroID, engine.ZeroID, time.Time{}, false, fmt.Errorf("%w: last broadcast entry of %d bytes", ErrCorrupt, len(v))
	}
	copy(bc[:], v[:16])
	copy(contact[:], v[16:32])
	return bc, contact, timeOf(v[32:]), true, nil
}

// ContactBroadcasts returns the ids of the broadcasts contact received
// (or was queued for), oldest first, at most limit.
func (s *Store) ContactBroadcasts(ws, contact engine.ID, limit int) ([]engine.ID, error) {
	return s.idsUnder(contactBroadcastsPrefix(ws, contact), limit, "contact broadcasts")
}
