package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// ingestPayload is the write set of one inbound message as the actors
// commit it: the message record (~400 bytes), the conversation header
// (~600 bytes), four list index keys and the external id key. Values are
// encoded once with the package's encode; keys are built per message.
type ingestPayload struct {
	ws       engine.ID
	convs    []engine.ID
	header   []byte
	message  []byte
	keyBytes int
}

func newIngestPayload(tb testing.TB) *ingestPayload {
	tb.Helper()
	ws := engine.NewID(t0)
	c := newConv(ws, 1, t0)
	c.ContactName = "Mariana Albuquerque de Souza"
	c.Mode = engine.ModeManual
	c.AIResumesAt = at(15 * time.Minute)
	c.ModeEpoch = 4
	c.Tags = []string{"billing"}
	c.AssigneeID = "u-17"
	c.UnreadCount = 2
	c.Preview = "Olá! Gostaria de saber o prazo de entrega do meu pedido."
	c.LastSeq, c.LastCustomerSeq = 42, 42
	c.LastInboundAt = at(time.Minute)
	c.AwaitingReply = true
	c.LastOutboundStatus, c.LastOutboundSeq = engine.StatusRead, 41
	m := newMsg(&c, 42, "wamid.HBgNNTUxMTk5OTk5OTk5ORUCABIYFjNFQjBDMEI4QjA1RjE4RkE3RTJBRkEA")
	m.ID = engine.NewID(t0)
	m.Text = "Olá! Gostaria de saber o prazo de entrega do meu pedido número 48213, obrigada."
	p := &ingestPayload{ws: ws, header: mustEncode(tb, &c), message: mustEncode(tb, &m)}
	for i := range 10_000 {
		p.convs = append(p.convs, engine.NewID(t0.Add(time.Duration(i))))
	}
	var keys int
	p.add(func(k, v []byte) { keys += len(k) }, 0)
	p.keyBytes = keys
	return p
}

// add writes message i's payload through set.
func (p *ingestPayload) add(set func(k, v []byte), i int) {
	conv := p.convs[i%len(p.convs)]
	seq := uint64(i) //nolint:gosec // i >= 0
	act := t0.Add(time.Duration(i))
	set(messageKey(p.ws, conv, seq), p.message)
	set(conversationKey(p.ws, conv), p.header)
	for _, dim := range []string{dimAll, "ch:whatsapp", "mode:manual", "tag:billing"} {
		set(listKey(p.ws, engine.FolderOpen, dim, act, conv), nil)
	}
	set(externalKey(p.ws, engine.ChannelWhatsApp, fmt.Sprintf("wamid.%016d", i)), messageRef(conv, seq))
}

// bytesPerMessage is the payload size of one message, keys included.
func (p *ingestPayload) bytesPerMessage() int64 {
	return int64(len(p.header) + len(p.message) + 24 + p.keyBytes)
}

// runWriters runs writers goroutines that together write b.N messages,
// batch messages per commit, and reports msgs/s.
func runWriters(b *testing.B, writers, batch int, commit func(first, n int) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				first := int(next.Add(int64(batch))) - batch
				if first >= b.N {
					return
				}
				if err := commit(first, min(batch, b.N-first)); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n := failed.Load(); n > 0 {
		b.ReportMetric(float64(n), "failed-commits")
	}
}

// BenchmarkRawPebble is the ceiling: synced Pebble batches of the same
// payload, committed directly on a pebble.DB by concurrent goroutines
// (Pebble's WAL groups concurrent synced commits by itself).
func BenchmarkRawPebble(b *testing.B) {
	p := newIngestPayload(b)
	for _, tc := range []struct {
		writers, batch int
		sync           bool
	}{
		{1, 1, true}, {64, 1, true}, {1, 100, true}, {64, 100, true}, {1, 1, false},
	} {
		name := fmt.Sprintf("writers=%d/batch=%d", tc.writers, tc.batch)
		if !tc.sync {
			name += "/nosync"
		}
		b.Run(name, func(b *testing.B) {
			cache := pebble.NewCache(64 << 20)
			defer cache.Unref()
			db, err := pebble.Open(b.TempDir(), &pebble.Options{
				Cache: cache, MemTableSize: 64 << 20, Logger: pebbleLogger{slog.New(slog.DiscardHandler)},
			})
			require.NoError(b, err)
			defer func() { require.NoError(b, db.Close()) }()
			wo := pebble.Sync
			if !tc.sync {
				wo = pebble.NoSync
			}
			b.ReportAllocs()
			b.SetBytes(p.bytesPerMessage())
			runWriters(b, tc.writers, tc.batch, func(first, n int) error {
				bt := db.NewBatch()
				defer bt.Close()
				for i := first; i < first+n; i++ {
					p.add(func(k, v []byte) { _ = bt.Set(k, v, nil) }, i)
				}
				return bt.Commit(wo)
			})
		})
	}
}

