package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/gateway/backup"
	"github.com/parleyhq/parley/persistence"
)

// A manifest that parses has only clean paths under db/ or media/, each
// once, a known format and well-formed digests.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"created_at":"2026-01-02T03:04:05Z","parley_version":"x","store_format":7,"files":[{"path":"db/000001.sst","size":3,"sha256":"` +
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" + `"}]}`))
	f.Add([]byte(`{"format":1,"store_format":7,"files":[{"path":"../x","size":0,"sha256":""}]}`))
	f.Add([]byte(`{"format":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := backup.ParseManifest(b)
		if err != nil {
			return
		}
		if m.Format != backup.FormatVersion || m.StoreFormat < 1 || m.StoreFormat > persistence.FormatVersion {
			t.Fatalf("accepted formats %d/%d", m.Format, m.StoreFormat)
		}
		seen := map[string]bool{}
		for _, fl := range m.Files {
			if !filepath.IsLocal(fl.Path) || seen[fl.Path] || fl.Size < 0 || len(fl.SHA256) != 64 {
				t.Fatalf("accepted %+v", fl)
			}
			seen[fl.Path] = true
		}
	})
}

// A stream ReadTar accepts leaves a backup that Verify accepts; one it
// refuses leaves no manifest.
func FuzzReadTar(f *testing.F) {
	src := f.TempDir()
	for _, p := range []string{"db/a", "media/w/b"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o750); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte("content of "+p), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	m := backup.Manifest{Format: backup.FormatVersion, CreatedAt: time.Unix(0, 0).UTC(), StoreFormat: persistence.FormatVersion}
	for _, p := range []string{"db/a", "media/w/b"} {
		sum := sha256.Sum256([]byte("content of " + p))
		m.Files = append(m.Files, backup.File{Path: p, Size: int64(len("content of " + p)), SHA256: hex.EncodeToString(sum[:])})
	}
	var buf bytes.Buffer
	if err := backup.WriteTar(&buf, src, m); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	m.Files[0].SHA256 = m.Files[1].SHA256
	buf.Reset()
	_ = backup.WriteTar(&buf, src, m) // a digest that does not match
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := filepath.Join(t.TempDir(), "out")
		if _, err := backup.ReadTar(bytes.NewReader(b), dir); err != nil {
			if _, serr := os.Stat(filepath.Join(dir, backup.ManifestName)); serr == nil {
				t.Fatalf("refused (%v) but left a manifest", err)
			}
			return
		}
		if _, err := backup.Verify(dir); err != nil {
			t.Fatalf("accepted a stream that does not verify: %v", err)
		}
	})
}
