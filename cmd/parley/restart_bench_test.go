package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/bench"
)

// BenchmarkRestart measures a restart on a data directory of realistic
// size: from exec of the binary to /readyz answering 200 (ready-ms), to
// the first inbox page served (first-page-ms: GET
// /api/v1/conversations, 50 items), and the stop, SIGTERM to exit
// (stop-ms). The inbox holds PARLEY_RESTART_CONVS conversations (20,000
// unless set) of about four messages, generated straight into the store
// once (bench.GenerateInbox; about 20 s for 20,000 on 2 cores); the
// first start on it does the store's one-time work. Each figure is the
// median over the iterations; -v logs each one.
func BenchmarkRestart(b *testing.B) {
	convs := 20_000
	if v := os.Getenv("PARLEY_RESTART_CONVS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("PARLEY_RESTART_CONVS=%q", v)
		}
		convs = n
	}
	// Beside the binary, removed with it by TestMain: the benchmark's
	// rounds (b.N 1, then more) generate it once and reuse it.
	dir := filepath.Join(filepath.Dir(binary), fmt.Sprintf("restart-inbox-%d", convs))
	t0 := time.Now()
	in, err := bench.GenerateInbox(context.Background(), dir, bench.InboxConfig{Convs: convs, PerConv: 4}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if in.Generated > 0 {
		b.Logf("generated %d conversations, %d messages in %v", in.Convs, in.Messages, time.Since(t0).Round(time.Millisecond))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var ready, first, stop []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, f, s, err := restartOnce(cl, addr, dir, in.Workspace.Token)
		if err != nil {
			b.Fatalf("start %d: %v", i+1, err)
		}
		ready, first, stop = append(ready, r), append(first, f), append(stop, s)
		b.Logf("start %d: /readyz 200 after %v, first inbox page after %v; stopped in %v", i+1,
			r.Round(time.Millisecond), f.Round(time.Millisecond), s.Round(time.Millisecond))
	}
	b.StopTimer()
	median := func(ds []time.Duration) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	b.ReportMetric(median(ready), "ready-ms")
	b.ReportMetric(median(first), "first-page-ms")
	b.ReportMetric(median(stop), "stop-ms")
	b.ReportMetric(0, "ns/op")
}

// restartOnce execs the binary on dataDir, times /readyz 200 and the
// first inbox page from the exec, then stops it with SIGTERM and times
// the exit.
func restartOnce(cl *http.Client, addr, dataDir, token string) (ready, first, stop time.Duration, err error) {
	cmd := exec.Command(binary, "-addr", addr, "-data-dir", dataDir)
	cmd.Env = append(os.Environ(), "PARLEY_GRAPH_API_URL=http://127.0.0.1:9")
	cmd.Stderr = io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = cmd.Process.Kill() }()
	for {
		resp, gerr := cl.Get("http://" + addr + "/readyz")
		if gerr == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(t0) > 30*time.Second {
			return 0, 0, 0, fmt.Errorf("not ready after 30 s (%v)", gerr)
		}
		time.Sleep(time.Millisecond)
	}
	ready = time.Since(t0)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/conversations?limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cl.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || strings.Count(string(body), `"external_user_id"`) != 50 {
		return 0, 0, 0, fmt.Errorf("inbox page: %d %v: %.200s", resp.StatusCode, err, body)
	}
	first = time.Since(t0)
	t1 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, 0, 0, err
	}
	if err := cmd.Wait(); err != nil {
		return 0, 0, 0, fmt.Errorf("exit after SIGTERM: %w", err)
	}
	return ready, first, time.Since(t1), nil
}
