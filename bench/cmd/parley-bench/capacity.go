package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parleyhq/parley/bench"
)

// Targets of issue 21 that the capacity scenarios check.
const (
	// ceilingP99 is the p99 above which a fan-out ceiling step fails.
	ceilingP99 = 100 * time.Millisecond
	// idleTarget is the memory per idle WebSocket, in bytes.
	idleTarget = 16 << 10
	// idleWorkspaces share the idle subscribers.
	idleWorkspaces = 10
)

// ceilingOptions shape the fanout-ceiling scenario: one workspace with
// subscribers subscribers, the inbound rate raised from start by a
// factor of step until a step fails.
type ceilingOptions struct {
	subscribers int
	start, step float64
	duration    time.Duration
	customers   int
}

// idleOptions shape the ws-idle scenario.
type idleOptions struct {
	subscribers int
}

// ceilingStep is one inbound rate of a ceiling run and what it measured.
type ceilingStep struct {
	rate float64
	res  *bench.FanoutResult
}

// ok reports whether the step kept every subscriber, delivered every
// event and kept p99 within ceilingP99.
func (s ceilingStep) ok() bool {
	return s.res.Complete() && s.res.Percentile(99) <= ceilingP99
}

// ceilingOf is the deliveries/s of the last step that passed (zero if
// none did).
func ceilingOf(steps []ceilingStep) (deliveries, rate float64) {
	for _, s := range steps {
		if !s.ok() {
			break
		}
		deliveries, rate = s.res.DeliveryRate(), s.rate
	}
	return deliveries, rate
}

// climb runs run at rising rates until a step fails (or maxSteps).
func climb(ctx context.Context, o ceilingOptions, name string, run func(rate float64) (*bench.FanoutResult, error)) ([]ceilingStep, error) {
	const maxSteps = 16
	var steps []ceilingStep
	rate := o.start
	for range maxSteps {
		fmt.Fprintf(os.Stderr, "fanout-ceiling %s: %.0f msgs/s × %d subscribers for %s\n", name, rate, o.subscribers, o.duration)
		res, err := run(rate)
		if err != nil {
			return steps, err
		}
		st := ceilingStep{rate: rate, res: res}
		steps = append(steps, st)
		fmt.Fprintf(os.Stderr, "  %.0f deliveries/s, p99 %s, complete %v\n", res.DeliveryRate(), ms(res.Percentile(99)), res.Complete())
		if !st.ok() || ctx.Err() != nil {
			break
		}
		rate *= o.step
	}
	return steps, ctx.Err()
}

