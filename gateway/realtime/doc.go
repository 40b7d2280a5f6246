// Package realtime serves Parley's WebSocket API, GET /api/v1/ws (the
// protocol is in README.md, Realtime, and docs/ARCHITECTURE.md, "Realtime
// protocol"). It owns the connections: each one's subscription to the
// runtime's broadcaster, and its one writer (every frame, control frames
// included, is built here and written under the session's write lock; the
// WebSocket library only reads). Events are written by a few shard
// goroutines with non-blocking writes; a connection whose socket does not
// take a whole frame is finished by its own session goroutine, so a slow
// client never holds a shard nor slows the engine (docs/ARCHITECTURE.md,
// invariant 7): one that falls behind is closed with 4008, one that takes
// nothing within the write wait is dropped.
//
// Authentication is the server's: Config.Authenticate checks the upgrade
// request's token. Concurrency contract: New builds a Hub and starts
// nothing; Start runs the shards; Shutdown closes every connection with a
// going-away frame, stops the shards and waits for them.
package realtime
