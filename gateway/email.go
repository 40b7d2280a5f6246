package gateway

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/email"
)

// EmailAccount returns the connected email account that receives mail
// for addr (its own address or an alias), lower case.
func (a *Accounts) EmailAccount(addr string) (engine.ChannelAccount, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if acct, ok := a.by[accountKey{engine.ChannelEmail, addr}]; ok {
		return acct, true
	}
	for k, acct := range a.by {
		if k.ch == engine.ChannelEmail && acct.Email != nil {
			for _, alias := range acct.Email.Addresses {
				if alias == addr {
					return acct, true
				}
			}
		}
	}
	return engine.ChannelAccount{}, false
}

// ServeSMTP runs the built-in SMTP receiver on ln (PARLEY_SMTP_ADDR) until
// Shutdown: mail for connected email accounts' addresses is stored as
// their conversations' messages (docs/ARCHITECTURE.md, "Email"). Call it
// once, after Start.
func (s *Server) ServeSMTP(ln net.Listener, domain string, maxBytes int64) error {
	r := email.NewReceiver(email.ReceiverConfig{Domain: domain, MaxBytes: maxBytes, Mailbox: mailbox{s}, Logger: s.log})
	if !s.smtp.CompareAndSwap(nil, r) {
		return errors.New("gateway: the SMTP receiver runs already")
	}
	if s.draining.Load() {
		return nil
	}
	return r.Serve(ln)
}

// mailbox is the gateway as the SMTP receiver's email.Mailbox.
type mailbox struct{ s *Server }

func (m mailbox) Accepts(rcpt string) bool {
	_, ok := m.s.cfg.Accounts.EmailAccount(rcpt)
	return ok
}

func (m mailbox) Deliver(ctx context.Context, rcpts []string, raw []byte) error {
	start := time.Now()
	defer func() { m.s.metrics.emailSeconds.Observe(time.Since(start).Seconds()) }()
	err := m.s.deliverMail(ctx, rcpts, raw)
	if err != nil && !errors.Is(err, email.ErrMalformed) {
		m.s.metrics.emailReceived.WithLabelValues("retry").Inc()
	}
	return err
}

