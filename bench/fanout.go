package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

// FanoutConfig describes a fan-out run: an open-loop sender posts signed
// WhatsApp webhooks at Rate messages per second, spread round-robin over
// the workspaces, for Duration; every workspace has Subscribers WebSocket
// clients, and each of them must receive every accepted message once.
type FanoutConfig struct {
	// Addr is the server's host:port.
	Addr       string
	Workspaces []Workspace
	// Subscribers is the number of WebSocket clients per workspace.
	Subscribers int
	// Rate is inbound messages per second over all workspaces.
	Rate     float64
	Duration time.Duration
	// Customers is the number of distinct customers (conversations) per
	// workspace; zero means 50. Each gets one unmeasured message before
	// the run so the run measures established conversations.
	Customers int
	// Drain bounds the wait for the last deliveries after the last
	// webhook was answered; zero means 10 s.
	Drain time.Duration
	// MaxInFlight bounds the webhooks awaiting an answer; when it is
	// reached the sender falls behind its schedule (reported as lag).
	// Zero means 1024.
	MaxInFlight int
	// ServerPID, if set, is the server's process: the run then measures
	// where the machine's CPU went while the sender ran
	// (FanoutResult.CPU).
	ServerPID int
}

// FanoutResult is what a fan-out run measured.
type FanoutResult struct {
	Subscribers int
	// Sent webhooks; Accepted were answered 2xx (only those must be
	// delivered); Rejected were not (FirstError says why).
	Sent, Accepted, Rejected int64
	FirstError               string
	// Expected deliveries (accepted messages × their workspace's
	// subscribers) and Delivered (distinct ones received); Missing is
	// their difference, Duplicates the messages a subscriber got twice.
	Expected, Delivered, Missing, Duplicates int64
	// Disconnected counts subscribers whose connection ended before the
	// run did (slow consumer, error); DisconnectError is the first.
	Disconnected    int
	DisconnectError string
	// Events counts every event received, of any type; EventGaps
	// counts those a subscriber never got (holes in its workspace's
	// event sequence after its hello) or got out of order.
	Events, EventGaps int64
	// SendWindow is from the first send to the last; Span is from the
	// first send to the last delivery.
	SendWindow, Span time.Duration
	// SenderLag is how far behind its schedule the sender fell at most.
	SenderLag time.Duration
	// Latencies are webhook sent → event received on a subscriber, one
	// per delivery, sorted.
	Latencies []time.Duration
	// FrameBytes counts the payload bytes of every frame the subscribers
	// read. Created counts the measured message.created events (of
	// Parley; a frame may carry several events) or the frames of one
	// publication (of Centrifugo), CreatedBytes their bytes; CreatedSample
	// is one of them. FrameSample is a whole frame that carried one.
	FrameBytes, Created, CreatedBytes int64
	CreatedSample, FrameSample        []byte
	// CPU is where the machine's CPU time went from the first send to
	// the last (zero unless FanoutConfig.ServerPID was set).
	CPU CPUUse
}

// DeliveryRate is deliveries per second over the span of the run.
func (r *FanoutResult) DeliveryRate() float64 {
	if r.Span <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Span.Seconds()
}

// MessageRate is accepted inbound messages per second over the send
// window.
func (r *FanoutResult) MessageRate() float64 {
	if r.SendWindow <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.SendWindow.Seconds()
}

// Percentile returns the p-th percentile delivery latency (0 < p < 100).
func (r *FanoutResult) Percentile(p float64) time.Duration {
	return percentile(r.Latencies, p)
}

// Complete reports whether every accepted message reached every
// subscriber of its workspace, once, with no webhook refused and no
// subscriber lost.
func (r *FanoutResult) Complete() bool {
	return r.Rejected == 0 && r.Missing == 0 && r.Duplicates == 0 && r.EventGaps == 0 && r.Disconnected == 0 && r.Accepted > 0
}

// Messages of a run carry "pbm:<k>:<ns>" first in their text: k numbers
// the message in the run, ns is when it was sent in nanoseconds since the
// run's base time. Warm-up messages carry "pbw:" and are not counted.
// Only a message's text field counts: a conversation's preview holds the
// same text, and the message.created of an AI or system message carries
// the conversation with the customer's preview.
var (
	markMeasured = []byte(`"text":"pbm:`)
	markTail     = []byte(`pbm:`)
	eventStart   = []byte(`{"seq":`)
	typeKey      = []byte(`,"type":`)
	typeCreated  = []byte(`"type":"message.created"`)
	typeField    = []byte(`"type":"`)
	createdName  = []byte(`"message.created"`)
)

