package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/procfs"
)

// IdleConfig describes an idle-connection run: Subscribers WebSocket
// clients per workspace connect, subscribe and then stay idle; the run
// measures how much the server's resident memory grew.
type IdleConfig struct {
	// Addr is the server's host:port (Parley; Centrifugo's runs use the
	// Centrifugo's own).
	Addr       string
	Workspaces []Workspace
	// Subscribers is the number of WebSocket clients per workspace.
	Subscribers int
	// ServerPID is the server's process, whose RSS is read from /proc.
	ServerPID int
	// Settle is how long the server is left alone before each reading;
	// zero means 3 s.
	Settle time.Duration
}

// IdleResult is what an idle-connection run measured.
type IdleResult struct {
	Subscribers int
	// RSSBefore and RSSAfter are the server's resident set, in bytes,
	// before the clients connected and once they were all connected and
	// idle.
	RSSBefore, RSSAfter int64
	// Connect is how long connecting every client took.
	Connect time.Duration
}

// PerConnection is the RSS growth per connection, in bytes.
func (r IdleResult) PerConnection() float64 {
	if r.Subscribers == 0 {
		return 0
	}
	return float64(r.RSSAfter-r.RSSBefore) / float64(r.Subscribers)
}

// RunIdle measures Parley's resident memory per idle WebSocket.
func RunIdle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	fc := FanoutConfig{Addr: cfg.Addr, Workspaces: cfg.Workspaces, Subscribers: cfg.Subscribers}
	return runIdle(ctx, cfg, &parleyFanout{cfg: &fc})
}

// RunCentrifugoIdle measures the same on Centrifugo, its subscribers on
// channels ws0, ws1… as in RunCentrifugoFanout.
func RunCentrifugoIdle(ctx context.Context, c *Centrifugo, cfg IdleConfig) (IdleResult, error) {
	cfg.Addr, cfg.ServerPID = c.Addr, c.PID()
	return runIdle(ctx, cfg, &centrifugoFanout{c: c, nws: len(cfg.Workspaces)})
}

// runIdle connects the subscribers of cfg to srv, each with a reader
// that answers what must be answered (Centrifugo's pings) and sends
// nothing else, and reads the server's RSS before and after.
func runIdle(ctx context.Context, cfg IdleConfig, srv fanoutServer) (IdleResult, error) {
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	if len(cfg.Workspaces) == 0 || cfg.Subscribers <= 0 || cfg.ServerPID <= 0 {
		return IdleResult{}, errors.New("idle: workspaces, subscribers and the server's pid are needed")
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle: opening /proc: %w", err)
	}
	proc, err := fs.Proc(cfg.ServerPID)
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle: reading process %d: %w", cfg.ServerPID, err)
	}
	rss := func() (int64, error) {
		st, err := proc.NewStatus()
		if err != nil {
			return 0, fmt.Errorf("idle: reading the server's RSS: %w", err)
		}
		return int64(st.VmRSS), nil //nolint:gosec // bytes of memory
	}
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return IdleResult{}, err
	}
	var res IdleResult
	if res.RSSBefore, err = rss(); err != nil {
		return res, err
	}
	start := time.Now()
	subs, err := connectSubscribers(ctx, FanoutConfig{Workspaces: cfg.Workspaces, Subscribers: cfg.Subscribers}, 0, srv)
	if err != nil {
		return res, err
	}
	res.Connect, res.Subscribers = time.Since(start), len(subs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stopping bool
	var readErr error
	for _, s := range subs {
		wg.Go(func() {
			for {
				_, frame, err := s.conn.ReadMessage()
				if err == nil {
					if reply := srv.read(s, frame, 0); reply != nil {
						err = s.conn.WriteMessage(websocket.TextMessage, reply)
					}
				}
				if err != nil {
					mu.Lock()
					if !stopping && readErr == nil {
						readErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	err = sleepCtx(ctx, cfg.Settle)
	if err == nil {
		res.RSSAfter, err = rss()
	}
	mu.Lock()
	stopping = true
	lost := readErr
	mu.Unlock()
	for _, s := range subs {
		_ = s.conn.Close()
	}
	wg.Wait()
	if err == nil && lost != nil {
		err = fmt.Errorf("idle: a subscriber's connection ended while idle: %w", lost)
	}
	return res, err
}

// sleepCtx waits for d or the end of ctx.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
