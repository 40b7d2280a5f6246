package engine

import "time"

// EventType names a change that subscribers are told about.
type EventType string

// Event types (DESIGN.md, Realtime protocol).
const (
	EventConversationCreated EventType = "conversation.created"
	EventConversationUpdated EventType = "conversation.updated"
	EventConversationDeleted EventType = "conversation.deleted"
	EventMessageCreated      EventType = "message.created"
	EventMessageUpdated      EventType = "message.updated"
	EventFollowUpScheduled   EventType = "followup.scheduled"
	EventFollowUpCancelled   EventType = "followup.cancelled"
	EventFollowUpDue         EventType = "followup.due"
)

// Event is one change to one conversation, produced by a rule and
// published after the change is committed. Conversation is the header as
// it stands after the change; Message is set for message events.
type Event struct {
	Type           EventType     `json:"type"`
	WorkspaceID    ID            `json:"workspace_id"`
	ConversationID ID            `json:"conversation_id"`
	At             time.Time     `json:"at"`
	Conversation   *Conversation `json:"conversation,omitempty"`
	Message        *Message      `json:"message,omitempty"`
}
