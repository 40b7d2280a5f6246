package persistence

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests; 0 picks one from the clock")

// testSeed returns the seed of a randomized test and logs it, so a failure
// can be re-run with -seed.
func testSeed(tb testing.TB) uint64 {
	tb.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) //nolint:gosec // a seed
	}
	tb.Logf("seed %d (re-run with -seed %d)", seed, seed)
	return seed
}

// t0 is the fixed "now" the tests start from; no test reads a clock.
var t0 = time.Date(2025, time.March, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// openStore opens a Store on a real Pebble in a fresh temporary directory
// and closes it when the test ends.
func openStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(Options{Dir: tb.TempDir()})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close()) })
	return s
}

// idOf returns a deterministic id: n in the low bytes, tag in the first.
func idOf(tag byte, n int) engine.ID {
	var id engine.ID
	id[0] = tag
	binary.BigEndian.PutUint64(id[8:], uint64(n)) //nolint:gosec // test ids are small
	return id
}

// newConv returns an open conversation n of workspace ws, active at act.
func newConv(ws engine.ID, n int, act time.Time) engine.Conversation {
	c := engine.NewConversation(idOf('c', n), ws, engine.ChannelWhatsApp, "acct-1",
		idOf('p', n), fmt.Sprintf("user-%d", n), t0)
	c.LastActivityAt = act
	return c
}

// newMsg returns inbound text message seq of conversation c.
func newMsg(c *engine.Conversation, seq uint64, extID string) engine.Message {
	return engine.Message{
		ID:               idOf('m', int(seq)), //nolint:gosec // test seqs are small
		WorkspaceID:      c.WorkspaceID,
		ConversationID:   c.ID,
		Seq:              seq,
		Direction:        engine.DirIn,
		Sender:           engine.Sender{Kind: engine.SenderCustomer},
		Content:          engine.Content{Kind: engine.KindText, Text: fmt.Sprintf("message %d", seq)},
		ChannelMessageID: extID,
		CreatedAt:        t0.Add(time.Duration(seq) * time.Second), //nolint:gosec // small
	}
}

// commit builds one batch with fill and commits it, requiring success.
func commit(tb testing.TB, s *Store, fill func(b *Batch)) {
	tb.Helper()
	b := s.NewBatch()
	fill(b)
	require.NoError(tb, s.Commit(b))
}

// putConvs stores convs as new conversations, many per batch.
func putConvs(tb testing.TB, s *Store, convs []engine.Conversation) {
	tb.Helper()
	const perBatch = 500
	for i := 0; i < len(convs); i += perBatch {
		commit(tb, s, func(b *Batch) {
			for j := i; j < min(i+perBatch, len(convs)); j++ {
				b.PutConversation(nil, &convs[j])
			}
		})
	}
}

// rawKeys returns a copy of every live key with prefix p, in order.
func rawKeys(tb testing.TB, s *Store, p []byte) [][]byte {
	tb.Helper()
	it, err := s.iter(p, prefixEnd(p))
	require.NoError(tb, err)
	defer func() { require.NoError(tb, it.Close()) }()
	var keys [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, bytes.Clone(it.Key()))
	}
	require.NoError(tb, it.Error())
	return keys
}

// workspaceKeys returns every key of workspace ws ('w' ws ...) except the
// counters, which stay (at zero) when what they count is gone; checkCounters
// checks those.
func workspaceKeys(tb testing.TB, s *Store, ws engine.ID) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, k := range rawKeys(tb, s, append([]byte{spaceWorkspace}, ws[:]...)) {
		if k[1+len(ws)] != tCounter {
			out = append(out, k)
		}
	}
	return out
}

// listEntry is a decoded list index key.
type listEntry struct {
	Folder   engine.Folder
	Dim      string
	Activity time.Time
	Conv     engine.ID
}

func (e listEntry) String() string {
	return fmt.Sprintf("%s/%s/%s/%s", e.Folder, e.Dim, e.Activity.UTC().Format(time.RFC3339Nano), e.Conv)
}

// listEntries decodes every list index key of workspace ws, independently
// of the package's own key builders.
func listEntries(tb testing.TB, s *Store, ws engine.ID) []string {
	tb.Helper()
	p := wsPrefix(ws, tList)
	var out []string
	for _, k := range rawKeys(tb, s, p) {
		rest := k[len(p):]
		folder, rest, ok := readString(rest)
		require.True(tb, ok, "folder of %x", k)
		dim, rest, ok := readString(rest)
		require.True(tb, ok, "dim of %x", k)
		require.Len(tb, rest, 24, "tail of %x", k)
		var e listEntry
		e.Folder, e.Dim = engine.Folder(folder), dim
		e.Activity = time.Unix(0, int64(math.MaxUint64-binary.BigEndian.Uint64(rest[:8]))) //nolint:gosec // written from UnixNano
		copy(e.Conv[:], rest[8:])
		out = append(out, e.String())
	}
	return out
}

// readString decodes one appendString-encoded string from the front of b.
func readString(b []byte) (string, []byte, bool) {
	var s []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			s = append(s, b[i])
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case 0xFF:
			s = append(s, 0)
			i++
		case 0x01:
			return string(s), b[i+2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// ids returns the ids of convs, in order.
func ids(convs []engine.Conversation) []engine.ID {
	out := make([]engine.ID, len(convs))
	for i := range convs {
		out[i] = convs[i].ID
	}
	return out
}

// conversationSystemKeys returns the timer and outbox keys: the system
// space entries that belong to conversations.
func conversationSystemKeys(tb testing.TB, s *Store) [][]byte {
	tb.Helper()
	return append(rawKeys(tb, s, timerPrefix), rawKeys(tb, s, outboxPrefix)...)
}

// systemKeyWorkspace returns the workspace a timer or outbox key names.
func systemKeyWorkspace(tb testing.TB, k []byte) engine.ID {
	tb.Helper()
	var ws engine.ID
	switch {
	case len(k) == 2+8+1+32 && k[1] == tTimer: // 's' 'T' due kind ws conv
		copy(ws[:], k[11:27])
	case len(k) == 2+32+8 && k[1] == tOutbox: // 's' 'O' ws conv seq
		copy(ws[:], k[2:18])
	default:
		tb.Fatalf("unknown system key %x", k)
	}
	return ws
}

// quietProgress is a migration progress that logs nowhere, for tests
// that run one migration step by itself.
func quietProgress() *migrationProgress {
	return &migrationProgress{log: slog.New(slog.DiscardHandler), last: time.Now()}
}
