package gateway

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
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
