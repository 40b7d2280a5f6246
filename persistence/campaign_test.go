package persistence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// The list filters by campaign key through its own index dimension, and
// Campaigns counts the conversations per key in every folder; a
// conversation whose newest campaign changes moves from one key to the
// other.
func TestCampaignListAndCounts(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf('w', 1), idOf('w', 2)
	convs := make([]engine.Conversation, 4)
	for i := range convs {
		convs[i] = newConv(ws, i, at(time.Duration(i)*time.Second))
	}
	convs[0].Campaign = &engine.Campaign{Source: "ad", AdID: "ad-1"}
	convs[1].Campaign = &engine.Campaign{Source: "ad", AdID: "ad-1"}
	convs[1].Folder = engine.FolderPending
	convs[2].Campaign = &engine.Campaign{Source: "shortlink", Ref: "spring"}
	convs[3].Campaign = &engine.Campaign{URL: "https://example.com"} // no key: not indexed
	elsewhere := newConv(other, 9, at(0))
	elsewhere.Campaign = &engine.Campaign{AdID: "secret"}
	putConvs(t, s, append(convs, elsewhere))

	got, err := s.Campaigns(ws)
	require.NoError(t, err)
	require.Equal(t, []CampaignCount{{"ad-1", 2}, {"spring", 1}}, got)

	page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen, Campaign: "ad-1"})
	require.NoError(t, err)
	require.Equal(t, []engine.ID{convs[0].ID}, ids(page.Conversations))
	page, err = s.List(ws, ListQuery{Folder: engine.FolderPending, Campaign: "ad-1"})
	require.NoError(t, err)
	require.Equal(t, []engine.ID{convs[1].ID}, ids(page.Conversations))
	page, err = s.List(ws, ListQuery{Folder: engine.FolderOpen, Campaign: "secret"})
	require.NoError(t, err)
	require.Empty(t, page.Conversations, "another workspace's campaign")

	old := convs[0]
	c := old.Clone()
	c.Campaign = &engine.Campaign{Ref: "spring"}
	commit(t, s, func(b *Batch) { b.PutConversation(&old, &c) })
	got, err = s.Campaigns(ws)
	require.NoError(t, err)
	require.Equal(t, []CampaignCount{{"ad-1", 1}, {"spring", 2}}, got)
	page, err = s.List(ws, ListQuery{Folder: engine.FolderOpen, Campaign: "spring"})
	require.NoError(t, err)
	require.ElementsMatch(t, []engine.ID{convs[0].ID, convs[2].ID}, ids(page.Conversations))
}
