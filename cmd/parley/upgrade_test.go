package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/upgradefixture"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// A data directory written by a newer Parley (a format this binary does
// not know) is refused: the process exits 1 with the message that says
// so, before serving and before making anything in the data directory.
func TestRefusesANewerDataDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := persistence.Open(persistence.Options{Dir: filepath.Join(dir, "db")})
	require.NoError(t, err)
	require.NoError(t, s.SetFormatVersion(persistence.FormatVersion+1))
	require.NoError(t, s.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "-addr", "127.0.0.1:0", "-data-dir", dir).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, string(out))
	require.Equal(t, 1, ee.ExitCode(), string(out))
	require.Contains(t, string(out), fmt.Sprintf("is format %d (written by Parley test), this Parley understands up to %d; upgrade Parley or restore a backup",
		persistence.FormatVersion+1, persistence.FormatVersion))
	require.NotContains(t, string(out), "Parley is running")
	_, err = os.Stat(filepath.Join(dir, "media"))
	require.True(t, errors.Is(err, os.ErrNotExist), "the media directory was made: %v", err)
}

// The binary opens the data directory an earlier Parley wrote (format 1):
// it logs each migration step, then serves and is ready.
func TestMigratesAnOlderDataDirectory(t *testing.T) {
	t.Parallel()
	dir := upgradefixture.Unpack(t)
	cmd, addr, lines := start(t, dir)
	code, _ := get(t, "http://"+addr+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var log strings.Builder
	for l := range lines {
		log.WriteString(l + "\n")
	}
	require.NoError(t, cmd.Wait())
	require.Contains(t, log.String(), fmt.Sprintf(`msg="Migrated the data directory" from=%d to=%d`, upgradefixture.Format, persistence.FormatVersion))
	require.Contains(t, log.String(), fmt.Sprintf(`msg="Migrated the data directory" step="media reference index" done=4 total=%d`,
		persistence.FormatVersion-upgradefixture.Format))
}
