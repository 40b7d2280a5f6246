package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// hitConvs returns the conversation ids of search hits.
func hitConvs(r searchResp) []engine.ID {
	out := []engine.ID{}
	for _, h := range r.Hits {
		out = append(out, h.Conversation.ID)
	}
	return out
}

// TestContactEditsReachConversationSearch: a contact's profile edited
// through the API (PATCH, merge, CSV import) is what its conversations
// are found by, and the old values no longer find them.
func TestContactEditsReachConversationSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	convA, ana := e.waContact("wamid.cs.1", "15550201", "Ana")
	convB, bob := e.waContact("wamid.cs.2", "15550202", "Bob")
	e.searchEventually("ana", 1)
	e.searchEventually("oldco", 0)

	patch := func(id engine.ID, body map[string]string) {
		t.Helper()
		code, resp := e.api("PATCH", "/api/v1/contacts/"+id.String(), ownerToken, body)
		require.Equal(t, http.StatusOK, code, string(resp))
	}

	// PATCH: the new email and company find the conversation.
	patch(ana, map[string]string{"email": "ana@oldco.example", "company": "Umbra"})
	r := e.searchEventually("oldco", 1)
	require.Equal(t, convA, r.Hits[0].Conversation.ID)
	require.Equal(t, "email", r.Hits[0].Field)
	r = e.searchEventually("umbra", 1)
	require.Equal(t, "company", r.Hits[0].Field)

	// Changed again: the new values find it, the old ones do not.
	patch(ana, map[string]string{"email": "ana@newco.example", "company": "Zephyr Labs", "name": "Anabela"})
	e.searchEventually("zephyr", 1)
	e.searchEventually("newco", 1)
	require.Equal(t, []engine.ID{convA}, hitConvs(e.searchEventually("anabela", 1)))
	require.Empty(t, e.search(ownerToken, "oldco").Hits)
	require.Empty(t, e.search(ownerToken, "umbra").Hits)

	// Merge: Bob's conversation moves to Ana and is found by her
	// profile; Ana's conversation by the phone she takes from Bob.
	patch(bob, map[string]string{"phone": "+1 555 777 1234"})
	require.Equal(t, []engine.ID{convB}, hitConvs(e.searchEventually("15557771234", 1)))
	code, body := e.api("POST", "/api/v1/contacts/"+ana.String()+"/merge", ownerToken, map[string]string{"from": bob.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, ana, e.conv(convB).ContactID)
	require.ElementsMatch(t, []engine.ID{convA, convB}, hitConvs(e.searchEventually("zephyr", 2)))
	require.ElementsMatch(t, []engine.ID{convA, convB}, hitConvs(e.searchEventually("15557771234", 2)))

	// CSV import updating the contact (matched by email).
	code, body = e.postCSV(ownerToken, "text/csv", []byte("Name,Email,Company\nAnabela,ana@newco.example,Quasar Inc\n"))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 1, decodeAs[importResult](t, body).Updated, string(body))
	require.ElementsMatch(t, []engine.ID{convA, convB}, hitConvs(e.searchEventually("quasar", 2)))
	require.Empty(t, e.search(ownerToken, "zephyr").Hits)

	// A merge that leaves the target's profile as it was: the moved
	// conversation is still reindexed with it.
	convC, carl := e.waContact("wamid.cs.3", "15550203", "Carl")
	e.searchEventually("carl", 1)
	code, body = e.api("POST", "/api/v1/contacts/"+ana.String()+"/merge", ownerToken, map[string]string{"from": carl.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	require.ElementsMatch(t, []engine.ID{convA, convB, convC}, hitConvs(e.searchEventually("quasar", 3)))
}

// TestContactProfileListsConversationsStoredBeforeTheIndex: a
// conversation stored without its contact → conversation entry is listed
// on the contact's profile after a restart (the startup backfill).
func TestContactProfileListsConversationsStoredBeforeTheIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	conv, contact := e.waContact("wamid.bf.1", "15550301", "Dora")
	require.Len(t, e.contactDetail(contact).Conversations, 1)
	require.NoError(t, e.store.ForgetContactConversations(e.ws, contact))
	require.Empty(t, e.contactDetail(contact).Conversations)

	e.stop()
	e.start()
	eventually(t, 5*time.Second, func() error {
		d := e.contactDetail(contact)
		if len(d.Conversations) != 1 || d.Conversations[0].ID != conv {
			return fmt.Errorf("contact lists %d conversations", len(d.Conversations))
		}
		return nil
	})
}
