package actors_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// TestIndexerFindsAnEntryCommittedBehindItsCursor: a batch that took its
// search-queue number before the indexer read past it, and committed
// within a second of the indexer's last look behind its cursor, is
// indexed without any later commit to wake the indexer (it once waited
// for the next commit, and a search showed 60 of 61 hits for as long).
func TestIndexerFindsAnEntryCommittedBehindItsCursor(t *testing.T) {
	h := newHarness(t, nil)
	conv := func(name string) engine.Conversation {
		c := engine.NewConversation(engine.NewID(t0), h.ws, engine.ChannelWhatsApp, "acct-1", engine.NewID(t0), name, t0)
		c.ContactName = name
		c.LastActivityAt = t0
		return c
	}
	found := func(name string) func() error {
		return func() error {
			page, err := h.store.Search(h.ws, persistence.SearchQuery{Text: name})
			if err != nil {
				return err
			}
			if len(page.Hits) != 1 {
				return fmt.Errorf("%d hits for %s", len(page.Hits), name)
			}
			return nil
		}
	}
	late := conv("Rezagada")
	b := h.store.NewBatch() // takes its queue number now
	b.PutConversation(nil, &late)
	for _, name := range []string{"Primera", "Segunda"} {
		c := conv(name)
		nb := h.store.NewBatch()
		nb.PutConversation(nil, &c)
		require.NoError(t, h.store.Commit(nb))
		eventually(t, 10*time.Second, found(name)) // the second also looks behind the cursor
	}
	require.NoError(t, h.store.Commit(b))
	eventually(t, 10*time.Second, found("Rezagada"))
}
