package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
)

const shopAddr = "support@shop.test"

// newEmailEnv is a Parley with an email account connected (and an alias)
// and its SMTP receiver on 127.0.0.1; it returns the receiver's address.
// The account submits through relay (nil: a closed port).
func newEmailEnv(t *testing.T, relay *mailtest.Server) (*env, string) {
	t.Helper()
	return newEmailEnvMax(t, relay, 0)
}

// newEmailEnvMax is newEmailEnv with a receiver taking mails up to
// maxBytes (zero: the default).
func newEmailEnvMax(t *testing.T, relay *mailtest.Server, maxBytes int64) (*env, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := &env{t: t, dir: t.TempDir(), graph: newFakeGraph(t), clock: clockwork.NewRealClock(),
		client: &http.Client{Timeout: 30 * time.Second}, mediaMax: 64 << 20, // a 25 MB attachment and the whole mail
		gwTweak: func(c *gateway.Config) { c.Registerer, c.Gatherer, c.PostmarkAuth = reg, reg, "postmark:pm-secret" }}
	settings := map[string]any{"smtp_host": "127.0.0.1", "smtp_port": 9, "addresses": []string{"help@shop.test"}}
	password := "smtp-password"
	if relay != nil {
		e.emailTLS = relay.TLSConfig()
		host, port, err := net.SplitHostPort(relay.Addr)
		require.NoError(t, err)
		p, err := strconv.Atoi(port)
		require.NoError(t, err)
		settings = map[string]any{"smtp_host": host, "smtp_port": p, "smtp_security": "starttls", "smtp_username": relay.User,
			"from_name": "Shop Support", "addresses": []string{"help@shop.test"}}
		password = relay.Password
	}
	e.start()
	t.Cleanup(e.stop)
	code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{
		"channel": "email", "account_id": shopAddr, "name": "Support", "access_token": password, "email": settings})
	require.Equal(t, http.StatusCreated, code, string(body))
	assert.NotContains(t, string(body), password, "the SMTP password is never shown")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.gw.ServeSMTP(ln, "mx.shop.test", maxBytes) }()
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
	e, addr := newEmailEnv(t, nil)

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
	e, addr := newEmailEnv(t, nil)
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

// A reply from the inbox goes out over SMTP submission (STARTTLS, AUTH
// PLAIN) with text and HTML, threaded under the customer's mail; it is
// sent once the server accepts it; the customer's answer to it joins the
// conversation whatever its subject, and a bounce naming it marks it
// failed with the reason.
func TestEmailReplyOverSMTPSubmission(t *testing.T) {
	relay := mailtest.New(t)
	e, addr := newEmailEnv(t, relay)
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr},
		mailFrom("Ann Lee <ann@example.com>", "Order 42", "m1@example.com", "References: <root@example.com>\n", "Where is it?")))
	conv, ok := e.emailThread("ann@example.com", "order 42")
	require.True(t, ok)

	code, body := e.api("POST", fmt.Sprintf("/api/v1/conversations/%s/messages", conv), ownerToken, map[string]any{"text": "It left today.\nTracking: 123"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var sent engine.Message
	require.NoError(t, json.Unmarshal(body, &sent))
	eventually(t, 10*time.Second, func() error {
		for _, m := range e.messages(conv) {
			if m.ID == sent.ID && m.Status == engine.StatusSent {
				sent = m
				return nil
			}
		}
		return errors.New("not sent yet")
	})
	msgs := relay.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"ann@example.com"}, msgs[0].To)
	assert.Equal(t, shopAddr, msgs[0].From)
	out, err := email.Parse(msgs[0].Data)
	require.NoError(t, err)
	assert.Equal(t, "Re: Order 42", out.Subject)
	assert.Equal(t, []string{"m1@example.com"}, out.InReplyTo)
	assert.Equal(t, []string{"root@example.com", "m1@example.com"}, out.References)
	assert.Equal(t, "It left today.\nTracking: 123", out.Text)
	assert.Contains(t, out.HTML, "It left today.<br")
	assert.Equal(t, sent.ChannelMessageID, out.MessageID, "the mail's Message-ID is the message's channel id")
	assert.Contains(t, string(msgs[0].Data), "Shop Support")

	// The customer answers Parley's mail under another subject.
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr},
		mailFrom("ann@example.com", "thanks", "m2@example.com", "In-Reply-To: <"+out.MessageID+">\n", "Thanks!")))
	_, ok = e.emailThread("ann@example.com", "thanks")
	assert.False(t, ok, "no new thread")
	assert.Equal(t, "Thanks!", e.messages(conv)[0].Content.Text)

	// A bounce for Parley's mail marks it failed.
	require.NoError(t, sendMail(t, addr, "", []string{shopAddr}, crlf(dsnFor(out.MessageID))))
	for _, m := range e.messages(conv) {
		if m.ID == sent.ID {
			assert.Equal(t, engine.StatusFailed, m.Status)
			assert.Equal(t, "nobody@example.com: 550 5.1.1 User unknown", m.ErrorReason)
		}
	}
}

