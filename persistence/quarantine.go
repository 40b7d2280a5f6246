package persistence

import (
	"bytes"
	"fmt"
	"sync"
)

// Quarantine: a list or messages page skips a record that does not decode
// instead of failing the whole page (so does the listing of a
// conversation's channel message ids, so that it can still be deleted). The record stays where it is (the
// page is still served without it); its bytes are also copied under the
// quarantine prefix, once per key, for inspection (Store.Quarantined),
// and it is counted in parley_store_corrupt_records_total{kind} and
// logged, once per key while the process runs.
//
//	's' 'X' original-key                     copy of a corrupt record

const tQuarantine = 'X' // not 'Q': stores before the search queue's move kept it there

var quarantinePrefix = []byte{spaceSystem, tQuarantine}

// quarantineKey is the key of the copy of the record at key.
func quarantineKey(key []byte) []byte {
	return append(append(make([]byte, 0, len(quarantinePrefix)+len(key)), quarantinePrefix...), key...)
}

// Kinds of records that a page skips when corrupt (metrics labels).
const (
	corruptConversation = "conversation"
	corruptMessage      = "message"
)

// maxCorruptKeys bounds the keys remembered as already reported; past it
// a corrupt record is still skipped and counted, neither logged nor
// copied again.
const maxCorruptKeys = 10000

// corruptRecord is a record a read skipped.
type corruptRecord struct {
	kind     string
	key, val []byte
	err      error
}

// corruptLog remembers the corrupt keys already reported and counts them
// by kind.
type corruptLog struct {
	mu     sync.Mutex
	seen   map[string]struct{}
	counts map[string]uint64
}

// skipped returns a copy of a record that did not decode, for report.
func skipped(kind string, key, val []byte, err error) corruptRecord {
	return corruptRecord{kind: kind, key: bytes.Clone(key), val: bytes.Clone(val), err: err}
}

// quarantine reports records a read skipped: each key new to this process
// is counted, logged and copied under the quarantine prefix in one batch.
// Call it outside any read (it writes).
func (s *Store) quarantine(recs []corruptRecord) {
	if len(recs) == 0 {
		return
	}
	var fresh []corruptRecord
	s.corrupt.mu.Lock()
	if s.corrupt.seen == nil {
		s.corrupt.seen, s.corrupt.counts = map[string]struct{}{}, map[string]uint64{}
	}
	for _, r := range recs {
		if _, ok := s.corrupt.seen[string(r.key)]; ok {
			continue
		}
		s.corrupt.counts[r.kind]++
		if len(s.corrupt.seen) < maxCorruptKeys {
			s.corrupt.seen[string(r.key)] = struct{}{}
			fresh = append(fresh, r)
		}
	}
	s.corrupt.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	b := s.NewBatch()
	for _, r := range fresh {
		s.log.Error("Skipping a corrupt record; a copy is kept under the quarantine prefix",
			"kind", r.kind, "key", fmt.Sprintf("%x", r.key), "bytes", len(r.val), "err", r.err)
		b.setRaw(quarantineKey(r.key), r.val)
	}
	if err := s.Commit(b); err != nil {
		s.log.Error("Copying corrupt records to quarantine", "err", err)
	}
}

// corruptCounts returns how many corrupt records of each kind reads met.
func (s *Store) corruptCounts() map[string]uint64 {
	s.corrupt.mu.Lock()
	defer s.corrupt.mu.Unlock()
	out := make(map[string]uint64, len(s.corrupt.counts))
	for k, v := range s.corrupt.counts {
		out[k] = v
	}
	return out
}

// QuarantinedRecord is a copy of a stored record that did not decode.
type QuarantinedRecord struct {
	Key   []byte // the record's own key
	Value []byte
}

// Quarantined returns up to limit copies of corrupt records met by reads,
// in key order. Deleting a conversation deletes the copies of its
// records.
func (s *Store) Quarantined(limit int) ([]QuarantinedRecord, error) {
	it, err := s.iter(quarantinePrefix, prefixEnd(quarantinePrefix))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []QuarantinedRecord
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		out = append(out, QuarantinedRecord{Key: bytes.Clone(it.Key()[len(quarantinePrefix):]), Value: bytes.Clone(it.Value())})
	}
	return out, iterErr(it)
}
