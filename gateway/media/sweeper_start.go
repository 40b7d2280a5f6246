package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// SweeperConfig configures a Sweeper. Store, Refs and Clock are required.
type SweeperConfig struct {
	// Store holds the files.
	Store *Store
	// Refs answers whether a file is still referenced.
	Refs References
	// Clock drives the sweeps (the runtime's clock).
	Clock clockwork.Clock
	// Interval is how often the directory is swept; zero means
	// DefaultSweepInterval.
	Interval time.Duration
	// Grace is how long a file must have stayed unreferenced before a
	// sweep deletes it; zero means DefaultOrphanGrace.
	Grace time.Duration
	// Logger receives sweep errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the parley_media_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// NewSweeper returns a sweeper over cfg.Store and registers its metrics;
// it starts nothing.
func NewSweeper(cfg SweeperConfig) (*Sweeper, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("media: SweeperConfig.Store is required")
	case cfg.Refs == nil:
		return nil, errors.New("media: SweeperConfig.Refs is required")
	case cfg.Clock == nil:
		return nil, errors.New("media: SweeperConfig.Clock is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSweepInterval
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultOrphanGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sw := &Sweeper{store: cfg.Store, refs: cfg.Refs, clock: cfg.Clock, interval: cfg.Interval, grace: cfg.Grace, log: cfg.Logger,
		filesDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_media_files_deleted_total", Help: "Media files deleted, by reason: released (their last reference went) or orphaned (the sweeper found them unreferenced past the grace period)."}, []string{"reason"}),
		bytesDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_media_deleted_bytes_total", Help: "Bytes of the media files deleted, by reason."}, []string{"reason"}),
		sweeps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_media_sweeps_total", Help: "Sweeps of the media directory for unreferenced files."}),
		sweepErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_media_sweep_errors_total", Help: "Media sweeps that met an error (the files concerned wait for the next sweep)."}),
	}
	for _, reason := range []string{released, orphaned} {
		sw.filesDeleted.WithLabelValues(reason)
		sw.bytesDeleted.WithLabelValues(reason)
	}
	if cfg.Registerer != nil {
		if err := registerAll(cfg.Registerer, sw.filesDeleted, sw.bytesDeleted, sw.sweeps, sw.sweepErrors); err != nil {
			return nil, fmt.Errorf("media: registering metrics: %w", err)
		}
	}
	return sw, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Start starts the periodic sweep. The ticker exists before Start
// returns, so a fake clock advanced right after moves it. Calling it
// again, or after Shutdown, does nothing.
func (sw *Sweeper) Start() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.started || sw.stopped {
		return
	}
	sw.started = true
	ctx, cancel := context.WithCancel(context.Background())
	sw.cancel = cancel
	tick := sw.clock.NewTicker(sw.interval)
	sw.wg.Add(1)
	go pprof.Do(ctx, pprof.Labels("parley", "media-sweeper"), func(ctx context.Context) {
		defer sw.wg.Done()
		defer tick.Stop()
		sw.run(ctx, tick)
	})
}

// Shutdown stops the sweep and waits for it to end. Safe to call more
// than once, and without Start.
func (sw *Sweeper) Shutdown() {
	sw.mu.Lock()
	sw.stopped = true
	cancel := sw.cancel
	sw.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	sw.wg.Wait()
}
