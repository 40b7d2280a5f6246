package meta

import (
	"time"

	"github.com/parleyhq/parley/engine"
)

// Batch is everything one webhook delivery carried, parsed and checked.
// A delivery may mix several accounts (entries) and kinds of events.
type Batch struct {
	Messages   []Message
	Statuses   []Status
	Watermarks []Watermark
	// Errors are account-level errors (WhatsApp value.errors) to log and
	// alert on; they are not tied to one message.
	Errors []APIError
	// TemplateStatuses are WhatsApp template status changes
	// (message_template_status_update), one per change.
	TemplateStatuses []engine.TemplateStatusUpdate
}

// Message is one inbound message, or an echo of a message the business
// sent (Echo), on one channel account.
type Message struct {
	Channel   engine.Channel
	AccountID string // WhatsApp phone_number_id, Messenger page id, Instagram account id
	UserID    string // WhatsApp wa_id, Messenger PSID, Instagram IGSID
	UserName  string // profile name, when the channel gives one
	UserPhone string // WhatsApp: the sender's number (messages[].from)
	ID        string // wamid / mid
	Timestamp time.Time
	Echo      bool
	// Metadata is Messenger's message.metadata echoed back (our own
	// outbound id when we set it).
	Metadata string
	Content  engine.Content
	// Referral is the campaign (ad, post, link) the user came through:
	// WhatsApp's and Messenger's referral objects (see referral.go).
	Referral *engine.Campaign
}

// Status is a receipt for one of our outbound messages, named by the
// channel's message id.
type Status struct {
	Channel     engine.Channel
	AccountID   string
	ID          string // wamid / mid of our message
	RecipientID string
	Status      engine.DeliveryStatus
	Timestamp   time.Time
	ErrorCode   string
	ErrorReason string
	// CallbackData is WhatsApp's biz_opaque_callback_data, echoed back.
	CallbackData string
}

// Watermark says every message the business sent to UserID at or before
// At has reached Status (Messenger delivery and read). For Instagram's
// read receipt, MessageIDs names the message read; everything before it
// counts as read too.
type Watermark struct {
	Channel    engine.Channel
	AccountID  string
	UserID     string
	Status     engine.DeliveryStatus
	At         time.Time
	MessageIDs []string
}

// APIError is an error object from a webhook (value.errors[]) or from a
// Graph API response.
type APIError struct {
	Code    int
	Subcode int
	Title   string
	Message string
	Details string
	FBTrace string
}
