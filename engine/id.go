package engine

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID identifies a workspace, conversation, contact or message. IDs are ULIDs:
// 16 bytes that sort by creation time, written as 26 Crockford base32
// characters on the wire.
type ID = ulid.ULID

// ZeroID is the empty ID.
var ZeroID ID

var (
	entropyMu sync.Mutex
	entropy   io.Reader = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ID whose time component is t (clamped to the Unix
// epoch). IDs sort by their millisecond; within one millisecond the order
// is only guaranteed for IDs made back to back (an ID of another
// millisecond in between resets the entropy). Nothing orders messages by
// ID: a conversation's messages are ordered by seq.
func NewID(t time.Time) ID {
	if t.UnixMilli() < 0 {
		t = time.UnixMilli(0)
	}
	entropyMu.Lock()
	defer entropyMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), entropy)
}

// NewIDs returns n new IDs with time component t, made back to back so
// that they sort in the order returned.
func NewIDs(t time.Time, n int) []ID {
	if t.UnixMilli() < 0 {
		t = time.UnixMilli(0)
	}
	entropyMu.Lock()
	defer entropyMu.Unlock()
	ids := make([]ID, n)
	for i := range ids {
		ids[i] = ulid.MustNew(ulid.Timestamp(t), entropy)
	}
	return ids
}

// IDSource makes the id of a record created at time t. Apply takes one,
// like it takes the time, so that the rules stay deterministic: the
// runtime passes NewID, tests a SeededIDs.
type IDSource func(t time.Time) ID

// SeededIDs returns an IDSource whose ids depend only on seed and the
// times asked for: two sources made with the same seed, asked the same
// times in the same order, return the same ids. It is for tests; it is
// safe for concurrent use.
func SeededIDs(seed uint64) IDSource {
	var mu sync.Mutex
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := ulid.Monotonic(mrand.NewChaCha8(key), 0)
	return func(t time.Time) ID {
		if t.UnixMilli() < 0 {
			t = time.UnixMilli(0)
		}
		mu.Lock()
		defer mu.Unlock()
		return ulid.MustNew(ulid.Timestamp(t), src)
	}
}

// ParseID parses the 26-character text form of an ID.
func ParseID(s string) (ID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return ZeroID, fmt.Errorf("engine: bad id %q: %w", s, err)
	}
	return id, nil
}
