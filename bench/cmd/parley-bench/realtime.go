package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
)

// realtimeResults are the runs made on the Parley of the webhook run once
// its ingest load is over.
type realtimeResults struct {
	ws          bench.WSResult
	send        bench.LoadResult
	sendRate    float64 // Graph API calls answered per second, end to end
	sendElapsed time.Duration
	graphSends  int64
}

// realtimeRuns measures inbound → WebSocket latency with o.wsSubs
// subscribers, and outbound sends: human replies over the REST API to
// o.outboundConvs conversations, timed until the fake Graph API has
// answered every one (through the outbox and the courier).
func realtimeRuns(ctx context.Context, o options, addr string, graph *bench.FakeGraph) (realtimeResults, error) {
	var r realtimeResults
	fmt.Fprintf(os.Stderr, "inbound → WebSocket: %d subscribers, %d webhooks\n", o.wsSubs, o.wsMessages)
	stop := startProgress(time.Duration(o.wsMessages)*5*time.Millisecond + 2*time.Second)
	ws, err := bench.RunWebSocket(ctx, addr, o.wsSubs, o.wsMessages, 5*time.Millisecond)
	stop()
	if err != nil {
		return r, err
	}
	r.ws = ws
	fmt.Fprintf(os.Stderr, "outbound sends: opening %d conversations\n", o.outboundConvs)
	convs, err := bench.Conversations(ctx, addr, o.outboundConvs)
	if err != nil {
		return r, err
	}
	before := graph.Sends()
	fmt.Fprintf(os.Stderr, "outbound sends: %d clients, %s\n", o.concurrency, o.duration)
	stop = startProgress(o.duration)
	start := time.Now()
	send, err := bench.RunLoad(ctx, bench.LoadConfig{Concurrency: o.concurrency, Duration: o.duration,
		Request: bench.SendMessageRequest,
		Target: func(i int64) string {
			return "http://" + addr + "/api/v1/conversations/" + convs[int(i)%len(convs)] + "/messages"
		}})
	stop()
	if err != nil {
		return r, err
	}
	want := before + send.Requests - send.Errors
	deadline := time.Now().Add(60 * time.Second)
	for graph.Sends() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.send, r.sendElapsed, r.graphSends = send, time.Since(start), graph.Sends()-before
	r.sendRate = float64(r.graphSends) / r.sendElapsed.Seconds()
	fmt.Fprintf(os.Stderr, "outbound: %.0f sends/s through the Graph API; websocket p99 %s\n",
		r.sendRate, bench.Percentile(r.ws.Latencies, 99))
	return r, nil
}

func (r realtimeResults) write(w io.Writer, o options) {
	fmt.Fprintf(w, "## Inbound → WebSocket\n\n%d WebSocket subscribers of the workspace; %d signed webhooks posted one after another, 5 ms apart, on the same Parley after the ingest run. Latency is from posting a webhook to a subscriber reading its `message.created` event (the webhook's own answer waits for the fsync first).\n\n",
		r.ws.Subscribers, r.ws.Messages)
	fmt.Fprintf(w, "| subscribers | events expected | received | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %s | %s |\n\n", r.ws.Subscribers, r.ws.Subscribers*r.ws.Messages, r.ws.Delivered,
		bench.Percentile(r.ws.Latencies, 50), bench.Percentile(r.ws.Latencies, 90), bench.Percentile(r.ws.Latencies, 99), bench.Percentile(r.ws.Latencies, 100))
	fmt.Fprintf(w, "## Outbound sends against a fake Graph API\n\n%d clients post human replies (`POST /api/v1/conversations/{id}/messages`) to %d conversations for %s; each reply is committed with its outbox entry, then the courier sends it to a local fake of the WhatsApp Cloud API that answers at once, and the conversation records the outcome. Throughput counts the sends the fake answered, until the last accepted reply was sent or for at most 60 s after the load (the rest is the backlog left in the outbox). The Graph client keeps to Meta's limits (80 messages per second per WhatsApp number, and WhatsApp's pair rate per user), so with few conversations this figure is the limiter's, not the engine's.\n\n",
		o.concurrency, o.outboundConvs, o.duration)
	accepted := r.send.Requests - r.send.Errors
	fmt.Fprintf(w, "| replies accepted (201) | API p50 | API p99 | sent to the Graph API | backlog | sends/s end to end | errors |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d | %s | %s | %d | %d | %.0f | %d |\n\n", accepted, r.send.Percentile(50).Round(time.Microsecond),
		r.send.Percentile(99).Round(time.Microsecond), r.graphSends, max(accepted-r.graphSends, 0), r.sendRate, r.send.Errors)
	if r.send.FirstError != "" {
		fmt.Fprintf(w, "First error (send API): `%s`\n\n", strings.ReplaceAll(r.send.FirstError, "`", "'"))
	}
}

// writeChart writes the latency chart beside the report and links it.
func writeChart(out string, w io.Writer, series []bench.Series) error {
	name := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out)) + "-latency.svg"
	path := filepath.Join(filepath.Dir(out), name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, bench.LatencySVG("Latency percentiles", series), 0o644); err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	fmt.Fprintf(w, "## Latency chart\n\n![latency percentiles](%s)\n\n", name)
	return nil
}
