package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/stretchr/testify/require"
)

// pebbleHost is the name Parley gets certificates for; Pebble's DNS
// (pebble-challtestsrv) resolves every name to 127.0.0.1.
const pebbleHost = "parley.example.com"

// pebbleBinaries finds pebble and pebble-challtestsrv: PARLEY_PEBBLE names
// the pebble binary, else .ci/run's .bin/pebble at the repository root.
// Without them the test is skipped, except in CI where it fails.
func pebbleBinaries(t *testing.T) (pebble, challtestsrv string) {
	t.Helper()
	pebble = os.Getenv("PARLEY_PEBBLE")
	if pebble == "" {
		pebble, _ = filepath.Abs(filepath.Join("..", "..", ".bin", "pebble"))
	}
	challtestsrv = filepath.Join(filepath.Dir(pebble), "pebble-challtestsrv")
	for _, b := range []string{pebble, challtestsrv} {
		if _, err := os.Stat(b); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (.ci/run builds it)", b)
			}
			t.Skipf("%s is missing: GOBIN=$PWD/.bin go install github.com/letsencrypt/pebble/v2/cmd/...@v2.10.3", b)
		}
	}
	return pebble, challtestsrv
}

// freePortNumber is freePort's port.
func freePortNumber(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

// fileLog is a file a process writes its output to, read for
// assertions.
type fileLog string

// newFileLog creates the file in the test's temporary directory.
func newFileLog(t *testing.T, name string) (fileLog, *os.File) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return fileLog(f.Name()), f
}

func (l fileLog) String() string {
	b, _ := os.ReadFile(string(l))
	return string(b)
}

// acmeServer is a running Pebble with its DNS.
type acmeServer struct {
	dir    string // the ACME directory URL
	caFile string // the CA of Pebble's own HTTPS
	root   *x509.CertPool
	log    fileLog
}

// writeSelfSigned writes a self-signed certificate for names (and
// 127.0.0.1) and its key, and returns the certificate.
func writeSelfSigned(t *testing.T, certPath, keyPath string, serial int64, names ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// startPebble runs Pebble validating http-01 on httpPort and tls-alpn-01
// on tlsPort of 127.0.0.1, with its DNS answering 127.0.0.1 for every
// name.
func startPebble(t *testing.T, httpPort, tlsPort int) *acmeServer {
	t.Helper()
	pebble, challtestsrv := pebbleBinaries(t)
	dir := t.TempDir()
	// Pebble's own HTTPS certificate, made here rather than taken from
	// its module's test/certs.
	caFile, keyFile := filepath.Join(dir, "pebble-https.pem"), filepath.Join(dir, "pebble-https.key")
	writeSelfSigned(t, caFile, keyFile, 1, "localhost")
	dnsPort, apiPort, mgmtPort := freePortNumber(t), freePortNumber(t), freePortNumber(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    caFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
	}}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	cfgFile := filepath.Join(dir, "pebble-config.json")
	require.NoError(t, os.WriteFile(cfgFile, raw, 0o600))

	l, lf := newFileLog(t, "pebble.log")
	dns := exec.Command(challtestsrv, "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-management", fmt.Sprintf("127.0.0.1:%d", freePortNumber(t)),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	dns.Stdout, dns.Stderr = lf, lf
	require.NoError(t, dns.Start())
	t.Cleanup(func() { _ = dns.Process.Kill(); _ = dns.Wait() })
	srv := exec.Command(pebble, "-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	srv.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	srv.Stdout, srv.Stderr = lf, lf
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })

	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	a := &acmeServer{dir: fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort), caFile: caFile, log: l}
	var rootPEM []byte
	require.Eventually(t, func() bool {
		resp, err := cl.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		rootPEM, err = io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		resp, err = cl.Get(a.dir)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "pebble did not start:\n%s", l)
	a.root = x509.NewCertPool()
	require.True(t, a.root.AppendCertsFromPEM(rootPEM), "pebble's issuing root")
	return a
}

// parleyProc is a running binary in TLS mode.
type parleyProc struct {
	cmd *exec.Cmd
	log fileLog
}

// startTLS runs the binary with its HTTP listener on httpPort and HTTPS
// on tlsPort, env adding to its environment, and waits for it to run.
func startTLS(t *testing.T, dataDir string, httpPort, tlsPort int, env ...string) *parleyProc {
	t.Helper()
	cmd := exec.Command(binary, "-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"-tls-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort), "-data-dir", dataDir)
	cmd.Env = append(os.Environ(), append([]string{"PARLEY_BOOTSTRAP_TOKEN=" + ownerTokenTLS}, env...)...)
	l, f := newFileLog(t, "parley.log")
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(l.String(), `msg="Parley is running"`) },
		30*time.Second, 20*time.Millisecond, "parley did not start")
	return &parleyProc{cmd: cmd, log: l}
}

