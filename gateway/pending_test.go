package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// A person marks a conversation pending (waiting for the customer): it
// leaves Open for Pending in the list and the counts; the customer's next
// message brings it back to Open (docs/ARCHITECTURE.md, invariant 6).
func TestPendingFolderReopensWhenTheCustomerWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	code, _ := e.webhook(engine.ChannelWhatsApp, waText("wamid.p.1", "15558880001", "Pat", "what does it cost?"))
	require.Equal(t, http.StatusOK, code)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15558880001")

	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/folder", ownerToken, map[string]string{"folder": "pending"})
	require.Equal(t, http.StatusOK, code, string(body))
	var c engine.Conversation
	require.NoError(t, json.Unmarshal(body, &c))
	require.Equal(t, engine.FolderPending, c.Folder)

	pending := e.list("folder=pending")
	require.Len(t, pending.Conversations, 1)
	require.Equal(t, conv, pending.Conversations[0].ID)
	require.Equal(t, int64(1), pending.Counts["pending"])
	require.Equal(t, int64(0), pending.Counts["open"])
	require.Empty(t, e.list("folder=open").Conversations)

	// Durable: the folder survives a restart of the whole server.
	e.stop()
	e.start()
	require.Equal(t, engine.FolderPending, e.conv(conv).Folder)

	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.p.2", "15558880001", "Pat", "and with delivery?"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, engine.FolderOpen, e.conv(conv).Folder)
	open := e.list("folder=open")
	require.Len(t, open.Conversations, 1)
	require.Equal(t, int64(0), open.Counts["pending"])
	require.Equal(t, int64(1), open.Counts["open"])
	require.Empty(t, e.list("folder=pending").Conversations)
}
