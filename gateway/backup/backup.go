// Package backup makes and restores consistent online backups of a data
// directory: a Pebble checkpoint of the store (db/), the media files
// (media/) and a manifest (manifest.json) listing every file with its size
// and SHA-256. How a backup stays consistent while the server writes is in
// docs/ARCHITECTURE.md, "Backups".
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
)

// FormatVersion is the backup layout this Parley writes and the newest it
// restores.
const FormatVersion = 1

// ManifestName is the manifest's file name in a backup directory. A
// backup directory is complete when it has one: it is written last.
const ManifestName = "manifest.json"

// maxManifestBytes bounds the manifest read from a backup or a stream.
const maxManifestBytes = 64 << 20

// Manifest describes a backup.
type Manifest struct {
	// Format is the backup layout (FormatVersion).
	Format int `json:"format"`
	// CreatedAt is when the backup began: every message acknowledged
	// before it is in the backup.
	CreatedAt time.Time `json:"created_at"`
	// Parley is the build of the Parley that made it.
	Parley string `json:"parley_version"`
	// StoreFormat is the store's data directory format
	// (persistence.FormatVersion of the Parley that made it).
	StoreFormat int `json:"store_format"`
	// Files are every file of the backup but the manifest, by path
	// relative to the backup directory (forward slashes).
	Files []File `json:"files"`
}

// File is one file of a backup.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Bytes returns the total size of the files.
func (m Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// FormatTooNewError is the error for a backup written by a newer Parley.
type FormatTooNewError struct {
	// What is "backup" or "data directory"; Found the backup's format and
	// Known the newest this Parley reads.
	What         string
	Found, Known int
	Parley       string
}

func (e *FormatTooNewError) Error() string {
	return fmt.Sprintf("the backup's %s format is %d (made by Parley %s); this Parley understands up to %d: restore it with a newer Parley",
		e.What, e.Found, e.Parley, e.Known)
}

// Create makes a backup of store and files into dir, which must not
// exist or be empty, and returns its manifest. now is when the backup
// begins; version names this Parley. It runs beside the server's writes:
// the media store is held (no file removed) from before the checkpoint
// until every file is linked, so each file a message of the checkpoint
// references is in the backup; files stored after the checkpoint may be
// too.
func Create(store *persistence.Store, files *media.Store, dir string, now time.Time, version string) (Manifest, error) {
	m := Manifest{Format: FormatVersion, CreatedAt: now.UTC(), Parley: version, StoreFormat: store.FormatVersion()}
	if err := emptyDir(dir); err != nil {
		return m, err
	}
	release := files.Hold()
	err := store.Checkpoint(filepath.Join(dir, "db"))
	if err == nil {
		_, err = files.LinkTo(filepath.Join(dir, "media"))
	}
	release()
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if m.Files, err = hashTree(dir); err != nil {
		return m, err
	}
	return m, writeManifest(dir, m)
}

// emptyDir creates dir, or checks that it is an empty directory.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("backup: creating %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("backup: reading %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("backup: %s is not empty", dir)
	}
	return nil
}

// hashTree lists every file under dir with its size and SHA-256, sorted
// by path.
func hashTree(dir string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ManifestName {
			return nil
		}
		size, sum, err := hashFile(p)
		if err != nil {
			return err
		}
		out = append(out, File{Path: rel, Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: hashing %s: %w", dir, err)
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func hashFile(p string) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeManifest writes m as dir's manifest, synced: the last file of a
// backup.
func writeManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ManifestName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("backup: writing the manifest: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: writing the manifest: %w", err)
	}
	return nil
}

// ParseManifest reads a manifest and checks it: a known format, a store
// format this Parley can open (an older one is migrated when the server
// starts), and file entries whose paths are relative, clean, under db/ or
// media/ and unique, with sizes and SHA-256 digests well formed.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup: reading the manifest: %w", err)
	}
	switch {
	case m.Format < 1:
		return m, fmt.Errorf("backup: the manifest has no valid format (%d)", m.Format)
	case m.Format > FormatVersion:
		return m, &FormatTooNewError{What: "backup", Found: m.Format, Known: FormatVersion, Parley: m.Parley}
	case m.StoreFormat < 1:
		return m, fmt.Errorf("backup: the manifest has no valid store format (%d)", m.StoreFormat)
	case m.StoreFormat > persistence.FormatVersion:
		return m, &FormatTooNewError{What: "data directory", Found: m.StoreFormat, Known: persistence.FormatVersion, Parley: m.Parley}
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return m, err
		}
		if seen[f.Path] {
			return m, fmt.Errorf("backup: the manifest lists %q twice", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 {
			return m, fmt.Errorf("backup: the manifest gives %q a negative size", f.Path)
		}
		if d, err := hex.DecodeString(f.SHA256); err != nil || len(d) != sha256.Size || strings.ToLower(f.SHA256) != f.SHA256 {
			return m, fmt.Errorf("backup: the manifest gives %q a malformed sha256 %q", f.Path, f.SHA256)
		}
	}
	return m, nil
}