// stop ends the process with SIGTERM and waits for it.
func (p *parleyProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit status:\n%s", p.log)
	case <-time.After(30 * time.Second):
		t.Fatal("parley did not stop")
	}
}

const ownerTokenTLS = "pk_test_tls_owner"

// hostClient is an HTTPS client that reaches every host name at
// 127.0.0.1 and trusts roots only; it follows no redirect.
func hostClient(roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return d.DialContext(ctx, network, "127.0.0.1:"+port)
			},
		}}
}

// servedSerial asks Parley's HTTPS for /readyz and returns the serial of
// the certificate it served, after checking the answer and its HSTS.
func servedSerial(t *testing.T, cl *http.Client, tlsPort int) string {
	t.Helper()
	resp, err := cl.Get(fmt.Sprintf("https://%s:%d/readyz", pebbleHost, tlsPort))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	return resp.TLS.PeerCertificates[0].SerialNumber.String()
}

// TestACMECertificateFromPebble runs Parley against a real ACME server on
// 127.0.0.1: a fresh data dir gets a certificate over tls-alpn-01 (Pebble
// cannot reach an http-01 answer: its HTTP port is closed) and serves
// HTTPS and WebSockets with it; HTTP redirects to HTTPS; a restart
// reuses the cached certificate without a new order.
func TestACMECertificateFromPebble(t *testing.T) {
	t.Parallel()
	httpPort, tlsPort := freePortNumber(t), freePortNumber(t)
	acme := startPebble(t, freePortNumber(t), tlsPort)
	dataDir := t.TempDir()
	env := []string{"PARLEY_TLS_HOSTS=" + pebbleHost, "PARLEY_ACME_DIRECTORY=" + acme.dir, "PARLEY_ACME_CA=" + acme.caFile,
		"PARLEY_ACME_EMAIL=ops@example.com"}
	p := startTLS(t, dataDir, httpPort, tlsPort, env...)
	require.Contains(t, p.log.String(), "inbox=https://"+pebbleHost+":"+strconv.Itoa(tlsPort)+"/",
		"the public URL defaults to the first host")
	cl := hostClient(acme.root)
	serial := servedSerial(t, cl, tlsPort)
	require.Contains(t, acme.log.String(), "There are now 1 orders in the db")
	require.NotContains(t, acme.log.String(), "Attempting to validate w/ HTTP", "tls-alpn-01 answered")
	_, err := os.Stat(filepath.Join(dataDir, "certs", pebbleHost))
	require.NoError(t, err, "the certificate is cached in <data-dir>/certs")

	// A WebSocket over TLS.
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: acme.root},
		NetDialContext: cl.Transport.(*http.Transport).DialContext}).Dial(
		fmt.Sprintf("wss://%s:%d/api/v1/ws?token=%s", pebbleHost, tlsPort, ownerTokenTLS), nil)
	require.NoError(t, err, "%s", p.log)
	var hello map[string]any
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, ws.ReadJSON(&hello), "%s", p.log)
	require.Equal(t, "hello", hello["type"])
	ws.Close()

	// HTTP redirects to HTTPS: 301 for GET, 308 (method kept) otherwise.
	for method, code := range map[string]int{http.MethodGet: http.StatusMovedPermanently, http.MethodPost: http.StatusPermanentRedirect} {
		req, err := http.NewRequest(method, fmt.Sprintf("http://%s:%d/api/v1/conversations?limit=1", pebbleHost, httpPort), nil)
		require.NoError(t, err)
		resp, err := cl.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, code, resp.StatusCode, method)
		require.Equal(t, fmt.Sprintf("https://%s:%d/api/v1/conversations?limit=1", pebbleHost, tlsPort), resp.Header.Get("Location"))
		require.Empty(t, resp.Header.Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
	}

	// A restart with the same data dir serves the cached certificate:
	// the same serial, and Pebble was asked for no new order.
	p.stop(t)
	startTLS(t, dataDir, httpPort, tlsPort, env...)
	cl.CloseIdleConnections()
	require.Equal(t, serial, servedSerial(t, cl, tlsPort), "the cached certificate is reused")
	require.NotContains(t, acme.log.String(), "There are now 2 orders in the db")
}

// TestACMEHTTP01 has Pebble validate over http-01 only (its tls-alpn-01
// port is closed): Parley's HTTP listener answers the challenge.
func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	httpPort, tlsPort := freePortNumber(t), freePortNumber(t)
	acme := startPebble(t, httpPort, freePortNumber(t))
	p := startTLS(t, t.TempDir(), httpPort, tlsPort, "PARLEY_TLS_HOSTS="+pebbleHost,
		"PARLEY_ACME_DIRECTORY="+acme.dir, "PARLEY_ACME_CA="+acme.caFile)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("parley:\n%s\npebble:\n%s", p.log, acme.log)
		}
	})
	servedSerial(t, hostClient(acme.root), tlsPort)
	require.Contains(t, acme.log.String(), "Attempting to validate w/ HTTP")
}

