package email

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseLatin1AndQuotedReply(t *testing.T) {
	raw := append(crlf(`From: =?ISO-8859-1?Q?Andr=E9_M=FCller?= <Andre@Example.COM>
To: Support <support@shop.test>
Subject: =?ISO-8859-1?Q?Re:_R=FCckerstattung?=
Message-ID: <abc.123@example.com>
In-Reply-To: <parley.1@shop.test>
References: <root@example.com> <parley.1@shop.test>
Date: Mon, 7 Dec 2026 10:00:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit

`), []byte("Gr\xfc\xdfe, ich m\xf6chte mein Geld zur\xfcck.\r\n\r\nAm Mo., 7. Dez. 2026 um 09:00 schrieb Support <support@shop.test>:\r\n> Hallo Andr\xe9\r\n> wie k\xf6nnen wir helfen?\r\n")...)
	m, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "abc.123@example.com", m.MessageID)
	assert.Equal(t, "andre@example.com", m.From)
	assert.Equal(t, "André Müller", m.FromName)
	assert.Equal(t, []string{"support@shop.test"}, m.To)
	assert.Equal(t, "Re: Rückerstattung", m.Subject)
	assert.Equal(t, []string{"parley.1@shop.test"}, m.InReplyTo)
	assert.Equal(t, []string{"root@example.com", "parley.1@shop.test"}, m.References)
	assert.Equal(t, "Grüße, ich möchte mein Geld zurück.", m.Text)
	assert.Contains(t, m.FullText, "> Hallo André")
	assert.False(t, m.AutoReply)
	assert.Nil(t, m.Bounce)
}

func TestParseAlternativeHostileHTMLAttachmentsAndInlineImage(t *testing.T) {
	raw := crlf(`From: ann@example.com
To: support@shop.test
Subject: Order 42
Message-ID: <m1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=OUT

--OUT
Content-Type: multipart/related; boundary=REL

--REL
Content-Type: multipart/alternative; boundary=ALT

--ALT
Content-Type: text/plain; charset=utf-8

Here is the photo.

-- 
Ann, Example Ltd
--ALT
Content-Type: text/html; charset=utf-8

<p onclick="steal()">Here is the <b>photo</b>.</p><script>alert(1)</script><img src="cid:img1" onerror="x()"><a href="javascript:alert(2)">x</a><iframe src="https://evil.test"></iframe><style>body{display:none}</style>
--ALT--
--REL
Content-Type: image/png
Content-ID: <img1>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--REL--
--OUT
Content-Type: application/pdf; name="invoice.pdf"
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--OUT--
`)
	m, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "Here is the photo.", m.Text, "the signature is taken off")
	for _, bad := range []string{"<script", "onclick", "onerror", "javascript:", "<iframe", "<style", "steal"} {
		assert.NotContains(t, m.HTML, bad)
	}
	assert.Contains(t, m.HTML, "<b>photo</b>")
	assert.Contains(t, m.HTML, `src="cid:img1"`)
	require.Len(t, m.Parts, 2)
	assert.Equal(t, Part{MimeType: "image/png", ContentID: "img1", Inline: true, Data: []byte("\x89PNG\r\n\x1a\n")}, m.Parts[0])
	assert.Equal(t, "invoice.pdf", m.Parts[1].Filename)
	assert.Equal(t, "application/pdf", m.Parts[1].MimeType)
	assert.False(t, m.Parts[1].Inline)
	assert.Equal(t, []byte("%PDF-1.4\n"), m.Parts[1].Data)
}

func TestParseHTMLOnlyTakesTheTextWithoutTheQuote(t *testing.T) {
	raw := crlf(`From: bob@example.com
Subject: hi
Content-Type: text/html; charset=windows-1252

<html><head><style>p{}</style></head><body><div>Yes &amp; thanks</div><div>Bob</div><blockquote>old text</blockquote></body></html>
`)
	m, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "Yes & thanks\nBob", m.Text)
	assert.True(t, strings.HasPrefix(m.MessageID, "sha256:"), "a mail without Message-ID is named by its digest")
	again, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, m.MessageID, again.MessageID)
}

func TestParseAutoReplies(t *testing.T) {
	for _, h := range []string{"Auto-Submitted: auto-replied", "Precedence: bulk", "Precedence: list", "Precedence: auto_reply", "X-Autoreply: yes"} {
		m, err := Parse(crlf("From: a@example.com\nSubject: Out of office\n" + h + "\n\nI am away.\n"))
		require.NoError(t, err)
		assert.True(t, m.AutoReply, h)
	}
	m, err := Parse(crlf("From: a@example.com\nAuto-Submitted: no\n\nhello\n"))
	require.NoError(t, err)
	assert.False(t, m.AutoReply)
}

func TestParseDSN(t *testing.T) {
	m, err := Parse(crlf(dsn("parley.42@shop.test")))
	require.NoError(t, err)
	require.NotNil(t, m.Bounce)
	assert.True(t, m.Bounce.Failed)
	assert.Equal(t, "parley.42@shop.test", m.Bounce.OriginalMessageID)
	assert.Equal(t, "nobody@example.com", m.Bounce.Recipient)
	assert.Equal(t, "5.1.1", m.Bounce.Status)
	assert.Equal(t, "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown", m.Bounce.Reason)
}

// dsn is a delivery status notification (RFC 3464) for the mail with
// Message-ID id.
func dsn(id string) string {
	return `From: MAILER-DAEMON@mx.example.com
To: support@shop.test
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
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.com>: Recipient
 address rejected: User unknown
--B
Content-Type: text/rfc822-headers

From: support@shop.test
To: nobody@example.com
Message-ID: <` + id + `>
Subject: Re: hello
--B--
`
}

