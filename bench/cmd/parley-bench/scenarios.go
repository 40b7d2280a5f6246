package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parleyhq/parley/bench"
)

// Targets of issue #4.
const (
	targetFanoutP99 = 20 * time.Millisecond
	targetListP99   = 10 * time.Millisecond
	targetSearchP99 = 50 * time.Millisecond
)

// fanoutShape is a named fan-out run: workspaces × subscribers each, at
// rate inbound messages per second over them all.
type fanoutShape struct {
	name                    string
	workspaces, subscribers int
	rate                    float64
	duration                time.Duration
	customers               int
}

// parseFanout reads "workspaces:subscribers:rate".
func parseFanout(name, spec string) (fanoutShape, error) {
	sh := fanoutShape{name: name}
	if _, err := fmt.Sscanf(spec, "%d:%d:%g", &sh.workspaces, &sh.subscribers, &sh.rate); err != nil ||
		sh.workspaces <= 0 || sh.subscribers <= 0 || sh.rate <= 0 {
		return sh, fmt.Errorf("-%s wants workspaces:subscribers:rate (positive), not %q", name, spec)
	}
	return sh, nil
}

func fanoutSection(ctx context.Context, bin string, sh fanoutShape, w io.Writer) error {
	limit, err := bench.RaiseFDLimit()
	if err != nil {
		return err
	}
	if need := uint64(2*sh.workspaces*sh.subscribers + 2048); limit < need { //nolint:gosec // positive
		return fmt.Errorf("%s: the open-file limit is %d, %d subscribers need about %d", sh.name, limit, sh.workspaces*sh.subscribers, need)
	}
	data, err := os.MkdirTemp("", "parley-fanout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	wss, err := bench.SeedWorkspaces(data, sh.workspaces, time.Now().UTC())
	if err != nil {
		return err
	}
	p, err := bench.StartParley(ctx, bin, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d workspaces × %d subscribers, %.0f msgs/s for %s\n", sh.name, sh.workspaces, sh.subscribers, sh.rate, sh.duration)
	stopProgress := startProgress(sh.duration)
	res, err := bench.RunFanout(ctx, bench.FanoutConfig{Addr: p.Addr, Workspaces: wss, Subscribers: sh.subscribers,
		Rate: sh.rate, Duration: sh.duration, Customers: sh.customers})
	stopProgress()
	if serr := p.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping parley: %w", serr)
	}
	if err != nil {
		return err
	}
	target := sh.rate * float64(sh.subscribers)
	verdict := "meets the target"
	if !res.Complete() || res.Percentile(99) > targetFanoutP99 {
		verdict = "MISSES the target"
	}
	fmt.Fprintf(w, "## Fan-out %s: %d workspace(s) × %d subscribers, %.0f inbound msgs/s\n\n", sh.name, sh.workspaces, sh.subscribers, sh.rate)
	fmt.Fprintf(w, "Signed WhatsApp webhooks sent open-loop at %.0f/s for %s over %d conversations per workspace (each warmed up with one unmeasured message), to the built binary on 127.0.0.1; %d real WebSocket clients in the same process as the sender. Latency is webhook sent → `message.created` read by a subscriber (the send time travels in the text); every subscriber must get each accepted message once and every event of its workspace's sequence (no seq gap) after its hello. Target: p99 ≤ %s with every event delivered; %s.\n\n",
		sh.rate, sh.duration, sh.customers, res.Subscribers, targetFanoutP99, verdict)
	fmt.Fprintf(w, "| accepted / sent | deliveries | missing | dup | event gaps | disconnected | deliveries/s (target) | p50 | p99 | p999 | max | events/s | sender lag |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d / %d | %d of %d | %d | %d | %d | %d | %.0f (%.0f) | %s | %s | %s | %s | %.0f | %s |\n\n",
		res.Accepted, res.Sent, res.Delivered, res.Expected, res.Missing, res.Duplicates, res.EventGaps, res.Disconnected,
		res.DeliveryRate(), target, ms(res.Percentile(50)), ms(res.Percentile(99)), ms(res.Percentile(99.9)),
		ms(res.Percentile(100)), float64(res.Events)/res.Span.Seconds(), res.SenderLag.Round(time.Millisecond))
	for _, e := range []string{res.FirstError, res.DisconnectError} {
		if e != "" {
			fmt.Fprintf(w, "First error: `%s`\n\n", e)
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %d/%d deliveries, %.0f/s, p50 %s p99 %s p999 %s: %s\n", sh.name, res.Delivered, res.Expected,
		res.DeliveryRate(), ms(res.Percentile(50)), ms(res.Percentile(99)), ms(res.Percentile(99.9)), verdict)
	return nil
}

func listSection(ctx context.Context, bin string, o options, w io.Writer) error {
	dir := o.inboxDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "parley-inbox")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "data")
	}
	fmt.Fprintf(os.Stderr, "inbox: generating %d conversations of %d messages on average in %s\n", o.inbox.Convs, o.inbox.PerConv, dir)
	in, err := bench.GenerateInbox(ctx, dir, o.inbox, os.Stderr)
	if err != nil {
		return err
	}
	p, err := bench.StartParley(ctx, bin, dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "inbox: list over HTTP")
	lists, err := bench.ListLatency(ctx, p.Addr, in.Workspace.Token, bench.ListShapes, o.samples)
	if serr := p.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping parley: %w", serr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "inbox: search at the store")
	searches, err := bench.SearchLatency(in, in.SearchShapes(), o.samples)
	if err != nil {
		return err
	}
	gen := "reused from an earlier run"
	if in.Generated > 0 {
		gen = "generated in " + in.Generated.Round(time.Second).String()
	}
	fmt.Fprintf(w, "## Inbox list and search at %d conversations, %d messages\n\n", in.Convs, in.Messages)
	fmt.Fprintf(w, "One workspace; data written straight into the store (%s, compacted), 85%% open / 15%% solved, spam, archived, 1 in 20 tagged vip, 1 in 4 unread, 1 in 3 assigned. ", gen)
	fmt.Fprintf(w, "List: `GET /api/v1/conversations` first page of 50 over HTTP against the built binary, one request at a time, %d requests per shape after %d unmeasured (target p99 ≤ %s). ", o.samples, o.samples/10, targetListP99)
	fmt.Fprintf(w, "Search: `Store.Search` first page of 20 in process on the same store with the server stopped (the REST route is not measured here), %d queries per shape (target p99 ≤ %s).\n\n", o.samples, targetSearchP99)
	fmt.Fprintf(w, "| list | returned | p50 | p99 | max | target |\n|---|---|---|---|---|---|\n")
	for _, l := range lists {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", l.Shape.Name, l.Returned, ms(l.Latencies.Percentile(50)),
			ms(l.Latencies.Percentile(99)), ms(l.Latencies.Percentile(100)), meets(l.Latencies.Percentile(99), targetListP99))
		fmt.Fprintf(os.Stderr, "  list %s: p50 %s p99 %s\n", l.Shape.Name, ms(l.Latencies.Percentile(50)), ms(l.Latencies.Percentile(99)))
	}
	fmt.Fprintf(w, "\n| search | hits/query | p50 | p99 | max | target |\n|---|---|---|---|---|---|\n")
	for _, s := range searches {
		fmt.Fprintf(w, "| %s | %.1f | %s | %s | %s | %s |\n", s.Shape.Name, s.Hits, ms(s.Latencies.Percentile(50)),
			ms(s.Latencies.Percentile(99)), ms(s.Latencies.Percentile(100)), meets(s.Latencies.Percentile(99), targetSearchP99))
		fmt.Fprintf(os.Stderr, "  search %s: p50 %s p99 %s\n", s.Shape.Name, ms(s.Latencies.Percentile(50)), ms(s.Latencies.Percentile(99)))
	}
	fmt.Fprintln(w)
	return nil
}

func meets(p99, target time.Duration) string {
	if p99 <= target {
		return "met"
	}
	return "**missed**"
}

// ms formats a latency in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
