package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// centrifugoBinary is the peer `make bench-peer` builds; tests that need
// it are skipped without it (it is not part of the module).
func centrifugoBinary(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(".bin", "centrifugo"))
	require.NoError(t, err)
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no Centrifugo binary (make bench-peer builds it)")
	}
	return bin
}

func TestCentrifugoFanoutSmoke(t *testing.T) {
	t.Parallel()
	bin := centrifugoBinary(t)
	c, err := StartCentrifugo(t.Context(), bin)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop()) })
	require.Regexp(t, `^v\d+\.\d+\.\d+$`, c.Version)
	event := []byte(`{"seq":7,"type":"message.created","data":{"message":{"text":"pbm:5:99 fan-out probe"},"conversation":{"preview":"pbm:5:99 fan-out probe"}}}`)
	res, err := RunCentrifugoFanout(t.Context(), c, FanoutConfig{Workspaces: make([]Workspace, 2), Subscribers: 3,
		Rate: 200, Duration: time.Second, Customers: 4}, event)
	require.NoError(t, err)
	require.Equal(t, int64(200), res.Accepted, res.FirstError)
	require.Equal(t, int64(600), res.Expected)
	require.Equal(t, res.Expected, res.Delivered)
	require.True(t, res.Complete(), "%+v", res.DisconnectError)
	require.Len(t, res.Latencies, 600)
	require.GreaterOrEqual(t, res.Events, res.Delivered, "warm-up publications come before the subscriptions")
	require.Greater(t, res.FrameBytes, int64(600*len(event)))
}

func TestCentrifugoEventIsChecked(t *testing.T) {
	t.Parallel()
	_, err := RunCentrifugoFanout(t.Context(), &Centrifugo{}, FanoutConfig{}, []byte(`{"type":"conversation.updated"}`))
	require.ErrorContains(t, err, "not a marked message.created event")
}

func TestCentrifugoPing(t *testing.T) {
	t.Parallel()
	p := &centrifugoFanout{}
	s := &subscriber{seen: make([]uint64, 1)}
	require.Equal(t, []byte(`{}`), p.read(s, []byte(`{}`), 0))
	push := `{"push":{"channel":"ws0","pub":{"data":{"type":"message.created","data":{"message":{"text":"pbm:3:1000 x"}}}}}}`
	require.Equal(t, []byte(`{}`), p.read(s, []byte(push+"\n{}"), 5000))
	require.Nil(t, p.read(s, []byte(push), 6000))
	require.Equal(t, int64(2), s.events)
	require.Equal(t, int64(1), s.delivered)
	require.Equal(t, int64(1), s.duplicates)
	require.Equal(t, []time.Duration{4000}, s.lat)
}

func TestCentrifugoVersion(t *testing.T) {
	t.Parallel()
	require.Equal(t, "v6.9.1", centrifugoVersion("Centrifugo v6.9.1 (Go version: go1.26.8)\n"))
	require.Equal(t, "(unknown version)", centrifugoVersion("?"))
}
