package engine

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EmailSecurity is how an email account's SMTP submission connection is
// protected.
type EmailSecurity string

// The SMTP submission security modes.
const (
	// EmailSTARTTLS upgrades a plain connection (usually port 587) and
	// refuses a server that does not offer STARTTLS.
	EmailSTARTTLS EmailSecurity = "starttls"
	// EmailTLS is TLS from the first byte (usually port 465).
	EmailTLS EmailSecurity = "tls"
)

// EmailSettings are an email channel account's own settings: the
// addresses it receives for and how it sends. The account's AccountID is
// its main address (lower case); its AccessToken is the SMTP submission
// password, kept and hidden like the other channels' tokens.
type EmailSettings struct {
	// Addresses are further addresses (aliases) the account receives
	// for, besides AccountID.
	Addresses []string `json:"addresses,omitempty"`
	// FromName is the display name of the From header of its replies.
	FromName string `json:"from_name,omitempty"`
	// SMTPHost and SMTPPort name the submission server.
	SMTPHost string `json:"smtp_host,omitempty"`
	SMTPPort int    `json:"smtp_port,omitempty"`
	// SMTPSecurity is starttls (the default) or tls.
	SMTPSecurity EmailSecurity `json:"smtp_security,omitempty"`
	// SMTPUsername logs in with the account's AccessToken as password;
	// empty means AccountID.
	SMTPUsername string `json:"smtp_username,omitempty"`
	// Greeting and SignOff wrap the AI's replies ("Hello {name}," and
	// "Best regards,\nAcme"); {name} is the contact's first name.
	Greeting string `json:"greeting,omitempty"`
	SignOff  string `json:"sign_off,omitempty"`
	// Quote, when set, quotes the customer's mail under the AI's reply
	// ("On <date>, <name> wrote:" and its lines after "> ").
	Quote bool `json:"quote,omitempty"`
	// IMAP, when set, is a mailbox Parley reads the account's inbound
	// mail from (docs/ARCHITECTURE.md, "Email").
	IMAP *IMAPSettings `json:"imap,omitempty"`
	// DKIM, when set, signs the account's outbound mail.
	DKIM *DKIMSettings `json:"dkim,omitempty"`
}

// IMAPSettings name a mailbox Parley polls (and waits on with IDLE) for an
// email account's inbound mail.
type IMAPSettings struct {
	// Host and Port name the IMAP server; Port zero means 993 with tls
	// and 143 with starttls.
	Host string `json:"host"`
	Port int    `json:"port,omitempty"`
	// Security is tls (the default) or starttls.
	Security EmailSecurity `json:"security,omitempty"`
	// Username logs in; empty means the account's address.
	Username string `json:"username,omitempty"`
	// Password logs in; empty means the account's SMTP password (its
	// AccessToken). It is never shown by the API.
	Password string `json:"password,omitempty"`
	// Folder is the mailbox read; empty means INBOX.
	Folder string `json:"folder,omitempty"`
}

// DKIMSettings sign an email account's outbound mail (RFC 6376): the
// signature names Domain and Selector (the DNS record
// <selector>._domainkey.<domain> holds the public key).
type DKIMSettings struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	// PrivateKey is the PEM of an RSA (PKCS #1 or #8) or Ed25519 (PKCS
	// #8) key. It is never shown by the API.
	PrivateKey string `json:"private_key,omitempty"`
}

// IMAPFolder is the folder s reads (INBOX when unset).
func (s *IMAPSettings) IMAPFolder() string {
	if s.Folder == "" {
		return "INBOX"
	}
	return s.Folder
}

// DKIMSigner parses the private key of d.
func (d *DKIMSettings) DKIMSigner() (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(d.PrivateKey))
	if block == nil {
		return nil, fmt.Errorf("%w: dkim private_key must be a PEM block", ErrInvalid)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: dkim private_key is not an RSA or Ed25519 key: %v", ErrInvalid, err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%w: dkim private_key must be an RSA or Ed25519 key", ErrInvalid)
}

// validHost reports whether h is a bare host name or address.
func validHost(h string) bool {
	return h != "" && len(h) <= 253 && !strings.ContainsAny(h, " /?#@:\x00\r\n")
}

// validateIMAP checks an account's IMAP settings.
func (s *IMAPSettings) validate() error {
	switch {
	case !validHost(s.Host):
		return fmt.Errorf("%w: imap.host must be a host name", ErrInvalid)
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("%w: imap.port must be 1 to 65535", ErrInvalid)
	case s.Security != "" && s.Security != EmailSTARTTLS && s.Security != EmailTLS:
		return fmt.Errorf("%w: imap.security must be tls or starttls", ErrInvalid)
	case len(s.Folder) > 256 || !utf8.ValidString(s.Folder) || strings.ContainsFunc(s.Folder, unicode.IsControl):
		return fmt.Errorf("%w: imap.folder must be at most 256 bytes of text", ErrInvalid)
	}
	for name, v := range map[string]string{"imap.username": s.Username, "imap.password": s.Password} {
		if len(v) > 512 || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
			return fmt.Errorf("%w: %s must be at most 512 bytes of one-line text", ErrInvalid, name)
		}
	}
	return nil
}

