package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A note's Markdown comes back rendered and sanitised as html in every
// note the API hands out (the answer to the POST, note.created, the list
// and the contact), while text stays the source and html is never stored
// nor accepted from a client.
func TestNoteMarkdownHTML(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ct := e.createContact(ownerToken, map[string]any{"name": "Lead"})
	ws := e.events("token=" + ownerToken)
	path := "/api/v1/contacts/" + ct.ID.String() + "/notes"

	text := "**Call** back, @owner\n\n- ask for `the order id`\n- [refund policy](https://example.com/refunds) [x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>"
	want := "<p><strong>Call</strong> back, @owner</p>\n<ul>\n<li>ask for <code>the order id</code></li>\n" +
		"<li><a href=\"https://example.com/refunds\" rel=\"nofollow noreferrer noopener\" target=\"_blank\">refund policy</a> x</li>\n</ul>"
	code, body := e.api("POST", path, ownerToken, map[string]string{"text": text})
	require.Equal(t, http.StatusCreated, code, string(body))
	n := decodeAs[engine.Note](t, body)
	require.Equal(t, text, n.Text)
	require.Equal(t, want, n.HTML)

	var created struct {
		Note engine.Note `json:"note"`
	}
	require.NoError(t, json.Unmarshal(ws.until("note.created").Data, &created))
	require.Equal(t, want, created.Note.HTML, "note.created")

	code, body = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	list := decodeAs[struct {
		Notes []engine.Note `json:"notes"`
	}](t, body).Notes
	require.Len(t, list, 1)
	require.Equal(t, want, list[0].HTML, "list")
	require.Equal(t, text, list[0].Text)

	d := e.contactDetail(ct.ID)
	require.Len(t, d.Notes, 1)
	require.Equal(t, want, d.Notes[0].HTML, "contact")
	for _, a := range d.Activity {
		if a.Note != nil {
			require.Equal(t, want, a.Note.HTML, "activity")
		}
	}

	stored, err := e.store.Notes(ct.WorkspaceID, ct.ID, 10)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	require.Empty(t, stored[0].HTML, "html is derived, not stored")

	// html is read-only: a client sending it gets 400 and nothing is stored.
	code, body = e.api("POST", path, ownerToken, map[string]string{"text": "hi", "html": "<script>alert(1)</script>"})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	errorCode(t, body)
	stored, err = e.store.Notes(ct.WorkspaceID, ct.ID, 10)
	require.NoError(t, err)
	require.Len(t, stored, 1)
}
