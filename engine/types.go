package engine

import (
	"slices"
	"time"
)

// Channel is a messaging platform a conversation runs on.
type Channel string

// The channels Parley knows.
const (
	ChannelWhatsApp  Channel = "whatsapp"
	ChannelMessenger Channel = "messenger"
	ChannelInstagram Channel = "instagram"
	ChannelWebChat   Channel = "webchat"
	ChannelEmail     Channel = "email"
	// ChannelAPI is a custom channel an integrator runs: it posts inbound
	// messages to Parley's API and receives outbound ones on its webhook.
	ChannelAPI Channel = "api"
)

// Channels lists every known channel in display order.
var Channels = []Channel{ChannelWhatsApp, ChannelInstagram, ChannelMessenger, ChannelWebChat, ChannelEmail, ChannelAPI}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool { return slices.Contains(Channels, c) }

// Folder is the inbox folder a conversation is filed in.
type Folder string

// The five folders (docs/ARCHITECTURE.md, invariant 6). Pending is the
// status "waiting for the customer": a person files a conversation there,
// and the customer's next message returns it to open.
const (
	FolderOpen     Folder = "open"
	FolderSolved   Folder = "solved"
	FolderSpam     Folder = "spam"
	FolderArchived Folder = "archived"
	FolderPending  Folder = "pending"
)

// Folders lists every folder.
var Folders = []Folder{FolderOpen, FolderSolved, FolderSpam, FolderArchived, FolderPending}

// Valid reports whether f is a known folder.
func (f Folder) Valid() bool { return slices.Contains(Folders, f) }

// Mode says who answers the customer: the AI agent or a person.
type Mode string

// The two modes (docs/ARCHITECTURE.md, invariant 4).
const (
	ModeAI     Mode = "ai"
	ModeManual Mode = "manual"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == ModeAI || m == ModeManual }

// Direction says whether a message came from the customer or went to them.
type Direction string

// Message directions.
const (
	DirIn  Direction = "inbound"
	DirOut Direction = "outbound"
)

// SenderKind says who wrote a message.
type SenderKind string

// Sender kinds.
const (
	SenderCustomer SenderKind = "customer"
	SenderAI       SenderKind = "ai"
	SenderHuman    SenderKind = "human"
	SenderSystem   SenderKind = "system"
	// SenderBroadcast is a broadcast's template message
	// (engine/broadcast.go): it does not take the conversation over.
	SenderBroadcast SenderKind = "broadcast"
)

// Sender is who wrote a message; UserID is set for humans using the inbox
// (empty for a human who replied from the channel's own app).
type Sender struct {
	Kind   SenderKind `json:"kind"`
	UserID string     `json:"user_id,omitempty"`
}

// MessageKind is the content type of a message.
type MessageKind string

// Message kinds. Unsupported keeps what a channel sent that Parley cannot
// render, with the channel's own type name in Message.UnsupportedType.
const (
	KindText        MessageKind = "text"
	KindImage       MessageKind = "image"
	KindVideo       MessageKind = "video"
	KindAudio       MessageKind = "audio"
	KindDocument    MessageKind = "document"
	KindSticker     MessageKind = "sticker"
	KindLocation    MessageKind = "location"
	KindContacts    MessageKind = "contacts"
	KindInteractive MessageKind = "interactive"
	KindReaction    MessageKind = "reaction"
	KindUnsupported MessageKind = "unsupported"
	KindSystem      MessageKind = "system"
	// KindTemplate is a WhatsApp message template (engine/template.go),
	// the only kind sent outside the 24-hour window.
	KindTemplate MessageKind = "template"
)

// MessageKinds lists every message kind.
var MessageKinds = []MessageKind{KindText, KindImage, KindVideo, KindAudio, KindDocument,
	KindSticker, KindLocation, KindContacts, KindInteractive, KindReaction, KindUnsupported, KindSystem, KindTemplate}

// Valid reports whether k is a known message kind.
func (k MessageKind) Valid() bool { return slices.Contains(MessageKinds, k) }

// HasMedia reports whether messages of kind k carry a media file.
func (k MessageKind) HasMedia() bool {
	switch k {
	case KindImage, KindVideo, KindAudio, KindDocument, KindSticker:
		return true
	}
	return false
}

