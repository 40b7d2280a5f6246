package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/engine"
)

// Store keeps media files content-addressed under a directory, one
// subdirectory per workspace: <dir>/<workspace>/<sha256>, with the MIME
// type beside it in <sha256>.type. A file is written to a temporary name,
// synced and renamed, so a crash never leaves a half file under its hash.
//
// A file belongs to the messages that reference it (see
// persistence.MediaRefs): it is removed only when none is left, right
// after the batch that released the last one, or by the sweeper once it
// has stayed unreferenced for a grace period. A file stored and not yet
// referenced (an upload whose send is in flight) is pinned and left alone.
type Store struct {
	dir       string
	maxBytes  int64
	publicURL atomic.Pointer[string]

	// mu orders pinning a stored file against removing it: Put pins
	// under it before the rename, removal checks pins and references
	// under it, so a file is never removed between being stored and its
	// reference being committed.
	mu   sync.Mutex
	pins map[string]int // "<workspace>/<sha256>" → pins held
	// holds counts the backups in progress (Hold); while there is one,
	// removals wait in deferred and run when the last hold is released.
	holds    int
	deferred []deferredRemoval

	keyOnce sync.Once
	key     []byte
	keyErr  error
}

// ErrTooLarge is returned for a file over the store's size limit.
var ErrTooLarge = errors.New("media: file too large")

// NewStore returns a store in dir for files up to maxBytes. It creates
// dir and starts nothing.
func NewStore(dir string, maxBytes int64) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating media dir: %w", err)
	}
	return &Store{dir: dir, maxBytes: maxBytes, pins: map[string]int{}}, nil
}

var hashRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Put stores r's bytes for workspace ws and returns the storage key
// ("<workspace>/<sha256>"), the hex digest and the size. The file is
// pinned: nothing removes it until the caller, once the message that
// references it is committed (or refused), calls Unpin.
func (m *Store) Put(ws engine.ID, mimeType string, r io.Reader) (key, digest string, size int64, err error) {
	wsDir := filepath.Join(m.dir, ws.String())
	if err := os.MkdirAll(wsDir, 0o750); err != nil {
		return "", "", 0, fmt.Errorf("creating media dir: %w", err)
	}
	tmp, err := os.CreateTemp(wsDir, ".upload-*")
	if err != nil {
		return "", "", 0, fmt.Errorf("creating media file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename this is a no-op
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, m.maxBytes+1))
	if err == nil && n > m.maxBytes {
		err = ErrTooLarge
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", 0, fmt.Errorf("writing media file: %w", err)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	final := filepath.Join(wsDir, digest)
	key = ws.String() + "/" + digest
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.WriteFile(final+".type", []byte(SanitizeMime(mimeType)), 0o640); err != nil {
		return "", "", 0, fmt.Errorf("writing media type: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", "", 0, fmt.Errorf("storing media file: %w", err)
	}
	m.pins[key]++
	return key, digest, n, nil
}

// Unpin releases a pin Put took on the file with digest of workspace ws.
func (m *Store) Unpin(ws engine.ID, digest string) {
	key := ws.String() + "/" + digest
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pins[key]--; m.pins[key] <= 0 {
		delete(m.pins, key)
	}
}

// RemoveUnreferenced removes the file with digest of workspace ws unless
// it is pinned or referenced says a message still references it. It
// returns the size of the file removed (-1 when none was).
func (m *Store) RemoveUnreferenced(ws engine.ID, digest string, referenced func() (bool, error)) (int64, error) {
	if !hashRe.MatchString(digest) {
		return -1, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pins[ws.String()+"/"+digest] > 0 {
		return -1, nil
	}
	if m.holds > 0 {
		m.deferred = append(m.deferred, deferredRemoval{ws: ws, digest: digest, referenced: referenced})
		return -1, nil
	}
	if ref, err := referenced(); err != nil || ref {
		return -1, err
	}
	p := filepath.Join(m.dir, ws.String(), digest)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("deleting media: %w", err)
	}
	if err := m.Delete(ws, digest); err != nil {
		return -1, err
	}
	return fi.Size(), nil
}

// deferredRemoval is a RemoveUnreferenced call made during a Hold.
type deferredRemoval struct {
	ws         engine.ID
	digest     string
	referenced func() (bool, error)
}

// Hold keeps every file in place until release is called: removals asked
// meanwhile (RemoveUnreferenced) are deferred and run, their references
// checked again, at the release of the last hold. A backup holds the
// store from before its Pebble checkpoint until the files are linked
// (docs/ARCHITECTURE.md, "Backups"), so every file the checkpoint
// references is still there to be linked. release may be called once.
func (m *Store) Hold() (release func()) {
	m.mu.Lock()
	m.holds++
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.holds--
			var run []deferredRemoval
			if m.holds == 0 {
				run, m.deferred = m.deferred, nil
			}
			m.mu.Unlock()
			for _, d := range run {
				_, _ = m.RemoveUnreferenced(d.ws, d.digest, d.referenced) // a failure is left to the sweep
			}
		})
	}
}

