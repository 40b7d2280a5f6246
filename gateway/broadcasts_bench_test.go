package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestBroadcastThroughput sends a broadcast to 100,000 recipients (a
// CSV audience) at a configured 1,000 messages a second against the fake
// Graph API, and measures the rate achieved (first send to last, over
// the configured rate), the time from a recipient's turn in the pace to
// Meta's acceptance (parley_broadcast_send_seconds, p99 as its bucket's
// bound), and the inbox list's p99 while the broadcast sends against the
// same list before it starts, in the same run. It is a benchmark: it
// runs only with PARLEY_BENCH_BROADCAST=1 (and BROADCAST_RECIPIENTS to
// change the count):
//
//	PARLEY_BENCH_BROADCAST=1 go test ./gateway -run TestBroadcastThroughput -v -timeout 30m
//
// bench/results/broadcasts.md has the figures.
func TestBroadcastThroughput(t *testing.T) {
	if os.Getenv("PARLEY_BENCH_BROADCAST") == "" {
		t.Skip("benchmark: set PARLEY_BENCH_BROADCAST=1")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BROADCAST_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	const rate = 1000
	reg := prometheus.NewRegistry()
	e := broadcastEnvWith(t, engine.TierUnlimited, func(c *actors.Config) { c.Registerer = reg },
		func(g *gateway.Config) { g.BodyLimit = 8 << 20 }) // the server's default: the CSV is 2.6 MB
	// The inbox has conversations to list before the broadcast.
	for i := range 200 {
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.seed.%d", i), fmt.Sprintf("1444%07d", i), "Seed", "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
	}
	var mu sync.Mutex
	var first, last time.Time
	e.graph.mu.Lock()
	e.graph.send = func(graphReq) (int, string) {
		now := time.Now()
		mu.Lock()
		if first.IsZero() {
			first = now
		}
		last = now
		mu.Unlock()
		return 0, ""
	}
	e.graph.mu.Unlock()

	listP99 := func(stop func() bool, max int) (time.Duration, int) {
		var ds []time.Duration
		for i := 0; i < max && !stop(); i++ {
			t0 := time.Now()
			code, body := e.api("GET", "/api/v1/conversations?limit=50", ownerToken, nil)
			ds = append(ds, time.Since(t0))
			require.Equal(t, http.StatusOK, code, string(body))
			time.Sleep(20 * time.Millisecond)
		}
		slices.Sort(ds)
		return ds[len(ds)*99/100], len(ds)
	}
	baseline, nBase := listP99(func() bool { return false }, 500)

	body := orderBroadcast("Bench", map[string]any{"csv": broadcastCSV("+1555%07d", n)})
	body["rate_per_second"] = rate
	code, out := e.api("POST", "/api/v1/broadcasts", ownerToken, body)
	require.Equal(t, http.StatusCreated, code, string(out))
	var b engine.Broadcast
	require.NoError(t, json.Unmarshal(out, &b))
	// Wait until the sends begin, then measure the list while they run.
	eventually(t, 5*time.Minute, func() error {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			return fmt.Errorf("no send yet")
		}
		return nil
	})
	sent := func() int64 { return int64(len(e.graph.requests("/messages"))) }
	during, nDuring := listP99(func() bool { return sent() >= int64(n)*9/10 }, 1_000_000)
	done := waitBroadcast(t, e, b.ID, engine.BroadcastCompleted, 30*time.Minute)
	require.EqualValues(t, n, done.Counts.Sent, "%+v", done.Counts)
	mu.Lock()
	elapsed := last.Sub(first)
	mu.Unlock()
	achieved := float64(n-1) / elapsed.Seconds()
	p99 := histogramP99(t, reg, "parley_broadcast_send_seconds")
	t.Logf("recipients %d, configured %d/s, achieved %.1f/s, ratio %.3f", n, rate, achieved, achieved/rate)
	t.Logf("turn → accepted p99 ≤ %s", p99)
	t.Logf("inbox list p99: %s without (%d requests), %s during the broadcast (%d requests), ratio %.2f",
		baseline, nBase, during, nDuring, float64(during)/float64(baseline))
	for to, k := range sendsTo(e) {
		require.Equal(t, 1, k, to)
	}
}

// histogramP99 returns the upper bound of the bucket holding a
// histogram's 99th percentile.
func histogramP99(t *testing.T, reg *prometheus.Registry, name string) time.Duration {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		want := float64(h.GetSampleCount()) * 0.99
		for _, bk := range h.GetBucket() {
			if float64(bk.GetCumulativeCount()) >= want {
				return time.Duration(bk.GetUpperBound() * float64(time.Second))
			}
		}
		return -1
	}
	t.Fatalf("no metric %s", name)
	return 0
}