// Media describes a file attached to a message. Ref is the channel's media
// id for inbound files until they are fetched; StorageKey names the local
// content-addressed copy once stored.
type Media struct {
	Ref        string `json:"ref,omitempty"`
	URL        string `json:"url,omitempty"`
	StorageKey string `json:"storage_key,omitempty"`
	MimeType   string `json:"mime_type,omitempty"`
	Filename   string `json:"filename,omitempty"`
	Caption    string `json:"caption,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Size       int64  `json:"size,omitempty"`
	Voice      bool   `json:"voice,omitempty"`
}

// Location is a shared map point.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// Interactive is a tap on a button, list item or postback.
type Interactive struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Title   string `json:"title,omitempty"`
	Payload string `json:"payload,omitempty"`
}

// Reaction is an emoji put on (or, with an empty Emoji, taken off) another
// message, named by its channel message id.
type Reaction struct {
	TargetChannelMessageID string `json:"target_channel_message_id"`
	Emoji                  string `json:"emoji,omitempty"`
}

// Content is what a message says, whatever its kind.
type Content struct {
	Kind            MessageKind  `json:"kind"`
	Text            string       `json:"text,omitempty"`
	Media           *Media       `json:"media,omitempty"`
	Location        *Location    `json:"location,omitempty"`
	Contacts        []byte       `json:"contacts,omitempty"` // the channel's contact cards, raw JSON
	Interactive     *Interactive `json:"interactive,omitempty"`
	Reaction        *Reaction    `json:"reaction,omitempty"`
	UnsupportedType string       `json:"unsupported_type,omitempty"`
	ReplyTo         string       `json:"reply_to,omitempty"` // channel message id quoted
	// Template is a template message's template and variables (Kind
	// template); Text is then the template as rendered for the inbox.
	Template *TemplateMessage `json:"template,omitempty"`
}

// Preview is the one-line summary shown in the conversation list.
func (c Content) Preview() string {
	const max = 120
	s := c.Text
	if s == "" && c.Media != nil {
		s = c.Media.Caption
	}
	if s == "" {
		switch c.Kind {
		case KindImage:
			s = "📷 Photo"
		case KindVideo:
			s = "🎥 Video"
		case KindAudio:
			s = "🎤 Audio"
		case KindDocument:
			s = "📄 Document"
			if c.Media != nil && c.Media.Filename != "" {
				s = "📄 " + c.Media.Filename
			}
		case KindSticker:
			s = "Sticker"
		case KindLocation:
			s = "📍 Location"
		case KindContacts:
			s = "👤 Contact"
		case KindInteractive:
			if c.Interactive != nil {
				s = c.Interactive.Title
			}
		case KindReaction:
			switch {
			case c.Reaction == nil:
			case c.Reaction.Emoji == "":
				s = "Removed a reaction"
			default:
				s = "Reacted " + c.Reaction.Emoji
			}
		case KindUnsupported:
			s = "Unsupported message"
		}
	}
	return truncateRunes(s, max)
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

// Message is one entry in a conversation's log: a customer message, an
// AI or human reply, or a system event. Seq numbers a conversation's
// messages from 1.
type Message struct {
	ID             ID        `json:"id"`
	WorkspaceID    ID        `json:"workspace_id"`
	ConversationID ID        `json:"conversation_id"`
	Seq            uint64    `json:"seq"`
	Direction      Direction `json:"direction"`
	Sender         Sender    `json:"sender"`
	Content
	ChannelMessageID string         `json:"channel_message_id,omitempty"`
	Status           DeliveryStatus `json:"status,omitempty"` // outbound only
	StatusAt         time.Time      `json:"status_at,omitzero"`
	ErrorCode        string         `json:"error_code,omitempty"`
	ErrorReason      string         `json:"error_reason,omitempty"`
	Reasoning        string         `json:"reasoning,omitempty"` // the AI's own explanation
	// Sources are the knowledge passages an AI reply was given or
	// answered from (ids and titles).
	Sources   []KnowledgeSource `json:"sources,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	SentAt    time.Time         `json:"sent_at,omitzero"`
}

// ContactSource says how a contact entered the CRM.
type ContactSource string

// Contact sources.
const (
	SourceChat   ContactSource = "chat"
	SourceForm   ContactSource = "form"
	SourceManual ContactSource = "manual"
	SourceImport ContactSource = "import"
	SourceAPI    ContactSource = "api"
)

// Valid reports whether s is a known contact source.
func (s ContactSource) Valid() bool {
	switch s {
	case SourceChat, SourceForm, SourceManual, SourceImport, SourceAPI:
		return true
	}
	return false
}

// Identity is how a channel knows a contact: a WhatsApp wa_id, a
// page-scoped Messenger id, an Instagram-scoped id, an email address.
type Identity struct {
	Channel    Channel `json:"channel"`
	ExternalID string  `json:"external_id"`
}

