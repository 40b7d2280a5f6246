package actors_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// knowledgeAgent answers at once and counts the requests that came with
// knowledge passages.
type knowledgeAgent struct{ given atomic.Int64 }

func (a *knowledgeAgent) Reply(_ context.Context, in actors.AIContext) (actors.AIAnswer, error) {
	if len(in.Knowledge) > 0 {
		a.given.Add(1)
	}
	return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "Your order shipped yesterday."},
		Sources: engine.SourcesOf(in.Knowledge)}, nil
}

// putKnowledge writes n FAQ entries into the default assistant of ws,
// one batch each as the gateway's owner does; one in ten is about
// orders, so that the benchmark's question finds passages.
func putKnowledge(tb testing.TB, s *persistence.Store, ws engine.ID, n int) {
	tb.Helper()
	for i := range n {
		q := fmt.Sprintf("Question %d about product line %d and its accessories?", i, i%97)
		a := fmt.Sprintf("Answer %d: see the guide of product line %d.", i, i%97)
		if i%10 == 0 {
			q = fmt.Sprintf("Has my order %d shipped yet?", i)
			a = "Orders ship within one business day; the tracking link is in your email."
		}
		e, err := engine.ApplyKnowledge(engine.KnowledgeEntry{ID: engine.NewID(time.Now()), WorkspaceID: ws,
			Assistant: engine.DefaultAssistant, Kind: engine.KnowledgeFAQ}, engine.KnowledgeChange{Question: &q, Answer: &a}, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		ps := engine.KnowledgePassages(&e, "")
		b := s.NewBatch()
		if err := s.PutKnowledge(b, ws, engine.DefaultAssistant, e.ID, &e, ps); err != nil {
			tb.Fatal(err)
		}
		if err := s.Commit(b); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkAIAnswerKnowledge measures the latency of one AI answer (a
// customer message in, the reply committed and handed to the sender),
// one conversation at a time with an agent that answers at once: A with
// an empty knowledge base, B with 10,000 FAQ entries searched for every
// answer. It reports p50 and p99 in milliseconds; the difference is what
// the knowledge base adds to an answer.
func BenchmarkAIAnswerKnowledge(b *testing.B) {
	for _, tc := range []struct {
		name    string
		entries int
	}{{"without", 0}, {"with-10k", 10_000}} {
		b.Run(tc.name, func(b *testing.B) {
			sender := &countingSender{}
			agent := &knowledgeAgent{}
			e := newBenchEnv(b, actors.Config{Agent: agent, Sender: sender, AIDebounce: -1, AgentWorkers: 4, MaxInFlight: 1 << 20})
			putKnowledge(b, e.store, e.ws, tc.entries)
			// Measured in the steady state: the writes flushed and compacted.
			if err := e.store.DB().Compact(context.Background(), []byte{'w'}, []byte{'x'}, false); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				want := sender.n.Load() + 1
				start := time.Now()
				res, err := e.rt.Ingest(context.Background(), []engine.Inbound{e.inbound(i, fmt.Sprintf("kn-%d", i))})
				if err != nil || res[0].Err != nil {
					b.Fatal(err, res)
				}
				for sender.n.Load() < want {
					time.Sleep(50 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			if tc.entries > 0 && agent.given.Load() < int64(b.N) {
				b.Fatalf("%d of %d requests came with knowledge", agent.given.Load(), b.N)
			}
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
