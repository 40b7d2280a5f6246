package persistence

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Ratings are paged newest first per rating with a cursor; a user's new
// rating moves its index entry; Corrections keeps the down ratings with a
// correction, at most n; another workspace sees none; deleting the
// conversation removes the ratings and their index entries.
func TestFeedbackIndex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf(1, 1), idOf(1, 2)
	c := newConv(ws, 1, at(0))
	putConvs(t, s, []engine.Conversation{c})
	user := idOf(3, 1)
	var all []engine.Feedback
	commit(t, s, func(b *Batch) {
		for i := range 5 {
			f := engine.Feedback{WorkspaceID: ws, ConversationID: c.ID, Seq: uint64(i + 1), UserID: user, Rating: engine.RatingDown,
				Answer: fmt.Sprint("a", i), At: at(time.Duration(i) * time.Second).UTC()}
			if i%2 == 0 {
				f.Correction = fmt.Sprint("c", i)
			}
			all = append(all, f)
			b.PutFeedback(nil, &f)
		}
	})
	p1, err := s.RatedReplies(ws, engine.RatingDown, "", 3)
	require.NoError(t, err)
	require.Equal(t, []engine.Feedback{all[4], all[3], all[2]}, p1.Feedback)
	require.NotEmpty(t, p1.NextCursor)
	p2, err := s.RatedReplies(ws, engine.RatingDown, p1.NextCursor, 3)
	require.NoError(t, err)
	require.Equal(t, []engine.Feedback{all[1], all[0]}, p2.Feedback)
	require.Empty(t, p2.NextCursor)
	_, err = s.RatedReplies(ws, engine.RatingDown, "abc", 3)
	require.ErrorIs(t, err, ErrBadCursor)
	cs, err := s.Corrections(ws, 2)
	require.NoError(t, err)
	require.Equal(t, []engine.Feedback{all[4], all[2]}, cs)
	none, err := s.RatedReplies(other, engine.RatingDown, "", 10)
	require.NoError(t, err)
	require.Empty(t, none.Feedback)

	// The same user rates message 5 up: it leaves the down index.
	old, err := s.OptionalFeedback(ws, c.ID, 5, user)
	require.NoError(t, err)
	require.Equal(t, all[4], *old)
	up := all[4]
	up.Rating, up.Correction, up.At = engine.RatingUp, "", at(time.Minute).UTC()
	commit(t, s, func(b *Batch) { b.PutFeedback(old, &up) })
	down, err := s.RatedReplies(ws, engine.RatingDown, "", 10)
	require.NoError(t, err)
	require.Len(t, down.Feedback, 4)
	ups, err := s.RatedReplies(ws, engine.RatingUp, "", 10)
	require.NoError(t, err)
	require.Equal(t, []engine.Feedback{up}, ups.Feedback)

	commit(t, s, func(b *Batch) { b.DeleteConversation(&c, nil) })
	require.Empty(t, rawKeys(t, s, wsPrefix(ws, tFeedback)))
	require.Empty(t, rawKeys(t, s, wsPrefix(ws, tFeedbackIndex)))
}
