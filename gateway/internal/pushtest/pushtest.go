// Package pushtest is a Web Push service for tests: devices subscribe
// with keys made by crypto/ecdh, and the service checks each push's
// VAPID Authorization (RFC 8292: an ES256 JWT whose aud is the
// endpoint's origin, signed by the key it names, which must be the
// server's published key) and decrypts its aes128gcm body (RFC 8291,
// RFC 8188) with the device's private key.
package pushtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Push is one notification a device received, decrypted.
type Push struct {
	Device  string
	Payload []byte
	TTL     string
	Urgency string
}

// Service is a fake push service over HTTPS on 127.0.0.1.
type Service struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	key     string // the VAPID public key the pushes must carry
	devices map[string]*Device
	pushes  []Push
	errs    []error
	got     chan struct{}
}

// Device is a browser's subscription: its endpoint and keys.
type Device struct {
	ID       string
	Endpoint string
	// P256dh and Auth are what the browser hands the server,
	// base64url.
	P256dh, Auth string
	priv         *ecdh.PrivateKey
	auth         []byte
	// Status is what the service answers its pushes (201 unless set).
	Status int
}

// New starts a push service; it stops with the test.
func New(t testing.TB) *Service {
	s := &Service{t: t, devices: map[string]*Device{}, got: make(chan struct{}, 1024)}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// Client is an HTTP client that trusts the service.
func (s *Service) Client() *http.Client { return s.srv.Client() }

// ExpectKey sets the VAPID public key (base64url) pushes must be signed
// with.
func (s *Service) ExpectKey(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = k
}

// NewDevice makes a subscription's keys and endpoint.
func (s *Service) NewDevice(id string) *Device {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	d := &Device{ID: id, Endpoint: s.srv.URL + "/push/" + id, priv: priv, auth: auth,
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth), Status: http.StatusCreated}
	s.mu.Lock()
	s.devices[id] = d
	s.mu.Unlock()
	return d
}

// SetStatus sets what the pushes to a device are answered.
func (s *Service) SetStatus(d *Device, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Status = status
}

// Pushes returns the pushes received so far, and fails the test on any
// push that was not valid.
func (s *Service) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		s.t.Error(err)
	}
	s.errs = nil
	return append([]Push(nil), s.pushes...)
}

// Received is signalled at each request.
func (s *Service) Received() <-chan struct{} { return s.got }

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		select {
		case s.got <- struct{}{}:
		default:
		}
	}()
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	s.mu.Lock()
	d := s.devices[id]
	key := s.key
	s.mu.Unlock()
	if !ok || d == nil || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = checkVAPID(r.Header.Get("Authorization"), key, "https://"+r.Host)
	}
	if err == nil && r.Header.Get("Content-Encoding") != "aes128gcm" {
		err = fmt.Errorf("content encoding %q", r.Header.Get("Content-Encoding"))
	}
	var plain []byte
	if err == nil {
		plain, err = d.decrypt(body)
	}
	s.mu.Lock()
	status := d.Status
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("push to %s: %w", id, err))
		status = http.StatusBadRequest
	} else if status < 300 {
		s.pushes = append(s.pushes, Push{Device: id, Payload: plain, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency")})
	}
	s.mu.Unlock()
	w.WriteHeader(status)
}

// checkVAPID checks "vapid t=<jwt>, k=<key>".
func checkVAPID(h, want, origin string) error {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("the Authorization header %q is not vapid", h)
	}
	var tok, k string
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "t="); ok {
			tok = v
		} else if v, ok := strings.CutPrefix(part, "k="); ok {
			k = v
		}
	}
	if want == "" || k != want {
		return fmt.Errorf("signed with key %q, the server published %q", k, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return err
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("VAPID JWT: %w", err)
	}
	if sub, _ := parsed.Claims.GetSubject(); sub == "" {
		return errors.New("VAPID JWT without sub")
	}
	return nil
}

// decrypt opens an aes128gcm body of one record.
func (d *Device) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || uint32(len(body)-21-idlen) > rs {
		return nil, fmt.Errorf("record size %d, key id %d bytes, body %d", rs, idlen, len(body))
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("the server's key: %w", err)
	}
	secret, err := d.priv.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), d.priv.PublicKey().Bytes()...), asPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, secret, d.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, body[21+idlen:], nil)
	if err != nil {
		return nil, fmt.Errorf("decrypting: %w", err)
	}
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:len(plain)-1], nil
}
