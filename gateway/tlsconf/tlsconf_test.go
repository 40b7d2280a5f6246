package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// writePair writes a self-signed certificate for localhost with serial
// and its key.
func writePair(t *testing.T, certPath, keyPath string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
}

// fakeNow is a clock the test moves.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// servedSerial makes a TLS handshake with the listener and returns the
// serial of the certificate it presented.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) //nolint:gosec // the serial is what is checked
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestCertFileReload serves a certificate file over a real TLS listener
// and replaces it: the new serial is served once the check interval has
// passed; a bad pair keeps the last good one and is counted and logged.
func TestCertFileReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair(t, certPath, keyPath, 101)
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))
	reg := prometheus.NewRegistry()
	cf, err := newCertFile(certPath, keyPath, log, reg)
	require.NoError(t, err)
	clock := &fakeNow{t: time.Now()}
	cf.now, cf.checked = clock.now, clock.now()

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: cf.GetCertificate, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	require.EqualValues(t, 101, servedSerial(t, addr))

	writePair(t, certPath, keyPath, 202)
	require.EqualValues(t, 101, servedSerial(t, addr), "files are looked at once per interval")
	clock.add(reloadCheckInterval)
	require.EqualValues(t, 202, servedSerial(t, addr), "the new pair is served")
	require.Equal(t, 1.0, testutil.ToFloat64(cf.reloads.WithLabelValues("ok")))

	// A certificate whose key is not (yet) its own: the previous pair stays.
	writePair(t, certPath, filepath.Join(dir, "other.key"), 303)
	clock.add(reloadCheckInterval)
	require.EqualValues(t, 202, servedSerial(t, addr), "a bad pair keeps the previous certificate")
	require.Equal(t, 1.0, testutil.ToFloat64(cf.reloads.WithLabelValues("error")))
	clock.add(reloadCheckInterval)
	servedSerial(t, addr)
	require.Equal(t, 1.0, testutil.ToFloat64(cf.reloads.WithLabelValues("error")), "an unchanged bad pair is reported once")
	logMu.Lock()
	require.Contains(t, logs.String(), "does not load")
	logMu.Unlock()

	// The key follows: the new pair is served.
	writePair(t, certPath, keyPath, 404)
	clock.add(reloadCheckInterval)
	require.EqualValues(t, 404, servedSerial(t, addr))
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRedirect: HTTP answers with the same host and path over HTTPS; GET
// and HEAD get 301, other methods 308 so that a POST stays a POST.
func TestRedirect(t *testing.T) {
	srv := httptest.NewServer(Redirect("8443"))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for method, code := range map[string]int{http.MethodGet: 301, http.MethodHead: 301, http.MethodPost: 308, http.MethodDelete: 308} {
		req, err := http.NewRequest(method, srv.URL+"/api/v1/x?a=1", strings.NewReader("{}"))
		require.NoError(t, err)
		req.Host = "inbox.example.com:" + port
		resp, err := cl.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, code, resp.StatusCode, method)
		require.Equal(t, "https://inbox.example.com:8443/api/v1/x?a=1", resp.Header.Get("Location"), method)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "inbox.example.com"
	Redirect("443").ServeHTTP(rec, req)
	require.Equal(t, "https://inbox.example.com/", rec.Header().Get("Location"), "no port for 443")
}

// TestACMEChallengeOverHTTP: with ACME, the HTTP handler answers
// challenge paths itself (a token it does not hold is a 404, not a
// redirect), whatever the port in Host, and redirects the rest.
func TestACMEChallengeOverHTTP(t *testing.T) {
	s, err := New(Config{Hosts: []string{"inbox.example.com"}, CacheDir: t.TempDir(), DirectoryURL: "http://127.0.0.1:1/dir"})
	require.NoError(t, err)
	for host, code := range map[string]int{"inbox.example.com": 404, "inbox.example.com:5002": 404, "other.example.com": 403} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/.well-known/acme-challenge/abc", nil)
		req.Host = host
		s.HTTP.ServeHTTP(rec, req)
		require.Equal(t, code, rec.Code, host)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	req.Host = "inbox.example.com"
	s.HTTP.ServeHTTP(rec, req)
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	require.Equal(t, []string{"http/1.1", "acme-tls/1"}, s.TLS.NextProtos, "tls-alpn-01 is offered")
}

func TestValidate(t *testing.T) {
	require.ErrorContains(t, Config{Hosts: []string{"a.example.com"}, CertFile: "c", KeyFile: "k", CacheDir: "d"}.Validate(),
		"mutually exclusive")
	require.ErrorContains(t, Config{CertFile: "c"}.Validate(), "both")
	for _, bad := range []string{"https://a.example.com", "a.example.com:443", "*.example.com", "10.0.0.1", "a..b", "a.example.com/x"} {
		require.Error(t, Config{Hosts: []string{bad}, CacheDir: "d"}.Validate(), bad)
	}
	require.NoError(t, Config{Hosts: ParseHosts(" A.example.com, b.example.com ,"), CacheDir: "d"}.Validate())
	require.Equal(t, []string{"a.example.com", "b.example.com"}, ParseHosts(" A.example.com, b.example.com ,"))
	_, err := New(Config{CertFile: filepath.Join(t.TempDir(), "missing.pem"), KeyFile: "k"})
	require.Error(t, err, "a certificate that does not load at start is an error")
}
