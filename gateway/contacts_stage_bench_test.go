package gateway

import (
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// BenchmarkContactListByStage measures the first page of the contact
// list filtered by stage (GET /api/v1/contacts?stage=&limit=50) over
// HTTP on 127.0.0.1, against a workspace of PARLEY_BENCH_CONTACTS
// contacts (1,000,000 by default) written straight into the store: 60%
// in New lead, 25% Qualified, 10% Customer, 4% Lost, 1% in none, one in
// three owned by one of three users. Shapes: a big stage, a small one,
// a stage and an owner, and the unfiltered list for comparison. Each
// reports the requests' p50 and p99 in ms (target: p99 ≤ 10 ms); the
// store-* shapes are the same pages read in process
// (persistence.Store.FilteredContacts, without the list's conversation
// lookups and the HTTP round trip).
//
// go test ./gateway -run '^$' -bench BenchmarkContactListByStage -benchtime 2000x -timeout 30m
//
// bench/results/pipeline.md has the figures.
func BenchmarkContactListByStage(b *testing.B) {
	h := newContactListBench(b, "pk_bench_stage_owner", nil)
	stages := h.pipeline.Stages
	owners := []engine.ID{engine.NewID(h.now), engine.NewID(h.now), engine.NewID(h.now)}
	h.fill(func(j int, c *engine.Contact, _ *persistence.Batch) {
		var s int
		switch k := j % 100; {
		case k < 60:
			s = 0
		case k < 85:
			s = 1
		case k < 95:
			s = 2
		case k < 99:
			s = 3
		default:
			s = -1
		}
		if s >= 0 {
			c.Stage = &engine.ContactStage{PipelineID: h.pipeline.ID, StageID: stages[s].ID}
		}
		if j%3 == 0 {
			o := owners[j/3%3]
			c.OwnerID = &o
		}
	})
	for _, shape := range []struct {
		name string
		f    persistence.ContactFilter
	}{
		{"store-stage-60pct", persistence.ContactFilter{Stage: stages[0].ID}},
		{"store-stage-4pct", persistence.ContactFilter{Stage: stages[3].ID}},
		{"store-stage-and-owner", persistence.ContactFilter{Stage: stages[1].ID, Owner: owners[1]}},
	} {
		h.inProcess(shape.name, func() (persistence.ContactPage, error) { return h.store.FilteredContacts(h.ws, shape.f, "", 50) })
	}
	h.overHTTP("stage-60pct", "&stage="+stages[0].ID.String())
	h.overHTTP("stage-4pct", "&stage="+stages[3].ID.String())
	h.overHTTP("stage-and-owner", "&stage="+stages[1].ID.String()+"&owner="+owners[1].String())
	h.overHTTP("unfiltered", "")
}
