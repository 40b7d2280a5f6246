package email

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/parleyhq/parley/engine"
)

// Reply is one outbound mail: a reply in a thread.
type Reply struct {
	// MessageID is the mail's Message-ID without angle brackets.
	MessageID string
	FromName  string
	From      string
	To        string
	Subject   string
	// InReplyTo and References thread the reply in the customer's mail
	// client.
	InReplyTo  string
	References []string
	Text       string
	Date       time.Time
	// Attachment, when set, is sent after the text.
	Attachment *Attachment
}

// Attachment is a file sent with a reply.
type Attachment struct {
	Filename string
	MimeType string
	Body     io.Reader
}

// ThreadHeaders are the headers of the mail a reply answers.
type ThreadHeaders struct {
	Subject    string
	MessageID  string
	References []string
}

// ReadThreadHeaders reads the headers of a stored mail (its message.eml).
func ReadThreadHeaders(r io.Reader) (ThreadHeaders, error) {
	hdr, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, 1<<20)))
	if err != nil {
		return ThreadHeaders{}, fmt.Errorf("%w: reading the headers: %v", ErrMalformed, err)
	}
	h := mail.Header{Header: message.Header{Header: hdr}}
	th := ThreadHeaders{MessageID: messageID(h, nil), References: msgIDs(h, "References")}
	if s, err := h.Subject(); err == nil {
		th.Subject = validText(s)
	} else {
		th.Subject = validText(h.Get("Subject"))
	}
	return th, nil
}

// NewMessageID is the Message-ID of the outbound message with id msgID
// from address from: the same for every attempt, so a mail sent twice
// after a cut-short attempt is recognised by the recipient.
func NewMessageID(msgID, from string) string {
	domain := "parley.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return "parley." + strings.ToLower(msgID) + "@" + domain
}

// Compose writes r as a MIME mail: text and HTML alternatives, and the
// attachment after them.
func Compose(w io.Writer, r *Reply) error {
	var h mail.Header
	h.SetDate(r.Date)
	h.SetAddressList("From", []*mail.Address{{Name: r.FromName, Address: r.From}})
	h.SetAddressList("To", []*mail.Address{{Address: r.To}})
	h.SetSubject(r.Subject)
	h.SetMessageID(r.MessageID)
	if r.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{r.InReplyTo})
	}
	if len(r.References) > 0 {
		h.SetMsgIDList("References", r.References)
	}
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return fmt.Errorf("composing a mail: %w", err)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return fmt.Errorf("composing a mail: %w", err)
	}
	htmlBody := "<!doctype html><html><body><div>" +
		strings.ReplaceAll(html.EscapeString(r.Text), "\n", "<br>\n") + "</div></body></html>"
	for _, part := range []struct{ kind, body string }{{"text/plain", r.Text}, {"text/html", htmlBody}} {
		var ph mail.InlineHeader
		ph.SetContentType(part.kind, map[string]string{"charset": "utf-8"})
		pw, err := iw.CreatePart(ph)
		if err != nil {
			return fmt.Errorf("composing a mail: %w", err)
		}
		if _, err := io.WriteString(pw, part.body); err != nil {
			return fmt.Errorf("composing a mail: %w", err)
		}
		if err := pw.Close(); err != nil {
			return fmt.Errorf("composing a mail: %w", err)
		}
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("composing a mail: %w", err)
	}
	if a := r.Attachment; a != nil {
		var ah mail.AttachmentHeader
		ah.SetContentType(a.MimeType, nil)
		ah.SetFilename(a.Filename)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return fmt.Errorf("composing a mail: %w", err)
		}
		if _, err := io.Copy(aw, a.Body); err != nil {
			return fmt.Errorf("composing a mail: attaching %s: %w", a.Filename, err)
		}
		if err := aw.Close(); err != nil {
			return fmt.Errorf("composing a mail: %w", err)
		}
	}
	return mw.Close()
}

// Submission is how an account sends: its SMTP submission server.
type Submission struct {
	Host     string
	Port     int
	Security engine.EmailSecurity
	Username string
	Password string
	// TLS configures the TLS connection; nil means the system roots.
	TLS *tls.Config
}

