package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mailbox is where the receiver hands mail: the gateway, which knows the
// connected addresses and stores what arrives.
type Mailbox interface {
	// Accepts reports whether rcpt (lower case) is an address of a
	// connected email account.
	Accepts(rcpt string) bool
	// Deliver stores one mail for the accepted recipients rcpts. It
	// returns only once the mail is durably committed (or known to be a
	// duplicate, or deliberately dropped: an auto-reply); an error
	// wrapping ErrMalformed refuses the mail for good, any other asks the
	// sending server to try again later.
	Deliver(ctx context.Context, rcpts []string, raw []byte) error
}

// ReceiverConfig configures the SMTP receiver.
type ReceiverConfig struct {
	// Domain is the name the receiver gives in its greeting.
	Domain string
	// MaxBytes bounds a mail's size (SIZE, and a 552 past it); zero means
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxRecipients bounds RCPT commands per mail; zero means 50.
	MaxRecipients int
	// Timeout bounds each read and write on a connection; zero means a
	// minute.
	Timeout time.Duration
	// Mailbox receives the mail. Required.
	Mailbox Mailbox
	// Logger receives the receiver's errors; nil discards them.
	Logger *slog.Logger
}

// DefaultMaxBytes is the default size limit of an inbound mail: room for
// a 25 MB attachment in base64.
const DefaultMaxBytes = 40 << 20

// Receiver is Parley's SMTP server for inbound mail (MX or forwarding
// pointed at Parley). It takes mail only for connected addresses, so it
// relays nothing, and answers 250 to DATA only after the Mailbox
// committed the mail.
type Receiver struct {
	srv    *smtp.Server
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	// mu guards closing; active counts the DATA commands being stored.
	mu      sync.Mutex
	closing bool
	active  sync.WaitGroup
}

// NewReceiver builds a receiver; Serve starts it.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 50
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receiver{ctx: ctx, cancel: cancel}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{r: r, cfg: &cfg, log: log, remote: c.Conn().RemoteAddr().String()}, nil
	}))
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = 64 << 10
	srv.ReadTimeout, srv.WriteTimeout = cfg.Timeout, cfg.Timeout
	srv.ErrorLog = slogAdapter{log}
	r.srv = srv
	return r
}

// Serve accepts connections on ln until Shutdown.
func (r *Receiver) Serve(ln net.Listener) error {
	if err := r.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("email: serving SMTP: %w", err)
	}
	return nil
}

// Shutdown refuses new mail with a temporary error and waits for the
// mails being stored to get their answer (250 after the commit) until
// ctx ends; then it closes the listener and every connection. A mail
// whose commit was cut short is not acknowledged, so the sender tries
// again.
func (r *Receiver) Shutdown(ctx context.Context) error {
	var err error
	r.once.Do(func() {
		r.mu.Lock()
		r.closing = true
		r.mu.Unlock()
		done := make(chan struct{})
		go func() {
			r.active.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		r.cancel()
		if cerr := r.srv.Close(); cerr != nil && !errors.Is(cerr, smtp.ErrServerClosed) && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	})
	return err
}

// begin counts a DATA being stored; false once Shutdown began.
func (r *Receiver) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.active.Add(1)
	return true
}

type session struct {
	r      *Receiver
	cfg    *ReceiverConfig
	log    *slog.Logger
	remote string
	from   string
	rcpts  []string
}

var (
	errNoMailbox = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such mailbox here (this server relays nothing)"}
	errBadAddress = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address"}
	errNoRcpt     = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "RCPT first"}
	errTryLater   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Not stored, try again later"}
)

func (s *session) Reset() { s.from, s.rcpts = "", nil }

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	to = strings.ToLower(strings.TrimSpace(to))
	if to == "" || len(to) > 254 || !strings.Contains(to, "@") {
		return errBadAddress
	}
	if !s.cfg.Mailbox.Accepts(to) {
		return errNoMailbox
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if len(s.rcpts) == 0 {
		return errNoRcpt
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err // go-smtp answers 552 for ErrDataTooLarge
	}
	if !s.r.begin() {
		return errTryLater
	}
	defer s.r.active.Done()
	err := s.cfg.Mailbox.Deliver(s.r.ctx, s.rcpts, buf.Bytes())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMalformed):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message not readable"}
	default:
		s.log.Warn("email: inbound mail not stored", "remote", s.remote, "from", s.from, "err", err)
		return errTryLater
	}
}

// slogAdapter writes go-smtp's connection errors to the logger.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Debug("email: smtp", "msg", fmt.Sprintf(format, v...))
}

func (a slogAdapter) Println(v ...any) { a.log.Debug("email: smtp", "msg", fmt.Sprint(v...)) }
