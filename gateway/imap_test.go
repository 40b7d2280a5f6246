package gateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
	"github.com/parleyhq/parley/internal/imaptest"
	"github.com/parleyhq/parley/persistence"
)

// newIMAPEnv is a Parley whose email account submits through relay and
// reads the IMAP server's INBOX (password: the IMAP password to give),
// with short IMAP waits and the health monitor on.
func newIMAPEnv(t *testing.T, relay *mailtest.Server, box *imaptest.IMAP, password string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), graph: newFakeGraph(t), clock: clockwork.NewRealClock(),
		client: &http.Client{Timeout: 30 * time.Second}, emailTLS: relay.TLSConfig(),
		gwTweak: func(c *gateway.Config) {
			reg := prometheus.NewRegistry()
			c.Registerer, c.Gatherer = reg, reg
			c.ChannelHealthInterval = time.Hour
			c.IMAPPollInterval, c.IMAPBackoff = 100*time.Millisecond, 20*time.Millisecond
		}}
	e.start()
	t.Cleanup(e.stop)
	code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{
		"channel": "email", "account_id": shopAddr, "name": "Support", "access_token": relay.Password, "email": imapSettings(t, relay, box, password)})
	require.Equal(t, http.StatusCreated, code, string(body))
	assert.NotContains(t, string(body), `"password":`, "the IMAP password is never shown")
	assert.Contains(t, string(body), `"has_password":true`)
	return e
}

func imapSettings(t *testing.T, relay *mailtest.Server, box *imaptest.IMAP, password string) map[string]any {
	hostPort := func(addr string) (string, int) {
		host, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		p, err := strconv.Atoi(port)
		require.NoError(t, err)
		return host, p
	}
	sh, sp := hostPort(relay.Addr)
	ih, ip := hostPort(box.Addr)
	return map[string]any{"smtp_host": sh, "smtp_port": sp, "smtp_security": "starttls", "smtp_username": relay.User,
		"imap": map[string]any{"host": ih, "port": ip, "security": "tls", "username": box.User, "password": password}}
}

// cursor is the stored cursor of the account's INBOX.
func (e *env) cursor() (persistence.IMAPCursor, bool) {
	e.t.Helper()
	c, ok, err := e.store.IMAPCursor(shopAddr, "INBOX")
	require.NoError(e.t, err)
	return c, ok
}

// health is the account's health state as the API shows it.
func (e *env) health(id string) string {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/channels/email/"+id, ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var v struct {
		Health struct {
			State string `json:"state"`
			Code  string `json:"code"`
		} `json:"health"`
	}
	require.NoError(e.t, json.Unmarshal(body, &v))
	return v.Health.State + "/" + v.Health.Code
}

// threadMessages counts the messages of a sender's thread (0 when there
// is no thread).
func (e *env) threadMessages(user, thread string) int {
	e.t.Helper()
	conv, ok := e.emailThread(user, thread)
	if !ok {
		return 0
	}
	return len(e.messages(conv))
}

func imapMail(i int) []byte {
	return mailFrom(fmt.Sprintf("Customer %d <c%d@example.com>", i, i), fmt.Sprintf("Question %d", i), fmt.Sprintf("imap.%d@example.com", i), "",
		fmt.Sprintf("Where is order %d?", i))
}

