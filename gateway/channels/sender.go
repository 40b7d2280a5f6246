package channels

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
)

// MetadataPrefix marks the metadata Parley puts on Messenger sends; an
// echo carrying it is Parley's own message coming back, not a human's.
const MetadataPrefix = "parley:"

// Accounts looks up a connected channel account (the gateway's account
// registry).
type Accounts interface {
	Get(ch engine.Channel, id string) (engine.ChannelAccount, bool)
}

// SendReporter is told how each send call on an account ended (err nil
// for a success); the gateway's account registry implements it and
// hands the results to the channel health monitor.
type SendReporter interface {
	ReportSend(acct engine.ChannelAccount, err error)
}

// Sender delivers outbound messages through Meta's send APIs, dispatching
// by channel to package meta; it is the courier's ports.Sender. The Graph
// client keeps to each account's rate limits; Sender turns Graph errors
// into retryable or permanent send errors. When its Accounts is also a
// SendReporter, it reports every send call's result to it (the channel
// health monitor learns from them).
type Sender struct {
	accounts Accounts
	graph    *meta.Client
	media    *media.Store
	log      *slog.Logger
	// messages reads a conversation's messages, for the thread headers
	// of an email reply (WithMessages); emailTLS configures TLS with the
	// accounts' submission servers (nil: the system roots).
	messages Messages
	emailTLS *tls.Config
	// api delivers API channel messages to their integrators' webhooks.
	api *apichannel.Client
}

// Messages reads a conversation's stored messages, newest first
// (persistence.Store).
type Messages interface {
	Messages(ws, conv engine.ID, before uint64, limit int) ([]engine.Message, error)
}

// WithMessages lets the sender read conversations (email replies take
// their thread headers from the mail they answer); it returns s.
func (s *Sender) WithMessages(m Messages) *Sender {
	s.messages = m
	return s
}

// WithEmailTLS sets the TLS configuration used with email accounts'
// submission servers (tests trust their own); it returns s.
func (s *Sender) WithEmailTLS(c *tls.Config) *Sender {
	s.emailTLS = c
	return s
}

// NewSender returns a sender over the given accounts, Graph client and
// media store (for outbound files).
func NewSender(accounts Accounts, graph *meta.Client, store *media.Store) *Sender {
	return &Sender{accounts: accounts, graph: graph, media: store, log: slog.New(slog.DiscardHandler),
		api: apichannel.NewClient(apichannel.ClientConfig{})}
}

// WithAPIChannel sets the client that delivers API channel messages (by
// default one that refuses non-public addresses); it returns s.
func (s *Sender) WithAPIChannel(c *apichannel.Client) *Sender {
	s.api = c
	return s
}

// WithLogger sets where the sender logs (failed captions); it returns s.
func (s *Sender) WithLogger(l *slog.Logger) *Sender {
	s.log = l
	return s
}

var _ ports.Sender = (*Sender)(nil)

// Send delivers o and returns the channel's message id.
func (s *Sender) Send(ctx context.Context, o ports.Outbound) (string, error) {
	conv, msg := o.Conversation, o.Message
	acct, ok := s.accounts.Get(conv.Channel, conv.ChannelAccountID)
	if !ok || acct.WorkspaceID != conv.WorkspaceID {
		return "", &ports.SendError{Code: "not_connected", Reason: "the channel account is not connected"}
	}
	content := msg.Content
	var (
		id  string
		err error
	)
	switch conv.Channel {
	case engine.ChannelWhatsApp:
		if content.Media != nil && content.Media.StorageKey != "" && content.Media.Ref == "" {
			ref, uerr := s.uploadWhatsApp(ctx, acct, content.Media)
			if uerr != nil {
				if r, ok := s.accounts.(SendReporter); ok {
					r.ReportSend(acct, uerr)
				}
				return "", classify(uerr)
			}
			m := *content.Media
			m.Ref = ref
			content.Media = &m
		}
		id, err = s.graph.SendWhatsApp(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, content, msg.ID.String())
	case engine.ChannelMessenger:
		var r io.ReadCloser
		if content.Media != nil && content.Media.StorageKey != "" {
			if r, err = s.openMedia(conv.WorkspaceID, content.Media); err != nil {
				return "", &ports.SendError{Code: "media_missing", Reason: "the file to send is no longer stored"}
			}
			defer r.Close()
		}
		var body io.Reader
		if r != nil {
			body = r
		}
		id, err = s.graph.SendMessenger(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, content, MetadataPrefix+msg.ID.String(), body)
		if err == nil {
			s.sendCaption(ctx, conv, content, func(text engine.Content) error {
				_, err := s.graph.SendMessenger(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, text, MetadataPrefix+msg.ID.String()+":caption", nil)
				return err
			})
		}
	case engine.ChannelInstagram:
		if content.Media != nil && content.Media.StorageKey != "" && content.Media.URL == "" {
			// Instagram fetches media from a URL: give it a signed link.
			_, digest, _ := strings.Cut(content.Media.StorageKey, "/")
			link, lerr := s.media.PublicLink(conv.WorkspaceID, digest, time.Now().Add(media.PublicLinkTTL))
			if lerr != nil {
				return "", &ports.SendError{Code: "no_public_url",
					Reason: "Instagram fetches media from a public URL: set PARLEY_PUBLIC_URL to this server's public address"}
			}
			m := *content.Media
			m.URL = link
			content.Media = &m
		}
		id, err = s.graph.SendInstagram(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, content)
		if err == nil {
			s.sendCaption(ctx, conv, content, func(text engine.Content) error {
				_, err := s.graph.SendInstagram(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, text)
				return err
			})
		}
	case engine.ChannelEmail:
		id, err = s.sendEmail(ctx, acct, conv, msg)
	case engine.ChannelAPI:
		id, err = s.sendAPI(ctx, acct, conv, msg)
	case engine.ChannelWebChat:
		if mailAcct, ok := s.webChatByEmail(acct, conv); ok {
			// The visitor left an address in the offline form: the reply
			// goes by email through the email account, and its
			// Message-ID threads the customer's answer back here
			// (docs/ARCHITECTURE.md, "The web chat widget").
			mc := conv
			mc.ExternalUserID, mc.Thread = conv.EmailTo, acct.Widget.Title
			id, err = s.sendEmail(ctx, mailAcct, mc, msg)
			acct = mailAcct // the health learned is the email account's
			break
		}
		// The message is stored: the visitor's WebSocket gets it from
		// the broadcaster, and the visitor reports it delivered and read
		// on this id (docs/ARCHITECTURE.md, "The web chat widget").
		id = "web#" + msg.ID.String()
	default:
		return "", &ports.SendError{Code: "unsupported_channel", Reason: fmt.Sprintf("sending on %s is not supported yet", conv.Channel)}
	}
	if r, ok := s.accounts.(SendReporter); ok {
		r.ReportSend(acct, err)
	}
	if err != nil {
		return "", classify(err)
	}
	return id, nil
}

