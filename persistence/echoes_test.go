package persistence

import (
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Held echoes are kept per conversation by message id, and go with
// their conversation; OutboxOf lists one conversation's sends in flight.
func TestHeldEchoesAndOutboxOf(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c1, c2 := newConv(ws, 1, t0), newConv(ws, 2, t0)
	e := func(id string) HeldEcho {
		return HeldEcho{ChannelMessageID: id, Content: engine.Content{Kind: engine.KindText, Text: "echo " + id}, SentAt: t0}
	}
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &c1)
		b.PutConversation(nil, &c2)
		for _, id := range []string{"b", "a"} {
			he := e(id)
			b.PutHeldEcho(ws, c1.ID, &he)
		}
		he := e("z")
		b.PutHeldEcho(ws, c2.ID, &he)
		b.PutOutbox(ws, c1.ID, 3)
		b.PutOutbox(ws, c1.ID, 5)
		b.PutOutbox(ws, c2.ID, 4)
	})
	held, err := s.HeldEchoes(ws, c1.ID)
	require.NoError(t, err)
	require.Equal(t, []HeldEcho{e("a"), e("b")}, held)
	seqs, err := s.OutboxOf(ws, c1.ID)
	require.NoError(t, err)
	require.Equal(t, []uint64{3, 5}, seqs)

	commit(t, s, func(b *Batch) { b.DeleteHeldEcho(ws, c1.ID, "a") })
	held, err = s.HeldEchoes(ws, c1.ID)
	require.NoError(t, err)
	require.Equal(t, []HeldEcho{e("b")}, held)

	commit(t, s, func(b *Batch) { b.DeleteConversation(&c1, nil) })
	held, err = s.HeldEchoes(ws, c1.ID)
	require.NoError(t, err)
	require.Empty(t, held)
	seqs, err = s.OutboxOf(ws, c1.ID)
	require.NoError(t, err)
	require.Empty(t, seqs)
	held, err = s.HeldEchoes(ws, c2.ID)
	require.NoError(t, err)
	require.Len(t, held, 1, "another conversation's echoes stay")
}