// Profile is what the inbox shows about a contact.
type Profile struct {
	Name      string `json:"name,omitempty"`
	AvatarURL string `json:"avatar_url,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
	Company   string `json:"company,omitempty"`
	Title     string `json:"title,omitempty"`
	Country   string `json:"country,omitempty"`
	Language  string `json:"language,omitempty"`
}

// Contact is a person the business talks to, across channels.
type Contact struct {
	ID           ID                `json:"id"`
	WorkspaceID  ID                `json:"workspace_id"`
	Profile      Profile           `json:"profile"`
	Identities   []Identity        `json:"identities,omitempty"`
	CustomFields map[string]string `json:"custom_fields,omitempty"`
	Source       ContactSource     `json:"source"`
	Blocked      bool              `json:"blocked,omitempty"`
	Unsubscribed bool              `json:"unsubscribed,omitempty"`
	// NameEdited is set once a person gave the contact its name (an
	// update, a create or an import with a name): a channel's profile
	// name no longer renames it (RenameFromChannel).
	NameEdited bool `json:"name_edited,omitempty"`
	// ChannelName is the profile name a channel last reported for the
	// contact.
	ChannelName string    `json:"channel_name,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Stage is where the contact stands in a pipeline (engine/pipeline.go),
	// nil for none; OwnerID is the user who owns the contact, nil for
	// nobody. Both change only through SetContactStage and
	// SetContactOwner, in the contact's actor.
	Stage   *ContactStage `json:"stage,omitempty"`
	OwnerID *ID           `json:"owner_id,omitempty"`
	// Campaign is the first campaign that brought the contact (first
	// touch; see FirstTouch), nil when none did.
	Campaign *Campaign `json:"campaign,omitempty"`
	// Subscription is the contact's paid access, nil when no payment
	// provider ever reported one (see ApplySubscription).
	Subscription *Subscription `json:"subscription,omitempty"`
	// Detected is what enrichment read from the contact's phone and
	// messages (engine/enrich.go); Profile keeps what a person set.
	Detected Detected `json:"detected"`
	// Tags are the contact's own tags (a form's tag, engine.AddContactTag);
	// the contact list shows them with its conversations' tags.
	Tags []string `json:"tags,omitempty"`
	// Activity is what the contact's actor keeps of its conversations
	// for segments (engine/segment.go).
	Activity ContactActivity `json:"engagement,omitzero"`
}

// PriorityTag is the tag the star button toggles.
const PriorityTag = "priority"

