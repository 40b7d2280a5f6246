package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jonboulle/clockwork"
)

// SMTP is the relay notification emails go through.
type SMTP struct {
	// Addr is host:port.
	Addr string
	// ImplicitTLS is smtps:// (TLS from the first byte, usually port
	// 465); otherwise the client upgrades with STARTTLS (smtp://, usually
	// 587) and refuses a server that does not offer it.
	ImplicitTLS bool
	// Username and Password, when Username is set, authenticate with
	// PLAIN (only ever over TLS).
	Username, Password string
}

// ParseSMTPURL reads smtp://user:pass@host:587 (STARTTLS) or
// smtps://user:pass@host:465 (implicit TLS). The port defaults to 587
// and 465; the user and password are optional, percent-encoded.
func ParseSMTPURL(s string) (SMTP, error) {
	u, err := url.Parse(s)
	if err != nil {
		return SMTP{}, fmt.Errorf("not a URL: %w", err)
	}
	var cfg SMTP
	port := "587"
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.ImplicitTLS, port = true, "465"
	default:
		return SMTP{}, fmt.Errorf("the scheme is %q: want smtp:// (STARTTLS) or smtps:// (TLS)", u.Scheme)
	}
	if u.Hostname() == "" {
		return SMTP{}, errors.New("no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return SMTP{}, errors.New("a path, query or fragment: want only user:password@host:port")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	return cfg, nil
}

// Email is one notification email.
type Email struct {
	To      string
	Subject string
	Text    string
	// Link is the conversation's address, shown as a link in the HTML
	// part ("" when the server has no public URL).
	Link string
}

// Mail retries: a send that failed is tried again after mailRetryMin,
// doubling up to mailRetryMax, at most mailAttempts times in all.
const (
	mailAttempts  = 5
	mailRetryMin  = 30 * time.Second
	mailRetryMax  = 10 * time.Minute
	mailQueueLen  = 256
	mailTimeout   = time.Minute
	mailDialLimit = 15 * time.Second
)

// mailer sends notification emails through an SMTP relay, one at a time
// from a bounded queue, with retries on the injected clock.
type mailer struct {
	relay SMTP
	from  *mail.Address
	tls   *tls.Config
	clock clockwork.Clock
	log   *slog.Logger
	m     *metrics

	queue chan mailJob
	// mu guards retries, the timers of the sends waiting to be tried
	// again, and stopped.
	mu      sync.Mutex
	retries map[clockwork.Timer]struct{}
	stopped bool
}

type mailJob struct {
	email   Email
	attempt int // attempts made
}

func newMailer(relay SMTP, from string, tlsConfig *tls.Config, clock clockwork.Clock, log *slog.Logger, m *metrics) (*mailer, error) {
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("notify: the from address %q: %w", from, err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsConfig = tlsConfig.Clone()
	if tlsConfig.ServerName == "" {
		host, _, _ := net.SplitHostPort(relay.Addr)
		tlsConfig.ServerName = host
	}
	return &mailer{relay: relay, from: addr, tls: tlsConfig, clock: clock, log: log, m: m,
		queue: make(chan mailJob, mailQueueLen), retries: map[clockwork.Timer]struct{}{}}, nil
}

// enqueue queues a send without waiting; a full queue drops it.
func (ml *mailer) enqueue(j mailJob) {
	select {
	case ml.queue <- j:
	default:
		ml.m.drops.WithLabelValues(queueEmail).Inc()
		ml.log.Warn("Notification email dropped: the queue is full", "to", j.email.To)
	}
}

// run sends the queued emails until ctx ends.
func (ml *mailer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-ml.queue:
			ml.attempt(ctx, j)
		}
	}
}

