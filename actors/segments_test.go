package actors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// A backfill that a stopped process left half done resumes at the next
// start from its committed cursor: the contacts after it are evaluated
// (and become members), those before it are not evaluated again, and
// the progress ends finished with every contact counted.
func TestSegmentBackfillResumesFromItsCursor(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	now := h.clock.Now()
	b := h.store.NewBatch()
	b.PutWorkspace(&engine.Workspace{ID: h.ws, Name: "resume"})
	require.NoError(t, h.store.Commit(b))
	var ids []engine.ID
	for i := range 6 {
		c, err := engine.NewContact(engine.NewID(now.Add(time.Duration(i)*time.Millisecond)), h.ws, engine.SourceManual,
			engine.ContactPatch{Name: ptr(fmt.Sprintf("Resumer %d", i)), Company: ptr("Acme")}, now)
		require.NoError(t, err)
		_, err = h.rt.CreateContact(ctx, c)
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	h.stop()

	// As a process stopped after the backfill's first page of three.
	s, err := persistence.Open(persistence.Options{Dir: h.dir})
	require.NoError(t, err)
	seg := engine.Segment{ID: engine.NewID(now), WorkspaceID: h.ws, Name: "Acme", Match: engine.MatchAll, Version: 1,
		Conditions: []engine.SegmentCondition{{Kind: engine.SegProfile, Key: "company", Op: engine.OpIs, Value: "acme"}}}
	b = s.NewBatch()
	b.PutSegment(&seg)
	b.PutSegmentBackfill(h.ws, &persistence.SegmentBackfill{SegmentID: seg.ID, Version: 1, Cursor: ids[2], Done: 3, Total: 6, StartedAt: now})
	require.NoError(t, s.Commit(b))
	require.NoError(t, s.Close())

	h.start()
	eventually(t, 5*time.Second, func() error {
		p, err := h.rt.SegmentBackfill(h.ws, seg.ID)
		if err != nil || p.FinishedAt.IsZero() {
			return fmt.Errorf("not finished: %+v %v", p, err)
		}
		require.EqualValues(t, 6, p.Done)
		return nil
	})
	page, err := h.store.SegmentMembers(h.ws, seg.ID, "", 10)
	require.NoError(t, err)
	var got []engine.ID
	for _, c := range page.Contacts {
		got = append(got, c.ID)
	}
	require.Equal(t, []engine.ID{ids[5], ids[4], ids[3]}, got, "only the contacts after the cursor were evaluated")
	// A change of a contact before the cursor evaluates it as any change does.
	_, err = h.rt.UpdateContact(ctx, h.ws, ids[0], engine.ContactPatch{Title: ptr("CEO")})
	require.NoError(t, err)
	n, err := h.store.SegmentCount(h.ws, seg.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}
