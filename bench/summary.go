package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// SummarySchema is the version of latest.json's layout (documented in
// bench/results/README.md, "latest.json"). It changes only when a field
// changes meaning or goes away; new figures and new fields keep it.
const SummarySchema = 1

// Summary is the machine-readable summary of a `make bench` run: every
// figure of the performance targets, measured or not (null), with its
// baseline, ratio, target and verdict, so that a run can be checked
// without reading the markdown report. Scenarios fill the figures they
// measure with Set; it is safe for concurrent use.
type Summary struct {
	mu      sync.Mutex
	machine Machine
	command string
	figures []*Figure
	byID    map[string]*Figure
}

// Figure is one figure of a run. Value and Baseline are in Unit (base
// units: seconds, bytes, per second, or a bare ratio). When the target is
// on the ratio (TargetOf "ratio"), Ratio = Value ÷ Baseline is compared
// with Target; when it is on the value, Value is. Met is null when the
// figure was not measured in the run or has no target (Target null).
type Figure struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// Scenario is the parley-bench scenario (make bench SCENARIOS=…)
	// that measures it.
	Scenario string `json:"scenario"`
	Unit     string `json:"unit"`
	// Value is this run's figure, null when not measured.
	Value *float64 `json:"value"`
	// Baseline is what Value is compared with, measured in the same run
	// (Centrifugo, the durable floor, ...), named by BaselineName.
	Baseline     *float64 `json:"baseline"`
	BaselineName string   `json:"baseline_name,omitempty"`
	Ratio        *float64 `json:"ratio"`
	// Target is the bound, Compare how it binds ("<=" or ">="),
	// TargetOf what it binds ("value" or "ratio").
	Target   *float64 `json:"target"`
	Compare  string   `json:"compare,omitempty"`
	TargetOf string   `json:"target_of,omitempty"`
	Met      *bool    `json:"met"`
}

// Comparisons of a Figure's target.
const (
	AtMost  = "<="
	AtLeast = ">="
)

// figureSpec declares a figure before it is measured.
type figureSpec struct {
	id, desc, scenario, unit, baselineName string
	target                                 float64 // NaN: no target
	compare, targetOf                      string
}

func noTarget() float64 { return math.NaN() }

// summaryFigures are the figures of issue 21's targets, in the order
// latest.json lists them. Scenarios may add others (SetFigure).
var summaryFigures = []figureSpec{
	{"ingest_server_cpu_per_msg", "Webhook ingest: Parley's server CPU per durable inbound message ÷ the durable floor's server CPU per request", "webhook", "seconds", "durable floor (Fiber + synced Pebble write)", 2.0, AtMost, "ratio"},
	{"ingest_rate_vs_bare", "Webhook ingest: Parley msgs/s ÷ bare Fiber req/s (reported, no target)", "webhook", "per_second", "bare Fiber", noTarget(), "", ""},
	{"ingest_rate_vs_floor", "Webhook ingest: Parley msgs/s ÷ the durable floor's req/s (reported, no target)", "webhook", "per_second", "durable floor (Fiber + synced Pebble write)", noTarget(), "", ""},
	{"fanout_a_2000_server_cpu_per_msg", "Fan-out 100 workspaces × 10 subscribers at 2,000 msgs/s: server CPU per inbound message (its deliveries included) ÷ Centrifugo's", "fanout-a", "seconds", "Centrifugo", 1.0, AtMost, "ratio"},
	{"fanout_a_2000_p99", "Fan-out 100 × 10 at 2,000 msgs/s: p99 webhook sent → delivery ÷ Centrifugo's", "fanout-a", "seconds", "Centrifugo", 1.5, AtMost, "ratio"},
	{"fanout_a_5000_server_cpu_per_msg", "Fan-out 100 × 10 at 5,000 msgs/s: server CPU per inbound message ÷ Centrifugo's", "fanout-a", "seconds", "Centrifugo", 1.0, AtMost, "ratio"},
	{"fanout_a_5000_p99", "Fan-out 100 × 10 at 5,000 msgs/s: p99 ÷ Centrifugo's", "fanout-a", "seconds", "Centrifugo", 2.0, AtMost, "ratio"},
	{"fanout_b_p99", "Fan-out 1 × 1,000 at 50 msgs/s: p99 ÷ Centrifugo's", "fanout-b", "seconds", "Centrifugo", 1.0, AtMost, "ratio"},
	{"fanout_ceiling_deliveries", "Fan-out ceiling, 1 workspace × 1,000 subscribers: deliveries/s at the highest inbound rate with no subscriber dropped and p99 ≤ 100 ms, ÷ Centrifugo's", "fanout-ceiling", "per_second", "Centrifugo", 1.0, AtLeast, "ratio"},
	{"ws_idle_memory_per_conn", "Memory per idle WebSocket: server RSS growth ÷ subscribers, 10,000 idle subscribers (Centrifugo's the baseline, reported)", "ws-idle", "bytes", "Centrifugo", 16 << 10, AtMost, "value"},
	{"restart_to_first_page", "Restart with 1M conversations and 10M messages: exec → /readyz 200 and the first inbox page", "restart", "seconds", "", 2.0, AtMost, "value"},
	{"restart_after_kill", "Restart after kill -9 under load, same data (reported, no target)", "restart", "seconds", "", noTarget(), "", ""},
	{"search_http_p99", "Search over HTTP at 10M messages: the worst shape's p99", "search-http", "seconds", "", 0.030, AtMost, "value"},
	{"list_first_page_p99", "Inbox list first page at 1M conversations: the worst filter's p99", "list-1m", "seconds", "", 0.005, AtMost, "value"},
	{"memory_rss_1m_conversations", "Server RSS with 1M conversations, 10,000 of them active (reported, no target)", "memory-scale", "bytes", "", noTarget(), "", ""},
	{"heap_per_passivated_conversation", "Heap per passivated conversation: heap growth per conversation added and passivated, over 40,000 (BenchmarkActorHeap, B/passivated; Pebble's caches included)", "go", "bytes", "", 0, AtMost, "value"},
}

