// Command bare-fiber is the baseline for Parley's webhook benchmark: a
// Fiber server whose only handler reads the request body and answers 200.
// It runs the same way as parley (a separate process on 127.0.0.1), so
// the ratio between them is what Parley's ingest costs on top of HTTP.
//
// With -pebble DIR it is the durable floor instead: each request's body
// is written to a Pebble store in DIR under a key of its own, with fsync
// (concurrent requests share the WAL's group commit), before the 200.
// No parsing, no indexes: what any durable webhook receiver pays at
// least on this machine.
package main