func TestParseHTTPSOptions(t *testing.T) {
	o, err := parseFlags([]string{"-tls-hosts", "Inbox.example.com,b.example.com"})
	require.NoError(t, err)
	require.Equal(t, ":443", o.tlsAddr, "HTTPS on :443 by default")
	require.Equal(t, "https://inbox.example.com", o.publicURL, "the public URL defaults to the first host")
	require.Equal(t, "https://acme-v02.api.letsencrypt.org/directory", o.acmeDirectory)
	o, err = parseFlags([]string{"-tls-hosts", "inbox.example.com", "-tls-addr", ":8443", "-public-url", "https://x.example.com"})
	require.NoError(t, err)
	require.Equal(t, "https://x.example.com", o.publicURL, "a public URL given wins")
	o, err = parseFlags([]string{"-tls-hosts", "inbox.example.com", "-tls-addr", ":8443"})
	require.NoError(t, err)
	require.Equal(t, "https://inbox.example.com:8443", o.publicURL)
	o, err = parseFlags([]string{"-tls-cert", "c.pem", "-tls-key", "k.pem"})
	require.NoError(t, err)
	require.Empty(t, o.publicURL, "no host name to default to")
	t.Setenv("PARLEY_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
	o, err = parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.0/8", "127.0.0.1"}, o.proxyList())

	for _, bad := range [][]string{
		{"-tls-hosts", "a.example.com", "-tls-cert", "c.pem", "-tls-key", "k.pem"},
		{"-tls-cert", "c.pem"},
		{"-tls-addr", ":443"},
		{"-tls-hosts", "https://a.example.com"},
		{"-trusted-proxies", "10.0.0.0/40"},
		{"-trusted-proxies", "proxy.local"},
	} {
		_, err := parseFlags(bad)
		require.Error(t, err, bad)
	}
}

// TestHostsAndCertFileExclusive: the binary refuses both sources at once
// with a clear message and exit status 2.
func TestHostsAndCertFileExclusive(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "-tls-hosts", "a.example.com", "-tls-cert", "c.pem", "-tls-key", "k.pem")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "mutually exclusive")
}

// TestCertFileHTTPS runs the binary with a certificate and key given by
// path: HTTPS serves that certificate with HSTS, a WebSocket works over
// it, and plain HTTP redirects.
func TestCertFileHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := writeSelfSigned(t, certPath, keyPath, 4242, pebbleHost)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	httpPort, tlsPort := freePortNumber(t), freePortNumber(t)
	p := startTLS(t, t.TempDir(), httpPort, tlsPort, "PARLEY_TLS_CERT="+certPath, "PARLEY_TLS_KEY="+keyPath)
	cl := hostClient(roots)
	require.Equal(t, "4242", servedSerial(t, cl, tlsPort))

	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: roots},
		NetDialContext: cl.Transport.(*http.Transport).DialContext}).Dial(
		fmt.Sprintf("wss://%s:%d/api/v1/ws?token=%s", pebbleHost, tlsPort, ownerTokenTLS), nil)
	require.NoError(t, err, "%s", p.log)
	defer ws.Close()
	var hello map[string]any
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, ws.ReadJSON(&hello), "%s", p.log)
	require.Equal(t, "hello", hello["type"])
	// An event, written by the session's writer (not at once, as the
	// hello is: a TLS socket takes no non-blocking write).
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("https://%s:%d/api/v1/contacts", pebbleHost, tlsPort),
		strings.NewReader(`{"name":"Ada Lovelace"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ownerTokenTLS)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var ev map[string]any
	require.NoError(t, ws.ReadJSON(&ev), "%s", p.log)
	require.Equal(t, "contact.created", ev["type"])

	resp, err = cl.Get(fmt.Sprintf("http://%s:%d/readyz", pebbleHost, httpPort))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, fmt.Sprintf("https://%s:%d/readyz", pebbleHost, tlsPort), resp.Header.Get("Location"))

	// The image's health check asks the HTTPS listener when TLS is on
	// (-addr only redirects).
	code, _, stderr := parley(t, []string{"PARLEY_TLS_CERT=" + certPath, "PARLEY_TLS_KEY=" + keyPath}, "healthcheck",
		"-addr", fmt.Sprintf("127.0.0.1:%d", httpPort), "-tls-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort))
	require.Equal(t, 0, code, stderr)
}
