// Package upgradefixture unpacks, for upgrade tests, the data directory
// that an earlier Parley wrote (persistence/testdata/upgrade, made by its
// gen command) and reads the manifest of what that Parley's API showed.
package upgradefixture

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Format is the data directory format of the fixture: it was written
// before the format was recorded.
const Format = 1

// Manifest is what the earlier Parley's API answered just before it
// stopped (persistence/testdata/upgrade/manifest.json).
type Manifest struct {
	// Commit is the commit of the earlier Parley.
	Commit string `json:"commit"`
	// StoppedAt is when it stopped: every timer it set is due later.
	StoppedAt time.Time `json:"stopped_at"`
	// OwnerToken is the owner's API token.
	OwnerToken string `json:"owner_token"`
	// FailingUser is the Instagram user whose sends Graph answered 500:
	// they are in the outbox.
	FailingUser string `json:"failing_user"`
	// Conversations are the conversations of every folder.
	Conversations []json.RawMessage `json:"conversations"`
	// Messages are the messages pages of each conversation, by id.
	Messages map[string]json.RawMessage `json:"messages"`
	// Contacts is the contacts page; ContactDetails each contact's
	// profile, by id.
	Contacts       json.RawMessage            `json:"contacts"`
	ContactDetails map[string]json.RawMessage `json:"contact_details"`
}

// dir is persistence/testdata/upgrade.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "persistence", "testdata", "upgrade")
}

// ReadManifest reads the fixture's manifest.
func ReadManifest(tb testing.TB) Manifest {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir(), "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("reading the fixture's manifest: %v", err)
	}
	return m
}

// Unpack copies the fixture's data directory (db/ and media/) into a new
// temporary directory and returns it.
func Unpack(tb testing.TB) string {
	tb.Helper()
	out := tb.TempDir()
	if err := unpack(filepath.Join(dir(), "datadir-format1.tar.gz"), out); err != nil {
		tb.Fatalf("unpacking the fixture: %v", err)
	}
	return out
}

func unpack(tarball, out string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("entry %q outside the directory", h.Name)
		}
		p := filepath.Join(out, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o750); err != nil {
				return err
			}
		case tar.TypeReg:
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, io.LimitReader(tr, 64<<20))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q of type %c", h.Name, h.Typeflag)
		}
	}
}
