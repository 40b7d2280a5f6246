package gateway_test

import (
	"bytes"
	"cmp"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, paletted(img)))
		path := filepath.Join(dir, name+".png")
		require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
		t.Logf("%s: %d KiB", path, out.Len()>>10)
	})
}

// paletted is img in its 256 most frequent colours, each pixel the
// nearest of them: the shots live in git, and a screen of flat colours
// takes a third of the bytes so with no visible loss.
func paletted(img image.Image) *image.Paletted {
	counts := map[color.RGBA]int{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colors := slices.Collect(maps.Keys(counts))
	slices.SortFunc(colors, func(a, b color.RGBA) int { // the same shot, the same bytes
		if n := counts[b] - counts[a]; n != 0 {
			return n
		}
		return cmp.Compare(uint32(a.R)<<16|uint32(a.G)<<8|uint32(a.B), uint32(b.R)<<16|uint32(b.G)<<8|uint32(b.B))
	})
	pal := make(color.Palette, 0, 256)
	for _, c := range colors[:min(len(colors), 256)] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(r, pal)
	draw.Draw(out, r, img, r.Min, draw.Src)
	return out
}
