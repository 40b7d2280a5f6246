package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// BuildParley builds cmd/parley into dir and returns the binary's path.
func BuildParley(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "parley")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/parleyhq/parley/cmd/parley")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building cmd/parley: %w", err)
	}
	return bin, nil
}

// StartParley runs the Parley binary bin on a free port of 127.0.0.1
// with its data in dataDir, the benchmark's app secret and bootstrap
// token, and no reachable Graph API; env entries are added last (and
// win, as for PARLEY_GRAPH_API_URL).
func StartParley(ctx context.Context, bin, dataDir string, env ...string) (*Process, error) {
	return StartProcess(ctx, bin, nil, append([]string{
		"PARLEY_ADDR=127.0.0.1:0", "PARLEY_DATA_DIR=" + dataDir,
		"PARLEY_META_APP_SECRET=" + BenchAppSecret, "PARLEY_BOOTSTRAP_TOKEN=" + BenchToken,
		"PARLEY_GRAPH_API_URL=http://127.0.0.1:9"}, env...))
}

// StoreDir is where Parley keeps its Pebble store in a data directory.
func StoreDir(dataDir string) string { return filepath.Join(dataDir, "db") }

// Workspace is a workspace seeded for a benchmark: an owner token and a
// connected WhatsApp number.
type Workspace struct {
	ID      engine.ID
	Token   string
	PhoneID string
}

// SeedWorkspaces writes n workspaces, each with an owner, an owner API
// token, a WhatsApp account and the AI agent off (the fan-out runs
// measure the realtime path of inbound messages, as the ingest runs
// measure storing them, not the AI's replies), straight into the store of dataDir (the
// server must not be running on it). Seeding is deterministic: the same n
// gives the same tokens and numbers, so a kept data directory is reused.
func SeedWorkspaces(dataDir string, n int, now time.Time) (_ []Workspace, err error) {
	s, err := persistence.Open(persistence.Options{Dir: StoreDir(dataDir), NoSync: true})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	b := s.NewBatch()
	out := make([]Workspace, n)
	for i := range out {
		w := engine.Workspace{ID: seqID(now, uint64(2*i+1)), Name: fmt.Sprintf("Bench %d", i), CreatedAt: now}                    //nolint:gosec // i >= 0
		u := engine.User{ID: seqID(now, uint64(2*i+2)), WorkspaceID: w.ID, Name: "Owner", Role: engine.RoleOwner, CreatedAt: now} //nolint:gosec // i >= 0
		ws := Workspace{ID: w.ID, Token: fmt.Sprintf("pk_bench_ws_%d", i), PhoneID: fmt.Sprintf("2000%011d", i)}
		b.PutWorkspace(&w)
		b.PutUser(&u)
		b.IssueToken(ws.Token, &persistence.IssuedToken{ID: u.ID, Kind: persistence.TokenAPI,
			Token: engine.Token{WorkspaceID: w.ID, UserID: u.ID, Role: engine.RoleOwner, Name: "bench", CreatedAt: now}})
		b.PutChannelAccount(&engine.ChannelAccount{WorkspaceID: w.ID, Channel: engine.ChannelWhatsApp, AccountID: ws.PhoneID,
			Name: "bench", AccessToken: "tok", CreatedAt: now, UpdatedAt: now})
		b.PutAgentSettings(&engine.AgentSettings{WorkspaceID: w.ID, Kind: engine.AgentOff})
		out[i] = ws
	}
	if err := s.Commit(b); err != nil {
		return nil, fmt.Errorf("seeding workspaces: %w", err)
	}
	return out, nil
}

// seqID is an id with time t and sequence number n: deterministic, and
// ordered by n within one t.
func seqID(t time.Time, n uint64) engine.ID {
	var id engine.ID
	_ = id.SetTime(uint64(t.UnixMilli())) //nolint:gosec // after 1970
	for i := range 8 {
		id[15-i] = byte(n >> (8 * i))
	}
	return id
}
