package email

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// PostmarkInbound is the JSON Postmark's inbound webhook posts for one
// mail (postmarkapp.com/developer/webhooks/inbound-webhook), the fields
// Parley reads.
type PostmarkInbound struct {
	FromFull          postmarkAddress   `json:"FromFull"`
	ToFull            []postmarkAddress `json:"ToFull"`
	CcFull            []postmarkAddress `json:"CcFull"`
	OriginalRecipient string            `json:"OriginalRecipient"`
	Subject           string            `json:"Subject"`
	MessageID         string            `json:"MessageID"`
	Date              string            `json:"Date"`
	TextBody          string            `json:"TextBody"`
	HTMLBody          string            `json:"HtmlBody"`
	Headers           []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"Headers"`
	Attachments []struct {
		Name        string `json:"Name"`
		Content     string `json:"Content"`
		ContentType string `json:"ContentType"`
		ContentID   string `json:"ContentID"`
	} `json:"Attachments"`
}

type postmarkAddress struct {
	Email string `json:"Email"`
	Name  string `json:"Name"`
}

// threadHeaders are the headers of Postmark's Headers[] that the mail
// rebuilt from its JSON keeps.
var threadHeaders = map[string]bool{"message-id": true, "in-reply-to": true, "references": true,
	"auto-submitted": true, "precedence": true, "x-autoreply": true, "x-autorespond": true}

// FromPostmark rebuilds the mail of a Postmark inbound webhook as RFC
// 5322 (its From, To, Cc, Subject, Date, the Message-ID and threading
// and automatic-mail headers of Headers[], the text and HTML bodies and
// the attachments), so that it goes through Parse like a mail received
// over SMTP, and returns it with its recipients. A mail without a
// Message-ID header is named by Postmark's MessageID.
func FromPostmark(body []byte) (raw []byte, rcpts []string, err error) {
	var p PostmarkInbound
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, nil, fmt.Errorf("%w: not Postmark's inbound JSON: %v", ErrMalformed, err)
	}
	if p.FromFull.Email == "" {
		return nil, nil, fmt.Errorf("%w: no FromFull.Email", ErrMalformed)
	}
	oneLine := func(s string) string { return strings.Join(strings.Fields(validText(s)), " ") }
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: oneLine(p.FromFull.Name), Address: oneLine(p.FromFull.Email)}})
	for key, list := range map[string][]postmarkAddress{"To": p.ToFull, "Cc": p.CcFull} {
		var as []*mail.Address
		for _, a := range list {
			if a.Email != "" {
				as = append(as, &mail.Address{Name: oneLine(a.Name), Address: oneLine(a.Email)})
				rcpts = append(rcpts, strings.ToLower(oneLine(a.Email)))
			}
		}
		if len(as) > 0 {
			h.SetAddressList(key, as)
		}
	}
	if r := strings.ToLower(oneLine(p.OriginalRecipient)); r != "" {
		rcpts = append(rcpts, r)
	}
	h.SetSubject(oneLine(p.Subject))
	if d, err := netmail.ParseDate(p.Date); err == nil {
		h.SetDate(d)
	} else {
		h.SetDate(time.Unix(0, 0).UTC())
	}
	hasID := false
	for _, hd := range p.Headers {
		name := strings.ToLower(strings.TrimSpace(hd.Name))
		if !threadHeaders[name] {
			continue
		}
		hasID = hasID || name == "message-id"
		h.Set(hd.Name, oneLine(hd.Value))
	}
	if !hasID {
		id := oneLine(p.MessageID)
		if id == "" || !validID(id) {
			return nil, nil, fmt.Errorf("%w: no Message-ID", ErrMalformed)
		}
		h.SetMessageID("postmark." + id)
	}
	var buf bytes.Buffer
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, part := range []struct{ kind, body string }{{"text/plain", p.TextBody}, {"text/html", p.HTMLBody}} {
		if part.body == "" && (part.kind == "text/html" || p.HTMLBody != "") {
			continue // an empty text part only when there is no body at all
		}
		var ph mail.InlineHeader
		ph.SetContentType(part.kind, map[string]string{"charset": "utf-8"})
		if err := writePart(func() (io.WriteCloser, error) { return iw.CreatePart(ph) }, []byte(validText(part.body))); err != nil {
			return nil, nil, err
		}
	}
	if err := iw.Close(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, a := range p.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: attachment %q is not base64", ErrMalformed, a.Name)
		}
		var ah mail.AttachmentHeader
		ct := oneLine(a.ContentType)
		if ct == "" {
			ct = "application/octet-stream"
		}
		ah.SetContentType(ct, nil)
		if a.Name != "" {
			ah.SetFilename(oneLine(a.Name))
		}
		if cid := oneLine(a.ContentID); cid != "" && validID(strings.Trim(cid, "<>")) {
			ah.Set("Content-Id", "<"+strings.Trim(cid, "<>")+">")
		}
		if err := writePart(func() (io.WriteCloser, error) { return mw.CreateAttachment(ah) }, data); err != nil {
			return nil, nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return buf.Bytes(), rcpts, nil
}

func writePart(create func() (io.WriteCloser, error), data []byte) error {
	w, err := create()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