// SubmissionOf is an email account's submission settings.
func SubmissionOf(acct engine.ChannelAccount) Submission {
	s := Submission{Password: acct.AccessToken, Username: acct.AccountID, Security: engine.EmailSTARTTLS}
	if e := acct.Email; e != nil {
		s.Host, s.Port = e.SMTPHost, e.SMTPPort
		if e.SMTPSecurity != "" {
			s.Security = e.SMTPSecurity
		}
		if e.SMTPUsername != "" {
			s.Username = e.SMTPUsername
		}
	}
	if s.Port == 0 {
		s.Port = 587
		if s.Security == engine.EmailTLS {
			s.Port = 465
		}
	}
	return s
}

// SubmitError is a refused submission: Permanent for a 5xx answer (a bad
// login, a refused recipient), otherwise worth trying again.
type SubmitError struct {
	Permanent bool
	Code      string
	Err       error
}

func (e *SubmitError) Error() string { return e.Err.Error() }

func (e *SubmitError) Unwrap() error { return e.Err }

// Submit sends the mail composed in body from from to to through the
// submission server, over STARTTLS (required) or TLS, logging in with
// PLAIN when a password is set. It returns once the server accepted the
// mail (250 to DATA).
func Submit(ctx context.Context, sub Submission, from, to string, body io.Reader) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, done, err := login(ctx, sub)
	if err != nil {
		return err
	}
	defer done()
	if err := c.SendMail(from, []string{to}, body); err != nil {
		return classify(fmt.Errorf("sending through %s:%d: %w", sub.Host, sub.Port, err))
	}
	_ = c.Quit() // accepted already
	return nil
}

// Check logs in to the submission server, as a send would, and tells
// how it went: connected, expired (the login was refused), unreachable
// (no connection, a timeout, a 4xx) or error (another refusal, TLS).
func Check(ctx context.Context, sub Submission) engine.HealthResult {
	c, done, err := login(ctx, sub)
	if err != nil {
		var se *SubmitError
		switch {
		case errors.As(err, &se) && se.Code == "auth":
			return engine.HealthResult{State: engine.HealthExpired, Reason: "The SMTP server refused the login", Code: "auth"}
		case errors.As(err, &se) && se.Permanent:
			return engine.HealthResult{State: engine.HealthError, Reason: se.Error(), Code: se.Code}
		case errors.As(err, &se) && se.Code == "tls":
			return engine.HealthResult{State: engine.HealthError, Reason: se.Error(), Code: se.Code}
		}
		return engine.HealthResult{State: engine.HealthUnreachable, Reason: err.Error(), Code: "unreachable"}
	}
	defer done()
	_ = c.Quit()
	return engine.HealthResult{State: engine.HealthConnected}
}

// login connects to the submission server, secures the connection and
// logs in; done closes it.
func login(ctx context.Context, sub Submission) (c *smtp.Client, done func(), err error) {
	addr := net.JoinHostPort(sub.Host, strconv.Itoa(sub.Port))
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &SubmitError{Code: "unreachable", Err: fmt.Errorf("connecting to %s: %w", addr, err)}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if sub.TLS != nil {
		tc = sub.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = sub.Host
	}
	if sub.Security == engine.EmailTLS {
		c = smtp.NewClient(tls.Client(conn, tc))
	} else if c, err = smtp.NewClientStartTLS(conn, tc); err != nil {
		stop()
		_ = conn.Close()
		e := classify(fmt.Errorf("STARTTLS with %s: %w", addr, err))
		var te *tls.CertificateVerificationError
		if errors.As(err, &te) || strings.Contains(err.Error(), "STARTTLS") {
			e.Code = "tls"
		}
		return nil, nil, e
	}
	done = func() {
		stop()
		_ = c.Close()
	}
	if sub.Password != "" {
		if err := c.Auth(sasl.NewPlainClient("", sub.Username, sub.Password)); err != nil {
			done()
			e := classify(fmt.Errorf("logging in to %s: %w", addr, err))
			if e.Permanent {
				e.Code = "auth"
			}
			return nil, nil, e
		}
	}
	return c, done, nil
}

func classify(err error) *SubmitError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &SubmitError{Permanent: se.Code >= 500, Code: "smtp_" + strconv.Itoa(se.Code), Err: err}
	}
	return &SubmitError{Code: "unreachable", Err: err}
}