// validate checks an account's DKIM settings.
func (d *DKIMSettings) validate() error {
	label := func(s string) bool {
		if s == "" || len(s) > 253 {
			return false
		}
		for _, r := range s {
			if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
		return true
	}
	switch {
	case !label(d.Domain):
		return fmt.Errorf("%w: dkim.domain must be a domain name", ErrInvalid)
	case !label(d.Selector):
		return fmt.Errorf("%w: dkim.selector must be letters, digits, dots, dashes or underscores", ErrInvalid)
	case len(d.PrivateKey) > 16384:
		return fmt.Errorf("%w: dkim.private_key longer than 16384 bytes", ErrInvalid)
	}
	_, err := d.DKIMSigner()
	return err
}

// MaxEmailAddresses bounds an email account's aliases.
const MaxEmailAddresses = 20

// NormalizeEmailAddress returns addr as a bare lower-case address, or an
// error when it is not one.
func NormalizeEmailAddress(addr string) (string, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || strings.ContainsAny(a.Address, " /?#\x00") || len(a.Address) > 254 {
		return "", fmt.Errorf("%w: %q is not an email address", ErrInvalid, addr)
	}
	return strings.ToLower(a.Address), nil
}

// validateEmail checks an email account's settings.
func (a *ChannelAccount) validateEmail() error {
	if _, err := NormalizeEmailAddress(a.AccountID); err != nil || a.AccountID != strings.ToLower(a.AccountID) {
		return fmt.Errorf("%w: account_id must be the account's email address, in lower case", ErrInvalid)
	}
	e := a.Email
	if e == nil {
		return fmt.Errorf("%w: an email account needs its email settings (smtp_host)", ErrInvalid)
	}
	if len(e.Addresses) > MaxEmailAddresses {
		return fmt.Errorf("%w: at most %d further addresses", ErrInvalid, MaxEmailAddresses)
	}
	for _, addr := range e.Addresses {
		if n, err := NormalizeEmailAddress(addr); err != nil || n != addr {
			return fmt.Errorf("%w: addresses must be email addresses in lower case (%q)", ErrInvalid, addr)
		}
	}
	switch {
	case e.SMTPHost == "" || len(e.SMTPHost) > 253 || strings.ContainsAny(e.SMTPHost, " /?#@:\x00"):
		return fmt.Errorf("%w: smtp_host must be a host name", ErrInvalid)
	case e.SMTPPort < 0 || e.SMTPPort > 65535:
		return fmt.Errorf("%w: smtp_port must be 1 to 65535", ErrInvalid)
	case e.SMTPSecurity != "" && e.SMTPSecurity != EmailSTARTTLS && e.SMTPSecurity != EmailTLS:
		return fmt.Errorf("%w: smtp_security must be starttls or tls", ErrInvalid)
	}
	for name, v := range map[string]string{"from_name": e.FromName, "smtp_username": e.SMTPUsername, "greeting": e.Greeting, "sign_off": e.SignOff} {
		if len(v) > 512 || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00") {
			return fmt.Errorf("%w: %s must be at most 512 bytes of text", ErrInvalid, name)
		}
	}
	if strings.ContainsAny(e.FromName, "\r\n") {
		return fmt.Errorf("%w: from_name must be one line", ErrInvalid)
	}
	if e.IMAP != nil {
		if err := e.IMAP.validate(); err != nil {
			return err
		}
	}
	if e.DKIM != nil {
		if err := e.DKIM.validate(); err != nil {
			return err
		}
	}
	return nil
}

// ReceivesAt lists every address an email account receives for, its
// AccountID first.
func (a *ChannelAccount) ReceivesAt() []string {
	out := []string{a.AccountID}
	if a.Email != nil {
		out = append(out, a.Email.Addresses...)
	}
	return out
}

// subjectPrefixes are the reply and forward markers mail clients put
// before a subject, in several languages, lower case, without the colon.
var subjectPrefixes = []string{"re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "tr", "rif", "r", "ref", "odp", "res", "enc"}

// NormalizeSubject strips the reply and forward markers (Re:, Fwd:, AW:,
// "Re[2]:", "[External]" tags aside) and folds case and spaces, so that
// the subjects of one thread compare equal.
func NormalizeSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for {
		t := strings.TrimSpace(s)
		colon := strings.IndexByte(t, ':')
		if colon <= 0 || colon > 8 {
			s = t
			break
		}
		p := strings.ToLower(t[:colon])
		if i := strings.IndexAny(p, "[("); i > 0 {
			p = p[:i] // Re[2]: and Re(2):
		}
		if !slices.Contains(subjectPrefixes, strings.TrimSpace(p)) {
			s = t
			break
		}
		s = t[colon+1:]
	}
	return strings.ToLower(s)
}

// ReplySubject is the subject of a reply to a mail with subject s: "Re: "
// before it, unless it already starts with a reply marker.
func ReplySubject(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "Re: your message"
	}
	if t := strings.ToLower(s); strings.HasPrefix(t, "re:") || strings.HasPrefix(t, "aw:") || strings.HasPrefix(t, "sv:") {
		return s
	}
	return "Re: " + s
}

