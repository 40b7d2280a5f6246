package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"
)

// version and commit are set at build time by the Makefile:
//
//	go build -ldflags "-X main.version=$(git describe --tags --always --dirty) -X main.commit=$(git rev-parse HEAD)"
//
// When they are not, currentBuild falls back to what the Go toolchain
// recorded in the binary.
var (
	version string
	commit  string
)

// buildInfo is what `parley version` prints.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// currentBuild returns the version and commit injected at build time, or
// else the module version and VCS revision the toolchain recorded.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildFrom(bi, version, commit)
}

// buildFrom fills what the linker flags left empty from bi (may be nil).
func buildFrom(bi *debug.BuildInfo, version, commit string) buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && b.Commit != "" {
			b.Commit += "-dirty"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// buildString is the version and commit in one line, as the data
// directory records its writer.
func buildString() string {
	b := currentBuild()
	return b.Version + " (" + b.Commit + ")"
}

// command runs the subcommand of args and returns the exit code.
func command(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelp(args[0])) {
		return serve(args, stderr)
	}
	switch {
	case isHelp(args[0]) || args[0] == "help":
		return usage(stdout)
	case args[0] == "serve":
		return serve(args[1:], stderr)
	case args[0] == "version":
		return versionCommand(args[1:], stdout, stderr)
	case args[0] == "config" && len(args) > 1 && args[1] == "check":
		return configCheck(args[2:], stdout, stderr)
	case args[0] == "healthcheck":
		return healthcheck(args[1:], stderr)
	case args[0] == "backup":
		return backupCommand(args[1:], stdout, stderr)
	case args[0] == "restore":
		return restoreCommand(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "parley: unknown command %q; run `parley help`\n", strings.Join(args[:min(len(args), 2)], " "))
	return 2
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// usageText lists the subcommands; usage adds the option table to it.
const usageText = `Parley is a realtime inbox engine.

Usage:
  parley [serve] [options]                 run the server (the default)
  parley config check [options]            load the configuration and report every problem at once
                                           (exit 0 when clean, 1 with the list otherwise)
  parley healthcheck [-url URL] [options]  GET /readyz of the Parley at -addr (or -url); exit 0 when ready, 1 if not
  parley backup [-url URL] [-token TOKEN] [options] DIR
                                           write a consistent backup into DIR (new or empty): with a token,
                                           the running server's (POST /api/v1/admin/backup, an owner's token);
                                           without, the data directory's, which no server may be running on
  parley restore BACKUP DATADIR            check a backup (every file's size and sha256, its format) and
                                           copy it into DATADIR (new or empty); then serve -data-dir DATADIR
  parley version [-json]                   print the version, the commit and the Go version
  parley help                              print this help

Options: a flag, its environment variable and its key in the -config file (TOML).
Flags win over the environment, which wins over the file, which wins over the defaults.
`

// usage prints the subcommands and every option of the table.
func usage(w io.Writer) int {
	fmt.Fprint(w, usageText)
	for _, op := range optionTable {
		key, def := op.fileKey(), op.def
		if key == "" {
			key = "none"
		}
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "\n  %s %s\n        %s\n        env %s, file key %s, default %s\n",
			op.flagName(), op.kind, op.help, op.envName(), key, def)
	}
	return 0
}

func versionCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b := currentBuild()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(b)
		return 0
	}
	fmt.Fprintf(stdout, "parley %s\ncommit %s\n%s %s/%s\n", b.Version, b.Commit, b.Go, b.OS, b.Arch)
	return 0
}

// configCheck loads the configuration as `parley serve` would, checks the
// data directory can be written, and prints every problem, or the
// settings (secrets masked) when there is none.
func configCheck(args []string, stdout, stderr io.Writer) int {
	fs, seen := newFlagSet("config check")
	o, problems, err := loadConfig(fs, seen, args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return usage(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley config check:", err)
		return 2
	}
	if err := checkDataDir(o.dataDir); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "parley config check: %d problem(s)\n", len(problems))
		for _, p := range problems {
			fmt.Fprintln(stdout, "  "+p.Error())
		}
		return 1
	}
	fmt.Fprintln(stdout, "parley config check: OK")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, op := range optionTable {
		v := fmt.Sprint(deref(op.to(&o)))
		switch {
		case v == "":
			v = "(none)"
		case strings.Contains(op.name, "secret") || strings.Contains(op.name, "token"):
			v = "(set)"
		case op.kind == kindSMTP:
			v = redactURL(v)
		}
		name := op.fileKey()
		if name == "" {
			name = op.name
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, v)
	}
	_ = tw.Flush()
	return 0
}

func deref(p any) any {
	switch p := p.(type) {
	case *string:
		return *p
	case *bool:
		return *p
	case *int64:
		return *p
	case *time.Duration:
		return *p
	}
	return p
}

// healthURL is the readiness URL, over scheme, of a Parley listening on addr: a
// wildcard host is asked on the loopback address.
func healthURL(scheme, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("addr %q: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// healthcheck GETs /readyz of a running Parley (the Docker image's
// HEALTHCHECK: the image has no curl) and exits 0 on 200, 1 otherwise.
func healthcheck(args []string, stderr io.Writer) int {
	fs, seen := newFlagSet("healthcheck")
	target := fs.String("url", "", "readiness URL to GET (default: /readyz at -addr)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	o, problems, err := loadConfig(fs, seen, args, os.LookupEnv)
	if err == nil {
		err = errors.Join(problems...)
	}
	if errors.Is(err, flag.ErrHelp) {
		return usage(stderr)
	}
	if err == nil && *target == "" {
		// With HTTPS on, -addr only redirects: ask the HTTPS listener.
		if o.tlsConfig(nil, nil).Enabled() {
			*target, err = healthURL("https", o.tlsAddr)
		} else {
			*target, err = healthURL("http", o.addr)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley healthcheck:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		fmt.Fprintln(stderr, "parley healthcheck:", err)
		return 1
	}
	// The probe asks the local process whether it is ready; the loopback
	// address is not a name its certificate holds, and the certificate is
	// not what this checks, so it is not verified.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a local readiness probe
	}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "parley healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "parley healthcheck: %s answered %s\n", *target, resp.Status)
		return 1
	}
	return 0
}
