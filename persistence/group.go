package persistence

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// groupRecord is one point record of a batch in a commit group; key and
// value point into the batch, which outlives the merge.
type groupRecord struct {
	// head is the key's first eight bytes, big-endian, zero-padded: most
	// comparisons end there without reading the keys.
	head       uint64
	idx        int // position in the group, which orders records of one key
	kind       pebble.InternalKeyKind
	key, value []byte
}

// groupScratch is what a committer reuses from one group to the next.
type groupScratch struct {
	recs []groupRecord
	srcs []*pebble.Batch
}

func keyHead(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func compareRecords(a, b groupRecord) int {
	if c := cmp.Compare(a.head, b.head); c != 0 {
		return c
	}
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// mergeSorted writes the records of srcs, the batches of a commit group
// or one large batch, into dst in key order. It reports false (dst then
// holds a part of them, to be reset) when a batch holds a record kind
// other than set, merge, delete and single delete.
//
// Pebble inserts a batch into its memtable one record after the other,
// reusing the skiplist position of the last insert when the next key
// is near it. The batches of a group come from many conversations, each
// writing a dozen keys spread over its workspace's tables, so in commit
// order every insert searches the whole skiplist (in the fanout-a
// profile, 15% of the server's CPU). Sorted, the records of one table
// and workspace follow each other and most inserts start where the
// previous one ended.
//
// Records of one key keep their order (a set, then the single delete of
// a later batch of the same conversation), and the memtable gives them
// sequence numbers in that order, as it would have without the sort. The group commits as one batch either way, so no
// reader sees a part of it.
func mergeSorted(dst *pebble.Batch, srcs []*pebble.Batch, scratch *[]groupRecord) (bool, error) {
	recs := (*scratch)[:0]
	defer func() {
		clear(recs) // do not keep the batches' bytes reachable
		*scratch = recs[:0]
	}()
	for _, src := range srcs {
		rd := src.Reader()
		for {
			kind, key, value, ok, err := rd.Next()
			if err != nil {
				return false, fmt.Errorf("persistence: reading a batch of a commit group: %w", err)
			}
			if !ok {
				break
			}
			switch kind {
			case pebble.InternalKeyKindSet, pebble.InternalKeyKindMerge,
				pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
			default:
				return false, nil
			}
			recs = append(recs, groupRecord{keyHead(key), len(recs), kind, key, value})
		}
	}
	slices.SortFunc(recs, compareRecords)
	for _, rec := range recs {
		var err error
		switch rec.kind {
		case pebble.InternalKeyKindSet:
			err = dst.Set(rec.key, rec.value, nil)
		case pebble.InternalKeyKindMerge:
			err = dst.Merge(rec.key, rec.value, nil)
		case pebble.InternalKeyKindDelete:
			err = dst.Delete(rec.key, nil)
		default:
			err = dst.SingleDelete(rec.key, nil)
		}
		if err != nil {
			return false, fmt.Errorf("persistence: merging a commit group: %w", err)
		}
	}
	return true, nil
}