// ceilingSection measures the fan-out ceiling: deliveries/s with
// o.ceiling.subscribers subscribers of one workspace, raising the
// inbound rate until a subscriber is dropped, an event is missed or p99
// passes 100 ms; then Centrifugo the same way, with the same client.
func ceilingSection(ctx context.Context, bin string, o options, w io.Writer) error {
	c := o.ceiling
	limit, err := bench.RaiseFDLimit()
	if err != nil {
		return err
	}
	if need := uint64(c.subscribers + 1024); limit < need { //nolint:gosec // positive
		return fmt.Errorf("fanout-ceiling: the open-file limit is %d, %d subscribers need about %d", limit, c.subscribers, need)
	}
	data, err := os.MkdirTemp("", "parley-ceiling")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	wss, err := bench.SeedWorkspaces(data, 1, time.Now().UTC())
	if err != nil {
		return err
	}
	p, err := bench.StartParley(ctx, bin, data)
	if err != nil {
		return err
	}
	cfg := bench.FanoutConfig{Addr: p.Addr, Workspaces: wss, Subscribers: c.subscribers, Duration: c.duration,
		Customers: c.customers, ServerPID: p.PID(), Drain: 5 * time.Second}
	var sample []byte
	steps, err := climb(ctx, c, "Parley", func(rate float64) (*bench.FanoutResult, error) {
		cfg.Rate = rate
		res, err := bench.RunFanout(ctx, cfg)
		if err == nil && sample == nil {
			sample = res.CreatedSample
		}
		return res, err
	})
	if serr := p.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping parley: %w", serr)
	}
	if err != nil {
		return err
	}
	var peerSteps []ceilingStep
	peerName := ""
	if o.peer.bin != "" {
		cen, err := bench.StartCentrifugo(ctx, o.peer.bin)
		if err != nil {
			return err
		}
		peerName = "Centrifugo " + cen.Version + " (same client)"
		pcfg := cfg
		pcfg.ServerPID = cen.PID() // its CPU, not the stopped Parley's
		peerSteps, err = climb(ctx, c, peerName, func(rate float64) (*bench.FanoutResult, error) {
			pcfg.Rate = rate
			return bench.RunCentrifugoFanout(ctx, cen, pcfg, sample)
		})
		if serr := cen.Stop(); err == nil && serr != nil {
			err = fmt.Errorf("stopping centrifugo: %w", serr)
		}
		if err != nil {
			return fmt.Errorf("centrifugo: %w", err)
		}
	}
	parley, parleyRate := ceilingOf(steps)
	fmt.Fprintf(w, "## Fan-out ceiling: 1 workspace × %d subscribers\n\n", c.subscribers)
	fmt.Fprintf(w, "The same sender, clients and accounting as the fan-out runs, one workspace with %d WebSocket subscribers; the inbound rate starts at %.0f msgs/s and is multiplied by %.1f for each step of %s until a step fails: a subscriber dropped, an event missed or out of order, or the delivery p99 above %s. The ceiling is the deliveries/s of the last step that passed (target: Parley ÷ Centrifugo ≥ 1.0).\n\n",
		c.subscribers, c.start, c.step, c.duration, ms(ceilingP99))
	fmt.Fprintf(w, "| server | inbound msgs/s | deliveries/s | p50 | p99 | missing | disconnected | server cores | server CPU per delivery | passed |\n|---|---|---|---|---|---|---|---|---|---|\n")
	rows := func(name string, steps []ceilingStep) {
		for _, s := range steps {
			cores, per := "–", "–"
			if u := s.res.CPU; u.Wall > 0 {
				cores = fmt.Sprintf("%.2f", u.CoresUsed(u.Server))
				per = bench.Per(u.Server, s.res.Sent*int64(s.res.Subscribers)).Round(100 * time.Nanosecond).String()
			}
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %s | %s | %d | %d | %s | %s | %v |\n", name, s.rate, s.res.DeliveryRate(),
				ms(s.res.Percentile(50)), ms(s.res.Percentile(99)), s.res.Missing, s.res.Disconnected, cores, per, s.ok())
		}
	}
	rows("Parley", steps)
	rows(peerName, peerSteps)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Parley's ceiling: %.0f deliveries/s (at %.0f inbound msgs/s)", parley, parleyRate)
	if peerName != "" {
		peer, peerRate := ceilingOf(peerSteps)
		fmt.Fprintf(w, "; %s: %.0f deliveries/s (at %.0f msgs/s)", peerName, peer, peerRate)
		if peer > 0 {
			fmt.Fprintf(w, "; ratio %.2f", parley/peer)
		}
		o.sum.Set("fanout_ceiling_deliveries", parley, peer, peerName)
	} else {
		o.sum.Set("fanout_ceiling_deliveries", parley, 0, "")
	}
	fmt.Fprintf(w, ".\n\n")
	return nil
}

