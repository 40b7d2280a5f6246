package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/stretchr/testify/require"
)

// BenchmarkWidgetRoundTrip measures a web chat message's round trip
// through a real Parley (the built binary, Pebble in a temp dir): 8
// visitors post messages to the visitor API at once, from an allowed
// origin, and an inbox WebSocket waits for each message.created. It
// reports messages per second and the p50 and p99 from the visitor's
// POST to the inbox's event (the synced commit, the conversation actor
// and the broadcaster in between). The AI is off.
//
//	go test -run '^$' -bench WidgetRoundTrip -benchtime 2000x ./gateway
func BenchmarkWidgetRoundTrip(b *testing.B) {
	const token = "pk_bench_owner_token"
	const origin = "https://shop.example"
	// The per-visitor limit (2 a second by default) would measure the
	// limit, not the path: a real visitor types.
	lines := startParley(b, "-addr", "127.0.0.1:0", "-data-dir", b.TempDir(), "-bootstrap-token", token, "-widget-visitor-rate", "1000000")
	base := "http://" + logged(b, lines, regexp.MustCompile(`msg="Parley is running" inbox=http://([0-9.:]+)/`))
	call := func(method, path, bearer string, body any) []byte {
		js, err := json.Marshal(body)
		require.NoError(b, err)
		req, err := http.NewRequest(method, base+path, bytes.NewReader(js))
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(b, err)
		require.Less(b, resp.StatusCode, 300, string(out))
		return out
	}
	call("PUT", "/api/v1/agent", token, map[string]any{"kind": "off"})
	var w struct{ ID string }
	require.NoError(b, json.Unmarshal(call("POST", "/api/v1/widgets", token, map[string]any{"name": "bench", "allowed_origins": []string{origin}}), &w))
	const visitors = 8
	tokens := make([]string, visitors)
	for i := range tokens {
		var s struct{ Token string }
		require.NoError(b, json.Unmarshal(call("POST", "/widget/v1/"+w.ID+"/sessions", "", map[string]any{"page_url": origin + "/"}), &s))
		tokens[i] = s.Token
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws?token="+token+"&channel=webchat", nil)
	require.NoError(b, err)
	defer conn.Close()
	var (
		mu      sync.Mutex
		sentAt  = map[string]time.Time{}
		lat     []time.Duration
		arrived = make(chan struct{}, 1)
	)
	go func() {
		for {
			_, frame, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var evs []struct {
				Type string `json:"type"`
				Data struct {
					Message struct {
						Text string `json:"text"`
					} `json:"message"`
				} `json:"data"`
			}
			if frame[0] != '[' {
				frame = append(append([]byte{'['}, frame...), ']')
			}
			if json.Unmarshal(frame, &evs) != nil {
				continue
			}
			now := time.Now()
			for _, ev := range evs {
				if ev.Type != "message.created" {
					continue
				}
				mu.Lock()
				if t, ok := sentAt[ev.Data.Message.Text]; ok {
					lat = append(lat, now.Sub(t))
					delete(sentAt, ev.Data.Message.Text)
					if len(lat) == b.N {
						arrived <- struct{}{}
					}
				}
				mu.Unlock()
			}
		}
	}()

	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for v := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				text := fmt.Sprintf("bench message %d", i)
				mu.Lock()
				sentAt[text] = time.Now()
				mu.Unlock()
				js, _ := json.Marshal(map[string]any{"client_id": fmt.Sprint(i), "text": text})
				req, _ := http.NewRequest("POST", base+"/widget/v1/"+w.ID+"/messages", bytes.NewReader(js))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Origin", origin)
				req.Header.Set("Authorization", "Bearer "+tokens[v])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d events arrived", len(lat), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}
