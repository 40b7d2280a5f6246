package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/meta"
)

// ChannelSender delivers outbound messages through Meta's send APIs; it
// is the courier's actors.Sender. The Graph client keeps to each
// account's rate limits; ChannelSender turns Graph errors into retryable
// or permanent send errors.
type ChannelSender struct {
	accounts *Accounts
	graph    *meta.Client
	media    *MediaStore
}

// NewChannelSender returns a sender over the given accounts, Graph client
// and media store (for outbound files).
func NewChannelSender(accounts *Accounts, graph *meta.Client, media *MediaStore) *ChannelSender {
	return &ChannelSender{accounts: accounts, graph: graph, media: media}
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
	case engine.ChannelInstagram:
		id, err = s.graph.SendInstagram(ctx, acct.AccountID, acct.AccessToken, conv.ExternalUserID, content)
	default:
		return "", &actors.SendError{Code: "unsupported_channel", Reason: fmt.Sprintf("sending on %s is not supported yet", conv.Channel)}
	}
	if err != nil {
		return "", classify(err)
	}
	return id, nil
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
