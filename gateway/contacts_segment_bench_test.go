package gateway

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// BenchmarkContactListBySegment measures the first page of the contact
// list filtered by segment (GET /api/v1/contacts?segment=&limit=50) over
// HTTP on 127.0.0.1, against a workspace of PARLEY_BENCH_CONTACTS
// contacts (1,000,000 by default) written straight into the store with
// their segment entries, as an import's batch writes them: a segment
// holding half the contacts, one holding 2%, and the Pipeline board's
// column (the 2% segment and a stage, which 60% stand in). Each reports
// the requests' p50 and p99 in ms (target: p99 ≤ 10 ms); the store-*
// shapes are the same pages read in process
// (persistence.Store.SegmentMembers, without the list's conversation
// lookups and the HTTP round trip).
//
// go test ./gateway -run '^$' -bench BenchmarkContactListBySegment -benchtime 2000x -timeout 30m
//
// bench/results/segments.md has the figures.
func BenchmarkContactListBySegment(b *testing.B) {
	var half, small engine.Segment
	h := newContactListBench(b, "pk_bench_segment", func(store *persistence.Store, ws engine.ID, now time.Time) {
		half = engine.Segment{ID: engine.NewID(now), WorkspaceID: ws, Name: "Acme", Match: engine.MatchAll, Version: 1,
			Conditions: []engine.SegmentCondition{{Kind: engine.SegProfile, Key: "company", Op: engine.OpIs, Value: "Acme"}}, CreatedAt: now, UpdatedAt: now}
		small = engine.Segment{ID: engine.NewID(now), WorkspaceID: ws, Name: "Gold", Match: engine.MatchAll, Version: 1,
			Conditions: []engine.SegmentCondition{{Kind: engine.SegField, Key: "plan", Op: engine.OpIs, Value: "gold"}}, CreatedAt: now, UpdatedAt: now}
		batch := store.NewBatch()
		for _, sg := range []*engine.Segment{&half, &small} {
			batch.PutSegment(sg)
			batch.PutSegmentBackfill(ws, &persistence.SegmentBackfill{SegmentID: sg.ID, Version: 1, StartedAt: now, FinishedAt: now})
		}
		require.NoError(b, store.Commit(batch))
	})
	stage := h.pipeline.Stages[0]
	h.fill(func(j int, c *engine.Contact, batch *persistence.Batch) {
		c.Profile.Company = "Other"
		if j%2 == 0 {
			c.Profile.Company = "Acme"
		}
		if j%50 == 0 {
			c.CustomFields = map[string]string{"plan": "gold"}
		}
		if j%100 < 60 {
			c.Stage = &engine.ContactStage{PipelineID: h.pipeline.ID, StageID: stage.ID}
		}
		for _, sg := range []engine.Segment{half, small} {
			if engine.SegmentMatches(sg, *c, h.now) {
				batch.SetSegmentMember(h.ws, sg.ID, c.ID, true)
			}
		}
	})
	count, err := h.store.SegmentCount(h.ws, small.ID)
	require.NoError(b, err)
	require.EqualValues(b, h.n/50, count)
	h.inProcess("store-segment-50pct", func() (persistence.ContactPage, error) { return h.store.SegmentMembers(h.ws, half.ID, "", 50) })
	h.inProcess("store-segment-2pct", func() (persistence.ContactPage, error) { return h.store.SegmentMembers(h.ws, small.ID, "", 50) })
	h.overHTTP("segment-50pct", "&segment="+half.ID.String())
	h.overHTTP("segment-2pct", "&segment="+small.ID.String())
	h.overHTTP("segment-2pct-and-stage", "&segment="+small.ID.String()+"&stage="+stage.ID.String())
	h.overHTTP("unfiltered", "")
}
