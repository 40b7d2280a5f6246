package engine

import (
	"fmt"
	"strings"
	"time"
)

// Retention and legal hold (docs/ARCHITECTURE.md, "Retention, legal hold,
// export and erasure"). The rules here are pure: the retention worker and
// the conversation actors pass in the time, the policy and whether the
// contact is on hold.

// RetentionMaxDays bounds a retention period (about 100 years).
const RetentionMaxDays = 36500

// RetentionPolicy is a workspace's retention policy. A zero field keeps
// that data forever.
type RetentionPolicy struct {
	// MessageDays: messages (and their media) older than this many days
	// are deleted.
	MessageDays int `json:"message_days"`
	// ClosedConversationDays: solved and archived conversations whose
	// last activity is older than this many days are deleted whole.
	ClosedConversationDays int       `json:"closed_conversation_days"`
	UpdatedAt              time.Time `json:"updated_at,omitzero"`
	UpdatedBy              string    `json:"updated_by,omitempty"`
}

// CheckRetentionPolicy reports whether p's periods are within bounds.
func (p *RetentionPolicy) CheckRetentionPolicy() error {
	if p.MessageDays < 0 || p.MessageDays > RetentionMaxDays {
		return fmt.Errorf("%w: message_days must be 0 (keep forever) to %d", ErrInvalid, RetentionMaxDays)
	}
	if p.ClosedConversationDays < 0 || p.ClosedConversationDays > RetentionMaxDays {
		return fmt.Errorf("%w: closed_conversation_days must be 0 (keep forever) to %d", ErrInvalid, RetentionMaxDays)
	}
	return nil
}

// RetentionActive reports whether p deletes anything.
func (p *RetentionPolicy) RetentionActive() bool {
	return p.MessageDays > 0 || p.ClosedConversationDays > 0
}

// RetentionVerdict is what retention does to one conversation.
type RetentionVerdict struct {
	// DeleteConversation: the whole conversation goes.
	DeleteConversation bool
	// MessagesBefore: its messages created before this time go (zero:
	// none).
	MessagesBefore time.Time
}

// RetentionDays is the length of n days.
func RetentionDays(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// RetentionFor decides what policy p does to conversation c at now. A
// contact on legal hold keeps everything.
func RetentionFor(p RetentionPolicy, c *Conversation, now time.Time, held bool) RetentionVerdict {
	var v RetentionVerdict
	if held || c == nil || c.Deleted {
		return v
	}
	closed := c.Folder == FolderSolved || c.Folder == FolderArchived
	if p.ClosedConversationDays > 0 && closed && c.LastActivityAt.Before(now.Add(-RetentionDays(p.ClosedConversationDays))) {
		v.DeleteConversation = true
		return v
	}
	if p.MessageDays > 0 {
		v.MessagesBefore = now.Add(-RetentionDays(p.MessageDays))
	}
	return v
}

// RetentionExpired reports whether message m is past the horizon of a
// verdict's MessagesBefore.
func RetentionExpired(m *Message, before time.Time) bool {
	return !before.IsZero() && m.CreatedAt.Before(before)
}

// LegalHold keeps a contact's data from retention and erasure until it is
// released.
type LegalHold struct {
	ContactID ID        `json:"contact_id"`
	Reason    string    `json:"reason,omitempty"`
	SetBy     string    `json:"set_by,omitempty"`
	SetAt     time.Time `json:"set_at"`
}

// LegalHoldReasonMax bounds a legal hold's reason in bytes.
const LegalHoldReasonMax = 1000

// CheckLegalHoldReason trims a hold's reason and checks its length.
func CheckLegalHoldReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > LegalHoldReasonMax {
		return "", fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, LegalHoldReasonMax)
	}
	return reason, nil
}