// BenchmarkStoreCommit commits the same payload, one message per batch,
// through Store.Commit from concurrent writers; the committers group them.
func BenchmarkStoreCommit(b *testing.B) {
	p := newIngestPayload(b)
	for _, writers := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d/batch=1", writers), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir()})
			require.NoError(b, err)
			defer func() { require.NoError(b, s.Close()) }()
			b.ReportAllocs()
			b.SetBytes(p.bytesPerMessage())
			before := s.Stats()
			runWriters(b, writers, 1, func(first, n int) error {
				bt := s.NewBatch()
				for i := first; i < first+n; i++ {
					p.add(func(k, v []byte) { bt.setRaw(k, v) }, i)
				}
				return s.Commit(bt)
			})
			st := s.Stats()
			if g := st.Groups - before.Groups; g > 0 {
				b.ReportMetric(float64(st.Commits-before.Commits)/float64(g), "batches/write")
			}
		})
	}
}

// BenchmarkList reads the first page of 50 of the open folder over 100k
// conversations, unfiltered and filtered.
func BenchmarkList(b *testing.B) {
	const n = 100_000
	s, err := Open(Options{Dir: b.TempDir(), NoSync: true})
	require.NoError(b, err)
	defer func() { require.NoError(b, s.Close()) }()
	ws := engine.NewID(t0)
	convs := make([]engine.Conversation, 0, 1000)
	for i := range n {
		c := newConv(ws, i, at(time.Duration(i)*time.Second))
		c.ContactName = fmt.Sprintf("Contact %d", i)
		c.Preview = "Olá! Gostaria de saber o prazo de entrega do meu pedido."
		c.Channel = engine.Channels[i%len(engine.Channels)]
		if i%20 == 0 {
			c.Tags = []string{"vip"}
		}
		if i%3 == 0 {
			c.UnreadCount = 1
		}
		convs = append(convs, c)
		if len(convs) == cap(convs) {
			putConvs(b, s, convs)
			convs = convs[:0]
		}
	}
	// Settle the LSM so background compactions do not share the timed loop.
	require.NoError(b, s.DB().Compact(context.Background(), []byte{0}, []byte{0xFF}, true))
	for _, tc := range []struct {
		name string
		q    ListQuery
	}{
		{"filter=none", ListQuery{Folder: engine.FolderOpen}},
		{"filter=tag", ListQuery{Folder: engine.FolderOpen, Tag: "vip"}},
		{"filter=tag+unread", ListQuery{Folder: engine.FolderOpen, Tag: "vip", Unread: true}},
		{"filter=channel+unread", ListQuery{Folder: engine.FolderOpen, Channel: engine.ChannelEmail, Unread: true}},
		{"filter=tag+channel+unread", ListQuery{Folder: engine.FolderOpen, Tag: "vip", Channel: engine.ChannelWhatsApp, Unread: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			page, err := s.List(ws, tc.q)
			require.NoError(b, err)
			require.Len(b, page.Conversations, 50)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.List(ws, tc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessagesPage reads a page of 40 messages of a conversation with
// 10k messages, from the newest and from the middle.
func BenchmarkMessagesPage(b *testing.B) {
	const n = 10_000
	s, err := Open(Options{Dir: b.TempDir(), NoSync: true})
	require.NoError(b, err)
	defer func() { require.NoError(b, s.Close()) }()
	ws := engine.NewID(t0)
	c := newConv(ws, 1, t0)
	for first := 1; first <= n; first += 1000 {
		commit(b, s, func(bt *Batch) {
			for seq := first; seq < first+1000; seq++ {
				m := newMsg(&c, uint64(seq), fmt.Sprintf("wamid.%d", seq)) //nolint:gosec // seq > 0
				m.Text = strings.Repeat("Olá! Gostaria de saber o prazo de entrega. ", 4)
				bt.PutMessage(&m, c.Channel)
			}
		})
	}
	require.NoError(b, s.DB().Compact(context.Background(), []byte{0}, []byte{0xFF}, true))
	for _, tc := range []struct {
		name   string
		before uint64
	}{{"from=newest", 0}, {"from=middle", n / 2}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.Messages(ws, c.ID, tc.before, 40)
				if err != nil || len(page) != 40 {
					b.Fatalf("%d messages, %v", len(page), err)
				}
			}
		})
	}
}
