package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
)

type options struct {
	out, pattern, benchtime string
	pkgs                    []string
	skipGo, skipWebhook     bool
	duration                time.Duration
	concurrency             int
	// scenarios are the named benchmarks to run, in order.
	scenarios []string
	// fanout holds each fan-out scenario's runs, one per inbound rate.
	fanout             map[string][]fanoutShape
	ceiling            ceilingOptions
	idle               idleOptions
	inbox              bench.InboxConfig
	inboxDir           string
	samples            int
	wsSubs, wsMessages int
	outboundConvs      int
	// peer is the Centrifugo server the fan-out scenarios also run.
	peer peerOptions
	// parleyBin, if set, is the Parley binary to run instead of one
	// built from the tree (for A/B runs of two builds).
	parleyBin string
	// sum collects the run's figures for the summary beside the report
	// (latest.json).
	sum *bench.Summary
}

func main() {
	var o options
	var pkgs string
	flag.StringVar(&o.out, "out", "bench/results/latest.md", "where to write the markdown report")
	flag.StringVar(&o.pattern, "bench", ".", "Go benchmark name pattern (go test -bench)")
	flag.StringVar(&o.benchtime, "benchtime", "20000x", "go test -benchtime")
	flag.StringVar(&pkgs, "pkgs", "./persistence,./actors", "comma-separated packages with Go benchmarks")
	flag.BoolVar(&o.skipGo, "skip-go", false, "skip the Go benchmarks")
	flag.BoolVar(&o.skipWebhook, "skip-webhook", false, "skip the webhook load against the binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each load run")
	flag.IntVar(&o.concurrency, "c", 64, "concurrent HTTP clients of the load runs")
	var scenarios, fanA, fanB, inbox string
	var fanDuration time.Duration
	var customers int
	flag.StringVar(&scenarios, "scenarios", "webhook,go,widget,email,fanout-ceiling,ws-idle", "comma-separated named benchmarks to run, in order: webhook, go, widget, email, fanout-a, fanout-b, fanout-ceiling, ws-idle, list-1m")
	flag.StringVar(&fanA, "fanout-a", "100:10:2000/5000", "fanout-a size: workspaces:subscribers per workspace:inbound msgs/s (several rates separated by /, one run each)")
	flag.StringVar(&fanB, "fanout-b", "1:1000:50", "fanout-b size: workspaces:subscribers per workspace:inbound msgs/s")
	flag.DurationVar(&fanDuration, "fanout-duration", 20*time.Second, "measured duration of each fan-out run")
	flag.IntVar(&customers, "fanout-customers", 50, "conversations per workspace in the fan-out runs")
	flag.StringVar(&inbox, "inbox", "1000000:10", "list-1m size: conversations:messages per conversation on average")
	flag.IntVar(&o.ceiling.subscribers, "ceiling-subs", 1000, "fanout-ceiling: subscribers of the one workspace")
	flag.Float64Var(&o.ceiling.start, "ceiling-start", 20, "fanout-ceiling: the first inbound rate (msgs/s); each step multiplies it by -ceiling-step")
	flag.Float64Var(&o.ceiling.step, "ceiling-step", 1.5, "fanout-ceiling: the factor between two inbound rates")
	flag.DurationVar(&o.ceiling.duration, "ceiling-duration", 5*time.Second, "fanout-ceiling: measured duration of each step")
	flag.IntVar(&o.idle.subscribers, "ws-idle", 10000, "ws-idle: idle WebSocket subscribers (over 10 workspaces)")
	flag.StringVar(&o.inboxDir, "inbox-dir", "", "keep list-1m's generated data here and reuse it when the size matches (default: a temporary directory)")
	flag.IntVar(&o.samples, "samples", 2000, "measured requests (list) and queries (search) per shape in list-1m")
	flag.IntVar(&o.wsSubs, "ws-subs", 50, "WebSocket subscribers of the inbound → WebSocket run")
	flag.IntVar(&o.wsMessages, "ws-messages", 500, "webhooks posted in the inbound → WebSocket run")
	flag.IntVar(&o.outboundConvs, "outbound-convs", 500, "conversations the outbound send run replies to")
	flag.StringVar(&o.peer.bin, "centrifugo", "", "Centrifugo binary (make bench-peer) to run beside Parley in the fan-out scenarios, measured by the same client (empty: skip the peer)")
	flag.StringVar(&o.peer.payload, "centrifugo-payload", "event", "what Centrifugo publishes per message: event (a message.created Parley sent) or frame (a whole frame of Parley's that carried one, so the bytes per delivery match)")
	flag.StringVar(&o.parleyBin, "parley-bin", "", "run this Parley binary instead of building ./cmd/parley (A/B runs of two builds)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile here (where the client side spends its time)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	o.pkgs = strings.Split(pkgs, ",")
	o.scenarios = strings.Split(scenarios, ",")
	o.fanout = map[string][]fanoutShape{}
	for name, spec := range map[string]string{"fanout-a": fanA, "fanout-b": fanB} {
		shapes, err := parseFanout(name, spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "parley-bench:", err)
			os.Exit(2)
		}
		for i := range shapes {
			shapes[i].duration, shapes[i].customers = fanDuration, customers
		}
		o.fanout[name] = shapes
	}
	o.ceiling.customers = customers
	if o.ceiling.subscribers <= 0 || o.ceiling.start <= 0 || o.ceiling.step <= 1 || o.ceiling.duration <= 0 || o.idle.subscribers <= 0 {
		fmt.Fprintln(os.Stderr, "parley-bench: -ceiling-subs, -ceiling-start, -ceiling-duration and -ws-idle must be positive, -ceiling-step above 1")
		os.Exit(2)
	}
	if o.peer.payload != "event" && o.peer.payload != "frame" {
		fmt.Fprintf(os.Stderr, "parley-bench: -centrifugo-payload wants event or frame, not %q\n", o.peer.payload)
		os.Exit(2)
	}
	if _, err := fmt.Sscanf(inbox, "%d:%d", &o.inbox.Convs, &o.inbox.PerConv); err != nil || o.inbox.Convs <= 0 || o.inbox.PerConv <= 0 {
		fmt.Fprintf(os.Stderr, "parley-bench: -inbox wants conversations:messages (positive), not %q\n", inbox)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	var report bytes.Buffer
	fmt.Fprintf(&report, "# Parley benchmarks\n\n%s\n", bench.ThisMachine(start).Markdown())
	command := "go run ./bench/cmd/parley-bench " + shellQuote(os.Args[1:])
	fmt.Fprintf(&report, "Reproduce: `make bench` (that is, `%s`).\n\n", command)
	o.sum = bench.NewSummary(bench.ThisMachine(start), command)
	if err := runScenarios(ctx, o, &report); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(o.out), err)
	}
	if err := os.WriteFile(o.out, report.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := o.sum.WriteFile(bench.SummaryPath(o.out)); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "done in %s; report: %s, summary: %s\n", time.Since(start).Round(time.Second), o.out, bench.SummaryPath(o.out))
	return nil
}

