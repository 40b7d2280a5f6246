package email

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decodes the non-UTF-8 charsets mail comes in
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/microcosm-cc/bluemonday"
)

// Limits of what Parse accepts.
const (
	// MaxParts bounds the MIME parts of one mail.
	MaxParts = 200
	// MaxDepth bounds the nesting of multiparts.
	MaxDepth = 16
	// maxTextBytes bounds the text and HTML bodies read.
	maxTextBytes = 1 << 20
)

// ErrMalformed is wrapped by Parse's errors for mail that cannot be read.
var ErrMalformed = errors.New("email: malformed message")

// Mail is a parsed inbound email.
type Mail struct {
	// MessageID is the Message-ID without its angle brackets; for a mail
	// without one, "sha256:" and the digest of its bytes, so a resent
	// copy is still recognised.
	MessageID  string
	InReplyTo  []string
	References []string
	// From is the sender's address (lower case) and FromName its
	// display name.
	From     string
	FromName string
	To       []string
	Subject  string
	Date     time.Time
	// Text is what the inbox shows: the plain text (or the HTML's text),
	// with the quoted earlier mail and the signature taken off. FullText
	// is the whole plain text.
	Text     string
	FullText string
	// HTML is the HTML body sanitised for display ("" when none).
	HTML string
	// Parts are the attachments and inline images, in order.
	Parts []Part
	// AutoReply is set for an automatic mail (Auto-Submitted,
	// Precedence bulk/junk/list/auto_reply, X-Autoreply): it opens no
	// conversation and the AI does not answer it.
	AutoReply bool
	// Bounce is set for a delivery status notification
	// (multipart/report; report-type=delivery-status).
	Bounce *Bounce
}

// Part is an attachment or an inline image.
type Part struct {
	Filename  string
	MimeType  string
	ContentID string
	Inline    bool
	Data      []byte
}

// Bounce is what a delivery status notification says.
type Bounce struct {
	// OriginalMessageID is the Message-ID of the mail that failed, from
	// the returned headers ("" when the report does not carry them).
	OriginalMessageID string
	Recipient         string
	// Failed is set when an action is "failed" (a "delayed" report is
	// not a failure).
	Failed bool
	// Status is the enhanced status code (5.1.1) and Reason the
	// diagnostic or, without one, a description of the status.
	Status string
	Reason string
}

// policy sanitises mail HTML for display: user-generated content
// (links, images, tables, inline formatting), no scripts, styles, forms
// or event handlers; links open elsewhere and carry no referrer.
var policy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowURLSchemes("http", "https", "mailto", "cid")
	return p
}()

// strip removes every tag (the HTML's text, before unescaping).
var strip = bluemonday.StrictPolicy()

// SanitizeHTML returns mail HTML safe to show in the inbox.
func SanitizeHTML(s string) string { return policy.Sanitize(s) }

