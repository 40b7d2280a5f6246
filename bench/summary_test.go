package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSummaryJSON checks latest.json's writer: declared figures not
// measured are null with met null, a ratio target is checked on value ÷
// baseline, a value target on the value, and the counts add up.
func TestSummaryJSON(t *testing.T) {
	when := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	s := NewSummary(Machine{CPU: "test cpu", Cores: 2, When: when, OS: "linux", Arch: "amd64", GoVersion: "go1.x"}, "make bench")
	s.Set("fanout_b_p99", 0.020, 0.025, "Centrifugo v6.9.1")       // ratio 0.8 ≤ 1.0: met
	s.Set("fanout_a_5000_p99", 0.090, 0.030, "")                   // ratio 3.0 > 2.0: missed
	s.Set("fanout_ceiling_deliveries", 120000, 100000, "")         // ratio 1.2 ≥ 1.0: met
	s.Set("ws_idle_memory_per_conn", 20<<10, 44<<10, "Centrifugo") // value 20 KiB > 16 KiB: missed, though the ratio is < 1
	s.Set("ingest_rate_vs_bare", 6000, 20000, "")                  // no target: met stays null
	s.Set("list_first_page_p99", 0.004, 0, "")                     // value target, no baseline: met
	s.Set("fanout_a_2000_p99", 0.010, 0, "")                       // ratio target without a baseline: not checked
	s.Set("extra_figure", 1, 0, "")                                // undeclared: added without a target
	s.Set("restart_to_first_page", nan(), 0, "")                   // NaN: not recorded

	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema  int       `json:"schema"`
		When    time.Time `json:"when"`
		Command string    `json:"command"`
		Machine struct {
			Cores int `json:"cores"`
		} `json:"machine"`
		Figures []struct {
			ID       string   `json:"id"`
			Value    *float64 `json:"value"`
			Baseline *float64 `json:"baseline"`
			Ratio    *float64 `json:"ratio"`
			Target   *float64 `json:"target"`
			Compare  string   `json:"compare"`
			Met      *bool    `json:"met"`
			Scenario string   `json:"scenario"`
		} `json:"figures"`
		Met         int `json:"met"`
		Missed      int `json:"missed"`
		NotMeasured int `json:"not_measured"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("latest.json does not decode: %v\n%s", err, buf.Bytes())
	}
	if got.Schema != SummarySchema || !got.When.Equal(when) || got.Command != "make bench" || got.Machine.Cores != 2 {
		t.Fatalf("header: %+v", got)
	}
	byID := map[string]int{}
	for i, f := range got.Figures {
		if _, dup := byID[f.ID]; dup {
			t.Fatalf("figure %s twice", f.ID)
		}
		byID[f.ID] = i
	}
	for _, spec := range summaryFigures {
		if _, ok := byID[spec.id]; !ok {
			t.Errorf("declared figure %s missing", spec.id)
		}
	}
	met := func(id string) *bool { return got.Figures[byID[id]].Met }
	want := map[string]*bool{
		"fanout_b_p99": ptr(true), "fanout_a_5000_p99": ptr(false), "fanout_ceiling_deliveries": ptr(true),
		"ws_idle_memory_per_conn": ptr(false), "ingest_rate_vs_bare": nil, "list_first_page_p99": ptr(true),
		"fanout_a_2000_p99": nil, "extra_figure": nil, "restart_to_first_page": nil, "search_http_p99": nil,
	}
	for id, w := range want {
		g := met(id)
		if (g == nil) != (w == nil) || (g != nil && *g != *w) {
			t.Errorf("%s: met %v, want %v", id, show(g), show(w))
		}
	}
	if f := got.Figures[byID["fanout_a_5000_p99"]]; f.Ratio == nil || *f.Ratio < 2.99 || *f.Ratio > 3.01 || f.Baseline == nil || *f.Baseline != 0.030 {
		t.Errorf("fanout_a_5000_p99: ratio %v baseline %v, want 3 and 0.030", f.Ratio, f.Baseline)
	}
	if f := got.Figures[byID["search_http_p99"]]; f.Value != nil || f.Ratio != nil || f.Target == nil || *f.Target != 0.030 || f.Compare != AtMost {
		t.Errorf("unmeasured search_http_p99: %+v", f)
	}
	if f := got.Figures[byID["restart_to_first_page"]]; f.Value != nil {
		t.Errorf("NaN recorded: %v", *f.Value)
	}
	if f := got.Figures[byID["fanout_ceiling_deliveries"]]; f.Scenario != "fanout-ceiling" {
		t.Errorf("fanout_ceiling_deliveries scenario %q", f.Scenario)
	}
	// 3 met (fanout_b, the ceiling, the list), 2 missed; the rest
	// with a target, fanout_a_2000_p99 included, are not measured.
	withTarget := 0
	for _, f := range got.Figures {
		if f.Target != nil {
			withTarget++
		}
	}
	if got.Met != 3 || got.Missed != 2 || got.NotMeasured != withTarget-5 {
		t.Errorf("counts: met %d missed %d not measured %d (of %d with a target)", got.Met, got.Missed, got.NotMeasured, withTarget)
	}

	// WriteFile writes the same beside the report.
	path := SummaryPath(filepath.Join(t.TempDir(), "latest.md"))
	if filepath.Base(path) != "latest.json" {
		t.Fatalf("SummaryPath: %s", path)
	}
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, buf.Bytes()) {
		t.Fatalf("WriteFile wrote something else (%v)", err)
	}
}

func ptr[T any](v T) *T { return &v }

func show(b *bool) string {
	if b == nil {
		return "null"
	}
	if *b {
		return "true"
	}
	return "false"
}

func nan() float64 { z := 0.0; return z / z }
