package actors_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// benchEnv is a runtime over a real Pebble in a temp dir (on disk, so
// fsync costs what it costs), with the real clock.
type benchEnv struct {
	store *persistence.Store
	rt    *actors.Runtime
	ws    engine.ID
}

func newBenchEnv(tb testing.TB, cfg actors.Config) *benchEnv {
	tb.Helper()
	s, err := persistence.Open(persistence.Options{Dir: tb.TempDir(), Committers: benchCommitters})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Store = s
	rt, err := actors.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = rt.Shutdown(ctx)
		_ = s.Close()
	})
	return &benchEnv{store: s, rt: rt, ws: engine.NewID(time.Now())}
}

func (e *benchEnv) inbound(user int, id string) engine.Inbound {
	return engine.Inbound{
		WorkspaceID: e.ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: "phone-1",
		ExternalUserID: fmt.Sprintf("user-%d", user), ContactName: "Benchmark Customer", ChannelMessageID: id,
		Content: engine.Content{Kind: engine.KindText, Text: "Hello, I would like to know whether my order #12345 has shipped yet, thanks!"},
	}
}

// warm creates conversations 0..n-1 with one message each.
func (e *benchEnv) warm(tb testing.TB, n int) []engine.ID {
	tb.Helper()
	ids := make([]engine.ID, n)
	const chunk = 256
	for start := 0; start < n; start += chunk {
		var ins []engine.Inbound
		for u := start; u < min(n, start+chunk); u++ {
			ins = append(ins, e.inbound(u, fmt.Sprintf("warm-%d", u)))
		}
		res, err := e.rt.Ingest(context.Background(), ins)
		if err != nil {
			tb.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				tb.Fatal(r.Err)
			}
			ids[start+i] = r.ConversationID
		}
	}
	return ids
}

// run calls f(i) for i in [0, n) from w goroutines and returns msgs/s.
func parallel(n, w int, f func(i int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// rawCeiling measures Pebble alone: w goroutines committing synced batches
// with exactly what one ingested message writes (message, header, list
// index moves, channel id), ungrouped.
func rawCeiling(tb testing.TB, n, w int) float64 {
	e := newBenchEnv(tb, actors.Config{})
	convs := make([]engine.Conversation, w)
	for i := range convs {
		convs[i] = engine.NewConversation(engine.NewID(time.Now()), e.ws, engine.ChannelWhatsApp, "phone-1", engine.NewID(time.Now()), fmt.Sprint(i), time.Now())
	}
	var seq atomic.Uint64
	return parallel(n, w, func(i int) {
		old := convs[i%w]
		res, err := engine.Apply(old, engine.Receive{ChannelMessageID: fmt.Sprintf("raw-%d", seq.Add(1)),
			Content: e.inbound(0, "").Content}, time.Now(), engine.NewID, engine.Settings{}, nil)
		if err != nil {
			tb.Error(err)
			return
		}
		b := e.store.NewBatch()
		b.PutMessage(&res.Messages[0], old.Channel)
		c := res.Conversation
		b.PutConversation(&old, &c)
		if err := e.store.CommitUngrouped(b); err != nil {
			tb.Error(err)
		}
		convs[i%w] = c // only goroutine i%w... close enough: each slot is rewritten, never read concurrently below
	})
}

const benchWriters = 256

// BenchmarkIngest measures durable ingest through the actors (one message
// per Ingest call, from 256 concurrent callers) over 1, 100 and 10,000
// conversations, next to the raw Pebble ceiling measured in the same run.
func BenchmarkIngest(b *testing.B) {
	for _, convs := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("convs=%d", convs), func(b *testing.B) {
			e := newBenchEnv(b, actors.Config{MaxInFlight: 1 << 20})
			e.warm(b, convs)
			n := max(b.N, 2000)
			raw := rawCeiling(b, n, benchWriters)
			b.ResetTimer()
			var failed atomic.Int64
			rate := parallel(n, benchWriters, func(i int) {
				res, err := e.rt.Ingest(context.Background(), []engine.Inbound{e.inbound(i%convs, fmt.Sprintf("m-%d", i))})
				if err != nil || res[0].Err != nil {
					failed.Add(1)
				}
			})
			b.StopTimer()
			b.ReportMetric(rate, "msgs/s")
			b.ReportMetric(raw, "raw_msgs/s")
			b.ReportMetric(rate/raw, "ratio")
			b.ReportMetric(float64(failed.Load()), "failed")
		})
	}
}

