package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by Apply. Each leaves the conversation unchanged.
var (
	// ErrBlocked is returned when sending to a blocked contact.
	ErrBlocked = errors.New("engine: contact is blocked")
	// ErrInvalid is returned for a command whose arguments break a rule
	// (an unknown folder, an empty message, a CSAT score out of 1–5...).
	ErrInvalid = errors.New("engine: invalid command")
	// ErrNoSuchMessage is returned when a command names a seq the
	// conversation does not have (or that is not an outbound message).
	ErrNoSuchMessage = errors.New("engine: no such message")
	// ErrNotFailed is returned when retrying a message that has not failed.
	ErrNotFailed = errors.New("engine: message has not failed")
	// ErrDeleted is returned for any command on a deleted conversation.
	ErrDeleted = errors.New("engine: conversation deleted")
	// ErrOutsideWindow is returned for a free-form WhatsApp message more
	// than 24 hours after the customer last wrote: only a template may be
	// sent then.
	ErrOutsideWindow = errors.New("engine: outside the 24-hour window, a template message is required")
)

// DirInternal is the direction of system events in the log: neither sent to
// nor received from the customer.
const DirInternal Direction = "internal"

// Limits on what a command may carry.
const (
	MaxTextBytes = 64 << 10
	// MaxFieldBytes caps every other text field of a message (caption,
	// file name, titles...).
	MaxFieldBytes = 4 << 10
	MaxTagBytes   = 64
	MaxTags       = 32
)

// Command is an instruction to one conversation. The concrete types below
// are the whole set.
type Command interface{ isCommand() }

// Receive records a customer message. Dedupe by channel message id happens
// before (it needs storage); Receive assumes the message is new.
type Receive struct {
	ChannelMessageID string
	Content          Content
	SentAt           time.Time // the channel's timestamp, zero if unknown
	ContactName      string    // profile name from the channel, if any
	// Referral is the campaign (ad, link) the message came through, if
	// any: it becomes the conversation's Campaign.
	Referral *Campaign
	// EmailTo, when set, changes where a web chat conversation's replies
	// go (WidgetEmailContinuation): an address and an email account, or
	// both empty for the widget again.
	EmailTo *EmailContinuation
}

// Echo records a message the business sent from the channel's own app:
// stored as an outbound human message already sent, and it takes over
// (docs/ARCHITECTURE.md, invariant 4).
type Echo struct {
	ChannelMessageID string
	Content          Content
	SentAt           time.Time
}

// SendHuman is a reply typed in the inbox by UserID: stored as sending and
// handed to the courier; it takes over (docs/ARCHITECTURE.md, invariant 4).
type SendHuman struct {
	UserID  string
	Content Content
}

// TakeOver puts the conversation in manual mode with the AI reactivation
// timer set.
type TakeOver struct{ UserID string }

// PauseAI puts the conversation in manual mode with no timer.
type PauseAI struct{ UserID string }

// ResumeAI hands the conversation back to the AI now.
type ResumeAI struct{ UserID string }

// AIResumeDue is the reactivation timer firing for deadline Due. A timer
// whose deadline has moved since it was set is stale and does nothing.
type AIResumeDue struct{ Due time.Time }

// AIReply is the agent's answer to Request. It is discarded, never sent,
// if a human took over or a newer customer message arrived since the
// request was made (docs/ARCHITECTURE.md, invariant 5).
//
// Content with an empty Kind sends nothing. Handoff, when set, is the
// reason the agent hands the conversation to a person (after sending
// Content, if any). FollowUpAt, when in the future, schedules a
// follow-up.
type AIReply struct {
	Request        AIRequest
	Content        Content
	Reasoning      string
	Handoff        string
	FollowUpAt     time.Time
	FollowUpReason string
	// Sources are the knowledge passages the reply was given or
	// answered from; the message keeps them (at most
	// MaxKnowledgeSources).
	Sources []KnowledgeSource
}

// MoveFolder files the conversation in Folder.
type MoveFolder struct {
	Folder Folder
	UserID string
}

// SetTag adds (or with Remove, takes off) a tag.
type SetTag struct {
	Tag    string
	Remove bool
}

// MarkRead clears the unread count.
type MarkRead struct{}

// MarkUnread sets the unread count to at least one.
type MarkUnread struct{}

// Assign gives the conversation to UserID; empty unassigns it. By is
// the user who asks (zero when not a person).
type Assign struct {
	UserID string
	By     ID
}

// ScheduleFollowUp sets (or moves) the follow-up time.
type ScheduleFollowUp struct {
	At     time.Time
	UserID string
}

// CancelFollowUp clears the follow-up.
type CancelFollowUp struct{ UserID string }

