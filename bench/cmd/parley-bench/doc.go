// Command parley-bench runs Parley's benchmarks and writes a markdown
// report: the Go benchmarks of the storage and actor layers, and the
// webhook ingest load against the built binary next to a bare Fiber
// server run the same way. It prints a progress line as it goes.
// -scenarios picks the named benchmarks: besides those two (webhook, go),
// fanout-a and fanout-b (webhook → WebSocket subscribers), fanout-ceiling
// (deliveries/s to 1,000 subscribers of one workspace at rising rates),
// ws-idle (server memory per idle WebSocket) and list-1m (inbox list and
// search on a generated million conversations).
// -centrifugo runs a Centrifugo binary (make bench-peer) beside Parley in
// the fan-out, ceiling and idle scenarios, measured by the same client.
// Beside the report goes its machine-readable summary (latest.md →
// latest.json, bench.Summary), and -parley-bin runs a given Parley binary
// instead of building one (A/B runs of two builds).
//
//	go run ./bench/cmd/parley-bench -out bench/results/latest.md
//	go run ./bench/cmd/parley-bench -scenarios fanout-a,fanout-b,list-1m -out bench/results/issue4.md
package main
