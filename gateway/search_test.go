package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// searchEventually waits until q finds want hits (the index follows
// commits in the background).
func (e *env) searchEventually(q string, want int) searchResp {
	e.t.Helper()
	var r searchResp
	eventually(e.t, 5*time.Second, func() error {
		r = e.search(ownerToken, q)
		if len(r.Hits) != want {
			return fmt.Errorf("%q: %d hits, want %d", q, len(r.Hits), want)
		}
		return nil
	})
	return r
}

func TestSearchAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.s.1", "15557001", "João Ñandú", "Olá, meu pedido não chegou"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.s.2", "15557002", "Maria Café", "Quero trocar o tamanho do pedido"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.s.3", "15557003", "Pedro", "obrigado"))
	joao := e.thread(engine.ChannelWhatsApp, phoneID, "15557001")
	maria := e.thread(engine.ChannelWhatsApp, phoneID, "15557002")

	// Message text, any case or accent, word prefixes; newest first.
	r := e.searchEventually("PEDI", 2)
	require.Equal(t, maria, r.Hits[0].Conversation.ID)
	require.Equal(t, joao, r.Hits[1].Conversation.ID)
	require.Equal(t, "text", r.Hits[0].Field)
	require.Equal(t, uint64(1), r.Hits[0].Seq)
	require.Contains(t, r.Hits[0].Snippet, "pedido")
	require.Equal(t, "Maria Café", r.Hits[0].Conversation.ContactName, "each hit is a full list item")

	r = e.searchEventually("nao chegou", 1)
	require.Equal(t, joao, r.Hits[0].Conversation.ID)
	require.Contains(t, r.Hits[0].Snippet, "não chegou")

	// Contact name, and the WhatsApp number.
	r = e.searchEventually("nandu", 1)
	require.Equal(t, "name", r.Hits[0].Field)
	require.Equal(t, joao, r.Hits[0].Conversation.ID)
	r = e.searchEventually("15557002", 1)
	require.Equal(t, maria, r.Hits[0].Conversation.ID)
	e.searchEventually("cafe pedido", 1)
	e.searchEventually("zebra", 0)

	// All history: an older message is found after newer ones.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.s.4", "15557001", "João Ñandú", "outra coisa"))
	e.searchEventually("chegou outra", 1)

	// Pagination.
	code, body := e.api("GET", "/api/v1/search?q=pedido&limit=1", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	first := decodeAs[searchResp](t, body)
	require.Len(t, first.Hits, 1)
	require.NotEmpty(t, first.NextCursor)
	code, body = e.api("GET", "/api/v1/search?q=pedido&limit=1&cursor="+url.QueryEscape(first.NextCursor), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	second := decodeAs[searchResp](t, body)
	require.Len(t, second.Hits, 1)
	require.NotEqual(t, first.Hits[0].Conversation.ID, second.Hits[0].Conversation.ID)

	// A deleted conversation is not found.
	code, _ = e.api("DELETE", "/api/v1/conversations/"+maria.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	e.searchEventually("trocar", 0)
	e.searchEventually("pedido", 1)
}

func TestSearchAPIBadQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, q := range []string{
		"", "q=", "q=%20%2C%2C", "q=x&limit=0", "q=x&limit=101", "q=x&limit=abc", "q=x&cursor=nope",
		"q=%FF%FE", "q=" + url.QueryEscape(string(make([]byte, 600))),
	} {
		code, body := e.api("GET", "/api/v1/search?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Equal(t, "bad_query", errorCode(t, body), q)
	}
}
