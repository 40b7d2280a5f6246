package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// TestIngestDeadWebhookRatio measures WhatsApp ingest (8 concurrent
// senders, each message its own signed webhook answered after its
// commit) in one Parley, in alternating rounds without an outgoing
// webhook and with one subscribed to every event whose endpoint never
// answers (each attempt hangs until the timeout), and fails when the
// rounds with it ingest under 0.95 of the rate without (the median of
// ten pairs of rounds of 1,000 messages). It is a
// measurement, run on demand: PARLEY_INGEST_RATIO=1 (a shared, loaded
// machine makes its numbers noisy). PARLEY_INGEST_DEAD=refused points
// the subscription at a closed port instead (each attempt refused at
// once).
func TestIngestDeadWebhookRatio(t *testing.T) {
	if os.Getenv("PARLEY_INGEST_RATIO") == "" {
		t.Skip("a measurement: set PARLEY_INGEST_RATIO=1 to run it")
	}
	e := newEnvWith(t, nil, allowPrivateHooks)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stop }))
	t.Cleanup(func() { close(stop); srv.Close() })
	url := srv.URL
	if os.Getenv("PARLEY_INGEST_DEAD") == "refused" {
		// An endpoint that refuses the connection at once: each attempt
		// fails fast and its delivery waits for its retry, so the
		// backlog the dispatcher reads grows with every event.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url = "http://" + l.Addr().String() + "/hook"
		l.Close()
	}
	evs := make([]string, len(engine.WebhookEvents))
	for i, ev := range engine.WebhookEvents {
		evs[i] = string(ev)
	}
	var seq atomic.Int64
	// cpuUsed sums the process's CPU time (server and senders: the
	// senders' share is the same on both sides) over the rounds.
	var cpuUsed time.Duration
	round := func(n int) float64 {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(n))
		began, cpuBefore := time.Now(), processCPU()
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					i := seq.Add(1)
					code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.ratio.%d", i), fmt.Sprintf("1555%07d", i%300), "B", "hello"))
					if code != http.StatusOK {
						t.Errorf("%d %s", code, body)
						return
					}
				}
			}()
		}
		wg.Wait()
		cpuUsed += processCPU() - cpuBefore
		return float64(n) / time.Since(began).Seconds()
	}
	round(300) // warm up: actors, contacts
	// Rounds alternate, each pair in the other order, so that neither
	// side always runs on a warmer store. The machine is shared: the
	// median of the pairs' ratios decides, a burst of another process's
	// work falling on one round moves it less than the sum.
	const rounds = 10
	var without, with float64
	subscribed := func() float64 {
		code, body := e.api("POST", "/api/v1/webhooks", ownerToken, map[string]any{"url": url, "events": evs})
		if code != http.StatusCreated {
			t.Fatalf("%d %s", code, body)
		}
		id := decodeAs[engine.Webhook](t, body).ID.String()
		rate := round(1000)
		if code, _ := e.api("DELETE", "/api/v1/webhooks/"+id, ownerToken, nil); code != http.StatusNoContent {
			t.Fatalf("delete %d", code)
		}
		return rate
	}
	pairs := make([]float64, 0, rounds)
	var cpuWithout, cpuWith time.Duration
	for r := range rounds {
		var a, b float64
		measure := func(rate *float64, cpu *time.Duration, f func() float64) {
			before := cpuUsed
			*rate = f()
			*cpu += cpuUsed - before
		}
		if r%2 == 0 {
			measure(&a, &cpuWithout, func() float64 { return round(1000) })
			measure(&b, &cpuWith, subscribed)
		} else {
			measure(&b, &cpuWith, subscribed)
			measure(&a, &cpuWithout, func() float64 { return round(1000) })
		}
		without += a
		with += b
		pairs = append(pairs, b/a)
	}
	slices.Sort(pairs)
	median := (pairs[rounds/2-1] + pairs[rounds/2]) / 2
	t.Logf("ingest without an outgoing webhook %.0f msgs/s, with a dead one %.0f msgs/s: ratio of the sums %.3f, median of %d pairs %.3f (pairs %.2f); process CPU per message without %v, with %v: ratio %.3f",
		without/rounds, with/rounds, with/without, rounds, median, pairs,
		cpuWithout/(rounds*1000), cpuWith/(rounds*1000), float64(cpuWithout)/float64(cpuWith))
	if median < 0.95 {
		t.Errorf("a dead endpoint slowed ingest: median ratio %.3f", median)
	}
}

// processCPU is the CPU time this process used so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
