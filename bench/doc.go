// Package bench holds Parley's benchmark harness: it runs the Go
// benchmarks of the storage and actor layers (and, as they land, load
// generators against the built binary), and turns their output into a
// markdown report with the machine it ran on and the command that
// reproduces it. cmd/parley-bench is its command-line driver, run by
// `make bench`.
//
// Against the built binary it also measures the realtime path and the
// inbox at scale: RunFanout drives signed webhooks open-loop into seeded
// workspaces (SeedWorkspaces) and checks that every message reaches every
// WebSocket subscriber, with its latency, and RunCentrifugoFanout runs the
// same shape, client and accounting against a Centrifugo server
// (StartCentrifugo) as the peer it is compared with; GenerateInbox writes a large
// inbox straight into a store, and ListLatency and SearchLatency measure
// the first page of the list over HTTP and of a search at the store.
// RunIdle and RunCentrifugoIdle measure the server's resident memory per
// idle WebSocket. Summary is the machine-readable summary of a run
// (latest.json): every figure of the targets, measured or null.
//
// cmd/parley-cpu compares the server CPU per inbound webhook of several
// Parley binaries, running them in turn round after round so that the
// shared host's drift falls on each alike.
//
// Figures are reported as ratios against a baseline measured in the same
// run wherever one exists (the raw Pebble ceiling for durable ingest),
// because the machines it runs on are shared and noisy.
package bench
