package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/persistence"
)

// An assistant's optional embeddings (docs/ARCHITECTURE.md, "The
// knowledge base"):
//
//	GET /api/v1/assistants/{assistant}/knowledge/embeddings   the settings (no key) and the progress
//	PUT /api/v1/assistants/{assistant}/knowledge/embeddings   {"enabled","base_url","model","api_key"} → 200
//
// The embedder embeds the passages from a bounded pool of its own
// (embedWorkers goroutines, a queue of assistants to look at), outside
// the requests: after every change of an assistant's entries or
// settings, and at start. It finds what to embed in the store
// (persistence.PendingEmbeddings: no vector of the settings' fingerprint
// for the passage's text), so the work survives a restart and new
// settings embed everything again. Its vectors are committed under the
// knowledge base's mutex, the entries' one owner, and only while the
// passage still holds the text embedded. At retrieval the query is
// embedded too; when the endpoint fails, the ranking is BM25 alone
// (counted in parley_knowledge_embedding_fallbacks_total, and logged).

const (
	// embedWorkers bounds the assistants embedded at once.
	embedWorkers = 2
	// embedQueue bounds the assistants waiting.
	embedQueue = 1024
	// embedRetry is how long a failed assistant waits before it is tried
	// again.
	embedRetry = 30 * time.Second
	// embedTimeout bounds one call of the endpoint; embedQueryTimeout one
	// call for a query (an answer waits for it).
	embedTimeout      = 60 * time.Second
	embedQueryTimeout = 5 * time.Second
	// embedScan is how many pending passages one scan of an assistant's
	// passages collects.
	embedScan = 16 * engine.EmbeddingBatch
)

type embedJob struct {
	ws   engine.ID
	asst string
}

// embedder embeds knowledge passages and queries.
type embedder struct {
	kb     *knowledgeBase
	client *http.Client
	jobs   chan embedJob

	mu      sync.Mutex
	queued  map[embedJob]bool
	failed  map[embedJob]string
	wg      sync.WaitGroup
	started bool

	requests  *prometheus.CounterVec
	seconds   prometheus.Histogram
	fallbacks prometheus.Counter
}

func newEmbedder(kb *knowledgeBase, reg prometheus.Registerer) *embedder {
	e := &embedder{kb: kb, jobs: make(chan embedJob, embedQueue), queued: map[embedJob]bool{}, failed: map[embedJob]string{},
		client: &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second}},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_knowledge_embedding_requests_total",
			Help: "Calls of assistants' embeddings endpoints, by purpose (passages, query) and outcome (ok, error)."}, []string{"purpose", "outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_knowledge_embedding_request_seconds",
			Help: "Time taken by one call of an embeddings endpoint.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10)}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_knowledge_embedding_fallbacks_total",
			Help: "Knowledge searches of an assistant with embeddings ranked by BM25 alone, its endpoint having failed."}),
	}
	for _, p := range []string{"passages", "query"} {
		for _, o := range []string{"ok", "error"} {
			e.requests.WithLabelValues(p, o)
		}
	}
	if reg != nil {
		reg.MustRegister(e.requests, e.seconds, e.fallbacks)
	}
	return e
}

// start starts the workers, which stop when ctx ends (wait), and queues
// every assistant whose embeddings are on.
func (e *embedder) start(ctx context.Context) {
	e.mu.Lock()
	e.started = true
	e.mu.Unlock()
	for range embedWorkers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.work(ctx)
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.retry(ctx)
	}()
	wss, err := e.kb.store.Workspaces()
	if err != nil {
		e.kb.s.log.Warn("Knowledge: listing workspaces for embeddings", "err", err)
		return
	}
	for _, w := range wss {
		as, err := e.kb.store.EmbeddingAssistants(w.ID)
		if err != nil {
			e.kb.s.log.Warn("Knowledge: listing embeddings settings", "err", err)
			continue
		}
		for _, a := range as {
			e.enqueue(w.ID, a)
		}
	}
}

// wait waits for the workers, once their context has ended.
func (e *embedder) wait() { e.wg.Wait() }

// enqueue asks for assistant asst's passages to be looked at; a full
// queue drops it (the retry or the next change brings it back).
func (e *embedder) enqueue(ws engine.ID, asst string) {
	j := embedJob{ws, asst}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queued[j] {
		return
	}
	select {
	case e.jobs <- j:
		e.queued[j] = true
	default:
		e.failed[j] = "queue full"
	}
}

func (e *embedder) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.jobs:
			e.mu.Lock()
			delete(e.queued, j)
			e.mu.Unlock()
			err := e.embedAll(ctx, j)
			e.mu.Lock()
			if err != nil && ctx.Err() == nil {
				e.failed[j] = err.Error()
				e.kb.s.log.Warn("Knowledge: embedding passages; retrying later", "workspace", j.ws, "assistant", j.asst, "err", err)
			} else if err == nil {
				delete(e.failed, j)
			}
			e.mu.Unlock()
		}
	}
}

