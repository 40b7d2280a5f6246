package persistence

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestSearchFeed(t *testing.T) {
	t.Parallel()
	ws, conv := idOf('w', 1), idOf('c', 1)
	r := convRef{ws, conv}
	msg := func(seq uint64) engine.Message {
		return engine.Message{WorkspaceID: ws, ConversationID: conv, Seq: seq}
	}
	msgs := func(seqs ...uint64) []engine.Message {
		out := make([]engine.Message, len(seqs))
		for i, s := range seqs {
			out[i] = msg(s)
		}
		return out
	}
	seqs := func(ms []engine.Message) []uint64 {
		var out []uint64
		for _, m := range ms {
			out = append(out, m.Seq)
		}
		return out
	}
	cases := []struct {
		name        string
		fed         [][]uint64
		after, last uint64
		want        []uint64 // nil: the store must be read
		held        int      // messages left after the take
	}{
		{name: "new conversation", fed: [][]uint64{{1, 2}, {3}}, after: 0, last: 3, want: []uint64{1, 2, 3}},
		{name: "from the middle", fed: [][]uint64{{4, 5, 6}}, after: 4, last: 6, want: []uint64{5, 6}},
		{name: "newer kept for later", fed: [][]uint64{{1, 2, 3}}, after: 0, last: 2, want: []uint64{1, 2}, held: 1},
		{name: "rewrite ignored", fed: [][]uint64{{1, 2}, {1}, {3}}, after: 0, last: 3, want: []uint64{1, 2, 3}},
		{name: "gap restarts the run", fed: [][]uint64{{1, 2}, {5}}, after: 0, last: 5},
		{name: "gap after the projected part", fed: [][]uint64{{1, 2}, {5, 6}}, after: 4, last: 6, want: []uint64{5, 6}},
		{name: "missing the first", fed: [][]uint64{{3, 4}}, after: 1, last: 4},
		{name: "missing the last", fed: [][]uint64{{1, 2}}, after: 0, last: 3},
		{name: "nothing fed", after: 0, last: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f searchFeed
			for _, b := range tc.fed {
				f.add(msgs(b...))
			}
			got, ok := f.take(r, tc.after, tc.last)
			require.Equal(t, tc.want != nil, ok)
			require.Equal(t, tc.want, seqs(got))
			require.Equal(t, tc.held, f.held)
		})
	}

	t.Run("bounded", func(t *testing.T) {
		var f searchFeed
		conv := func(i int) convRef { return convRef{ws, idOf('c', i)} }
		for i := range feedCap + 10 {
			m := msg(1)
			m.ConversationID = conv(i).conv
			f.add([]engine.Message{m})
		}
		require.Equal(t, 10, f.held, "the full feed started again")
		_, ok := f.take(conv(0), 0, 1)
		require.False(t, ok, "a message fed before the feed was emptied")
		got, ok := f.take(conv(feedCap+5), 0, 1)
		require.True(t, ok, "a message fed after")
		require.Len(t, got, 1)
		f.drop(conv(feedCap + 6))
		require.Equal(t, 8, f.held)
	})
}

// TestSearchFeedReleasedWhenQueueEmpty: a run no projection takes (fed
// after its messages were read back) is dropped, with the feed's map,
// once a projection finds the queue empty.
func TestSearchFeedReleasedWhenQueueEmpty(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, conv := idOf('w', 1), idOf('c', 1)
	s.feed.add([]engine.Message{{WorkspaceID: ws, ConversationID: conv, Seq: 1}})
	require.Equal(t, 1, s.feed.held)
	n, err := s.ProjectSearch(16)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Zero(t, s.feed.held)
	require.Nil(t, s.feed.convs)
}