// webChatByEmail is the email account a web chat conversation's replies
// are sent through, when its visitor asked to continue by email and that
// account is still connected in the conversation's workspace; otherwise
// the reply stays in the widget.
func (s *Sender) webChatByEmail(widget engine.ChannelAccount, conv engine.Conversation) (engine.ChannelAccount, bool) {
	if conv.EmailTo == "" || conv.EmailAccountID == "" || widget.Widget == nil {
		return engine.ChannelAccount{}, false
	}
	a, ok := s.accounts.Get(engine.ChannelEmail, conv.EmailAccountID)
	if !ok || a.WorkspaceID != conv.WorkspaceID {
		return engine.ChannelAccount{}, false
	}
	return a, true
}

// sendAPI delivers msg to the API channel account's webhook; its channel
// message id is the account's and the message's id
// (apichannel.OutboundMessageID): the integrator names the message's id
// in the statuses it posts back.
func (s *Sender) sendAPI(ctx context.Context, acct engine.ChannelAccount, conv engine.Conversation, msg engine.Message) (string, error) {
	d, err := apichannel.NewDelivery(conv, msg, func(m *engine.Media) (string, error) {
		_, digest, _ := strings.Cut(m.StorageKey, "/")
		link, err := s.media.PublicLink(conv.WorkspaceID, digest, time.Now().Add(media.PublicLinkTTL))
		if err != nil {
			return "", &ports.SendError{Code: "no_public_url",
				Reason: "the integrator fetches files from a public URL: set PARLEY_PUBLIC_URL to this server's public address"}
		}
		return link, nil
	})
	if err != nil {
		return "", err
	}
	if err := s.api.Deliver(ctx, acct, msg.ID.String(), d); err != nil {
		return "", err
	}
	return apichannel.OutboundMessageID(acct.AccountID, msg.ID.String()), nil
}

// sendCaption sends a media message's caption as a text message after it:
// Messenger and Instagram attachments carry none. The attachment is
// delivered by then, so a failed caption is logged, not retried (a retry
// would send the attachment twice).
func (s *Sender) sendCaption(ctx context.Context, conv engine.Conversation, content engine.Content, send func(engine.Content) error) {
	if content.Media == nil || content.Media.Caption == "" {
		return
	}
	if err := send(engine.Content{Kind: engine.KindText, Text: content.Media.Caption}); err != nil {
		s.log.Warn("Sending a caption failed", "conversation", conv.ID, "channel", conv.Channel, "err", err)
	}
}

func (s *Sender) openMedia(ws engine.ID, m *engine.Media) (io.ReadCloser, error) {
	_, digest, ok := strings.Cut(m.StorageKey, "/")
	if !ok {
		return nil, errors.New("bad storage key")
	}
	f, _, err := s.media.Open(ws, digest)
	return f, err
}

