// Package tlsconf builds Parley's HTTPS: a certificate obtained and
// renewed over ACME (golang.org/x/crypto/acme/autocert, answering both the
// tls-alpn-01 and the http-01 challenge) or a certificate and key read
// from files and reloaded when they change, and the plain-HTTP handler
// that answers ACME's http-01 challenges and redirects everything else to
// HTTPS.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Config says where HTTPS certificates come from: ACME for Hosts, or
// CertFile and KeyFile. Exactly one of the two, or neither (no HTTPS).
type Config struct {
	// Hosts are the public host names certificates are obtained for over
	// ACME; any other name is refused.
	Hosts []string
	// DirectoryURL is the ACME directory; empty means Let's Encrypt's
	// production directory.
	DirectoryURL string
	// CAFile, if set, is a PEM bundle trusted (besides the system's
	// roots) for the ACME server's own HTTPS: a test CA such as Pebble's.
	CAFile string
	// Email is the ACME account's contact address; optional.
	Email string
	// CacheDir keeps the ACME account key and the certificates, so that
	// a restart reuses them. Required with Hosts.
	CacheDir string
	// CertFile and KeyFile are a PEM certificate chain and its key,
	// reloaded when either file changes.
	CertFile, KeyFile string
	// HTTPSPort is the port HTTP requests are redirected to; empty or
	// "443" redirects to the default port.
	HTTPSPort string
	// Logger receives reloads and certificate errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives parley_tls_certificate_reloads_total; nil
	// registers nothing.
	Registerer prometheus.Registerer
}

// Enabled reports whether the configuration asks for HTTPS.
func (c Config) Enabled() bool {
	return len(c.Hosts) > 0 || c.CertFile != "" || c.KeyFile != ""
}

// Validate reports the first problem of the configuration.
func (c Config) Validate() error {
	switch {
	case len(c.Hosts) > 0 && (c.CertFile != "" || c.KeyFile != ""):
		return errors.New("TLS hosts (automatic certificates over ACME) and a certificate file are mutually exclusive: set one of PARLEY_TLS_HOSTS or PARLEY_TLS_CERT/PARLEY_TLS_KEY")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("a TLS certificate needs both PARLEY_TLS_CERT and PARLEY_TLS_KEY")
	}
	for _, h := range c.Hosts {
		if err := checkHost(h); err != nil {
			return err
		}
	}
	if len(c.Hosts) > 0 && c.CacheDir == "" {
		return errors.New("tlsconf: CacheDir is required with Hosts")
	}
	return nil
}

// checkHost accepts a DNS name such as inbox.example.com: no scheme, port,
// path, wildcard or IP address (ACME issues for names).
func checkHost(h string) error {
	if h == "" || len(h) > 253 || strings.ContainsAny(h, ":/*@ ") || net.ParseIP(h) != nil ||
		strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return fmt.Errorf("TLS host %q must be a DNS name such as inbox.example.com", h)
	}
	return nil
}

// ParseHosts splits a comma-separated list of host names, lower-cased,
// without empty entries.
func ParseHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// Setup is a validated configuration ready to serve.
type Setup struct {
	// TLS configures the HTTPS listener (tls.NewListener).
	TLS *tls.Config
	// HTTP serves the plain-HTTP listener: ACME http-01 challenges, and a
	// redirect to HTTPS for everything else.
	HTTP http.Handler
}

// New builds the TLS configuration. A certificate file that cannot be
// loaded is an error here; later bad versions of it keep the last good
// one.
func New(cfg Config) (*Setup, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("tlsconf: no hosts and no certificate file")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	redirect := Redirect(cfg.HTTPSPort)
	if cfg.CertFile != "" {
		cf, err := newCertFile(cfg.CertFile, cfg.KeyFile, cfg.Logger, cfg.Registerer)
		if err != nil {
			return nil, err
		}
		return &Setup{TLS: &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
			GetCertificate: cf.GetCertificate}, HTTP: redirect}, nil
	}
	hc := http.DefaultClient
	if cfg.CAFile != "" {
		pool, err := caPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	dir := cfg.DirectoryURL
	if dir == "" {
		dir = LetsEncryptURL
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cfg.CacheDir),
		HostPolicy: autocert.HostWhitelist(cfg.Hosts...),
		Email:      cfg.Email,
		Client:     &acme.Client{DirectoryURL: dir, HTTPClient: hc, UserAgent: "parley"},
	}
	known := make(map[string]bool, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		known[h] = true
	}
	log := cfg.Logger
	get := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := m.GetCertificate(hello)
		if err != nil {
			// Scanners ask for any name or none: only a configured
			// host's failure is worth an error.
			level := slog.LevelDebug
			if known[strings.ToLower(hello.ServerName)] {
				level = slog.LevelError
			}
			log.Log(hello.Context(), level, "No TLS certificate", "server_name", hello.ServerName, "err", err)
		}
		return c, err
	}
	return &Setup{
		TLS: &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1", acme.ALPNProto},
			GetCertificate: get},
		HTTP: withoutPort(m.HTTPHandler(redirect)),
	}, nil
}

// withoutPort strips the port from the Host of requests before next
// sees them: autocert checks the Host of an http-01 request against the
// host names, and a validation on a port other than 80 names it.
func withoutPort(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, _, err := net.SplitHostPort(r.Host); err == nil && strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			r = r.Clone(r.Context())
			r.Host = h
		}
		next.ServeHTTP(w, r)
	})
}

func caPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the ACME CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the ACME CA bundle %s holds no PEM certificate", path)
	}
	return pool, nil
}

// isHostName reports whether h is made of the characters of a DNS name.
func isHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Redirect answers every request with a redirect to the same host and
// path over HTTPS, on httpsPort unless it is empty or 443: 301 for GET
// and HEAD, 308 (which keeps the method and body) for the others.
func Redirect(httpsPort string) http.Handler {
	suffix := ""
	if httpsPort != "" && httpsPort != "443" {
		suffix = ":" + httpsPort
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			host = "[" + a.WithZone("").String() + "]"
		} else if err != nil && !isHostName(host) {
			http.Error(w, "bad or missing Host header", http.StatusBadRequest)
			return
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		uri := r.URL.RequestURI()
		if !strings.HasPrefix(uri, "/") { // "*" of OPTIONS
			uri = "/"
		}
		http.Redirect(w, r, "https://"+host+suffix+uri, code)
	})
}

// LetsEncryptURL is Let's Encrypt's production ACME directory, the
// default.
const LetsEncryptURL = acme.LetsEncryptURL
