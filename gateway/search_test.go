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

// A query of symbols only is a 400 that says so in plain words, and a
// search can be narrowed to a folder and a channel, its pages filled
// across the store's pages (issue 16).
func TestSearchAPIFolderChannelAndSymbols(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, q := range []string{"%23", "%23%20!!", "%E2%9C%93"} {
		code, body := e.api("GET", "/api/v1/search?q="+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Equal(t, "bad_query", errorCode(t, body))
		require.Equal(t, "the search query has no letters or digits", decodeAs[struct{ Error struct{ Message string } }](t, body).Error.Message)
	}

	// Twelve WhatsApp conversations and three Messenger ones say "parcel";
	// four of the WhatsApp ones are solved.
	var wa []engine.ID
	for i := range 12 {
		user := fmt.Sprintf("15557100%02d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.sf.%d", i), user, "Customer", "my parcel is late"))
		require.Equal(t, http.StatusOK, code, string(body))
		wa = append(wa, e.thread(engine.ChannelWhatsApp, phoneID, user))
	}
	var ms []engine.ID
	for i := range 3 {
		psid := fmt.Sprintf("PSID_SF_%d", i)
		code, body := e.webhook(engine.ChannelMessenger, messengerText(fmt.Sprintf("m_sf_%d", i), psid, "parcel missing"))
		require.Equal(t, http.StatusOK, code, string(body))
		ms = append(ms, e.thread(engine.ChannelMessenger, pageID, psid))
	}
	for _, id := range wa[:4] {
		code, body := e.api("POST", "/api/v1/conversations/"+id.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
		require.Equal(t, http.StatusOK, code, string(body))
	}
	e.searchEventually("parcel", 15)

	// all pages of the query, each of at most limit hits.
	all := func(query string, limit int) []engine.ID {
		t.Helper()
		var out []engine.ID
		cursor := ""
		for range 20 {
			code, body := e.api("GET", fmt.Sprintf("/api/v1/search?q=parcel&limit=%d&%s&cursor=%s", limit, query, url.QueryEscape(cursor)), ownerToken, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			r := decodeAs[searchResp](t, body)
			require.LessOrEqual(t, len(r.Hits), limit)
			for _, h := range r.Hits {
				out = append(out, h.Conversation.ID)
			}
			if cursor = r.NextCursor; cursor == "" {
				return out
			}
		}
		t.Fatalf("%s: more than 20 pages", query)
		return nil
	}
	require.ElementsMatch(t, ms, all("channel=messenger", 2))
	require.ElementsMatch(t, wa[:4], all("folder=solved", 3))
	require.ElementsMatch(t, wa[4:], all("folder=open&channel=whatsapp", 3))
	require.ElementsMatch(t, append(append([]engine.ID{}, wa[4:]...), ms...), all("folder=open", 4))
	require.Empty(t, all("channel=instagram", 5))
	// The first page of a narrowed search is full when there are enough
	// hits, however many others come first.
	code, body := e.api("GET", "/api/v1/search?q=parcel&limit=3&channel=whatsapp&folder=solved", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, decodeAs[searchResp](t, body).Hits, 3)

	for _, q := range []string{"q=parcel&folder=bin", "q=parcel&channel=fax"} {
		code, body := e.api("GET", "/api/v1/search?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Equal(t, "bad_query", errorCode(t, body))
	}
}