// subscriber is one WebSocket client and what it received.
type subscriber struct {
	ws   int
	conn *websocket.Conn
	// seen has bit k set once message k arrived.
	seen       []uint64
	delivered  int64
	duplicates int64
	events     int64
	// next is the workspace event seq expected next; gaps counts the
	// events skipped or out of order.
	next, gaps uint64
	lat        []time.Duration
	last       time.Duration // arrival of the last counted delivery, since base
	err        error         // set when the connection ended unasked
	// bytes counts the frames' payload bytes; createdEvents and
	// createdBytes the measured message.created events (Parley) or the
	// frames of one publication (Centrifugo); sample is the first.
	bytes, createdEvents, createdBytes int64
	sample, sampleFrame                []byte
}

// handle reads one frame of Parley's WebSocket received at at (since
// base): it checks the event seqs and records the message.created
// events. It cuts the frame into its events once and reads each event's
// seq and type where they stand (an event starts {"seq":N,"type":"…"),
// so a delivery costs the client one scan of the frame: the client
// shares the machine with the server under test.
func (s *subscriber) handle(frame []byte, at time.Duration) {
	end := len(frame)
	if end > 0 && frame[0] == '[' {
		end-- // the closing ]
	}
	start, seq, typ := eventAt(frame, 0)
	for start >= 0 {
		next, nseq, ntyp := eventAt(frame, typ)
		stop := end
		if next >= 0 {
			stop = next - 1 // the comma between two events
		}
		s.checkSeq(seq)
		if bytes.HasPrefix(frame[typ:], createdName) {
			ev := frame[start:stop]
			if s.recordEvent(ev, at) {
				s.noteCreated(ev)
			}
		}
		start, seq, typ = next, nseq, ntyp
	}
	if s.sampleFrame == nil && s.sample != nil {
		s.sampleFrame = bytes.Clone(frame)
	}
}

// eventAt returns where the first event at or after from starts (-1 if
// none), its seq and where its type's value starts. An event starts with
// {"seq":N,"type": (the bytes {"seq": cannot be inside a JSON string,
// whose quotes are escaped, but an object of an event's data could start
// so: the type that follows settles it).
func eventAt(frame []byte, from int) (start int, seq uint64, typ int) {
	for from < len(frame) {
		i := bytes.Index(frame[from:], eventStart)
		if i < 0 {
			break
		}
		at := from + i
		if seq, typ, ok := eventHead(frame, at); ok {
			return at, seq, typ
		}
		from = at + len(eventStart)
	}
	return -1, 0, 0
}