// FollowUpDue is the follow-up timer firing for deadline Due; stale if the
// follow-up was moved or cancelled.
type FollowUpDue struct{ Due time.Time }

// SetCSAT records a satisfaction score of 1 to 5.
type SetCSAT struct{ Score int }

// SetBlocked blocks or unblocks the contact in this conversation.
type SetBlocked struct{ Blocked bool }

// SetUnsubscribed unsubscribes (or resubscribes) the contact from
// broadcasts.
type SetUnsubscribed struct{ Unsubscribed bool }

// UpdateStatus applies a delivery report to outbound message Seq.
type UpdateStatus struct {
	Seq              uint64
	Status           DeliveryStatus
	At               time.Time
	ChannelMessageID string // set when the send API returned it
	ErrorCode        string
	ErrorReason      string
}

// Retry sends a failed message again.
type Retry struct{ Seq uint64 }

// Delete removes the conversation for good.
type Delete struct{}

// AttachMedia records where a message's media file is stored once it has
// been fetched from the channel.
type AttachMedia struct {
	Seq        uint64
	StorageKey string
	MimeType   string
	SHA256     string
	Size       int64
}

// UpdateContactName changes the contact name shown on the conversation
// (a channel reported a new profile name).
type UpdateContactName struct{ Name string }

func (Receive) isCommand()           {}
func (Echo) isCommand()              {}
func (SendHuman) isCommand()         {}
func (TakeOver) isCommand()          {}
func (PauseAI) isCommand()           {}
func (ResumeAI) isCommand()          {}
func (AIResumeDue) isCommand()       {}
func (AIReply) isCommand()           {}
func (MoveFolder) isCommand()        {}
func (SetTag) isCommand()            {}
func (MarkRead) isCommand()          {}
func (MarkUnread) isCommand()        {}
func (Assign) isCommand()            {}
func (ScheduleFollowUp) isCommand()  {}
func (CancelFollowUp) isCommand()    {}
func (FollowUpDue) isCommand()       {}
func (SetCSAT) isCommand()           {}
func (SetBlocked) isCommand()        {}
func (SetUnsubscribed) isCommand()   {}
func (UpdateStatus) isCommand()      {}
func (Retry) isCommand()             {}
func (Delete) isCommand()            {}
func (AttachMedia) isCommand()       {}
func (UpdateContactName) isCommand() {}

// AIRequest asks the agent for a reply to the conversation as it stood:
// the newest customer message and the mode epoch. A reply is accepted only
// if both are unchanged when it comes back.
type AIRequest struct {
	WorkspaceID     ID        `json:"workspace_id"`
	ConversationID  ID        `json:"conversation_id"`
	LastCustomerSeq uint64    `json:"last_customer_seq"`
	ModeEpoch       uint64    `json:"mode_epoch"`
	Purpose         AIPurpose `json:"purpose,omitempty"`
}

// Result is what a command did: the new header, the messages it created or
// changed (to be stored in the same batch), the events to publish once
// committed, the outbound messages to hand to the courier, and whether to
// ask the AI for a reply.
type Result struct {
	Conversation Conversation
	Messages     []Message
	Events       []Event
	Send         []Message
	AskAI        *AIRequest
	// Discarded is set when an AI reply was stale and dropped.
	Discarded bool
	// Handoff is set when the conversation was handed to a person.
	Handoff HandoffKind
	// Reactivated is set when the reactivation timer gave the
	// conversation back to the AI.
	Reactivated bool
	// FollowUpSent is set when a follow-up message was written.
	FollowUpSent bool
	// SurveySent is set when a CSAT survey was sent.
	SurveySent bool
	// Feedback is the rating a RateReply recorded, to be stored in the
	// same batch (with the index of rated replies).
	Feedback *Feedback
	// OptOut is set when a customer's opt-out or resubscribe keyword
	// changed the conversation's subscription: the runtime tells the
	// contact's actor (engine/optout.go).
	OptOut OptOutAction
}

// NewConversation returns the header of a new conversation, open and in AI
// mode.
func NewConversation(id, workspace ID, ch Channel, accountID string, contact ID, externalUser string, now time.Time) Conversation {
	return Conversation{
		ID: id, WorkspaceID: workspace, Channel: ch, ChannelAccountID: accountID,
		ContactID: contact, ExternalUserID: externalUser,
		Folder: FolderOpen, Mode: ModeAI, LastActivityAt: now, CreatedAt: now,
		AssistantID: DefaultAssistantID,
	}
}

// Lookup returns a stored message of the conversation by seq; Apply uses it
// for commands that change an existing message.
type Lookup func(seq uint64) (Message, bool)