func TestParseRefusesTooManyParts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n")
	for range MaxParts + 1 {
		b.WriteString("--X\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	b.WriteString("--X--\r\n")
	_, err := Parse(b.Bytes())
	require.ErrorIs(t, err, ErrMalformed)
}

func TestStripQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"Thanks!\n\nOn Mon, 7 Dec 2026 at 10:00, Shop <s@shop.test> wrote:\n> hi":  "Thanks!",
		"Thanks!\n\nOn Mon, 7 Dec 2026 at 10:00, Shop\n<s@shop.test> wrote:\n> hi": "Thanks!",
		"Sure\n\n-----Original Message-----\nFrom: Shop\nSent: today":              "Sure",
		"Sure\n\nFrom: Shop <s@shop.test>\nSent: Monday":                           "Sure",
		"ok\nSent from my iPhone": "ok",
		"> only a quote":          "> only a quote",
		"Le lun. 7 déc. 2026 à 10:00, Shop <s@shop.test> a écrit :\n> bonjour":        "Le lun. 7 déc. 2026 à 10:00, Shop <s@shop.test> a écrit :\n> bonjour",
		"Merci\nLe lun. 7 déc. 2026 à 10:00, Shop <s@shop.test> a écrit :\n> bonjour": "Merci",
	} {
		assert.Equal(t, want, StripQuoted(in), in)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(crlf(dsn("x@y")))
	f.Add(crlf("From: a@example.com\nContent-Type: multipart/alternative; boundary=A\n\n--A\nContent-Type: text/html; charset=koi8-r\n\n<b>\xf0\xd2\xc9</b>\n--A--\n"))
	f.Add([]byte("Subject: =?utf-8?B?w6k=?=\r\n\r\n> q\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		for _, s := range []string{m.MessageID, m.From, m.FromName, m.Subject, m.Text, m.HTML} {
			if !utf8.ValidString(s) {
				t.Fatalf("not UTF-8: %q", s)
			}
		}
		if m.MessageID == "" {
			t.Fatal("no message id")
		}
		if strings.Contains(strings.ToLower(m.HTML), "<script") {
			t.Fatalf("unsanitised HTML: %q", m.HTML)
		}
	})
}

func FuzzReadThreadHeaders(f *testing.F) {
	f.Add(crlf("Subject: =?utf-8?q?Re:_caf=C3=A9?=\nMessage-ID: <a@b>\nReferences: <r@b> <s@b>\n\nbody\n"))
	f.Add([]byte("Message-ID: not an id\r\nReferences: <<>>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		th, err := ReadThreadHeaders(bytes.NewReader(raw))
		if err != nil {
			return
		}
		for _, s := range append([]string{th.Subject, th.MessageID}, th.References...) {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") && s != th.Subject {
				t.Fatalf("bad header value %q", s)
			}
		}
	})
}

func TestComposeThreadsTheReply(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Compose(&b, &Reply{MessageID: NewMessageID("01ABC", "support@shop.test"), FromName: "Shop", From: "support@shop.test",
		To: "ann@example.com", Subject: "Re: Café <order>", InReplyTo: "m1@example.com", References: []string{"root@example.com", "m1@example.com"},
		Text: "Hello <Ann> & co\nBye", Attachment: &Attachment{Filename: "a.txt", MimeType: "text/plain", Body: strings.NewReader("file")}}))
	m, err := Parse(b.Bytes())
	require.NoError(t, err)
	assert.Equal(t, "parley.01abc@shop.test", m.MessageID)
	assert.Equal(t, "Re: Café <order>", m.Subject)
	assert.Equal(t, []string{"m1@example.com"}, m.InReplyTo)
	assert.Equal(t, []string{"root@example.com", "m1@example.com"}, m.References)
	assert.Equal(t, "Hello <Ann> & co\nBye", m.Text)
	assert.Contains(t, m.HTML, "Hello &lt;Ann&gt; &amp; co<br")
	require.Len(t, m.Parts, 1)
	assert.Equal(t, "a.txt", m.Parts[0].Filename)
	th, err := ReadThreadHeaders(bytes.NewReader(b.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, ThreadHeaders{Subject: "Re: Café <order>", MessageID: "parley.01abc@shop.test", References: []string{"root@example.com", "m1@example.com"}}, th)
}

func FuzzFromPostmark(f *testing.F) {
	f.Add([]byte(`{"FromFull":{"Email":"a@b.test","Name":"A"},"ToFull":[{"Email":"s@shop.test"}],"Subject":"hi","MessageID":"x-1","TextBody":"hello","HtmlBody":"<b>hi</b>","Headers":[{"Name":"In-Reply-To","Value":"<p@q>"}],"Attachments":[{"Name":"a.txt","Content":"aGk=","ContentType":"text/plain"}]}`))
	f.Add([]byte(`{"FromFull":{"Email":"a@b.test\r\nBcc: x@y"},"Subject":"\r\nX: y","MessageID":"id"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, _, err := FromPostmark(body)
		if err != nil {
			return
		}
		m, err := Parse(raw)
		if err != nil {
			t.Fatalf("the rebuilt mail does not parse: %v\n%s", err, raw)
		}
		if m.MessageID == "" || strings.HasPrefix(m.MessageID, "sha256:") {
			t.Fatalf("no message id in %s", raw)
		}
	})
}
