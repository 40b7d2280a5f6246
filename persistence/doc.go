// Package persistence stores Parley's data in Pebble: the keyspace, the
// record encodings, the batches that change a conversation together with
// its indexes, and the queries the inbox runs.
//
// Every workspace record lives under a key that starts with the workspace
// id, so no query can reach across workspaces by accident. Records are
// encoded with a leading version byte: conversation headers and messages,
// the records every inbound message writes, in a compact binary format
// (version 2, codec_wire.go); everything else as JSON (version 1, which
// headers and messages written by earlier releases still use). A state change is one Batch; the
// Store commits batches with fsync and groups concurrent commits into one
// Pebble write (Pebble's WAL then syncs once for all of them), so that
// many conversations committing at once share the cost of an fsync.
//
// The data directory as a whole carries a format version; Open migrates an
// older directory to FormatVersion and refuses a newer one (format.go).
//
// Concurrency: a Store is safe for concurrent use. A Batch belongs to one
// goroutine until it is committed. Nothing here orders writes to the same
// conversation: the actors package guarantees one writer per conversation.
package persistence
