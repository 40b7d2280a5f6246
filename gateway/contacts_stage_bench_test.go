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
	n := 1_000_000
	if v := os.Getenv("PARLEY_BENCH_CONTACTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	const token = "pk_bench_stage_owner"
	store, err := persistence.Open(persistence.Options{Dir: b.TempDir()})
	require.NoError(b, err)
	defer store.Close()
	_, err = Bootstrap(store, token, time.Now())
	require.NoError(b, err)
	tok, err := store.TokenBySecret(token)
	require.NoError(b, err)
	ws := tok.WorkspaceID
	rt, err := actors.New(actors.Config{Store: store})
	require.NoError(b, err)
	require.NoError(b, rt.Start())
	defer func() { require.NoError(b, rt.Shutdown(context.Background())) }()
	ps, err := rt.Pipelines(ws)
	require.NoError(b, err)
	stages := ps[0].Stages
	now := time.Now().UTC()
	owners := []engine.ID{engine.NewID(now), engine.NewID(now), engine.NewID(now)}

	start := time.Now()
	const perBatch = 10_000
	for i := 0; i < n; i += perBatch {
		batch := store.NewBatch()
		for j := i; j < min(n, i+perBatch); j++ {
			at := now.Add(time.Duration(j-n) * time.Second)
			c := engine.Contact{ID: engine.NewID(at), WorkspaceID: ws, Source: engine.SourceImport, CreatedAt: at, UpdatedAt: at,
				Profile: engine.Profile{Name: fmt.Sprintf("Person %d", j), Email: fmt.Sprintf("p%d@example.com", j)}}
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
				c.Stage = &engine.ContactStage{PipelineID: ps[0].ID, StageID: stages[s].ID}
			}
			if j%3 == 0 {
				o := owners[j/3%3]
				c.OwnerID = &o
			}
			batch.PutContact(nil, &c)
		}
		if err := store.Commit(batch); err != nil {
			batch.Close()
			b.Fatal(err)
		}
	}
	// Compacted, as a store that has settled: the figures are the reads',
	// not those of the compactions the writes left behind.
	require.NoError(b, store.DB().Compact(context.Background(), []byte{0}, []byte{0xff}, true))
	b.Logf("%d contacts written and compacted in %s", n, time.Since(start).Round(time.Second))

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
	// percentiles reports the p50 and p99 of took.
	percentiles := func(b *testing.B, took []time.Duration) {
		slices.Sort(took)
		at := func(q float64) float64 {
			return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
		}
		b.ReportMetric(at(0.50), "p50-ms")
		b.ReportMetric(at(0.99), "p99-ms")
	}
	for _, shape := range []struct {
		name string
		f    persistence.ContactFilter
	}{
		{"store-stage-60pct", persistence.ContactFilter{Stage: stages[0].ID}},
		{"store-stage-4pct", persistence.ContactFilter{Stage: stages[3].ID}},
		{"store-stage-and-owner", persistence.ContactFilter{Stage: stages[1].ID, Owner: owners[1]}},
	} {
		b.Run(shape.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				page, err := store.FilteredContacts(ws, shape.f, "", 50)
				took = append(took, time.Since(t0))
				if err != nil || len(page.Contacts) != 50 {
					b.Fatalf("%d contacts, %v", len(page.Contacts), err)
				}
			}
			percentiles(b, took)
		})
	}
	for _, shape := range []struct{ name, query string }{
		{"stage-60pct", "&stage=" + stages[0].ID.String()},
		{"stage-4pct", "&stage=" + stages[3].ID.String()},
		{"stage-and-owner", "&stage=" + stages[1].ID.String() + "&owner=" + owners[1].String()},
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