// Apply runs cmd against conversation c at time now and returns the result;
// the messages it creates take their ids from ids (the runtime passes
// NewID). c is not modified. On error the result is empty and nothing may
// be stored.
func Apply(c Conversation, cmd Command, now time.Time, ids IDSource, s Settings, lookup Lookup) (Result, error) {
	if c.Deleted {
		return Result{}, ErrDeleted
	}
	if ids == nil {
		return Result{}, fmt.Errorf("%w: no id source", ErrInvalid)
	}
	a := applier{old: c, c: c.Clone(), now: now, ids: ids, s: s, lookup: lookup, by: commandUser(cmd)}
	if err := a.apply(cmd); err != nil {
		return Result{}, err
	}
	return a.result(), nil
}

type applier struct {
	old, c Conversation
	// by is the user whose command this is ("" for the customer, the AI,
	// timers and automations): the system messages it causes name them.
	by      string
	now     time.Time
	ids     IDSource
	s       Settings
	lookup  Lookup
	msgs    []Message
	events  []Event
	send    []Message
	askAI   bool
	purpose AIPurpose
	discard bool
	// handoffKind, reactivated, followUpSent and surveySent are reported
	// in the Result.
	handoffKind  HandoffKind
	reactivated  bool
	followUpSent bool
	surveySent   bool
	// extra events emitted besides message and header events
	extra []EventType
	// assigned is set when the change gave the conversation to a user
	// it was not assigned to; it goes on the conversation.updated event.
	assigned *Assignment
	// feedback is the rating a RateReply recorded.
	feedback *Feedback
	// optOutAction is what an opt-out keyword did (engine/optout.go).
	optOutAction OptOutAction
}

