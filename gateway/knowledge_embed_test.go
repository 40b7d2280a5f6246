package gateway_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
)

// fakeEmbeddings plays an OpenAI-compatible embeddings endpoint: each
// text's vector is a hashed bag of its words' concepts, a word's concept
// being itself or, for the few synonyms it knows, the word they mean.
// So "cash returned" and "refund" are near, with no word in common.
type fakeEmbeddings struct {
	srv    *httptest.Server
	mu     sync.Mutex
	fail   bool
	inputs int
	auth   []string
	models []string
}

var embedSynonyms = map[string]string{"cash": "refund", "returned": "refund", "money": "refund", "refunds": "refund",
	"parcel": "ship", "shipping": "ship", "delivered": "ship"}

const embedDims = 64

func fakeVector(text string) []float64 {
	v := make([]float64, embedDims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !(r >= 'a' && r <= 'z') }) {
		if s, ok := embedSynonyms[w]; ok {
			w = s
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%embedDims]++
	}
	return v
}

func newFakeEmbeddings(t *testing.T) *fakeEmbeddings {
	f := &fakeEmbeddings{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		fail := f.fail
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.models = append(f.models, "")
		f.mu.Unlock()
		if r.URL.Path != "/v1/embeddings" || json.Unmarshal(body, &req) != nil || fail {
			http.Error(w, `{"error":{"message":"unavailable"}}`, http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		f.inputs += len(req.Input)
		f.models[len(f.models)-1] = req.Model
		f.mu.Unlock()
		type item struct {
			Embedding []float64 `json:"embedding"`
			Index     int       `json:"index"`
		}
		var out struct {
			Data []item `json:"data"`
		}
		// In reverse order: the index says which input a vector is.
		for i := len(req.Input) - 1; i >= 0; i-- {
			out.Data = append(out.Data, item{fakeVector(req.Input[i]), i})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEmbeddings) setFail(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = v
}

func (f *fakeEmbeddings) embeddedInputs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inputs
}

type embeddingsState struct {
	Enabled   bool   `json:"enabled"`
	BaseURL   string `json:"base_url"`
	Model     string `json:"model"`
	APIKeySet bool   `json:"api_key_set"`
	Embedded  int    `json:"embedded"`
	Passages  int    `json:"passages"`
	LastError string `json:"last_error"`
}

func (e *env) searchKnowledge(q string) []engine.KnowledgePassage {
	e.t.Helper()
	code, body := e.api("POST", knowledgePath+"/search", ownerToken, map[string]any{"query": q})
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[knowledgeSearch](e.t, body).Passages
}

func (e *env) waitEmbedded(want int) embeddingsState {
	e.t.Helper()
	var st embeddingsState
	eventually(e.t, 10*time.Second, func() error {
		code, body := e.api("GET", knowledgePath+"/embeddings", ownerToken, nil)
		if code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		st = decodeAs[embeddingsState](e.t, body)
		if st.Embedded != want || st.Passages != want {
			return fmt.Errorf("embedded %d of %d passages, want %d", st.Embedded, st.Passages, want)
		}
		return nil
	})
	return st
}

// With an assistant's embeddings on, a paraphrase sharing no word with
// an entry finds it (BM25 alone does not); the passages are embedded in
// the background, again when the model changes; a failing endpoint
// leaves the ranking to BM25; bad settings are refused and change
// nothing.
func TestKnowledgeEmbeddings(t *testing.T) {
	t.Parallel()
	fe := newFakeEmbeddings(t)
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.Registerer, c.Gatherer = reg, reg })
	refund := e.addFAQ("How do I get a refund?", "Refunds reach your original card within 5 days.")
	e.addFAQ("Do you ship to Canada?", "Yes, in 7 to 10 days.")
	e.addFAQ("What are your opening hours?", "Every day from 9 to 18.")
	const paraphrase = "cash returned?"
	require.Empty(t, e.searchKnowledge(paraphrase), "BM25 alone: no word in common")

	for _, bad := range []map[string]any{{"enabled": true, "model": "m"}, {"enabled": true, "base_url": "ftp://x", "model": "m"},
		{"enabled": "yes"}, {"base_url": strings.Repeat("x", 3000)}} {
		code, body := e.api("PUT", knowledgePath+"/embeddings", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, body)
		require.Contains(t, string(body), `"error"`)
	}
	code, body := e.api("GET", knowledgePath+"/embeddings", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[embeddingsState](t, body).Enabled, "nothing stored by the refused changes")

	code, body = e.api("PUT", knowledgePath+"/embeddings", ownerToken, map[string]any{"enabled": true,
		"base_url": fe.srv.URL + "/v1", "model": "embed-small", "api_key": "sk-embed"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.NotContains(t, string(body), "sk-embed", "the key is never returned")
	st := e.waitEmbedded(3)
	require.True(t, st.APIKeySet)
	require.Equal(t, "embed-small", st.Model)
	fe.mu.Lock()
	require.Equal(t, "Bearer sk-embed", fe.auth[0])
	require.Equal(t, "embed-small", fe.models[0])
	fe.mu.Unlock()

	// Another workspace's default assistant has settings of its own:
	// A's are neither shown to it nor changed by it.
	e.newWorkspace("pk_workspace_b")
	code, body = e.api("GET", knowledgePath+"/embeddings", "pk_workspace_b", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[embeddingsState](t, body).Enabled, "B sees its own settings")
	require.NotContains(t, string(body), "embed-small")
	code, body = e.api("PUT", knowledgePath+"/embeddings", "pk_workspace_b", map[string]any{"enabled": false, "model": "b-model"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("GET", knowledgePath+"/embeddings", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "embed-small", decodeAs[embeddingsState](t, body).Model, "B's change left A's settings alone")

	ps := e.searchKnowledge(paraphrase)
	require.NotEmpty(t, ps, "found by its embedding")
	require.Equal(t, refund.ID, ps[0].EntryID)
	require.Greater(t, ps[0].Similarity, 0.5)
	ps = e.searchKnowledge("do you ship to canada")
	require.Equal(t, "Do you ship to Canada?", ps[0].Title, "BM25 and embeddings agree")

	// A new entry is embedded as it is indexed.
	e.addFAQ("Can I pay with PayPal?", "Yes, PayPal and cards.")
	e.waitEmbedded(4)

	// Another model: every passage is embedded again.
	before := fe.embeddedInputs()
	code, body = e.api("PUT", knowledgePath+"/embeddings", ownerToken, map[string]any{"model": "embed-large"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.True(t, decodeAs[embeddingsState](t, body).APIKeySet, "an api_key left out is kept")
	e.waitEmbedded(4)
	require.GreaterOrEqual(t, fe.embeddedInputs()-before, 4)

	// The endpoint fails: BM25 alone, counted and still answered.
	fe.setFail(true)
	require.Empty(t, e.searchKnowledge(paraphrase))
	ps = e.searchKnowledge("do you ship to canada")
	require.Equal(t, "Do you ship to Canada?", ps[0].Title)
	require.Zero(t, ps[0].Similarity)
	code, body = e.api("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "parley_knowledge_embedding_fallbacks_total 2")
	require.Contains(t, string(body), `parley_knowledge_embedding_requests_total{outcome="error",purpose="query"} 2`)
	require.Contains(t, string(body), "parley_knowledge_embedding_request_seconds_count")
	fe.setFail(false)

	// Off: BM25 alone, the endpoint not called.
	code, body = e.api("PUT", knowledgePath+"/embeddings", ownerToken, map[string]any{"enabled": false})
	require.Equal(t, http.StatusOK, code, string(body))
	before = fe.embeddedInputs()
	require.Empty(t, e.searchKnowledge(paraphrase))
	require.Equal(t, before, fe.embeddedInputs())
}

// The agent of a conversation receives the passage its customer's
// paraphrase finds through the embeddings.
func TestKnowledgeEmbeddingsReachTheAgent(t *testing.T) {
	t.Parallel()
	fe := newFakeEmbeddings(t)
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) { return 200, completion("Within 5 days.", ""), 0 })
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	refund := e.addFAQ("How do I get a refund?", "Refunds reach your original card within 5 days.")
	e.addFAQ("Do you ship to Canada?", "Yes, in 7 to 10 days.")
	code, body := e.api("PUT", knowledgePath+"/embeddings", ownerToken, map[string]any{"enabled": true,
		"base_url": fe.srv.URL + "/v1", "model": "embed-small"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.waitEmbedded(2)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.kn.emb", "15550221", "Ida", "cash returned?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550221")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	reqs := ai.requests()
	require.Len(t, reqs, 1)
	require.Contains(t, string(reqs[0].Body), "Refunds reach your original card")
	m := e.aiMessage(conv)
	require.NotEmpty(t, m.Sources)
	require.Equal(t, refund.ID, m.Sources[0].EntryID)
}