// checkPath accepts a clean relative path with forward slashes under db/
// or media/.
func checkPath(p string) error {
	if p == "" || !fs.ValidPath(p) || path.Clean(p) != p || strings.Contains(p, "\\") ||
		!(strings.HasPrefix(p, "db/") || strings.HasPrefix(p, "media/")) {
		return fmt.Errorf("backup: the manifest lists a bad path %q", p)
	}
	return nil
}

// Verify reads the manifest of the backup in dir and checks that every
// file it lists is there with its size and SHA-256, and that no other
// file is.
func Verify(dir string) (Manifest, error) {
	b, err := readLimited(filepath.Join(dir, ManifestName))
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %s has no readable manifest (an incomplete backup?): %w", dir, err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return m, err
	}
	have, err := hashTree(dir)
	if err != nil {
		return m, err
	}
	want := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for _, f := range have {
		w, ok := want[f.Path]
		switch {
		case !ok:
			return m, fmt.Errorf("backup: %s is not in the manifest", f.Path)
		case w.Size != f.Size:
			return m, fmt.Errorf("backup: %s is %d bytes, the manifest says %d", f.Path, f.Size, w.Size)
		case w.SHA256 != f.SHA256:
			return m, fmt.Errorf("backup: %s has sha256 %s, the manifest says %s", f.Path, f.SHA256, w.SHA256)
		}
		delete(want, f.Path)
	}
	for p := range want {
		return m, fmt.Errorf("backup: %s is missing", p)
	}
	return m, nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err == nil && len(b) > maxManifestBytes {
		err = errors.New("manifest too large")
	}
	return b, err
}

// Restore checks the backup in backupDir (Verify) and copies it into
// dataDir, which must not exist or be empty: db/ and media/ as `parley
// serve -data-dir` expects them. On an error, what it wrote is removed.
func Restore(backupDir, dataDir string) (m Manifest, err error) {
	if m, err = Verify(backupDir); err != nil {
		return m, err
	}
	if err := emptyDir(dataDir); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil {
			for _, sub := range []string{"db", "media"} {
				_ = os.RemoveAll(filepath.Join(dataDir, sub))
			}
		}
	}()
	for _, f := range m.Files {
		dst := filepath.Join(dataDir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		if err := copyFile(filepath.Join(backupDir, filepath.FromSlash(f.Path)), dst, f); err != nil {
			return m, fmt.Errorf("restore: %s: %w", f.Path, err)
		}
	}
	for _, sub := range []string{"db", "media"} {
		if err := os.MkdirAll(filepath.Join(dataDir, sub), 0o750); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	return m, nil
}

// copyFile copies src to a new file dst, synced, checking its size and
// SHA-256 against f once more (the backup may change after Verify).
func copyFile(src, dst string, f File) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeChecked(in, dst, f)
}

// writeChecked writes exactly f.Size bytes of r to a new file dst, synced,
// and fails unless they have f's SHA-256.
func writeChecked(r io.Reader, dst string, f File) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, f.Size+1))
	if err == nil && n != f.Size {
		err = fmt.Errorf("%d bytes, the manifest says %d", n, f.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); err == nil && sum != f.SHA256 {
		err = fmt.Errorf("sha256 %s, the manifest says %s", sum, f.SHA256)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
