package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/gateway/tlsconf"
	"github.com/prometheus/client_golang/prometheus"
)

// tlsConfig is the HTTPS part of the options.
func (o options) tlsConfig(log *slog.Logger, reg prometheus.Registerer) tlsconf.Config {
	_, port, _ := net.SplitHostPort(o.tlsAddr)
	return tlsconf.Config{Hosts: tlsconf.ParseHosts(o.tlsHosts), DirectoryURL: o.acmeDirectory, CAFile: o.acmeCA,
		Email: o.acmeEmail, CacheDir: filepath.Join(o.dataDir, "certs"), CertFile: o.tlsCert, KeyFile: o.tlsKey,
		HTTPSPort: port, Logger: log, Registerer: reg}
}

// proxyList splits -trusted-proxies.
func (o options) proxyList() []string {
	var out []string
	for _, p := range strings.Split(o.trustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkHTTPSOptions validates the HTTPS and proxy options and fills in
// their defaults: the HTTPS address :443, and the public URL
// https://<first host> when certificates come over ACME and none is set.
func checkHTTPSOptions(o *options) error {
	cfg := o.tlsConfig(nil, nil)
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, p := range o.proxyList() {
		if _, perr := netip.ParsePrefix(p); perr != nil {
			if _, aerr := netip.ParseAddr(p); aerr != nil {
				return fmt.Errorf("trusted-proxies: %q is neither an IP address nor a CIDR range", p)
			}
		}
	}
	if !cfg.Enabled() {
		if o.tlsAddr != "" {
			return errors.New("tls-addr needs -tls-hosts (PARLEY_TLS_HOSTS) or -tls-cert and -tls-key (PARLEY_TLS_CERT, PARLEY_TLS_KEY)")
		}
		return nil
	}
	if o.tlsAddr == "" {
		o.tlsAddr = ":443"
	}
	_, port, err := net.SplitHostPort(o.tlsAddr)
	if err != nil {
		return fmt.Errorf("tls-addr: %w", err)
	}
	if o.publicURL == "" && len(cfg.Hosts) > 0 {
		o.publicURL = "https://" + cfg.Hosts[0]
		if port != "443" {
			o.publicURL += ":" + port
		}
	}
	return nil
}

// listeners are the sockets Parley serves on: the gateway's (HTTPS when
// TLS is on, else plain HTTP on -addr) and, with TLS, the plain-HTTP one
// on -addr that answers ACME's http-01 challenges and redirects the rest.
type listeners struct {
	gateway  net.Listener
	inbox    string
	redirect *http.Server
	plain    net.Listener
	done     chan struct{}
}

// openListeners listens on -addr and, with TLS, -tls-addr.
func openListeners(o options, log *slog.Logger, reg prometheus.Registerer) (*listeners, error) {
	cfg := o.tlsConfig(log, reg)
	plain, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	if !cfg.Enabled() {
		return &listeners{gateway: plain, inbox: "http://" + plain.Addr().String() + "/"}, nil
	}
	setup, err := tlsconf.New(cfg)
	if err != nil {
		_ = plain.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.tlsAddr)
	if err != nil {
		_ = plain.Close()
		return nil, fmt.Errorf("listening on %s: %w", o.tlsAddr, err)
	}
	inbox := "https://" + ln.Addr().String() + "/"
	if o.publicURL != "" {
		inbox = strings.TrimRight(o.publicURL, "/") + "/"
	}
	return &listeners{gateway: tls.NewListener(ln, setup.TLS), inbox: inbox, plain: plain,
		redirect: &http.Server{Handler: setup.HTTP, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}, nil
}

// serveRedirect serves the plain-HTTP listener of TLS mode until close.
func (l *listeners) serveRedirect(log *slog.Logger) {
	if l.redirect == nil {
		return
	}
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		if err := l.redirect.Serve(l.plain); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP listener stopped", "err", err)
		}
	}()
	log.Info("Serving HTTPS", "https", l.gateway.Addr().String(), "http", l.plain.Addr().String())
}

// close stops the plain-HTTP listener of TLS mode and waits for it; the
// gateway closes its own.
func (l *listeners) close() {
	if l.redirect == nil {
		return
	}
	_ = l.redirect.Close()
	if l.done != nil {
		<-l.done
	}
}
