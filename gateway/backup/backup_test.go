package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/backup"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

type fixture struct {
	dataDir string
	store   *persistence.Store
	files   *media.Store
	ws      engine.ID
	digest  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dataDir: t.TempDir()}
	var err error
	f.store, err = persistence.Open(persistence.Options{Dir: filepath.Join(f.dataDir, "db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.store.Close() })
	f.files, err = media.NewStore(filepath.Join(f.dataDir, "media"), 1<<20)
	require.NoError(t, err)
	f.ws = engine.NewID(time.Now())
	_, f.digest, _, err = f.files.Put(f.ws, "image/png", strings.NewReader("a picture"))
	require.NoError(t, err)
	f.files.Unpin(f.ws, f.digest)
	return f
}

// putWorkspace commits one record, synced, as every acknowledged write is.
func (f *fixture) putWorkspace(name string) error {
	b := f.store.NewBatch()
	b.PutWorkspace(&engine.Workspace{ID: engine.NewID(time.Now()), Name: name})
	return f.store.Commit(b)
}

// A backup made while writers commit holds every record committed before
// it began, and restores into a store that opens and reads them.
func TestCreateUnderWritesAndRestore(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				name := fmt.Sprintf("w%d-%d", g, n)
				if err := f.putWorkspace(name); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		})
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	dir := filepath.Join(t.TempDir(), "backup")
	m, err := backup.Create(f.store, f.files, dir, time.Now(), "test")
	require.NoError(t, err)
	cancel()
	wg.Wait()
	require.Equal(t, backup.FormatVersion, m.Format)
	require.Equal(t, persistence.FormatVersion, m.StoreFormat)
	_, err = backup.Verify(dir)
	require.NoError(t, err)

	data := filepath.Join(t.TempDir(), "restored")
	_, err = backup.Restore(dir, data)
	require.NoError(t, err)
	st, err := persistence.Open(persistence.Options{Dir: filepath.Join(data, "db")})
	require.NoError(t, err)
	defer st.Close()
	wss, err := st.Workspaces()
	require.NoError(t, err)
	have := map[string]bool{}
	for _, w := range wss {
		have[w.Name] = true
	}
	for _, name := range before {
		require.True(t, have[name], "workspace %s committed before the backup is missing", name)
	}
	t.Logf("%d records committed before the backup, %d in it, %d committed in all", len(before), len(wss), len(acked))
	restored, err := media.NewStore(filepath.Join(data, "media"), 1<<20)
	require.NoError(t, err)
	file, typ, err := restored.Open(f.ws, f.digest)
	require.NoError(t, err)
	defer file.Close()
	require.Equal(t, "image/png", typ)
}

// A removal asked while the media store is held waits for the release,
// and checks the references again then.
func TestHoldDefersRemoval(t *testing.T) {
	f := newFixture(t)
	p := filepath.Join(f.dataDir, "media", f.ws.String(), f.digest)
	release := f.files.Hold()
	size, err := f.files.RemoveUnreferenced(f.ws, f.digest, func() (bool, error) { return false, nil })
	require.NoError(t, err)
	require.Equal(t, int64(-1), size)
	require.FileExists(t, p)
	release()
	require.NoFileExists(t, p)

	// Referenced again by the release: kept.
	_, digest, _, err := f.files.Put(f.ws, "text/plain", strings.NewReader("kept"))
	require.NoError(t, err)
	f.files.Unpin(f.ws, digest)
	release = f.files.Hold()
	referenced := false
	_, err = f.files.RemoveUnreferenced(f.ws, digest, func() (bool, error) { return referenced, nil })
	require.NoError(t, err)
	referenced = true
	release()
	require.FileExists(t, filepath.Join(f.dataDir, "media", f.ws.String(), digest))
}

