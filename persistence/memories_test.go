package persistence

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Memories are kept under their contact, oldest first, per workspace, and
// go with the contact.
func TestMemories(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf(1, 1)
	c := newContact(ws, 1, engine.Profile{Name: "Ana"})
	other := newContact(ws, 2, engine.Profile{Name: "Bo"})
	var ms []engine.Memory
	commit(t, s, func(b *Batch) {
		b.PutContact(nil, &c)
		b.PutContact(nil, &other)
		for i := range 3 {
			m := engine.Memory{ID: engine.NewID(at(time.Duration(i) * time.Second)), WorkspaceID: ws, ContactID: c.ID,
				Text: fmt.Sprintf("fact %d", i), Source: engine.MemoryAI, CreatedAt: at(time.Duration(i) * time.Second)}
			ms = append(ms, m)
			b.PutMemory(&m)
		}
		b.PutMemory(&engine.Memory{ID: engine.NewID(at(0)), WorkspaceID: ws, ContactID: other.ID, Text: "other's",
			Source: engine.MemoryHuman})
	})
	got, err := s.Memories(ws, c.ID, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "fact 0", got[0].Text, "oldest first")
	commit(t, s, func(b *Batch) { b.DeleteMemory(&ms[0]) })
	_, err = s.Memory(ws, c.ID, ms[0].ID)
	require.ErrorIs(t, err, ErrNotFound)
	m, err := s.Memory(ws, c.ID, ms[1].ID)
	require.NoError(t, err)
	require.Equal(t, "fact 1", m.Text)
	got, err = s.Memories(idOf(1, 2), c.ID, 10)
	require.NoError(t, err)
	require.Empty(t, got, "another workspace")

	commit(t, s, func(b *Batch) { b.DeleteContact(&c) })
	got, err = s.Memories(ws, c.ID, 10)
	require.NoError(t, err)
	require.Empty(t, got, "deleted with the contact")
	got, err = s.Memories(ws, other.ID, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "another contact's stay")
}