func (a *applier) apply(cmd Command) error {
	switch cmd := cmd.(type) {
	case Receive:
		return a.receive(cmd)
	case Echo:
		if err := validContent(cmd.Content); err != nil {
			return err
		}
		m := a.append(DirOut, Sender{Kind: SenderHuman}, cmd.Content)
		m.ChannelMessageID = cmd.ChannelMessageID
		m.Status, m.StatusAt, m.SentAt = StatusSent, a.now, cmd.SentAt
		a.outboundWritten(m)
		a.humanActivity()
	case SendHuman:
		if a.c.Blocked {
			return ErrBlocked
		}
		if cmd.Content.Kind == KindTemplate && a.c.Channel != ChannelWhatsApp {
			return fmt.Errorf("%w: templates are sent on WhatsApp only", ErrInvalid)
		}
		// A template is what may be sent outside the window.
		if !a.c.InWindow(a.now) && cmd.Content.Kind != KindTemplate {
			return ErrOutsideWindow
		}
		if err := validContent(cmd.Content); err != nil {
			return err
		}
		a.sendOut(Sender{Kind: SenderHuman, UserID: cmd.UserID}, cmd.Content, "")
		a.humanActivity()
	case TakeOver:
		if a.c.Mode == ModeManual && !a.c.AIResumesAt.IsZero() {
			a.humanActivity() // already taken over: push the timer
			return nil
		}
		a.system("Taken over")
		a.c.AIPaused = false
		a.humanActivity()
	case PauseAI:
		if a.c.Mode == ModeManual && a.aiPaused() {
			return nil
		}
		a.system("AI paused")
		a.setMode(ModeManual)
		a.c.AIPaused = true
		a.c.NeedsHuman = false // a person acted: the pause is theirs now
		a.c.AIResumesAt = time.Time{}
	case ResumeAI:
		if a.c.Mode == ModeAI {
			return nil
		}
		a.resumeAI("AI resumed")
	case AIResumeDue:
		if a.c.Mode != ModeManual || a.c.AIPaused || a.c.AIResumesAt.IsZero() || !a.c.AIResumesAt.Equal(cmd.Due) || a.now.Before(cmd.Due) {
			return nil // stale: the deadline moved, or the AI already resumed
		}
		a.resumeAI("AI resumed after " + humanDuration(a.s.ResumeAfter()) + " without human activity")
		a.reactivated = true
	case AIReply:
		return a.aiReply(cmd)
	case MoveFolder:
		if !cmd.Folder.Valid() {
			return fmt.Errorf("%w: unknown folder %q", ErrInvalid, cmd.Folder)
		}
		if a.c.Folder == cmd.Folder {
			return nil
		}
		a.c.Folder = cmd.Folder
		a.system("Moved to " + string(cmd.Folder))
		if cmd.Folder == FolderSolved {
			a.handBackOnSolve()
			a.sendSurvey()
		}
	case SetTag:
		tag := strings.TrimSpace(cmd.Tag)
		if tag == "" || len(tag) > MaxTagBytes || !utf8.ValidString(tag) {
			return fmt.Errorf("%w: tag must be 1 to %d bytes of text", ErrInvalid, MaxTagBytes)
		}
		i := slices.Index(a.c.Tags, tag)
		switch {
		case cmd.Remove && i >= 0:
			a.c.Tags = slices.Delete(a.c.Tags, i, i+1)
		case !cmd.Remove && i < 0:
			if len(a.c.Tags) >= MaxTags {
				return fmt.Errorf("%w: at most %d tags", ErrInvalid, MaxTags)
			}
			a.c.Tags = append(a.c.Tags, tag)
			slices.Sort(a.c.Tags)
		}
	case MarkRead:
		a.c.UnreadCount = 0
	case MarkUnread:
		a.c.UnreadCount = max(a.c.UnreadCount, 1)
	case Assign:
		if cmd.UserID != "" && cmd.UserID != a.c.AssigneeID {
			a.assigned = &Assignment{UserID: cmd.UserID, By: cmd.By}
		}
		a.c.AssigneeID = cmd.UserID
	case AssignTeam:
		if len(cmd.TeamID) > maxTeamRefBytes || len(cmd.UserID) > maxTeamRefBytes {
			return fmt.Errorf("%w: team and user are ids", ErrInvalid)
		}
		if cmd.UserID != "" && cmd.UserID != a.c.AssigneeID {
			a.assigned = &Assignment{UserID: cmd.UserID, By: cmd.By}
		}
		a.c.TeamID, a.c.AssigneeID = cmd.TeamID, cmd.UserID
	case SetAssistant:
		if cmd.AssistantID == "" || len(cmd.AssistantID) > MaxAssistantIDBytes {
			return fmt.Errorf("%w: an assistant id is required", ErrInvalid)
		}
		a.c.AssistantID = cmd.AssistantID
	case ScheduleFollowUp:
		if !cmd.At.After(a.now) {
			return fmt.Errorf("%w: follow-up time must be in the future", ErrInvalid)
		}
		a.c.FollowUpAt, a.c.FollowUpAuto = cmd.At, false
		a.system("Follow-up scheduled for " + cmd.At.UTC().Format(time.RFC3339))
		a.extra = append(a.extra, EventFollowUpScheduled)
	case CancelFollowUp:
		if a.c.FollowUpAt.IsZero() {
			return nil
		}
		a.c.FollowUpAt, a.c.FollowUpAuto = time.Time{}, false
		a.system("Follow-up cancelled")
		a.extra = append(a.extra, EventFollowUpCancelled)
	case FollowUpDue:
		if a.c.FollowUpAt.IsZero() || !a.c.FollowUpAt.Equal(cmd.Due) || a.now.Before(cmd.Due) {
			return nil
		}
		a.followUpDue()
	case SetCSAT:
		if cmd.Score < 1 || cmd.Score > 5 {
			return fmt.Errorf("%w: CSAT score must be 1 to 5", ErrInvalid)
		}
		a.c.CSAT, a.c.CSATPending = cmd.Score, false
	case SetBlocked:
		if a.c.Blocked == cmd.Blocked {
			return nil
		}
		a.c.Blocked = cmd.Blocked
		if cmd.Blocked {
			a.system("Contact blocked")
		} else {
			a.system("Contact unblocked")
		}
	case SetUnsubscribed:
		a.c.Unsubscribed = cmd.Unsubscribed
	case UpdateStatus:
		return a.updateStatus(cmd)
	case Retry:
		m, ok := a.outbound(cmd.Seq)
		if !ok {
			return ErrNoSuchMessage
		}
		if m.Status != StatusFailed {
			return ErrNotFailed
		}
		if a.c.Blocked {
			return ErrBlocked
		}
		if !a.c.InWindow(a.now) && m.Kind != KindTemplate {
			return ErrOutsideWindow
		}
		m.Status, m.StatusAt, m.ErrorCode, m.ErrorReason = StatusSending, a.now, "", ""
		a.changed(m)
		a.send = append(a.send, m)
	case Delete:
		a.c.Deleted = true
	case RateReply:
		return a.rateReply(cmd)
	case AttachMedia:
		m, ok := a.message(cmd.Seq)
		if !ok || m.Media == nil {
			return ErrNoSuchMessage
		}
		if cmd.StorageKey == "" || cmd.Size < 0 {
			return fmt.Errorf("%w: media without storage key", ErrInvalid)
		}
		media := *m.Media
		media.StorageKey, media.Size = cmd.StorageKey, cmd.Size
		if cmd.MimeType != "" {
			media.MimeType = cmd.MimeType
		}
		if cmd.SHA256 != "" {
			media.SHA256 = cmd.SHA256
		}
		m.Media = &media
		a.changed(m)
	case UpdateContactName:
		if len(cmd.Name) > 256 || !utf8.ValidString(cmd.Name) {
			return fmt.Errorf("%w: bad contact name", ErrInvalid)
		}
		a.c.ContactName = cmd.Name
	case ReassignContact:
		if cmd.ContactID == ZeroID {
			return fmt.Errorf("%w: no contact", ErrInvalid)
		}
		a.c.ContactID = cmd.ContactID
	case SendAutomated:
		return a.sendAutomated(cmd)
	case SendBroadcast:
		return a.sendBroadcast(cmd)
	default:
		return fmt.Errorf("%w: unknown command %T", ErrInvalid, cmd)
	}
	return nil
}