func (s *Sender) uploadWhatsApp(ctx context.Context, acct engine.ChannelAccount, m *engine.Media) (string, error) {
	f, err := s.openMedia(acct.WorkspaceID, m)
	if err != nil {
		return "", &ports.SendError{Code: "media_missing", Reason: "the file to send is no longer stored"}
	}
	defer f.Close()
	name := m.Filename
	if name == "" {
		name = "file"
	}
	return s.graph.UploadWhatsAppMedia(ctx, acct.AccountID, acct.AccessToken, name, m.MimeType, f)
}

// classify turns a client error into the courier's send error.
func classify(err error) error {
	var se *ports.SendError
	if errors.As(err, &se) {
		return se
	}
	return meta.Classify(err)
}

// sendEmail sends msg as a mail over the account's SMTP submission
// server, threaded under the newest mail the customer sent in the
// conversation (its original, message.eml, gives the subject, Message-ID
// and References). It returns the mail's Message-ID, the message's
// channel id: a reply or a bounce naming it finds the conversation.
func (s *Sender) sendEmail(ctx context.Context, acct engine.ChannelAccount, conv engine.Conversation, msg engine.Message) (string, error) {
	if s.messages == nil {
		return "", &ports.SendError{Code: "not_configured", Reason: "email sending is not set up"}
	}
	to := engine.NormalizeEmail(conv.ExternalUserID)
	if to == "" {
		return "", &ports.SendError{Code: "bad_recipient", Reason: "the contact has no email address"}
	}
	var th email.ThreadHeaders
	var quoted *engine.QuotedMail
	ms, err := s.messages.Messages(conv.WorkspaceID, conv.ID, 0, 200)
	if err != nil {
		return "", fmt.Errorf("reading the thread: %w", err)
	}
	for _, m := range ms {
		if m.Direction != engine.DirIn || m.Media == nil || m.Media.Filename != "message.eml" || m.Media.SHA256 == "" {
			continue
		}
		f, _, err := s.media.Open(conv.WorkspaceID, m.Media.SHA256)
		if err != nil {
			continue // the original is gone: thread by subject only
		}
		th, err = email.ReadThreadHeaders(f)
		f.Close()
		if err == nil {
			from := conv.ContactName
			if from == "" {
				from = conv.ExternalUserID
			}
			at := m.SentAt
			if at.IsZero() {
				at = m.CreatedAt
			}
			// The text of a thread's first mail begins with its subject.
			quoted = &engine.QuotedMail{From: from, Date: at, Text: strings.TrimPrefix(m.Text, th.Subject+"\n\n")}
			break
		}
	}
	refs := th.References
	if th.MessageID != "" && !strings.HasPrefix(th.MessageID, "sha256:") {
		refs = append(refs, th.MessageID)
	}
	if len(refs) > 20 {
		refs = append(refs[:1:1], refs[len(refs)-19:]...) // the root and the newest
	}
	subject := th.Subject
	if subject == "" {
		subject = conv.Thread
	}
	text := msg.Text
	if msg.Media != nil && text == "" {
		text = msg.Media.Caption
	}
	if msg.Sender.Kind == engine.SenderAI {
		text = engine.EmailReplyText(acct.Email, conv.ContactName, text, quoted)
	}
	r := &email.Reply{MessageID: email.NewMessageID(msg.ID.String(), acct.AccountID), From: acct.AccountID,
		To: to, Subject: engine.ReplySubject(subject), References: refs, Text: text, Date: msg.CreatedAt}
	if acct.Email != nil {
		r.FromName = acct.Email.FromName
	}
	if len(refs) > 0 && th.MessageID != "" && !strings.HasPrefix(th.MessageID, "sha256:") {
		r.InReplyTo = th.MessageID
	}
	if msg.Media != nil && msg.Media.SHA256 != "" {
		f, typ, err := s.media.Open(conv.WorkspaceID, msg.Media.SHA256)
		if err != nil {
			return "", &ports.SendError{Code: "media_missing", Reason: "the file to send is gone"}
		}
		defer f.Close()
		name := msg.Media.Filename
		if name == "" {
			name = "file"
		}
		r.Attachment = &email.Attachment{Filename: name, MimeType: typ, Body: f}
	}
	var body bytes.Buffer
	if err := email.Compose(&body, r); err != nil {
		return "", &ports.SendError{Code: "compose", Reason: err.Error()}
	}
	raw := body.Bytes()
	if acct.Email != nil && acct.Email.DKIM != nil {
		if raw, err = email.SignDKIM(raw, acct.Email.DKIM); err != nil {
			return "", &ports.SendError{Code: "dkim", Reason: err.Error()}
		}
	}
	sub := email.SubmissionOf(acct)
	sub.TLS = s.emailTLS
	if err := email.Submit(ctx, sub, acct.AccountID, to, bytes.NewReader(raw)); err != nil {
		var se *email.SubmitError
		if errors.As(err, &se) {
			return "", &ports.SendError{Code: se.Code, Reason: se.Error(), Temporary: !se.Permanent}
		}
		return "", err
	}
	return r.MessageID, nil
}
