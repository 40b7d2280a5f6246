package gateway_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestWebScreenshots writes every screen of webScreens at a phone's, a
// tablet's, a small laptop's and a desktop's width to
// $PARLEY_SCREENSHOTS/<screen>-<width>.png (docs/screenshots is made so:
// PARLEY_SCREENSHOTS=$PWD/docs/screenshots go test ./gateway -run
// TestWebScreenshots). Without the variable it is skipped.
func TestWebScreenshots(t *testing.T) {
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		t.Skip("PARLEY_SCREENSHOTS names no directory")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	s := newScreenEnv(t)
	s.eachScreen(t, []screenSize{{390, 844}, {768, 1024}, {1024, 768}, {1440, 900}}, func(t *testing.T, b *tab, name string) {
		shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		// Re-encoded at the best compression: the shots live in git.
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img))
		path := filepath.Join(dir, name+".png")
		require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
		t.Logf("%s: %d KiB", path, out.Len()>>10)
	})
}