// NewSummary returns a summary with every figure of summaryFigures
// declared and none measured.
func NewSummary(m Machine, command string) *Summary {
	s := &Summary{machine: m, command: command, byID: map[string]*Figure{}}
	for _, f := range summaryFigures {
		s.declare(f)
	}
	return s
}

func (s *Summary) declare(spec figureSpec) *Figure {
	f := &Figure{ID: spec.id, Description: spec.desc, Scenario: spec.scenario, Unit: spec.unit, BaselineName: spec.baselineName}
	if !math.IsNaN(spec.target) {
		t := spec.target
		f.Target, f.Compare, f.TargetOf = &t, spec.compare, spec.targetOf
	}
	s.figures = append(s.figures, f)
	s.byID[f.ID] = f
	return f
}

// Set records figure id's value and, if baseline > 0, its baseline
// (named baselineName when not empty; the declared name otherwise). A
// figure that was not declared is added without a target. NaN or
// infinite values are not recorded.
func (s *Summary) Set(id string, value, baseline float64, baselineName string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.byID[id]
	if !ok {
		f = s.declare(figureSpec{id: id, desc: id, unit: "", target: noTarget()})
	}
	v := value
	f.Value, f.Baseline, f.Ratio, f.Met = &v, nil, nil, nil
	if baselineName != "" {
		f.BaselineName = baselineName
	}
	if baseline > 0 && !math.IsInf(baseline, 0) {
		b, r := baseline, value/baseline
		f.Baseline, f.Ratio = &b, &r
	}
	if f.Target == nil {
		return
	}
	x := f.Value
	if f.TargetOf == "ratio" {
		x = f.Ratio
	}
	if x == nil {
		return // a ratio target without a baseline: not checked
	}
	met := *x <= *f.Target
	if f.Compare == AtLeast {
		met = *x >= *f.Target
	}
	f.Met = &met
}

// Figure returns a copy of figure id and whether it is declared.
func (s *Summary) Figure(id string) (Figure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.byID[id]
	if !ok {
		return Figure{}, false
	}
	return *f, true
}

// summaryJSON is latest.json's top level.
type summaryJSON struct {
	Schema  int         `json:"schema"`
	When    time.Time   `json:"when"`
	Machine machineJSON `json:"machine"`
	Command string      `json:"command"`
	Figures []*Figure   `json:"figures"`
	// Met, Missed and NotMeasured count the figures with a target.
	Met         int `json:"met"`
	Missed      int `json:"missed"`
	NotMeasured int `json:"not_measured"`
}

type machineJSON struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemTotalKB int64  `json:"mem_total_kb"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	GoVersion  string `json:"go_version"`
}

// WriteJSON writes the summary as JSON (latest.json's layout).
func (s *Summary) WriteJSON(w io.Writer) error {
	s.mu.Lock()
	out := summaryJSON{Schema: SummarySchema, When: s.machine.When.UTC(), Command: s.command, Figures: s.figures,
		Machine: machineJSON{CPU: s.machine.CPU, Cores: s.machine.Cores, MemTotalKB: s.machine.MemTotalKB,
			OS: s.machine.OS, Arch: s.machine.Arch, GoVersion: s.machine.GoVersion}}
	for _, f := range s.figures {
		switch {
		case f.Target == nil:
		case f.Met == nil:
			out.NotMeasured++
		case *f.Met:
			out.Met++
		default:
			out.Missed++
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<=" as written
	enc.SetIndent("", "  ")
	err := enc.Encode(out)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encoding the summary: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// SummaryPath is where the summary of a markdown report at out goes:
// beside it, with the extension .json (latest.md → latest.json).
func SummaryPath(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".json"
}

// WriteFile writes the summary to path.
func (s *Summary) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	if err := s.WriteJSON(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	return nil
}
