package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Result is one benchmark line of `go test -bench` output.
type Result struct {
	Package string
	Name    string
	N       int64
	// Metrics maps a unit ("ns/op", "msgs/s", "ratio"...) to its value.
	Metrics map[string]float64
}

// Parse reads `go test -bench` output (as printed, not -json) and returns
// the benchmark results in order. Lines that are not results are ignored,
// except "pkg:" lines, which name the package of the results after them.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if res, ok := parseLine(line); ok {
			res.Package = pkg
			out = append(out, res)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: reading output: %w", err)
	}
	return out, nil
}

func parseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Result{}, false
	}
	name := f[0]
	if i := strings.LastIndex(name, "-"); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
	}
	res := Result{Name: name, N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Metrics[f[i+1]] = v
	}
	return res, true
}

// Machine describes where a report was made.
type Machine struct {
	CPU        string
	Cores      int
	GoVersion  string
	OS, Arch   string
	When       time.Time
	MemTotalKB int64
}

// ThisMachine reads the machine's description from the runtime and
// /proc (best effort on systems without it).
func ThisMachine(now time.Time) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, When: now}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotalKB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			}
		}
	}
	return m
}

// Markdown describes the machine as a markdown list.
func (m Machine) Markdown() string {
	return fmt.Sprintf("- When: %s\n- Machine: %s, %d cores, %.1f GiB, %s/%s, %s\n",
		m.When.UTC().Format(time.RFC3339), m.CPU, m.Cores, float64(m.MemTotalKB)/(1<<20), m.OS, m.Arch, m.GoVersion)
}

// WriteMarkdown writes a whole report: the machine, the command and the
// result tables.
func WriteMarkdown(w io.Writer, m Machine, command string, results []Result) error {
	if _, err := fmt.Fprintf(w, "# Parley benchmarks\n\n%s- Command: `%s`\n\n", m.Markdown(), command); err != nil {
		return err
	}
	return WriteTables(w, results)
}

// WriteTables writes one table per package with every metric.
func WriteTables(w io.Writer, results []Result) error {
	var b strings.Builder
	byPkg := map[string][]Result{}
	var pkgs []string
	for _, r := range results {
		if _, ok := byPkg[r.Package]; !ok {
			pkgs = append(pkgs, r.Package)
		}
		byPkg[r.Package] = append(byPkg[r.Package], r)
	}
	for _, p := range pkgs {
		rs := byPkg[p]
		units := map[string]bool{}
		for _, r := range rs {
			for u := range r.Metrics {
				units[u] = true
			}
		}
		cols := make([]string, 0, len(units))
		for u := range units {
			cols = append(cols, u)
		}
		sort.Slice(cols, func(i, j int) bool {
			return unitOrder(cols[i]) < unitOrder(cols[j]) || (unitOrder(cols[i]) == unitOrder(cols[j]) && cols[i] < cols[j])
		})
		fmt.Fprintf(&b, "### %s\n\n| benchmark | n |", p)
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c)
		}
		b.WriteString("\n|---|---|")
		for range cols {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, r := range rs {
			fmt.Fprintf(&b, "| %s | %d |", r.Name, r.N)
			for _, c := range cols {
				if v, ok := r.Metrics[c]; ok {
					fmt.Fprintf(&b, " %s |", formatValue(v))
				} else {
					b.WriteString(" |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func unitOrder(u string) int {
	switch u {
	case "ns/op":
		return 0
	case "ratio":
		return 2
	}
	return 1
}

func formatValue(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
