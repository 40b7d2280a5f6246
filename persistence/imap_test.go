package persistence

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A cursor is read back as written, per account and folder, and goes with
// its account's other cursors.
func TestIMAPCursor(t *testing.T) {
	s := openStore(t)
	_, ok, err := s.IMAPCursor("support@shop.test", "INBOX")
	require.NoError(t, err)
	require.False(t, ok)
	b := s.NewBatch()
	b.PutIMAPCursor(&IMAPCursor{AccountID: "support@shop.test", Folder: "INBOX", UIDValidity: 7, LastUID: 42})
	b.PutIMAPCursor(&IMAPCursor{AccountID: "support@shop.test", Folder: "Sales", UIDValidity: 1, LastUID: 3})
	b.PutIMAPCursor(&IMAPCursor{AccountID: "support@shop.testx", Folder: "INBOX", UIDValidity: 9, LastUID: 9})
	require.NoError(t, s.Commit(b))
	c, ok, err := s.IMAPCursor("support@shop.test", "INBOX")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, IMAPCursor{AccountID: "support@shop.test", Folder: "INBOX", UIDValidity: 7, LastUID: 42}, c)

	b = s.NewBatch()
	b.DeleteIMAPCursors("support@shop.test")
	require.NoError(t, s.Commit(b))
	for _, f := range []string{"INBOX", "Sales"} {
		_, ok, err = s.IMAPCursor("support@shop.test", f)
		require.NoError(t, err)
		require.False(t, ok, f)
	}
	_, ok, err = s.IMAPCursor("support@shop.testx", "INBOX")
	require.NoError(t, err)
	require.True(t, ok, "an account whose id starts like another's keeps its cursor")
}