// Bad email settings get a 400 and connect nothing.
func TestEmailAccountRefusesBadSettings(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []map[string]any{
		{"channel": "email", "account_id": shopAddr, "access_token": "pw"},
		{"channel": "email", "account_id": "Support@Shop.test", "access_token": "pw", "email": map[string]any{"smtp_host": "smtp.shop.test"}},
		{"channel": "email", "account_id": shopAddr, "access_token": "pw", "email": map[string]any{"smtp_host": "smtp.shop.test", "smtp_security": "ssl"}},
		{"channel": "email", "account_id": shopAddr, "access_token": "pw", "email": map[string]any{"smtp_host": "smtp.shop.test", "from_name": "A\r\nBcc: x@y.test"}},
		{"channel": "email", "account_id": shopAddr, "access_token": "pw", "email": map[string]any{"smtp_host": "smtp.shop.test", "smtp_port": "587"}},
	} {
		code, resp := e.api("POST", "/api/v1/channels", ownerToken, body)
		assert.Equal(t, http.StatusBadRequest, code, "%v: %s", body, resp)
	}
	code, resp := e.api("GET", "/api/v1/channels", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, string(resp), shopAddr)
}

// A mail over the size limit is refused with 552 and stores nothing.
func TestEmailSMTPSizeLimit(t *testing.T) {
	e, addr := newEmailEnvMax(t, nil, 64<<10)
	err := sendMail(t, addr, "ann@example.com", []string{shopAddr},
		mailFrom("ann@example.com", "Big", "big@example.com", "", strings.Repeat("x", 100)+strings.Repeat("\n"+strings.Repeat("y", 70), 1500)))
	var smtpErr *smtp.SMTPError
	require.True(t, errors.As(err, &smtpErr), "%v", err)
	assert.Equal(t, 552, smtpErr.Code)
	_, ok := e.emailThread("ann@example.com", "big")
	assert.False(t, ok)
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, mailFrom("ann@example.com", "Small", "small@example.com", "", "ok")))
	_, ok = e.emailThread("ann@example.com", "small")
	assert.True(t, ok, "a mail under the limit still gets through")
}

