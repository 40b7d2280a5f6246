package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bench"
)

func TestIngestBudget(t *testing.T) {
	// Bare: 40,000 req/s over 10 s with 1.8 cores busy. Parley: 10,000
	// msgs/s with its generator and the rest at 50 µs per message.
	bare := bench.LoadResult{Requests: 400_000, Elapsed: 10 * time.Second,
		CPU: bench.CPUUse{Wall: 10 * time.Second, Cores: 2, Server: 6, Generator: 11, Other: 1, Idle: 2}}
	parley := bench.LoadResult{Requests: 100_000, Elapsed: 10 * time.Second,
		CPU: bench.CPUUse{Wall: 10 * time.Second, Cores: 2, Server: 13, Generator: 4.5, Other: 0.5, Idle: 2}}
	b, ok := budgetOf(bare, parley)
	if !ok {
		t.Fatal("no budget")
	}
	// 20,000 msgs/s on 1.8 cores is 90 µs per message, 50 of them the
	// generator's and the rest's: 40 µs are left for the server, which
	// used 130.
	if b.target != 20000 || b.busyCores != 1.8 || b.others != 50*time.Microsecond || b.server != 40*time.Microsecond || b.used != 130*time.Microsecond {
		t.Fatalf("budget = %+v", b)
	}
	var w bytes.Buffer
	writeIngestBudget(&w, bare, parley)
	if !strings.Contains(w.String(), "40µs of CPU per message; it used 130µs (3.2× the budget)") {
		t.Fatalf("report: %s", w.String())
	}
	// A generator that takes the whole budget leaves the server nothing.
	parley.CPU.Generator = 9.5
	w.Reset()
	writeIngestBudget(&w, bare, parley)
	if !strings.Contains(w.String(), "leaving nothing for the server") {
		t.Fatalf("report: %s", w.String())
	}
	// Without CPU figures there is no budget line.
	w.Reset()
	writeIngestBudget(&w, bench.LoadResult{Requests: 1, Elapsed: time.Second}, parley)
	if w.Len() != 0 {
		t.Fatalf("report without figures: %s", w.String())
	}
}

// The list-1m scenario's figures land in the summary with their verdicts:
// a restart and the worst search shape within their targets, the kill -9
// restart and the RSS reported without one.
func TestNoteScale(t *testing.T) {
	sum := bench.NewSummary(bench.Machine{}, "test")
	restart := bench.RestartResult{Ready: 80 * time.Millisecond, FirstPage: 90 * time.Millisecond}
	killed := bench.RestartResult{Ready: 120 * time.Millisecond, FirstPage: 140 * time.Millisecond}
	searches := []bench.SearchResult{
		{Latencies: bench.Latencies{time.Millisecond, 4 * time.Millisecond}},
		{Latencies: bench.Latencies{2 * time.Millisecond, 41 * time.Millisecond}},
	}
	noteScale(sum, restart, killed, searches, 400<<20)
	for id, want := range map[string]float64{"restart_to_first_page": 0.09, "restart_after_kill": 0.14,
		"search_http_p99": 0.041, "memory_rss_1m_conversations": 400 << 20} {
		f, ok := sum.Figure(id)
		if !ok || f.Value == nil || *f.Value != want {
			t.Fatalf("%s = %+v, want %v", id, f, want)
		}
	}
	if f, _ := sum.Figure("restart_to_first_page"); f.Met == nil || !*f.Met {
		t.Fatalf("a 90 ms restart meets the 2 s target: %+v", f)
	}
	if f, _ := sum.Figure("search_http_p99"); f.Met == nil || *f.Met {
		t.Fatalf("a 41 ms search p99 misses the 30 ms target: %+v", f)
	}
}
