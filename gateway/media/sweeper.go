package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the sweeper (see SweeperConfig).
const (
	DefaultSweepInterval = 10 * time.Minute
	DefaultOrphanGrace   = time.Hour
)

// Reasons a media file is deleted, the label of the media deletion
// metrics.
const (
	released = "released" // its last reference went with a message
	orphaned = "orphaned" // the sweeper found it unreferenced
)

// References tells whether a message still references a file
// (persistence.Store's media reference index).
type References interface {
	MediaReferenced(ws engine.ID, digest string) (bool, error)
}

// Sweeper deletes media files no message references: right after the
// batch that released their last reference (Release), and, for releases
// missed (a crash, an error), uploads whose send was refused and
// temporary files a crash left, by a periodic sweep once they have stayed
// unreferenced for a grace period (docs/ARCHITECTURE.md, invariant 10).
//
// NewSweeper starts nothing; Start starts the sweep goroutine, which
// alone owns the sweep state, and Shutdown stops it.
type Sweeper struct {
	store    *Store
	refs     References
	clock    clockwork.Clock
	interval time.Duration
	grace    time.Duration
	log      *slog.Logger

	filesDeleted *prometheus.CounterVec
	bytesDeleted *prometheus.CounterVec
	sweeps       prometheus.Counter
	sweepErrors  prometheus.Counter

	// seen holds each sweepable file met by the last sweep: when it was
	// first seen so, and its modification time then (a file rewritten
	// since starts over). Only the sweep goroutine touches it.
	seen map[string]sweepCandidate

	mu      sync.Mutex // guards started, stopped, cancel
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Release deletes the files with digests of workspace ws that no message
// references any more, right after the batch that released their
// references was committed. A file still referenced, or pinned by an
// upload in flight, stays; a release missed here (a crash, an error) is
// left to the sweep.
func (sw *Sweeper) Release(ws engine.ID, digests []string) {
	done := make(map[string]bool, len(digests))
	for _, d := range digests {
		if done[d] {
			continue
		}
		done[d] = true
		size, err := sw.store.RemoveUnreferenced(ws, d, func() (bool, error) {
			return sw.refs.MediaReferenced(ws, d)
		})
		if err != nil {
			sw.log.Warn("Deleting a released media file", "workspace", ws, "sha256", d, "err", err)
			continue
		}
		sw.countDeleted(released, size)
	}
}

func (sw *Sweeper) countDeleted(reason string, size int64) {
	if size < 0 {
		return
	}
	sw.filesDeleted.WithLabelValues(reason).Inc()
	sw.bytesDeleted.WithLabelValues(reason).Add(float64(size))
}

type sweepCandidate struct {
	since, mod time.Time
}

// run sweeps at every tick until ctx ends.
func (sw *Sweeper) run(ctx context.Context, tick clockwork.Ticker) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
			if err := sw.sweep(ctx, sw.clock.Now()); err != nil {
				sw.sweepErrors.Inc()
				sw.log.Warn("Sweeping media files", "err", err)
			}
			sw.sweeps.Inc()
		}
	}
}

// sweep walks every workspace's media directory once.
func (sw *Sweeper) sweep(ctx context.Context, now time.Time) error {
	dir := sw.store.dir
	wss, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing media: %w", err)
	}
	next := make(map[string]sweepCandidate, len(sw.seen))
	var errs []error
	for _, d := range wss {
		ws, perr := engine.ParseID(d.Name())
		if !d.IsDir() || perr != nil {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("listing media of %s: %w", ws, err))
			continue
		}
		for _, f := range files {
			if ctx.Err() != nil {
				return nil
			}
			if err := sw.visit(ws, f, now, next); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sw.seen = next
	return errors.Join(errs...)
}

// visit considers one file of workspace ws's directory, keeping it in
// next while it waits for its grace period to end.
func (sw *Sweeper) visit(ws engine.ID, f os.DirEntry, now time.Time, next map[string]sweepCandidate) error {
	name := f.Name()
	p := filepath.Join(sw.store.dir, ws.String(), name)
	var digest string
	switch {
	case hashRe.MatchString(name):
		digest = name
		ref, err := sw.refs.MediaReferenced(ws, digest)
		if err != nil {
			return fmt.Errorf("reading references of %s/%s: %w", ws, digest, err)
		}
		if ref {
			return nil
		}
	case strings.HasPrefix(name, ".upload-"):
		// A temporary file: a crash left it, or an upload is being
		// written (its modification time then keeps moving).
	case strings.HasSuffix(name, ".type"):
		if _, err := os.Stat(strings.TrimSuffix(p, ".type")); !errors.Is(err, os.ErrNotExist) {
			return nil // the type of a file that is there
		}
	default:
		return nil
	}
	info, err := f.Info()
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading media file %s: %w", p, err)
	}
	c, ok := sw.seen[p]
	if !ok || !c.mod.Equal(info.ModTime()) {
		c = sweepCandidate{since: now, mod: info.ModTime()}
	}
	if now.Sub(c.since) < sw.grace {
		next[p] = c
		return nil
	}
	if digest == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deleting stale media file: %w", err)
		}
		return nil
	}
	size, err := sw.store.RemoveUnreferenced(ws, digest, func() (bool, error) {
		return sw.refs.MediaReferenced(ws, digest)
	})
	if err != nil {
		return err
	}
	if size < 0 {
		next[p] = c // pinned or referenced again: look again next time
	}
	sw.countDeleted(orphaned, size)
	return nil
}
