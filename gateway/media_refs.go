package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
)

// Defaults of the media sweeper (see Config).
const (
	defaultMediaSweepInterval = 10 * time.Minute
	defaultMediaOrphanGrace   = time.Hour
)

// Reasons a media file is deleted, the label of the media deletion
// metrics.
const (
	mediaReleased = "released" // its last reference went with a message
	mediaOrphaned = "orphaned" // the sweeper found it unreferenced
)

// releaseMedia deletes the files with digests of workspace ws that no
// message references any more, right after the batch that released their
// references was committed. A file still referenced, or pinned by an
// upload in flight, stays; a release missed here (a crash, an error) is
// left to the sweeper.
func (s *Server) releaseMedia(ws engine.ID, digests []string) {
	done := make(map[string]bool, len(digests))
	for _, d := range digests {
		if done[d] {
			continue
		}
		done[d] = true
		size, err := s.media.removeUnreferenced(ws, d, func() (bool, error) {
			return s.cfg.Store.MediaReferenced(ws, d)
		})
		if err != nil {
			s.log.Warn("Deleting a released media file", "workspace", ws, "sha256", d, "err", err)
			continue
		}
		s.countMediaDeleted(mediaReleased, size)
	}
}

func (s *Server) countMediaDeleted(reason string, size int64) {
	if size < 0 {
		return
	}
	s.metrics.mediaFilesDeleted.WithLabelValues(reason).Inc()
	s.metrics.mediaBytesDeleted.WithLabelValues(reason).Add(float64(size))
}

// mediaSweeper removes media files no message references once they have
// stayed so for a grace period: uploads whose send was refused, files
// whose release was missed, and temporary files a crash left. It is owned
// by one goroutine (run); its state needs no lock.
type mediaSweeper struct {
	s     *Server
	grace time.Duration
	// seen holds each sweepable file met by the last sweep: when it was
	// first seen so, and its modification time then (a file rewritten
	// since starts over).
	seen map[string]sweepCandidate
}

type sweepCandidate struct {
	since, mod time.Time
}

// run sweeps at every tick until ctx ends.
func (sw *mediaSweeper) run(ctx context.Context, tick clockwork.Ticker) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
			if err := sw.sweep(ctx, sw.s.cfg.Runtime.Clock().Now()); err != nil {
				sw.s.metrics.mediaSweepErrors.Inc()
				sw.s.log.Warn("Sweeping media files", "err", err)
			}
			sw.s.metrics.mediaSweeps.Inc()
		}
	}
}

// sweep walks every workspace's media directory once.
func (sw *mediaSweeper) sweep(ctx context.Context, now time.Time) error {
	dir := sw.s.media.dir
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
func (sw *mediaSweeper) visit(ws engine.ID, f os.DirEntry, now time.Time, next map[string]sweepCandidate) error {
	name := f.Name()
	p := filepath.Join(sw.s.media.dir, ws.String(), name)
	var digest string
	switch {
	case hashRe.MatchString(name):
		digest = name
		ref, err := sw.s.cfg.Store.MediaReferenced(ws, digest)
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
	size, err := sw.s.media.removeUnreferenced(ws, digest, func() (bool, error) {
		return sw.s.cfg.Store.MediaReferenced(ws, digest)
	})
	if err != nil {
		return err
	}
	if size < 0 {
		next[p] = c // pinned or referenced again: look again next time
	}
	sw.s.countMediaDeleted(mediaOrphaned, size)
	return nil
}
