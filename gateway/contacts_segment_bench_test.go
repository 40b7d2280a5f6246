package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
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
	n := 1_000_000
	if v := os.Getenv("PARLEY_BENCH_CONTACTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	const token = "pk_bench_segment"
	store, err := persistence.Open(persistence.Options{Dir: b.TempDir()})
	require.NoError(b, err)
	defer store.Close()
	_, err = Bootstrap(store, token, time.Now())
	require.NoError(b, err)
	tok, err := store.TokenBySecret(token)
	require.NoError(b, err)
	ws := tok.WorkspaceID
	now := time.Now().UTC()
	half := engine.Segment{ID: engine.NewID(now), WorkspaceID: ws, Name: "Acme", Match: engine.MatchAll, Version: 1,
		Conditions: []engine.SegmentCondition{{Kind: engine.SegProfile, Key: "company", Op: engine.OpIs, Value: "Acme"}}, CreatedAt: now, UpdatedAt: now}
	small := engine.Segment{ID: engine.NewID(now), WorkspaceID: ws, Name: "Gold", Match: engine.MatchAll, Version: 1,
		Conditions: []engine.SegmentCondition{{Kind: engine.SegField, Key: "plan", Op: engine.OpIs, Value: "gold"}}, CreatedAt: now, UpdatedAt: now}
	segs := []engine.Segment{half, small}
	batch := store.NewBatch()
	for i := range segs {
		batch.PutSegment(&segs[i])
		batch.PutSegmentBackfill(ws, &persistence.SegmentBackfill{SegmentID: segs[i].ID, Version: 1, StartedAt: now, FinishedAt: now})
	}
	require.NoError(b, store.Commit(batch))
	rt, err := actors.New(actors.Config{Store: store})
	require.NoError(b, err)
	require.NoError(b, rt.Start())
	defer func() { require.NoError(b, rt.Shutdown(context.Background())) }()
	ps, err := rt.Pipelines(ws)
	require.NoError(b, err)
	stage := ps[0].Stages[0]

	start := time.Now()
	const perBatch = 10_000
	for i := 0; i < n; i += perBatch {
		batch := store.NewBatch()
		for j := i; j < min(n, i+perBatch); j++ {
			at := now.Add(time.Duration(j-n) * time.Second)
			c := engine.Contact{ID: engine.NewID(at), WorkspaceID: ws, Source: engine.SourceImport, CreatedAt: at, UpdatedAt: at,
				Profile: engine.Profile{Name: fmt.Sprintf("Person %d", j), Email: fmt.Sprintf("p%d@example.com", j), Company: "Other"}}
			if j%2 == 0 {
				c.Profile.Company = "Acme"
			}
			if j%50 == 0 {
				c.CustomFields = map[string]string{"plan": "gold"}
			}
			if j%100 < 60 {
				c.Stage = &engine.ContactStage{PipelineID: ps[0].ID, StageID: stage.ID}
			}
			batch.PutContact(nil, &c)
			for _, sg := range segs {
				if engine.SegmentMatches(sg, c, now) {
					batch.SetSegmentMember(ws, sg.ID, c.ID, true)
				}
			}
		}
		if err := store.Commit(batch); err != nil {
			batch.Close()
			b.Fatal(err)
		}
	}
	require.NoError(b, store.DB().Compact(context.Background(), []byte{0}, []byte{0xff}, true))
	b.Logf("%d contacts written and compacted in %s", n, time.Since(start).Round(time.Second))
	count, err := store.SegmentCount(ws, small.ID)
	require.NoError(b, err)
	require.EqualValues(b, n/50, count)

	accounts, err := NewAccounts(store)
	require.NoError(b, err)
	mediaStore, err := media.NewStore(b.TempDir(), 1<<20)
	require.NoError(b, err)
	s, err := New(Config{Runtime: rt, Store: store, Accounts: accounts, Graph: meta.NewClient(meta.ClientConfig{}), Media: mediaStore,
		ChannelHealthInterval: -1})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = s.Serve(ln) }()
	defer func() { require.NoError(b, s.Shutdown(context.Background())) }()
	base := "http://" + ln.Addr().String() + "/api/v1/contacts?limit=50"
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(url string) {
		req, err := http.NewRequest("GET", url, nil)
		require.NoError(b, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		require.NoError(b, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(b, err)
		if resp.StatusCode != http.StatusOK || len(body) < 1000 {
			b.Fatalf("%s: %d %s", url, resp.StatusCode, body)
		}
	}
	percentiles := func(b *testing.B, took []time.Duration) {
		slices.Sort(took)
		at := func(q float64) float64 {
			return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
		}
		b.ReportMetric(at(0.50), "p50-ms")
		b.ReportMetric(at(0.99), "p99-ms")
	}
	for _, sg := range []struct {
		name string
		id   engine.ID
	}{{"store-segment-50pct", half.ID}, {"store-segment-2pct", small.ID}} {
		b.Run(sg.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				page, err := store.SegmentMembers(ws, sg.id, "", 50)
				took = append(took, time.Since(t0))
				if err != nil || len(page.Contacts) != 50 {
					b.Fatalf("%d contacts, %v", len(page.Contacts), err)
				}
			}
			percentiles(b, took)
		})
	}
	for _, shape := range []struct{ name, query string }{
		{"segment-50pct", "&segment=" + half.ID.String()},
		{"segment-2pct", "&segment=" + small.ID.String()},
		{"segment-2pct-and-stage", "&segment=" + small.ID.String() + "&stage=" + stage.ID.String()},
		{"unfiltered", ""},
	} {
		b.Run(shape.name, func(b *testing.B) {
			url := base + shape.query
			for range 100 { // warm up, unmeasured
				get(url)
			}
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				get(url)
				took = append(took, time.Since(t0))
			}
			percentiles(b, took)
		})
	}
}
