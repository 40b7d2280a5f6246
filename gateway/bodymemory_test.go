package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// heapPeak samples the heap in use until stopped and keeps the highest.
type heapPeak struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > h.peak.Load() {
				h.peak.Store(m.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// settle waits until the peak has not grown for quiet (at most limit).
func (h *heapPeak) settle(quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := h.peak.Load(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < quiet {
		time.Sleep(10 * time.Millisecond)
		if p := h.peak.Load(); p != last {
			last, since = p, time.Now()
		}
	}
}

func (h *heapPeak) end() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// Many concurrent chunked webhook bodies that do not finish (what a slow
// or hostile client sends before any signature can be checked) hold at
// most the body memory bound between them: past it they are answered 503
// with Retry-After, and the heap grows by about the bound instead of by
// every body.
func TestUnauthenticatedBodiesHoldBoundedMemory(t *testing.T) {
	// Not parallel: it measures the process's heap.
	const conns, perBody, budget = 64, 240 << 10, 1 << 20
	heapBound := 6 << 20 // the budget, and each connection's buffers
	if raceDetector {
		heapBound *= 2 // still well under what every body held (23 MiB)
	}
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.BodyMemory = budget; c.Registerer = reg })
	host := strings.TrimPrefix(e.url, "http://")

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	heap := watchHeap()

	type result struct {
		status     int
		retryAfter string
		body       []byte
		err        error
	}
	results := make(chan result, conns)
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	var written sync.WaitGroup
	open := make([]net.Conn, 0, conns)
	for range conns {
		c, err := net.Dial("tcp", host)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		open = append(open, c)
		_, err = fmt.Fprintf(c, "POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature-256: %s\r\nTransfer-Encoding: chunked\r\n\r\n", signFor("x"))
		require.NoError(t, err)
		go func() {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b, err: err}
		}()
		written.Add(1)
		go func() {
			defer written.Done()
			for sent := 0; sent < perBody; sent += len(chunk) {
				if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return // refused and closed
				}
			}
		}()
	}
	written.Wait()
	// Every body is on its way; the server reads what it takes.
	heap.settle(300*time.Millisecond, 5*time.Second)
	peak := heap.end()
	grew := int64(peak) - int64(base.HeapInuse)
	t.Logf("%d chunked bodies of %d KiB held open: heap in use grew by %.1f MiB at its peak (bound %d MiB, body memory %d MiB)",
		conns, perBody>>10, float64(grew)/(1<<20), heapBound>>20, budget>>20)
	require.Less(t, grew, int64(heapBound), "unauthenticated bodies held more than the bound")

	// The bodies end; the ones still read are not signed: 401.
	for _, c := range open {
		_, _ = io.WriteString(c, "0\r\n\r\n")
	}
	refused, unsigned := 0, 0
	for range conns {
		r := <-results
		switch {
		case r.err != nil: // refused and reset before its answer was read
		case r.status == http.StatusServiceUnavailable:
			refused++
			require.Equal(t, "1", r.retryAfter)
			require.Equal(t, "overloaded", errorCode(t, r.body))
		case r.status == http.StatusUnauthorized:
			unsigned++
		default:
			t.Fatalf("unexpected answer %d: %s", r.status, r.body)
		}
	}
	counted := int(metricValue(t, reg, "parley_gateway_request_body_memory_refusals_total"))
	t.Logf("answered 503: %d seen by the clients, %d counted by the server; 401: %d", refused, counted, unsigned)
	require.Positive(t, refused, "a refusal is a 503 the client can read")
	require.GreaterOrEqual(t, counted, conns/2, "bodies past the bound are refused")
	require.LessOrEqual(t, unsigned, budget/(64<<10), "no more bodies than the bound holds were read whole")
	n, err := e.store.CountConversations(e.ws)
	require.NoError(t, err)
	require.Zero(t, n)

	// Everything reserved is given back: a large signed delivery goes
	// through, by Content-Length and chunked.
	eventually(t, 5*time.Second, func() error {
		if v := metricValue(t, reg, "parley_gateway_request_body_memory_bytes"); v != 0 {
			return fmt.Errorf("%v bytes still reserved", v)
		}
		return nil
	})
	big := waText("wamid.big.1", "1555200", "Big", "hello")
	big = big[:len(big)-1] + strings.Repeat(" ", 200<<10) + "}"
	code, body := e.webhook(engine.ChannelWhatsApp, big)
	require.Equal(t, http.StatusOK, code, string(body))
	big2 := strings.Replace(big, "wamid.big.1", "wamid.big.2", 1) // posted chunked: its length unknown
	req, err := http.NewRequest("POST", e.url+"/webhooks/whatsapp", io.MultiReader(strings.NewReader(big2)))
	require.NoError(t, err)
	req.Header.Set("X-Hub-Signature-256", signFor(big2))
	code, body = e.do(req)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, e.messages(e.thread(engine.ChannelWhatsApp, phoneID, "1555200")), 2)
}

// metricValue is the value of a registered counter or gauge.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
