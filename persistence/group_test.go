package persistence

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// commitAsGroup commits fill's batches as one commit group, the way the
// committers do.
func commitAsGroup(t *testing.T, s *Store, fills ...func(b *pebble.Batch)) {
	t.Helper()
	group := make([]*commitReq, len(fills))
	for i, fill := range fills {
		b := s.db.NewBatch()
		fill(b)
		group[i] = &commitReq{b: b, done: make(chan error, 1)}
	}
	var scratch groupScratch
	s.commitGroup(group, &scratch)
	for _, r := range group {
		require.NoError(t, <-r.done)
	}
}

func getString(t *testing.T, s *Store, k string) (string, bool) {
	t.Helper()
	v, ok, err := s.getRaw([]byte(k))
	require.NoError(t, err)
	return string(v), ok
}

// Records of one key keep their batches' order when the group is sorted:
// a set, then a later batch's single delete, then a set again.
func TestCommitGroupKeepsTheOrderOfOneKey(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	delta := func(d int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(d)) } //nolint:gosec // test deltas
	commitAsGroup(t, s,
		func(b *pebble.Batch) {
			require.NoError(t, b.Set([]byte("z"), []byte("1"), nil))
			require.NoError(t, b.Set([]byte("k"), []byte("first"), nil))
			require.NoError(t, b.Merge([]byte("n"), delta(5), nil))
		},
		func(b *pebble.Batch) {
			require.NoError(t, b.SingleDelete([]byte("k"), nil))
			require.NoError(t, b.Set([]byte("a"), []byte("2"), nil))
			require.NoError(t, b.Merge([]byte("n"), delta(-2), nil))
			require.NoError(t, b.Set([]byte("gone"), []byte("x"), nil))
		},
		func(b *pebble.Batch) {
			require.NoError(t, b.Set([]byte("k"), []byte("third"), nil))
			require.NoError(t, b.Delete([]byte("gone"), nil))
		},
	)
	v, ok := getString(t, s, "k")
	require.True(t, ok)
	require.Equal(t, "third", v, "the last batch's set wins")
	_, ok = getString(t, s, "gone")
	require.False(t, ok)
	v, _ = getString(t, s, "n")
	require.Equal(t, string(delta(3)), v)
	v, _ = getString(t, s, "a")
	require.Equal(t, "2", v)
	require.NoError(t, s.db.Flush())
	require.Zero(t, s.Stats().SingleDeleteMisuse)
}

// A group with a range delete is applied batch after batch, unsorted,
// and lands the same.
func TestCommitGroupWithARangeDelete(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	commitAsGroup(t, s,
		func(b *pebble.Batch) { require.NoError(t, b.Set([]byte("p1"), []byte("x"), nil)) },
		func(b *pebble.Batch) { require.NoError(t, b.DeleteRange([]byte("p"), []byte("q"), nil)) },
		func(b *pebble.Batch) { require.NoError(t, b.Set([]byte("p2"), []byte("y"), nil)) },
	)
	_, ok := getString(t, s, "p1")
	require.False(t, ok, "deleted by the later batch's range")
	v, ok := getString(t, s, "p2")
	require.True(t, ok)
	require.Equal(t, "y", v)
}

// Random groups of sets and deletes over a few keys end as they do when
// each batch commits on its own.
func TestCommitGroupMatchesBatchByBatch(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0)) //nolint:gosec // test data
	grouped, single := openStore(t), openStore(t)
	for round := range 20 {
		var fills []func(b *pebble.Batch)
		for range 1 + rng.IntN(40) {
			type op struct {
				del  bool
				k, v string
			}
			ops := make([]op, 1+rng.IntN(12))
			for i := range ops {
				ops[i] = op{rng.IntN(4) == 0, fmt.Sprintf("w%02d", rng.IntN(30)), fmt.Sprintf("%d-%d", round, rng.Int())}
			}
			fills = append(fills, func(b *pebble.Batch) {
				for _, o := range ops {
					if o.del {
						require.NoError(t, b.Delete([]byte(o.k), nil))
					} else {
						require.NoError(t, b.Set([]byte(o.k), []byte(o.v), nil))
					}
				}
			})
		}
		commitAsGroup(t, grouped, fills...)
		for _, fill := range fills {
			b := single.db.NewBatch()
			fill(b)
			require.NoError(t, b.Commit(pebble.Sync))
		}
	}
	for i := range 30 {
		k := fmt.Sprintf("w%02d", i)
		gv, gok := getString(t, grouped, k)
		sv, sok := getString(t, single, k)
		require.Equal(t, sok, gok, k)
		require.Equal(t, sv, gv, k)
	}
}

// A large batch committed on its own is sorted too, and keeps the order
// of each key's records.
func TestCommitSortedLargeBatch(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	b := s.db.NewBatch()
	for i := range 2 * sortedFrom {
		k := []byte(fmt.Sprintf("k%02d", 2*sortedFrom-i)) // descending
		require.NoError(t, b.Set(k, []byte("old"), nil))
		require.NoError(t, b.SingleDelete(k, nil))
		if i%2 == 0 {
			require.NoError(t, b.Set(k, []byte("new"), nil))
		}
	}
	require.NoError(t, s.commitSorted(b, pebble.Sync, new([]groupRecord)))
	require.NoError(t, b.Close())
	for i := range 2 * sortedFrom {
		v, ok := getString(t, s, fmt.Sprintf("k%02d", 2*sortedFrom-i))
		require.Equal(t, i%2 == 0, ok, i)
		if ok {
			require.Equal(t, "new", v)
		}
	}
	require.NoError(t, s.db.Flush())
	require.Zero(t, s.Stats().SingleDeleteMisuse)
}
