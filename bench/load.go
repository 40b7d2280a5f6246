package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig describes a closed-loop HTTP load: Concurrency workers each
// send a request, wait for the answer, and send the next, for Duration.
type LoadConfig struct {
	URL         string
	Concurrency int
	Duration    time.Duration
	// Warmup runs first and is not measured.
	Warmup time.Duration
	// Request builds the i-th request's body and headers.
	Request func(i int64) (body []byte, header http.Header)
	// Target, if set, gives the i-th request's URL instead of URL.
	Target func(i int64) string
	// ServerPID, if set, is the server's process: the run then measures
	// the CPU time it, the load generator and the rest of the machine
	// use in the measured window (LoadResult.CPU).
	ServerPID int
}

// LoadResult is what a load run measured.
type LoadResult struct {
	Requests  int64
	Errors    int64
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
	// FirstError describes the first failed request, if any.
	FirstError string
	// CPU is where the machine's CPU time went in the measured window
	// (zero unless LoadConfig.ServerPID was set).
	CPU CPUUse
}

// Rate is successful requests per second.
func (r LoadResult) Rate() float64 {
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile latency (0 < p < 100).
func (r LoadResult) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

// RunLoad drives the load and returns what it measured. A non-2xx answer
// counts as an error.
func RunLoad(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var seq atomic.Int64
	run := func(d time.Duration, record bool) LoadResult {
		var (
			mu   sync.Mutex
			res  LoadResult
			wg   sync.WaitGroup
			stop = time.Now().Add(d)
		)
		start := time.Now()
		for range cfg.Concurrency {
			wg.Go(func() {
				lat := make([]time.Duration, 0, 4096)
				var n, errs int64
				var first string
				fail := func(what string) {
					errs++
					if first == "" {
						first = what
					}
				}
				for time.Now().Before(stop) && ctx.Err() == nil {
					i := seq.Add(1)
					body, h := cfg.Request(i)
					url := cfg.URL
					if cfg.Target != nil {
						url = cfg.Target(i)
					}
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
					if err != nil {
						fail(err.Error())
						continue
					}
					for k, v := range h {
						req.Header[k] = v
					}
					t0 := time.Now()
					resp, err := client.Do(req)
					n++
					if err != nil {
						fail(err.Error())
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						fail(fmt.Sprintf("%d %s", resp.StatusCode, b))
						continue
					}
					lat = append(lat, time.Since(t0))
				}
				if record {
					mu.Lock()
					res.Requests += n
					res.Errors += errs
					res.Latencies = append(res.Latencies, lat...)
					if res.FirstError == "" {
						res.FirstError = first
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		res.Elapsed = time.Since(start)
		slices.Sort(res.Latencies)
		return res
	}
	if cfg.Warmup > 0 {
		run(cfg.Warmup, false)
	}
	cpu := cpuWindow(cfg.ServerPID)
	res := run(cfg.Duration, true)
	res.CPU, _ = cpu()
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("load interrupted: %w", err)
	}
	return res, nil
}
