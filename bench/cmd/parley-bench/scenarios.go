package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
)

// Targets of issue #4.
const (
	targetFanoutP99 = 20 * time.Millisecond
	targetSearchP99 = 50 * time.Millisecond
	// Issue 21's targets at 10M messages: the first list page and search
	// through the REST routes, and exec → /readyz and the first inbox page.
	targetListP99       = 5 * time.Millisecond
	targetSearchHTTPP99 = 30 * time.Millisecond
	targetRestart       = 2 * time.Second
	// inboxActive is how many conversations list-1m brings into memory
	// to measure the RSS at scale (issue 21: 10,000 of 1M active).
	inboxActive = 10_000
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

// parseFanout reads "workspaces:subscribers:rate[/rate…]": one shape
// per rate.
func parseFanout(name, spec string) ([]fanoutShape, error) {
	bad := fmt.Errorf("-%s wants workspaces:subscribers:rate[/rate…] (positive), not %q", name, spec)
	sh := fanoutShape{name: name}
	var rates string
	if _, err := fmt.Sscanf(spec, "%d:%d:%s", &sh.workspaces, &sh.subscribers, &rates); err != nil ||
		sh.workspaces <= 0 || sh.subscribers <= 0 {
		return nil, bad
	}
	var out []fanoutShape
	for r := range strings.SplitSeq(rates, "/") {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			return nil, bad
		}
		sh.rate = v
		out = append(out, sh)
	}
	return out, nil
}

// peerOptions name the fan-out peer and what it publishes.
type peerOptions struct {
	// bin is the Centrifugo binary; empty skips the peer.
	bin string
	// payload is "event" (a message.created event Parley sent) or
	// "frame" (a whole frame of Parley's that carried one).
	payload string
}

