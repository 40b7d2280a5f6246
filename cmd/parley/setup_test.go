package main

import (
	"bytes"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var setupRe = regexp.MustCompile(`msg="Open this one-time link within 24 hours[^"]*" setup=(\S+)/#setup/(setup_\S+)`)

// waitSetup reads the log lines until the setup link's and returns its
// base and code.
func waitSetup(t *testing.T, lines <-chan string) (string, string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "parley stopped before logging the setup link")
			if m := setupRe.FindStringSubmatch(l); m != nil {
				return m[1], m[2]
			}
		case <-timeout:
			t.Fatal("no setup link logged")
		}
	}
}

// A first start logs a one-time setup link to the web app, at the public
// URL when one is set; its code gives the owner a password.
func TestFirstStartLogsSetupLink(t *testing.T) {
	t.Parallel()
	_, addr, lines := start(t, t.TempDir())
	base, code := waitSetup(t, lines)
	require.Equal(t, "http://"+addr, base)
	body := []byte(`{"code":"` + code + `","name":"Olga","email":"olga@example.com","password":"olga's password"}`)
	resp, err := http.Post("http://"+addr+"/api/v1/auth/setup", "application/json", bytes.NewReader(body)) //nolint:noctx // test
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	_, _, lines = startCmd(t, exec.Command(binary, "-addr", "127.0.0.1:0", "-data-dir", t.TempDir(),
		"-public-url", "https://inbox.example.com/"), runningRe)
	base, _ = waitSetup(t, lines)
	require.Equal(t, "https://inbox.example.com", base)
}
