package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var binary string

// TestMain builds the parley binary once for the end-to-end tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building parley: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var runningRe = regexp.MustCompile(`msg="Parley is running" inbox=http://([0-9.:]+)/`)

// start runs the binary on a free port and returns its address and the
// lines it logs.
func start(t *testing.T, dataDir string) (*exec.Cmd, string, <-chan string) {
	t.Helper()
	return startCmd(t, exec.Command(binary, "-addr", "127.0.0.1:0", "-data-dir", dataDir), runningRe)
}

// startCmd starts cmd, a parley command line, and returns once it logs its
// address (found with running, a regexp whose group is the address).
func startCmd(t *testing.T, cmd *exec.Cmd, running *regexp.Regexp) (*exec.Cmd, string, <-chan string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 1024)
	addr := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := running.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a, lines
	case <-time.After(30 * time.Second):
		t.Fatal("parley did not report its address")
	}
	return nil, "", nil
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	return resp.StatusCode, v
}

func TestServesAndShutsDownOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd, addr, lines := start(t, dir)
			code, body := get(t, "http://"+addr+"/healthz")
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "ok", body["status"])
			code, _ = get(t, "http://"+addr+"/readyz")
			require.Equal(t, http.StatusOK, code)
			code, body = get(t, "http://"+addr+"/webhooks/no-such-channel") // other paths are the web inbox's
			require.Equal(t, http.StatusNotFound, code)
			require.Equal(t, "not_found", body["error"].(map[string]any)["code"])

			require.NoError(t, cmd.Process.Signal(sig))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Every line is read before Wait, which closes the pipe: the
			// last ones would be lost otherwise.
			var stopped bool
			done := make(chan error, 1)
			go func() {
				for l := range lines {
					if regexp.MustCompile(`msg="Parley stopped"`).MatchString(l) {
						stopped = true
					}
				}
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				require.NoError(t, err, "exit status")
			case <-ctx.Done():
				t.Fatal("parley did not exit after", sig)
			}
			require.True(t, stopped, "no clean-stop log line")
			_, err := os.Stat(filepath.Join(dir, "db", "CURRENT"))
			if errors.Is(err, os.ErrNotExist) {
				matches, _ := filepath.Glob(filepath.Join(dir, "db", "MANIFEST-*"))
				require.NotEmpty(t, matches, "no Pebble store in the data dir")
			}
		})
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	err := exec.Command(binary, "-no-such-flag").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
}

func TestParseFlagsFromEnv(t *testing.T) {
	t.Setenv("PARLEY_ADDR", "127.0.0.1:9999")
	t.Setenv("PARLEY_DATA_DIR", "/tmp/x")
	o, err := parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9999", o.addr)
	require.Equal(t, "/tmp/x", o.dataDir)
	o, err = parseFlags([]string{"-addr", "127.0.0.1:1"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1", o.addr, "flags win over the environment")
}

func TestParsePublicURL(t *testing.T) {
	t.Setenv("PARLEY_PUBLIC_URL", "https://inbox.example.com/")
	o, err := parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, "https://inbox.example.com/", o.publicURL)
	for _, bad := range []string{"inbox.example.com", "ftp://x", "https://"} {
		_, err = parseFlags([]string{"-public-url", bad})
		require.Error(t, err, bad)
	}
}

func TestParseShutdownTimeout(t *testing.T) {
	o, err := parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, 20*time.Second, o.shutdownTimeout, "the default")
	t.Setenv("PARLEY_SHUTDOWN_TIMEOUT", "45s")
	o, err = parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, 45*time.Second, o.shutdownTimeout)
	o, err = parseFlags([]string{"-shutdown-timeout", "2s"})
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, o.shutdownTimeout, "a flag wins over the environment")
	for _, bad := range []string{"0s", "-1s", "soon"} {
		_, err = parseFlags([]string{"-shutdown-timeout", bad})
		require.Error(t, err, bad)
	}
	t.Setenv("PARLEY_SHUTDOWN_TIMEOUT", "soon")
	_, err = parseFlags(nil)
	require.ErrorContains(t, err, "PARLEY_SHUTDOWN_TIMEOUT")
}