func fanoutSection(ctx context.Context, bin string, peer peerOptions, sh fanoutShape, sum *bench.Summary, w io.Writer) error {
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
	cfg := bench.FanoutConfig{Addr: p.Addr, Workspaces: wss, Subscribers: sh.subscribers, Rate: sh.rate, Duration: sh.duration,
		Customers: sh.customers, ServerPID: p.PID()}
	stopProgress := startProgress(sh.duration)
	res, err := bench.RunFanout(ctx, cfg)
	stopProgress()
	if serr := p.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping parley: %w", serr)
	}
	if err != nil {
		return err
	}
	var peerRes *bench.FanoutResult
	peerName := ""
	payload := "a `message.created` event Parley sent in this run"
	if peer.bin != "" {
		sample := res.CreatedSample
		if peer.payload == "frame" {
			sample = res.FrameSample
			payload = "a whole frame Parley sent in this run (the `message.created` event and the events sent with it)"
		}
		if peerRes, peerName, err = centrifugoRun(ctx, peer.bin, sh, cfg, sample); err != nil {
			return err
		}
		payload = fmt.Sprintf("%s (%d bytes)", payload, len(sample))
	}
	target := sh.rate * float64(sh.subscribers)
	verdict := "meets the target"
	if !res.Complete() || res.Percentile(99) > targetFanoutP99 {
		verdict = "MISSES the target"
	}
	fmt.Fprintf(w, "## Fan-out %s: %d workspace(s) × %d subscribers, %.0f inbound msgs/s\n\n", sh.name, sh.workspaces, sh.subscribers, sh.rate)
	fmt.Fprintf(w, "Signed WhatsApp webhooks sent open-loop at %.0f/s for %s over %d conversations per workspace (each warmed up with one unmeasured message), to the built binary on 127.0.0.1 with its AI agent off (as in the ingest run: what is measured is the path of inbound messages; with the default rules agent on, the conversations, started together and written to once a second, all reach the agent's debounce limit at the same moment, and its fifty replies land as one burst); %d real WebSocket clients in the same process as the sender. Latency is webhook sent → `message.created` read by a subscriber (the send time travels in the text); every subscriber must get each accepted message once and every event of its workspace's sequence (no seq gap) after its hello. Target: p99 ≤ %s with every event delivered; %s.\n\n",
		sh.rate, sh.duration, sh.customers, res.Subscribers, targetFanoutP99, verdict)
	if peerRes != nil {
		fmt.Fprintf(w, "%s ran the same shape right after Parley, measured by the same client: the same open-loop schedule and duration, the same WebSocket client library, one reader goroutine per subscriber and the same accounting. Each message is published through its HTTP server API (`POST /api/publish`) to channel ws<i> of workspace i; its data is %s with the marks replaced (Parley: %s, sent in frames with the `conversation.updated` that follows it; %s: %s). Subscribers use Centrifugo's JSON protocol over `/connection/websocket` (connect with an HS256 token, subscribe, read pushes, answer pings). Centrifugo keeps no history here and its publish path writes nothing to disk (no fsync), whereas Parley answers a webhook only after the message is committed with fsync and fans out after that; Centrifugo has no event sequence, so its event gaps are not checked (–) and its events are publications. Parley's events/s also count `conversation.updated`.\n\n",
			peerName, payload, frameSizes(res, "`message.created` event"), peerName, frameSizes(peerRes, "push frame of one publication"))
	}
	fmt.Fprintf(w, "| server | accepted / sent | deliveries | missing | dup | event gaps | disconnected | deliveries/s (target) | p50 | p99 | p999 | max | events/s | sender lag |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fanoutRow(w, "Parley", res, target, strconv.FormatInt(res.EventGaps, 10))
	if peerRes != nil {
		fanoutRow(w, peerName, peerRes, target, "–")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Where the machine's %d cores went while the sender ran (from /proc; cores are CPU time over the send window; the generator is the sender and every subscriber, in one process):\n\n", res.CPU.Cores)
	fmt.Fprintf(w, "| server | server cores | server CPU per inbound msg | generator cores | other cores | machine idle |\n|---|---|---|---|---|---|\n")
	cpuRow(w, "Parley", res)
	if peerRes != nil {
		cpuRow(w, peerName, peerRes)
	}
	fmt.Fprintln(w)
	noteFanout(sum, sh, res, peerRes, peerName)
	if peerRes != nil && peerRes.Percentile(99) > 0 {
		fmt.Fprintf(w, "p99 ratio Parley / %s: %.2f (p50 ratio %.2f).\n\n", peerName,
			float64(res.Percentile(99))/float64(peerRes.Percentile(99)), float64(res.Percentile(50))/float64(peerRes.Percentile(50)))
	}
	for _, e := range []string{res.FirstError, res.DisconnectError} {
		if e != "" {
			fmt.Fprintf(w, "First error: `%s`\n\n", e)
		}
	}
	if peerRes != nil {
		for _, e := range []string{peerRes.FirstError, peerRes.DisconnectError} {
			if e != "" {
				fmt.Fprintf(w, "First error (%s): `%s`\n\n", peerName, e)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %d/%d deliveries, %.0f/s, p50 %s p99 %s p999 %s: %s\n", sh.name, res.Delivered, res.Expected,
		res.DeliveryRate(), ms(res.Percentile(50)), ms(res.Percentile(99)), ms(res.Percentile(99.9)), verdict)
	if peerRes != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %d/%d deliveries, %.0f/s, p50 %s p99 %s p999 %s\n", sh.name, peerName, peerRes.Delivered, peerRes.Expected,
			peerRes.DeliveryRate(), ms(peerRes.Percentile(50)), ms(peerRes.Percentile(99)), ms(peerRes.Percentile(99.9)))
	}
	return nil
}

// centrifugoRun runs the shape against the Centrifugo binary bin, with
// event (a message.created Parley sent) as the published data, and
// returns what it measured and the row's name.
func centrifugoRun(ctx context.Context, bin string, sh fanoutShape, cfg bench.FanoutConfig, event []byte) (*bench.FanoutResult, string, error) {
	c, err := bench.StartCentrifugo(ctx, bin)
	if err != nil {
		return nil, "", err
	}
	name := "Centrifugo " + c.Version + " (same client)"
	cfg.ServerPID = c.PID()
	fmt.Fprintf(os.Stderr, "%s: %s, the same shape\n", sh.name, name)
	stopProgress := startProgress(sh.duration)
	res, err := bench.RunCentrifugoFanout(ctx, c, cfg, event)
	stopProgress()
	if serr := c.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stopping centrifugo: %w", serr)
	}
	if err != nil {
		return nil, "", fmt.Errorf("centrifugo: %w", err)
	}
	return res, name, nil
}

