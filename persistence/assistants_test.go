package persistence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// TestAssistantsMigration: a store of format 7 (conversations with no
// assistant, the workspace's agent settings and a channel account's
// override) opens at format 8 with every conversation handled by the
// default assistant, listed and counted under it, and the agent settings
// as they were.
func TestAssistantsMigration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	const n = backfillBatch + 10
	convs := make([]engine.Conversation, n)
	for i := range convs {
		convs[i] = newConv(ws, i, at(time.Duration(i)*time.Second))
		if i%3 == 0 {
			convs[i].Folder = engine.FolderSolved
		}
	}
	putConvs(t, s, convs)
	settings := []engine.AgentSettings{
		{WorkspaceID: ws, Kind: engine.AgentRulesKind, Greeting: "Hello from the workspace", StripeWebhookSecret: "whsec_1",
			Answers: []engine.KeywordAnswer{{Keywords: []string{"price"}, Answer: "10 EUR"}}, UpdatedAt: t0},
		{WorkspaceID: ws, Channel: engine.ChannelWhatsApp, AccountID: "acct-1", Kind: engine.AgentOff, UpdatedAt: t0},
	}
	commit(t, s, func(b *Batch) {
		for i := range settings {
			b.PutAgentSettings(&settings[i])
		}
	})
	for _, c := range convs {
		require.NoError(t, s.ForgetAssistants(ws, c.ID))
	}
	require.Equal(t, 7, s.FormatVersion())
	got, err := s.AssistantConversations(ws, engine.DefaultAssistantID)
	require.NoError(t, err)
	require.Empty(t, got, "forgotten")
	stored, err := s.Conversation(ws, convs[0].ID)
	require.NoError(t, err)
	require.Empty(t, stored.AssistantID)

	s = reopen(t, s, dir)
	require.Equal(t, FormatVersion, s.FormatVersion())
	got, err = s.AssistantConversations(ws, engine.DefaultAssistantID)
	require.NoError(t, err)
	require.Len(t, got, n)
	for _, c := range convs {
		stored, err := s.Conversation(ws, c.ID)
		require.NoError(t, err)
		require.Equal(t, engine.DefaultAssistantID, stored.AssistantID)
	}
	page, err := s.List(ws, ListQuery{Folder: engine.FolderSolved, Assistant: engine.DefaultAssistantID, Limit: 500})
	require.NoError(t, err)
	require.Len(t, page.Conversations, (n+2)/3)
	counts, err := s.AssistantCounts(ws)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{engine.DefaultAssistantID: n}, counts)
	kept, err := s.AgentSettings(ws)
	require.NoError(t, err)
	require.Equal(t, settings, kept, "the agent settings are the default assistant's, unchanged")
}

// TestAssistantRecords: assistants are written, listed by id and
// deleted, per workspace.
func TestAssistantRecords(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf('w', 1), idOf('w', 2)
	a := engine.Assistant{ID: "b", WorkspaceID: ws, Name: "Sales", Settings: engine.AgentSettings{Kind: engine.AgentRulesKind},
		Accounts: []engine.AccountRef{{Channel: engine.ChannelWhatsApp, AccountID: "1"}}, CreatedAt: t0, UpdatedAt: t0}
	d := engine.Assistant{ID: engine.DefaultAssistantID, WorkspaceID: ws, Name: "Front desk", CreatedAt: t0, UpdatedAt: t0}
	commit(t, s, func(b *Batch) { b.PutAssistant(&a); b.PutAssistant(&d) })
	got, err := s.Assistants(ws)
	require.NoError(t, err)
	require.Equal(t, []engine.Assistant{a, d}, got)
	got, err = s.Assistants(other)
	require.NoError(t, err)
	require.Empty(t, got)
	commit(t, s, func(b *Batch) { b.DeleteAssistant(ws, "b") })
	got, err = s.Assistants(ws)
	require.NoError(t, err)
	require.Equal(t, []engine.Assistant{d}, got)
}
