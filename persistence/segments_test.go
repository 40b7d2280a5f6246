package persistence

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// The segment index: members listed newest first a page at a time, the
// count kept by the same batches, a contact's memberships by contact,
// due entries moved and read up to a time, and a deleted segment's
// members and count gone.
func TestSegmentIndex(t *testing.T) {
	s := openStore(t)
	ws, seg := idOf('w', 1), idOf('s', 1)
	var cs []engine.Contact
	for i := 1; i <= 5; i++ {
		cs = append(cs, engine.Contact{ID: idOf('p', i), WorkspaceID: ws, Source: engine.SourceManual, CreatedAt: t0})
	}
	commit(t, s, func(b *Batch) {
		b.PutSegment(&engine.Segment{ID: seg, WorkspaceID: ws, Name: "x", Match: engine.MatchAll})
		for i := range cs {
			b.PutContact(nil, &cs[i])
			if i != 2 {
				b.SetSegmentMember(ws, seg, cs[i].ID, true)
			}
		}
	})
	n, err := s.SegmentCount(ws, seg)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
	page, err := s.SegmentMembers(ws, seg, "", 3)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{cs[4].ID, cs[3].ID, cs[1].ID}, contactIDsOf(page.Contacts))
	page, err = s.SegmentMembers(ws, seg, page.NextCursor, 3)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{cs[0].ID}, contactIDsOf(page.Contacts))
	require.Empty(t, page.NextCursor)

	commit(t, s, func(b *Batch) { b.SetSegmentMember(ws, seg, cs[1].ID, false) })
	n, err = s.SegmentCount(ws, seg)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	of, err := s.ContactSegments(ws, cs[1].ID)
	require.NoError(t, err)
	require.Empty(t, of)
	of, err = s.ContactSegments(ws, cs[0].ID)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{seg}, of)

	day := 24 * time.Hour
	commit(t, s, func(b *Batch) {
		b.SetSegmentDue(ws, cs[0].ID, time.Time{}, t0.Add(3*day))
		b.SetSegmentDue(ws, cs[1].ID, time.Time{}, t0.Add(day))
	})
	commit(t, s, func(b *Batch) { b.SetSegmentDue(ws, cs[0].ID, t0.Add(3*day), t0.Add(2*day)) })
	due, err := s.DueSegmentContacts(ws, t0.Add(2*day), 10)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{cs[1].ID, cs[0].ID}, due, "soonest first, the moved entry at its new time")
	due, err = s.DueSegmentContacts(ws, t0.Add(day-time.Nanosecond), 10)
	require.NoError(t, err)
	require.Empty(t, due)
	at, err := s.SegmentDue(ws, cs[0].ID)
	require.NoError(t, err)
	require.True(t, at.Equal(t0.Add(2*day)))

	commit(t, s, func(b *Batch) { b.DeleteSegment(ws, seg) })
	n, err = s.SegmentCount(ws, seg)
	require.NoError(t, err)
	require.Zero(t, n)
	page, err = s.SegmentMembers(ws, seg, "", 10)
	require.NoError(t, err)
	require.Empty(t, page.Contacts)
	_, err = s.Segment(ws, seg)
	require.ErrorIs(t, err, ErrNotFound)
	after, err := s.ContactIDsAfter(ws, cs[2].ID, 10)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{cs[3].ID, cs[4].ID}, after)
}

func contactIDsOf(cs []engine.Contact) []engine.ID {
	out := []engine.ID{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
