package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// Segments and their members. Keys, under the workspace prefix:
//
//	'w' ws '5' 'd' segment                   segment definition (engine.Segment)
//	'w' ws '5' 'm' segment contact           contact is a member of segment
//	'w' ws '5' 'c' contact segment           the same, by contact (its memberships)
//	'w' ws '5' 'n' segment                   member count (merge counter, int64)
//	'w' ws '5' 'r' contact                   → due: when the contact's time conditions change next
//	'w' ws '5' 't' due contact               the same, by time (what the sweep reads)
//	'w' ws '5' 'a' contact change            contact entered or left a segment (activity)
//	'w' ws '5' 'p' segment                   the backfill's progress (SegmentBackfill)
//
// The membership, count and due entries of a contact are written by its
// actor in the batch of the contact's change (docs/ARCHITECTURE.md,
// "Segments"); contact ids are ULIDs, so the members prefix read
// backwards lists the newest contacts first. A store written before
// segments existed has none of these keys: they need no migration.
const (
	tSegment = '5'

	sgDef     = 'd'
	sgMember  = 'm'
	sgOf      = 'c'
	sgCount   = 'n'
	sgDue     = 'r'
	sgByDue   = 't'
	sgChange  = 'a'
	sgProgess = 'p'
)

func segPrefix(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tSegment), sub) }

func segmentKey(ws, id engine.ID) []byte { return append(segPrefix(ws, sgDef), id[:]...) }

func segmentMembersPrefix(ws, seg engine.ID) []byte {
	return append(segPrefix(ws, sgMember), seg[:]...)
}

func contactSegmentsPrefix(ws, contact engine.ID) []byte {
	return append(segPrefix(ws, sgOf), contact[:]...)
}

func segmentCountKey(ws, seg engine.ID) []byte { return append(segPrefix(ws, sgCount), seg[:]...) }

func segmentDueKey(ws, contact engine.ID) []byte { return append(segPrefix(ws, sgDue), contact[:]...) }

func segmentByDueKey(ws engine.ID, due time.Time, contact engine.ID) []byte {
	return append(appendTime(segPrefix(ws, sgByDue), due), contact[:]...)
}

func segmentChangePrefix(ws, contact engine.ID) []byte {
	return append(segPrefix(ws, sgChange), contact[:]...)
}

func segmentBackfillKey(ws, seg engine.ID) []byte { return append(segPrefix(ws, sgProgess), seg[:]...) }

// SegmentBackfill is the progress of the backfill that computes a
// segment's members among existing contacts: for Version of the segment,
// every contact of id up to Cursor is done (Done of about Total);
// FinishedAt is set once all are.
type SegmentBackfill struct {
	SegmentID  engine.ID `json:"segment_id"`
	Version    uint64    `json:"version"`
	Cursor     engine.ID `json:"cursor"`
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// PutSegment writes segment s (new or changed).
func (b *Batch) PutSegment(s *engine.Segment) { b.set(segmentKey(s.WorkspaceID, s.ID), s) }

// DeleteSegment removes segment id of ws with its members, count and
// backfill progress. The contacts' own entries of it ('c') are removed
// by their actors when they next evaluate (an entry of a segment that is
// gone is dropped then); nothing reads them meanwhile but the actors.
func (b *Batch) DeleteSegment(ws, id engine.ID) {
	b.del(segmentKey(ws, id))
	b.delPrefix(segmentMembersPrefix(ws, id))
	b.del(segmentCountKey(ws, id))
	b.del(segmentBackfillKey(ws, id))
}

// SetSegmentMember adds contact to segment seg (in) or removes it, with
// the count; the caller knows the entry's current state (ContactSegments).
func (b *Batch) SetSegmentMember(ws, seg, contact engine.ID, in bool) {
	delta := int64(1)
	if in {
		b.setRaw(append(segmentMembersPrefix(ws, seg), contact[:]...), nil)
		b.setRaw(append(contactSegmentsPrefix(ws, contact), seg[:]...), nil)
	} else {
		b.del(append(segmentMembersPrefix(ws, seg), contact[:]...))
		b.del(append(contactSegmentsPrefix(ws, contact), seg[:]...))
		delta = -1
	}
	if b.err == nil {
		b.err = b.b.Merge(segmentCountKey(ws, seg), binary.BigEndian.AppendUint64(nil, uint64(delta)), nil) //nolint:gosec // two's complement round trip
	}
}

// DropContactSegment removes contact's own entry of a segment that no
// longer exists (no member entry or count is left to change).
func (b *Batch) DropContactSegment(ws, contact, seg engine.ID) {
	b.del(append(contactSegmentsPrefix(ws, contact), seg[:]...))
}

// SetSegmentDue moves contact's next evaluation time from old to due
// (either zero: none).
func (b *Batch) SetSegmentDue(ws, contact engine.ID, old, due time.Time) {
	if old.Equal(due) {
		return
	}
	if !old.IsZero() {
		b.del(segmentByDueKey(ws, old, contact))
	}
	if due.IsZero() {
		b.del(segmentDueKey(ws, contact))
		return
	}
	b.setRaw(segmentDueKey(ws, contact), appendTime(nil, due))
	b.setRaw(segmentByDueKey(ws, due, contact), nil)
}

// PutSegmentChange writes an entry of a contact's segment activity.
func (b *Batch) PutSegmentChange(ch *engine.SegmentChange) {
	b.set(append(segmentChangePrefix(ch.WorkspaceID, ch.ContactID), ch.ID[:]...), ch)
}

// PutSegmentBackfill writes a backfill's progress.
func (b *Batch) PutSegmentBackfill(ws engine.ID, p *SegmentBackfill) {
	b.set(segmentBackfillKey(ws, p.SegmentID), p)
}

// Segments returns every segment of a workspace, oldest first.
func (s *Store) Segments(ws engine.ID) ([]engine.Segment, error) {
	return readAll[engine.Segment](s, segPrefix(ws, sgDef), "segments")
}

// Segment reads segment id of ws; ErrNotFound if there is none.
func (s *Store) Segment(ws, id engine.ID) (engine.Segment, error) {
	var sg engine.Segment
	err := s.get(segmentKey(ws, id), &sg)
	return sg, err
}

// ContactSegments returns the segments contact is a member of, as its
// entries say.
func (s *Store) ContactSegments(ws, contact engine.ID) ([]engine.ID, error) {
	return s.idsUnder(contactSegmentsPrefix(ws, contact), engine.MaxSegments*4, "contact segment")
}

// SegmentDue returns when contact's time conditions change next (zero:
// none is set).
func (s *Store) SegmentDue(ws, contact engine.ID) (time.Time, error) {
	v, ok, err := s.getRaw(segmentDueKey(ws, contact))
	if err != nil || !ok {
		return time.Time{}, err
	}
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("%w: segment due of %d bytes", ErrCorrupt, len(v))
	}
	return timeOf(v), nil
}

