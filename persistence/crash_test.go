package persistence

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// crashWorkload commits n batches (a new conversation and its first
// message each) from several goroutines on a Store over a crashable
// in-memory FS, and takes crash clones of the FS while they run.
type crashWorkload struct {
	t  *testing.T
	fs *vfs.MemFS
	s  *Store
	ws engine.ID
	n  int
}

const crashDir = "/parley"

func newCrashWorkload(t *testing.T, n int, noSync bool) *crashWorkload {
	t.Helper()
	fs := vfs.NewCrashableMem()
	s, err := Open(Options{Dir: crashDir, FS: fs, NoSync: noSync})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &crashWorkload{t: t, fs: fs, s: s, ws: idOf('w', 1), n: n}
}

func (w *crashWorkload) conv(i int) engine.Conversation {
	return newConv(w.ws, i, at(time.Duration(i)*time.Second))
}

func crashExtID(i int) string { return fmt.Sprintf("wamid.%d", i) }

// run commits batch i for every i in [0, n) from writers goroutines and
// sends i on the returned channel once Commit(i) returned nil. The channel
// is closed when every Commit returned.
func (w *crashWorkload) run(writers int) <-chan int {
	acks := make(chan int, w.n)
	next := make(chan int, w.n)
	for i := range w.n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range next {
				c := w.conv(i)
				m := newMsg(&c, 1, crashExtID(i))
				b := w.s.NewBatch()
				b.PutConversation(nil, &c)
				b.PutMessage(&m, c.Channel)
				if err := w.s.Commit(b); err != nil {
					w.t.Errorf("commit %d: %v", i, err)
					continue
				}
				acks <- i
			}
		})
	}
	go func() { wg.Wait(); close(acks) }()
	return acks
}

// crashed is what a store reopened from a crash clone holds.
type crashed struct {
	present map[int]bool
}

// reopen opens a Store on fs (a crash clone), checks that every batch is
// all there or not there at all, and reports which are there.
func (w *crashWorkload) reopen(fs *vfs.MemFS) crashed {
	t := w.t
	t.Helper()
	s, err := Open(Options{Dir: crashDir, FS: fs})
	require.NoError(t, err, "reopening after the crash")
	defer func() { require.NoError(t, s.Close()) }()
	out := crashed{present: map[int]bool{}}
	for i := range w.n {
		c := w.conv(i)
		_, errConv := s.Conversation(w.ws, c.ID)
		_, errMsg := s.Message(w.ws, c.ID, 1)
		ref, hasExt, err := s.LookupChannelMessage(w.ws, c.Channel, crashExtID(i))
		require.NoError(t, err)
		th, hasThread, err := s.LookupThread(w.ws, c.ChannelAccountID, c.ExternalUserID)
		require.NoError(t, err)
		if errConv != nil {
			require.ErrorIs(t, errConv, ErrNotFound, "batch %d", i)
			require.ErrorIs(t, errMsg, ErrNotFound, "batch %d is torn: message without header", i)
			require.False(t, hasExt, "batch %d is torn: external id without header", i)
			require.False(t, hasThread, "batch %d is torn: thread without header", i)
			continue
		}
		require.NoError(t, errMsg, "batch %d is torn: header without message", i)
		require.True(t, hasExt, "batch %d is torn: header without external id", i)
		require.Equal(t, MessageRef{ConversationID: c.ID, Seq: 1}, ref)
		require.True(t, hasThread, "batch %d is torn: header without thread", i)
		require.Equal(t, c.ID, th.ConversationID)
		out.present[i] = true
	}
	// The list index agrees with the headers.
	listed, _ := listAll(t, s, w.ws, ListQuery{Folder: engine.FolderOpen, Limit: 500})
	require.Len(t, listed, len(out.present))
	return out
}

// lost returns the acknowledged batches the crash lost.
func (c crashed) lost(acked []int) []int {
	var out []int
	for _, i := range acked {
		if !c.present[i] {
			out = append(out, i)
		}
	}
	return out
}

// TestReopenAfterCrashFindsEveryCommittedBatch: batches are committed
// concurrently; a crash is simulated twice (a clone of the FS holding only
// what was synced, plus a random share of what was not), once in the
// middle of the writes and once after. A store reopened from either clone
// holds every batch whose Commit had returned nil when the clone was
// taken, and no batch in part.
func TestReopenAfterCrashFindsEveryCommittedBatch(t *testing.T) {
	t.Parallel()
	for _, unsynced := range []int{0, 30, 80} {
		t.Run(fmt.Sprintf("unsynced=%d%%", unsynced), func(t *testing.T) {
			t.Parallel()
			seed := testSeed(t)
			cfg := func() vfs.CrashCloneCfg {
				return vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rand.New(rand.NewPCG(seed, 1))}
			}
			const n = 300
			w := newCrashWorkload(t, n, false)
			acks := w.run(16)

			var acked []int
			for i := range acks {
				acked = append(acked, i)
				if len(acked) == n/2 {
					break
				}
			}
			// Every batch in acked was acknowledged before this clone.
			mid := w.fs.CrashClone(cfg())
			ackedMid := append([]int(nil), acked...)
			for i := range acks {
				acked = append(acked, i)
			}
			require.Len(t, acked, n)
			end := w.fs.CrashClone(cfg())

			got := w.reopen(mid)
			require.Empty(t, got.lost(ackedMid), "seed %d: acknowledged batches lost in the crash", seed)
			t.Logf("mid-run crash: %d acknowledged, %d present", len(ackedMid), len(got.present))
			got = w.reopen(end)
			require.Empty(t, got.lost(acked), "seed %d: acknowledged batches lost in the crash", seed)
			require.Len(t, got.present, n)
		})
	}
}

// TestCrashCheckHasTeeth runs the same check on a Store with NoSync: its
// Commit returns before the WAL is synced, so a crash that keeps only
// synced data loses acknowledged batches, and the check above notices.
// (If this ever stops losing data, the crash test above proves nothing.)
func TestCrashCheckHasTeeth(t *testing.T) {
	t.Parallel()
	const n = 100
	w := newCrashWorkload(t, n, true)
	var acked []int
	for i := range w.run(4) {
		acked = append(acked, i)
	}
	require.Len(t, acked, n)
	got := w.reopen(w.fs.CrashClone(vfs.CrashCloneCfg{}))
	require.NotEmpty(t, got.lost(acked), "NoSync lost nothing in a crash: the crash simulation has no teeth")
	t.Logf("NoSync: %d of %d acknowledged batches lost", len(got.lost(acked)), n)

	// The same workload with sync loses nothing from the same crash.
	w = newCrashWorkload(t, n, false)
	acked = acked[:0]
	for i := range w.run(4) {
		acked = append(acked, i)
	}
	got = w.reopen(w.fs.CrashClone(vfs.CrashCloneCfg{}))
	require.Empty(t, got.lost(acked))
}
