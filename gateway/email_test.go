package gateway_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/media"
)

const shopAddr = "support@shop.test"

// newEmailEnv is a Parley with an email account connected (and an alias)
// and its SMTP receiver on 127.0.0.1; it returns the receiver's address.
func newEmailEnv(t *testing.T) (*env, string) {
	t.Helper()
	mediaDir := t.TempDir()
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, nil, func(c *gateway.Config) {
		c.Registerer, c.Gatherer = reg, reg
		big, err := media.NewStore(mediaDir, 64<<20) // a 25 MB attachment and the whole mail
		require.NoError(t, err)
		c.Media = big
	})
	code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{
		"channel": "email", "account_id": shopAddr, "name": "Support", "access_token": "smtp-password",
		"email": map[string]any{"smtp_host": "127.0.0.1", "smtp_port": 587, "addresses": []string{"help@shop.test"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	assert.NotContains(t, string(body), "smtp-password", "the SMTP password is never shown")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.gw.ServeSMTP(ln, "mx.shop.test", 0) }()
	return e, ln.Addr().String()
}

// sendMail speaks SMTP to addr and returns the error of the first
// refused command (nil for a 250 to DATA).
func sendMail(t *testing.T, addr, from string, to []string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func mailFrom(from, subject, id, extra, body string) []byte {
	return crlf("From: " + from + "\nTo: Support <" + shopAddr + ">\nSubject: " + subject + "\nMessage-ID: <" + id + ">\n" +
		extra + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n")
}

func (e *env) emailThread(user, thread string) (engine.ID, bool) {
	e.t.Helper()
	th, ok, err := e.store.LookupThread(e.ws, shopAddr, engine.ThreadUser(user, thread))
	require.NoError(e.t, err)
	return th.ConversationID, ok
}

// SMTP into a real Parley: threads by In-Reply-To and by subject, a
// duplicate stored once, a non-UTF-8 charset, an auto-reply and a bounce
// opening nothing, hostile HTML reduced to its text, and no relaying.
func TestEmailSMTPInbound(t *testing.T) {
	e, addr := newEmailEnv(t)

	var smtpErr *smtp.SMTPError
	err := sendMail(t, addr, "spammer@example.net", []string{"victim@elsewhere.test"}, mailFrom("spammer@example.net", "hi", "s@x", "", "relay me"))
	require.True(t, errors.As(err, &smtpErr), "%v", err)
	assert.Equal(t, 550, smtpErr.Code, "no open relay: only connected addresses")

	latin1 := append(crlf("From: =?ISO-8859-1?Q?Andr=E9?= <Ann@Example.com>\nTo: "+shopAddr+"\nSubject: Order 42\nMessage-ID: <m1@example.com>\n"+
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"),
		[]byte("Gr\xfc\xdfe, where is my order?\r\n\r\n-- \r\nAndr\xe9\r\n")...)
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, latin1))
	order, ok := e.emailThread("ann@example.com", "order 42")
	require.True(t, ok, "the mail opened a conversation")
	msgs := e.messages(order)
	require.Len(t, msgs, 1)
	assert.Equal(t, "Order 42\n\nGrüße, where is my order?", msgs[0].Content.Text, "decoded from Latin-1, the signature taken off")
	require.NotNil(t, msgs[0].Content.Media, "the original mail is kept")
	assert.Equal(t, "message.eml", msgs[0].Content.Media.Filename)
	assert.Equal(t, engine.ChannelEmail, e.conv(order).Channel)
	assert.Equal(t, "André", e.conv(order).ContactName)

	// A reply by In-Reply-To, to the alias, with another subject.
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{"help@shop.test"},
		mailFrom("ann@example.com", "Something else", "m2@example.com", "In-Reply-To: <m1@example.com>\nReferences: <m1@example.com>\n",
			"Any news?\n\nOn Mon, 7 Dec 2026 at 10:00, Support <support@shop.test> wrote:\n> old")))
	// A new thread, and the first mail delivered again.
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, mailFrom("ann@example.com", "Refund", "m3@example.com", "", "I want a refund")))
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, latin1))

	msgs = e.messages(order)
	require.Len(t, msgs, 2, "the reply joined the thread and the duplicate was stored once")
	assert.Equal(t, "Any news?", msgs[0].Content.Text, "the quote is taken off")
	refund, ok := e.emailThread("ann@example.com", "refund")
	require.True(t, ok)
	assert.NotEqual(t, order, refund)
	assert.Equal(t, e.conv(order).ContactID, e.conv(refund).ContactID, "one contact, two threads")

	// An auto-reply and a bounce open no conversation.
	require.NoError(t, sendMail(t, addr, "bob@example.com", []string{shopAddr},
		mailFrom("bob@example.com", "Out of office", "ooo@example.com", "Auto-Submitted: auto-replied\n", "I am away.")))
	_, ok = e.emailThread("bob@example.com", "out of office")
	assert.False(t, ok, "an auto-reply opens no conversation")
	require.NoError(t, sendMail(t, addr, "", []string{shopAddr}, crlf(dsnFor("unknown@shop.test"))))
	_, ok = e.emailThread("mailer-daemon@mx.example.com", "undelivered mail returned to sender")
	assert.False(t, ok, "a bounce opens no conversation")

	// Hostile HTML shows as its text only.
	require.NoError(t, sendMail(t, addr, "eve@example.com", []string{shopAddr}, crlf("From: eve@example.com\nTo: "+shopAddr+
		"\nSubject: html\nMessage-ID: <h1@example.com>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"+
		`<p onclick="steal()">Hello <b>there</b></p><script>alert(document.cookie)</script><img src=x onerror="x()"><style>p{}</style>`+"\n")))
	eve, ok := e.emailThread("eve@example.com", "html")
	require.True(t, ok)
	text := e.messages(eve)[0].Content.Text
	assert.Equal(t, "html\n\nHello there", text)

	code, body := e.api("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{`parley_email_received_total{result="stored"} 4`, `parley_email_received_total{result="duplicate"} 1`,
		`parley_email_received_total{result="auto_reply"} 1`, `parley_email_received_total{result="bounce"} 1`} {
		assert.Contains(t, string(body), want)
	}
}

