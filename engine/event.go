package engine

import "time"

// EventType names a change that subscribers are told about.
type EventType string

// Event types (docs/ARCHITECTURE.md, Realtime protocol).
const (
	EventConversationCreated EventType = "conversation.created"
	EventConversationUpdated EventType = "conversation.updated"
	EventConversationDeleted EventType = "conversation.deleted"
	EventMessageCreated      EventType = "message.created"
	EventMessageUpdated      EventType = "message.updated"
	EventFollowUpScheduled   EventType = "followup.scheduled"
	EventFollowUpCancelled   EventType = "followup.cancelled"
	EventFollowUpDue         EventType = "followup.due"

	EventContactCreated EventType = "contact.created"
	EventContactUpdated EventType = "contact.updated"
	EventContactDeleted EventType = "contact.deleted"
	EventNoteCreated    EventType = "note.created"
	EventNoteDeleted    EventType = "note.deleted"
	EventNoteMentioned  EventType = "note.mentioned"
	EventImportProgress EventType = "contacts.import.progress"
	// EventMemoryCreated and EventMemoryDeleted carry {"memory": Memory}.
	EventMemoryCreated EventType = "memory.created"
	EventMemoryDeleted EventType = "memory.deleted"
	// EventWebhookDisabled carries the outgoing webhook (engine.Webhook,
	// without its secret) turned off after persistent failure.
	EventWebhookDisabled EventType = "webhook.disabled"
	// EventFormSubmitted carries FormSubmitted ({"form_id",
	// "submission_id","contact_id","created"}), published after the
	// submission and its contact's change are committed.
	EventFormSubmitted EventType = "form.submitted"
	// EventPresenceChanged carries {"user_id","state"}: a user of the
	// workspace went online, away or offline (engine.PresenceState).
	EventPresenceChanged EventType = "presence.changed"
	// EventBroadcastUpdated carries the broadcast (engine.Broadcast)
	// with its counts, at most 4 a second per broadcast.
	EventBroadcastUpdated EventType = "broadcast.updated"
)

// Event is one change to one conversation, produced by a rule and
// published after the change is committed (or, with Data set, a change
// to a contact, a note or an import, published by the API). Conversation is the header as
// it stands after the change; Message is set for message events.
type Event struct {
	Type           EventType     `json:"type"`
	WorkspaceID    ID            `json:"workspace_id"`
	ConversationID ID            `json:"conversation_id"`
	At             time.Time     `json:"at"`
	Conversation   *Conversation `json:"conversation,omitempty"`
	Message        *Message      `json:"message,omitempty"`
	// UserID, when set, addresses the event to one user: only that
	// user's subscriptions receive it (a mention).
	UserID ID `json:"user_id,omitzero"`
	// Data is the payload of an event that is not about a conversation
	// header or message (contacts, notes, imports); it is sent as the
	// event's data.
	Data any `json:"data,omitempty"`
	// Assigned is set on the conversation.updated of a change that gave
	// the conversation to a user it was not assigned to, for the
	// notifications; it is not sent to subscribers.
	Assigned *Assignment `json:"-"`
	// Before is, on a conversation.updated, the header as it stood
	// before the change, for the outgoing webhooks (a status, mode or
	// handoff change); it is not sent to subscribers.
	Before *Conversation `json:"-"`
	// Automation is set on the events of a change an automation rule
	// made (engine/automation.go), for loop detection; not sent.
	Automation *AutomationCause `json:"-"`
	// ContactChange is, on a contact.updated that moved the contact's
	// stage or owner, the change's activity entry; not sent.
	ContactChange *ContactChange `json:"-"`
	// NewContact is set on the conversation.created whose batch wrote
	// a new chat user's contact (no contact.created is published for
	// it); not sent.
	NewContact bool `json:"-"`
}

// Assignment says who a conversation was just given to, and by whom.
type Assignment struct {
	// UserID is the assignee's id.
	UserID string
	// By is the user who assigned it (zero when not a person).
	By ID
}
