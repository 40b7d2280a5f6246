// Package media owns Parley's media files: the content-addressed store
// (one directory per workspace, files named by their SHA-256, written to a
// temporary name, synced and renamed), the pins that keep an upload whose
// message is not yet committed, the deletion driven by the message
// reference index (Sweeper.Release right after the commit that removed a
// file's last reference, and the periodic sweep after a grace period), and
// the signed, expiring public links through which Instagram fetches
// outbound files.
//
// The store is the single owner of the files (docs/ARCHITECTURE.md, "Who
// owns what"); a file lives while a message references it
// (docs/ARCHITECTURE.md, invariant 10). The reference index itself is
// written by whoever writes the message, in the message's batch; this
// package only reads it through References.
//
// Concurrency: a Store is safe for concurrent use (one lock orders
// pinning against removal). NewStore and NewSweeper start nothing; the
// sweep runs in one goroutine started by Sweeper.Start and stopped by
// Sweeper.Shutdown, and only it touches the sweep state. The HTTP handlers
// that serve files and the inbound download workers live in package
// gateway.
package media
