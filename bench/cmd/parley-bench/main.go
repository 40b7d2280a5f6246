// Command parley-bench runs Parley's benchmarks and writes a markdown
// report. It streams the benchmark output as it goes (one line per
// result), so a long run shows its progress.
//
//	go run ./bench/cmd/parley-bench -out bench/results/latest.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
)

func main() {
	out := flag.String("out", "bench/results/latest.md", "where to write the markdown report")
	pattern := flag.String("bench", ".", "benchmark name pattern (go test -bench)")
	benchtime := flag.String("benchtime", "20000x", "go test -benchtime for throughput benchmarks")
	pkgs := flag.String("pkgs", "./persistence,./actors", "comma-separated packages to benchmark")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *pattern, *benchtime, strings.Split(*pkgs, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, pattern, benchtime string, pkgs []string) error {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-timeout", "30m"}, pkgs...)
	command := "go " + strings.Join(args, " ")
	fmt.Fprintln(os.Stderr, "running:", command)
	cmd := exec.CommandContext(ctx, "go", args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, progress{})
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("benchmarks failed: %w", err)
	}
	results, err := bench.Parse(&buf)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(out), err)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("creating report: %w", err)
	}
	if err := bench.WriteMarkdown(f, bench.ThisMachine(start), command, results); err != nil {
		f.Close()
		return fmt.Errorf("writing report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%d results in %s; report: %s\n", len(results), time.Since(start).Round(time.Second), out)
	return nil
}

// progress echoes benchmark result lines to stderr as they arrive.
type progress struct{}

func (progress) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(string(p), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
			fmt.Fprintln(os.Stderr, "  ", line)
		}
	}
	return len(p), nil
}
