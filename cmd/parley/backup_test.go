package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/backup"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// runParley runs a parley subcommand of the binary and returns its exit
// code and output.
func runParley(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	require.NoError(t, err)
	return 0, out.String()
}

// A backup taken through the running server while webhooks keep coming
// restores into a fresh data directory on which Parley starts and shows
// every message acknowledged before the backup began, with indexes that
// agree with the records.
func TestBackupUnderWebhookLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("backup test: slow")
	}
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	graph.faulty.Store(false)
	p := startWithEnv(t, dataDir, graph.srv.URL)
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer cl.CloseIdleConnections()
	connectCrashChannel(t, cl, p.url)

	s := &crashState{wamids: map[string]*crashWamid{}, isAcked: map[*crashDelivery]bool{},
		pending: map[*crashDelivery]bool{}, non200: map[int]int{}}
	l := &restartLoad{s: s, next: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := range crashWebhookers {
		wg.Go(func() { l.webhooker(ctx, t, cl, p.url, g) })
	}
	waitFor(t, 30*time.Second, func() error {
		if n := l.ok200.Load(); n < 300 {
			return fmt.Errorf("%d webhooks answered", n)
		}
		return nil
	})

	// Without a token and with the server running, the data directory
	// is the server's: refused, nothing written.
	refused := filepath.Join(t.TempDir(), "refused")
	code, out := runParley(t, nil, "backup", "-data-dir", dataDir, refused)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "pass -token")
	require.NoFileExists(t, filepath.Join(refused, backup.ManifestName))

	// What was acknowledged before the backup began.
	s.mu.Lock()
	before := map[string]crashWamid{}
	for id, w := range s.wamids {
		if w.acked {
			before[id] = *w
		}
	}
	s.mu.Unlock()
	ackedBefore := l.ok200.Load()
	dir := filepath.Join(t.TempDir(), "backup")
	t0 := time.Now()
	code, out = runParley(t, []string{tokenEnv + "=" + crashOwnerToken}, "backup", "-url", p.url, dir)
	took := time.Since(t0)
	require.Equal(t, 0, code, out)
	ackedDuring := l.ok200.Load() - ackedBefore
	waitFor(t, 15*time.Second, func() error { // the load goes on after the backup
		if n := l.ok200.Load(); n < ackedBefore+ackedDuring+100 {
			return fmt.Errorf("%d webhooks answered", n)
		}
		return nil
	})
	cancel()
	wg.Wait()
	require.Zero(t, l.resets.Load()+l.refused503.Load()+l.refusedConn.Load(), "webhooks refused during the backup")
	m, err := backup.Verify(dir)
	require.NoError(t, err)

	// The backup's metrics.
	code, metrics, err := crashRequest(context.Background(), cl, http.MethodGet, p.url+"/metrics", nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(metrics), `parley_backups_total{result="ok"} 1`)
	require.Contains(t, string(metrics), `parley_backup_duration_seconds_count 1`)
	require.NotContains(t, string(metrics), "parley_backup_last_success_timestamp_seconds 0\n")

	// Restore refuses a data directory in use, then restores into a new one.
	code, out = runParley(t, nil, "restore", dir, dataDir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "not empty")
	restored := filepath.Join(t.TempDir(), "restored")
	code, out = runParley(t, nil, "restore", dir, restored)
	require.Equal(t, 0, code, out)
	_, err = p.sigterm(t)
	require.NoError(t, err, "%s", p.log.tail())

	// Parley starts on the restored data directory and serves every
	// message acknowledged before the backup.
	p2 := startWithEnv(t, restored, graph.srv.URL)
	served := map[string]string{} // channel message id → text, through the API
	code, body, err := crashRequest(context.Background(), cl, http.MethodGet, p2.url+"/api/v1/conversations?limit=200", nil, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, string(body))
	var list struct {
		Conversations []engine.Conversation `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.NotEmpty(t, list.Conversations)
	for _, conv := range list.Conversations {
		var beforeSeq uint64
		for {
			u := fmt.Sprintf("%s/api/v1/conversations/%s/messages?limit=200", p2.url, conv.ID)
			if beforeSeq > 0 {
				u += fmt.Sprintf("&before=%d", beforeSeq)
			}
			code, body, err := crashRequest(context.Background(), cl, http.MethodGet, u, nil, apiHeaders())
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, string(body))
			var page struct {
				Messages []engine.Message `json:"messages"`
			}
			require.NoError(t, json.Unmarshal(body, &page))
			if len(page.Messages) == 0 {
				break
			}
			for _, msg := range page.Messages {
				if msg.ChannelMessageID != "" {
					served[msg.ChannelMessageID] = msg.Text
				}
				if beforeSeq == 0 || msg.Seq < beforeSeq {
					beforeSeq = msg.Seq
				}
			}
			if beforeSeq <= 1 {
				break
			}
		}
	}
	for id, w := range before {
		text, ok := served[id]
		require.True(t, ok, "message %s acknowledged before the backup is not served after the restore", id)
		require.Equal(t, w.text, text)
	}
	_, err = p2.sigterm(t)
	require.NoError(t, err, "%s", p2.log.tail())

	// No torn state: each index agrees with the records.
	st, err := persistence.Open(persistence.Options{Dir: filepath.Join(restored, "db")})
	require.NoError(t, err)
	defer st.Close()
	tok, err := st.TokenBySecret(crashOwnerToken)
	require.NoError(t, err)
	ws := tok.WorkspaceID
	inBackup, threads := 0, 0
	for i := range crashUsers {
		th, ok, err := st.LookupThread(ws, crashPhoneID, crashUser(i))
		require.NoError(t, err)
		if !ok {
			continue
		}
		threads++
		conv, err := st.Conversation(ws, th.ConversationID)
		require.NoError(t, err, "the thread index of %s points at no conversation", crashUser(i))
		msgs, err := st.Messages(ws, conv.ID, 0, 1<<30)
		require.NoError(t, err)
		require.Len(t, msgs, int(conv.LastSeq), "conversation %s: header's last seq against its messages", conv.ID)
		for _, msg := range msgs {
			if msg.Direction != engine.DirIn {
				continue
			}
			inBackup++
			_, posted := s.wamids[msg.ChannelMessageID]
			require.True(t, posted, "stored %s was never posted", msg.ChannelMessageID)
			ref, ok, err := st.LookupChannelMessage(ws, engine.ChannelWhatsApp, msg.ChannelMessageID)
			require.NoError(t, err)
			require.True(t, ok, "%s has no dedupe entry", msg.ChannelMessageID)
			require.Equal(t, persistence.MessageRef{ConversationID: conv.ID, Seq: msg.Seq}, ref)
		}
	}
	n, err := st.CountConversations(ws)
	require.NoError(t, err)
	require.Equal(t, threads, n, "conversations counted against threads")
	require.Len(t, list.Conversations, threads, "the inbox list against the threads")
	for id := range before {
		_, ok, err := st.LookupChannelMessage(ws, engine.ChannelWhatsApp, id)
		require.NoError(t, err)
		require.True(t, ok, "%s acknowledged before the backup", id)
	}
	require.NoError(t, st.Close())

	// With no server running, parley backup opens the data directory
	// itself, and what it writes restores too.
	offline := filepath.Join(t.TempDir(), "offline")
	code, out = runParley(t, nil, "backup", "-data-dir", restored, offline)
	require.Equal(t, 0, code, out)
	code, out = runParley(t, nil, "restore", offline, filepath.Join(t.TempDir(), "again"))
	require.Equal(t, 0, code, out)

	t.Logf("backup through the API under %d webhook senders: %v, %d files, %d bytes; %d messages acknowledged before it began, %d in it (%d deliveries answered during it), all served after the restore",
		crashWebhookers, took.Round(time.Millisecond), len(m.Files), m.Bytes(), len(before), inBackup, ackedDuring)
}