// Parse reads one raw mail (RFC 5322 with MIME). It never fails on an
// unknown charset or transfer encoding (the part is kept as it came);
// it fails, wrapping ErrMalformed, on a header it cannot read or past
// MaxParts or MaxDepth.
func Parse(raw []byte) (*Mail, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	h := mail.Header{Header: e.Header}
	m := &Mail{}
	m.MessageID = messageID(h, raw)
	m.InReplyTo = msgIDs(h, "In-Reply-To")
	m.References = msgIDs(h, "References")
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		m.From, m.FromName = strings.ToLower(from[0].Address), validText(from[0].Name)
	} else if a := bareAddress(h.Get("From")); a != "" {
		m.From = a
	}
	for _, key := range []string{"To", "Cc", "Delivered-To", "X-Original-To"} {
		if list, err := h.AddressList(key); err == nil {
			for _, a := range list {
				m.To = append(m.To, strings.ToLower(a.Address))
			}
		}
	}
	if s, err := h.Subject(); err == nil {
		m.Subject = validText(strings.Join(strings.Fields(s), " "))
	} else {
		m.Subject = validText(strings.Join(strings.Fields(h.Get("Subject")), " "))
	}
	if d, err := h.Date(); err == nil {
		m.Date = d.UTC()
	}
	m.AutoReply = isAutomatic(e.Header)
	mt, params, _ := e.Header.ContentType()
	if mt == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status") {
		m.Bounce = &Bounce{}
	}
	var text, htmlBody string
	parts := 0
	werr := e.Walk(func(path []int, p *message.Entity, err error) error {
		if parts++; parts > MaxParts {
			return fmt.Errorf("%w: more than %d parts", ErrMalformed, MaxParts)
		}
		if len(path) > MaxDepth {
			return fmt.Errorf("%w: multiparts nested deeper than %d", ErrMalformed, MaxDepth)
		}
		ct, cparams, _ := p.Header.ContentType()
		if strings.HasPrefix(ct, "multipart/") {
			return nil
		}
		disp, dparams, _ := p.Header.ContentDisposition()
		name := validText(dparams["filename"])
		if name == "" {
			name = validText(cparams["name"])
		}
		switch {
		case m.Bounce != nil && (ct == "message/delivery-status" || ct == "message/global-delivery-status"):
			readDSN(m.Bounce, p.Body)
			return nil
		case m.Bounce != nil && (ct == "message/rfc822" || ct == "text/rfc822-headers" || ct == "message/rfc822-headers"):
			if hdr, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(p.Body, 1<<20))); err == nil {
				m.Bounce.OriginalMessageID = messageID(mail.Header{Header: message.Header{Header: hdr}}, nil)
			}
			return nil
		case disp != "attachment" && name == "" && ct == "text/plain" && text == "":
			text = readText(p.Body)
			return nil
		case disp != "attachment" && name == "" && ct == "text/html" && htmlBody == "":
			htmlBody = readText(p.Body)
			return nil
		}
		data, rerr := io.ReadAll(p.Body)
		if rerr != nil {
			return fmt.Errorf("%w: reading a part: %v", ErrMalformed, rerr)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		cid := strings.Trim(p.Header.Get("Content-Id"), "<> ")
		m.Parts = append(m.Parts, Part{Filename: name, MimeType: ct, ContentID: validText(cid),
			Inline: disp == "inline" || (disp == "" && cid != ""), Data: data})
		return nil
	})
	if werr != nil {
		if errors.Is(werr, ErrMalformed) {
			return nil, werr
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, werr)
	}
	if htmlBody != "" {
		m.HTML = SanitizeHTML(htmlBody)
	}
	if text == "" && htmlBody != "" {
		text = HTMLText(htmlBody)
	}
	m.FullText = strings.TrimSpace(text)
	m.Text = StripQuoted(text)
	if m.Bounce != nil && m.Bounce.Reason == "" && m.Bounce.Status != "" {
		m.Bounce.Reason = "status " + m.Bounce.Status
	}
	return m, nil
}

// messageID is the mail's Message-ID, or a digest of raw for a mail
// without one (nil raw: "").
func messageID(h mail.Header, raw []byte) string {
	if id, err := h.MessageID(); err == nil && validID(id) {
		return id
	}
	if id := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"); validID(id) {
		return id
	}
	if raw == nil {
		return ""
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func msgIDs(h mail.Header, key string) []string {
	ids, err := h.MsgIDList(key)
	if err != nil {
		for _, f := range strings.Fields(h.Get(key)) {
			if f = strings.Trim(f, "<>,"); f != "" {
				ids = append(ids, f)
			}
		}
	}
	out := ids[:0]
	for _, id := range ids {
		if validID(id) {
			out = append(out, id)
		}
	}
	if len(out) > 50 {
		out = out[len(out)-50:] // the newest; a thread's root is looked up by its last ones too
	}
	return out
}

// validID reports whether id can be a message id Parley keeps and puts
// back in the References of a reply: at most 500 bytes of UTF-8 without
// spaces, control characters or angle brackets.
func validID(id string) bool {
	if id == "" || len(id) > 500 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	return true
}

var addrRe = regexp.MustCompile(`[^\s<>"@]+@[^\s<>"@]+`)

func bareAddress(s string) string { return strings.ToLower(addrRe.FindString(s)) }

// isAutomatic reports whether headers mark an automatic mail (RFC 3834
// Auto-Submitted, Precedence, and the common vendor headers).
func isAutomatic(h message.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "junk", "list", "auto_reply":
		return true
	}
	return h.Has("X-Autoreply") || h.Has("X-Autorespond")
}

