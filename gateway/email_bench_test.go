package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// BenchmarkEmailSMTPIngest sends mails to the SMTP receiver of a real
// Parley (Pebble in a temp dir) from 8 connections at once, each mail a
// new thread of a new sender, and reports mails per second and the 99th
// percentile from the end of DATA to the 250 (the durable commit).
//
//	go test -run '^$' -bench EmailSMTPIngest -benchtime 2000x ./gateway
func BenchmarkEmailSMTPIngest(b *testing.B) {
	const token = "pk_bench_owner_token"
	lines := startParley(b, "-addr", "127.0.0.1:0", "-data-dir", b.TempDir(), "-bootstrap-token", token, "-smtp-addr", "127.0.0.1:0")
	addr := logged(b, lines, regexp.MustCompile(`msg="SMTP receiver" addr=([0-9.:]+)`))
	url := "http://" + logged(b, lines, regexp.MustCompile(`msg="Parley is running" inbox=http://([0-9.:]+)/`))
	acct, _ := json.Marshal(map[string]any{"channel": "email", "account_id": shopAddr, "name": "bench", "access_token": "pw",
		"email": map[string]any{"smtp_host": "127.0.0.1", "smtp_port": 9}})
	req, err := http.NewRequest(http.MethodPost, url+"/api/v1/channels", bytes.NewReader(acct))
	require.NoError(b, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	resp.Body.Close()
	require.Equal(b, http.StatusCreated, resp.StatusCode)
	const conns = 8
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				from := fmt.Sprintf("customer%d@example.com", i)
				raw := mailFrom(from, fmt.Sprintf("Question %d", i), fmt.Sprintf("bench.%d@example.com", i), "",
					"Hello, I would like to know where my order is. It was due yesterday.\n\nThanks,\nA customer")
				if err := c.Mail(from, nil); err != nil {
					b.Error(err)
					return
				}
				if err := c.Rcpt(shopAddr, nil); err != nil {
					b.Error(err)
					return
				}
				wc, err := c.Data()
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := wc.Write(raw); err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				if err := wc.Close(); err != nil { // the 250 comes after the commit
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "mails/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
}
