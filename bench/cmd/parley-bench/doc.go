// Command parley-bench runs Parley's benchmarks and writes a markdown
// report: the Go benchmarks of the storage and actor layers, and the
// webhook ingest load against the built binary next to a bare Fiber
// server run the same way. It prints a progress line as it goes.
// -scenarios picks the named benchmarks: besides those two (webhook, go),
// fanout-a and fanout-b (webhook → WebSocket subscribers) and list-1m
// (inbox list and search on a generated million conversations).
// -centrifugo runs a Centrifugo binary (make bench-peer) beside Parley in
// the fan-out scenarios, measured by the same client.
//
//	go run ./bench/cmd/parley-bench -out bench/results/latest.md
//	go run ./bench/cmd/parley-bench -scenarios fanout-a,fanout-b,list-1m -out bench/results/issue4.md
package main