// fanoutRow writes one server's row of a fan-out table.
func fanoutRow(w io.Writer, name string, res *bench.FanoutResult, target float64, gaps string) {
	fmt.Fprintf(w, "| %s | %d / %d | %d of %d | %d | %d | %s | %d | %.0f (%.0f) | %s | %s | %s | %s | %.0f | %s |\n",
		name, res.Accepted, res.Sent, res.Delivered, res.Expected, res.Missing, res.Duplicates, gaps, res.Disconnected,
		res.DeliveryRate(), target, ms(res.Percentile(50)), ms(res.Percentile(99)), ms(res.Percentile(99.9)),
		ms(res.Percentile(100)), float64(res.Events)/res.Span.Seconds(), res.SenderLag.Round(time.Millisecond))
}

// cpuRow writes one server's row of a fan-out CPU table.
func cpuRow(w io.Writer, name string, res *bench.FanoutResult) {
	u := res.CPU
	if u.Wall <= 0 {
		fmt.Fprintf(w, "| %s | – | – | – | – | – |\n", name)
		return
	}
	fmt.Fprintf(w, "| %s | %.2f | %s | %.2f | %.2f | %.0f%% |\n", name, u.CoresUsed(u.Server), bench.Per(u.Server, res.Sent).Round(time.Microsecond),
		u.CoresUsed(u.Generator), u.CoresUsed(u.Other), 100*u.IdleShare())
}

