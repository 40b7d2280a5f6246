// Package imaptest is an IMAP server for tests: github.com/emersion/go-imap's
// server with its memory backend on 127.0.0.1, over TLS with a
// certificate of its own.
package imaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/memory"
	"github.com/emersion/go-imap/server"
)

// IMAP is an IMAP server for tests: github.com/emersion/go-imap's server
// with its memory backend, over TLS from the first byte (a certificate of
// its own), with one user whose INBOX holds one mail at first (UID 6).
// The memory backend is not safe for concurrent use: every call into it
// holds one lock. Status reports UIDValidity (1 at first).
type IMAP struct {
	// Addr is its host:port.
	Addr string
	// User and Password are the credentials it accepts.
	User, Password string

	roots    *x509.CertPool
	certPEM  []byte
	mu       sync.Mutex
	inbox    *memory.Mailbox
	validity uint32
	srv      *server.Server
	conns    *trackingListener
}

// trackingListener keeps the connections it accepted, to close them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

// New starts a server with a certificate of its own (CertPEM); it stops
// with the test.
func New(t testing.TB) *IMAP {
	cert, roots, certPEM := certificate(t)
	s := NewWith(t, cert, roots)
	s.certPEM = certPEM
	return s
}

// NewWith starts a server with the certificate cert, which roots trust;
// it stops with the test.
func NewWith(t testing.TB, cert tls.Certificate, roots *x509.CertPool) *IMAP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := memory.New()
	s := &IMAP{Addr: ln.Addr().String(), User: "username", Password: "password", roots: roots, validity: 1}
	u, err := be.Login(nil, s.User, s.Password)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.GetMailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	s.inbox = mb.(*memory.Mailbox)
	s.inbox.Messages[0].Date = time.Now().AddDate(0, 0, -30) // an old mail
	srv := server.New(lockedBackend{s: s, be: be})
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up
	s.srv = srv
	tl := &trackingListener{Listener: tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})}
	s.conns = tl
	go func() { _ = srv.Serve(tl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// CertPEM is the server's certificate as PEM (of a server made by New),
// for a process that trusts it through SSL_CERT_FILE.
func (s *IMAP) CertPEM() []byte { return s.certPEM }

// TLSConfig trusts the server's certificate.
func (s *IMAP) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Append adds a mail to the INBOX and returns its UID.
func (s *IMAP) Append(raw []byte) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.inbox.CreateMessage(nil, time.Now(), bytes.NewReader(raw)); err != nil {
		panic(err)
	}
	return s.inbox.Messages[len(s.inbox.Messages)-1].Uid
}

// Renumber gives the INBOX a new UIDVALIDITY and its mails new UIDs from
// first on, as a server does when a folder is rebuilt, and closes the
// connections that had it selected (RFC 3501 leaves a server no other
// way to tell them).
func (s *IMAP) Renumber(validity, first uint32) {
	s.mu.Lock()
	s.validity = validity
	for i, m := range s.inbox.Messages {
		m.Uid = first + uint32(i) //nolint:gosec // a few test mails
	}
	// Closed before any of them runs another command on the new UIDs
	// (the network connections: the server's own Close reads what its
	// connection's goroutine writes).
	s.conns.closeAll()
	s.mu.Unlock()
}

// Count is the number of mails in the INBOX.
func (s *IMAP) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbox.Messages)
}

type lockedBackend struct {
	s  *IMAP
	be *memory.Backend
}

func (b lockedBackend) Login(ci *imap.ConnInfo, user, pass string) (backend.User, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	u, err := b.be.Login(ci, user, pass)
	if err != nil {
		return nil, err
	}
	return lockedUser{s: b.s, User: u}, nil
}

type lockedUser struct {
	s *IMAP
	backend.User
}

func (u lockedUser) lock() func() { u.s.mu.Lock(); return u.s.mu.Unlock }

func (u lockedUser) ListMailboxes(sub bool) ([]backend.Mailbox, error) {
	defer u.lock()()
	mbs, err := u.User.ListMailboxes(sub)
	for i, m := range mbs {
		mbs[i] = lockedMailbox{s: u.s, Mailbox: m}
	}
	return mbs, err
}

func (u lockedUser) GetMailbox(name string) (backend.Mailbox, error) {
	defer u.lock()()
	m, err := u.User.GetMailbox(name)
	if err != nil {
		return nil, err
	}
	return lockedMailbox{s: u.s, Mailbox: m}, nil
}

func (u lockedUser) CreateMailbox(name string) error {
	defer u.lock()()
	return u.User.CreateMailbox(name)
}

func (u lockedUser) DeleteMailbox(name string) error {
	defer u.lock()()
	return u.User.DeleteMailbox(name)
}

func (u lockedUser) RenameMailbox(a, b string) error {
	defer u.lock()()
	return u.User.RenameMailbox(a, b)
}

type lockedMailbox struct {
	s *IMAP
	backend.Mailbox
}

func (m lockedMailbox) lock() func() { m.s.mu.Lock(); return m.s.mu.Unlock }

func (m lockedMailbox) Info() (*imap.MailboxInfo, error) { defer m.lock()(); return m.Mailbox.Info() }

func (m lockedMailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	defer m.lock()()
	st, err := m.Mailbox.Status(items)
	if err == nil {
		if _, ok := st.Items[imap.StatusUidValidity]; ok {
			st.UidValidity = m.s.validity
		}
	}
	return st, err
}

func (m lockedMailbox) SetSubscribed(v bool) error {
	defer m.lock()()
	return m.Mailbox.SetSubscribed(v)
}

func (m lockedMailbox) Check() error { defer m.lock()(); return m.Mailbox.Check() }

func (m lockedMailbox) ListMessages(uid bool, set *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer m.lock()()
	return m.Mailbox.ListMessages(uid, set, items, ch)
}

func (m lockedMailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	defer m.lock()()
	return m.Mailbox.SearchMessages(uid, c)
}

func (m lockedMailbox) CreateMessage(flags []string, date time.Time, body imap.Literal) error {
	defer m.lock()()
	return m.Mailbox.CreateMessage(flags, date, body)
}

func (m lockedMailbox) UpdateMessagesFlags(uid bool, set *imap.SeqSet, op imap.FlagsOp, flags []string) error {
	defer m.lock()()
	return m.Mailbox.UpdateMessagesFlags(uid, set, op, flags)
}

func (m lockedMailbox) CopyMessages(uid bool, set *imap.SeqSet, dest string) error {
	defer m.lock()()
	return m.Mailbox.CopyMessages(uid, set, dest)
}

func (m lockedMailbox) Expunge() error { defer m.lock()(); return m.Mailbox.Expunge() }

// certificate makes a self-signed certificate for 127.0.0.1.
func certificate(t testing.TB) (tls.Certificate, *x509.CertPool, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