// An IMAP mailbox: the mail in it before it was connected is not
// imported; new mail is stored once, each; a restart goes on from the
// cursor (a mail that came meanwhile stored, none twice); a renumbered
// folder (new UIDVALIDITY) loses and duplicates nothing; and the account
// is connected.
func TestEmailIMAPMailbox(t *testing.T) {
	relay := mailtest.New(t)
	box := relay.NewIMAP(t)
	e := newIMAPEnv(t, relay, box, box.Password)
	eventually(t, 10*time.Second, func() error {
		if c, ok := e.cursor(); !ok || c.LastUID != 6 || c.UIDValidity != 1 {
			return fmt.Errorf("cursor %+v", c)
		}
		return nil
	})
	assert.Zero(t, e.threadMessages("contact@example.org", "a little message, just for you"), "mail from before the connection is not imported")

	box.Append(imapMail(1))
	box.Append(imapMail(2))
	eventually(t, 10*time.Second, func() error {
		if c, _ := e.cursor(); c.LastUID != 8 {
			return fmt.Errorf("cursor at %d", c.LastUID)
		}
		return nil
	})
	for i := 1; i <= 2; i++ {
		assert.Equal(t, 1, e.threadMessages(fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("question %d", i)), "mail %d stored once", i)
	}
	conv, _ := e.emailThread("c1@example.com", "question 1")
	assert.Equal(t, "Question 1\n\nWhere is order 1?", e.messages(conv)[0].Content.Text)
	eventually(t, 10*time.Second, func() error {
		if h := e.health(shopAddr); h != "connected/" {
			return errors.New(h)
		}
		return nil
	})

	// A restart: the mail that came while Parley was down is read, the
	// others are not read again.
	e.stop()
	box.Append(imapMail(3))
	e.start()
	eventually(t, 10*time.Second, func() error {
		if n := e.threadMessages("c3@example.com", "question 3"); n != 1 {
			return fmt.Errorf("mail 3: %d messages", n)
		}
		if c, _ := e.cursor(); c.LastUID != 9 {
			return fmt.Errorf("cursor at %d", c.LastUID)
		}
		return nil
	})

	// The server renumbers the folder; one more mail comes.
	box.Renumber(2, 100)
	box.Append(imapMail(4))
	eventually(t, 10*time.Second, func() error {
		if c, _ := e.cursor(); c.UIDValidity != 2 || c.LastUID != 104 {
			return fmt.Errorf("cursor %+v", c)
		}
		if n := e.threadMessages("c4@example.com", "question 4"); n != 1 {
			return fmt.Errorf("mail 4: %d messages", n)
		}
		return nil
	})
	for i := 1; i <= 3; i++ {
		assert.Equal(t, 1, e.threadMessages(fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("question %d", i)), "mail %d still once", i)
	}
	assert.Zero(t, e.threadMessages("contact@example.org", "a little message, just for you"), "the old mail is not read again after the renumbering")
	box.Append(imapMail(5))
	eventually(t, 10*time.Second, func() error {
		if n := e.threadMessages("c5@example.com", "question 5"); n != 1 {
			return fmt.Errorf("mail 5: %d messages", n)
		}
		return nil
	})
	assert.Equal(t, 6, box.Count(), "Parley reads, it never deletes")
}

// A refused IMAP login marks the account expired (imap_auth); a new
// password brings it back to connected and its mail in.
func TestEmailIMAPAuthFailureSetsHealth(t *testing.T) {
	relay := mailtest.New(t)
	box := relay.NewIMAP(t)
	e := newIMAPEnv(t, relay, box, "wrong-password")
	eventually(t, 10*time.Second, func() error {
		if h := e.health(shopAddr); h != "expired/imap_auth" {
			return errors.New(h)
		}
		return nil
	})
	_, ok := e.cursor()
	assert.False(t, ok, "no cursor without a login")
	code, metrics := e.api("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `parley_email_imap_session_failures_total\{reason="imap_auth"\} [1-9]`, string(metrics))
	assert.Contains(t, string(metrics), `parley_email_imap_session_failures_total{reason="imap_unreachable"} 0`)

	code, body := e.api("PATCH", "/api/v1/channels/email/"+shopAddr, ownerToken, map[string]any{"email": imapSettings(t, relay, box, box.Password)})
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if h := e.health(shopAddr); h != "connected/" {
			return errors.New(h)
		}
		if _, ok := e.cursor(); !ok {
			return errors.New("no cursor yet")
		}
		return nil
	})
	box.Append(imapMail(1))
	eventually(t, 10*time.Second, func() error {
		if n := e.threadMessages("c1@example.com", "question 1"); n != 1 {
			return fmt.Errorf("mail 1: %d messages", n)
		}
		return nil
	})

	// A form that never saw the password sends it back empty: it is kept.
	s := imapSettings(t, relay, box, "")
	code, body = e.api("PATCH", "/api/v1/channels/email/"+shopAddr, ownerToken, map[string]any{"email": s})
	require.Equal(t, http.StatusOK, code, string(body))
	acct, err := e.store.ChannelAccount(engine.ChannelEmail, shopAddr)
	require.NoError(t, err)
	assert.Equal(t, box.Password, acct.Email.IMAP.Password)

	// Disconnecting the account stops its poller and drops its cursor.
	code, body = e.api("DELETE", "/api/v1/channels/email/"+shopAddr, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	_, ok = e.cursor()
	assert.False(t, ok)
}
