package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parley runs the binary with args and extra environment and returns its
// exit code, stdout and stderr.
func parley(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "running parley %v: %v", args, err)
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "parley.toml", `
addr = "127.0.0.1:1001"
data_dir = "/from/file"
log_json = true
media_max_bytes = 1000
public_url = "https://file.example.com"
`)
	env := map[string]string{
		"PARLEY_CONFIG":          file,
		"PARLEY_ADDR":            "127.0.0.1:1002",
		"PARLEY_DATA_DIR":        "/from/env",
		"PARLEY_MEDIA_MAX_BYTES": "", // empty: unset, the file's value stays
	}
	fs, seen := newFlagSet("t")
	o, problems, err := loadConfig(fs, seen, []string{"-data-dir", "/from/flag"}, envMap(env))
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Equal(t, file, o.configFile)
	require.Equal(t, "127.0.0.1:1002", o.addr, "env wins over the file")
	require.Equal(t, "/from/flag", o.dataDir, "a flag wins over env and file")
	require.True(t, o.logJSON, "the file wins over the default")
	require.EqualValues(t, 1000, o.mediaMaxBytes)
	require.Equal(t, "https://file.example.com", o.publicURL)
	require.EqualValues(t, 64<<20, o.bodyMemory, "the default where nothing is set")
	require.Equal(t, "https://graph.facebook.com", o.graphURL)

	// -config wins over PARLEY_CONFIG; a missing file is a problem.
	fs, seen = newFlagSet("t")
	_, problems, err = loadConfig(fs, seen, []string{"-config", filepath.Join(dir, "missing.toml")}, envMap(env))
	require.NoError(t, err)
	require.Len(t, problems, 1)
	require.Contains(t, problems[0].Error(), "missing.toml")

	// A bool flag given alone, and a bool env of the forms people write.
	fs, seen = newFlagSet("t")
	o, problems, err = loadConfig(fs, seen, []string{"-log-json"}, envMap(nil))
	require.NoError(t, err)
	require.Empty(t, problems)
	require.True(t, o.logJSON)
	for text, want := range map[string]bool{"1": true, "yes": true, "true": true, "0": false, "off": false} {
		fs, seen = newFlagSet("t")
		o, problems, err = loadConfig(fs, seen, nil, envMap(map[string]string{"PARLEY_LOG_JSON": text}))
		require.NoError(t, err)
		require.Empty(t, problems)
		require.Equal(t, want, o.logJSON, text)
	}
}

func TestConfigCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeFile(t, dir, "bad.toml", `
adr = "127.0.0.1:8080"
addr = "nowhere"
media_max_bytes = -5
log_json = "yes"
graph_api_url = "graph.facebook.com"
`)
	notDir := writeFile(t, dir, "plain-file", "")
	code, out, _ := parley(t, []string{"PARLEY_BODY_MEMORY_BYTES=lots", "PARLEY_CONFIG=" + file},
		"config", "check", "-public-url", "ftp://x", "-data-dir", filepath.Join(notDir, "data"))
	require.Equal(t, 1, code, out)
	for _, want := range []string{
		`unknown key "adr"`,
		`addr: "nowhere" is not host:port`,
		`media_max_bytes: -5 must be positive`,
		`log_json: want true or false`,
		`graph_api_url: "graph.facebook.com" is not an absolute http(s) URL`,
		`PARLEY_BODY_MEMORY_BYTES: "lots" is not a number of bytes`,
		`-public-url: "ftp://x" is not an absolute http(s) URL`,
		`plain-file is not a directory`,
	} {
		require.Contains(t, out, want)
	}
	require.Contains(t, out, "8 problem(s)")

	// A TOML syntax error is reported with its line.
	broken := writeFile(t, dir, "broken.toml", "addr = \n")
	code, out, _ = parley(t, nil, "config", "check", "-config", broken)
	require.Equal(t, 1, code)
	require.Contains(t, out, "line 1")

	// Clean: exit 0, the settings listed with secrets masked, and the
	// data dir (missing) not created by the check.
	data := filepath.Join(dir, "fresh", "data")
	good := writeFile(t, dir, "good.toml", "addr = \"0.0.0.0:9000\"\nmeta_app_secret = \"s3cret\"\n")
	code, out, _ = parley(t, nil, "config", "check", "-config", good, "-data-dir", data)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "OK")
	require.Regexp(t, `addr\s+0\.0\.0\.0:9000`, out)
	require.Regexp(t, `meta_app_secret\s+\(set\)`, out)
	require.NotContains(t, out, "s3cret")
	_, err := os.Stat(filepath.Join(dir, "fresh"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// An unwritable data dir (not as root, which writes anywhere).
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		code, out, _ = parley(t, nil, "config", "check", "-data-dir", ro)
		require.Equal(t, 1, code)
		require.Contains(t, out, "not writable")
	}
}