// deliverMail stores one inbound mail for each connected account among
// rcpts, returning once it is committed. A delivery status notification
// marks the message Parley sent failed; an auto-reply is dropped; a mail
// whose Message-ID is stored already is a duplicate.
func (s *Server) deliverMail(ctx context.Context, rcpts []string, raw []byte) error {
	m, err := email.Parse(raw)
	if err != nil {
		s.metrics.emailReceived.WithLabelValues("malformed").Inc()
		return err
	}
	seen := map[string]bool{}
	for _, rcpt := range rcpts {
		acct, ok := s.cfg.Accounts.EmailAccount(rcpt)
		if !ok || seen[acct.AccountID] {
			continue
		}
		seen[acct.AccountID] = true
		if err := s.deliverTo(ctx, acct, m, raw); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) deliverTo(ctx context.Context, acct engine.ChannelAccount, m *email.Mail, raw []byte) error {
	ws := acct.WorkspaceID
	if m.Bounce != nil {
		return s.applyBounce(ctx, ws, m.Bounce)
	}
	if m.AutoReply {
		s.metrics.emailReceived.WithLabelValues("auto_reply").Inc()
		s.log.Info("Auto-reply not stored", "account", acct.AccountID, "from", m.From, "message_id", m.MessageID)
		return nil
	}
	if m.From == "" || engine.NormalizeEmail(m.From) == "" {
		s.metrics.emailReceived.WithLabelValues("malformed").Inc()
		return fmt.Errorf("%w: no sender address", email.ErrMalformed)
	}
	if _, dup, err := s.cfg.Store.LookupChannelMessage(ws, engine.ChannelEmail, m.MessageID); err != nil {
		return fmt.Errorf("looking up the message id: %w", err)
	} else if dup {
		s.metrics.emailReceived.WithLabelValues("duplicate").Inc()
		return nil
	}
	refs := engine.EmailRefs(m.InReplyTo, m.References)
	web, err := s.webChatThread(ws, refs)
	if err != nil {
		return err
	}
	known := map[string]engine.EmailThreadRef{}
	for _, id := range refs {
		if web != nil {
			break
		}
		ref, ok, err := s.cfg.Store.LookupChannelMessage(ws, engine.ChannelEmail, id)
		if err != nil {
			return fmt.Errorf("looking up a referenced message: %w", err)
		}
		if !ok {
			continue
		}
		c, err := s.cfg.Runtime.Conversation(ws, ref.ConversationID)
		if err != nil || c.ChannelAccountID != acct.AccountID {
			continue // deleted since, or another account's thread
		}
		known[id] = engine.EmailThreadRef{ExternalUserID: c.ExternalUserID, Thread: c.Thread}
		break // EmailThread takes the first known one
	}
	user, thread := engine.EmailThread(m.From, m.Subject, refs, known)

	// The files are pinned until the messages naming them are committed.
	var pinned []string
	defer func() {
		for _, d := range pinned {
			s.media.Unpin(ws, d)
		}
	}()
	put := func(mime, name string, data []byte) (*engine.Media, error) {
		key, digest, size, err := s.media.Put(ws, mime, bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("storing %s: %w", name, err)
		}
		pinned = append(pinned, digest)
		return &engine.Media{StorageKey: key, SHA256: digest, MimeType: mime, Filename: name, Size: size}, nil
	}
	original, err := put("message/rfc822", "message.eml", raw)
	if err != nil {
		return err
	}
	text := m.Text
	if m.Subject != "" && len(known) == 0 && web == nil {
		text = m.Subject + "\n\n" + text
	}
	if strings.TrimSpace(text) == "" {
		text = "(no text)"
	}
	if len(text) > engine.MaxTextBytes {
		text = strings.ToValidUTF8(text[:engine.MaxTextBytes], "")
	}
	in := engine.Inbound{WorkspaceID: ws, Channel: engine.ChannelEmail, ChannelAccountID: acct.AccountID,
		ExternalUserID: user, ContactName: m.FromName, ChannelMessageID: m.MessageID, Thread: thread, SentAt: m.Date,
		Content: engine.Content{Kind: engine.KindText, Text: text, Media: original}}
	if user != m.From {
		in.ContactName = "" // a reply from another address joins the thread's contact
	}
	if web != nil {
		// An answer to a mail sent for a web chat conversation: it
		// continues that conversation, under the widget's thread.
		// The customer wrote by email: the replies go by email, to the
		// address they wrote from, through the account that received it.
		in.Channel, in.ChannelAccountID, in.ExternalUserID, in.Thread, in.ContactName =
			engine.ChannelWebChat, web.ChannelAccountID, web.ExternalUserID, "", ""
		in.EmailTo = &engine.EmailContinuation{AccountID: acct.AccountID, Address: engine.NormalizeEmail(m.From)}
	}
	ins := []engine.Inbound{in}
	for i, p := range m.Parts {
		name := p.Filename
		if name == "" {
			name = fmt.Sprintf("part-%d", i+1)
		}
		md, err := put(p.MimeType, name, p.Data)
		if err != nil {
			return err
		}
		kind := engine.KindDocument
		if strings.HasPrefix(p.MimeType, "image/") {
			kind = engine.KindImage
		}
		part := in
		part.ChannelMessageID = fmt.Sprintf("%s#%d", m.MessageID, i+1)
		part.Content = engine.Content{Kind: kind, Media: md}
		ins = append(ins, part)
	}
	res, err := s.cfg.Runtime.Ingest(ctx, ins)
	if err != nil {
		return fmt.Errorf("storing the mail: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("storing the mail: %w", r.Err)
		}
	}
	if res[0].Duplicate {
		s.metrics.emailReceived.WithLabelValues("duplicate").Inc()
	} else {
		s.metrics.emailReceived.WithLabelValues("stored").Inc()
	}
	return nil
}

// webChatThread is the web chat conversation a mail answers: one of refs
// is the Message-ID of a reply that conversation sent by email
// (docs/ARCHITECTURE.md, "The web chat widget"); nil when none.
func (s *Server) webChatThread(ws engine.ID, refs []string) (*engine.Conversation, error) {
	for _, id := range refs {
		ref, ok, err := s.cfg.Store.LookupChannelMessage(ws, engine.ChannelWebChat, id)
		if err != nil {
			return nil, fmt.Errorf("looking up a referenced message: %w", err)
		}
		if !ok {
			continue
		}
		// Only a reply Parley sent has a Message-ID there (a visitor's
		// messages are named by the visitor's ids).
		if m, err := s.cfg.Store.Message(ws, ref.ConversationID, ref.Seq); err != nil || m.Direction != engine.DirOut {
			continue
		}
		c, err := s.cfg.Runtime.Conversation(ws, ref.ConversationID)
		if err != nil || c.Channel != engine.ChannelWebChat {
			continue // deleted since
		}
		return &c, nil
	}
	return nil, nil
}

// applyBounce marks the message a delivery status notification names as
// failed, when Parley sent it; other reports are dropped.
func (s *Server) applyBounce(ctx context.Context, ws engine.ID, b *email.Bounce) error {
	s.metrics.emailReceived.WithLabelValues("bounce").Inc()
	if !b.Failed || b.OriginalMessageID == "" {
		return nil
	}
	ch := engine.ChannelEmail
	if _, ok, err := s.cfg.Store.LookupChannelMessage(ws, ch, b.OriginalMessageID); err != nil {
		return err
	} else if !ok {
		// A reply a web chat conversation sent by email, or nobody's.
		ch = engine.ChannelWebChat
		if _, ok, err := s.cfg.Store.LookupChannelMessage(ws, ch, b.OriginalMessageID); err != nil || !ok {
			return err
		}
	}
	reason := b.Reason
	if b.Recipient != "" {
		reason = b.Recipient + ": " + reason
	}
	if len(reason) > 500 {
		reason = strings.ToValidUTF8(reason[:500], "")
	}
	return s.cfg.Runtime.ApplyStatus(ctx, []engine.StatusReport{{WorkspaceID: ws, Channel: ch,
		ChannelMessageID: b.OriginalMessageID, Status: engine.StatusFailed, At: s.cfg.Runtime.Clock().Now(),
		ErrorCode: b.Status, ErrorReason: reason}})
}

// receivePostmark answers Postmark's inbound webhook (POST
// /webhooks/email/postmark), protected by HTTP basic auth
// (-postmark-inbound-auth): the mail is rebuilt from the JSON and stored
// as one received over SMTP, and answered 200 once committed. Bad
// credentials get 401 (Postmark retries, so a fixed password loses
// nothing), an unreadable mail 400, a mail that could not be stored 503.
func (s *Server) receivePostmark(c *fiber.Ctx) error {
	want := s.cfg.PostmarkAuth
	if want == "" {
		return errNotFound
	}
	got := c.Get(fiber.HeaderAuthorization)
	expect := "Basic " + base64.StdEncoding.EncodeToString([]byte(want))
	if subtle.ConstantTimeCompare([]byte(got), []byte(expect)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="parley"`)
		return errorf(fiber.StatusUnauthorized, "unauthorized", "bad or missing credentials")
	}
	raw, rcpts, err := email.FromPostmark(c.Body())
	if err != nil {
		s.metrics.emailReceived.WithLabelValues("malformed").Inc()
		return errorf(fiber.StatusBadRequest, "bad_payload", "%s", err.Error())
	}
	start := time.Now()
	err = s.deliverMail(c.UserContext(), rcpts, raw)
	s.metrics.emailSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		return c.JSON(fiber.Map{"status": "ok"})
	case errors.Is(err, email.ErrMalformed):
		return errorf(fiber.StatusBadRequest, "bad_payload", "%s", err.Error())
	default:
		s.metrics.emailReceived.WithLabelValues("retry").Inc()
		s.log.Warn("Postmark inbound mail not stored", "err", err)
		return s.retryLater(c, err)
	}
}
