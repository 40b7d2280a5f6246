package persistence

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// One corrupt record does not fail a page: a list page skips a header
// that does not decode and a messages page a message, each counted in
// parley_store_corrupt_records_total{kind}, logged once per key, left in
// place and copied under the quarantine prefix.
func TestCorruptRecordsAreSkippedAndQuarantined(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	s, err := Open(Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ws := idOf('w', 1)
	convs := []engine.Conversation{newConv(ws, 1, at(time.Minute)), newConv(ws, 2, at(2*time.Minute)), newConv(ws, 3, at(3*time.Minute))}
	putConvs(t, s, convs)
	c1 := convs[0]
	commit(t, s, func(b *Batch) {
		for seq := uint64(1); seq <= 3; seq++ {
			m := newMsg(&c1, seq, "")
			b.PutMessage(&m, c1.Channel)
		}
	})
	badHeader := []byte{9, 'n', 'o', 'p', 'e'} // a version no reader knows
	badMessage := []byte{recordVersion, '{'}   // JSON cut short
	require.NoError(t, s.db.Set(conversationKey(ws, convs[1].ID), badHeader, pebble.Sync))
	require.NoError(t, s.db.Set(messageKey(ws, c1.ID, 2), badMessage, pebble.Sync))

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(s.Collector()))
	for range 2 { // a second read counts and logs nothing new
		page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen})
		require.NoError(t, err)
		require.Len(t, page.Conversations, 2)
		require.Equal(t, convs[2].ID, page.Conversations[0].ID)
		require.Equal(t, convs[0].ID, page.Conversations[1].ID)

		ms, err := s.Messages(ws, c1.ID, 0, 50)
		require.NoError(t, err)
		require.Len(t, ms, 2)
		require.Equal(t, []uint64{3, 1}, []uint64{ms[0].Seq, ms[1].Seq})
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP parley_store_corrupt_records_total Stored records that did not decode and were skipped by a list, messages or search page (counted once per key while the process runs).
# TYPE parley_store_corrupt_records_total counter
parley_store_corrupt_records_total{kind="conversation"} 1
parley_store_corrupt_records_total{kind="message"} 1
`), "parley_store_corrupt_records_total"))
	require.Equal(t, 2, strings.Count(logs.String(), "Skipping a corrupt record"), logs.String())

	// The bytes are kept: in place, and copied under the quarantine prefix.
	q, err := s.Quarantined(10)
	require.NoError(t, err)
	require.Equal(t, []QuarantinedRecord{
		{Key: conversationKey(ws, convs[1].ID), Value: badHeader},
		{Key: messageKey(ws, c1.ID, 2), Value: badMessage},
	}, q)
	v, closer, err := s.db.Get(conversationKey(ws, convs[1].ID))
	require.NoError(t, err)
	require.Equal(t, badHeader, v)
	require.NoError(t, closer.Close())
	// A point read still says what is wrong.
	_, err = s.Conversation(ws, convs[1].ID)
	require.True(t, IsCorruption(err))

	// A conversation with a corrupt message can still be deleted, and
	// the copy goes with it.
	extIDs, err := s.ChannelMessageIDs(ws, c1.ID)
	require.NoError(t, err)
	commit(t, s, func(b *Batch) { b.DeleteConversation(&c1, extIDs) })
	q, err = s.Quarantined(10)
	require.NoError(t, err)
	require.Equal(t, []QuarantinedRecord{{Key: conversationKey(ws, convs[1].ID), Value: badHeader}}, q)
}

// The quarantine prefix is its own: no other system table, current or
// migrated at Open, shares its byte.
func TestQuarantinePrefixIsFree(t *testing.T) {
	t.Parallel()
	for _, b := range []byte{tTimer, tOutbox, tSearchQueue, tSearchQueueV1, tMarker, tWorkspace, tToken, tAccount, tUser,
		tWsAccount, tCredential, tInvitation, tWsToken, tPasswordLink, tTokenUse, tAgentSettings, tAnalytics, tCounter, tFormat, tHealth} {
		require.NotEqual(t, byte(tQuarantine), b)
	}
}

// A search whose snippet window reads a message that does not decode
// skips it, instead of failing the whole page, and quarantines it.
func TestSearchSkipsCorruptMessages(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	w := newSearchWriter(t, s, ws)
	c := w.create("Ada", at(time.Minute), "parcel delayed at the depot", "parcel arrived")
	// The newest message, the first the snippet window reads, goes bad.
	require.NoError(t, s.db.Set(messageKey(ws, c.ID, 2), []byte{recordVersion, '{'}, pebble.Sync))

	search(t, s, ws, "parcel") // the bad message's own hit has no readable text left
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "depot")))
	q, err := s.Quarantined(10)
	require.NoError(t, err)
	require.Equal(t, []QuarantinedRecord{{Key: messageKey(ws, c.ID, 2), Value: []byte{recordVersion, '{'}}}, q)
}
