package gateway_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Settings › Knowledge base › Embeddings, with axe-core: the owner turns
// an embeddings endpoint on (checked through the API, the key not shown
// again), the progress reaches every passage, and the tester finds the
// refund FAQ from a paraphrase with no word in common, showing its
// similarity.
func TestWebKnowledgeEmbeddings(t *testing.T) {
	browser := startBrowser(t)
	fe := newFakeEmbeddings(t)
	e := newEnv(t, nil)
	refund := e.addFAQ("How do I get a refund?", "Refunds reach your original card within 5 days.")
	e.addFAQ("Do you ship to Canada?", "Yes, in 7 to 10 days.")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	w := widths[0]
	b.viewport(w.w, w.h, w.phone)
	b.waitJS("open the knowledge base", `(location.hash = '#settings/knowledge', true)`)
	b.waitJS("the embeddings form", `document.querySelector('form.kn-embeddings #kn-emb-url') && document.querySelector('.kn-emb-progress')?.textContent.startsWith('Off')`)
	b.clickJS("turn them on", `#kn-emb-enabled`)
	b.fill("#kn-emb-url", fe.srv.URL+"/v1")
	b.fill("#kn-emb-model", "embed-small")
	b.fill("#kn-emb-key", "sk-embed-web")
	b.clickJS("Save", `form.kn-embeddings button[type="submit"]`)
	b.waitJS("saved", `document.querySelector('#kn-emb-key').value === '' && document.querySelector('#kn-emb-key').placeholder.startsWith('Saved')`)
	st := e.waitEmbedded(2)
	require.True(t, st.Enabled)
	require.Equal(t, "embed-small", st.Model)
	require.True(t, st.APIKeySet)
	b.waitJS("the progress", `(document.querySelector('form.kn-embeddings button.ghost').click(), document.querySelector('.kn-emb-progress').textContent === 'Embedded 2 of 2 passages')`)

	b.fill("#kn-query", "cash returned?")
	b.clickJS("Test", `form.kn-tester button[type="submit"]`)
	b.waitJS("the paraphrase's passage", `document.querySelector('#kn-results li.kn-passage')?.dataset.entry === '`+refund.ID.String()+`' && document.querySelector('#kn-results .kn-match').textContent.includes('similarity')`)
	axeCheck(t, b, "settings-knowledge-embeddings-"+w.name)
	b.noOverflow(int(w.w))

	// A bad URL is refused in the form; nothing changes.
	b.fill("#kn-emb-url", "ftp://nowhere")
	b.clickJS("Save", `form.kn-embeddings button[type="submit"]`)
	b.waitJS("the error", `document.querySelector('.kn-emb-error').textContent.includes('base_url')`)
	code, body := e.api("GET", knowledgePath+"/embeddings", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), fe.srv.URL+"/v1")
}