// DueSegmentContacts returns up to limit contacts of ws whose time
// conditions change at or before now, soonest first.
func (s *Store) DueSegmentContacts(ws engine.ID, now time.Time, limit int) ([]engine.ID, error) {
	p := segPrefix(ws, sgByDue)
	it, err := s.iter(p, appendTime(p[:len(p):len(p)], now.Add(time.Nanosecond)))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.ID
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) != len(p)+8+16 {
			return nil, fmt.Errorf("%w: segment due entry of %d bytes", ErrCorrupt, len(k))
		}
		var id engine.ID
		copy(id[:], k[len(p)+8:])
		out = append(out, id)
	}
	return out, iterErr(it)
}

// SegmentCount returns how many contacts are members of seg.
func (s *Store) SegmentCount(ws, seg engine.ID) (int64, error) {
	v, ok, err := s.getRaw(segmentCountKey(ws, seg))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: segment count of %d bytes", ErrCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil //nolint:gosec // see SetSegmentMember
}

// SegmentMembers returns a page of the members of seg, newest contacts
// first, after cursor: one read of the index and one per contact of the
// page.
func (s *Store) SegmentMembers(ws, seg engine.ID, cursor string, limit int) (ContactPage, error) {
	before, err := parseContactCursor(cursor)
	if err != nil {
		return ContactPage{}, err
	}
	limit = clampContactLimit(limit)
	return s.contactIndexPage(ws, segmentMembersPrefix(ws, seg), before, limit, "segment "+seg.String())
}

// SegmentChanges returns a contact's segment entries and exits, oldest
// first.
func (s *Store) SegmentChanges(ws, contact engine.ID) ([]engine.SegmentChange, error) {
	return readAll[engine.SegmentChange](s, segmentChangePrefix(ws, contact), "segment changes")
}

// SegmentBackfillProgress reads a segment's backfill progress;
// ErrNotFound when none was written.
func (s *Store) SegmentBackfillProgress(ws, seg engine.ID) (SegmentBackfill, error) {
	var p SegmentBackfill
	err := s.get(segmentBackfillKey(ws, seg), &p)
	return p, err
}

// ContactIDsAfter returns up to limit ids of contacts of ws greater than
// after (zero: from the first), oldest first: the backfill's walk.
func (s *Store) ContactIDsAfter(ws, after engine.ID, limit int) ([]engine.ID, error) {
	return s.recordIDsAfter(wsPrefix(ws, tContact), after, limit)
}

// recordIDsAfter returns up to limit ids of the records keyed p id
// greater than after (zero: from the first), in id order; keys of
// another length under p are stepped over.
func (s *Store) recordIDsAfter(p []byte, after engine.ID, limit int) ([]engine.ID, error) {
	lower := p
	if after != engine.ZeroID {
		lower = append(append(p[:len(p):len(p)], after[:]...), 0)
	}
	it, err := s.iter(lower, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.ID
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) != len(p)+16 {
			continue // not a record of this table
		}
		var id engine.ID
		copy(id[:], k[len(p):])
		out = append(out, id)
	}
	return out, iterErr(it)
}

// CountContacts counts the contacts of ws, stopping at max.
func (s *Store) CountContacts(ws engine.ID, max int) (int, error) {
	return s.countPrefix(wsPrefix(ws, tContact), max)
}

// contactInSegment reports whether contact is a member of seg, by its
// entry, read from r.
func contactInSegment(r pebble.Reader, ws, seg, contact engine.ID) (bool, error) {
	_, closer, err := r.Get(append(segmentMembersPrefix(ws, seg), contact[:]...))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the segment index: %w", err)
	}
	closer.Close()
	return true, nil
}