// TestNotifyOptions: the SMTP relay's URL and the From address are
// checked (a bad scheme, a relay without a From), the password never
// shows, and a good pair is read.
func TestNotifyOptions(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string, args ...string) (options, []error) {
		fs, seen := newFlagSet("t")
		o, problems, err := loadConfig(fs, seen, args, envMap(env))
		require.NoError(t, err)
		return o, problems
	}
	_, problems := load(nil, "-notify-smtp-url", "http://u:hunter2@mail.example.com")
	require.Len(t, problems, 1)
	require.Contains(t, problems[0].Error(), "-notify-smtp-url")
	require.Contains(t, problems[0].Error(), "smtp://")
	require.NotContains(t, problems[0].Error(), "hunter2")
	_, problems = load(map[string]string{"PARLEY_NOTIFY_SMTP_URL": "smtp://u:hunter2@mail.example.com"})
	require.Len(t, problems, 1)
	require.Contains(t, problems[0].Error(), "needs -notify-from")
	_, problems = load(nil, "-notify-smtp-url", "smtps://mail.example.com", "-notify-from", "not an address")
	require.Len(t, problems, 1)
	require.Contains(t, problems[0].Error(), "is not an email address")
	o, problems := load(nil, "-notify-smtp-url", "smtp://u:hunter2@mail.example.com:2525", "-notify-from", "Parley <parley@example.com>")
	require.Empty(t, problems)
	require.Equal(t, "smtp://u:hunter2@mail.example.com:2525", o.notifySMTPURL)

	code, out, _ := parley(t, []string{"PARLEY_NOTIFY_SMTP_URL=smtp://u:hunter2@mail.example.com", "PARLEY_NOTIFY_FROM=parley@example.com"},
		"config", "check", "-data-dir", t.TempDir())
	require.Equal(t, 0, code, out)
	require.Regexp(t, `notify_smtp_url\s+smtp://u:x+@mail\.example\.com`, out)
	require.NotContains(t, out, "hunter2")
}

func TestServeReadsConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data-from-file")
	file := writeFile(t, dir, "parley.toml", "addr = \"127.0.0.1:1\"\ndata_dir = \""+data+"\"\nlog_json = true\n")
	// The flag wins over the file's addr; the file gives the data dir and
	// JSON logs.
	cmd := exec.Command(binary, "serve", "-config", file, "-addr", "127.0.0.1:0")
	_, addr, lines := startCmd(t, cmd, runningJSONRe)
	code, _ := get(t, "http://"+addr+"/readyz")
	require.Equal(t, http.StatusOK, code)
	_, err := os.Stat(filepath.Join(data, "db"))
	require.NoError(t, err, "the store is in the file's data dir")
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(<-lines), &first), "JSON logs")
	require.Equal(t, "Parley", first["msg"])
	require.Equal(t, file, first["config"])
}

var runningJSONRe = regexp.MustCompile(`"msg":"Parley is running","inbox":"http://([0-9.:]+)/"`)

func TestBadConfigStopsServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeFile(t, dir, "parley.toml", "adr = \"x\"\nmedia_max_bytes = 0\n")
	code, _, stderr := parley(t, nil, "-config", file, "-data-dir", filepath.Join(dir, "data"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `unknown key "adr"`)
	require.Contains(t, stderr, "media_max_bytes: 0 must be positive")
	_, err := os.Stat(filepath.Join(dir, "data"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing created")
}

func TestHelpListsEveryOption(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"serve", "-h"}, {"config", "check", "-h"}} {
		code, out, _ := parley(t, nil, args...)
		require.Equal(t, 0, code, args)
		for _, sub := range []string{"parley [serve]", "parley config check", "parley healthcheck", "parley version", "parley help"} {
			require.Contains(t, out, sub, args)
		}
		for _, op := range optionTable {
			require.Contains(t, out, op.flagName()+" "+string(op.kind), args)
			require.Contains(t, out, "env "+op.envName()+",", args)
			if op.fileKey() != "" {
				require.Contains(t, out, "file key "+op.fileKey()+",", args)
			}
		}
	}
	code, _, stderr := parley(t, nil, "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `unknown command "frobnicate"`)
	code, _, _ = parley(t, nil, "config")
	require.Equal(t, 2, code)
	code, _, stderr = parley(t, nil, "serve", "extra")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `unexpected argument "extra"`)
}

// TestREADMEListsEveryOption keeps the README's configuration table in
// step with the option table: a row per option with its flag, variable
// and file key, and no row for an option that does not exist.
func TestREADMEListsEveryOption(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	rows := map[string]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		if m := regexp.MustCompile("^\\| `(-[a-z-]+)` \\|").FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	for _, op := range optionTable {
		row, ok := rows[op.flagName()]
		require.True(t, ok, "README has no row for %s", op.flagName())
		require.Contains(t, row, "`"+op.envName()+"`", op.name)
		if op.fileKey() != "" {
			require.Contains(t, row, "`"+op.fileKey()+"`", op.name)
		}
		delete(rows, op.flagName())
	}
	require.Empty(t, rows, "README rows for options that do not exist")
}

