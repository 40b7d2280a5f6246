package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// FakeGraph plays the WhatsApp Cloud API send endpoint for the outbound
// benchmark: every send succeeds at once with a fresh message id, and it
// counts them.
type FakeGraph struct {
	srv   *http.Server
	ln    net.Listener
	sends atomic.Int64
	URL   string
}

// StartFakeGraph serves the fake on a free 127.0.0.1 port.
func StartFakeGraph() (*FakeGraph, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake Graph API: %w", err)
	}
	g := &FakeGraph{ln: ln, URL: "http://" + ln.Addr().String()}
	g.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := g.sends.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":"wamid.out.%d"}]}`, n)
	})}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// Sends is how many send calls the fake answered.
func (g *FakeGraph) Sends() int64 { return g.sends.Load() }

// Close stops the fake.
func (g *FakeGraph) Close() error { return g.srv.Close() }

// apiRequest calls Parley's REST API with the benchmark's owner token and
// decodes a 2xx answer into out (if not nil).
func apiRequest(ctx context.Context, method, url string, body []byte, out any) error {
	code, b, err := apiCall(ctx, method, url, body)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, code, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// apiCall calls Parley's REST API with the benchmark's owner token.
func apiCall(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytesReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+BenchToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// postWebhook posts a signed one-message webhook and wants a 200; with
// at set, it stores the time of posting there first.
func postWebhook(ctx context.Context, addr, wamid string, user int, at *atomic.Int64) error {
	body, h := WhatsAppTextWebhook(wamid, user)
	if at != nil {
		at.Store(time.Now().UnixNano())
	}
	_, err := postOK(ctx, http.DefaultClient, "http://"+addr+"/webhooks/whatsapp", body, h)
	return err
}

// Conversations opens n conversations with one webhook each and returns
// their ids.
func Conversations(ctx context.Context, addr string, n int) ([]string, error) {
	for i := range n {
		if err := postWebhook(ctx, addr, fmt.Sprintf("wamid.open.%d", i), 900000+i, nil); err != nil {
			return nil, fmt.Errorf("opening conversation %d: %w", i, err)
		}
	}
	var ids []string
	cursor := ""
	for len(ids) < n {
		var page struct {
			Conversations []struct {
				ID string `json:"id"`
			} `json:"conversations"`
			NextCursor string `json:"next_cursor"`
		}
		if err := apiRequest(ctx, http.MethodGet, "http://"+addr+"/api/v1/conversations?limit=200&cursor="+cursor, nil, &page); err != nil {
			return nil, err
		}
		for _, c := range page.Conversations {
			ids = append(ids, c.ID)
		}
		if page.NextCursor == "" || len(page.Conversations) == 0 {
			break
		}
		cursor = page.NextCursor
	}
	if len(ids) < n {
		return nil, fmt.Errorf("listed %d of %d conversations", len(ids), n)
	}
	return ids[:n], nil
}

// SendMessageRequest is the body and headers of a human reply sent over
// the REST API.
func SendMessageRequest(i int64) ([]byte, http.Header) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+BenchToken)
	h.Set("Content-Type", "application/json")
	return fmt.Appendf(nil, `{"text":"Your order %d has shipped."}`, i), h
}

// WSResult is what the inbound → WebSocket benchmark measured.
type WSResult struct {
	Subscribers int
	Messages    int
	Delivered   int
	Latencies   []time.Duration // sorted, one per message per subscriber
}

var wsWamidRe = regexp.MustCompile(`"wamid\.ws\.(\d+)"`)

// RunWebSocket connects subs WebSocket subscribers to addr, then posts
// messages signed webhooks one at a time at most every gap, and measures
// for each subscriber the time from posting a webhook to receiving its
// message.created event.
func RunWebSocket(ctx context.Context, addr string, subs, messages int, gap time.Duration) (WSResult, error) {
	res := WSResult{Subscribers: subs, Messages: messages}
	sent := make([]atomic.Int64, messages) // unix nanos when posted
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
	)
	conns := make([]*websocket.Conn, 0, subs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	for range subs {
		c, _, err := d.DialContext(ctx, "ws://"+addr+"/api/v1/ws?token="+BenchToken, nil)
		if err != nil {
			return res, fmt.Errorf("subscribing: %w", err)
		}
		conns = append(conns, c)
		wg.Go(func() {
			seen := make([]bool, messages)
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			}()
			for {
				_, frame, err := c.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				for _, m := range wsWamidRe.FindAllSubmatch(frame, -1) {
					i, _ := strconv.Atoi(string(m[1]))
					if i < 0 || i >= messages || seen[i] || sent[i].Load() == 0 {
						continue
					}
					seen[i] = true
					mine = append(mine, time.Duration(now-sent[i].Load()))
				}
			}
		})
	}
	for i := range messages {
		if err := postWebhook(ctx, addr, fmt.Sprintf("wamid.ws.%d", i), 800000+i%100, &sent[i]); err != nil {
			return res, fmt.Errorf("webhook %d: %w", i, err)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(gap):
		}
	}
	// Give the last events time to arrive, then close the subscribers.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(time.Second):
	}
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	conns = nil
	slices.Sort(lats)
	res.Latencies, res.Delivered = lats, len(lats)
	if res.Delivered == 0 {
		return res, errors.New("no subscriber received an event")
	}
	return res, nil
}

func bytesReader(b []byte) io.Reader {
	if b == nil {
		return http.NoBody
	}
	return bytes.NewReader(b)
}