// BenchmarkActivation measures a round trip to a conversation with 10,000
// messages whose actor was passivated (load from disk) and to one that is
// active.
func BenchmarkActivation(b *testing.B) {
	e := newBenchEnv(b, actors.Config{})
	conv := e.warm(b, 1)[0]
	for start := 1; start < 10000; start += 500 {
		var ins []engine.Inbound
		for i := start; i < min(10000, start+500); i++ {
			ins = append(ins, e.inbound(0, fmt.Sprintf("hist-%d", i)))
		}
		if _, err := e.rt.Ingest(context.Background(), ins); err != nil {
			b.Fatal(err)
		}
	}
	if c, _ := e.rt.Conversation(e.ws, conv); c.LastSeq != 10000 {
		b.Fatalf("conversation has %d messages", c.LastSeq)
	}
	b.Run("passivated", func(b *testing.B) {
		for b.Loop() {
			e.rt.PassivateIdle(time.Now().Add(time.Hour))
			if !actors.Ping(e.rt, e.ws, conv) {
				b.Fatal("conversation not found")
			}
		}
	})
	b.Run("active", func(b *testing.B) {
		for b.Loop() {
			actors.Ping(e.rt, e.ws, conv)
		}
	})
}

// heapPerActor returns the heap bytes per active conversation actor
// (10,000 stored conversations activated, in steady state: the second
// activation cycle, once the actor system's registry has grown to its
// peak) and per passivated conversation (heap growth per conversation
// when 40,000 more are stored and passivated, with the peak number of
// active actors unchanged).
func heapPerActor(tb testing.TB) (active, passivated float64) {
	const n = 10000
	e := newBenchEnv(tb, actors.Config{})
	heap := func() float64 {
		time.Sleep(50 * time.Millisecond) // stopped actors finish their mailbox runs
		// The search projection's feed holds new messages until they are
		// indexed: wait for it to catch up, so that only what stays is
		// counted.
		for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if n, err := e.store.SearchBacklog(); err != nil || n == 0 {
				break
			}
		}
		// The indexer runs once more when quiet, and the search feed is
		// emptied then (indexQuiet).
		time.Sleep(1200 * time.Millisecond)
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc)
	}
	ids := e.warm(tb, n)
	var base, withActors float64
	for range 2 {
		e.rt.PassivateIdle(time.Now().Add(time.Hour))
		base = heap()
		for _, id := range ids {
			actors.Ping(e.rt, e.ws, id)
		}
		withActors = heap()
	}
	e.rt.PassivateIdle(time.Now().Add(time.Hour))
	before := heap()
	writeHeapProfile(tb, "before")
	for chunk := 1; chunk <= 4; chunk++ {
		var ins []engine.Inbound
		for u := chunk * n; u < (chunk+1)*n; u++ {
			ins = append(ins, e.inbound(u, fmt.Sprintf("more-%d", u)))
		}
		for start := 0; start < len(ins); start += 256 {
			if _, err := e.rt.Ingest(context.Background(), ins[start:min(len(ins), start+256)]); err != nil {
				tb.Fatal(err)
			}
		}
		e.rt.PassivateIdle(time.Now().Add(time.Hour))
	}
	after := heap()
	writeHeapProfile(tb, "after")
	return (withActors - base) / n, (after - before) / (4 * n)
}

// writeHeapProfile writes a heap profile named name.prof into the
// directory PARLEY_HEAP_PROFILES names, if set, so that what a passivated
// conversation keeps shows as the difference of two profiles
// (go tool pprof -base before.prof after.prof).
func writeHeapProfile(tb testing.TB, name string) {
	dir := os.Getenv("PARLEY_HEAP_PROFILES")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name+".prof"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkActorHeap reports heap bytes per active actor and per
// passivated conversation over 10,000 conversations.
// The measurement runs once, whatever -benchtime says.
func BenchmarkActorHeap(b *testing.B) {
	active, passive := heapPerActor(b)
	for b.Loop() {
	}
	b.ReportMetric(active, "B/active")
	b.ReportMetric(passive, "B/passivated")
}

// benchCommitters is the store's committer setting in the benchmarks
// (persistence.Options.Committers).
var benchCommitters = 0
