package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// An imported contact "+1 555 000 1111" who writes on WhatsApp as
// 15550001111 is the same contact: no second contact is made, the
// WhatsApp identity joins the imported one, its name stays, and a
// restricted agent (the AI answers only contacts in the CRM) answers
// them. A stranger is still turned away.
func TestImportedContactMatchedByPhone(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "rules", "greeting": "Welcome back",
		"restricted": true, "restricted_reply": "Members only"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.postCSV(ownerToken, "text/csv", []byte("name,phone,email\nAlice Imported,+1 555 000 1111,alice@example.com\n"))
	require.Equal(t, http.StatusOK, code, string(body))
	imported := e.contacts("q=alice").Contacts
	require.Len(t, imported, 1)
	alice := imported[0]

	conv, contact := e.waContact("wamid.id.1", "15550001111", "Ali")
	require.Equal(t, alice.ID, contact, "the sender is the imported contact")
	require.Equal(t, 1, e.countContacts(ownerToken), "no duplicate")
	require.Equal(t, "Alice Imported", e.conv(conv).ContactName, "the header shows the contact's name")
	require.Equal(t, []string{"Welcome back"}, e.waitSent(1), "the restricted agent answers a contact in the CRM")
	eventually(t, 5*time.Second, func() error {
		ct := e.contactDetail(alice.ID)
		if !slices.Contains(ct.Identities, engine.Identity{Channel: engine.ChannelWhatsApp, ExternalID: "15550001111"}) {
			return fmt.Errorf("identities %v", ct.Identities)
		}
		if ct.Profile.Name != "Alice Imported" || ct.ChannelName != "Ali" {
			return fmt.Errorf("name %q, channel name %q", ct.Profile.Name, ct.ChannelName)
		}
		return nil
	})
	id, ok, err := e.store.ContactByIdentity(e.ws, engine.ChannelWhatsApp, "15550001111")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, alice.ID, id)

	_, stranger := e.waContact("wamid.id.2", "15550002222", "Eve")
	require.NotEqual(t, alice.ID, stranger)
	require.Equal(t, []string{"Welcome back", "Members only"}, e.waitSent(2), "a sender not in the CRM is turned away")
}

// A contact a person renames shows its new name at once on its
// conversations: conversation.updated carries the header, the list rows
// and the chat header show it, and conversation search finds the new
// name and no longer the old one.
func TestRenamedContactReachesConversations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	conv, contact := e.waContact("wamid.rn.1", "15550003333", "Zebedee")
	e.searchEventually("zebedee", 1)
	ws := e.events("token=" + ownerToken + "&conversation_id=" + conv.String())

	code, body := e.api("PATCH", "/api/v1/contacts/"+contact.String(), ownerToken, map[string]string{"name": "Quintessa Ward"})
	require.Equal(t, http.StatusOK, code, string(body))
	ev := ws.until("conversation.updated")
	var d struct {
		Conversation engine.Conversation `json:"conversation"`
	}
	require.NoError(t, json.Unmarshal(ev.Data, &d))
	require.Equal(t, "Quintessa Ward", d.Conversation.ContactName)
	require.Equal(t, "Quintessa Ward", e.conv(conv).ContactName, "the chat header")
	rows := e.list("folder=open").Conversations
	require.Len(t, rows, 1)
	require.Equal(t, "Quintessa Ward", rows[0].ContactName, "the list row")
	e.searchEventually("quintessa", 1)
	e.searchEventually("zebedee", 0)

	// The customer's next message, still under the channel's old name,
	// changes neither the contact nor the header.
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.rn.2", "15550003333", "Zebedee", "again"))
	require.Equal(t, http.StatusOK, code, string(body))
	// A change through the contact's actor after the webhook's answer
	// comes after anything the conversation told it.
	code, body = e.api("PATCH", "/api/v1/contacts/"+contact.String(), ownerToken, map[string]string{"company": "Acme"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "Quintessa Ward", decodeAs[engine.Contact](t, body).Profile.Name)
	require.Equal(t, "Quintessa Ward", e.conv(conv).ContactName)
}
