package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

type memoriesPage struct {
	Memories []engine.Memory `json:"memories"`
}

// People list, add and delete a contact's memories; bad bodies get a 400
// JSON error with nothing stored, a full contact a 409, and a merge moves
// the memories with the contact.
func TestContactMemoriesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, ct := e.waContact("wamid.mem.1", "15559101", "Ana")
	path := "/api/v1/contacts/" + ct.String() + "/memories"
	ws := e.events("token=" + ownerToken + "&folder=spam") // the conversation filters do not hold memories back

	code, body := e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Empty(t, decodeAs[memoriesPage](t, body).Memories)

	code, body = e.api("POST", path, ownerToken, map[string]string{"text": "  prefers\nemail  "})
	require.Equal(t, http.StatusCreated, code, string(body))
	m := decodeAs[engine.Memory](t, body)
	require.Equal(t, "prefers email", m.Text)
	require.Equal(t, engine.MemoryHuman, m.Source)
	require.NotNil(t, m.AuthorID)
	ev := ws.until("memory.created")
	require.Contains(t, string(ev.Data), m.ID.String())

	for _, bad := range []string{``, `{}`, `{"text":""}`, `{"text":"   "}`, `{"text":5}`, `{"text":"x","extra":1}`,
		`{"text":"` + strings.Repeat("a", engine.MaxMemoryBytes+1) + `"}`, `{"text":"bell\u0007"}`, "{\"text\":\"\xff\"}", `[`} {
		code, body = e.api("POST", path, ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	code, body = e.api("POST", "/api/v1/contacts/"+engine.NewID(e.clock.Now()).String()+"/memories", ownerToken, map[string]string{"text": "x"})
	require.Equal(t, http.StatusNotFound, code, string(body))
	code, body = e.api("DELETE", path+"/not-an-id", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "not_found", errorCode(t, body))

	code, body = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []engine.Memory{m}, decodeAs[memoriesPage](t, body).Memories, "nothing else stored")

	for i := 1; i < engine.MaxMemories; i++ {
		code, body = e.api("POST", path, ownerToken, map[string]string{"text": "fact " + strings.Repeat("x", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body = e.api("POST", path, ownerToken, map[string]string{"text": "one too many"})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "too_many_memories", errorCode(t, body))

	code, _ = e.api("DELETE", path+"/"+m.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	ev = ws.until("memory.deleted")
	require.Contains(t, string(ev.Data), m.ID.String())
	code, _ = e.api("DELETE", path+"/"+m.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, body = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, decodeAs[memoriesPage](t, body).Memories, engine.MaxMemories-1)

	// A merge brings the source's memories over.
	other := e.createContact(ownerToken, map[string]any{"name": "Ana (email)"})
	code, body = e.api("POST", "/api/v1/contacts/"+other.ID.String()+"/memories", ownerToken, map[string]string{"text": "vegetarian"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts/"+ct.String()+"/merge", ownerToken, map[string]string{"from": other.ID.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	got := decodeAs[memoriesPage](t, body).Memories
	require.Len(t, got, engine.MaxMemories)
	require.Equal(t, "vegetarian", got[len(got)-1].Text)
	require.Equal(t, ct, got[len(got)-1].ContactID)
}
