package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"github.com/parleyhq/parley/engine"
)

// Mailbox reading over IMAP (docs/ARCHITECTURE.md, "Email"): an
// IMAPSession logs in to an account's mailbox, selects its folder, lists
// the UIDs above a cursor, fetches each mail whole, and waits for new
// mail with IDLE. The gateway's poller owns the session and the cursor.

// IMAPMailbox is how to reach an account's mailbox.
type IMAPMailbox struct {
	Host     string
	Port     int
	Security engine.EmailSecurity
	Username string
	Password string
	Folder   string
	// TLS configures TLS; nil means the system roots.
	TLS *tls.Config
}

// IMAPMailboxOf is an email account's mailbox; ok is false when the
// account reads none.
func IMAPMailboxOf(acct engine.ChannelAccount) (mb IMAPMailbox, ok bool) {
	if acct.Email == nil || acct.Email.IMAP == nil {
		return IMAPMailbox{}, false
	}
	s := acct.Email.IMAP
	mb = IMAPMailbox{Host: s.Host, Port: s.Port, Security: s.Security, Username: s.Username, Password: s.Password, Folder: s.IMAPFolder()}
	if mb.Security == "" {
		mb.Security = engine.EmailTLS
	}
	if mb.Username == "" {
		mb.Username = acct.AccountID
	}
	if mb.Password == "" {
		mb.Password = acct.AccessToken
	}
	if mb.Port == 0 {
		mb.Port = 993
		if mb.Security == engine.EmailSTARTTLS {
			mb.Port = 143
		}
	}
	return mb, true
}

// IMAPError is a failed IMAP step; Code is "auth" when the server refused
// the login, "tls" for a TLS failure, "folder" when the folder could not
// be selected, "unreachable" otherwise.
type IMAPError struct {
	Code string
	Err  error
}

func (e *IMAPError) Error() string { return e.Err.Error() }

func (e *IMAPError) Unwrap() error { return e.Err }

// IMAPHealth is what an IMAP error says of the account's health.
func IMAPHealth(err error) engine.HealthResult {
	if err == nil {
		return engine.HealthResult{State: engine.HealthConnected}
	}
	var ie *IMAPError
	if errors.As(err, &ie) {
		switch ie.Code {
		case "auth":
			return engine.HealthResult{State: engine.HealthExpired, Reason: "The IMAP server refused the login", Code: "imap_auth"}
		case "tls":
			return engine.HealthResult{State: engine.HealthError, Reason: ie.Error(), Code: "imap_tls"}
		case "folder":
			return engine.HealthResult{State: engine.HealthError, Reason: ie.Error(), Code: "imap_folder"}
		}
	}
	return engine.HealthResult{State: engine.HealthUnreachable, Reason: err.Error(), Code: "imap_unreachable"}
}

// imapCommandTimeout bounds one IMAP command (a fetch of a large mail
// included).
const imapCommandTimeout = 2 * time.Minute

// IMAPSession is a logged-in connection to a mailbox. It is used by one
// goroutine at a time.
type IMAPSession struct {
	c      *client.Client
	stop   func() bool
	folder string
	// updates receives the server's unsolicited responses; changed is
	// signalled when one says the mailbox changed.
	updates chan client.Update
	changed chan struct{}
	done    chan struct{}
}

// DialIMAP connects to the mailbox's server, secures the connection (TLS
// from the first byte, or STARTTLS, required) and logs in.
func DialIMAP(ctx context.Context, mb IMAPMailbox) (*IMAPSession, error) {
	addr := net.JoinHostPort(mb.Host, strconv.Itoa(mb.Port))
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &IMAPError{Code: "unreachable", Err: fmt.Errorf("connecting to %s: %w", addr, err)}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if mb.TLS != nil {
		tc = mb.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = mb.Host
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(code string, err error) (*IMAPSession, error) {
		stop()
		_ = conn.Close()
		return nil, &IMAPError{Code: code, Err: err}
	}
	_ = conn.SetDeadline(time.Now().Add(imapCommandTimeout))
	if mb.Security == engine.EmailTLS {
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fail("tls", fmt.Errorf("TLS with %s: %w", addr, err))
		}
		conn = tconn
	}
	s := &IMAPSession{stop: stop, folder: mb.Folder, updates: make(chan client.Update, 64), changed: make(chan struct{}, 1), done: make(chan struct{})}
	c, err := client.New(eofConn{conn})
	if err != nil {
		return fail("unreachable", fmt.Errorf("greeting of %s: %w", addr, err))
	}
	c.Updates = s.updates // read by the client's reader only for answers to the commands sent after
	c.Timeout = imapCommandTimeout
	s.c = c
	go s.watch()
	if mb.Security != engine.EmailTLS {
		if err := c.StartTLS(tc); err != nil {
			s.Close()
			return nil, &IMAPError{Code: "tls", Err: fmt.Errorf("STARTTLS with %s: %w", addr, err)}
		}
	}
	if err := c.Login(mb.Username, mb.Password); err != nil {
		code := "auth"
		select {
		case <-c.LoggedOut():
			code = "unreachable" // the connection broke: no verdict on the login
		default:
		}
		s.Close()
		return nil, &IMAPError{Code: code, Err: fmt.Errorf("logging in to %s: %w", addr, err)}
	}
	return s, nil
}

// eofConn reads any error of the connection as its end: the client's
// reader then stops without logging (its logger cannot be set before it
// starts), and the calls in progress fail with the connection closed.
type eofConn struct{ net.Conn }

