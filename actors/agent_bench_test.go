package actors_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// countingSender counts sends and answers each at once.
type countingSender struct{ n atomic.Int64 }

func (s *countingSender) Send(_ context.Context, o actors.Outbound) (string, error) {
	s.n.Add(1)
	return fmt.Sprintf("wamid.%s.%d", o.Message.ConversationID, o.Message.Seq), nil
}

// sleepAgent answers after a fixed delay (the latency of a remote model).
type sleepAgent struct{ d time.Duration }

func (a sleepAgent) Reply(ctx context.Context, _ actors.AIContext) (actors.AIAnswer, error) {
	if a.d > 0 {
		t := time.NewTimer(a.d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return actors.AIAnswer{}, ctx.Err()
		}
	}
	return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "Thanks, your order shipped yesterday."}}, nil
}

const benchAgentWorkers = 16

// BenchmarkAIAnswered measures conversations answered per second (a
// customer message in, the AI reply committed and sent) with an agent
// that answers at once and with one that takes 1 s, on a pool of 16
// workers with no debounce. Each iteration is a batch of new
// conversations, two pool-fulls for the slow agent so that a run stays
// a few seconds; the slow agent should come close to 16 answers/s.
func BenchmarkAIAnswered(b *testing.B) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		batch int
	}{
		{"instant", 0, 1000},
		{"1s", time.Second, 2 * benchAgentWorkers},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sender := &countingSender{}
			e := newBenchEnv(b, actors.Config{Agent: sleepAgent{tc.delay}, Sender: sender, AIDebounce: -1,
				AgentWorkers: benchAgentWorkers, MaxInFlight: 1 << 20})
			user := 0
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				want := sender.n.Load() + int64(tc.batch)
				ins := make([]engine.Inbound, tc.batch)
				for i := range ins {
					ins[i] = e.inbound(user+i, fmt.Sprintf("ai-%d", user+i))
				}
				user += tc.batch
				for i := 0; i < len(ins); i += 256 {
					res, err := e.rt.Ingest(context.Background(), ins[i:min(len(ins), i+256)])
					if err != nil {
						b.Fatal(err)
					}
					for _, r := range res {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
					}
				}
				for sender.n.Load() < want {
					time.Sleep(time.Millisecond)
				}
			}
			b.ReportMetric(float64(b.N*tc.batch)/time.Since(start).Seconds(), "answers/s")
		})
	}
}
