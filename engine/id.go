package engine

import (
	"crypto/rand"
	"fmt"
	"io"
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

// ParseID parses the 26-character text form of an ID.
func ParseID(s string) (ID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return ZeroID, fmt.Errorf("engine: bad id %q: %w", s, err)
	}
	return id, nil
}
