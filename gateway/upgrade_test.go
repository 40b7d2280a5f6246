package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/internal/upgradefixture"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// TestUpgradeFromFormat1: the data directory an earlier Parley (commit
// 4a974d2, format 1) left, opened by today's whole server on its injected
// clock, shows through the API every conversation, message and contact
// its API showed; its manual conversation's AI resume timer fires 15
// minutes after the person's reply; its outbox entries, which Graph
// refused with 500 then, are sent now that Graph answers; search finds
// an old message, media files download; the store is at the current
// format, and a second start migrates nothing.
func TestUpgradeFromFormat1(t *testing.T) {
	t.Parallel()
	man := upgradefixture.ReadManifest(t)
	require.Equal(t, ownerToken, man.OwnerToken)
	clock := clockwork.NewFakeClockAt(man.StoppedAt)
	e := &env{t: t, dir: upgradefixture.Unpack(t), graph: newFakeGraph(t), clock: clock,
		client: &http.Client{Timeout: 30 * time.Second}}
	e.start()
	t.Cleanup(e.stop)
	getJSON := func(path string, v any) {
		t.Helper()
		code, body := e.api("GET", path, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
		require.NoError(t, json.Unmarshal(body, v), path)
	}
	require.Equal(t, persistence.FormatVersion, e.store.FormatVersion())
	require.Equal(t, persistence.FormatVersion-upgradefixture.Format, e.store.MigrationSteps())

	// Every conversation, in its folder, with its state.
	old := map[engine.ID]engine.Conversation{}
	for _, raw := range man.Conversations {
		var c engine.Conversation
		require.NoError(t, json.Unmarshal(raw, &c))
		old[c.ID] = c
	}
	require.Len(t, old, 4)
	listed := 0
	for _, folder := range []engine.Folder{engine.FolderOpen, engine.FolderSolved, engine.FolderSpam, engine.FolderArchived} {
		var page struct {
			Conversations []engine.Conversation `json:"conversations"`
		}
		getJSON("/api/v1/conversations?limit=100&folder="+string(folder), &page)
		for _, c := range page.Conversations {
			o, ok := old[c.ID]
			require.True(t, ok, "conversation %s was not there before", c.ID)
			require.Equal(t, folder, o.Folder)
			listed++
		}
	}
	require.Equal(t, len(old), listed)
	var manual engine.Conversation // the one a person took over and answered
	for id, o := range old {
		var c engine.Conversation
		getJSON("/api/v1/conversations/"+id.String(), &c)
		require.Equal(t, o.Channel, c.Channel)
		require.Equal(t, o.ChannelAccountID, c.ChannelAccountID)
		require.Equal(t, o.ExternalUserID, c.ExternalUserID)
		require.Equal(t, o.ContactID, c.ContactID)
		require.Equal(t, o.ContactName, c.ContactName)
		require.Equal(t, o.Folder, c.Folder)
		require.Equal(t, o.Mode, c.Mode, "mode of %s", o.ExternalUserID)
		require.Equal(t, o.Tags, c.Tags)
		require.Equal(t, o.LastSeq, c.LastSeq)
		require.True(t, o.AIResumesAt.Equal(c.AIResumesAt))
		if o.ExternalUserID == "15550000002" {
			manual = c
		}
	}
	require.Equal(t, engine.ModeManual, manual.Mode)
	require.False(t, manual.AIResumesAt.IsZero())

	// Every message, and the outbox entries sent now.
	for id, raw := range man.Messages {
		var was, is struct {
			Messages []engine.Message `json:"messages"`
		}
		require.NoError(t, json.Unmarshal(raw, &was))
		pending := 0
		for _, m := range was.Messages {
			if m.Status == engine.StatusSending {
				pending++
			}
		}
		eventually(t, 10*time.Second, func() error {
			is.Messages = nil
			getJSON("/api/v1/conversations/"+id+"/messages?limit=100", &is)
			for _, m := range is.Messages {
				if m.Status == engine.StatusSending {
					return fmt.Errorf("message %d still sending", m.Seq)
				}
			}
			return nil
		})
		require.Len(t, is.Messages, len(was.Messages), id)
		for i, w := range was.Messages {
			g := is.Messages[i]
			require.Equal(t, w.ID, g.ID)
			require.Equal(t, w.Seq, g.Seq)
			require.Equal(t, w.Direction, g.Direction)
			require.Equal(t, w.Sender, g.Sender)
			require.Equal(t, w.Kind, g.Kind)
			require.Equal(t, w.Text, g.Text)
			require.Equal(t, w.Media, g.Media)
			if w.Status == engine.StatusSending {
				require.Equal(t, engine.StatusSent, g.Status, "the outbox entry of message %d was sent", w.Seq)
				require.NotEmpty(t, g.ChannelMessageID)
				continue
			}
			require.Equal(t, w.Status, g.Status)
			require.Equal(t, w.ChannelMessageID, g.ChannelMessageID)
		}
		if pending > 0 {
			sent := 0
			for _, r := range e.graph.requests("/messages") {
				if strings.Contains(string(r.Body), man.FailingUser) {
					sent++
				}
			}
			require.Equal(t, pending, sent, "each outbox entry sent once")
		}
	}

	// Every contact, with its profile, fields, notes and conversations.
	var was struct {
		Contacts []engine.Contact `json:"contacts"`
	}
	require.NoError(t, json.Unmarshal(man.Contacts, &was))
	require.Len(t, was.Contacts, 5)
	type detail struct {
		engine.Contact
		Conversations []engine.Conversation `json:"conversations"`
		Notes         []engine.Note         `json:"notes"`
	}
	for _, w := range was.Contacts {
		var before, now detail
		require.NoError(t, json.Unmarshal(man.ContactDetails[w.ID.String()], &before))
		getJSON("/api/v1/contacts/"+w.ID.String(), &now)
		require.Equal(t, before.Profile, now.Profile)
		require.Equal(t, before.CustomFields, now.CustomFields)
		require.Equal(t, before.Identities, now.Identities)
		require.Equal(t, len(before.Conversations), len(now.Conversations))
		for i := range before.Conversations {
			require.Equal(t, before.Conversations[i].ID, now.Conversations[i].ID)
		}
		require.Equal(t, len(before.Notes), len(now.Notes))
		for i := range before.Notes {
			require.Equal(t, before.Notes[i].Text, now.Notes[i].Text)
		}
	}
	var found struct {
		Contacts []engine.Contact `json:"contacts"`
	}
	getJSON("/api/v1/contacts?q=carla", &found)
	require.Len(t, found.Contacts, 1)
	require.Equal(t, map[string]string{"plan": "gold", "region": "south"}, found.Contacts[0].CustomFields)

	// Search finds an old message (accents aside), media files download.
	hits := e.search(ownerToken, "zephyrine").Hits
	require.Len(t, hits, 1)
	require.Equal(t, engine.ChannelMessenger, hits[0].Conversation.Channel)
	files := 0
	for _, raw := range man.Messages {
		var page struct {
			Messages []engine.Message `json:"messages"`
		}
		require.NoError(t, json.Unmarshal(raw, &page))
		for _, m := range page.Messages {
			d := persistence.MediaDigest(m.Media)
			if d == "" {
				continue
			}
			code, body := e.api("GET", "/api/v1/media/"+url.PathEscape(d), ownerToken, nil)
			require.Equal(t, http.StatusOK, code)
			sum := sha256.Sum256(body)
			require.Equal(t, d, hex.EncodeToString(sum[:]))
			files++
		}
	}
	require.Equal(t, 2, files)

	// The resume timer: manual until 15 minutes after the person's reply.
	require.Equal(t, engine.ModeManual, e.conv(manual.ID).Mode)
	clock.Advance(manual.AIResumesAt.Sub(clock.Now()) - time.Second)
	_, err := e.rt.Execute(t.Context(), e.ws, manual.ID, engine.MarkRead{}) // a barrier
	require.NoError(t, err)
	require.Equal(t, engine.ModeManual, e.conv(manual.ID).Mode, "not yet due")
	eventually(t, 10*time.Second, func() error {
		var c engine.Conversation
		getJSON("/api/v1/conversations/"+manual.ID.String(), &c)
		if c.Mode != engine.ModeAI {
			clock.Advance(time.Second)
			return fmt.Errorf("mode %s", c.Mode)
		}
		return nil
	})

	// A second start finds the store current: no migration runs.
	e.stop()
	e.start()
	require.Zero(t, e.store.MigrationSteps())
	require.Equal(t, persistence.FormatVersion, e.store.FormatVersion())
}
