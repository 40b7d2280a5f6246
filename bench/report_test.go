package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/parleyhq/parley/actors
cpu: AMD EPYC
BenchmarkIngest/convs=1-2         	   20000	    224411 ns/op	         0 failed	      4456 msgs/s	         0.06675 ratio	     66762 raw_msgs/s
BenchmarkActorHeap-2   	       1	1049528010 ns/op	      1819 B/active	        69.35 B/passivated
--- FAIL: something
PASS
pkg: github.com/parleyhq/parley/persistence
BenchmarkList/folder-2  100  5000 ns/op
ok  	github.com/parleyhq/parley/actors	12.704s
`

func TestParseAndReport(t *testing.T) {
	t.Parallel()
	rs, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, rs, 3)
	require.Equal(t, "BenchmarkIngest/convs=1", rs[0].Name)
	require.Equal(t, "github.com/parleyhq/parley/actors", rs[0].Package)
	require.Equal(t, int64(20000), rs[0].N)
	require.InDelta(t, 0.06675, rs[0].Metrics["ratio"], 1e-9)
	require.InDelta(t, 69.35, rs[1].Metrics["B/passivated"], 1e-9)
	require.Equal(t, "github.com/parleyhq/parley/persistence", rs[2].Package)

	var b strings.Builder
	m := Machine{CPU: "AMD EPYC", Cores: 2, GoVersion: "go1.26", OS: "linux", Arch: "amd64", When: time.Unix(0, 0)}
	require.NoError(t, WriteMarkdown(&b, m, "make bench", rs))
	out := b.String()
	require.Contains(t, out, "| BenchmarkIngest/convs=1 | 20000 |")
	require.Contains(t, out, "### github.com/parleyhq/parley/persistence")
	require.Contains(t, out, "AMD EPYC, 2 cores")
	require.Contains(t, out, "0.067")
}

func TestParseLineRejectsNonResults(t *testing.T) {
	t.Parallel()
	for _, l := range []string{"", "Benchmark", "BenchmarkX-2 abc 1 ns/op", "BenchmarkX-2 10 1", "BenchmarkX-2 10 x ns/op", "ok pkg 1s"} {
		_, ok := parseLine(l)
		require.False(t, ok, l)
	}
}
