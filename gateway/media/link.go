package media

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Public media links. Instagram's Send API takes media only by URL: it
// fetches the file itself. A public link names one file of one workspace
// until an expiry, signed with a key kept beside the media files
// (<dir>/.link-key, created at first use), so it needs no token and can
// be neither forged nor stretched:
//
//	<public URL>/public/media/<base64url(workspace | sha256 | expiry)>.<base64url(HMAC-SHA256)>
const (
	linkKeyFile = ".link-key"
	// PublicLinkTTL is how long a public media link stays valid: long
	// enough for the channel to fetch it, with retries.
	PublicLinkTTL = 24 * time.Hour
)

// ErrBadLink is returned by OpenLink for a token that is malformed,
// forged or expired.
var ErrBadLink = errors.New("media: bad or expired media link")

// SetPublicURL sets the base URL at which this server is reachable from
// the internet (PARLEY_PUBLIC_URL); without one, no public link is made.
func (m *Store) SetPublicURL(u string) {
	u = strings.TrimRight(u, "/")
	m.publicURL.Store(&u)
}

// PublicURL returns the base URL set by SetPublicURL, without a trailing
// slash, or "" when none is set.
func (m *Store) PublicURL() string {
	if u := m.publicURL.Load(); u != nil {
		return *u
	}
	return ""
}

func (m *Store) linkKey() ([]byte, error) {
	m.keyOnce.Do(func() {
		p := filepath.Join(m.dir, linkKeyFile)
		key, err := os.ReadFile(p)
		if err == nil && len(key) == 32 {
			m.key = key
			return
		}
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, key, 0o600); err != nil {
			m.keyErr = fmt.Errorf("writing media link key: %w", err)
			return
		}
		if err := os.Rename(tmp, p); err != nil {
			m.keyErr = fmt.Errorf("storing media link key: %w", err)
			return
		}
		m.key = key
	})
	return m.key, m.keyErr
}

// PublicLink returns a public URL for the file with digest of workspace
// ws, valid until expires. It fails when no public URL is set.
func (m *Store) PublicLink(ws engine.ID, digest string, expires time.Time) (string, error) {
	base := m.publicURL.Load()
	if base == nil || *base == "" {
		return "", errors.New("media: no public URL is set (PARLEY_PUBLIC_URL)")
	}
	raw, err := hex.DecodeString(digest)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("media: bad media digest %q", digest)
	}
	key, err := m.linkKey()
	if err != nil {
		return "", err
	}
	body := make([]byte, 0, 16+32+8)
	body = append(append(body, ws[:]...), raw...)
	body = binary.BigEndian.AppendUint64(body, uint64(expires.Unix())) //nolint:gosec // a time after 1970
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	enc := base64.RawURLEncoding
	return *base + "/public/media/" + enc.EncodeToString(body) + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// OpenLink checks a public link's token against now and opens its file,
// returning its MIME type. A bad, forged or expired token gives
// ErrBadLink; a file no longer stored, os.ErrNotExist.
func (m *Store) OpenLink(token string, now time.Time) (*os.File, string, error) {
	b64, sig64, ok := strings.Cut(token, ".")
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(b64)
	sig, err2 := enc.DecodeString(sig64)
	if !ok || err1 != nil || err2 != nil || len(body) != 16+32+8 {
		return nil, "", ErrBadLink
	}
	key, err := m.linkKey()
	if err != nil {
		return nil, "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, "", ErrBadLink
	}
	if exp := int64(binary.BigEndian.Uint64(body[48:])); now.Unix() > exp { //nolint:gosec // written from a Unix time
		return nil, "", ErrBadLink
	}
	var ws engine.ID
	copy(ws[:], body[:16])
	return m.Open(ws, hex.EncodeToString(body[16:48]))
}
