package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
)

// ChannelSender delivers outbound messages through Meta's send APIs; it
// is the courier's actors.Sender. The Graph client keeps to each
// account's rate limits; ChannelSender turns Graph errors into retryable
// or permanent send errors.
type ChannelSender struct {
	accounts *Accounts
	graph    *meta.Client
	media    *MediaStore
	log      *slog.Logger
}

// NewChannelSender returns a sender over the given accounts, Graph client
// and media store (for outbound files).
func NewChannelSender(accounts *Accounts, graph *meta.Client, media *MediaStore) *ChannelSender {
	return &ChannelSender{accounts: accounts, graph: graph, media: media, log: slog.New(slog.DiscardHandler)}
}

// WithLogger sets where the sender logs (failed captions); it returns s.
func (s *ChannelSender) WithLogger(l *slog.Logger) *ChannelSender {
	s.log = l
	return s
}

var _ actors.Sender = (*ChannelSender)(nil)

// Send delivers o and returns the channel's message id.
func (s *ChannelSender) Send(ctx context.Context, o actors.Outbound) (string, error) {
	conv, msg := o.Conversation, o.Message
	acct, ok := s.accounts.Get(conv.Channel, conv.ChannelAccountID)
	if !ok || acct.WorkspaceID != conv.WorkspaceID {
		return "", &actors.SendError{Code: "not_connected", Reason: "the channel account is not connected"}
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
				return "", &actors.SendError{Code: "media_missing", Reason: "the file to send is no longer stored"}
			}
			defer r.Close()
		}
		var body io.Reader
		if r != nil {
			body = r
		}
		id, err = s.graph.SendMessenger(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, content, ourMetadataPrefix+msg.ID.String(), body)
		if err == nil {
			s.sendCaption(ctx, conv, content, func(text engine.Content) error {
				_, err := s.graph.SendMessenger(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, text, ourMetadataPrefix+msg.ID.String()+":caption", nil)
				return err
			})
		}
	case engine.ChannelInstagram:
		if content.Media != nil && content.Media.StorageKey != "" && content.Media.URL == "" {
			// Instagram fetches media from a URL: give it a signed link.
			_, digest, _ := strings.Cut(content.Media.StorageKey, "/")
			link, lerr := s.media.PublicLink(conv.WorkspaceID, digest, time.Now().Add(PublicLinkTTL))
			if lerr != nil {
				return "", &actors.SendError{Code: "no_public_url",
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
	default:
		return "", &actors.SendError{Code: "unsupported_channel", Reason: fmt.Sprintf("sending on %s is not supported yet", conv.Channel)}
	}
	if err != nil {
		return "", classify(err)
	}
	return id, nil
}

// sendCaption sends a media message's caption as a text message after it:
// Messenger and Instagram attachments carry none. The attachment is
// delivered by then, so a failed caption is logged, not retried (a retry
// would send the attachment twice).
func (s *ChannelSender) sendCaption(ctx context.Context, conv engine.Conversation, content engine.Content, send func(engine.Content) error) {
	if content.Media == nil || content.Media.Caption == "" {
		return
	}
	if err := send(engine.Content{Kind: engine.KindText, Text: content.Media.Caption}); err != nil {
		s.log.Warn("Sending a caption failed", "conversation", conv.ID, "channel", conv.Channel, "err", err)
	}
}

func (s *ChannelSender) openMedia(ws engine.ID, m *engine.Media) (io.ReadCloser, error) {
	_, digest, ok := strings.Cut(m.StorageKey, "/")
	if !ok {
		return nil, errors.New("bad storage key")
	}
	f, _, err := s.media.Open(ws, digest)
	return f, err
}

func (s *ChannelSender) uploadWhatsApp(ctx context.Context, acct engine.ChannelAccount, m *engine.Media) (string, error) {
	f, err := s.openMedia(acct.WorkspaceID, m)
	if err != nil {
		return "", &actors.SendError{Code: "media_missing", Reason: "the file to send is no longer stored"}
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
	var se *actors.SendError
	if errors.As(err, &se) {
		return se
	}
	return meta.Classify(err)
}