// runScenarios runs the named benchmarks in order, building the Parley
// binary once for those that need it.
func runScenarios(ctx context.Context, o options, w io.Writer) error {
	bin, binDir := "", ""
	defer func() {
		if binDir != "" {
			_ = os.RemoveAll(binDir)
		}
	}()
	binary := func() (string, error) {
		if bin != "" {
			return bin, nil
		}
		if o.parleyBin != "" {
			bin = o.parleyBin
			return bin, nil
		}
		var err error
		if binDir, err = os.MkdirTemp("", "parley-bin"); err != nil {
			return "", err
		}
		fmt.Fprintln(os.Stderr, "building ./cmd/parley")
		bin, err = bench.BuildParley(ctx, binDir)
		return bin, err
	}
	for _, name := range o.scenarios {
		var err error
		switch name {
		case "webhook":
			if !o.skipWebhook {
				var b string
				if b, err = binary(); err == nil {
					err = webhookSection(ctx, b, o, w)
				}
			}
		case "go":
			if !o.skipGo {
				err = goSection(ctx, o, w)
			}
		case "fanout-a", "fanout-b":
			var b string
			if b, err = binary(); err == nil {
				for _, sh := range o.fanout[name] {
					if err = fanoutSection(ctx, b, o.peer, sh, o.sum, w); err != nil {
						break
					}
				}
			}
		case "fanout-ceiling":
			var b string
			if b, err = binary(); err == nil {
				err = ceilingSection(ctx, b, o, w)
			}
		case "ws-idle":
			var b string
			if b, err = binary(); err == nil {
				err = idleSection(ctx, b, o, w)
			}
		case "widget":
			err = widgetSection(ctx, w)
		case "email":
			err = emailSection(ctx, w)
		case "list-1m":
			var b string
			if b, err = binary(); err == nil {
				err = listSection(ctx, b, o, w)
			}
		default:
			err = fmt.Errorf("unknown scenario %q (webhook, go, widget, email, fanout-a, fanout-b, fanout-ceiling, ws-idle, list-1m)", name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// widgetSection runs the web chat widget's round trip (visitor API →
// inbox WebSocket) against the built binary: BenchmarkWidgetRoundTrip.
func widgetSection(ctx context.Context, w io.Writer) error {
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkWidgetRoundTrip$", "-benchtime", "2000x", "-timeout", "10m", "./gateway"}
	command := "go " + shellQuote(args)
	fmt.Fprintln(os.Stderr, "running:", command)
	cmd := exec.CommandContext(ctx, "go", args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, &progress{})
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the widget benchmark failed: %w", err)
	}
	results, err := bench.Parse(&buf)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Web chat widget round trip\n\n8 visitors post to the visitor API at once; the time from each POST to its message.created on an inbox WebSocket (p50_ms, p99_ms).\n\nCommand: `%s`\n\n", command)
	return bench.WriteTables(w, results)
}

func goSection(ctx context.Context, o options, w io.Writer) error {
	args := append([]string{"test", "-run", "^$", "-bench", o.pattern, "-benchtime", o.benchtime, "-timeout", "30m"}, o.pkgs...)
	command := "go " + shellQuote(args)
	fmt.Fprintln(os.Stderr, "running:", command)
	cmd := exec.CommandContext(ctx, "go", args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, &progress{})
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("benchmarks failed: %w\n%s", err, tailOf(buf.Bytes(), 40))
	}
	results, err := bench.Parse(&buf)
	if err != nil {
		return err
	}
	for _, r := range results {
		if v, ok := r.Metrics["B/passivated"]; ok && r.Name == "BenchmarkActorHeap" {
			o.sum.Set("heap_per_passivated_conversation", v, 0, "")
		}
	}
	fmt.Fprintf(w, "## Go benchmarks\n\nCommand: `%s`\n\n", command)
	return bench.WriteTables(w, results)
}

// emailSection runs the inbound email benchmark (gateway's
// BenchmarkEmailSMTPIngest: mails over SMTP into a real Parley, 8
// connections, mails/s and the p99 from the end of DATA to the 250, that
// is to the durable commit) and writes its table with the command.
func emailSection(ctx context.Context, w io.Writer) error {
	args := []string{"test", "-run", "^$", "-bench", "EmailSMTPIngest", "-benchtime", "2000x", "-timeout", "30m", "./gateway"}
	command := "go " + shellQuote(args)
	fmt.Fprintln(os.Stderr, "running:", command)
	cmd := exec.CommandContext(ctx, "go", args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, &progress{})
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("email benchmark failed: %w", err)
	}
	results, err := bench.Parse(&buf)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Inbound email over SMTP\n\nCommand: `%s`\n\n", command)
	return bench.WriteTables(w, results)
}

func webhookSection(ctx context.Context, parleyBin string, o options, w io.Writer) error {
	dir, err := os.MkdirTemp("", "parley-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building ./bench/cmd/bare-fiber")
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "bare-fiber"), "./bench/cmd/bare-fiber")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building ./bench/cmd/bare-fiber: %w", err)
	}
	load := func(name string, srv *bench.Process) (bench.LoadResult, error) {
		fmt.Fprintf(os.Stderr, "load: %s, %d clients, %s\n", name, o.concurrency, o.duration)
		stopProgress := startProgress(o.duration + 2*time.Second)
		defer stopProgress()
		return bench.RunLoad(ctx, bench.LoadConfig{URL: "http://" + srv.Addr + "/webhooks/whatsapp", ServerPID: srv.PID(),
			Concurrency: o.concurrency, Duration: o.duration, Warmup: 2 * time.Second,
			Request: func(i int64) ([]byte, http.Header) {
				return bench.WhatsAppTextWebhook(fmt.Sprintf("wamid.bench.%s.%d", name, i), int(i%10000))
			}})
	}
	bare, err := bench.StartProcess(ctx, filepath.Join(dir, "bare-fiber"), nil, nil)
	if err != nil {
		return err
	}
	baseline, err := load("bare-fiber", bare)
	_ = bare.Stop()
	if err != nil {
		return err
	}
	floorProc, err := bench.StartProcess(ctx, filepath.Join(dir, "bare-fiber"), []string{"-pebble", filepath.Join(dir, "floor")}, nil)
	if err != nil {
		return err
	}
	floor, err := load("bare-fiber-pebble", floorProc)
	_ = floorProc.Stop()
	if err != nil {
		return err
	}
	graph, err := bench.StartFakeGraph()
	if err != nil {
		return err
	}
	defer graph.Close()
	p, err := bench.StartParley(ctx, parleyBin, filepath.Join(dir, "data"), "PARLEY_GRAPH_API_URL="+graph.URL)
	if err != nil {
		return err
	}
	if err := bench.ConnectWhatsApp(ctx, p.Addr); err != nil {
		_ = p.Stop()
		return err
	}
	if err := bench.SetAgent(ctx, p.Addr, "off"); err != nil {
		_ = p.Stop()
		return err
	}
	parley, err := load("parley", p)
	var rt realtimeResults
	if err == nil {
		rt, err = realtimeRuns(ctx, o, p.Addr, graph)
	}
	if serr := p.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping parley: %w", serr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Webhook ingest over HTTP (durable)\n\n")
	fmt.Fprintf(w, "Signed WhatsApp Cloud API webhooks, one text message each, %d concurrent keep-alive clients, %s measured after a 2 s warm-up, against the built binaries on 127.0.0.1 (the load generator shares the machine). Parley answers 200 only after the message is committed with fsync; its AI agent is off (the run measures storing inbound messages, not AI replies and their sends).\n\n", o.concurrency, o.duration)
	fmt.Fprintf(w, "The durable floor is the same Fiber server writing each body to Pebble with fsync under a key of its own (concurrent requests share the WAL group commit), with no parsing and no indexes: what any durable receiver pays at least here.\n\n")
	fmt.Fprintf(w, "CPU is where the machine's time went in each measured window (from /proc): the server process, the load generator (this process), the rest (the kernel's own threads, other processes), and what stayed idle or waited for the disk; per message, it is CPU time over the messages answered.\n\n")
	fmt.Fprintf(w, "| server | msgs/s | p50 | p99 | errors | ratio to bare | ratio to durable floor | server CPU per msg | generator CPU per msg | other CPU per msg | machine idle |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, r bench.LoadResult) {
		n := r.Requests - r.Errors
		cpu := "– | – | – | –" // no /proc
		if r.CPU.Wall > 0 {
			cpu = fmt.Sprintf("%s | %s | %s | %.0f%%", cpuTime(bench.Per(r.CPU.Server, n)),
				cpuTime(bench.Per(r.CPU.Generator, n)), cpuTime(bench.Per(r.CPU.Other, n)), 100*r.CPU.IdleShare())
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d | %.2f | %.2f | %s |\n", name, r.Rate(), r.Percentile(50).Round(time.Microsecond),
			r.Percentile(99).Round(time.Microsecond), r.Errors, r.Rate()/baseline.Rate(), r.Rate()/floor.Rate(), cpu)
	}
	row("bare Fiber (reads the body)", baseline)
	row("durable floor (Fiber + synced Pebble write)", floor)
	row("parley", parley)
	fmt.Fprintln(w)
	writeIngestBudget(w, baseline, parley)
	noteIngest(o.sum, baseline, floor, parley)
	for name, r := range map[string]bench.LoadResult{"bare Fiber": baseline, "durable floor": floor, "parley": parley} {
		if r.FirstError != "" {
			fmt.Fprintf(w, "First error (%s): `%s`\n\n", name, strings.ReplaceAll(r.FirstError, "`", "'"))
		}
	}
	fmt.Fprintf(os.Stderr, "webhook ingest: parley %.0f msgs/s (p99 %s) vs bare %.0f req/s: ratio %.2f; durable floor %.0f msgs/s: ratio %.2f\n",
		parley.Rate(), parley.Percentile(99).Round(time.Microsecond), baseline.Rate(), parley.Rate()/baseline.Rate(), floor.Rate(), parley.Rate()/floor.Rate())
	rt.write(w, o)
	return writeChart(o.out, w, []bench.Series{
		{Name: "webhook, bare Fiber", Latencies: baseline.Latencies},
		{Name: "webhook, durable floor", Latencies: floor.Latencies},
		{Name: "webhook, parley", Latencies: parley.Latencies},
		{Name: "inbound → WebSocket", Latencies: rt.ws.Latencies},
		{Name: "send API (201)", Latencies: rt.send.Latencies},
	})
}

