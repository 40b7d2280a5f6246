package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	for _, frame := range []string{created, "[" + created + "," + updated + "]"} {
		s := &subscriber{seen: make([]uint64, 1), next: 1}
		s.handle([]byte(frame), 2000)
		require.Equal(t, int64(1), s.createdEvents, frame)
		require.Equal(t, int64(len(created)), s.createdBytes, frame)
		require.Equal(t, created, string(s.sample), frame)
		require.Equal(t, frame, string(s.sampleFrame))
	}
	// The created event last in its frame, before the closing bracket.
	created2 := `{"seq":2,"type":"message.created","data":{"message":{"seq":4,"text":"pbm:3:1000 x"}}}`
	updated1 := `{"seq":1,"type":"conversation.updated","data":{"conversation":{"preview":"pbm:3:1000 x"}}}`
	s := &subscriber{seen: make([]uint64, 1), next: 1}
	s.handle([]byte("["+updated1+","+created2+"]"), 2000)
	require.Equal(t, created2, string(s.sample))
	require.Zero(t, s.gaps)
	// An updated event alone carries no created one.
	s = &subscriber{seen: make([]uint64, 1), next: 2}
	s.handle([]byte(updated), 2000)
	require.Zero(t, s.createdEvents)
	require.Nil(t, s.sample)
	require.Equal(t, int64(1), s.events)
}

func TestRecordReadsWrappedEvents(t *testing.T) {
	t.Parallel()
	// Centrifugo's publications wrap Parley's events; two in one frame.
	pub := func(seq int, typ, text string) string {
		return `{"push":{"channel":"ws","pub":{"data":{"seq":` + strconv.Itoa(seq) + `,"type":"` + typ +
			`","data":{"message":{"text":"` + text + `"}}},"offset":1}}}`
	}
	s := &subscriber{seen: make([]uint64, 1)}
	frame := pub(1, "message.created", "pbm:5:100 x") + "\n" + pub(2, "conversation.updated", "pbm:6:100 x") +
		"\n" + pub(3, "message.created", "pbw:7:100 warm") + "\n" + pub(4, "message.created", "pbm:8:300 y")
	require.Equal(t, 2, s.record([]byte(frame), 1000))
	require.Equal(t, int64(2), s.delivered, "messages 5 and 8: not the updated event's, not the warm-up")
	require.Equal(t, []time.Duration{900, 700}, s.lat)
	require.Equal(t, 1, s.record([]byte(pub(1, "message.created", "pbm:5:100 x")), 1000))
	require.Equal(t, int64(1), s.duplicates)
	require.Equal(t, -1, markIndex([]byte(`{"preview":"pbm:1:1","text":"pbw:1:1 pbm:"}`), 0), "only a text field that starts with the mark")
}