// eventHead reads the seq of the event starting at start and returns
// where its type's value (a quoted name) starts.
func eventHead(frame []byte, start int) (seq uint64, typ int, ok bool) {
	i := start + len(eventStart)
	j := i
	for j < len(frame) && frame[j] >= '0' && frame[j] <= '9' {
		j++
	}
	if j == i || !bytes.HasPrefix(frame[j:], typeKey) {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(string(frame[i:j]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return seq, j + len(typeKey), true
}

// noteCreated counts the bytes of ev, one measured message.created
// event (Parley) or a frame of one publication (Centrifugo), and keeps
// the first as the sample.
func (s *subscriber) noteCreated(ev []byte) {
	s.createdEvents++
	s.createdBytes += int64(len(ev))
	if s.sample == nil {
		s.sample = bytes.Clone(ev)
	}
}

// recordEvent records the measured message of ev, one message.created
// event, received at at (since base); it reports whether ev carried one.
func (s *subscriber) recordEvent(ev []byte, at time.Duration) bool {
	j := markIndex(ev, 0)
	if j < 0 {
		return false
	}
	s.recordMark(ev[j+len(markMeasured):], at)
	return true
}

// recordMark records the message whose mark ("<k>:<ns>") starts b.
func (s *subscriber) recordMark(b []byte, at time.Duration) {
	k, sent, ok := parseMark(b)
	if !ok || k >= uint64(len(s.seen))*64 {
		return
	}
	if s.seen[k/64]&(1<<(k%64)) != 0 {
		s.duplicates++
		return
	}
	s.seen[k/64] |= 1 << (k % 64)
	s.delivered++
	s.lat = append(s.lat, at-sent)
	s.last = at
}

// markIndex returns where the first measured mark ("text":"pbm:) at or
// after from starts, or -1. It looks for the rare "pbm:" and then for
// the field before it: a search that starts at every quote of a frame
// costs the client several times more.
func markIndex(b []byte, from int) int {
	for from < len(b) {
		i := bytes.Index(b[from:], markTail)
		if i < 0 {
			return -1
		}
		at := from + i - (len(markMeasured) - len(markTail))
		if at >= 0 && bytes.Equal(b[at:at+len(markMeasured)], markMeasured) {
			return at
		}
		from += i + len(markTail)
	}
	return -1
}

// record records the measured message.created events of a frame that
// may wrap them in anything (Centrifugo's publications): each measured
// mark counts when the last event type before it is message.created.
// It returns how many marks counted.
func (s *subscriber) record(frame []byte, at time.Duration) int {
	n := 0
	for from := 0; ; {
		j := markIndex(frame, from)
		if j < 0 {
			return n
		}
		t := bytes.LastIndex(frame[from:j], typeField)
		if t >= 0 && bytes.HasPrefix(frame[from+t+len(typeField)-1:], createdName) {
			s.recordMark(frame[j+len(markMeasured):], at)
			n++
		}
		from = j + len(markMeasured)
	}
}

// checkSeq checks that an event's seq follows on from the last one seen.
func (s *subscriber) checkSeq(seq uint64) {
	s.events++
	switch {
	case seq > s.next:
		s.gaps += seq - s.next
	case seq < s.next:
		s.gaps++
	}
	s.next = seq + 1
}

// parseMark reads "<k>:<ns>" up to the first byte that is neither a
// digit nor the colon.
func parseMark(b []byte) (k uint64, sent time.Duration, ok bool) {
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 {
		return 0, 0, false
	}
	end := colon + 1
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	k, err1 := strconv.ParseUint(string(b[:colon]), 10, 64)
	ns, err2 := strconv.ParseInt(string(b[colon+1:end]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return k, time.Duration(ns), true
}

// RunFanout connects the subscribers, warms every conversation up, runs
// the open-loop sender and waits for the deliveries; it returns what it
// measured. An error means the run could not be made (a subscriber could
// not connect, the context ended), not that targets were missed.
func RunFanout(ctx context.Context, cfg FanoutConfig) (*FanoutResult, error) {
	if cfg.Customers <= 0 {
		cfg.Customers = 50 // as runFanout: the poster reads this copy
	}
	return runFanout(ctx, cfg, &parleyFanout{cfg: &cfg, run: time.Now().UnixNano()})
}

// fanoutServer is what differs between the servers a fan-out run
// measures: how a message is posted, how a subscriber connects and how
// its frames are read. The schedule, the clients and the accounting are
// the same for all.
type fanoutServer interface {
	// post sends message k of the run (of the warm-up if warm) to
	// workspace k % len(Workspaces), with text (its mark first) as the
	// message's text.
	post(ctx context.Context, client poster, k int, warm bool, text string) error
	// connect dials subscriber s and reads what comes before its events.
	connect(ctx context.Context, d *websocket.Dialer, s *subscriber) (*websocket.Conn, error)
	// read records one frame received at at (since the run's base) and
	// returns what to write back, if anything.
	read(s *subscriber, frame []byte, at time.Duration) (reply []byte)
}

// parleyFanout posts signed WhatsApp webhooks and subscribes on
// Parley's WebSocket.
type parleyFanout struct {
	cfg *FanoutConfig
	run int64 // makes the run's wamids unique
}

func (p *parleyFanout) post(ctx context.Context, client poster, k int, warm bool, text string) error {
	nws := len(p.cfg.Workspaces)
	w := p.cfg.Workspaces[k%nws]
	user := (k / nws) % p.cfg.Customers
	mark := "pbm"
	if warm {
		mark = "pbw"
	}
	body, h := WhatsAppWebhook(w.PhoneID, fmt.Sprintf("wamid.fanout.%d.%s.%d", p.run, mark, k), user, text)
	_, err := client.postOK(ctx, "http://"+p.cfg.Addr+"/webhooks/whatsapp", body, h)
	return err
}

func (p *parleyFanout) connect(ctx context.Context, d *websocket.Dialer, s *subscriber) (*websocket.Conn, error) {
	conn, _, err := d.DialContext(ctx, "ws://"+p.cfg.Addr+"/api/v1/ws?token="+p.cfg.Workspaces[s.ws].Token, nil)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, frame, err := conn.ReadMessage()
	_ = conn.SetReadDeadline(time.Time{})
	var hello struct {
		Type string `json:"type"`
		Seq  uint64 `json:"seq"`
	}
	if err == nil && (json.Unmarshal(frame, &hello) != nil || hello.Type != "hello") {
		err = fmt.Errorf("first frame is not hello: %s", frame)
	}
	s.next = hello.Seq + 1
	return conn, err
}

func (p *parleyFanout) read(s *subscriber, frame []byte, at time.Duration) []byte {
	s.handle(frame, at)
	return nil
}

// poster posts a request body and wants a 2xx answer, whose body it
// returns (with the error, for any other status).
type poster interface {
	postOK(ctx context.Context, url string, body []byte, h http.Header) ([]byte, error)
}

// httpPoster posts with net/http.
type httpPoster struct{ c *http.Client }

func (p httpPoster) postOK(ctx context.Context, url string, body []byte, h http.Header) ([]byte, error) {
	return postOK(ctx, p.c, url, body, h)
}

// fastPoster posts with fasthttp's client, which a fan-out run's sender
// uses: it writes and reads in the caller's goroutine, where net/http's
// hands every request to two goroutines of its connection, and costs the
// client (on the machine it shares with the server) about half as much
// per request. ctx is checked before the request, not during it; the
// client's timeouts bound it.
type fastPoster struct{ c *fasthttp.Client }

func (p *fastPoster) postOK(ctx context.Context, url string, body []byte, h http.Header) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.SetBodyRaw(body)
	if err := p.c.Do(req, resp); err != nil {
		return nil, fmt.Errorf("posting to %s: %w", url, err)
	}
	b := bytes.Clone(resp.Body())
	if code := resp.StatusCode(); code/100 != 2 {
		return b, fmt.Errorf("%s answered %d: %s", url, code, b)
	}
	return b, nil
}

// postOK posts body with header h to url, wants a 2xx answer and
// returns its body.
func postOK(ctx context.Context, client *http.Client, url string, body []byte, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, b)
	}
	return b, err
}

// runFanout is RunFanout against any server.
func runFanout(ctx context.Context, cfg FanoutConfig, srv fanoutServer) (*FanoutResult, error) {
	if cfg.Customers <= 0 {
		cfg.Customers = 50
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	nws := len(cfg.Workspaces)
	if nws == 0 || cfg.Subscribers <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("fanout: workspaces, subscribers, rate and duration must be positive")
	}
	total := int(cfg.Rate * cfg.Duration.Seconds())
	// Idle connections are dropped before the 30 s after which
	// Centrifugo closes them, so that a request never races that close.
	client := &fastPoster{c: &fasthttp.Client{MaxConnsPerHost: cfg.MaxInFlight, MaxIdleConnDuration: 20 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxConnWaitTimeout: 30 * time.Second}}
	defer client.c.CloseIdleConnections()
	base := time.Now()
	// post sends message k of the run (or of the warm-up), stamped with
	// the time it is sent.
	post := func(ctx context.Context, k int, warm bool) error {
		mark := "pbm"
		if warm {
			mark = "pbw"
		}
		return srv.post(ctx, client, k, warm, fmt.Sprintf("%s:%d:%d fan-out probe", mark, k, time.Since(base)))
	}

	// Warm up: one message per conversation, closed loop, before anyone
	// subscribes.
	if err := parallel(ctx, nws*cfg.Customers, 32, func(k int) error { return post(ctx, k, true) }); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}

	subs, err := connectSubscribers(ctx, cfg, total, srv)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var delivered atomic.Int64
	var stopping atomic.Bool
	for _, s := range subs {
		wg.Go(func() {
			var buf bytes.Buffer // reused: the readers share the machine with the server
			for {
				_, r, err := s.conn.NextReader()
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(r)
				}
				if err == nil {
					before := s.delivered
					s.bytes += int64(buf.Len())
					if reply := srv.read(s, buf.Bytes(), time.Since(base)); reply != nil {
						err = s.conn.WriteMessage(websocket.TextMessage, reply)
					}
					delivered.Add(s.delivered - before)
				}
				if err != nil {
					if !stopping.Load() {
						s.err = err
					}
					return
				}
			}
		})
	}
	// Let the warm-up's events drain before measuring.
	time.Sleep(500 * time.Millisecond)

	res := &FanoutResult{Subscribers: len(subs)}
	accepted := make([]bool, total)
	var mu sync.Mutex
	// MaxInFlight senders take the messages as they fall due: long-lived
	// goroutines, as a goroutine per message would grow a new stack for
	// every request (a tenth of the client's CPU, on the machine it
	// shares with the server). A message waits for a free sender, as it
	// would for a free connection.
	due := make(chan int)
	var sends sync.WaitGroup
	for range cfg.MaxInFlight {
		sends.Go(func() {
			for k := range due {
				err := post(ctx, k, false)
				mu.Lock()
				if err != nil {
					res.Rejected++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.Accepted++
					accepted[k] = true
				}
				mu.Unlock()
			}
		})
	}
	cpu := cpuWindow(cfg.ServerPID)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for k := range total {
		if ctx.Err() != nil {
			break
		}
		at := start.Add(time.Duration(k) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		} else if -d > res.SenderLag {
			res.SenderLag = -d
		}
		res.Sent++
		due <- k
	}
	close(due)
	res.SendWindow = time.Since(start)
	res.CPU, _ = cpu()
	sends.Wait()
	perWS := make([]int64, nws)
	for k, ok := range accepted {
		if ok {
			perWS[k%nws]++
		}
	}
	for _, s := range subs {
		res.Expected += perWS[s.ws]
	}
	// Wait for the deliveries (or the drain time).
	deadline := time.Now().Add(cfg.Drain)
	for delivered.Load() < res.Expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	stopping.Store(true)
	for _, s := range subs {
		_ = s.conn.Close()
	}
	wg.Wait()
	var last time.Duration
	for _, s := range subs {
		res.Delivered += s.delivered
		res.Duplicates += s.duplicates
		res.Events += s.events
		res.EventGaps += int64(s.gaps) //nolint:gosec // a count of events
		res.Latencies = append(res.Latencies, s.lat...)
		res.FrameBytes += s.bytes
		res.Created += s.createdEvents
		res.CreatedBytes += s.createdBytes
		if res.CreatedSample == nil {
			res.CreatedSample, res.FrameSample = s.sample, s.sampleFrame
		}
		last = max(last, s.last)
		if s.err != nil {
			res.Disconnected++
			if res.DisconnectError == "" {
				res.DisconnectError = s.err.Error()
			}
		}
	}
	res.Missing = res.Expected - res.Delivered
	res.Span = last - start.Sub(base)
	slices.Sort(res.Latencies)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("fanout interrupted: %w", err)
	}
	return res, nil
}

// parallel calls f(0) … f(n-1) from workers goroutines and returns the
// first error; after an error or the end of ctx no new call starts.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var wg sync.WaitGroup
	var next atomic.Int64
	var failed atomic.Bool
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					failed.Store(true)
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// connectSubscribers opens every workspace's WebSocket clients, 32 at a
// time, and reads what each gets before its events.
func connectSubscribers(ctx context.Context, cfg FanoutConfig, total int, srv fanoutServer) ([]*subscriber, error) {
	subs := make([]*subscriber, 0, len(cfg.Workspaces)*cfg.Subscribers)
	for w := range cfg.Workspaces {
		for range cfg.Subscribers {
			subs = append(subs, &subscriber{ws: w, seen: make([]uint64, (total+63)/64),
				lat: make([]time.Duration, 0, total/len(cfg.Workspaces)+16)})
		}
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 16 << 10}
	err := parallel(ctx, len(subs), 32, func(i int) error {
		s := subs[i]
		conn, err := srv.connect(ctx, &d, s)
		s.conn = conn
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		for _, s := range subs {
			if s.conn != nil {
				_ = s.conn.Close()
			}
		}
		return nil, err
	}
	return subs, nil
}
