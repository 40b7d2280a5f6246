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

// contactListBench is the harness of the contact list benchmarks
// (BenchmarkContactListByStage, BenchmarkContactListBySegment): a real
// store with PARLEY_BENCH_CONTACTS contacts (1,000,000 by default)
// written straight into it, the actors' runtime and the gateway on
// 127.0.0.1, and the first page's p50 and p99 in ms, read in process and
// over HTTP.
type contactListBench struct {
	b        *testing.B
	n        int
	token    string
	store    *persistence.Store
	rt       *actors.Runtime
	ws       engine.ID
	pipeline engine.Pipeline
	now      time.Time
	base     string
	client   *http.Client
}

// newContactListBench opens the store and bootstraps its workspace;
// before runs (with the workspace's id) ahead of the runtime's start,
// for records the runtime reads when it starts.
func newContactListBench(b *testing.B, token string, before func(store *persistence.Store, ws engine.ID, now time.Time)) *contactListBench {
	h := &contactListBench{b: b, n: 1_000_000, token: token, now: time.Now().UTC(), client: &http.Client{Timeout: 10 * time.Second}}
	if v := os.Getenv("PARLEY_BENCH_CONTACTS"); v != "" {
		var err error
		h.n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	var err error
	h.store, err = persistence.Open(persistence.Options{Dir: b.TempDir()})
	require.NoError(b, err)
	b.Cleanup(func() { h.store.Close() })
	_, err = Bootstrap(h.store, token, time.Now())
	require.NoError(b, err)
	tok, err := h.store.TokenBySecret(token)
	require.NoError(b, err)
	h.ws = tok.WorkspaceID
	if before != nil {
		before(h.store, h.ws, h.now)
	}
	h.rt, err = actors.New(actors.Config{Store: h.store})
	require.NoError(b, err)
	require.NoError(b, h.rt.Start())
	b.Cleanup(func() { require.NoError(b, h.rt.Shutdown(context.Background())) })
	ps, err := h.rt.Pipelines(h.ws)
	require.NoError(b, err)
	h.pipeline = ps[0]
	return h
}

// fill writes the n contacts in batches of 10,000, each made by
// contact(j, c) from a base record (and whatever else it adds to the
// batch), then compacts the store, as a store that has settled: the
// figures are the reads', not those of the compactions the writes left
// behind. The server starts after it.
func (h *contactListBench) fill(contact func(j int, c *engine.Contact, batch *persistence.Batch)) {
	b := h.b
	start := time.Now()
	const perBatch = 10_000
	for i := 0; i < h.n; i += perBatch {
		batch := h.store.NewBatch()
		for j := i; j < min(h.n, i+perBatch); j++ {
			at := h.now.Add(time.Duration(j-h.n) * time.Second)
			c := engine.Contact{ID: engine.NewID(at), WorkspaceID: h.ws, Source: engine.SourceImport, CreatedAt: at, UpdatedAt: at,
				Profile: engine.Profile{Name: fmt.Sprintf("Person %d", j), Email: fmt.Sprintf("p%d@example.com", j)}}
			contact(j, &c, batch)
			batch.PutContact(nil, &c)
		}
		if err := h.store.Commit(batch); err != nil {
			batch.Close()
			b.Fatal(err)
		}
	}
	require.NoError(b, h.store.DB().Compact(context.Background(), []byte{0}, []byte{0xff}, true))
	b.Logf("%d contacts written and compacted in %s", h.n, time.Since(start).Round(time.Second))

	accounts, err := NewAccounts(h.store)
	require.NoError(b, err)
	mediaStore, err := media.NewStore(b.TempDir(), 1<<20)
	require.NoError(b, err)
	s, err := New(Config{Runtime: h.rt, Store: h.store, Accounts: accounts, Graph: meta.NewClient(meta.ClientConfig{}), Media: mediaStore,
		ChannelHealthInterval: -1})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { require.NoError(b, s.Shutdown(context.Background())) })
	h.base = "http://" + ln.Addr().String() + "/api/v1/contacts?limit=50"
}

// inProcess runs shape name: page reads a first page of 50 contacts in
// process.
func (h *contactListBench) inProcess(name string, page func() (persistence.ContactPage, error)) {
	h.b.Run(name, func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			t0 := time.Now()
			p, err := page()
			took = append(took, time.Since(t0))
			if err != nil || len(p.Contacts) != 50 {
				b.Fatalf("%d contacts, %v", len(p.Contacts), err)
			}
		}
		reportPercentiles(b, took)
	})
}

// overHTTP runs shape name: GET /api/v1/contacts?limit=50 with query
// added, after 100 unmeasured requests.
func (h *contactListBench) overHTTP(name, query string) {
	h.b.Run(name, func(b *testing.B) {
		url := h.base + query
		for range 100 {
			h.get(b, url)
		}
		var took []time.Duration
		for b.Loop() {
			t0 := time.Now()
			h.get(b, url)
			took = append(took, time.Since(t0))
		}
		reportPercentiles(b, took)
	})
}

func (h *contactListBench) get(b *testing.B, url string) {
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.client.Do(req)
	require.NoError(b, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(b, err)
	if resp.StatusCode != http.StatusOK || len(body) < 1000 {
		b.Fatalf("%s: %d %s", url, resp.StatusCode, body)
	}
}

// reportPercentiles reports the p50 and p99 of took, in ms.
func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