// frameSizes describes the bytes the subscribers read: per delivery, and
// per unit (the message.created event, or frame of one publication).
func frameSizes(res *bench.FanoutResult, unit string) string {
	if res.Delivered == 0 {
		return "nothing delivered"
	}
	s := fmt.Sprintf("%.0f bytes read per delivery", float64(res.FrameBytes)/float64(res.Delivered))
	if res.Created > 0 {
		s += fmt.Sprintf(", %.0f bytes per %s", float64(res.CreatedBytes)/float64(res.Created), unit)
	}
	return s
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
	fmt.Fprintln(os.Stderr, "inbox: restart to /readyz and the first page")
	p, restart, err := bench.MeasureRestart(ctx, bin, dir, in.Workspace.Token)
	if err != nil {
		if p != nil {
			_ = p.Stop()
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "  ready %s, first page %s, RSS %d MiB\n", ms(restart.Ready), ms(restart.FirstPage), restart.RSS>>20)
	fmt.Fprintln(os.Stderr, "inbox: list over HTTP")
	lists, err := bench.ListLatency(ctx, p.Addr, in.Workspace.Token, bench.ListShapes, o.samples)
	var httpSearches []bench.SearchResult
	if err == nil {
		fmt.Fprintln(os.Stderr, "inbox: search over HTTP")
		httpSearches, err = bench.SearchHTTPLatency(ctx, p.Addr, in.Workspace.Token, in.SearchShapes(), o.samples)
	}
	var active int
	var activeRSS, beforeRSS int64
	if err == nil {
		beforeRSS = bench.ProcessRSS(p.PID())
		fmt.Fprintf(os.Stderr, "inbox: activating %d conversations (RSS %d MiB)\n", inboxActive, beforeRSS>>20)
		active, err = bench.ActivateConversations(ctx, p.Addr, in.Workspace.Token, inboxActive)
		activeRSS = bench.ProcessRSS(p.PID())
		fmt.Fprintf(os.Stderr, "  %d active, RSS %d MiB\n", active, activeRSS>>20)
	}
	var killed bench.RestartResult
	if err == nil {
		// Under load: conversations marked read one after another (each
		// a synced commit through its actor) when the server is killed.
		fmt.Fprintln(os.Stderr, "inbox: kill -9 under load, restart")
		lctx, stopLoad := context.WithCancel(ctx)
		loaded := make(chan struct{})
		go func() {
			defer close(loaded)
			_, _ = bench.ActivateConversations(lctx, p.Addr, in.Workspace.Token, 4*inboxActive)
		}()
		time.Sleep(3 * time.Second)
		p.Kill()
		stopLoad()
		<-loaded
		p, killed, err = bench.MeasureRestart(ctx, bin, dir, in.Workspace.Token)
		fmt.Fprintf(os.Stderr, "  ready %s, first page %s\n", ms(killed.Ready), ms(killed.FirstPage))
	}
	if p != nil {
		if serr := p.Stop(); err == nil && serr != nil {
			err = fmt.Errorf("stopping parley: %w", serr)
		}
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
	fmt.Fprintf(w, "Search at the store: `Store.Search` first page of 20 in process on the same store with the server stopped (beside the REST route, measured below), %d queries per shape (target p99 ≤ %s).\n\n", o.samples, targetSearchP99)
	fmt.Fprintf(w, "Restart: exec of the built binary on this data → first 200 from `/readyz` %s, → first open-inbox page read %s (target ≤ %s: %s); server RSS then %d MiB.\n\n",
		ms(restart.Ready), ms(restart.FirstPage), targetRestart, meets(restart.FirstPage, targetRestart), restart.RSS>>20)
	fmt.Fprintf(w, "After a kill -9 under load (conversations being marked read, a synced commit each, for 3 s) on the same data: exec → `/readyz` 200 %s, → first page %s.\n\n", ms(killed.Ready), ms(killed.FirstPage))
	fmt.Fprintf(w, "Memory at scale: after the list and search runs, %d open conversations are brought into memory (one `POST /api/v1/conversations/{id}/read` each, on conversations already read); the server's RSS is then %d MiB (%d MiB just before, after the list and search runs; %d MiB after the first page, none active). The heap of a passivated conversation is `BenchmarkActorHeap` (B/passivated) among the Go benchmarks.\n\n",
		active, activeRSS>>20, beforeRSS>>20, restart.RSS>>20)
	fmt.Fprintf(w, "| list | returned | p50 | p99 | max | target |\n|---|---|---|---|---|---|\n")
	for _, l := range lists {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", l.Shape.Name, l.Returned, ms(l.Latencies.Percentile(50)),
			ms(l.Latencies.Percentile(99)), ms(l.Latencies.Percentile(100)), meets(l.Latencies.Percentile(99), targetListP99))
		fmt.Fprintf(os.Stderr, "  list %s: p50 %s p99 %s\n", l.Shape.Name, ms(l.Latencies.Percentile(50)), ms(l.Latencies.Percentile(99)))
	}
	fmt.Fprintf(w, "\nSearch over HTTP: `GET /api/v1/search?limit=20&q=…` on the same running server, one request at a time, %d per shape after %d unmeasured (target p99 ≤ %s).\n\n", o.samples, o.samples/10, targetSearchHTTPP99)
	fmt.Fprintf(w, "| search over HTTP | hits/query | p50 | p99 | max | target |\n|---|---|---|---|---|---|\n")
	for _, s := range httpSearches {
		fmt.Fprintf(w, "| %s | %.1f | %s | %s | %s | %s |\n", s.Shape.Name, s.Hits, ms(s.Latencies.Percentile(50)),
			ms(s.Latencies.Percentile(99)), ms(s.Latencies.Percentile(100)), meets(s.Latencies.Percentile(99), targetSearchHTTPP99))
		fmt.Fprintf(os.Stderr, "  http search %s: p50 %s p99 %s\n", s.Shape.Name, ms(s.Latencies.Percentile(50)), ms(s.Latencies.Percentile(99)))
	}
	fmt.Fprintf(w, "\n| search at the store | hits/query | p50 | p99 | max | target |\n|---|---|---|---|---|---|\n")
	for _, s := range searches {
		fmt.Fprintf(w, "| %s | %.1f | %s | %s | %s | %s |\n", s.Shape.Name, s.Hits, ms(s.Latencies.Percentile(50)),
			ms(s.Latencies.Percentile(99)), ms(s.Latencies.Percentile(100)), meets(s.Latencies.Percentile(99), targetSearchP99))
		fmt.Fprintf(os.Stderr, "  search %s: p50 %s p99 %s\n", s.Shape.Name, ms(s.Latencies.Percentile(50)), ms(s.Latencies.Percentile(99)))
	}
	fmt.Fprintln(w)
	noteLists(o.sum, lists)
	noteScale(o.sum, restart, killed, httpSearches, activeRSS)
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
