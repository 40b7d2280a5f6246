package engine

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Limits of the knowledge base's embeddings.
const (
	// MaxEmbeddingDims is the longest vector an embeddings endpoint may
	// answer with.
	MaxEmbeddingDims = 4096
	// EmbeddingBatch is how many passages one embeddings call carries.
	EmbeddingBatch = 32
	// RRFK is the constant of reciprocal rank fusion (FuseRanks).
	RRFK = 60
	// FusionDepth is how many passages of each ranking (BM25, cosine)
	// are fused.
	FusionDepth = 50
)

// EmbeddingSettings are an assistant's optional OpenAI-compatible
// embeddings endpoint (docs/ARCHITECTURE.md, "The knowledge base"): when
// Enabled, passages are embedded with POST {BaseURL}/embeddings and
// model Model as they are indexed, the query at retrieval, and the
// ranking fuses BM25 with cosine similarity (FuseRanks). APIKey is sent
// as a bearer token and never returned by the API.
type EmbeddingSettings struct {
	Enabled   bool      `json:"enabled"`
	BaseURL   string    `json:"base_url,omitempty"`
	Model     string    `json:"model,omitempty"`
	APIKey    string    `json:"api_key,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Validate checks the settings: enabled ones need an http(s) base URL
// and a model.
func (s *EmbeddingSettings) Validate() error {
	s.BaseURL, s.Model, s.APIKey = strings.TrimSpace(s.BaseURL), strings.TrimSpace(s.Model), strings.TrimSpace(s.APIKey)
	if len(s.BaseURL) > 2000 || len(s.Model) > 200 || len(s.APIKey) > 2000 {
		return fmt.Errorf("%w: base_url, model or api_key is too long", ErrInvalid)
	}
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: base_url must be an http or https URL", ErrInvalid)
		}
	}
	if s.Enabled && (s.BaseURL == "" || s.Model == "") {
		return fmt.Errorf("%w: embeddings need a base_url and a model", ErrInvalid)
	}
	return nil
}

// Fingerprint names the vectors these settings make: passages embedded
// with other settings (another endpoint or model) are embedded again.
func (s *EmbeddingSettings) Fingerprint() uint64 {
	h := sha256.Sum256([]byte(strings.TrimSuffix(s.BaseURL, "/") + "\x00" + s.Model))
	return binary.BigEndian.Uint64(h[:8])
}

// Cosine is the cosine similarity of a and b (0 when their lengths
// differ or either is zero).
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// FuseRanks combines rankings (best first) by reciprocal rank fusion:
// an item's score is the sum over the rankings holding it of
// 1/(RRFK + rank), rank counted from 1. It returns the items best first
// with their scores; ties keep the order of the first ranking that
// holds them, then of the next.
func FuseRanks[K comparable](rankings ...[]K) ([]K, []float64) {
	score := map[K]float64{}
	var order []K
	for _, r := range rankings {
		for i, k := range r {
			if _, ok := score[k]; !ok {
				order = append(order, k)
			}
			score[k] += 1 / float64(RRFK+i+1)
		}
	}
	pos := make(map[K]int, len(order))
	for i, k := range order {
		pos[k] = i
	}
	slices.SortStableFunc(order, func(a, b K) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 {
			return c
		}
		return pos[a] - pos[b]
	})
	scores := make([]float64, len(order))
	for i, k := range order {
		scores[i] = score[k]
	}
	return order, scores
}