// FormatEmailReply wraps an AI reply as an email: the account's greeting
// (with {name} replaced by the contact's first name, or dropped with the
// space before it when the name is unknown), the text, and the sign-off.
func FormatEmailReply(e *EmailSettings, contactName, text string) string {
	if e == nil || (e.Greeting == "" && e.SignOff == "") {
		return text
	}
	var b strings.Builder
	if e.Greeting != "" {
		first, _, _ := strings.Cut(strings.TrimSpace(contactName), " ")
		g := e.Greeting
		if first == "" {
			g = strings.ReplaceAll(g, " {name}", "")
		}
		b.WriteString(strings.ReplaceAll(g, "{name}", first))
		b.WriteString("\n\n")
	}
	b.WriteString(strings.TrimSpace(text))
	if e.SignOff != "" {
		b.WriteString("\n\n")
		b.WriteString(e.SignOff)
	}
	return b.String()
}

// QuotedMail is the customer's mail a reply answers, as the reply quotes
// it.
type QuotedMail struct {
	// From is the sender as shown ("Ann Lee" or the address).
	From string
	Date time.Time
	// Text is the mail's displayed text.
	Text string
}

// MaxQuotedBytes bounds the text a reply quotes.
const MaxQuotedBytes = 16 << 10

// EmailReplyText is the body of the AI's reply to a mail: the reply
// wrapped by FormatEmailReply and, when the account quotes (Quote) and q
// is known, the customer's mail after "On <date>, <from> wrote:" with each
// of its lines after "> " (cut at MaxQuotedBytes, its trailing blank lines
// dropped). Dates are shown in UTC.
func EmailReplyText(e *EmailSettings, contactName, text string, q *QuotedMail) string {
	out := FormatEmailReply(e, contactName, text)
	if e == nil || !e.Quote || q == nil || strings.TrimSpace(q.Text) == "" {
		return out
	}
	quoted := q.Text
	if len(quoted) > MaxQuotedBytes {
		quoted = strings.ToValidUTF8(quoted[:MaxQuotedBytes], "") + "\n[…]"
	}
	quoted = strings.TrimRight(strings.ReplaceAll(quoted, "\r\n", "\n"), "\n \t")
	var b strings.Builder
	b.WriteString(out)
	b.WriteString("\n\n")
	from := strings.TrimSpace(q.From)
	if from == "" {
		from = "you"
	}
	if q.Date.IsZero() {
		fmt.Fprintf(&b, "%s wrote:\n", from)
	} else {
		fmt.Fprintf(&b, "On %s, %s wrote:\n", q.Date.UTC().Format("Mon, 2 Jan 2006 at 15:04 MST"), from)
	}
	for i, line := range strings.Split(quoted, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		if line == "" || strings.HasPrefix(line, ">") {
			b.WriteString(">" + line)
		} else {
			b.WriteString("> " + line)
		}
	}
	return b.String()
}

// MaxThreadBytes bounds an email thread's name.
const MaxThreadBytes = 200

// ThreadUser is the name a conversation's thread entry is kept under: the
// channel user, and for an email thread the thread after a NUL byte (an
// address holds none), so that one contact has a conversation per thread.
func ThreadUser(extUser, thread string) string {
	if thread == "" {
		return extUser
	}
	return extUser + "\x00" + thread
}

// EmailThreadRef is the conversation a mail referenced earlier belongs
// to, as far as threading is concerned.
type EmailThreadRef struct {
	ExternalUserID string
	Thread         string
}

// EmailThread decides which conversation an inbound mail joins, named by
// the channel user and thread (ThreadUser) of the account's thread
// entry. refs are the Message-IDs the mail answers, In-Reply-To first,
// then References newest first; known holds those stored already (a
// mail received or a reply sent), with their conversation's user and
// thread. The first known reference wins: a reply joins its thread
// whatever its sender or subject. Without one, the mail joins the
// sender's thread of the same normalised subject, which is new when
// there is none (docs/ARCHITECTURE.md, "Email").
func EmailThread(from, subject string, refs []string, known map[string]EmailThreadRef) (extUser, thread string) {
	for _, id := range refs {
		if r, ok := known[id]; ok && r.ExternalUserID != "" {
			return r.ExternalUserID, r.Thread
		}
	}
	thread = NormalizeSubject(subject)
	if len(thread) > MaxThreadBytes {
		thread = strings.ToValidUTF8(thread[:MaxThreadBytes], "")
	}
	if thread == "" {
		thread = "(no subject)"
	}
	return from, thread
}

// EmailRefs lists the Message-IDs a mail answers in the order
// EmailThread looks them up: In-Reply-To, then References newest first,
// each once.
func EmailRefs(inReplyTo, references []string) []string {
	out := make([]string, 0, len(inReplyTo)+len(references))
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, id := range inReplyTo {
		add(id)
	}
	for i := len(references) - 1; i >= 0; i-- {
		add(references[i])
	}
	return out
}