// retry queues the failed assistants again every embedRetry.
func (e *embedder) retry(ctx context.Context) {
	t := time.NewTicker(embedRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.mu.Lock()
			var js []embedJob
			for j := range e.failed {
				js = append(js, j)
			}
			e.mu.Unlock()
			for _, j := range js {
				e.enqueue(j.ws, j.asst)
			}
		}
	}
}

// lastError is the last failure of assistant asst's embedding, "" when
// its last run succeeded.
func (e *embedder) lastError(ws engine.ID, asst string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed[embedJob{ws, asst}]
}

// embedAll embeds the pending passages of j, engine.EmbeddingBatch at a
// time, until none is left.
func (e *embedder) embedAll(ctx context.Context, j embedJob) error {
	for ctx.Err() == nil {
		set, err := e.kb.store.KnowledgeEmbeddingSettings(j.ws, j.asst)
		if err != nil || !set.Enabled {
			return err
		}
		fp := set.Fingerprint()
		// One scan of the passages finds several calls' worth.
		pending, _, err := e.kb.store.PendingEmbeddings(j.ws, j.asst, fp, embedScan)
		if err != nil || len(pending) == 0 {
			return err
		}
		for len(pending) > 0 && ctx.Err() == nil {
			part := pending[:min(len(pending), engine.EmbeddingBatch)]
			pending = pending[len(part):]
			texts := make([]string, len(part))
			for i, p := range part {
				texts[i] = p.Text
			}
			vecs, err := e.call(ctx, set, "passages", texts, embedTimeout)
			if err != nil {
				return err
			}
			if err := e.commit(j, set, part, vecs); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// commit stores the vectors of pending under the knowledge base's
// mutex, if the settings are still those they were made with.
func (e *embedder) commit(j embedJob, set engine.EmbeddingSettings, pending []persistence.PendingPassage, vecs [][]float32) error {
	kb := e.kb
	kb.mu.Lock()
	defer kb.mu.Unlock()
	cur, err := kb.store.KnowledgeEmbeddingSettings(j.ws, j.asst)
	if err != nil {
		return err
	}
	fp := set.Fingerprint()
	if !cur.Enabled || cur.Fingerprint() != fp {
		return nil // the new settings' run embeds them
	}
	b := kb.store.NewBatch()
	defer b.Close()
	for i, p := range pending {
		if _, err := kb.store.PutKnowledgeVector(b, j.ws, j.asst, p.ID, fp, p.Text, vecs[i]); err != nil {
			return fmt.Errorf("storing a passage's vector: %w", err)
		}
	}
	if err := kb.store.Commit(b); err != nil {
		return fmt.Errorf("storing passages' vectors: %w", err)
	}
	return nil
}

// errEmbedding is wrapped by the errors of an embeddings endpoint's
// answer.
var errEmbedding = errors.New("embeddings endpoint")

// call embeds texts with the endpoint of set: POST {base}/embeddings
// {"model","input":[...]} answered {"data":[{"embedding":[...],"index":i}]}.
func (e *embedder) call(ctx context.Context, set engine.EmbeddingSettings, purpose string, texts []string, timeout time.Duration) ([][]float32, error) {
	start := time.Now()
	vecs, err := e.post(ctx, set, texts, timeout)
	e.seconds.Observe(time.Since(start).Seconds())
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	e.requests.WithLabelValues(purpose, outcome).Inc()
	return vecs, err
}

func (e *embedder) post(ctx context.Context, set engine.EmbeddingSettings, texts []string, timeout time.Duration) ([][]float32, error) {
	body, err := json.Marshal(map[string]any{"model": set.Model, "input": texts})
	if err != nil {
		return nil, fmt.Errorf("encoding embeddings request: %w", err)
	}
	hdr := http.Header{}
	if set.APIKey != "" {
		hdr.Set("Authorization", "Bearer "+set.APIKey)
	}
	out, err := agents.PostJSON(ctx, e.client, strings.TrimSuffix(set.BaseURL, "/")+"/embeddings", body, hdr, timeout)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEmbedding, err)
	}
	return parseEmbeddings(out, len(texts))
}

// parseEmbeddings reads an embeddings response for n inputs: one vector
// per input (by index), all of one length of at most
// engine.MaxEmbeddingDims finite numbers.
func parseEmbeddings(body []byte, n int) ([][]float32, error) {
	var r struct {
		Data []struct {
			Embedding []float64 `json:"embedding"`
			Index     int       `json:"index"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: unreadable response: %v", errEmbedding, err)
	}
	if len(r.Data) != n {
		return nil, fmt.Errorf("%w: %d embeddings for %d inputs", errEmbedding, len(r.Data), n)
	}
	out := make([][]float32, n)
	dims := -1
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, fmt.Errorf("%w: bad index %d", errEmbedding, d.Index)
		}
		if len(d.Embedding) == 0 || len(d.Embedding) > engine.MaxEmbeddingDims || (dims >= 0 && len(d.Embedding) != dims) {
			return nil, fmt.Errorf("%w: embeddings of %d numbers", errEmbedding, len(d.Embedding))
		}
		dims = len(d.Embedding)
		v := make([]float32, dims)
		for i, x := range d.Embedding {
			if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxFloat32 {
				return nil, fmt.Errorf("%w: not a finite number", errEmbedding)
			}
			v[i] = float32(x)
		}
		out[d.Index] = v
	}
	return out, nil
}

// SearchKnowledge finds the passages of assistant asst for q: fused with
// the query's embedding when the assistant's embeddings are on
// (persistence.SearchKnowledgeHybrid), BM25 alone otherwise or when the
// endpoint fails. It is the runtime's ports.KnowledgeSearcher.
func (e *embedder) SearchKnowledge(ctx context.Context, ws engine.ID, asst, q string, k int) ([]engine.KnowledgePassage, error) {
	st := e.kb.store
	set, err := st.KnowledgeEmbeddingSettings(ws, asst)
	if err != nil {
		return nil, err
	}
	if !set.Enabled {
		return st.SearchKnowledge(ws, asst, q, k)
	}
	vecs, err := e.call(ctx, set, "query", []string{q}, embedQueryTimeout)
	if err != nil {
		e.fallbacks.Inc()
		e.kb.s.log.WarnContext(ctx, "Knowledge: embedding a query failed; ranking by BM25 alone", "workspace", ws, "assistant", asst, "err", err)
		return st.SearchKnowledge(ws, asst, q, k)
	}
	return st.SearchKnowledgeHybrid(ws, asst, q, vecs[0], set.Fingerprint(), k)
}

// embeddingsView is what GET answers: the settings without the key, and
// the progress.
type embeddingsView struct {
	Enabled   bool      `json:"enabled"`
	BaseURL   string    `json:"base_url"`
	Model     string    `json:"model"`
	APIKeySet bool      `json:"api_key_set"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Embedded  int       `json:"embedded"`
	Passages  int       `json:"passages"`
	LastError string    `json:"last_error,omitempty"`
}

func (h *knowledgeBase) embeddingsView(ws engine.ID, asst string) (embeddingsView, error) {
	set, err := h.store.KnowledgeEmbeddingSettings(ws, asst)
	if err != nil {
		return embeddingsView{}, err
	}
	v := embeddingsView{Enabled: set.Enabled, BaseURL: set.BaseURL, Model: set.Model, APIKeySet: set.APIKey != "", UpdatedAt: set.UpdatedAt}
	if v.Passages, _, err = h.store.KnowledgeStats(ws, asst); err != nil {
		return v, err
	}
	if set.Enabled {
		if _, v.Embedded, err = h.store.PendingEmbeddings(ws, asst, set.Fingerprint(), 0); err != nil {
			return v, err
		}
		v.LastError = h.embed.lastError(ws, asst)
	}
	return v, nil
}

func (h *knowledgeBase) getEmbeddings(c *fiber.Ctx) error {
	asst, err := h.assistantParam(c)
	if err != nil {
		return err
	}
	v, err := h.embeddingsView(who(c).WorkspaceID, asst)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// embeddingsBody is a PUT of the settings; an api_key left out keeps
// the one stored, "" removes it.
type embeddingsBody struct {
	Enabled *bool   `json:"enabled"`
	BaseURL *string `json:"base_url"`
	Model   *string `json:"model"`
	APIKey  *string `json:"api_key"`
}

func (h *knowledgeBase) putEmbeddings(c *fiber.Ctx) error {
	var b embeddingsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	asst, err := h.assistantParam(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	h.mu.Lock()
	set, err := h.store.KnowledgeEmbeddingSettings(ws, asst)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&set.BaseURL, b.BaseURL}, {&set.Model, b.Model}, {&set.APIKey, b.APIKey}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if b.Enabled != nil {
		set.Enabled = *b.Enabled
	}
	if err := set.Validate(); err != nil {
		h.mu.Unlock()
		return fromEngine(err)
	}
	set.UpdatedAt = h.s.cfg.Runtime.Clock().Now().UTC()
	batch := h.store.NewBatch()
	batch.PutKnowledgeEmbeddingSettings(ws, asst, set)
	err = h.store.Commit(batch)
	batch.Close()
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("storing embeddings settings: %w", err)
	}
	h.embedChanged(ws, asst)
	v, err := h.embeddingsView(ws, asst)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// embedChanged queues assistant asst's passages for the embedder after
// a change.
func (h *knowledgeBase) embedChanged(ws engine.ID, asst string) {
	h.embed.enqueue(ws, asst)
}
