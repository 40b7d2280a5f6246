package persistence

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// TestListCombinedFiltersRandom compares combined filters with a brute
// force filter over random data whose dimensions range from rare to
// nearly everything, correlated and not, on the first page and paged
// with small limits.
func TestListCombinedFiltersRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	s := openStore(t)
	ws := idOf('w', 1)
	// tag → how often it is set; "pair" follows "rare".
	tags := []struct {
		name  string
		every int
	}{{"dense", 1}, {"half", 2}, {"vip", 20}, {"rare", 150}}
	const n = 3000
	convs := make([]engine.Conversation, 0, n)
	for i := range n {
		c := newConv(ws, i, at(time.Duration(rng.IntN(n/2))*time.Second)) // ties on activity
		c.Channel = engine.Channels[rng.IntN(len(engine.Channels))]
		c.Folder = engine.Folders[rng.IntN(2)]
		if rng.IntN(5) == 0 {
			c.Mode = engine.ModeManual
		}
		if rng.IntN(4) == 0 {
			c.UnreadCount = 1
		}
		if k := rng.IntN(8); k < 3 {
			c.AssigneeID = fmt.Sprintf("u%d", k)
		}
		for _, tg := range tags {
			if rng.IntN(tg.every) == 0 {
				c.Tags = append(c.Tags, tg.name)
			}
		}
		if c.HasTag("rare") {
			c.Tags = append(c.Tags, "pair")
		}
		// Anti-correlated: "odd" and unread never meet.
		if i%2 == 1 && c.UnreadCount == 0 {
			c.Tags = append(c.Tags, "odd")
		}
		convs = append(convs, c)
	}
	putConvs(t, s, convs)
	f := &listFixture{s: s, ws: ws, convs: convs}

	randomQuery := func() ListQuery {
		q := ListQuery{Folder: engine.Folders[rng.IntN(2)]}
		for range 1 + rng.IntN(4) {
			switch rng.IntN(7) {
			case 0:
				q.Tag = []string{"dense", "half", "vip", "rare", "pair", "odd", "none"}[rng.IntN(7)]
			case 1:
				q.Unread = true
			case 2:
				q.Channel = engine.Channels[rng.IntN(len(engine.Channels))]
			case 3:
				q.Mode = []engine.Mode{engine.ModeAI, engine.ModeManual}[rng.IntN(2)]
			case 4:
				q.Assignee = fmt.Sprintf("u%d", rng.IntN(4))
			case 5:
				q.Unassigned = true
			case 6:
				q.Since = at(time.Duration(rng.IntN(n/2)) * time.Second)
			}
		}
		return q
	}
	fixed := []ListQuery{
		{Tag: "vip", Unread: true},
		{Tag: "rare", Unread: true},
		{Tag: "dense", Unread: true},
		{Tag: "odd", Unread: true}, // empty, both sides large
		{Tag: "rare", Channel: engine.ChannelWhatsApp, Mode: engine.ModeAI},
		{Tag: "dense", Unassigned: true, Mode: engine.ModeAI},
		{Assignee: "u1", Unassigned: true},
	}
	for i := range 150 {
		var q ListQuery
		if i < len(fixed) {
			q = fixed[i]
			q.Folder = engine.FolderOpen
		} else {
			q = randomQuery()
		}
		want := f.want(q)
		page, err := s.List(ws, q)
		require.NoError(t, err)
		require.Equal(t, want[:min(len(want), 50)], nilIfEmpty(ids(page.Conversations)), "%+v", q)
		require.Equal(t, len(want) > 50, page.NextCursor != "", "%+v", q)
		q.Limit = 1 + rng.IntN(40)
		got, _ := listAll(t, s, ws, q)
		require.Equal(t, want, got, "%+v", q)
	}
}
