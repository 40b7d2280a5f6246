package media

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// TestPublicLinkSignedAndExpiring: a link opens its file until it
// expires; a link with a changed body or signature, of another store's
// key, or past its expiry opens nothing.
func TestPublicLinkSignedAndExpiring(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, ws, d := storeWithFile(t, dir, "image/png", "png bytes")
	_, err := m.PublicLink(ws, d, time.Now().Add(time.Hour))
	require.Error(t, err, "no public URL set")
	m.SetPublicURL("https://parley.example/")
	now := time.Unix(1_750_000_000, 0)
	link, err := m.PublicLink(ws, d, now.Add(PublicLinkTTL))
	require.NoError(t, err)
	token, ok := strings.CutPrefix(link, "https://parley.example/public/media/")
	require.True(t, ok, link)

	f, typ, err := m.OpenLink(token, now)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	require.Equal(t, "png bytes", string(b))
	require.Equal(t, "image/png", typ)

	_, _, err = m.OpenLink(token, now.Add(PublicLinkTTL+time.Second))
	require.ErrorIs(t, err, ErrBadLink, "expired")
	body, sig, _ := strings.Cut(token, ".")
	flip := func(s string) string {
		c := byte('A')
		if s[3] == 'A' {
			c = 'B'
		}
		return s[:3] + string(c) + s[4:]
	}
	for _, bad := range []string{flip(body) + "." + sig, body + "." + flip(sig), body, "", ".", "!!." + sig} {
		_, _, err = m.OpenLink(bad, now)
		require.ErrorIs(t, err, ErrBadLink, "%q", bad)
	}

	// The key is kept beside the files: a store reopened on the same
	// directory honours the link, one on another directory does not.
	m2, err := NewStore(dir, 1<<20)
	require.NoError(t, err)
	f, _, err = m2.OpenLink(token, now)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	other, err := NewStore(t.TempDir(), 1<<20)
	require.NoError(t, err)
	_, _, err = other.OpenLink(token, now)
	require.ErrorIs(t, err, ErrBadLink)

	require.NoError(t, m.Delete(ws, d))
	_, _, err = m.OpenLink(token, now)
	require.True(t, errors.Is(err, os.ErrNotExist), "a deleted file: %v", err)
}

// FuzzOpenLink: a token from the internet never panics and never opens a
// file unless it is a link the store signed.
func FuzzOpenLink(f *testing.F) {
	m, ws, d := storeWithFile(f, f.TempDir(), "text/plain", "x")
	m.SetPublicURL("https://parley.example")
	now := time.Unix(1_750_000_000, 0)
	link, err := m.PublicLink(ws, d, now.Add(time.Hour))
	require.NoError(f, err)
	good := strings.TrimPrefix(link, "https://parley.example/public/media/")
	f.Add(good)
	f.Add("")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		file, _, err := m.OpenLink(token, now)
		if err == nil {
			require.NoError(t, file.Close())
			require.Equal(t, decode(t, good), decode(t, token), "only the signed token opens the file")
		}
	})
}

// decode returns a token's two parts decoded.
func decode(t *testing.T, token string) [2][]byte {
	t.Helper()
	b, s, _ := strings.Cut(token, ".")
	body, err := base64.RawURLEncoding.DecodeString(b)
	require.NoError(t, err)
	sig, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return [2][]byte{body, sig}
}

// storeWithFile returns a store in dir holding one file of a new
// workspace, unpinned, and the file's digest.
func storeWithFile(t testing.TB, dir, mimeType, content string) (*Store, engine.ID, string) {
	t.Helper()
	m, err := NewStore(dir, 1<<20)
	require.NoError(t, err)
	ws := engine.NewID(time.Now())
	_, d, _, err := m.Put(ws, mimeType, strings.NewReader(content))
	require.NoError(t, err)
	m.Unpin(ws, d)
	return m, ws, d
}