// A 25 MB attachment arrives whole, in the media store, and downloads.
func TestEmailSMTPLargeAttachment(t *testing.T) {
	e, addr := newEmailEnv(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 25<<20/16)
	var b bytes.Buffer
	b.Write(crlf("From: ann@example.com\nTo: " + shopAddr + "\nSubject: The file\nMessage-ID: <big@example.com>\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nHere it is.\n--B\n" +
		"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"big.bin\"\nContent-Transfer-Encoding: base64\n\n"))
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--B--\r\n")
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, b.Bytes()))
	conv, ok := e.emailThread("ann@example.com", "the file")
	require.True(t, ok)
	msgs := e.messages(conv)
	require.Len(t, msgs, 2)
	att := msgs[0].Content
	require.Equal(t, engine.KindDocument, att.Kind)
	assert.Equal(t, "big.bin", att.Media.Filename)
	assert.EqualValues(t, 25<<20, att.Media.Size)
	code, got := e.api("GET", "/api/v1/media/"+att.Media.SHA256, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(got[:min(200, len(got))]))
	assert.True(t, bytes.Equal(data, got), "the attachment downloads whole")
}

// dsnFor is a delivery status notification for the mail with Message-ID
// id (RFC 3464).
func dsnFor(id string) string {
	return `From: MAILER-DAEMON@mx.example.com
To: ` + shopAddr + `
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn.` + id + `>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=B

--B
Content-Type: text/plain

The mail could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; nobody@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown
--B
Content-Type: text/rfc822-headers

From: ` + shopAddr + `
Message-ID: <` + id + `>
--B--
`
}
