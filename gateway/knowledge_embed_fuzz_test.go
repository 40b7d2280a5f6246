package gateway_test

import (
	"math"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
)

// FuzzParseEmbeddings feeds an embeddings endpoint's response parser
// anything: it never panics, and what it accepts is one finite vector
// per input, all of one length within engine.MaxEmbeddingDims.
func FuzzParseEmbeddings(f *testing.F) {
	f.Add([]byte(`{"data":[{"embedding":[0.1,0.2],"index":1},{"embedding":[0.3,0.4],"index":0}]}`), 2)
	f.Add([]byte(`{"data":[{"embedding":[1e400],"index":0}]}`), 1)
	f.Add([]byte(`{"data":[{"embedding":[1],"index":0},{"embedding":[1],"index":0}]}`), 2)
	f.Add([]byte(`{"data":[{"embedding":[1,2],"index":0},{"embedding":[1],"index":1}]}`), 2)
	f.Add([]byte(`{"object":"list"}`), 0)
	f.Add([]byte(`not json`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		vs, err := gateway.ParseEmbeddings(body, n)
		if err != nil {
			if vs != nil {
				t.Fatal("vectors with an error")
			}
			return
		}
		if len(vs) != n {
			t.Fatalf("%d vectors for %d inputs", len(vs), n)
		}
		for _, v := range vs {
			if len(v) == 0 || len(v) > engine.MaxEmbeddingDims || len(v) != len(vs[0]) {
				t.Fatalf("a vector of %d numbers", len(v))
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatal("not finite")
				}
			}
		}
	})
}
