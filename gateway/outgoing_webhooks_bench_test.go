package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// TestIngestDeadWebhookRatio measures WhatsApp ingest (8 concurrent
// senders, each message its own signed webhook answered after its
// commit) in one Parley, in alternating rounds without an outgoing
// webhook and with one subscribed to every event whose endpoint never
// answers (each attempt hangs until the timeout), and fails when the
// rounds with it ingest under 0.95 of the rate without. It is a
// measurement, run on demand: PARLEY_INGEST_RATIO=1 (a shared, loaded
// machine makes its numbers noisy).
func TestIngestDeadWebhookRatio(t *testing.T) {
	if os.Getenv("PARLEY_INGEST_RATIO") == "" {
		t.Skip("a measurement: set PARLEY_INGEST_RATIO=1 to run it")
	}
	e := newEnvWith(t, nil, allowPrivateHooks)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stop }))
	t.Cleanup(func() { close(stop); srv.Close() })
	evs := make([]string, len(engine.WebhookEvents))
	for i, ev := range engine.WebhookEvents {
		evs[i] = string(ev)
	}
	var seq atomic.Int64
	round := func(n int) float64 {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(n))
		began := time.Now()
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
		return float64(n) / time.Since(began).Seconds()
	}
	round(200) // warm up: actors, contacts
	// Rounds alternate, each pair in the other order, so that neither
	// side always runs on a warmer store.
	const rounds = 6
	var without, with float64
	subscribed := func() float64 {
		code, body := e.api("POST", "/api/v1/webhooks", ownerToken, map[string]any{"url": srv.URL, "events": evs})
		if code != http.StatusCreated {
			t.Fatalf("%d %s", code, body)
		}
		id := decodeAs[engine.Webhook](t, body).ID.String()
		rate := round(300)
		if code, _ := e.api("DELETE", "/api/v1/webhooks/"+id, ownerToken, nil); code != http.StatusNoContent {
			t.Fatalf("delete %d", code)
		}
		return rate
	}
	for r := range rounds {
		if r%2 == 0 {
			without += round(300)
			with += subscribed()
		} else {
			with += subscribed()
			without += round(300)
		}
	}
	ratio := with / without
	t.Logf("ingest without an outgoing webhook %.0f msgs/s, with a dead one %.0f msgs/s: ratio %.3f", without/rounds, with/rounds, ratio)
	if ratio < 0.95 {
		t.Errorf("a dead endpoint slowed ingest: ratio %.3f", ratio)
	}
}