// "Check now" logs in to the account's SMTP submission server: connected
// with the right password, expired with a wrong one.
func TestEmailHealthCheck(t *testing.T) {
	relay := mailtest.New(t)
	e, _ := newEmailEnv(t, relay)
	check := func() map[string]any {
		code, body := e.api("POST", "/api/v1/channels/email/"+strings.ReplaceAll(shopAddr, "@", "%40")+"/check", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v struct {
			Health map[string]any `json:"health"`
		}
		require.NoError(t, json.Unmarshal(body, &v))
		return v.Health
	}
	assert.Equal(t, "connected", check()["state"])
	code, body := e.api("PATCH", "/api/v1/channels/email/"+shopAddr, ownerToken, map[string]any{"access_token": "wrong"})
	require.Equal(t, http.StatusOK, code, string(body))
	h := check()
	assert.Equal(t, "expired", h["state"])
	assert.Equal(t, "auth", h["code"])
}

// Postmark's inbound webhook, with its basic auth, stores the mail as one
// received over SMTP: threaded, stored once when replayed, attachments in
// the media store; bad credentials get 401 and store nothing.
func TestEmailPostmarkInbound(t *testing.T) {
	e, addr := newEmailEnv(t, nil)
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, mailFrom("ann@example.com", "Order 42", "m1@example.com", "", "Where is it?")))
	order, ok := e.emailThread("ann@example.com", "order 42")
	require.True(t, ok)
	payload := `{"FromName":"Ann","From":"ann@example.com","FromFull":{"Email":"ann@example.com","Name":"Ann Lee","MailboxHash":""},
"To":"support@shop.test","ToFull":[{"Email":"support@shop.test","Name":"Support","MailboxHash":""}],"Cc":"","CcFull":[],
"OriginalRecipient":"support@shop.test","Subject":"Something else","MessageID":"73e6d360-66eb-11e1-8e72-a8904824019b",
"ReplyTo":"","MailboxHash":"","Date":"Mon, 7 Dec 2026 10:00:00 +0100","TextBody":"Found it, thanks!\n\nOn Mon, 7 Dec 2026, Support wrote:\n> hello",
"HtmlBody":"<p>Found it, <b>thanks</b>!</p>","StrippedTextReply":"Found it, thanks!","Tag":"",
"Headers":[{"Name":"X-Spam-Status","Value":"No"},{"Name":"Message-ID","Value":"<pm1@example.com>"},{"Name":"In-Reply-To","Value":"<m1@example.com>"}],
"Attachments":[{"Name":"receipt.txt","Content":"` + base64.StdEncoding.EncodeToString([]byte("paid")) + `","ContentType":"text/plain","ContentLength":4}]}`
	post := func(auth string) (int, []byte) {
		req, err := http.NewRequest("POST", e.url+"/webhooks/email/postmark", strings.NewReader(payload))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			user, pass, _ := strings.Cut(auth, ":")
			req.SetBasicAuth(user, pass)
		}
		return e.do(req)
	}
	code, body := post("postmark:wrong")
	require.Equal(t, http.StatusUnauthorized, code, string(body))
	code, _ = post("")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Len(t, e.messages(order), 1, "nothing stored")

	code, body = post("postmark:pm-secret")
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = post("postmark:pm-secret")
	require.Equal(t, http.StatusOK, code, string(body))
	msgs := e.messages(order)
	require.Len(t, msgs, 3, "the reply and its attachment joined the thread, once")
	assert.Equal(t, "receipt.txt", msgs[0].Content.Media.Filename)
	assert.Equal(t, "Found it, thanks!", msgs[1].Content.Text)

	code, body = e.api("POST", "/webhooks/email/postmark", "", `{"FromFull":{"Email":""}}`)
	assert.Equal(t, http.StatusUnauthorized, code, string(body))
}

// A send whose SMTP login is refused marks the account expired (code
// auth) at once, without waiting for a check; the next send that goes
// through brings it back to connected.
func TestEmailSubmissionAuthFailureSetsHealth(t *testing.T) {
	relay := mailtest.New(t)
	e := &env{t: t, dir: t.TempDir(), graph: newFakeGraph(t), clock: clockwork.NewRealClock(),
		client: &http.Client{Timeout: 30 * time.Second}, emailTLS: relay.TLSConfig(),
		gwTweak: func(c *gateway.Config) { c.ChannelHealthInterval = time.Hour }}
	e.start()
	t.Cleanup(e.stop)
	host, port, err := net.SplitHostPort(relay.Addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{"channel": "email", "account_id": shopAddr, "access_token": relay.Password,
		"email": map[string]any{"smtp_host": host, "smtp_port": p, "smtp_security": "starttls", "smtp_username": relay.User}})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if h := e.health(shopAddr); h != "connected/" {
			return errors.New(h)
		}
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.gw.ServeSMTP(ln, "mx.shop.test", 0) }()
	require.NoError(t, sendMail(t, ln.Addr().String(), "ann@example.com", []string{shopAddr},
		mailFrom("Ann <ann@example.com>", "Order 7", "a1@example.com", "", "Hello?")))
	conv, ok := e.emailThread("ann@example.com", "order 7")
	require.True(t, ok)

	relay.SetPassword("rotated")
	code, body = e.api("POST", fmt.Sprintf("/api/v1/conversations/%s/messages", conv), ownerToken, map[string]any{"text": "Soon."})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if h := e.health(shopAddr); h != "expired/auth" {
			return errors.New(h)
		}
		return nil
	})

	relay.SetPassword(relay.Password)
	code, body = e.api("POST", fmt.Sprintf("/api/v1/conversations/%s/messages", conv), ownerToken, map[string]any{"text": "Shipped."})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if h := e.health(shopAddr); h != "connected/" {
			return errors.New(h)
		}
		return nil
	})
	require.Len(t, relay.Messages(), 1)
}
