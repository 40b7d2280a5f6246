package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binDir holds the Parley binary the package's tests build once.
var (
	binDir    string
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-bench-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// parleyBinary builds cmd/parley once for the package's tests.
func parleyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() { builtBin, buildErr = BuildParley(context.Background(), binDir) })
	require.NoError(t, buildErr)
	return builtBin
}

// startSeeded seeds n workspaces into a new data directory and starts the
// binary on it.
func startSeeded(t *testing.T, n int) (*Process, []Workspace) {
	t.Helper()
	bin := parleyBinary(t)
	data := t.TempDir()
	wss, err := SeedWorkspaces(data, n, time.Now().UTC())
	require.NoError(t, err)
	p, err := StartParley(context.Background(), bin, data) // stopped by Stop, not by the test context
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Stop()) })
	return p, wss
}

func TestFanoutSmoke(t *testing.T) {
	t.Parallel()
	_, err := RaiseFDLimit()
	require.NoError(t, err)
	p, wss := startSeeded(t, 2)
	res, err := RunFanout(t.Context(), FanoutConfig{Addr: p.Addr, Workspaces: wss, Subscribers: 3,
		Rate: 200, Duration: time.Second, Customers: 4})
	require.NoError(t, err)
	require.Equal(t, int64(200), res.Sent)
	require.Equal(t, int64(200), res.Accepted, res.FirstError)
	require.Equal(t, int64(600), res.Expected, "100 messages per workspace × 3 subscribers × 2 workspaces")
	require.Equal(t, res.Expected, res.Delivered)
	require.Zero(t, res.EventGaps)
	require.True(t, res.Complete())
	require.Len(t, res.Latencies, 600)
	require.Positive(t, res.Percentile(50))
	// Each message makes at least message.created and
	// conversation.updated.
	require.GreaterOrEqual(t, res.Events, 2*res.Delivered)
}

func TestSubscriberCountsEachMessageOnce(t *testing.T) {
	t.Parallel()
	s := &subscriber{seen: make([]uint64, 2), next: 1}
	frame := []byte(`[{"seq":1,"type":"message.created","data":{"message":{"text":"pbm:3:1000 x"}}},` +
		`{"seq":2,"type":"conversation.updated","data":{"conversation":{"preview":"pbm:3:1000 x"}}},` +
		`{"seq":3,"type":"message.created","data":{"message":{"text":"pbw:4:1000 warm"}}},` +
		`{"seq":4,"type":"message.created","data":{"message":{"text":"no mark"}}},` +
		`{"seq":5,"type":"message.created","data":{"conversation":{"preview":"pbm:70:2000"},"message":{"text":"pbm:70:2000"}}}]`)
	s.handle(frame, 5000)
	require.Equal(t, int64(2), s.delivered, "messages 3 and 70; the warm-up and unmarked ones are not counted")
	require.Equal(t, int64(5), s.events)
	require.Equal(t, []time.Duration{4000, 3000}, s.lat)
	require.Zero(t, s.gaps)
	s.handle([]byte(`{"seq":6,"type":"message.created","data":{"message":{"seq":9,"text":"pbm:3:1000 x"}}}`), 6000)
	require.Equal(t, int64(1), s.duplicates)
	require.Zero(t, s.gaps, "a message's own seq is not an event's")
	require.Equal(t, int64(6), s.events)
	require.Equal(t, int64(2), s.delivered)
	// A message number beyond the run is ignored.
	s.handle([]byte(`{"seq":9,"type":"message.created","data":{"message":{"text":"pbm:128:1"}}}`), 6000)
	require.Equal(t, int64(2), s.delivered)
	require.Equal(t, uint64(2), s.gaps, "events 7 and 8 never came")
	s.handle([]byte(`{"seq":9,"type":"conversation.updated","data":{}}`), 6000)
	require.Equal(t, uint64(3), s.gaps, "an event out of order counts too")
	_, _, ok := parseMark([]byte("12"))
	require.False(t, ok)
	k, sent, ok := parseMark([]byte("12:345 rest"))
	require.True(t, ok)
	require.Equal(t, uint64(12), k)
	require.Equal(t, time.Duration(345), sent)
}

func TestInboxSmoke(t *testing.T) {
	t.Parallel()
	bin := parleyBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	cfg := InboxConfig{Convs: 3000, PerConv: 3}
	in, err := GenerateInbox(t.Context(), data, cfg, nil)
	require.NoError(t, err)
	require.Positive(t, in.Generated)
	require.Equal(t, 3000, in.Convs)
	require.Greater(t, in.Messages, 3000)

	p, err := StartParley(context.Background(), bin, data) // stopped below, not by the test context
	require.NoError(t, err)
	lists, err := ListLatency(t.Context(), p.Addr, in.Workspace.Token, ListShapes, 20)
	require.NoError(t, p.Stop())
	require.NoError(t, err)
	require.Len(t, lists, len(ListShapes))
	for _, l := range lists {
		require.Len(t, l.Latencies, 20, l.Shape.Name)
		require.Positive(t, l.Latencies.Percentile(50))
	}
	require.Equal(t, 50, lists[0].Returned, "3000 conversations fill the first page of the open folder")
	require.Equal(t, 50, lists[1].Returned, "a quarter are unread")

	searches, err := SearchLatency(in, in.SearchShapes(), 30)
	require.NoError(t, err)
	require.Equal(t, "common word", searches[0].Shape.Name)
	require.InDelta(t, 20, searches[0].Hits, 0.01, "the commonest words fill the first page")
	require.Positive(t, searches[len(searches)-1].Hits, "contact names are found")

	again, err := GenerateInbox(t.Context(), data, cfg, nil)
	require.NoError(t, err)
	require.Zero(t, again.Generated, "the same size reuses the data")
	require.Equal(t, in.Names, again.Names)
	require.Equal(t, in.Messages, again.Messages)
}

func TestCreatedEventIsCutFromItsFrame(t *testing.T) {
	t.Parallel()
	created := `{"seq":1,"type":"message.created","data":{"message":{"seq":4,"text":"pbm:3:1000 x"}}}`
	updated := `{"seq":2,"type":"conversation.updated","data":{"conversation":{"preview":"pbm:3:1000 x"}}}`
	require.Equal(t, created, string(createdEvent([]byte(created))))
	require.Equal(t, created, string(createdEvent([]byte("["+created+","+updated+"]"))))
	require.Equal(t, created, string(createdEvent([]byte("["+updated+","+created+"]"))))
	require.Nil(t, createdEvent([]byte(updated)))
	s := &subscriber{seen: make([]uint64, 1)}
	s.handle([]byte("["+created+","+updated+"]"), 2000)
	require.Equal(t, int64(1), s.createdEvents)
	require.Equal(t, int64(len(created)), s.createdBytes)
	require.Equal(t, created, string(s.sample))
	require.Equal(t, "["+created+","+updated+"]", string(s.sampleFrame))
}
