package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// loginVia posts a failed login as if relayed by a proxy that wrote xff
// and proto.
func loginVia(t *testing.T, e *env, xff, proto, email string) (int, http.Header) {
	t.Helper()
	js, err := json.Marshal(map[string]string{"email": email, "password": "not the password"})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", e.url+"/api/v1/auth/login", bytes.NewReader(js))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	req.Header.Set("X-Forwarded-Proto", proto)
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// TestTrustedProxies: the login rate limit per client address counts the
// address a trusted proxy reports (the rightmost one it did not get from
// the client), and the peer's own address when the peer is not trusted;
// X-Forwarded-Proto turns HSTS on only from a trusted proxy.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	// The client claims 198.51.100.7; the proxy appends the address it saw.
	const spoofed = "198.51.100.7, "
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		e := newEnvWith(t, nil, func(c *gateway.Config) { c.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1"} })
		for i := range 20 {
			code, _ := loginVia(t, e, spoofed+"203.0.113.5, 10.1.2.3", "http", fmt.Sprintf("a%d@example.com", i))
			require.Equal(t, http.StatusUnauthorized, code, i)
		}
		code, _ := loginVia(t, e, spoofed+"203.0.113.5", "http", "b@example.com")
		require.Equal(t, http.StatusTooManyRequests, code, "203.0.113.5 made twenty failures")
		code, hdr := loginVia(t, e, spoofed+"203.0.113.6", "https", "b@example.com")
		require.Equal(t, http.StatusUnauthorized, code, "another client behind the proxy is not limited")
		require.Equal(t, "max-age=31536000", hdr.Get("Strict-Transport-Security"), "HTTPS at the proxy")
	})
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		for i := range 20 {
			code, _ := loginVia(t, e, spoofed+"203.0.113.5", "http", fmt.Sprintf("a%d@example.com", i))
			require.Equal(t, http.StatusUnauthorized, code, i)
		}
		code, hdr := loginVia(t, e, "203.0.113.6", "https", "b@example.com")
		require.Equal(t, http.StatusTooManyRequests, code, "X-Forwarded-For from an untrusted peer is ignored")
		require.Empty(t, hdr.Get("Strict-Transport-Security"), "X-Forwarded-Proto from an untrusted peer is ignored")
	})
	t.Run("bad range", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		accounts, err := gateway.NewAccounts(e.store)
		require.NoError(t, err)
		_, err = gateway.New(gateway.Config{Runtime: e.rt, Store: e.store, Accounts: accounts, Media: e.media,
			Graph: meta.NewClient(meta.ClientConfig{BaseURL: e.graph.srv.URL}), TrustedProxies: []string{"10.0.0.0/33"}})
		require.ErrorContains(t, err, "10.0.0.0/33")
	})
}

// TestSecurityHeaders: API answers, errors and the web app carry
// nosniff, no referrer and no framing; the app keeps its CSP with
// frame-ancestors 'none'; plain HTTP gets no HSTS.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, path := range []string{"/readyz", "/api/v1/conversations", "/", "/inbox/some/route", "/webhooks/nope"} {
		resp, err := e.client.Get(e.url + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), path)
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
		require.Empty(t, resp.Header.Get("Strict-Transport-Security"), path)
		if path == "/" {
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		}
	}
}
