package engine_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestEmailAccountValidate(t *testing.T) {
	t.Parallel()
	ok := func() engine.ChannelAccount {
		return engine.ChannelAccount{Channel: engine.ChannelEmail, AccountID: "support@shop.test", Name: "Support",
			AccessToken: "pw", Email: &engine.EmailSettings{SMTPHost: "smtp.shop.test", SMTPPort: 587,
				Addresses: []string{"help@shop.test"}}}
	}
	a := ok()
	require.NoError(t, a.Validate())
	assert.Equal(t, []string{"support@shop.test", "help@shop.test"}, a.ReceivesAt())
	for name, change := range map[string]func(*engine.ChannelAccount){
		"upper case address": func(a *engine.ChannelAccount) { a.AccountID = "Support@shop.test" },
		"not an address":     func(a *engine.ChannelAccount) { a.AccountID = "support" },
		"no settings":        func(a *engine.ChannelAccount) { a.Email = nil },
		"no host":            func(a *engine.ChannelAccount) { a.Email.SMTPHost = "" },
		"host with port":     func(a *engine.ChannelAccount) { a.Email.SMTPHost = "smtp.shop.test:587" },
		"port":               func(a *engine.ChannelAccount) { a.Email.SMTPPort = 70000 },
		"security":           func(a *engine.ChannelAccount) { a.Email.SMTPSecurity = "ssl3" },
		"alias":              func(a *engine.ChannelAccount) { a.Email.Addresses = []string{"Help <help@shop.test>"} },
		"two-line from name": func(a *engine.ChannelAccount) { a.Email.FromName = "A\r\nBcc: x@y" },
	} {
		a := ok()
		change(&a)
		err := a.Validate()
		assert.True(t, errors.Is(err, engine.ErrInvalid), "%s: %v", name, err)
	}
}

func TestNormalizeSubject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Order 42":                 "order 42",
		"Re: Order 42":             "order 42",
		"RE: Fwd: re:  Order   42": "order 42",
		"AW: WG: Order 42":         "order 42",
		"Re[2]: Order 42":          "order 42",
		"Ticket: Order 42":         "ticket: order 42",
		"":                         "",
	} {
		assert.Equal(t, want, engine.NormalizeSubject(in), in)
	}
	assert.Equal(t, "Re: Order 42", engine.ReplySubject("Order 42"))
	assert.Equal(t, "RE: Order 42", engine.ReplySubject("RE: Order 42"))
}

func TestFormatEmailReply(t *testing.T) {
	t.Parallel()
	e := &engine.EmailSettings{Greeting: "Hello {name},", SignOff: "Best regards,\nAcme"}
	assert.Equal(t, "Hello Ann,\n\nYour order left today.\n\nBest regards,\nAcme", engine.FormatEmailReply(e, "Ann Lee", " Your order left today. "))
	assert.Equal(t, "Hello,\n\nHi.\n\nBest regards,\nAcme", engine.FormatEmailReply(e, "", "Hi."))
	assert.Equal(t, "Hi.", engine.FormatEmailReply(nil, "Ann", "Hi."))
}

func TestEmailThread(t *testing.T) {
	t.Parallel()
	refs := engine.EmailRefs([]string{"b@x"}, []string{"root@x", "a@x", "b@x"})
	assert.Equal(t, []string{"b@x", "a@x", "root@x"}, refs)
	known := map[string]engine.EmailThreadRef{"a@x": {ExternalUserID: "ann@example.com", Thread: "order 42"}}

	user, thread := engine.EmailThread("bob@example.com", "Something else", refs, known)
	assert.Equal(t, "ann@example.com", user, "a reply joins the thread it answers, whoever sends it")
	assert.Equal(t, "order 42", thread)

	user, thread = engine.EmailThread("ann@example.com", "RE: Order  42", []string{"unknown@x"}, known)
	assert.Equal(t, "ann@example.com", user)
	assert.Equal(t, "order 42", thread, "without a known reference, the sender and the normalised subject")

	_, thread = engine.EmailThread("ann@example.com", "Re: ", nil, nil)
	assert.Equal(t, "(no subject)", thread)
	_, thread = engine.EmailThread("ann@example.com", strings.Repeat("é", 300), nil, nil)
	assert.LessOrEqual(t, len(thread), engine.MaxThreadBytes)
	assert.True(t, utf8.ValidString(thread))

	assert.Equal(t, "ann@example.com", engine.ThreadUser("ann@example.com", ""))
	assert.NotEqual(t, engine.ThreadUser("ann@example.com", "a"), engine.ThreadUser("ann@example.com", "b"))
}