func (a *applier) receive(cmd Receive) error {
	if err := validContent(cmd.Content); err != nil {
		return err
	}
	m := a.append(DirIn, Sender{Kind: SenderCustomer}, cmd.Content)
	m.ChannelMessageID = cmd.ChannelMessageID
	m.SentAt = cmd.SentAt
	if cmd.ContactName != "" {
		a.c.ContactName = cmd.ContactName
	}
	a.c.LastCustomerSeq = m.Seq
	a.c.LastInboundAt = a.now
	a.c.LastActivityAt = a.now
	a.c.Preview = cmd.Content.Preview()
	if cp := CleanCampaign(cmd.Referral); cp != nil {
		cp.At = a.now
		if cp.Channel == "" {
			cp.Channel = a.c.Channel
		}
		a.c.Campaign = cp
	}
	if e := cmd.EmailTo; e != nil && a.c.Channel == ChannelWebChat {
		a.c.EmailTo, a.c.EmailAccountID = e.Address, e.AccountID
	}
	// The customer spoke: automatic follow-ups start counting again, and
	// a pending one is not needed.
	a.c.AutoFollowUps = 0
	if a.c.FollowUpAuto {
		a.c.FollowUpAt, a.c.FollowUpAuto = time.Time{}, false
		a.extra = append(a.extra, EventFollowUpCancelled)
	}
	// Invariant 6 (docs/ARCHITECTURE.md): a blocked contact's messages are kept for the record but
	// raise no unread count and get no AI reply.
	if a.c.Blocked {
		return nil
	}
	if a.optOut(cmd) {
		return nil // an opt-out or resubscribe keyword: confirmed, not for the AI
	}
	if cmd.Content.Kind == KindText && a.csatAnswer(cmd.Content.Text) {
		return nil // a survey answer: nothing to reply to, nothing to reopen
	}
	a.c.AwaitingReply = true
	a.c.UnreadCount++
	reopen := a.c.Folder == FolderSolved || a.c.Folder == FolderArchived
	if reopen {
		a.c.Folder = FolderOpen
	}
	// Pending waited for this message: the conversation is open again, in
	// the same opening (its first response time is not restarted), and the
	// AI's usual rules apply below (docs/ARCHITECTURE.md, invariant 6).
	if a.c.Folder == FolderPending {
		a.c.Folder = FolderOpen
	}
	if reopen || (a.c.OpenedAt.IsZero() && a.c.Folder == FolderOpen) {
		a.c.OpenedAt, a.c.FirstReplyAt = a.now, time.Time{}
	}
	if a.c.Mode == ModeAI && a.c.Folder != FolderSpam && cmd.Content.Kind == KindText {
		if k, ok := MatchKeyword(cmd.Content.Text, a.s.Agent.Keywords()); ok {
			a.handoff(HandoffCustomer, "the customer asked for a person (\""+k+"\")")
			return nil
		}
	}
	a.maybeAskAI()
	return nil
}

// maybeAskAI asks for an AI reply when the AI may talk.
func (a *applier) maybeAskAI() { a.askAI = a.c.AIMayAnswer() }

// AIMayAnswer reports whether the AI may answer conversation c now: AI
// mode, the customer waiting, not spam, not blocked (the channel's
// messaging window aside).
func (c *Conversation) AIMayAnswer() bool {
	return c.Mode == ModeAI && c.AwaitingReply && c.Folder != FolderSpam && !c.Blocked
}