func (c eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		err = io.EOF
	}
	return n, err
}

// watch drains the server's unsolicited responses (the client blocks
// when nobody reads them) and signals a change of the mailbox, until
// Close.
func (s *IMAPSession) watch() {
	for {
		select {
		case <-s.done:
			return
		case u := <-s.updates:
			if _, ok := u.(*client.MailboxUpdate); !ok {
				continue
			}
			select {
			case s.changed <- struct{}{}:
			default:
			}
		}
	}
}

// Close logs out and closes the connection.
func (s *IMAPSession) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	if s.c != nil {
		s.c.Timeout = 5 * time.Second
		if s.c.State()&imap.AuthenticatedState != 0 {
			_ = s.c.Logout()
		}
		_ = s.c.Terminate()
	}
	s.stop()
	close(s.done)
}

// Select opens the session's folder and returns its UIDVALIDITY.
func (s *IMAPSession) Select() (uidValidity uint32, err error) {
	st, err := s.c.Select(s.folder, true)
	if err != nil {
		select {
		case <-s.c.LoggedOut():
			return 0, &IMAPError{Code: "unreachable", Err: fmt.Errorf("selecting %q: %w", s.folder, err)}
		default:
		}
		return 0, &IMAPError{Code: "folder", Err: fmt.Errorf("selecting %q: %w", s.folder, err)}
	}
	return st.UidValidity, nil
}

// UIDsAfter lists the UIDs of the selected folder above last, in
// increasing order.
func (s *IMAPSession) UIDsAfter(last uint32) ([]uint32, error) {
	crit := imap.NewSearchCriteria()
	crit.Uid = new(imap.SeqSet)
	crit.Uid.AddRange(last+1, 0) // last+1:*
	uids, err := s.c.UidSearch(crit)
	if err != nil {
		return nil, &IMAPError{Code: "unreachable", Err: fmt.Errorf("searching %q: %w", s.folder, err)}
	}
	// "n:*" always includes the highest UID, even below n.
	uids = slices.DeleteFunc(uids, func(u uint32) bool { return u <= last })
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// UIDsSince lists the UIDs of the selected folder's mails that arrived
// on or after the day of t (IMAP SINCE counts whole days), in increasing
// order.
func (s *IMAPSession) UIDsSince(t time.Time) ([]uint32, error) {
	crit := imap.NewSearchCriteria()
	crit.Since = t
	uids, err := s.c.UidSearch(crit)
	if err != nil {
		return nil, &IMAPError{Code: "unreachable", Err: fmt.Errorf("searching %q: %w", s.folder, err)}
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// Fetch reads the whole mail of uid (without setting \Seen), at most max
// bytes; a larger mail is an ErrMalformed error. A mail gone meanwhile
// (expunged) returns nil, nil.
func (s *IMAPSession) Fetch(uid uint32, max int64) ([]byte, error) {
	set := new(imap.SeqSet)
	set.AddNum(uid)
	section := &imap.BodySectionName{Peek: true}
	items := []imap.FetchItem{imap.FetchUid, imap.FetchRFC822Size, section.FetchItem()}
	ch := make(chan *imap.Message, 1)
	errc := make(chan error, 1)
	go func() { errc <- s.c.UidFetch(set, items, ch) }()
	var raw []byte
	var tooBig bool
	for m := range ch {
		if m.Uid != uid {
			continue
		}
		if max > 0 && int64(m.Size) > max {
			tooBig = true
			continue
		}
		if r := m.GetBody(section); r != nil {
			var b bytes.Buffer
			if _, err := io.Copy(&b, io.LimitReader(r, max+1)); err != nil {
				return nil, &IMAPError{Code: "unreachable", Err: fmt.Errorf("reading mail %d: %w", uid, err)}
			}
			raw = b.Bytes()
		}
	}
	if err := <-errc; err != nil {
		return nil, &IMAPError{Code: "unreachable", Err: fmt.Errorf("fetching mail %d: %w", uid, err)}
	}
	if tooBig || (max > 0 && int64(len(raw)) > max) {
		return nil, fmt.Errorf("%w: mail %d is larger than %d bytes", ErrMalformed, uid, max)
	}
	return raw, nil
}

// Wait waits for the mailbox to change (IDLE, or the server's updates),
// for after to fire, or for ctx to end, whichever comes first.
func (s *IMAPSession) Wait(ctx context.Context, after <-chan time.Time) error {
	select {
	case <-s.changed: // a change arrived since the last look
		return nil
	default:
	}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	s.c.Timeout = 0
	defer func() { s.c.Timeout = imapCommandTimeout }()
	go func() { errc <- s.c.Idle(stop, &client.IdleOptions{LogoutTimeout: -1, PollInterval: time.Minute}) }()
	select {
	case <-s.changed:
	case <-after:
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			return &IMAPError{Code: "unreachable", Err: fmt.Errorf("waiting on %q: %w", s.folder, err)}
		}
		return nil
	}
	close(stop)
	if err := <-errc; err != nil {
		return &IMAPError{Code: "unreachable", Err: fmt.Errorf("waiting on %q: %w", s.folder, err)}
	}
	return nil
}

// CheckIMAP logs in to the mailbox and selects its folder, as the poller
// would, and tells how it went.
func CheckIMAP(ctx context.Context, mb IMAPMailbox) engine.HealthResult {
	s, err := DialIMAP(ctx, mb)
	if err != nil {
		return IMAPHealth(err)
	}
	defer s.Close()
	_, err = s.Select()
	return IMAPHealth(err)
}