// ingestBudget works out, from the CPU figures of a run, the server CPU
// per message at which Parley would reach half the bare handler's rate
// on this machine: the machine keeps as many cores busy as in the bare
// run, and the load generator and the rest cost per message what they
// cost in Parley's run. ok is false without CPU figures.
type ingestBudget struct {
	target    float64       // msgs/s: half the bare rate
	busyCores float64       // cores the bare run kept busy
	others    time.Duration // generator and rest, per message, in Parley's run
	server    time.Duration // what Parley's server may spend per message
	used      time.Duration // what it spent
}

func budgetOf(bare, parley bench.LoadResult) (ingestBudget, bool) {
	nb, np := bare.Requests-bare.Errors, parley.Requests-parley.Errors
	if nb <= 0 || np <= 0 || bare.CPU.Wall <= 0 || parley.CPU.Wall <= 0 {
		return ingestBudget{}, false
	}
	b := ingestBudget{target: bare.Rate() / 2,
		busyCores: bare.CPU.CoresUsed(bare.CPU.Server + bare.CPU.Generator + bare.CPU.Other),
		others:    bench.Per(parley.CPU.Generator+parley.CPU.Other, np),
		used:      bench.Per(parley.CPU.Server, np)}
	b.server = time.Duration(b.busyCores/b.target*float64(time.Second)) - b.others
	return b, true
}