func (a *applier) aiReply(cmd AIReply) error {
	req := cmd.Request
	if a.c.Mode != ModeAI || req.ModeEpoch != a.c.ModeEpoch || req.LastCustomerSeq != a.c.LastCustomerSeq ||
		(req.Purpose == PurposeReply && !a.c.AwaitingReply) || (req.Purpose == PurposeFollowUp && a.c.AwaitingReply) ||
		a.c.Folder == FolderSpam || a.c.Blocked {
		a.discard = true // invariant 5 (docs/ARCHITECTURE.md): never over a human, never to a stale question
		return nil
	}
	hasContent := cmd.Content.Kind != "" || cmd.Content.Text != "" || cmd.Content.Media != nil
	if hasContent && !a.c.InWindow(a.now) {
		a.discard = true
		return nil
	}
	// The agent's own words are kept, cut to size: they are outside input.
	cmd.Reasoning = truncateBytes(strings.ToValidUTF8(cmd.Reasoning, "�"), MaxTextBytes)
	cmd.Handoff = strings.ToValidUTF8(cmd.Handoff, "�")
	cmd.FollowUpReason = strings.ToValidUTF8(cmd.FollowUpReason, "�")
	if hasContent {
		if err := validContent(cmd.Content); err != nil {
			return err
		}
		a.sendOut(Sender{Kind: SenderAI}, cmd.Content, cmd.Reasoning)
		if src := cmd.Sources; len(src) > 0 {
			src = slices.Clone(src[:min(len(src), MaxKnowledgeSources)])
			for i := range src {
				src[i].Title = truncateBytes(strings.ToValidUTF8(src[i].Title, "�"), MaxKnowledgeTitleBytes)
			}
			a.msgs[len(a.msgs)-1].Sources = src
			a.send[len(a.send)-1].Sources = src
		}
		if req.Purpose == PurposeFollowUp {
			a.system("Follow-up sent")
			a.extra = append(a.extra, EventFollowUpSent)
			a.followUpSent = true
		}
	}
	switch {
	case cmd.Handoff != "" || (!hasContent && req.Purpose == PurposeReply):
		reason := cmd.Handoff
		if reason == "" {
			reason = "the agent had no answer"
		}
		a.handoff(HandoffAgent, reason)
	case cmd.FollowUpAt.After(a.now):
		a.c.FollowUpAt, a.c.FollowUpAuto = cmd.FollowUpAt, false
		text := "Follow-up scheduled by the AI for " + cmd.FollowUpAt.UTC().Format(time.RFC3339)
		if r := strings.TrimSpace(cmd.FollowUpReason); r != "" {
			text += ": " + truncateRunes(r, 500)
		}
		a.system(text)
		a.extra = append(a.extra, EventFollowUpScheduled)
	case hasContent:
		a.scheduleAutoFollowUp()
	}
	return nil
}

func (a *applier) updateStatus(cmd UpdateStatus) error {
	if !cmd.Status.Valid() {
		return fmt.Errorf("%w: unknown status %q", ErrInvalid, cmd.Status)
	}
	m, ok := a.outbound(cmd.Seq)
	if !ok {
		return ErrNoSuchMessage
	}
	changed := false
	if cmd.ChannelMessageID != "" && m.ChannelMessageID == "" {
		m.ChannelMessageID = cmd.ChannelMessageID
		changed = true
	}
	if next, ok := NextStatus(m.Status, cmd.Status); ok {
		m.Status, m.StatusAt = next, cmd.At
		if next != StatusFailed && next != StatusSending && m.SentAt.IsZero() {
			m.SentAt = cmd.At
		}
		if next == StatusFailed {
			m.ErrorCode, m.ErrorReason = cmd.ErrorCode, cmd.ErrorReason
		}
		changed = true
	}
	if changed {
		a.changed(m)
	}
	return nil
}

// outbound returns the stored outbound message seq, taking a version
// changed earlier in this same command into account.
func (a *applier) outbound(seq uint64) (Message, bool) {
	m, ok := a.message(seq)
	return m, ok && m.Direction == DirOut
}

// message returns the stored message seq, taking a version changed
// earlier in this same command into account.
func (a *applier) message(seq uint64) (Message, bool) {
	for i := len(a.msgs) - 1; i >= 0; i-- {
		if a.msgs[i].Seq == seq {
			return a.msgs[i], true
		}
	}
	if a.lookup == nil || seq == 0 || seq > a.c.LastSeq {
		return Message{}, false
	}
	return a.lookup(seq)
}

func (a *applier) changed(m Message) {
	a.msgs = append(a.msgs, m)
	if m.Seq == a.c.LastOutboundSeq {
		a.c.LastOutboundStatus = m.Status
	}
	mm := m
	a.events = append(a.events, Event{Type: EventMessageUpdated, Message: &mm})
}

func (a *applier) append(dir Direction, from Sender, content Content) *Message {
	a.c.LastSeq++
	a.msgs = append(a.msgs, Message{
		ID: a.ids(a.now), WorkspaceID: a.c.WorkspaceID, ConversationID: a.c.ID, Seq: a.c.LastSeq,
		Direction: dir, Sender: from, Content: content, CreatedAt: a.now,
	})
	return &a.msgs[len(a.msgs)-1]
}

// outboundWritten updates the header for a new outbound message.
// sendOut writes an outbound message (status sending, with the sender's
// reasoning if any) and hands it to the courier.
func (a *applier) sendOut(from Sender, c Content, reasoning string) {
	m := a.append(DirOut, from, c)
	m.Reasoning = reasoning
	m.Status, m.StatusAt = StatusSending, a.now
	a.outboundWritten(m)
	a.send = append(a.send, *m)
}