// Conversation is the header of one thread between the business (on one
// channel account) and one contact. The message log lives beside it.
type Conversation struct {
	ID               ID      `json:"id"`
	WorkspaceID      ID      `json:"workspace_id"`
	Channel          Channel `json:"channel"`
	ChannelAccountID string  `json:"channel_account_id"`
	ContactID        ID      `json:"contact_id"`
	ContactName      string  `json:"contact_name,omitempty"`
	ExternalUserID   string  `json:"external_user_id"`

	Folder      Folder    `json:"folder"`
	Mode        Mode      `json:"mode"`
	AIResumesAt time.Time `json:"ai_resumes_at,omitzero"`
	// ModeEpoch counts changes of mode; an AI reply computed under an older
	// epoch is stale (docs/ARCHITECTURE.md, invariant 5).
	ModeEpoch uint64 `json:"mode_epoch"`
	// AIPaused is set when a person paused the AI with no timer, and by a
	// handoff: a handoff's pause lasts only until a person acts or the
	// conversation is solved, unless AgentRules.HandoffStaysManual.
	AIPaused bool `json:"ai_paused,omitempty"`
	// NeedsHuman is set by a handoff until a person acts.
	NeedsHuman bool     `json:"needs_human,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	AssigneeID string   `json:"assignee_id,omitempty"`
	// TeamID is the team the conversation is assigned to (Team), "" for
	// none; AssigneeID, when set, is then one of its members or someone
	// a person chose.
	TeamID string `json:"team_id,omitempty"`

	UnreadCount    int       `json:"unread_count"`
	LastActivityAt time.Time `json:"last_activity_at"`
	Preview        string    `json:"preview,omitempty"`
	LastSeq        uint64    `json:"last_seq"`
	// LastCustomerSeq is the seq of the newest customer message; an AI
	// reply computed for an older one is stale (docs/ARCHITECTURE.md, invariant 5).
	LastCustomerSeq uint64    `json:"last_customer_seq"`
	LastInboundAt   time.Time `json:"last_inbound_at,omitzero"`
	// AwaitingReply is true while the newest message of the conversation
	// (system events aside) is the customer's.
	AwaitingReply      bool           `json:"awaiting_reply,omitempty"`
	LastOutboundStatus DeliveryStatus `json:"last_outbound_status,omitempty"`
	LastOutboundSeq    uint64         `json:"last_outbound_seq,omitempty"`

	FollowUpAt time.Time `json:"follow_up_at,omitzero"`
	// FollowUpAuto is set when FollowUpAt was set automatically after an
	// AI message; the customer writing cancels it.
	FollowUpAuto bool `json:"follow_up_auto,omitempty"`
	// AutoFollowUps counts automatic follow-ups sent since the customer
	// last wrote.
	AutoFollowUps int `json:"auto_follow_ups,omitempty"`
	CSAT          int `json:"csat,omitempty"`
	// CSATPending is set while a survey waits for the customer's score.
	CSATPending  bool `json:"csat_pending,omitempty"`
	Blocked      bool `json:"blocked,omitempty"`
	Unsubscribed bool `json:"unsubscribed,omitempty"`
	// Thread names an email thread of the contact (its normalised
	// subject, EmailThread); "" on the other channels, where a channel
	// user has one conversation per account.
	Thread    string    `json:"thread,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// OpenedAt is when the customer's message opened the conversation
	// (or reopened it from solved or archived); FirstReplyAt is the first
	// reply (AI or human) since, zero until then. Analytics measure the
	// first response time between the two.
	OpenedAt     time.Time `json:"opened_at,omitzero"`
	FirstReplyAt time.Time `json:"first_reply_at,omitzero"`
	// AIPendingAt, set by the runtime while the customer waits for the
	// AI, is when the AI is asked again if no answer was committed by
	// then (after a restart lost the request). Zero when nobody waits.
	AIPendingAt time.Time `json:"ai_pending_at,omitzero"`
	// Campaign is the newest campaign (ad, link) the customer came
	// through on this conversation, nil when none.
	Campaign *Campaign `json:"campaign,omitempty"`
	// AssistantID names the assistant that handles the conversation
	// (Assistant): its channel account's at creation, changed by a
	// person (SetAssistant); "" only in headers stored before
	// assistants, which read as DefaultAssistantID.
	AssistantID string `json:"assistant_id"`
	// EmailTo, on a web chat conversation, is the address its replies
	// are emailed to through the email account EmailAccountID: the
	// visitor left it in the widget's offline form (EmailContinuation).
	// Empty while replies reach the visitor in the widget.
	EmailTo        string `json:"email_to,omitempty"`
	EmailAccountID string `json:"email_account_id,omitempty"`
	// Deleted marks a conversation removed for good; it is never stored.
	Deleted bool `json:"-"`
}

// ServiceWindow is how long after the customer's last message a business
// may send free-form messages on WhatsApp.
const ServiceWindow = 24 * time.Hour

// InWindow reports whether a free-form message may be sent at now. Only
// WhatsApp enforces the window here; Messenger and Instagram answer
// outside-window sends with an error the courier records.
func (c *Conversation) InWindow(now time.Time) bool {
	return c.Channel != ChannelWhatsApp || (!c.LastInboundAt.IsZero() && now.Before(c.LastInboundAt.Add(ServiceWindow)))
}

// HasTag reports whether the conversation carries tag.
func (c *Conversation) HasTag(tag string) bool { return slices.Contains(c.Tags, tag) }

// Clone returns a deep copy of c, so a rule can change the copy freely.
func (c Conversation) Clone() Conversation {
	c.Tags = slices.Clone(c.Tags)
	if c.Campaign != nil {
		cp := *c.Campaign
		c.Campaign = &cp
	}
	return c
}

// Settings are the workspace rules that the pure functions need.
type Settings struct {
	// AIResumeAfter is how long after the last human activity a manual
	// conversation goes back to the AI. Zero means 15 minutes.
	AIResumeAfter time.Duration
	// Agent are the AI agent's rules for the conversation.
	Agent AgentRules
	// OptOut are the workspace's opt-out keyword rules (engine/optout.go);
	// the zero value means the defaults.
	OptOut OptOutSettings
}

// DefaultAIResumeAfter is the default AI reactivation delay.
const DefaultAIResumeAfter = 15 * time.Minute

// ResumeAfter returns the AI reactivation delay with the default applied.
func (s Settings) ResumeAfter() time.Duration {
	if s.AIResumeAfter <= 0 {
		return DefaultAIResumeAfter
	}
	return s.AIResumeAfter
}
