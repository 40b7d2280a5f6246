package realtime

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// TestAppendTextFrame checks the frame header at the length boundaries of
// RFC 6455 (7-bit, 16-bit and 64-bit payload lengths).
func TestAppendTextFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		payload := bytes.Repeat([]byte{'x'}, tc.n)
		f := appendTextFrame([]byte("keep"), payload)
		require.Equal(t, "keep", string(f[:4]), "appends")
		require.Equal(t, tc.header, f[4:4+len(tc.header)], "length %d", tc.n)
		require.Equal(t, payload, f[4+len(tc.header):])
	}
}

// TestAppendEventsFrame: a frame of events built in place is the frame
// of their JSON array (of the one event's JSON), whatever the length class.
func TestAppendEventsFrame(t *testing.T) {
	t.Parallel()
	ws := engine.NewID(time.Unix(0, 0))
	ev := func(seq uint64, size int) *actors.Envelope {
		return &actors.Envelope{Seq: seq, Event: engine.Event{Type: "test", WorkspaceID: ws,
			Data: map[string]string{"pad": strings.Repeat("p", size)}}}
	}
	for _, tc := range []struct{ events, size int }{{1, 0}, {1, 200}, {2, 10}, {3, 30000}, {5, 20000}} {
		var batch []*actors.Envelope
		var parts [][]byte
		for i := range tc.events {
			e := ev(uint64(i+1), tc.size) //nolint:gosec // small
			batch = append(batch, e)
			parts = append(parts, e.JSON())
		}
		payload := parts[0]
		if len(parts) > 1 {
			payload = append(append([]byte{'['}, bytes.Join(parts, []byte{','})...), ']')
		}
		got := appendEventsFrame([]byte("keep"), batch)
		require.Equal(t, appendTextFrame([]byte("keep"), payload), got, "%d events of %d bytes", tc.events, tc.size)
	}
}

// TestAppendControlFrame: control frames the session writes (a pong with
// the ping's payload, a close with its code) are final and unmasked,
// with their opcode (RFC 6455 section 5.5).
func TestAppendControlFrame(t *testing.T) {
	t.Parallel()
	require.Equal(t, []byte{0x89, 0}, appendFrame(nil, websocket.PingMessage, nil))
	require.Equal(t, []byte{0x8a, 2, 'p', '1'}, appendFrame(nil, websocket.PongMessage, []byte("p1")))
	require.Equal(t, []byte{0x88, 2, 0x03, 0xe8}, appendFrame(nil, websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
	require.Equal(t, []byte{0x88, 0}, appendFrame(nil, websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNoStatusReceived, "")))
}
