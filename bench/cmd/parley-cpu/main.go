// Command parley-cpu compares the server CPU that Parley binaries spend per
// inbound webhook. It runs them in turn, round after round, each on a new
// data directory under the same load (signed WhatsApp text webhooks from a
// fixed set of senders, the AI agent off), so that the shared host's drift
// falls on every binary alike, and prints the server CPU per message of
// each run, the mean per binary and its ratio to the first binary's.
//
//	go run ./bench/cmd/parley-cpu -bin /tmp/parley-old,/tmp/parley-new
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
)

func main() {
	bins := flag.String("bin", "", "comma-separated Parley binaries to compare (empty: build this tree's)")
	rounds := flag.Int("rounds", 4, "rounds; each runs every binary once")
	duration := flag.Duration("duration", 12*time.Second, "measured duration of each run")
	concurrency := flag.Int("c", 64, "concurrent HTTP clients")
	users := flag.Int("users", 500, "distinct senders (conversations)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, strings.Split(*bins, ","), *rounds, *duration, *concurrency, *users); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, bins []string, rounds int, d time.Duration, c, users int) error {
	if len(bins) == 1 && bins[0] == "" {
		dir, err := os.MkdirTemp("", "parley-cpu-bin")
		if err != nil {
			return fmt.Errorf("making a build directory: %w", err)
		}
		defer os.RemoveAll(dir)
		bin, err := bench.BuildParley(ctx, dir)
		if err != nil {
			return err
		}
		bins = []string{bin}
	}
	per := make([][]time.Duration, len(bins))
	fmt.Println("| round | binary | msgs | errors | server CPU per msg |")
	fmt.Println("|---|---|---|---|---|")
	for r := range rounds {
		for i, bin := range bins {
			cpu, res, err := once(ctx, bin, r, d, c, users)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, bin, err)
			}
			per[i] = append(per[i], cpu)
			fmt.Printf("| %d | %s | %d | %d | %v |\n", r+1, filepath.Base(bin), res.Requests-res.Errors, res.Errors, cpu.Round(100*time.Nanosecond))
		}
	}
	fmt.Println()
	var first time.Duration
	for i, bin := range bins {
		var sum time.Duration
		for _, v := range per[i] {
			sum += v
		}
		mean := sum / time.Duration(len(per[i]))
		if i == 0 {
			first = mean
		}
		fmt.Printf("%s: mean server CPU per msg %v, ratio to %s %.3f\n", filepath.Base(bin), mean.Round(100*time.Nanosecond),
			filepath.Base(bins[0]), float64(mean)/float64(first))
	}
	return nil
}

// once runs bin on a new data directory under the load and returns its
// server CPU per answered message.
func once(ctx context.Context, bin string, round int, d time.Duration, c, users int) (_ time.Duration, _ bench.LoadResult, err error) {
	dir, err := os.MkdirTemp("", "parley-cpu-data")
	if err != nil {
		return 0, bench.LoadResult{}, fmt.Errorf("making a data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := bench.StartParley(ctx, bin, dir)
	if err != nil {
		return 0, bench.LoadResult{}, err
	}
	defer func() { err = errors.Join(err, p.Stop()) }()
	if err := bench.ConnectWhatsApp(ctx, p.Addr); err != nil {
		return 0, bench.LoadResult{}, err
	}
	if err := bench.SetAgent(ctx, p.Addr, "off"); err != nil {
		return 0, bench.LoadResult{}, err
	}
	res, err := bench.RunLoad(ctx, bench.LoadConfig{
		URL: "http://" + p.Addr + "/webhooks/whatsapp", Concurrency: c, Duration: d, Warmup: 2 * time.Second,
		Request: func(i int64) ([]byte, http.Header) {
			return bench.WhatsAppTextWebhook(fmt.Sprintf("wamid.cpu.%d.%d", round, i), int(i%int64(users)))
		},
		ServerPID: p.PID(),
	})
	if err != nil {
		return 0, res, err
	}
	n := res.Requests - res.Errors
	if n <= 0 || res.CPU.Server <= 0 {
		return 0, res, fmt.Errorf("no CPU figure (%d messages answered)", n)
	}
	return bench.Per(res.CPU.Server, n), res, nil
}
