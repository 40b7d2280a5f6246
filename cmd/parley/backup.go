package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/gateway/backup"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
)

// backupTempDir is where the server builds the backups it sends, inside
// the data directory so that files are hard-linked; serve empties it at
// start.
func backupTempDir(dataDir string) string { return filepath.Join(dataDir, "backup-tmp") }

// tokenEnv is the variable `parley backup` reads the API token from when
// -token is not given (a flag shows in the process list).
const tokenEnv = "PARLEY_TOKEN"

// backupCommand is `parley backup [-url URL] [-token TOKEN] [options] DIR`.
// With a token it asks the running server (POST /api/v1/admin/backup) and
// unpacks the stream into DIR, checking every file against the manifest.
// Without one it opens the data directory itself, which holds Pebble's
// lock: it refuses while a server runs on it (the lock is the server's),
// and a server cannot start while it runs.
func backupCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
		fmt.Fprintln(stderr, "parley backup: usage: parley backup [-url URL] [-token TOKEN] [options] DIR")
		return 2
	}
	dir := args[len(args)-1]
	fs, seen := newFlagSet("backup")
	target := fs.String("url", "", "address of the running Parley (default: the one at -addr)")
	token := fs.String("token", "", "the server's admin token (-admin-token) or, without one configured, an owner's API token; default $"+tokenEnv+"; none backs up the data directory directly")
	o, problems, err := loadConfig(fs, seen, args[:len(args)-1], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return usage(stderr)
	}
	if err == nil {
		err = errors.Join(problems...)
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley backup:", err)
		return 2
	}
	if *token == "" {
		*token = os.Getenv(tokenEnv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var m backup.Manifest
	if *token != "" {
		base := *target
		if base == "" {
			base, err = serverBase(o)
		}
		if err == nil {
			m, err = backupFromServer(ctx, base, *token, dir)
		}
	} else {
		m, err = backupDataDir(o, dir)
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "parley backup: %d files, %d bytes, as of %s, in %s\n", len(m.Files), m.Bytes(),
		m.CreatedAt.Format(time.RFC3339), dir)
	return 0
}

// serverBase is the base URL of the Parley that o configures.
func serverBase(o options) (string, error) {
	scheme, addr := "http", o.addr
	if o.tlsConfig(nil, nil).Enabled() {
		scheme, addr = "https", o.tlsAddr
	}
	u, err := healthURL(scheme, addr)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(u, "/readyz"), nil
}

// backupFromServer asks the server at base for a backup and unpacks it
// into dir.
func backupFromServer(ctx context.Context, base, token, dir string) (backup.Manifest, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/admin/backup")
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("-url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return backup.Manifest{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "https" && ip != nil && ip.IsLoopback() {
		// The local server's certificate names its public host, not
		// the loopback address this reaches it on.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the local process
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("asking %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return backup.Manifest{}, fmt.Errorf("%s answered %s: %s (%s)", u.Redacted(), resp.Status, e.Error.Message, e.Error.Code)
		}
		return backup.Manifest{}, fmt.Errorf("%s answered %s", u.Redacted(), resp.Status)
	}
	return backup.ReadTar(resp.Body, dir)
}

// backupDataDir backs up the data directory of o, on which no server
// runs, into dir.
func backupDataDir(o options, dir string) (backup.Manifest, error) {
	dbDir := filepath.Join(o.dataDir, "db")
	if ents, err := os.ReadDir(dbDir); err != nil || len(ents) == 0 {
		return backup.Manifest{}, fmt.Errorf("%s holds no store (-data-dir %s)", dbDir, o.dataDir)
	}
	store, err := persistence.Open(persistence.Options{Dir: dbDir, Logger: slog.New(slog.DiscardHandler), Version: buildString()})
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("%w\n(is a Parley server running on %s? then pass -token, or $%s, an owner's API token, to back it up through the server)",
			err, o.dataDir, tokenEnv)
	}
	files, err := media.NewStore(filepath.Join(o.dataDir, "media"), o.mediaMaxBytes)
	if err == nil {
		var m backup.Manifest
		m, err = backup.Create(store, files, dir, time.Now(), buildString())
		if cerr := store.Close(); err == nil && cerr != nil {
			err = cerr
		}
		return m, err
	}
	_ = store.Close()
	return backup.Manifest{}, err
}

// restoreCommand is `parley restore BACKUP DATADIR`.
func restoreCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(stderr, "parley restore: usage: parley restore BACKUP DATADIR (DATADIR new or empty)")
		return 2
	}
	m, err := backup.Restore(args[0], args[1])
	if err != nil {
		fmt.Fprintln(stderr, "parley restore:", err)
		return 1
	}
	fmt.Fprintf(stdout, "parley restore: %d files, %d bytes, as of %s (Parley %s), in %s; start it with `parley serve -data-dir %s`\n",
		len(m.Files), m.Bytes(), m.CreatedAt.Format(time.RFC3339), m.Parley, args[1], args[1])
	return 0
}
