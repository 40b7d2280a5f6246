package engine

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Inbound is one message a channel delivered, parsed by the gateway and
// not yet routed to its conversation. The conversation is keyed by
// (workspace, channel account, external user).
type Inbound struct {
	WorkspaceID      ID
	Channel          Channel
	ChannelAccountID string
	ExternalUserID   string
	ContactName      string
	ChannelMessageID string
	Content          Content
	SentAt           time.Time
	// Echo marks a message the business sent from the channel's own app.
	Echo bool
	// Thread is the email thread the message belongs to (EmailThread);
	// with ExternalUserID it names the conversation.
	Thread string
	// Referral is the campaign (ad, link) the message came through, if
	// the channel said.
	Referral *Campaign
	// Source is the source of the contact the message creates, if it
	// creates one: SourceChat when empty (the web chat widget's pre-chat
	// form gives SourceForm).
	Source ContactSource
	// EmailTo, on a web chat message, changes where the conversation's
	// replies go (WidgetEmailContinuation); nil keeps it.
	EmailTo *EmailContinuation
}

// Validate checks the fields routing and dedupe depend on.
func (in *Inbound) Validate() error {
	switch {
	case in.WorkspaceID == ZeroID:
		return fmt.Errorf("%w: inbound without workspace", ErrInvalid)
	case !in.Channel.Valid():
		return fmt.Errorf("%w: unknown channel %q", ErrInvalid, in.Channel)
	case in.ChannelAccountID == "" || len(in.ChannelAccountID) > 256 || !utf8.ValidString(in.ChannelAccountID):
		return fmt.Errorf("%w: bad channel account id", ErrInvalid)
	case in.ExternalUserID == "" || len(in.ExternalUserID) > 256 || !utf8.ValidString(in.ExternalUserID):
		return fmt.Errorf("%w: bad external user id", ErrInvalid)
	case in.ChannelMessageID == "" || len(in.ChannelMessageID) > 512 || !utf8.ValidString(in.ChannelMessageID):
		return fmt.Errorf("%w: bad channel message id", ErrInvalid)
	case len(in.Thread) > MaxThreadBytes || !utf8.ValidString(in.Thread):
		return fmt.Errorf("%w: bad thread", ErrInvalid)
	case len(in.ContactName) > 256 || !utf8.ValidString(in.ContactName):
		return fmt.Errorf("%w: bad contact name", ErrInvalid)
	}
	return validContent(in.Content)
}

// Command turns the inbound message into the command its conversation
// applies.
func (in *Inbound) Command() Command {
	if in.Echo {
		return Echo{ChannelMessageID: in.ChannelMessageID, Content: in.Content, SentAt: in.SentAt}
	}
	return Receive{ChannelMessageID: in.ChannelMessageID, Content: in.Content, SentAt: in.SentAt, ContactName: in.ContactName,
		Referral: in.Referral, EmailTo: in.EmailTo}
}

// EchoesUnmarked reports whether the echoes of channel ch carry no mark
// of the messages Parley sent (Instagram's carry no metadata, unlike
// Messenger's): there, an echo whose message id is not known yet may be
// one of Parley's own sends whose answer has not come back, and must not
// be taken for a person writing from the channel's app until the sends
// in flight are answered.
func EchoesUnmarked(ch Channel) bool { return ch == ChannelInstagram }

// StatusReport is a delivery receipt from a channel for one of our
// outbound messages, named by the channel's message id.
type StatusReport struct {
	WorkspaceID      ID
	Channel          Channel
	ChannelMessageID string
	Status           DeliveryStatus
	At               time.Time
	ErrorCode        string
	ErrorReason      string
}