func (a *applier) outboundWritten(m *Message) {
	a.c.LastActivityAt = a.now
	a.c.Preview = m.Content.Preview()
	a.c.AwaitingReply = false
	if !a.c.OpenedAt.IsZero() && a.c.FirstReplyAt.IsZero() {
		a.c.FirstReplyAt = a.now
	}
	a.c.LastOutboundSeq = m.Seq
	a.c.LastOutboundStatus = m.Status
}

func (a *applier) system(text string) {
	a.append(DirInternal, Sender{Kind: SenderSystem, UserID: a.by}, Content{Kind: KindSystem, Text: text})
}

// commandUser is the user a person's command names ("" for the others):
// the actor of the system messages it causes ("Taken over", "Moved to
// solved"), so the log says who did it.
func commandUser(cmd Command) string {
	switch c := cmd.(type) {
	case TakeOver:
		return c.UserID
	case PauseAI:
		return c.UserID
	case ResumeAI:
		return c.UserID
	case MoveFolder:
		return c.UserID
	case SendHuman:
		return c.UserID
	case ScheduleFollowUp:
		return c.UserID
	case CancelFollowUp:
		return c.UserID
	case Assign:
		if c.By != ZeroID {
			return c.By.String()
		}
	}
	return ""
}

func (a *applier) setMode(m Mode) {
	if a.c.Mode != m {
		a.c.Mode = m
		a.c.ModeEpoch++
	}
}

// humanActivity applies invariant 4 (docs/ARCHITECTURE.md): manual mode, and unless the AI is
// paused with no timer, the AI resumes a fixed delay after this activity.
// A handoff counts as a pause only while it waits for a person, and only
// when the rules keep handoffs manual (aiPaused).
func (a *applier) humanActivity() {
	a.setMode(ModeManual)
	paused := a.aiPaused()
	a.c.NeedsHuman = false
	if !paused {
		a.c.AIPaused = false
		a.c.AIResumesAt = a.now.Add(a.s.ResumeAfter())
	}
}

// handBackOnSolve gives a solved manual conversation back to the AI, so
// that the customer's next message reopens it and the AI answers. It
// asks the AI nothing now: the conversation is done. A conversation a
// person paused (or a handoff kept manual by the rules) stays manual.
func (a *applier) handBackOnSolve() {
	if a.c.Mode != ModeManual || a.aiPaused() {
		return
	}
	a.setMode(ModeAI)
	a.c.AIPaused = false
	a.c.AIResumesAt = time.Time{}
	a.c.NeedsHuman = false
	a.system("Handed back to the AI")
}

func (a *applier) resumeAI(text string) {
	a.setMode(ModeAI)
	a.c.AIPaused = false
	a.c.AIResumesAt = time.Time{}
	a.system(text)
	a.maybeAskAI()
}

func (a *applier) result() Result {
	c := a.c
	r := Result{Conversation: c, Messages: a.msgs, Send: a.send, Discarded: a.discard, Handoff: a.handoffKind,
		Reactivated: a.reactivated, FollowUpSent: a.followUpSent, SurveySent: a.surveySent, Feedback: a.feedback,
		OptOut: a.optOutAction}
	if a.askAI {
		r.AskAI = &AIRequest{WorkspaceID: c.WorkspaceID, ConversationID: c.ID,
			LastCustomerSeq: c.LastCustomerSeq, ModeEpoch: c.ModeEpoch, Purpose: a.purpose}
	}
	// Message events first, in seq order, then the header.
	var evs []Event
	for i := range a.msgs {
		m := a.msgs[i]
		if m.Seq > a.old.LastSeq && !containsUpdate(a.events, m.Seq) {
			evs = append(evs, Event{Type: EventMessageCreated, Message: &m})
		}
	}
	evs = append(evs, a.events...)
	for _, t := range a.extra {
		evs = append(evs, Event{Type: t})
	}
	if c.Deleted {
		evs = append(evs, Event{Type: EventConversationDeleted})
	} else if !headerEqual(a.old, c) {
		before := a.old
		evs = append(evs, Event{Type: EventConversationUpdated, Assigned: a.assigned, Before: &before})
	}
	for i := range evs {
		evs[i].WorkspaceID, evs[i].ConversationID, evs[i].At = c.WorkspaceID, c.ID, a.now
		if evs[i].Type != EventConversationDeleted {
			evs[i].Conversation = &r.Conversation
		}
	}
	r.Events = evs
	return r
}

