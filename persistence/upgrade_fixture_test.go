package persistence

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/internal/upgradefixture"
)

// The data directory an earlier Parley wrote (format 1, with the markers
// of the search and contact conversation backfills it ran) opens at the
// current format: the steps it lacks run, with their progress logged,
// the indexes it never had are written, the markers are gone, and a
// second Open runs nothing.
func TestFormat1FixtureIsMigrated(t *testing.T) {
	t.Parallel()
	man := upgradefixture.ReadManifest(t)
	dir := filepath.Join(upgradefixture.Unpack(t), "db")
	var logs bytes.Buffer
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Equal(t, FormatVersion, s.FormatVersion())
	require.Equal(t, FormatVersion-upgradefixture.Format, s.MigrationSteps())
	require.Equal(t, FormatVersion, storedFormat(t, s).Format)
	require.Empty(t, rawKeys(t, s, []byte{spaceSystem, tMarker}))
	for _, step := range []string{"search queue layout", "search index backfill", "contact conversations index",
		"media reference index", "contact phone and email index", "conversation assistants"} {
		require.Contains(t, logs.String(), `"msg":"Migrated the data directory","step":"`+step+`"`)
	}
	require.Contains(t, logs.String(), `"msg":"Migrating the data directory: already done by an earlier Parley","step":"search index backfill"`)

	// The indexes the earlier Parley did not have.
	files := 0
	for _, raw := range man.Messages {
		var msgs struct {
			Messages []engine.Message `json:"messages"`
		}
		require.NoError(t, json.Unmarshal(raw, &msgs))
		for _, m := range msgs.Messages {
			if d := MediaDigest(m.Media); d != "" {
				files++
				refs, err := s.MediaRefs(m.WorkspaceID, d, 0)
				require.NoError(t, err)
				require.Equal(t, []MessageRef{{m.ConversationID, m.Seq}}, refs)
			}
		}
	}
	require.Equal(t, 2, files, "the photo in and the file out")
	var contacts struct {
		Contacts []engine.Contact `json:"contacts"`
	}
	require.NoError(t, json.Unmarshal(man.Contacts, &contacts))
	found := 0
	for _, c := range contacts.Contacts {
		if c.Profile.Email == "" {
			continue
		}
		id, ok, err := s.ContactByKeys(c.WorkspaceID, engine.ContactKeys(&c))
		require.NoError(t, err)
		require.True(t, ok, c.Profile.Name)
		require.Equal(t, c.ID, id)
		found++
	}
	require.Equal(t, 1, found, "Carla, by email and phone")
	// Every conversation is the default assistant's.
	for _, raw := range man.Conversations {
		var c engine.Conversation
		require.NoError(t, json.Unmarshal(raw, &c))
		stored, err := s.Conversation(c.WorkspaceID, c.ID)
		require.NoError(t, err)
		require.Equal(t, engine.DefaultAssistantID, stored.AssistantID)
		convs, err := s.AssistantConversations(c.WorkspaceID, engine.DefaultAssistantID)
		require.NoError(t, err)
		require.Contains(t, convs, c.ID)
	}
	require.NotEmpty(t, man.Conversations)

	logs.Reset()
	s = reopen(t, s, dir)
	require.Zero(t, s.MigrationSteps())
	require.Equal(t, FormatVersion, s.FormatVersion())
	require.False(t, strings.Contains(logs.String(), "Migrat"))
}