// readDSN reads a message/delivery-status body: the per-recipient
// fields of the first failed recipient (or of the first one).
func readDSN(b *Bounce, body io.Reader) {
	br := bufio.NewReader(io.LimitReader(body, 1<<20))
	first := true
	for {
		if _, err := br.Peek(1); err != nil {
			return // the end of the report
		}
		hdr, err := textproto.ReadHeader(br)
		if err != nil && hdr.Len() == 0 {
			return
		}
		if first { // the per-message fields
			first = false
			if !hdr.Has("Final-Recipient") && !hdr.Has("Action") {
				continue
			}
		}
		action := strings.ToLower(strings.TrimSpace(hdr.Get("Action")))
		if b.Recipient != "" && (b.Failed || action != "failed") {
			continue
		}
		b.Failed = action == "failed"
		rcpt := hdr.Get("Final-Recipient")
		if _, a, ok := strings.Cut(rcpt, ";"); ok {
			rcpt = a
		}
		b.Recipient = validText(strings.ToLower(strings.TrimSpace(rcpt)))
		b.Status = validText(strings.TrimSpace(hdr.Get("Status")))
		diag := hdr.Get("Diagnostic-Code")
		if _, d, ok := strings.Cut(diag, ";"); ok {
			diag = d
		}
		b.Reason = validText(strings.Join(strings.Fields(diag), " "))
		if err != nil {
			return
		}
	}
}

func readText(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxTextBytes))
	return validText(strings.ReplaceAll(string(b), "\r\n", "\n"))
}

// validText replaces what is not UTF-8 (a part in an unknown charset).
func validText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

var (
	blockTags = regexp.MustCompile(`(?i)<(br|/p|/div|/li|/tr|/h[1-6]|/blockquote)\b[^>]*>`)
	quoteOpen = regexp.MustCompile(`(?is)<blockquote\b.*`)
	styleTags = regexp.MustCompile(`(?is)<(style|script|head)\b.*?</(style|script|head)\s*>`)
	blankRuns = regexp.MustCompile(`\n{3,}`)
)

// HTMLText is the text of mail HTML, one line per block, without the
// quoted earlier mail (a blockquote and what follows it).
func HTMLText(s string) string {
	s = styleTags.ReplaceAllString(s, "")
	s = quoteOpen.ReplaceAllString(s, "")
	s = blockTags.ReplaceAllString(s, "\n$0")
	s = html.UnescapeString(strip.Sanitize(s))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(strings.ReplaceAll(l, "\u00a0", " "))
	}
	return strings.TrimSpace(blankRuns.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

// attribution matches the line a mail client writes above a quoted mail:
// "On Mon, 7 Dec 2026 at 10:00, Ann <ann@example.com> wrote:" and its
// translations ("Am … schrieb …:", "Le … a écrit :", "El … escribió:").
var attribution = regexp.MustCompile(`(?i)^(on\b.*\bwrote|am\b.*\bschrieb|le\b.*\ba écrit|el\b.*\bescribió|il\b.*\bha scritto|op\b.*\bschreef)(\s*:?|\s.*:)\s*$`)

// outlookSep matches the separators Outlook and others put above a
// forwarded or quoted mail.
var outlookSep = regexp.MustCompile(`(?i)^(-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|message d'origine)\s*-{2,}|_{10,}|from:\s.+|von:\s.+|de\s?:\s.+@.+)$`)

// StripQuoted returns the new part of a plain-text mail: the text above
// the quoted earlier mail ("> " lines and the attribution line before
// them, an Outlook "-----Original Message-----" or "From:" block) and
// above the signature ("-- " on a line of its own, or a "Sent from my
// …" line). A mail that is only a quote is kept whole.
func StripQuoted(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	cut := len(lines)
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case l == "-- " || l == "--" || strings.HasPrefix(strings.ToLower(t), "sent from my "):
			cut = i
		case strings.HasPrefix(t, ">"):
			cut = i
			// an attribution line (possibly wrapped on two lines) just above
			for j := i - 1; j >= 0 && j >= i-3; j-- {
				p := strings.TrimSpace(lines[j])
				if p == "" {
					continue
				}
				if attribution.MatchString(p) || (j > 0 && attribution.MatchString(strings.TrimSpace(lines[j-1])+" "+p)) {
					cut = j
					if j > 0 && !attribution.MatchString(p) {
						cut = j - 1
					}
				}
				break
			}
		case attribution.MatchString(t) || outlookSep.MatchString(t) && i > 0:
			cut = i
		default:
			continue
		}
		break
	}
	out := strings.TrimSpace(strings.Join(lines[:cut], "\n"))
	if out == "" {
		return strings.TrimSpace(s)
	}
	return out
}