func writeIngestBudget(w io.Writer, bare, parley bench.LoadResult) {
	b, ok := budgetOf(bare, parley)
	if !ok {
		return
	}
	r := cpuTime
	if b.server <= 0 {
		fmt.Fprintf(w, "Budget for half the bare rate (%.0f msgs/s): the bare run kept %.2f of %d cores busy; the load generator and the rest, at what they cost per message in Parley's run (%s), would take all of it, leaving nothing for the server (it used %s per message).\n\n",
			b.target, b.busyCores, bare.CPU.Cores, r(b.others), r(b.used))
		return
	}
	fmt.Fprintf(w, "Budget for half the bare rate (%.0f msgs/s): the bare run kept %.2f of %d cores busy; at that rate, with the load generator and the rest costing what they cost per message in Parley's run (%s), Parley's server would have %s of CPU per message; it used %s (%.1f× the budget).\n\n",
		b.target, b.busyCores, bare.CPU.Cores, r(b.others), r(b.server), r(b.used), float64(b.used)/float64(b.server))
}

// cpuTime rounds a CPU time per message for the reports.
func cpuTime(d time.Duration) time.Duration { return d.Round(100 * time.Nanosecond) }

// shellQuote joins args for a copy-paste command line.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "|*?$ '\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// startProgress prints a progress line every second until stopped.
func startProgress(total time.Duration) func() {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "\r  %s / %s", time.Since(start).Round(time.Second), total)
			}
		}
	}()
	return func() { close(done) }
}

// progress echoes benchmark result lines to stderr as they arrive.
type progress struct{ partial []byte }

func (p *progress) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
			fmt.Fprintln(os.Stderr, "  ", line)
		}
	}
}

// tailOf returns the last n lines of out: what a failed `go test` said
// (the progress echoes only the result lines).
func tailOf(out []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	return bytes.Join(lines[max(0, len(lines)-n):], []byte("\n"))
}