func (ml *mailer) attempt(ctx context.Context, j mailJob) {
	err := ml.send(ctx, &j.email)
	j.attempt++
	if err == nil {
		ml.m.sent.WithLabelValues(MediumEmail, ResultSent).Inc()
		return
	}
	var perm *smtp.SMTPError
	if errors.As(err, &perm) && perm.Code >= 500 || j.attempt >= mailAttempts {
		ml.m.sent.WithLabelValues(MediumEmail, ResultFailed).Inc()
		ml.log.Warn("Notification email not sent", "to", j.email.To, "attempts", j.attempt, "err", err)
		return
	}
	ml.m.sent.WithLabelValues(MediumEmail, ResultRetried).Inc()
	wait := min(mailRetryMin<<(j.attempt-1), mailRetryMax)
	ml.log.Info("Notification email failed, will retry", "to", j.email.To, "in", wait, "err", err)
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if ml.stopped {
		return
	}
	var t clockwork.Timer
	t = ml.clock.AfterFunc(wait, func() {
		ml.mu.Lock()
		delete(ml.retries, t)
		stopped := ml.stopped
		ml.mu.Unlock()
		if !stopped {
			ml.enqueue(j)
		}
	})
	ml.retries[t] = struct{}{}
}

// stop cancels the retries waiting.
func (ml *mailer) stop() {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	ml.stopped = true
	for t := range ml.retries {
		t.Stop()
	}
	clear(ml.retries)
}

// send delivers one email through the relay.
func (ml *mailer) send(ctx context.Context, e *Email) error {
	var body bytes.Buffer
	if err := ml.compose(&body, e); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	d := net.Dialer{Timeout: mailDialLimit}
	conn, err := d.DialContext(ctx, "tcp", ml.relay.Addr)
	if err != nil {
		return fmt.Errorf("connecting to the SMTP relay: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	var c *smtp.Client
	if ml.relay.ImplicitTLS {
		c = smtp.NewClient(tls.Client(conn, ml.tls))
	} else if c, err = smtp.NewClientStartTLS(conn, ml.tls); err != nil {
		_ = conn.Close()
		return fmt.Errorf("STARTTLS with the SMTP relay: %w", err)
	}
	defer c.Close()
	if ml.relay.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", ml.relay.Username, ml.relay.Password)); err != nil {
			return fmt.Errorf("authenticating to the SMTP relay: %w", err)
		}
	}
	if err := c.SendMail(ml.from.Address, []string{e.To}, &body); err != nil {
		return fmt.Errorf("sending to the SMTP relay: %w", err)
	}
	return c.Quit()
}

var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p>{{.Text}}</p>
{{if .Link}}<p><a href="{{.Link}}">Open the conversation in Parley</a></p>{{end}}
<p style="color:#666;font-size:12px">You get this email because of your notification settings in Parley (Settings › Notifications).</p>
</body></html>
`))

// compose writes e as a MIME message: text and HTML alternatives.
func (ml *mailer) compose(w io.Writer, e *Email) error {
	var h mail.Header
	h.SetDate(ml.clock.Now())
	h.SetAddressList("From", []*mail.Address{ml.from})
	h.SetAddressList("To", []*mail.Address{{Address: e.To}})
	h.SetSubject(e.Subject)
	if err := h.GenerateMessageID(); err != nil {
		return fmt.Errorf("composing an email: %w", err)
	}
	h.Set("Auto-Submitted", "auto-generated")
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return fmt.Errorf("composing an email: %w", err)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return fmt.Errorf("composing an email: %w", err)
	}
	text := e.Text
	if e.Link != "" {
		text += "\n\nOpen the conversation: " + e.Link
	}
	text += "\n\n-- \nYou get this email because of your notification settings in Parley (Settings › Notifications).\n"
	var html strings.Builder
	if err := mailHTML.Execute(&html, e); err != nil {
		return fmt.Errorf("composing an email: %w", err)
	}
	for _, part := range []struct{ kind, body string }{{"text/plain", text}, {"text/html", html.String()}} {
		var ph mail.InlineHeader
		ph.SetContentType(part.kind, map[string]string{"charset": "utf-8"})
		pw, err := iw.CreatePart(ph)
		if err != nil {
			return fmt.Errorf("composing an email: %w", err)
		}
		if _, err := io.WriteString(pw, part.body); err != nil {
			return fmt.Errorf("composing an email: %w", err)
		}
		if err := pw.Close(); err != nil {
			return fmt.Errorf("composing an email: %w", err)
		}
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("composing an email: %w", err)
	}
	return mw.Close()
}
