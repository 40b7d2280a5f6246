package actors

import (
	"context"
	"errors"
	"time"

	"github.com/parleyhq/parley/persistence"
)

// indexer keeps the search index up to date, off the write path: a
// conversation's batch queues it (persistence.Store.ProjectSearch) and the
// indexer projects queued conversations in the background, in batches.
// The queue is durable, so work left at shutdown or lost in a crash is
// done after the next start. Conversations stored before the index were
// queued by persistence.Open's migrations.
type indexer struct {
	rt    *Runtime
	kickc chan struct{}
}

// indexBatch is how many conversations one projection batch takes.
const indexBatch = 512

// indexDelay lets a burst of commits queue up before a projection, so one
// batch indexes many changes (and a busy conversation once).
const indexDelay = 50 * time.Millisecond

// indexShare bounds the indexer's share of one core while work is queued:
// after a projection that took d it rests d*(1/indexShare - 1). Under
// sustained overload, ingest keeps the CPU and search lags behind
// (the queue is durable), catching up when the load drops.
const indexShare = 0.35

// indexQuiet is how long the indexer waits without work, after a run
// that projected something, before it runs once more on the empty queue
// (persistence.Store.ProjectSearch then empties the search feed).
const indexQuiet = time.Second

// kick tells the indexer that something was queued. Kicks coalesce.
func (ix *indexer) kick() {
	select {
	case ix.kickc <- struct{}{}:
	default:
	}
}

func (ix *indexer) run(ctx context.Context) {
	rt := ix.rt
	for {
		start := time.Now()
		n, err := rt.store.ProjectSearch(indexBatch)
		took := time.Since(start)
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, persistence.ErrClosed)):
			return
		case err != nil:
			rt.log.Error("Updating the search index", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		case n > 0:
			rt.metrics.searchProjected.Add(float64(n))
		}
		rest := time.Duration(float64(took) * (1/indexShare - 1))
		if n < indexBatch {
			// Caught up: wait for more, or for the look behind the
			// queue's cursor that this run skipped (an entry committed
			// out of order is found by it, not by a kick).
			var behind <-chan time.Time
			var t *time.Timer
			if d, due := rt.store.SearchLookBehindDue(); due {
				t = time.NewTimer(d)
				behind = t.C
			} else if n > 0 {
				// One more run once quiet finds the queue empty, and
				// the store then lets go of its search feed (what a
				// burst left there would otherwise stay).
				t = time.NewTimer(indexQuiet)
				behind = t.C
			}
			select {
			case <-ctx.Done():
			case <-ix.kickc:
				rest = max(rest, indexDelay)
			case <-behind:
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
		}
		if !sleep(ctx, rest) {
			return
		}
	}
}

// sleep waits d of real time, or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
