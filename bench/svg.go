package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"time"
)

// Series is one named latency distribution of a chart.
type Series struct {
	Name      string
	Latencies []time.Duration // sorted
}

var chartPercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100}

var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// LatencySVG draws the latency percentiles of each series (x: percentile,
// y: latency on a log scale) as a standalone SVG document.
func LatencySVG(title string, series []Series) []byte {
	const w, h, left, right, top, bottom = 720.0, 400.0, 70.0, 180.0, 40.0, 50.0
	pw, ph := w-left-right, h-top-bottom
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range chartPercentiles {
			v := float64(percentile(s.Latencies, p).Microseconds())
			lo, hi = math.Min(lo, math.Max(v, 1)), math.Max(hi, math.Max(v, 1))
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	y := func(us float64) float64 {
		return top + ph - ph*(math.Log10(math.Max(us, 1))-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	x := func(i int) float64 { return left + pw*float64(i)/float64(len(chartPercentiles)-1) }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	for d := lo; d <= hi*1.001; d *= 10 {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, left+pw, y(d), y(d), left-6, y(d)+4, time.Duration(d*1000))
	}
	for i, p := range chartPercentiles {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="middle">p%g</text>`+"\n",
			x(i), x(i), top, top+ph, x(i), top+ph+18, p)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">percentile (latency, log scale)</text>`+"\n", left+pw/2, h-8)
	for si, s := range series {
		color := chartColors[si%len(chartColors)]
		var pts bytes.Buffer
		for i, p := range chartPercentiles {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(float64(percentile(s.Latencies, p).Microseconds())))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, bytes.TrimSpace(pts.Bytes()))
		ly := top + 10 + float64(si)*18
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			left+pw+12, left+pw+32, ly, ly, color, left+pw+38, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// Percentile returns the p-th percentile of sorted latencies, rounded
// to the microsecond.
func Percentile(lat []time.Duration, p float64) time.Duration {
	return percentile(lat, p).Round(time.Microsecond)
}

// percentile returns the p-th percentile of sorted latencies.
func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[int(math.Round(float64(len(lat)-1)*p/100))]
}
