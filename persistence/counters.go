package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// Counters: 'w' ws 'N' folder dim → int64, kept with Pebble's merge
// operator: every list index entry added merges +1 into its counter, every
// one removed -1, in the same batch. So folder counts (and mine,
// unassigned, unread...) are point reads, exact, and never recounted.
const tCounter = 'N'

// counterMerger adds 8-byte big-endian signed deltas.
var counterMerger = &pebble.Merger{
	Name: "parley.counter.v1",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		m := &sumMerger{}
		return m, m.MergeNewer(value)
	},
}

type sumMerger struct{ sum int64 }

var errBadCounter = errors.New("persistence: counter operand is not 8 bytes")

func (m *sumMerger) MergeNewer(v []byte) error {
	if len(v) != 8 {
		return errBadCounter
	}
	m.sum += int64(binary.BigEndian.Uint64(v)) //nolint:gosec // two's complement round trip
	return nil
}

func (m *sumMerger) MergeOlder(v []byte) error { return m.MergeNewer(v) }

func (m *sumMerger) Finish(bool) ([]byte, io.Closer, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(m.sum)), nil, nil //nolint:gosec // see MergeNewer
}

func counterKey(ws engine.ID, folder engine.Folder, dim string) []byte {
	return appendString(appendString(wsPrefix(ws, tCounter), string(folder)), dim)
}

func (b *Batch) addCounter(ws engine.ID, folder engine.Folder, dim string, delta int64) {
	if b.err == nil {
		b.err = b.b.Merge(counterKey(ws, folder, dim), binary.BigEndian.AppendUint64(nil, uint64(delta)), nil) //nolint:gosec // see MergeNewer
	}
}

// Count returns how many conversations of folder carry list dimension dim
// ("*" for all; "unread", "unassigned", "asg:<user>", "ch:<channel>",
// "mode:<mode>", "tag:<tag>").
func (s *Store) Count(ws engine.ID, folder engine.Folder, dim string) (int64, error) {
	v, ok, err := s.getRaw(counterKey(ws, folder, dim))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: counter of %d bytes", ErrCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil //nolint:gosec // see MergeNewer
}

// Dimension names for Count.
const (
	DimAll        = dimAll
	DimUnread     = "unread"
	DimUnassigned = "unassigned"
)

// DimAssignee is the Count dimension of conversations assigned to user.
func DimAssignee(user string) string { return "asg:" + user }
