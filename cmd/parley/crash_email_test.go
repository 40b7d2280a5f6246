package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/internal/imaptest"
	"github.com/parleyhq/parley/persistence"
)

// freeAddr is a 127.0.0.1 address no one listens on (a small race with
// other processes, as for any fixed port).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func crashMail(i int) (from string, raw []byte) {
	from = fmt.Sprintf("customer%d@example.com", i)
	return from, []byte(strings.ReplaceAll(fmt.Sprintf("From: %s\nTo: support@shop.test\nSubject: Question %d\nMessage-ID: <crash.%d@example.com>\n"+
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nWhere is order %d?\n", from, i, i, i), "\n", "\r\n"))
}

// deliver sends mail i over a new connection; nil means a 250.
func deliver(addr string, i int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	from, raw := crashMail(i)
	return c.SendMail(from, []string{"support@shop.test"}, strings.NewReader(string(raw)))
}

// A mail answered 250 by the SMTP receiver survives kill -9, and a
// sending server's retries of every mail (answered or cut short) store
// each Message-ID exactly once.
func TestKillNineSMTP(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: slow")
	}
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	smtpAddr := freeAddr(t)
	p := startWithEnv(t, dataDir, graph.srv.URL, "PARLEY_SMTP_ADDR="+smtpAddr)
	cl := &http.Client{Timeout: 15 * time.Second}
	body, _ := json.Marshal(map[string]any{"channel": "email", "account_id": "support@shop.test", "name": "x", "access_token": "pw",
		"email": map[string]any{"smtp_host": "127.0.0.1", "smtp_port": 9}})
	code, resp, err := crashRequest(context.Background(), cl, http.MethodPost, p.url+"/api/v1/channels", body, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, string(resp))
	require.Eventually(t, func() bool { return deliver(smtpAddr, 0) == nil }, 10*time.Second, 50*time.Millisecond, "the receiver answers")

	// Four senders deliver mails 1, 2, ... until the kill.
	var (
		mu    sync.Mutex
		acked = map[int]bool{0: true}
		tried = 1
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 1 + g; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				err := deliver(smtpAddr, i)
				mu.Lock()
				tried = max(tried, i+1)
				if err == nil {
					acked[i] = true
				}
				mu.Unlock()
				if err != nil {
					return // the kill
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	p.kill9(t)
	close(stop)
	wg.Wait()
	require.Greater(t, len(acked), 10, "mails were delivered before the kill")

	ws := func(s *persistence.Store) engine.ID {
		tok, err := s.TokenBySecret(crashOwnerToken)
		require.NoError(t, err)
		return tok.WorkspaceID
	}
	s, err := persistence.Open(persistence.Options{Dir: dataDir + "/db"})
	require.NoError(t, err)
	w := ws(s)
	for i := range acked {
		_, ok, err := s.LookupChannelMessage(w, engine.ChannelEmail, fmt.Sprintf("crash.%d@example.com", i))
		require.NoError(t, err)
		require.True(t, ok, "mail %d was answered 250 before the kill: it is stored", i)
	}
	require.NoError(t, s.Close())

	// The sending servers retry everything they sent.
	smtpAddr = freeAddr(t)
	p = startWithEnv(t, dataDir, graph.srv.URL, "PARLEY_SMTP_ADDR="+smtpAddr)
	require.Eventually(t, func() bool { return deliver(smtpAddr, 0) == nil }, 10*time.Second, 50*time.Millisecond, "the receiver answers")
	for i := range tried {
		require.NoError(t, deliver(smtpAddr, i), "mail %d", i)
	}
	p.kill9(t)

	s, err = persistence.Open(persistence.Options{Dir: dataDir + "/db"})
	require.NoError(t, err)
	defer s.Close()
	w = ws(s)
	for i := range tried {
		from, _ := crashMail(i)
		th, ok, err := s.LookupThread(w, "support@shop.test", engine.ThreadUser(from, fmt.Sprintf("question %d", i)))
		require.NoError(t, err)
		require.True(t, ok, "mail %d", i)
		msgs, err := s.Messages(w, th.ConversationID, 0, 10)
		require.NoError(t, err)
		require.Len(t, msgs, 1, "mail %d is stored exactly once", i)
	}
	t.Logf("%d mails answered 250 before the kill, %d tried; each stored once after the retries", len(acked), tried)
}

// A mail read from an IMAP mailbox is stored by the time the cursor moves
// past it, even through kill -9; after the restart the reader goes on
// from the cursor and every mail of the mailbox is stored exactly once.
func TestKillNineIMAP(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: slow")
	}
	box := imaptest.New(t)
	certFile := filepath.Join(t.TempDir(), "imap-ca.pem")
	require.NoError(t, os.WriteFile(certFile, box.CertPEM(), 0o600))
	env := []string{"SSL_CERT_FILE=" + certFile, "PARLEY_IMAP_POLL_INTERVAL=50ms"} // the test server never wakes IDLE
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	p := startWithEnv(t, dataDir, graph.srv.URL, env...)
	cl := &http.Client{Timeout: 15 * time.Second}
	host, port, err := net.SplitHostPort(box.Addr)
	require.NoError(t, err)
	portN, err := strconv.Atoi(port)
	require.NoError(t, err)
	body, _ := json.Marshal(map[string]any{"channel": "email", "account_id": "support@shop.test", "name": "x", "access_token": "pw",
		"email": map[string]any{"smtp_host": "127.0.0.1", "smtp_port": 9,
			"imap": map[string]any{"host": host, "port": portN, "security": "tls", "username": box.User, "password": box.Password}}})
	code, resp, err := crashRequest(context.Background(), cl, http.MethodPost, p.url+"/api/v1/channels", body, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, string(resp))
	require.Eventually(t, func() bool { return strings.Contains(p.log.tail(), "IMAP mailbox connected") }, 15*time.Second, 10*time.Millisecond,
		"the reader logs in and sets its cursor")

	// Mails come in until the kill.
	const total = 120
	var appended atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= total; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			_, raw := crashMail(i)
			box.Append(raw)
			appended.Store(int32(i))
		}
	}()
	time.Sleep(700 * time.Millisecond)
	p.kill9(t)
	close(stop)
	<-done

	ws := func(s *persistence.Store) engine.ID {
		tok, err := s.TokenBySecret(crashOwnerToken)
		require.NoError(t, err)
		return tok.WorkspaceID
	}
	stored := func(s *persistence.Store, i int) int {
		from, _ := crashMail(i)
		th, ok, err := s.LookupThread(ws(s), "support@shop.test", engine.ThreadUser(from, fmt.Sprintf("question %d", i)))
		require.NoError(t, err)
		if !ok {
			return 0
		}
		msgs, err := s.Messages(ws(s), th.ConversationID, 0, 10)
		require.NoError(t, err)
		return len(msgs)
	}
	s, err := persistence.Open(persistence.Options{Dir: dataDir + "/db"})
	require.NoError(t, err)
	cur, ok, err := s.IMAPCursor("support@shop.test", "INBOX")
	require.NoError(t, err)
	require.True(t, ok)
	passed := int(cur.LastUID) - 6 // the mailbox held UID 6 when connected; mail i has UID 6+i
	require.Greater(t, passed, 0, "the cursor moved before the kill")
	for i := 1; i <= passed; i++ {
		require.Equal(t, 1, stored(s, i), "mail %d: the cursor passed it, so it is stored once", i)
	}
	require.NoError(t, s.Close())
	n := int(appended.Load())
	t.Logf("%d mails in the mailbox at the kill, the cursor past %d", n, passed)

	// The restart reads the rest.
	p = startWithEnv(t, dataDir, graph.srv.URL, env...)
	require.Eventually(t, func() bool {
		code, resp, err := crashRequest(context.Background(), cl, http.MethodGet, p.url+"/api/v1/conversations?channel=email&limit=200", nil, apiHeaders())
		if err != nil || code != http.StatusOK {
			return false
		}
		var v struct {
			Conversations []json.RawMessage `json:"conversations"`
		}
		return json.Unmarshal(resp, &v) == nil && len(v.Conversations) >= n
	}, 30*time.Second, 50*time.Millisecond, "every mail comes in after the restart")
	p.kill9(t)
	s, err = persistence.Open(persistence.Options{Dir: dataDir + "/db"})
	require.NoError(t, err)
	defer s.Close()
	for i := 1; i <= n; i++ {
		require.Equal(t, 1, stored(s, i), "mail %d is stored exactly once", i)
	}
	cur, _, err = s.IMAPCursor("support@shop.test", "INBOX")
	require.NoError(t, err)
	require.Equal(t, uint32(6+n), cur.LastUID)
}