// truncateBytes cuts s to at most n bytes on a rune boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func containsUpdate(evs []Event, seq uint64) bool {
	for _, e := range evs {
		if e.Type == EventMessageUpdated && e.Message.Seq == seq {
			return true
		}
	}
	return false
}

// headerEqual reports whether two headers are the same. It is on the hot
// path of every command, so it compares fields rather than reflecting;
// TestHeaderEqualSeesEveryField keeps it complete.
func headerEqual(a, b Conversation) bool {
	return a.ID == b.ID && a.WorkspaceID == b.WorkspaceID && a.Channel == b.Channel &&
		a.ChannelAccountID == b.ChannelAccountID && a.ContactID == b.ContactID &&
		a.ContactName == b.ContactName && a.ExternalUserID == b.ExternalUserID &&
		a.Folder == b.Folder && a.Mode == b.Mode && a.AIResumesAt.Equal(b.AIResumesAt) &&
		a.ModeEpoch == b.ModeEpoch && a.AIPaused == b.AIPaused && a.NeedsHuman == b.NeedsHuman &&
		slices.Equal(a.Tags, b.Tags) && a.AssigneeID == b.AssigneeID && a.TeamID == b.TeamID && a.UnreadCount == b.UnreadCount &&
		a.LastActivityAt.Equal(b.LastActivityAt) && a.Preview == b.Preview && a.LastSeq == b.LastSeq &&
		a.LastCustomerSeq == b.LastCustomerSeq && a.LastInboundAt.Equal(b.LastInboundAt) &&
		a.AwaitingReply == b.AwaitingReply && a.LastOutboundStatus == b.LastOutboundStatus &&
		a.LastOutboundSeq == b.LastOutboundSeq && a.FollowUpAt.Equal(b.FollowUpAt) && a.CSAT == b.CSAT &&
		a.FollowUpAuto == b.FollowUpAuto && a.AutoFollowUps == b.AutoFollowUps && a.CSATPending == b.CSATPending &&
		a.Blocked == b.Blocked && a.Unsubscribed == b.Unsubscribed && a.Thread == b.Thread && a.CreatedAt.Equal(b.CreatedAt) &&
		a.Deleted == b.Deleted && a.OpenedAt.Equal(b.OpenedAt) && a.FirstReplyAt.Equal(b.FirstReplyAt) &&
		a.AIPendingAt.Equal(b.AIPendingAt) && campaignEqual(a.Campaign, b.Campaign) && a.AssistantID == b.AssistantID &&
		a.EmailTo == b.EmailTo && a.EmailAccountID == b.EmailAccountID
}

func campaignEqual(a, b *Campaign) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.At, y.At = time.Time{}, time.Time{}
	return x == y && a.At.Equal(b.At)
}

func validContent(c Content) error {
	if !c.Kind.Valid() || c.Kind == KindSystem {
		return fmt.Errorf("%w: unknown message kind %q", ErrInvalid, c.Kind)
	}
	if len(c.Text) > MaxTextBytes {
		return fmt.Errorf("%w: text longer than %d bytes", ErrInvalid, MaxTextBytes)
	}
	texts := []string{c.Text, c.UnsupportedType, c.ReplyTo}
	if c.Media != nil {
		texts = append(texts, c.Media.Caption, c.Media.Filename, c.Media.MimeType, c.Media.Ref, c.Media.URL)
	}
	if c.Interactive != nil {
		texts = append(texts, c.Interactive.Title, c.Interactive.ID, c.Interactive.Payload, c.Interactive.Type)
	}
	if c.Reaction != nil {
		texts = append(texts, c.Reaction.Emoji, c.Reaction.TargetChannelMessageID)
	}
	for i, s := range texts {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
		}
		if i > 0 && len(s) > MaxFieldBytes {
			return fmt.Errorf("%w: field longer than %d bytes", ErrInvalid, MaxFieldBytes)
		}
	}
	switch {
	case c.Kind == KindText && strings.TrimSpace(c.Text) == "":
		return fmt.Errorf("%w: empty text message", ErrInvalid)
	case c.Kind.HasMedia() && c.Media == nil:
		return fmt.Errorf("%w: %s message without media", ErrInvalid, c.Kind)
	case c.Kind == KindTemplate && (c.Template == nil || c.Template.Name == "" || c.Template.Language == ""),
		c.Kind != KindTemplate && c.Template != nil:
		return fmt.Errorf("%w: a template message needs its template, and only it carries one", ErrInvalid)
	case c.Kind == KindLocation && c.Location == nil,
		c.Kind == KindReaction && c.Reaction == nil,
		c.Kind == KindInteractive && c.Interactive == nil:
		return fmt.Errorf("%w: %s message without its payload", ErrInvalid, c.Kind)
	}
	return nil
}

// humanDuration writes d as "15 minutes", "1 hour", "90 seconds".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}