func TestEmailReplyTextQuotes(t *testing.T) {
	t.Parallel()
	e := &engine.EmailSettings{Greeting: "Hello {name},", SignOff: "Best,\nAcme", Quote: true}
	at := time.Date(2026, 3, 4, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	q := &engine.QuotedMail{From: "Ann Lee", Date: at, Text: "Where is my order?\r\n\r\n> earlier\nThanks\n\n"}
	assert.Equal(t, "Hello Ann,\n\nIt left today.\n\nBest,\nAcme\n\nOn Wed, 4 Mar 2026 at 08:30 UTC, Ann Lee wrote:\n"+
		"> Where is my order?\n>\n>> earlier\n> Thanks", engine.EmailReplyText(e, "Ann Lee", "It left today.", q))
	e.Quote = false
	assert.Equal(t, "Hello Ann,\n\nIt left today.\n\nBest,\nAcme", engine.EmailReplyText(e, "Ann Lee", "It left today.", q), "quoting is per account")
	e.Quote = true
	assert.Equal(t, "Hello Ann,\n\nHi.\n\nBest,\nAcme", engine.EmailReplyText(e, "Ann", "Hi.", nil), "nothing to quote")
	assert.Equal(t, "Hi.\n\nann@example.com wrote:\n> Q", engine.EmailReplyText(&engine.EmailSettings{Quote: true}, "", "Hi.",
		&engine.QuotedMail{From: "ann@example.com", Text: "Q"}), "no date known")
	long := engine.EmailReplyText(e, "", "Hi.", &engine.QuotedMail{From: "x", Text: strings.Repeat("é", engine.MaxQuotedBytes)})
	assert.Less(t, len(long), engine.MaxQuotedBytes+200, "the quote is bounded")
	assert.True(t, utf8.ValidString(long))
}

func TestEmailAccountIMAPAndDKIM(t *testing.T) {
	t.Parallel()
	_, pemKey := testDKIMKey(t)
	acct := func() engine.ChannelAccount {
		return engine.ChannelAccount{Channel: engine.ChannelEmail, AccountID: "support@shop.test", AccessToken: "pw",
			Email: &engine.EmailSettings{SMTPHost: "smtp.shop.test",
				IMAP: &engine.IMAPSettings{Host: "imap.shop.test", Port: 993, Security: engine.EmailTLS, Folder: "Support/Inbox"},
				DKIM: &engine.DKIMSettings{Domain: "shop.test", Selector: "parley2026", PrivateKey: pemKey}}}
	}
	a := acct()
	require.NoError(t, a.Validate())
	assert.Equal(t, "Support/Inbox", a.Email.IMAP.IMAPFolder())
	assert.Equal(t, "INBOX", (&engine.IMAPSettings{}).IMAPFolder())
	for name, change := range map[string]func(*engine.ChannelAccount){
		"imap host":      func(a *engine.ChannelAccount) { a.Email.IMAP.Host = "" },
		"imap host port": func(a *engine.ChannelAccount) { a.Email.IMAP.Host = "imap.shop.test:993" },
		"imap port":      func(a *engine.ChannelAccount) { a.Email.IMAP.Port = -1 },
		"imap security":  func(a *engine.ChannelAccount) { a.Email.IMAP.Security = "none" },
		"imap folder":    func(a *engine.ChannelAccount) { a.Email.IMAP.Folder = "In\nbox" },
		"imap password":  func(a *engine.ChannelAccount) { a.Email.IMAP.Password = "a\r\nb" },
		"dkim domain":    func(a *engine.ChannelAccount) { a.Email.DKIM.Domain = "" },
		"dkim selector":  func(a *engine.ChannelAccount) { a.Email.DKIM.Selector = "a b" },
		"dkim key":       func(a *engine.ChannelAccount) { a.Email.DKIM.PrivateKey = "not a key" },
		"dkim key kind":  func(a *engine.ChannelAccount) { a.Email.DKIM.PrivateKey = ecKeyPEM(t) },
	} {
		a := acct()
		change(&a)
		err := a.Validate()
		assert.True(t, errors.Is(err, engine.ErrInvalid), "%s: %v", name, err)
	}
}

// testDKIMKey is a new Ed25519 key and its PKCS #8 PEM.
func testDKIMKey(t testing.TB) (ed25519.PrivateKey, string) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func ecKeyPEM(t *testing.T) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// FuzzEmailAccountSettings feeds the IMAP and DKIM settings an API call
// may carry to the account's validation: it never panics, and what it
// accepts has a key that signs.
func FuzzEmailAccountSettings(f *testing.F) {
	_, key := testDKIMKey(f)
	f.Add("imap.shop.test", 993, "tls", "INBOX", "shop.test", "parley", key)
	f.Add("", 0, "", "", "", "", "")
	f.Add("a:b", -1, "none", "In\x00box", "x y", "s", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Fuzz(func(t *testing.T, host string, port int, security, folder, domain, selector, pemKey string) {
		a := engine.ChannelAccount{Channel: engine.ChannelEmail, AccountID: "support@shop.test", AccessToken: "pw",
			Email: &engine.EmailSettings{SMTPHost: "smtp.shop.test",
				IMAP: &engine.IMAPSettings{Host: host, Port: port, Security: engine.EmailSecurity(security), Folder: folder},
				DKIM: &engine.DKIMSettings{Domain: domain, Selector: selector, PrivateKey: pemKey}}}
		if a.Validate() != nil {
			return
		}
		if _, err := a.Email.DKIM.DKIMSigner(); err != nil {
			t.Fatalf("accepted a key that does not sign: %v", err)
		}
	})
}
