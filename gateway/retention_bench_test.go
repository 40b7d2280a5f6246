package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// TestInboxListUnderRetention (run only with PARLEY_BENCH_RETENTION=1)
// measures the inbox list's first page
// (GET /api/v1/conversations?limit=50, over HTTP on 127.0.0.1) while the
// retention worker deletes, at its default batch and pace, the expired
// messages of PARLEY_BENCH_RETENTION_CONVS conversations (2,000 by
// default) of 6 messages each, against the same requests without it in
// the same run: rounds alternate without, with, without (each without starting once the search projection is idle), and the
// reported p99_ratio is the p99 with the worker over the p99 of both
// rounds without.
//
//	go test -c -o /tmp/gw.test ./gateway && PARLEY_BENCH_RETENTION=1 chrt -r 10 /tmp/gw.test -test.run '^TestInboxListUnderRetention$' -test.v
func TestInboxListUnderRetention(b *testing.T) {
	if os.Getenv("PARLEY_BENCH_RETENTION") == "" {
		b.Skip("a measurement: set PARLEY_BENCH_RETENTION=1")
	}
	n := 2000
	if v := os.Getenv("PARLEY_BENCH_RETENTION_CONVS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	clock := clockwork.NewFakeClockAt(time.Now())
	e := newEnvWith(b, func(c *actors.Config) { c.Clock, c.RetentionEvery = clock, 100000*time.Hour }, nil)
	const perConv = 6
	ctx := context.Background()
	for i := 0; i < n; i += 100 {
		var ins []engine.Inbound
		for j := i; j < min(i+100, n); j++ {
			for k := range perConv {
				ins = append(ins, engine.Inbound{WorkspaceID: e.ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: phoneID,
					ExternalUserID: fmt.Sprintf("1555%07d", j), ContactName: fmt.Sprintf("Bench %d", j),
					ChannelMessageID: fmt.Sprintf("wamid.bench.%d.%d", j, k),
					Content:          engine.Content{Kind: engine.KindText, Text: fmt.Sprintf("message %d of conversation %d", k, j)}})
			}
		}
		res, err := e.rt.Ingest(ctx, ins)
		require.NoError(b, err)
		for _, r := range res {
			require.NoError(b, r.Err)
		}
	}
	clock.Advance(40 * 24 * time.Hour)
	code, body := e.api("PUT", "/api/v1/retention", ownerToken, map[string]int{"message_days": 30, "closed_conversation_days": 0})
	require.Equal(b, http.StatusOK, code, string(body))

	const requests = 1000
	round := func() []time.Duration {
		out := make([]time.Duration, 0, requests)
		for range requests {
			start := time.Now()
			code, body := e.api("GET", "/api/v1/conversations?limit=50", ownerToken, nil)
			out = append(out, time.Since(start))
			require.Equal(b, http.StatusOK, code, string(body))
		}
		slices.Sort(out)
		return out
	}
	pct := func(ds []time.Duration, p float64) float64 {
		return float64(ds[int(float64(len(ds)-1)*p)].Microseconds()) / 1000
	}
	drained := func() {
		eventually(b, 5*time.Minute, func() error {
			if n, err := e.store.SearchBacklog(); err != nil || n > 0 {
				return fmt.Errorf("search backlog %d (%v)", n, err)
			}
			return nil
		})
	}
	drained() // the ingest's search projection is not the worker's
	without := round()
	var running atomic.Bool
	running.Store(true)
	done := make(chan actors.RetentionReport, 1)
	go func() {
		rep, err := e.rt.RunRetention(ctx)
		if err != nil {
			b.Error(err)
		}
		running.Store(false)
		done <- rep
	}()
	with := round()
	stillRunning := running.Load()
	rep := <-done
	drained() // the projection of the deletions is the worker's cost, counted in the round with it
	without = append(without, round()...)
	slices.Sort(without)
	require.EqualValues(b, n*perConv, rep.Messages, "every message is past the horizon")
	b.Logf("list first page without the worker: p50 %.2f ms, p99 %.2f ms; with it: p50 %.2f ms, p99 %.2f ms; p99 ratio %.2f",
		pct(without, 0.5), pct(without, 0.99), pct(with, 0.5), pct(with, 0.99), pct(with, 0.99)/pct(without, 0.99))
	if !stillRunning {
		b.Logf("the worker finished before the %d requests with it did: the ratio covers part of the round only", requests)
	}
	b.Logf("retention deleted %d messages of %d conversations", rep.Messages, n)
}
