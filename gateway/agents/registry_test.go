package agents_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/persistence"
)

// The agent of a conversation: its channel account's override, else its
// assistant's settings, else the workspace's (also for an assistant
// deleted since); a new conversation's assistant is the one listing its
// account. All of it survives a reopen of the store.
func TestRegistryResolvesByAssistant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := persistence.Open(persistence.Options{Dir: dir})
	require.NoError(t, err)
	ws := engine.NewID(time.Now())
	b := store.NewBatch()
	b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"})
	require.NoError(t, store.Commit(b))
	reg, err := agents.NewRegistry(store, nil)
	require.NoError(t, err)
	wa := engine.ChannelWhatsApp
	require.NoError(t, reg.Put(engine.AgentSettings{WorkspaceID: ws, Kind: engine.AgentRulesKind, Debounce: 1}))
	require.NoError(t, reg.PutAssistant(engine.Assistant{ID: "sales", WorkspaceID: ws, Name: "Sales",
		Accounts: []engine.AccountRef{{Channel: wa, AccountID: "2"}}, Settings: engine.AgentSettings{Kind: engine.AgentRulesKind, Debounce: 2}}))
	require.NoError(t, reg.Put(engine.AgentSettings{WorkspaceID: ws, Channel: wa, AccountID: "3", Kind: engine.AgentRulesKind, Debounce: 3}))

	check := func(reg *agents.Registry) {
		t.Helper()
		debounce := func(acct, assistant string) int64 {
			_, pol := reg.Resolve(ws, wa, acct, assistant)
			return int64(pol.Debounce)
		}
		require.Equal(t, int64(1), debounce("1", engine.DefaultAssistantID), "the workspace's")
		require.Equal(t, int64(2), debounce("1", "sales"), "the assistant's")
		require.Equal(t, int64(3), debounce("3", "sales"), "the account's override wins")
		require.Equal(t, int64(1), debounce("2", "gone"), "an assistant deleted since: the workspace's")
		require.Equal(t, "sales", reg.AssistantFor(ws, wa, "2"))
		require.Equal(t, engine.DefaultAssistantID, reg.AssistantFor(ws, wa, "1"))
		as := reg.Assistants(ws)
		require.Len(t, as, 2)
		require.Equal(t, engine.DefaultAssistantID, as[0].ID)
		require.Equal(t, engine.DefaultAssistantName, as[0].Name)
		require.Equal(t, "sales", as[1].ID)
	}
	check(reg)
	require.NoError(t, store.Close())
	store, err = persistence.Open(persistence.Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	reg, err = agents.NewRegistry(store, nil)
	require.NoError(t, err)
	check(reg)

	// Another assistant taking the account takes it from Sales; deleting
	// it gives it back to the default one.
	require.NoError(t, reg.PutAssistant(engine.Assistant{ID: "support", WorkspaceID: ws, Name: "Support",
		Accounts: []engine.AccountRef{{Channel: wa, AccountID: "2"}}, Settings: engine.AgentSettings{Kind: engine.AgentOff}}))
	require.Equal(t, "support", reg.AssistantFor(ws, wa, "2"))
	sales, ok := reg.Assistant(ws, "sales")
	require.True(t, ok)
	require.Empty(t, sales.Accounts)
	require.NoError(t, reg.DeleteAssistant(ws, "support"))
	require.Equal(t, engine.DefaultAssistantID, reg.AssistantFor(ws, wa, "2"))
	require.ErrorIs(t, reg.DeleteAssistant(ws, engine.DefaultAssistantID), engine.ErrInvalid)
	require.ErrorIs(t, reg.DeleteAssistant(ws, "support"), persistence.ErrNotFound)
	stored, err := store.Assistants(ws)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	require.Empty(t, stored[0].Accounts)
}
