package gateway_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/backup"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// POST /api/v1/admin/backup is an owner's: admins and agents get 403.
// The owner gets a tar stream that unpacks into a checked backup holding
// the messages and media files, which restores into a store that opens;
// the directory it was built in is removed once sent.
func TestBackupAPI(t *testing.T) {
	t.Parallel()
	tmp := filepath.Join(t.TempDir(), "backup-tmp")
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.BackupDir = tmp; c.Version = "test build" })
	admin := e.addUser("backup-admin@example.com", engine.RoleAdmin, "backup admin pw 1")
	agent := e.addUser("backup-agent@example.com", engine.RoleAgent, "backup agent pw 1")
	for _, tok := range []string{admin.Token, agent.Token} {
		code, body := e.api("POST", "/api/v1/admin/backup", tok, nil)
		require.Equal(t, http.StatusForbidden, code, string(body))
		require.Equal(t, "forbidden", errorCode(t, body))
	}
	code, body := e.api("POST", "/api/v1/admin/backup", "", nil)
	require.Equal(t, http.StatusUnauthorized, code, string(body))

	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.backup.1", "15550301", "Una", "before the backup"))
	require.Equal(t, http.StatusOK, code, string(body))
	_, digest, _, err := e.media.Put(e.ws, "image/png", strings.NewReader("a png"))
	require.NoError(t, err)
	e.media.Unpin(e.ws, digest)

	req, err := http.NewRequest("POST", e.url+"/api/v1/admin/backup", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/x-tar", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), `filename="parley-backup-`)
	dir := filepath.Join(t.TempDir(), "backup")
	m, err := backup.ReadTar(resp.Body, dir)
	require.NoError(t, err)
	require.Equal(t, "test build", m.Parley)
	_, err = backup.Verify(dir)
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() error { // the build directory is gone once sent
		ents, err := os.ReadDir(tmp)
		if err == nil && len(ents) > 0 {
			return os.ErrExist
		}
		return nil
	})

	data := filepath.Join(t.TempDir(), "data")
	_, err = backup.Restore(dir, data)
	require.NoError(t, err)
	st, err := persistence.Open(persistence.Options{Dir: filepath.Join(data, "db")})
	require.NoError(t, err)
	defer st.Close()
	ref, ok, err := st.LookupChannelMessage(e.ws, engine.ChannelWhatsApp, "wamid.backup.1")
	require.NoError(t, err)
	require.True(t, ok)
	msg, err := st.Message(e.ws, ref.ConversationID, ref.Seq)
	require.NoError(t, err)
	require.Equal(t, "before the backup", msg.Text)
	files, err := media.NewStore(filepath.Join(data, "media"), 1<<20)
	require.NoError(t, err)
	f, typ, err := files.Open(e.ws, digest)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, "image/png", typ)
	var got bytes.Buffer
	_, err = got.ReadFrom(f)
	require.NoError(t, err)
	require.Equal(t, "a png", got.String())
}

// One backup at a time: another asked while one is being sent gets 409
// backup_in_progress, and the next one after it works.
func TestBackupOneAtATime(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "backup-tmp")
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.BackupDir = tmp })
	built := make(chan struct{}, 1)
	release := make(chan struct{})
	gateway.SetBackupBuilt(t, func() {
		built <- struct{}{}
		<-release
	})
	first := make(chan error, 1)
	go func() {
		req, err := http.NewRequest("POST", e.url+"/api/v1/admin/backup", nil)
		if err != nil {
			first <- err
			return
		}
		req.Header.Set("Authorization", "Bearer "+ownerToken)
		resp, err := e.client.Do(req)
		if err != nil {
			first <- err
			return
		}
		defer resp.Body.Close()
		_, err = backup.ReadTar(resp.Body, filepath.Join(t.TempDir(), "first"))
		first <- err
	}()
	<-built
	code, body := e.api("POST", "/api/v1/admin/backup", ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "backup_in_progress", errorCode(t, body))
	close(release)
	require.NoError(t, <-first)

	gateway.SetBackupBuilt(t, nil)
	code, body = e.api("POST", "/api/v1/admin/backup", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
}
