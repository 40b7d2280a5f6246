package hooks

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const secret = "s3cret-s3cret-s3cret"

// receiver is a local HTTP server playing an integration's endpoint: it
// checks each delivery's signature and keeps what it got.
type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	clock clockwork.Clock
	mu    sync.Mutex
	got   []got
	// status, when set, answers instead of 200 (a receiver that is down).
	status func() int
	delay  func() time.Duration
	badSig int
	// tolerance is how far a signature's timestamp may be from the
	// receiver's clock (5 minutes when zero).
	tolerance time.Duration
}

type got struct {
	event, delivery string
	conv            string
	text            string
	at              time.Time
}

func newReceiver(t *testing.T, clock clockwork.Clock) *receiver {
	r := &receiver{t: t, clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.delay != nil {
		time.Sleep(r.delay())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tolerance := r.tolerance
	if tolerance == 0 {
		tolerance = 5 * time.Minute
	}
	if err := engine.VerifyWebhook(secret, req.Header.Get("X-Parley-Signature"), body, r.clock.Now(), tolerance); err != nil {
		r.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.status != nil {
		if s := r.status(); s != http.StatusOK {
			w.WriteHeader(s)
			return
		}
	}
	var p struct {
		Content      string `json:"content"`
		Conversation struct {
			ID string `json:"id"`
		} `json:"conversation"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	r.got = append(r.got, got{event: req.Header.Get("X-Parley-Event"), delivery: req.Header.Get("X-Parley-Delivery"),
		conv: p.Conversation.ID, text: p.Content, at: r.clock.Now()})
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) received() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.got...)
}

type fixture struct {
	dir   string
	store *persistence.Store
	clock *clockwork.FakeClock
	ws    engine.ID
	svc   *Service
	reg   *prometheus.Registry
	pub   chan engine.Event
}

// stage commits events the way an actor does: their deliveries staged
// into the batch that commits them (Stage), then done after the commit.
func stage(tb testing.TB, store *persistence.Store, svc *Service, events []engine.Event) {
	tb.Helper()
	b := store.NewBatch()
	done := svc.Stage(b, events)
	if err := store.Commit(b); err != nil {
		tb.Fatal(err)
	}
	if done != nil {
		done()
	}
}

func newFixture(t *testing.T, workers int) *fixture {
	f := &fixture{dir: t.TempDir(), clock: clockwork.NewFakeClockAt(t0), ws: engine.NewID(t0), pub: make(chan engine.Event, 16)}
	f.open(t, workers)
	b := f.store.NewBatch()
	b.PutWorkspace(&engine.Workspace{ID: f.ws, Name: "Acme", CreatedAt: t0})
	if err := f.store.Commit(b); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) open(t *testing.T, workers int) {
	t.Helper()
	store, err := persistence.Open(persistence.Options{Dir: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	f.store = store
	f.reg = prometheus.NewRegistry()
	f.svc, err = New(Config{Store: store, Clock: f.clock, Workers: workers, Registerer: f.reg, Timeout: 5 * time.Second,
		Publish: func(evs []engine.Event) {
			for _, e := range evs {
				f.pub <- e
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Start()
	t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.store == nil {
		return
	}
	f.svc.Shutdown()
	_ = f.store.Close()
	f.store = nil
}

func (f *fixture) subscribe(t *testing.T, url string, events ...engine.WebhookEvent) engine.Webhook {
	t.Helper()
	s := secret
	w, err := f.svc.Create(f.ws, engine.WebhookChange{URL: &url, Secret: &s, Events: events}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// message returns the message.created event of message seq of conv.
func (f *fixture) message(conv engine.ID, seq uint64) engine.Event {
	c := engine.Conversation{ID: conv, WorkspaceID: f.ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: "100", Folder: engine.FolderOpen, Mode: engine.ModeAI}
	m := engine.Message{ID: engine.NewID(t0), WorkspaceID: f.ws, ConversationID: conv, Seq: seq, Direction: engine.DirIn,
		Sender: engine.Sender{Kind: engine.SenderCustomer}, Content: engine.Content{Kind: engine.KindText, Text: fmt.Sprint(seq)}, CreatedAt: t0}
	return engine.Event{Type: engine.EventMessageCreated, WorkspaceID: f.ws, ConversationID: conv, At: t0, Conversation: &c, Message: &m}
}

// eventually waits for cond, advancing the fake clock by step between
// looks (zero: not at all).
func eventually(t *testing.T, clock *clockwork.FakeClock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (clock at %s)", what, clock.Now().Sub(t0))
		}
		if step > 0 {
			clock.Advance(step)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWebhookDeliverySigned(t *testing.T) {
	f := newFixture(t, 2)
	r := newReceiver(t, f.clock)
	f.subscribe(t, r.srv.URL, engine.WebhookMessageCreated)
	other := f.subscribe(t, r.srv.URL+"/other", engine.WebhookContactCreated)
	conv := engine.NewID(t0)
	stage(t, f.store, f.svc, []engine.Event{f.message(conv, 1)})
	eventually(t, f.clock, 0, "the delivery", func() bool { return len(r.received()) == 1 })
	g := r.received()[0]
	if g.event != "message_created" || g.conv != conv.String() || g.text != "1" || g.delivery != "1" {
		t.Fatalf("received %+v", g)
	}
	if r.badSig != 0 {
		t.Fatalf("%d bad signatures", r.badSig)
	}
	// The other subscription wanted no message: nothing was queued for it.
	if ds, err := f.svc.Deliveries(f.ws, other.ID); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries of the contact subscription: %v %v", ds, err)
	}
	eventually(t, f.clock, 0, "the outcome counted", func() bool {
		return testutil.ToFloat64(f.svc.m.deliveries.WithLabelValues(ResultDelivered)) == 1
	})
	// A receiver with another secret refuses the signature.
	w := f.subscribe(t, r.srv.URL, engine.WebhookMessageCreated)
	wrong := "another-secret-entirely"
	if _, err := f.svc.Update(f.ws, w.ID, engine.WebhookChange{Secret: &wrong}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	stage(t, f.store, f.svc, []engine.Event{f.message(conv, 2)})
	eventually(t, f.clock, 0, "the refused signature", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.badSig == 1 })
}

func TestWebhookOrderPerConversation(t *testing.T) {
	f := newFixture(t, 4)
	r := newReceiver(t, f.clock)
	rnd := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	r.delay = func() time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return time.Duration(rnd.IntN(4)) * time.Millisecond
	}
	f.subscribe(t, r.srv.URL, engine.WebhookMessageCreated)
	convs := []engine.ID{engine.NewID(t0), engine.NewID(t0.Add(time.Millisecond)), engine.NewID(t0.Add(2 * time.Millisecond))}
	const per = 25
	for seq := uint64(1); seq <= per; seq++ {
		for _, c := range convs {
			stage(t, f.store, f.svc, []engine.Event{f.message(c, seq)})
		}
	}
	eventually(t, f.clock, 0, "every delivery", func() bool { return len(r.received()) >= per*len(convs) })
	last := map[string]int{}
	for _, g := range r.received() {
		var n int
		fmt.Sscan(g.text, &n)
		if n != last[g.conv]+1 {
			t.Fatalf("conversation %s: message %d after %d", g.conv, n, last[g.conv])
		}
		last[g.conv] = n
	}
}

func TestWebhookReceiverDownThenUp(t *testing.T) {
	f := newFixture(t, 2)
	r := newReceiver(t, f.clock)
	upAt := t0.Add(20 * time.Minute)
	var attempts []time.Time
	r.status = func() int {
		attempts = append(attempts, f.clock.Now())
		if f.clock.Now().Before(upAt) {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	w := f.subscribe(t, r.srv.URL, engine.WebhookMessageCreated)
	conv := engine.NewID(t0)
	stage(t, f.store, f.svc, []engine.Event{f.message(conv, 1), f.message(conv, 2)})
	eventually(t, f.clock, 10*time.Second, "both deliveries", func() bool { return len(r.received()) == 2 })
	got := r.received()
	if got[0].text != "1" || got[1].text != "2" {
		t.Fatalf("order %+v", got)
	}
	if got[0].at.Before(upAt) {
		t.Fatalf("delivered at %s, while down", got[0].at.Sub(t0))
	}
	r.mu.Lock()
	// 0, 30 s, 1 m 30 s, 3 m 30 s, 7 m 30 s, 15 m 30 s, 31 m 30 s: the
	// seventh attempt is the first after 20 min when each comes on time;
	// the second message waited behind the first and went once, last.
	// The fake clock runs on in steps of 10 s while the test polls, so on
	// a busy machine an attempt may come later than due (fewer attempts
	// then fit before upAt), never sooner: each failed attempt's wait is
	// at least the schedule's, which doubles.
	n := len(attempts)
	if n < 4 || n > 8 {
		t.Fatalf("%d attempts, want 4 to 8 (8 on time): %v", n, attempts)
	}
	for i, at := range attempts[:n-2] {
		if !at.Before(upAt) {
			t.Errorf("attempt %d at %s, after the receiver was up, and more came", i+1, at.Sub(t0))
		}
	}
	if attempts[n-2].Before(upAt) {
		t.Errorf("the delivering attempt at %s, while down", attempts[n-2].Sub(t0))
	}
	for i := 1; i < n-1; i++ {
		want, ok := engine.WebhookRetryAfter(i)
		if !ok {
			t.Fatalf("no retry after attempt %d", i)
		}
		if gap := attempts[i].Sub(attempts[i-1]); gap < want {
			t.Errorf("attempt %d came %s after attempt %d, sooner than the schedule's %s", i+1, gap, i, want)
		}
	}
	r.mu.Unlock()
	var ds []engine.WebhookDelivery
	var err error
	eventually(t, f.clock, 0, "both outcomes recorded", func() bool {
		ds, err = f.svc.Deliveries(f.ws, w.ID)
		return err == nil && len(ds) == 2 && ds[0].State == engine.DeliveryDelivered && ds[1].State == engine.DeliveryDelivered
	})
	if len(ds) != 2 || ds[1].State != engine.DeliveryDelivered || ds[1].Attempts != 7 || ds[1].StatusCode != 200 || ds[0].Attempts != 1 {
		t.Fatalf("log %+v %v", ds, err)
	}
	if h, _ := f.svc.Get(f.ws, w.ID); h.Failures != 0 || !h.Active {
		t.Fatalf("subscription after recovery %+v", h)
	}
	// Redelivery sends the first one again, as a new delivery.
	d, err := f.svc.Redeliver(f.ws, w.ID, ds[1].ID, f.clock.Now())
	if err != nil || d.RedeliveryOf != ds[1].ID {
		t.Fatalf("redeliver %+v %v", d, err)
	}
	eventually(t, f.clock, 0, "the redelivery", func() bool { return len(r.received()) == 3 })
	if g := r.received()[2]; g.text != "1" || g.delivery != fmt.Sprint(d.ID) {
		t.Fatalf("redelivered %+v", g)
	}
}

func TestWebhookDisabledAfterPersistentFailure(t *testing.T) {
	f := newFixture(t, 2)
	r := newReceiver(t, f.clock)
	r.status = func() int { return http.StatusInternalServerError }
	// The test moves the clock on in steps of 5 minutes while attempts
	// are on their way: an attempt signed just before a step must still
	// reach the 500 it is meant to get, not a 401 for its timestamp.
	r.tolerance = time.Hour
	w := f.subscribe(t, r.srv.URL, engine.WebhookMessageCreated)
	conv := engine.NewID(t0)
	stage(t, f.store, f.svc, []engine.Event{f.message(conv, 1)})
	eventually(t, f.clock, 5*time.Minute, "the subscription turned off", func() bool {
		h, _ := f.svc.Get(f.ws, w.ID)
		return !h.Active
	})
	if d := f.clock.Now().Sub(t0); d < 24*time.Hour || d > 26*time.Hour {
		t.Fatalf("turned off after %s", d)
	}
	h, _ := f.svc.Get(f.ws, w.ID)
	if h.DisabledReason == "" || h.Failures != engine.WebhookMaxAttempts {
		t.Fatalf("%+v", h)
	}
	select {
	case e := <-f.pub:
		if e.Type != engine.EventWebhookDisabled || e.WorkspaceID != f.ws {
			t.Fatalf("published %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook.disabled event")
	}
	ds, _ := f.svc.Deliveries(f.ws, w.ID)
	if len(ds) != 1 || ds[0].State != engine.DeliveryFailed || ds[0].StatusCode != 500 || ds[0].Error == "" {
		t.Fatalf("log %+v", ds)
	}
	// Off, it takes no event; the store says so after a restart too.
	stage(t, f.store, f.svc, []engine.Event{f.message(conv, 2)})
	f.close()
	f.open(t, 2)
	if h, _ := f.svc.Get(f.ws, w.ID); h.Active {
		t.Fatal("active again after a restart")
	}
	if ds, _ := f.svc.Deliveries(f.ws, w.ID); len(ds) != 1 {
		t.Fatalf("queued while off: %+v", ds)
	}
	on := true
	if h, err := f.svc.Update(f.ws, w.ID, engine.WebhookChange{Active: &on}, f.clock.Now()); err != nil || h.Failures != 0 || h.DisabledReason != "" {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestWebhookRestartDeliversPending(t *testing.T) {
	f := newFixture(t, 2)
	r := newReceiver(t, f.clock)
	var down sync.Mutex
	isDown := true
	r.status = func() int {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return http.StatusBadGateway
		}
		return http.StatusOK
	}
	f.subscribe(t, r.srv.URL, engine.WebhookMessageCreated, engine.WebhookConversationCreated)
	conv := engine.NewID(t0)
	var evs []engine.Event
	for seq := uint64(1); seq <= 10; seq++ {
		evs = append(evs, f.message(conv, seq))
	}
	stage(t, f.store, f.svc, evs)
	eventually(t, f.clock, 0, "a first attempt", func() bool { return testutil.ToFloat64(f.svc.m.deliveries.WithLabelValues(ResultRetried)) >= 1 })
	f.close() // the store is closed with everything queued
	down.Lock()
	isDown = false
	down.Unlock()
	f.open(t, 2)
	eventually(t, f.clock, 10*time.Second, "every delivery after the restart", func() bool { return len(r.received()) == 10 })
	for i, g := range r.received() {
		if g.text != fmt.Sprint(i+1) {
			t.Fatalf("after the restart, delivery %d is message %s", i, g.text)
		}
	}
	// New deliveries continue the numbering.
	stage(t, f.store, f.svc, []engine.Event{f.message(conv, 11)})
	eventually(t, f.clock, 0, "the next delivery", func() bool { return len(r.received()) == 11 })
	if g := r.received()[10]; g.delivery != "11" {
		t.Fatalf("delivery numbered %s after the restart", g.delivery)
	}
}
