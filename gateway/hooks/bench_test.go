package hooks

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// BenchmarkWebhookDelivery measures deliveries per second to a local
// receiver that answers at once: the staged batches' commits, the
// dispatcher and four workers, 16 conversations at a time.
func BenchmarkWebhookDelivery(b *testing.B) {
	store, err := persistence.Open(persistence.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { got.Add(1) }))
	defer srv.Close()
	svc, err := New(Config{Store: store, Clock: clockwork.NewRealClock()})
	if err != nil {
		b.Fatal(err)
	}
	svc.Start()
	defer svc.Shutdown()
	ws := engine.NewID(time.Now())
	u, s := srv.URL, "0123456789abcdef"
	if _, err := svc.Create(ws, engine.WebhookChange{URL: &u, Secret: &s, Events: []engine.WebhookEvent{engine.WebhookMessageCreated}}, time.Now()); err != nil {
		b.Fatal(err)
	}
	f := &fixture{ws: ws}
	convs := make([]engine.ID, 16)
	for i := range convs {
		convs[i] = engine.NewID(time.Now())
	}
	b.ResetTimer()
	began := time.Now()
	for i := range b.N {
		stage(b, store, svc, []engine.Event{f.message(convs[i%len(convs)], uint64(i+1))})
	}
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "deliveries/s")
}
