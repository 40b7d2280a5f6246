package media

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// TestMediaPinnedUntilReferenced: a file stored by Put is not removed,
// even with no reference, until every Put of it was unpinned (the message
// referencing it is committed by then); a referenced file is never
// removed.
func TestMediaPinnedUntilReferenced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, err := NewStore(dir, 1<<20)
	require.NoError(t, err)
	ws := engine.NewID(time.Now())
	unreferenced := func() (bool, error) { return false, nil }
	referenced := func() (bool, error) { return true, nil }
	_, d, size, err := m.Put(ws, "image/png", strings.NewReader("same bytes"))
	require.NoError(t, err)
	_, d2, _, err := m.Put(ws, "image/png", strings.NewReader("same bytes")) // a second upload, in flight
	require.NoError(t, err)
	require.Equal(t, d, d2)
	p := filepath.Join(dir, ws.String(), d)

	removed, err := m.RemoveUnreferenced(ws, d, unreferenced)
	require.NoError(t, err)
	require.Equal(t, int64(-1), removed)
	m.Unpin(ws, d)
	removed, err = m.RemoveUnreferenced(ws, d, unreferenced)
	require.NoError(t, err)
	require.Equal(t, int64(-1), removed, "still pinned by the second upload")
	require.FileExists(t, p)
	m.Unpin(ws, d)

	removed, err = m.RemoveUnreferenced(ws, d, referenced)
	require.NoError(t, err)
	require.Equal(t, int64(-1), removed)
	require.FileExists(t, p)

	removed, err = m.RemoveUnreferenced(ws, d, unreferenced)
	require.NoError(t, err)
	require.Equal(t, size, removed)
	_, err = os.Stat(p)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(p + ".type")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Empty(t, m.pins)

	removed, err = m.RemoveUnreferenced(ws, "../not-a-digest", unreferenced)
	require.NoError(t, err)
	require.Equal(t, int64(-1), removed)
}
