package engine

// Notifications: what a user is told about, and where. A user's
// NotificationSettings say, for each kind of event, whether it reaches
// them in the browser (the web app's notifications), by Web Push (a
// phone or a desktop with the installed app) and by email. Who is
// concerned by an event is decided by Notifications, a pure function of
// the event and the workspace's users.

// NotifyKind is a kind of event a user may be notified of.
type NotifyKind string

// Notification kinds.
const (
	// NotifyNewConversation: a conversation was opened (every user).
	NotifyNewConversation NotifyKind = "new_conversation"
	// NotifyAssigned: a conversation was assigned to the user by
	// someone else.
	NotifyAssigned NotifyKind = "assigned"
	// NotifyMentioned: a note mentions the user.
	NotifyMentioned NotifyKind = "mentioned"
	// NotifyNeedsHuman: a handoff left a conversation waiting for a
	// person (its assignee, or every user when it has none).
	NotifyNeedsHuman NotifyKind = "needs_human"
)

// NotifyMedia says where one kind of event reaches a user.
type NotifyMedia struct {
	Browser bool `json:"browser"`
	Push    bool `json:"push"`
	Email   bool `json:"email"`
}

// NotificationSettings are a user's choices, one NotifyMedia per kind.
type NotificationSettings struct {
	NewConversation NotifyMedia `json:"new_conversation"`
	Assigned        NotifyMedia `json:"assigned"`
	Mentioned       NotifyMedia `json:"mentioned"`
	NeedsHuman      NotifyMedia `json:"needs_human"`
}

// DefaultNotificationSettings are the settings of a user who chose
// none: everything in the browser (as the web app did before there were
// settings); what is addressed to the user (an assignment, a mention)
// also by push and email. New conversations and handoffs would flood a
// phone or a mailbox of a busy team, so they stay in the browser.
func DefaultNotificationSettings() NotificationSettings {
	personal := NotifyMedia{Browser: true, Push: true, Email: true}
	return NotificationSettings{
		NewConversation: NotifyMedia{Browser: true},
		Assigned:        personal,
		Mentioned:       personal,
		NeedsHuman:      NotifyMedia{Browser: true},
	}
}

// Media returns the media of kind k (none for an unknown kind).
func (s *NotificationSettings) Media(k NotifyKind) NotifyMedia {
	switch k {
	case NotifyNewConversation:
		return s.NewConversation
	case NotifyAssigned:
		return s.Assigned
	case NotifyMentioned:
		return s.Mentioned
	case NotifyNeedsHuman:
		return s.NeedsHuman
	}
	return NotifyMedia{}
}

// Notification is one user to tell about one event.
type Notification struct {
	Kind   NotifyKind
	UserID ID
	// ConversationID is the conversation the event is about (zero for a
	// mention in a note on a contact alone).
	ConversationID ID
	// Conversation is its header after the change, when the event has
	// it.
	Conversation *Conversation
	// By is the user the event comes from (a mention's author, who
	// assigned), zero when none.
	By ID
	// Text is a short text of the event: a mention's note, the
	// handoff's reason.
	Text string
}

// Notifications returns who is to be told about ev among users (the
// workspace's users): a new conversation and a handoff without an
// assignee concern everyone, an assignment its assignee (unless they
// assigned it themselves), a mention the user mentioned, a handoff of an
// assigned conversation its assignee. Other events concern no one.
func Notifications(ev *Event, users []User) []Notification {
	base := Notification{ConversationID: ev.ConversationID, Conversation: ev.Conversation}
	one := func(kind NotifyKind, user ID) []Notification {
		for _, u := range users {
			if u.ID == user {
				n := base
				n.Kind, n.UserID = kind, user
				return []Notification{n}
			}
		}
		return nil // not a user of the workspace (any more)
	}
	all := func(kind NotifyKind) []Notification {
		out := make([]Notification, 0, len(users))
		for _, u := range users {
			n := base
			n.Kind, n.UserID = kind, u.ID
			out = append(out, n)
		}
		return out
	}
	switch ev.Type {
	case EventConversationCreated:
		return all(NotifyNewConversation)
	case EventConversationUpdated:
		a := ev.Assigned
		if a == nil {
			return nil
		}
		to, err := ParseID(a.UserID)
		if err != nil || to == a.By {
			return nil
		}
		base.By = a.By
		return one(NotifyAssigned, to)
	case EventNoteMentioned:
		if d, ok := ev.Data.(NoteEventData); ok {
			base.By, base.Text = d.Note.AuthorID, d.Note.Text
		}
		return one(NotifyMentioned, ev.UserID)
	case EventHandoff:
		if ev.Message != nil {
			base.Text = ev.Message.Content.Text
		}
		if ev.Conversation != nil && ev.Conversation.AssigneeID != "" {
			if to, err := ParseID(ev.Conversation.AssigneeID); err == nil {
				return one(NotifyNeedsHuman, to)
			}
		}
		return all(NotifyNeedsHuman)
	}
	return nil
}