// idleSection measures the memory per idle WebSocket: o.idle.subscribers
// clients over idleWorkspaces workspaces connect and stay idle, and the
// server's RSS growth is divided by their number; then Centrifugo the
// same way.
func idleSection(ctx context.Context, bin string, o options, w io.Writer) error {
	n := o.idle.subscribers
	per := max(n/idleWorkspaces, 1)
	limit, err := bench.RaiseFDLimit()
	if err != nil {
		return err
	}
	if need := uint64(per*idleWorkspaces + 1024); limit < need { //nolint:gosec // positive
		return fmt.Errorf("ws-idle: the open-file limit is %d, %d subscribers need about %d", limit, per*idleWorkspaces, need)
	}
	data, err := os.MkdirTemp("", "parley-idle")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	wss, err := bench.SeedWorkspaces(data, idleWorkspaces, time.Now().UTC())
	if err != nil {
		return err
	}
	p, err := bench.StartParley(ctx, bin, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ws-idle: %d idle subscribers on Parley\n", per*idleWorkspaces)
	cfg := bench.IdleConfig{Addr: p.Addr, Workspaces: wss, Subscribers: per, ServerPID: p.PID()}
	res, err := bench.RunIdle(ctx, cfg)
	if serr := p.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping parley: %w", serr)
	}
	if err != nil {
		return err
	}
	var peerRes *bench.IdleResult
	peerName := ""
	if o.peer.bin != "" {
		cen, err := bench.StartCentrifugo(ctx, o.peer.bin)
		if err != nil {
			return err
		}
		peerName = "Centrifugo " + cen.Version
		fmt.Fprintf(os.Stderr, "ws-idle: %d idle subscribers on %s\n", per*idleWorkspaces, peerName)
		r, err := bench.RunCentrifugoIdle(ctx, cen, cfg)
		if serr := cen.Stop(); err == nil && serr != nil {
			err = fmt.Errorf("stopping centrifugo: %w", serr)
		}
		if err != nil {
			return fmt.Errorf("centrifugo: %w", err)
		}
		peerRes = &r
	}
	fmt.Fprintf(w, "## Memory per idle WebSocket\n\n")
	fmt.Fprintf(w, "%d WebSocket clients over %d workspaces connect (Parley: the inbox WebSocket with the workspace's token, read up to its hello; Centrifugo: connect and subscribe to the workspace's channel), then stay idle, answering only what the server asks (Centrifugo's pings). The server's resident set (VmRSS from /proc) is read after %s alone before the clients connect and again %s after the last connected; the growth over the number of clients is the memory per idle connection (target ≤ %d KiB). The clients run in the benchmark's process, not the server's.\n\n",
		res.Subscribers, idleWorkspaces, 3*time.Second, 3*time.Second, idleTarget>>10)
	fmt.Fprintf(w, "| server | subscribers | RSS before | RSS after | growth per connection | connect time |\n|---|---|---|---|---|---|\n")
	row := func(name string, r bench.IdleResult) {
		fmt.Fprintf(w, "| %s | %d | %.1f MiB | %.1f MiB | %.1f KiB | %s |\n", name, r.Subscribers, float64(r.RSSBefore)/(1<<20),
			float64(r.RSSAfter)/(1<<20), r.PerConnection()/1024, r.Connect.Round(time.Millisecond))
	}
	row("Parley", res)
	if peerRes != nil {
		row(peerName, *peerRes)
		o.sum.Set("ws_idle_memory_per_conn", res.PerConnection(), peerRes.PerConnection(), peerName)
	} else {
		o.sum.Set("ws_idle_memory_per_conn", res.PerConnection(), 0, "")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(os.Stderr, "ws-idle: Parley %.1f KiB per connection", res.PerConnection()/1024)
	if peerRes != nil {
		fmt.Fprintf(os.Stderr, ", %s %.1f KiB", peerName, peerRes.PerConnection()/1024)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// noteFanout records a fan-out run's figures in the summary: the p99
// and the server CPU per inbound message, with Centrifugo's as their
// baselines when it ran. fanout-a's figures are named by their rate.
func noteFanout(sum *bench.Summary, sh fanoutShape, res, peer *bench.FanoutResult, peerName string) {
	prefix := "fanout_b"
	if sh.name == "fanout-a" {
		prefix = fmt.Sprintf("fanout_a_%.0f", sh.rate)
	}
	var p99, cpu float64
	if peer != nil {
		p99 = peer.Percentile(99).Seconds()
		if peer.CPU.Wall > 0 {
			cpu = bench.Per(peer.CPU.Server, peer.Sent).Seconds()
		}
	}
	sum.Set(prefix+"_p99", res.Percentile(99).Seconds(), p99, peerName)
	if res.CPU.Wall > 0 {
		sum.Set(prefix+"_server_cpu_per_msg", bench.Per(res.CPU.Server, res.Sent).Seconds(), cpu, peerName)
	}
}

// noteIngest records the webhook ingest figures: Parley's server CPU per
// message against the durable floor's per request, and the rates.
func noteIngest(sum *bench.Summary, bare, floor, parley bench.LoadResult) {
	n, nf := parley.Requests-parley.Errors, floor.Requests-floor.Errors
	if parley.CPU.Wall > 0 && floor.CPU.Wall > 0 && n > 0 && nf > 0 {
		sum.Set("ingest_server_cpu_per_msg", bench.Per(parley.CPU.Server, n).Seconds(), bench.Per(floor.CPU.Server, nf).Seconds(), "")
	}
	sum.Set("ingest_rate_vs_bare", parley.Rate(), bare.Rate(), "")
	sum.Set("ingest_rate_vs_floor", parley.Rate(), floor.Rate(), "")
}

// noteScale records the list-1m scenario's other figures: the restart
// to the first page (after a clean stop and after kill -9), the worst
// search shape's p99 over HTTP, and the server's RSS with its
// conversations active.
func noteScale(sum *bench.Summary, restart, killed bench.RestartResult, searches []bench.SearchResult, activeRSS int64) {
	if restart.FirstPage > 0 {
		sum.Set("restart_to_first_page", restart.FirstPage.Seconds(), 0, "")
	}
	if killed.FirstPage > 0 {
		sum.Set("restart_after_kill", killed.FirstPage.Seconds(), 0, "")
	}
	var worst time.Duration
	for _, s := range searches {
		worst = max(worst, s.Latencies.Percentile(99))
	}
	if len(searches) > 0 {
		sum.Set("search_http_p99", worst.Seconds(), 0, "")
	}
	if activeRSS > 0 {
		sum.Set("memory_rss_1m_conversations", float64(activeRSS), 0, "")
	}
}

// noteLists records the worst list shape's p99.
func noteLists(sum *bench.Summary, lists []bench.ListResult) {
	var worst time.Duration
	for _, l := range lists {
		worst = max(worst, l.Latencies.Percentile(99))
	}
	if len(lists) > 0 {
		sum.Set("list_first_page_p99", worst.Seconds(), 0, "")
	}
}
