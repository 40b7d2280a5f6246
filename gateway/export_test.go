package gateway

import (
	"github.com/parleyhq/parley/engine"
	"testing"
	"time"
)

// SetWebSocketWriteWait sets how long a WebSocket write may wait for its
// client (10 s otherwise).
func SetWebSocketWriteWait(s *Server, d time.Duration) { s.hub.SetWriteWait(d) }

// ActiveRequests is how many requests the gateway's drain gate let
// through are in progress.
func ActiveRequests(s *Server) int64 { return s.active.Load() }

// OpenConns is how many connections the HTTP server serves (hijacked ones
// aside).
func OpenConns(s *Server) int {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	return len(s.conns)
}

// SetCannedChecked sets f to run between a canned reply create's check of
// the short codes and its commit, until the test ends. Tests that use it
// must not run in parallel.
func SetCannedChecked(t *testing.T, f func()) {
	cannedChecked = f
	t.Cleanup(func() { cannedChecked = nil })
}

// SetBackupBuilt sets f to run once a backup is built, before it is sent,
// until the test ends. Tests that use it must not run in parallel.
func SetBackupBuilt(t *testing.T, f func()) {
	backupBuilt = f
	t.Cleanup(func() { backupBuilt = nil })
}

// SetStripeLooked sets f to run between the lookup of a Stripe event's
// contact and its creation, until the test ends. Tests that use it must
// not run in parallel.
func SetStripeLooked(t *testing.T, f func()) {
	stripeLooked = f
	t.Cleanup(func() { stripeLooked = nil })
}

// SetFormLooked sets f to run between the lookup of a form submission's
// contact and its creation, for the test's duration.
func SetFormLooked(t *testing.T, f func()) {
	formLooked = f
	t.Cleanup(func() { formLooked = nil })
}

// ParseEmbeddings reads an embeddings endpoint's response for n inputs.
var ParseEmbeddings = parseEmbeddings

// Routes lists "METHOD template" of every route the server's router
// serves (GET, POST, PUT, PATCH, DELETE), path parameters written as
// {name}: what the isolation tests walk.
func Routes(s *Server) []string { return documentedRoutes(s.app) }

// SetWorkspaceDeletion makes a workspace deletion remove chunk keys per
// batch and ask pause (if not nil) before each batch of its range phases,
// until the test ends. Tests that use it must not run in parallel.
func SetWorkspaceDeletion(t *testing.T, chunk int, pause func(phase string) bool) {
	oldChunk := workspaceDeleteChunk
	workspaceDeleteChunk, workspaceDeletePause = chunk, pause
	t.Cleanup(func() { workspaceDeleteChunk, workspaceDeletePause = oldChunk, nil })
}

// PresenceSockets is how many web app connections of user the presence
// tracker counts.
func PresenceSockets(s *Server, ws, user engine.ID) int {
	s.presence.mu.Lock()
	defer s.presence.mu.Unlock()
	if e := s.presence.users[presenceKey{ws, user}]; e != nil {
		return e.p.Sockets
	}
	return 0
}