// TestExampleConfigListsEveryOption checks deploy/parley.toml: every
// option's key is there, commented out, and the file with every line
// uncommented loads without a problem.
func TestExampleConfigListsEveryOption(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(filepath.Join(deployDir, "parley.toml"))
	require.NoError(t, err)
	re := regexp.MustCompile(`(?m)^# ([a-z_]+) = (.*)$`)
	keys := map[string]bool{}
	var uncommented strings.Builder
	for _, m := range re.FindAllStringSubmatch(string(text), -1) {
		keys[m[1]] = true
		uncommented.WriteString(m[1] + " = " + m[2] + "\n")
	}
	for _, op := range optionTable {
		if op.fileKey() != "" {
			require.True(t, keys[op.fileKey()], "deploy/parley.toml does not list %s", op.fileKey())
		}
	}
	file := writeFile(t, t.TempDir(), "all.toml", uncommented.String())
	fs, seen := newFlagSet("t")
	_, problems, err := loadConfig(fs, seen, []string{"-config", file}, envMap(nil))
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	// The Makefile's way: version and commit linked in.
	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v1.2.3-test -X main.commit=0123abcd", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command(bin, "version", "-json").Output()
	require.NoError(t, err)
	var b buildInfo
	require.NoError(t, json.Unmarshal(out, &b))
	require.Equal(t, "v1.2.3-test", b.Version)
	require.Equal(t, "0123abcd", b.Commit)
	require.Regexp(t, `^go1\.`, b.Go)
	out, err = exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.Regexp(t, `(?s)^parley v1\.2\.3-test\ncommit 0123abcd\ngo1\.\S+ \w+/\w+\n$`, string(out))

	// Without them, what the toolchain recorded.
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "feedface"}, {Key: "vcs.modified", Value: "true"}}}
	require.Equal(t, buildInfo{Version: "v0.4.0", Commit: "feedface-dirty", Go: b.Go, OS: b.OS, Arch: b.Arch}, buildFrom(bi, "", ""))
	got := buildFrom(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "")
	require.Equal(t, "(devel)", got.Version)
	require.Equal(t, "unknown", got.Commit)
	require.Equal(t, "v9", buildFrom(bi, "v9", "c").Version, "linked-in values win")
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	_, addr, _ := start(t, t.TempDir())
	code, _, stderr := parley(t, nil, "healthcheck", "-addr", addr)
	require.Equal(t, 0, code, stderr)
	// From the environment, as in the Docker image (a wildcard address is
	// asked on the loopback).
	_, port, _ := strings.Cut(addr, ":")
	code, _, stderr = parley(t, []string{"PARLEY_ADDR=0.0.0.0:" + port}, "healthcheck")
	require.Equal(t, 0, code, stderr)

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/readyz", r.URL.Path)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	code, _, stderr = parley(t, nil, "healthcheck", "-url", notReady.URL+"/readyz")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "503")
	code, _, stderr = parley(t, nil, "healthcheck", "-addr", strings.TrimPrefix(notReady.URL, "http://"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "503")

	// Nothing listening.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()
	code, _, _ = parley(t, nil, "healthcheck", "-addr", closedAddr, "-timeout", "2s")
	require.Equal(t, 1, code)

	for in, want := range map[string]string{"0.0.0.0:8080": "http://127.0.0.1:8080/readyz",
		":8080": "http://127.0.0.1:8080/readyz", "[::]:80": "http://[::1]:80/readyz", "10.0.0.1:1": "http://10.0.0.1:1/readyz"} {
		got, err := healthURL("http", in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// FuzzConfigFile loads arbitrary bytes as a configuration file: no panic,
// and a file with no problem yields values of their kinds.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("addr = \"127.0.0.1:8080\"\nmedia_max_bytes = 10\nlog_json = true\n"))
	f.Add([]byte("public_url = \"https://x.example\"\n[x]\ny = 1\n"))
	f.Add([]byte("addr = \n"))
	f.Add([]byte("media_max_bytes = 1e3\nbody_memory_bytes = \"1\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		require.NoError(t, os.WriteFile(path, text, 0o600))
		fs, seen := newFlagSet("fuzz")
		o, problems, err := loadConfig(fs, seen, []string{"-config", path}, envMap(nil))
		require.NoError(t, err)
		if len(problems) > 0 {
			return
		}
		require.Positive(t, o.mediaMaxBytes)
		require.Positive(t, o.bodyMemory)
		for _, op := range optionTable {
			if op.kind == kindBool || op.kind == kindFile {
				continue
			}
			_, err := op.parse(fmt.Sprint(deref(op.to(&o))))
			require.NoError(t, err, op.name)
		}
	})
}
