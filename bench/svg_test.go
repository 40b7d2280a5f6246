package bench

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLatencySVG(t *testing.T) {
	t.Parallel()
	fast := []time.Duration{100 * time.Microsecond, 200 * time.Microsecond, time.Millisecond}
	slow := []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 80 * time.Millisecond}
	svg := LatencySVG("Latency <test>", []Series{{"fast & cheap", fast}, {"slow", slow}, {"empty", nil}})
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	lines := 0
	for {
		tok, err := d.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF", "the chart is well-formed XML")
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	require.Equal(t, 3, lines)
	require.Contains(t, string(svg), "fast &amp; cheap")
	require.Contains(t, string(svg), "Latency &lt;test&gt;")
	require.Contains(t, string(svg), ">100ms<", "the axis reaches past the slowest latency")
	require.Equal(t, 80*time.Millisecond, Percentile(slow, 100))
	require.Equal(t, 5*time.Millisecond, Percentile(slow, 50))
}
