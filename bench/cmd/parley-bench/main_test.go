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