func makeBackup(t *testing.T) (string, backup.Manifest) {
	t.Helper()
	f := newFixture(t)
	require.NoError(t, f.putWorkspace("one"))
	dir := filepath.Join(t.TempDir(), "backup")
	m, err := backup.Create(f.store, f.files, dir, time.Now(), "test")
	require.NoError(t, err)
	return dir, m
}

// Restore refuses a data directory in use and a backup that does not
// match its manifest or is newer than this Parley, and writes nothing.
func TestRestoreRefuses(t *testing.T) {
	dir, m := makeBackup(t)
	var mediaFile string
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "media/") && !strings.Contains(f.Path, ".") {
			mediaFile = f.Path
		}
	}
	require.NotEmpty(t, mediaFile)

	used := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(used, "x"), []byte("x"), 0o600))
	_, err := backup.Restore(dir, used)
	require.ErrorContains(t, err, "not empty")

	cases := map[string]func(t *testing.T, dir string){
		"a changed byte": func(t *testing.T, dir string) {
			p := filepath.Join(dir, filepath.FromSlash(mediaFile))
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[0] ^= 1
			require.NoError(t, os.Remove(p)) // a hard link: do not change the source
			require.NoError(t, os.WriteFile(p, b, 0o600))
		},
		"a missing file": func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, filepath.FromSlash(mediaFile))))
		},
		"a file not listed": func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "db", "extra"), []byte("x"), 0o600))
		},
		"no manifest": func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, backup.ManifestName)))
		},
		"a newer backup format": func(t *testing.T, dir string) { rewriteManifest(t, dir, func(m *backup.Manifest) { m.Format++ }) },
		"a newer store format": func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *backup.Manifest) { m.StoreFormat = persistence.FormatVersion + 1 })
		},
		"a path out of the backup": func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *backup.Manifest) { m.Files[0].Path = "db/../../etc/passwd" })
		},
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "b")
			require.NoError(t, os.CopyFS(copyDir, os.DirFS(dir)))
			spoil(t, copyDir)
			data := filepath.Join(t.TempDir(), "data")
			_, err := backup.Restore(copyDir, data)
			require.Error(t, err)
			t.Log(err)
			_, statErr := os.Stat(data)
			require.True(t, os.IsNotExist(statErr), "restore wrote %s", data)
		})
	}
}

func rewriteManifest(t *testing.T, dir string, change func(*backup.Manifest)) {
	t.Helper()
	p := filepath.Join(dir, backup.ManifestName)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var m backup.Manifest
	require.NoError(t, json.Unmarshal(b, &m))
	change(&m)
	b, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b, 0o600))
}

// The tar stream carries a backup whole; one cut short or changed in
// transit leaves no manifest, so no backup that looks complete.
func TestTarStream(t *testing.T) {
	dir, m := makeBackup(t)
	var buf bytes.Buffer
	require.NoError(t, backup.WriteTar(&buf, dir, m))

	out := filepath.Join(t.TempDir(), "out")
	got, err := backup.ReadTar(bytes.NewReader(buf.Bytes()), out)
	require.NoError(t, err)
	require.Equal(t, m.Files, got.Files)
	_, err = backup.Verify(out)
	require.NoError(t, err)
	data := filepath.Join(t.TempDir(), "data")
	_, err = backup.Restore(out, data)
	require.NoError(t, err)

	cut := filepath.Join(t.TempDir(), "cut")
	_, err = backup.ReadTar(bytes.NewReader(buf.Bytes()[:buf.Len()/2]), cut)
	require.Error(t, err)
	require.NoFileExists(t, filepath.Join(cut, backup.ManifestName))

	changed := bytes.Clone(buf.Bytes())
	i := bytes.Index(changed, []byte("a picture"))
	require.Positive(t, i)
	changed[i] = 'A'
	bad := filepath.Join(t.TempDir(), "bad")
	_, err = backup.ReadTar(bytes.NewReader(changed), bad)
	require.ErrorContains(t, err, "sha256")
	require.NoFileExists(t, filepath.Join(bad, backup.ManifestName))
}