// LinkTo hard-links every stored file (the MIME types and the public link
// key included, uploads still being written left out) into dst, under the
// same relative paths, copying where a link is impossible (another file
// system). Files are never rewritten in place (Put renames a new file over
// its name), so a link is a stable copy. It returns the relative paths.
func (m *Store) LinkTo(dst string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(m.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != m.dir {
				return nil // removed while walking (an upload renamed)
			}
			return err
		}
		rel, err := filepath.Rel(m.dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		name := d.Name()
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".upload-") || strings.HasSuffix(name, ".tmp") {
			return nil
		}
		if err := linkOrCopy(p, filepath.Join(dst, rel)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // a stale type file swept meanwhile
			}
			return err
		}
		paths = append(paths, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linking media files into %s: %w", dst, err)
	}
	return paths, nil
}

// linkOrCopy hard-links src at dst, or copies it when it cannot.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// Open opens the file with digest of workspace ws and returns its MIME
// type. A digest of another workspace is not found.
func (m *Store) Open(ws engine.ID, digest string) (*os.File, string, error) {
	if !hashRe.MatchString(digest) {
		return nil, "", os.ErrNotExist
	}
	p := filepath.Join(m.dir, ws.String(), digest)
	f, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	typ, _ := os.ReadFile(p + ".type")
	return f, SanitizeMime(string(typ)), nil
}

// Delete removes a workspace's file, whether or not messages still
// reference it.
func (m *Store) Delete(ws engine.ID, digest string) error {
	if !hashRe.MatchString(digest) {
		return nil
	}
	p := filepath.Join(m.dir, ws.String(), digest)
	_ = os.Remove(p + ".type")
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting media: %w", err)
	}
	return nil
}

// SanitizeMime returns t trimmed, or application/octet-stream when t is
// empty, too long or spans lines.
func SanitizeMime(t string) string {
	t = strings.TrimSpace(t)
	if t == "" || len(t) > 128 || strings.ContainsAny(t, "\r\n") {
		return "application/octet-stream"
	}
	return t
}

// DeleteWorkspace removes every file of workspace ws (its directory) in
// batches of up to batch files, and then the directory itself; it returns
// how many files it removed. A backup in progress (Hold) keeps the files
// until it is released: DeleteWorkspace then removes nothing and reports
// ErrHeld, and the caller tries again later.
func (m *Store) DeleteWorkspace(ws engine.ID, batch int) (int, error) {
	m.mu.Lock()
	held := m.holds > 0
	m.mu.Unlock()
	if held {
		return 0, ErrHeld
	}
	dir := filepath.Join(m.dir, ws.String())
	removed := 0
	for {
		d, err := os.Open(dir)
		if errors.Is(err, os.ErrNotExist) {
			return removed, nil
		}
		if err != nil {
			return removed, fmt.Errorf("deleting workspace media: %w", err)
		}
		names, err := d.Readdirnames(max(batch, 1))
		_ = d.Close()
		if len(names) == 0 {
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, fmt.Errorf("deleting workspace media: %w", err)
			}
			return removed, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return removed, fmt.Errorf("deleting workspace media: %w", err)
		}
		for _, n := range names {
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return removed, fmt.Errorf("deleting workspace media: %w", err)
			}
			removed++
		}
	}
}

// ErrHeld is returned by DeleteWorkspace while a backup holds the files.
var ErrHeld = errors.New("media: files held by a backup in progress")
