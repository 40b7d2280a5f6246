package persistence

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Field definitions are kept per workspace, oldest first, and deleted
// one by one; a contact's AI writes are read back oldest first and go
// with the contact when it is deleted.
func TestFieldDefsAndAIWrites(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf(1, 1), idOf(1, 2)
	var ds []engine.FieldDef
	commit(t, s, func(b *Batch) {
		for i, key := range []string{"plan", "budget"} {
			d := engine.FieldDef{ID: engine.NewID(at(time.Duration(i) * time.Second)), WorkspaceID: ws, Key: key, Label: key,
				Type: engine.FieldSingleSelect, Options: []string{"a", "b"}, AllowAI: i == 0, Order: i, CreatedAt: at(0).UTC(), UpdatedAt: at(0).UTC()}
			ds = append(ds, d)
			b.PutFieldDef(&d)
		}
		b.PutFieldDef(&engine.FieldDef{ID: engine.NewID(at(0)), WorkspaceID: other, Key: "plan", Type: engine.FieldText})
	})
	got, err := s.FieldDefs(ws)
	require.NoError(t, err)
	require.Equal(t, ds, got, "oldest first, every field")
	commit(t, s, func(b *Batch) { b.DeleteFieldDef(ws, ds[0].ID) })
	got, err = s.FieldDefs(ws)
	require.NoError(t, err)
	require.Equal(t, ds[1:], got)
	theirs, err := s.FieldDefs(other)
	require.NoError(t, err)
	require.Len(t, theirs, 1)

	c := engine.Contact{ID: idOf(3, 1), WorkspaceID: ws, Source: engine.SourceChat}
	w := engine.AIContactWrite{ID: engine.NewID(at(0)), WorkspaceID: ws, ContactID: c.ID, ConversationID: idOf(4, 1), Seq: 7,
		Fields: []string{"email", "plan"}, Refused: []engine.FieldError{{Field: "vip", Message: "no"}}, At: at(0).UTC()}
	commit(t, s, func(b *Batch) {
		b.PutContact(nil, &c)
		b.PutAIContactWrite(&w)
	})
	writes, err := s.AIContactWrites(ws, c.ID)
	require.NoError(t, err)
	require.Equal(t, []engine.AIContactWrite{w}, writes)
	commit(t, s, func(b *Batch) { b.DeleteContact(&c) })
	writes, err = s.AIContactWrites(ws, c.ID)
	require.NoError(t, err)
	require.Empty(t, writes)
}
