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
	eventStart   = []byte(`{"seq":`)
	typeCreated  = []byte(`"type":"message.created"`)
	typeField    = []byte(`"type":"`)
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
}

// handle records the message.created events of one frame received at
// at (since base).
func (s *subscriber) handle(frame []byte, at time.Duration) {
	s.checkSeqs(frame)
	for rest := frame; ; {
		i := bytes.Index(rest, typeCreated)
		if i < 0 {
			return
		}
		rest = rest[i+len(typeCreated):]
		// The marker of this event's message comes before the next
		// event's type.
		end := bytes.Index(rest, typeField)
		if end < 0 {
			end = len(rest)
		}
		j := bytes.Index(rest[:end], markMeasured)
		if j < 0 {
			continue
		}
		k, sent, ok := parseMark(rest[j+len(markMeasured) : end])
		if !ok || k >= uint64(len(s.seen))*64 {
			continue
		}
		if s.seen[k/64]&(1<<(k%64)) != 0 {
			s.duplicates++
			continue
		}
		s.seen[k/64] |= 1 << (k % 64)
		s.delivered++
		s.lat = append(s.lat, at-sent)
		s.last = at
	}
}

// checkSeqs counts the events of a frame and checks that their seqs
// follow on from the last one seen. An event starts with {"seq":N,"type":
// (the seq of a message inside one is not followed by its type).
func (s *subscriber) checkSeqs(frame []byte) {
	for rest := frame; ; {
		i := bytes.Index(rest, eventStart)
		if i < 0 {
			return
		}
		rest = rest[i+len(eventStart):]
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		if !bytes.HasPrefix(rest[end:], []byte(`,"type":`)) {
			continue
		}
		seq, err := strconv.ParseUint(string(rest[:end]), 10, 64)
		if err != nil {
			continue
		}
		s.events++
		switch {
		case seq > s.next:
			s.gaps += seq - s.next
		case seq < s.next:
			s.gaps++
		}
		s.next = seq + 1
	}
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
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.MaxInFlight, MaxConnsPerHost: cfg.MaxInFlight, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	base := time.Now()
	// post sends message k of the run (or of the warm-up), stamped with
	// the time it is sent.
	post := func(ctx context.Context, k int, warm bool) error {
		w := cfg.Workspaces[k%nws]
		user := (k / nws) % cfg.Customers
		mark := "pbm"
		if warm {
			mark = "pbw"
		}
		text := fmt.Sprintf("%s:%d:%d fan-out probe", mark, k, time.Since(base))
		body, h := WhatsAppWebhook(w.PhoneID, fmt.Sprintf("wamid.fanout.%d.%s.%d", base.UnixNano(), mark, k), user, text)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+cfg.Addr+"/webhooks/whatsapp", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("webhook answered %d: %s", resp.StatusCode, b)
		}
		return nil
	}

	// Warm up: one message per conversation, closed loop, before anyone
	// subscribes.
	if err := parallel(ctx, nws*cfg.Customers, 32, func(k int) error { return post(ctx, k, true) }); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}

	subs, err := connectSubscribers(ctx, cfg, total)
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
				if err != nil {
					if !stopping.Load() {
						s.err = err
					}
					return
				}
				before := s.delivered
				s.handle(buf.Bytes(), time.Since(base))
				delivered.Add(s.delivered - before)
			}
		})
	}
	// Let the warm-up's events drain before measuring.
	time.Sleep(500 * time.Millisecond)

	res := &FanoutResult{Subscribers: len(subs)}
	accepted := make([]bool, total)
	var mu sync.Mutex
	var sends sync.WaitGroup
	sem := make(chan struct{}, cfg.MaxInFlight)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for k := range total {
		if ctx.Err() != nil {
			break
		}
		due := start.Add(time.Duration(k) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if -d > res.SenderLag {
			res.SenderLag = -d
		}
		sem <- struct{}{}
		res.Sent++
		sends.Go(func() {
			defer func() { <-sem }()
			err := post(ctx, k, false)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Rejected++
				if res.FirstError == "" {
					res.FirstError = err.Error()
				}
				return
			}
			res.Accepted++
			accepted[k] = true
		})
	}
	res.SendWindow = time.Since(start)
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
// time, and reads each one's hello frame.
func connectSubscribers(ctx context.Context, cfg FanoutConfig, total int) ([]*subscriber, error) {
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
		url := "ws://" + cfg.Addr + "/api/v1/ws?token=" + cfg.Workspaces[s.ws].Token
		conn, _, err := d.DialContext(ctx, url, nil)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		s.conn = conn
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
