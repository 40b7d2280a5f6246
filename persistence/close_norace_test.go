//go:build !race

package persistence

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// These tests race Close against work in flight, many times over. The
// windows they look for are a few instructions wide, and the race
// detector serialises goroutines enough to hide them, so they run only
// without -race (see TestCommitRacingClose for the light variant that
// runs with it).

// closeRaceBudget bounds how long each stress test keeps trying.
const closeRaceBudget = 3 * time.Second

// TestCommitRacingCloseStress: a Commit that checked "not closed" just
// before Close ran must still get an answer, and what was acknowledged is
// there after reopening. (Before Store.gate, Commit loaded s.closed and
// then selected on {s.queue <- r, <-s.quit}; when Close ran in between,
// the select could still pick the queue after the committers had gone,
// and that Commit never returned. This test hung within a second.)
func TestCommitRacingCloseStress(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(closeRaceBudget)
	for it := 0; time.Now().Before(deadline); it++ {
		raceCommitsWithClose(t, it, it%16 == 0) // reopening costs more than the race itself
	}
}

// TestReadsRacingCloseStress: a read that checked "not closed" just before
// Close closed Pebble must get ErrClosed (or its answer), not a panic from
// Pebble ("pebble: closed"), and Close must not find leaked iterators.
// (Before Store.gate, Close returned "leaked iterators" on the first try.)
func TestReadsRacingCloseStress(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(closeRaceBudget)
	for it := 0; time.Now().Before(deadline); it++ {
		s, err := Open(Options{Dir: "/db", FS: vfs.NewMem()})
		require.NoError(t, err)
		ws := idOf('w', 1)
		c := newConv(ws, 1, t0)
		m := newMsg(&c, 1, "x")
		commit(t, s, func(b *Batch) {
			b.PutConversation(nil, &c)
			b.PutMessage(&m, c.Channel)
		})
		const readers = 8
		var (
			wg      sync.WaitGroup
			started atomic.Int32
			all     = make(chan struct{})
			panics  = make(chan string, readers)
		)
		reads := []func() error{
			func() error { _, err := s.Conversation(ws, c.ID); return err },
			func() error { _, err := s.List(ws, ListQuery{Folder: engine.FolderOpen}); return err },
			func() error { _, _, err := s.LookupChannelMessage(ws, c.Channel, "x"); return err },
			func() error { _, err := s.Messages(ws, c.ID, 0, 10); return err },
		}
		for r := range readers {
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						panics <- fmt.Sprint(p)
					}
				}()
				for i := 0; ; i++ {
					err := reads[(r+i)%len(reads)]()
					if i == 0 && started.Add(1) == readers {
						close(all)
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
				}
			})
		}
		<-all
		closeErr := s.Close()
		wg.Wait()
		close(panics)
		for p := range panics {
			t.Fatalf("iteration %d: a read racing Close panicked: %s", it, p)
		}
		require.NoError(t, closeErr, "iteration %d", it)
	}
}
