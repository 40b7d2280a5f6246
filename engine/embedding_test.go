package engine

import (
	"errors"
	"math"
	"testing"
)

func TestFuseRanks(t *testing.T) {
	// b is second in one ranking and first in the other: it wins over a,
	// first in one only.
	got, scores := FuseRanks([]string{"a", "b", "c"}, []string{"b", "d"})
	want := []string{"b", "a", "d", "c"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if math.Abs(scores[0]-(1.0/62+1.0/61)) > 1e-12 {
		t.Fatalf("score of b %v", scores[0])
	}
	if g, _ := FuseRanks[string](); len(g) != 0 {
		t.Fatalf("no rankings: %v", g)
	}
}

func TestCosine(t *testing.T) {
	if c := Cosine([]float32{1, 0}, []float32{2, 0}); math.Abs(c-1) > 1e-9 {
		t.Fatalf("parallel: %v", c)
	}
	if c := Cosine([]float32{1, 0}, []float32{0, 3}); c != 0 {
		t.Fatalf("orthogonal: %v", c)
	}
	if c := Cosine([]float32{1}, []float32{1, 2}); c != 0 {
		t.Fatalf("lengths differ: %v", c)
	}
	if c := Cosine([]float32{0, 0}, []float32{1, 2}); c != 0 {
		t.Fatalf("zero vector: %v", c)
	}
}

func TestEmbeddingSettingsValidate(t *testing.T) {
	for _, s := range []EmbeddingSettings{
		{Enabled: true, Model: "m"},
		{Enabled: true, BaseURL: "http://x/v1"},
		{BaseURL: "ftp://x"},
		{BaseURL: "not a url"},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", s, err)
		}
	}
	ok := EmbeddingSettings{Enabled: true, BaseURL: " http://x/v1 ", Model: "m"}
	if err := ok.Validate(); err != nil || ok.BaseURL != "http://x/v1" {
		t.Fatalf("%+v: %v", ok, err)
	}
	other := ok
	other.Model = "n"
	if ok.Fingerprint() == other.Fingerprint() {
		t.Fatal("another model, the same fingerprint")
	}
}

// FuzzyMatcher agrees with FuzzyTermMatch.
func TestFuzzyMatcherAgrees(t *testing.T) {
	words := []string{"pasword", "retrun", "subscribtion", "refund", "cañon", "shipping", "abc"}
	terms := []string{"passwo", "return", "subscr", "refund", "cañón", "shippi", "ab", "zzz", "canon"}
	for _, w := range words {
		m := FuzzyMatcher(w)
		for _, term := range terms {
			if m([]byte(term)) != FuzzyTermMatch(w, term) {
				t.Fatalf("%q %q: matcher %v", w, term, m([]byte(term)))
			}
		}
	}
	if !FuzzyMatcher("pasword")([]byte("passwo")) {
		t.Fatal("pasword should match passwo")
	}
}
