package ports

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// ErrInvalidAnswer is wrapped by an Agent's error when the AI service
// answered something that cannot be read (the invalid_reply metric label).
var ErrInvalidAnswer = errors.New("ports: unreadable agent answer")

// Outbound is what the courier hands to a Sender: the message and the
// conversation it goes to.
type Outbound struct {
	Conversation engine.Conversation
	Message      engine.Message
}

// SendError is a failed send. Temporary errors (network, 5xx, rate
// limits) are retried with backoff; others fail the message with Code and
// Reason.
type SendError struct {
	Code      string
	Reason    string
	Temporary bool
}

func (e *SendError) Error() string { return fmt.Sprintf("send failed: %s: %s", e.Code, e.Reason) }

// Sender delivers outbound messages to a channel. Implementations live in
// the gateway's channel packages (the Meta send APIs).
type Sender interface {
	// Send delivers o and returns the channel's message id. A *SendError
	// tells whether to retry; any other error is treated as temporary.
	Send(ctx context.Context, o Outbound) (channelMessageID string, err error)
}

// AIContext is what an agent sees: the request, the conversation header
// and its recent messages, newest first, the contact (nil if it is gone)
// and the contact's memories, oldest first, and where the contact
// stands in the CRM: its pipeline stage and owner, by name (zero for
// none).
type AIContext struct {
	Request      engine.AIRequest
	Conversation engine.Conversation
	History      []engine.Message
	Contact      *engine.Contact
	Memories     []engine.Memory
	CRM          engine.ContactCRM
	// Corrections are the workspace's newest corrections of down-rated
	// AI replies (at most engine.MaxFeedbackExamples), newest first: each
	// is a question, the reply given and what the team says it should
	// have been, for the agent to learn from.
	Corrections []engine.Feedback
	// FieldDefs are the workspace's custom field definitions, as shown
	// (engine.SortFieldDefs); the agent may write those that allow it.
	FieldDefs []engine.FieldDef
	// Knowledge are the passages of the assistant's knowledge base that
	// best match the customer's latest messages, best first (at most
	// engine.KnowledgeTopK; see engine.KnowledgeQueryText).
	Knowledge []engine.KnowledgePassage
}

// AIAnswer is an agent's reply. Empty Content.Kind means no message.
// Handoff, when set, is the reason the agent hands the conversation to a
// person (after Content, if any); an answer with neither content nor
// handoff hands off too, since the customer would otherwise wait for
// nobody. FollowUpAt, when in the future, schedules a follow-up.
type AIAnswer struct {
	Content    engine.Content
	Reasoning  string
	Handoff    string
	FollowUpAt time.Time
	// FollowUpAfter schedules the follow-up this long after the answer is
	// recorded, when FollowUpAt is zero.
	FollowUpAfter  time.Duration
	FollowUpReason string
	// Remember are facts about the contact the agent wants kept as
	// memories; they are stored with the answer, within the limits
	// (engine.MaxMemories, engine.MaxMemoryBytes), duplicates aside.
	Remember []engine.Fact
	// Contact are profile fields (engine.StandardContactFields) and
	// custom fields by key the agent asks to write on the contact; each
	// is checked against its definition and written only when it allows
	// the AI (engine.ApplyAIContactWrite).
	Contact map[string]string
	// Sources are the knowledge passages the reply was given or answered
	// from; the reply's message keeps them (engine.Message.Sources).
	Sources []engine.KnowledgeSource
}

// Agent computes AI replies. It is called from the agent pool, never from
// a conversation actor.
type Agent interface {
	Reply(ctx context.Context, in AIContext) (AIAnswer, error)
}

// AgentPolicy is how the AI behaves in one conversation, besides what the
// agent itself answers.
type AgentPolicy struct {
	// Kind names the agent implementation (rules, openai, webhook); it is
	// the metrics label.
	Kind string
	// Debounce is how long the AI waits after a customer message for more
	// before answering them all at once; zero means the runtime's
	// Config.AIDebounce, negative means no wait.
	Debounce time.Duration
	// Rules are the engine's agent rules (handoff keywords, follow-ups,
	// CSAT).
	Rules engine.AgentRules
	// Restricted lets the AI answer only contacts in the CRM (created by
	// a person, a form, an import or the API, not by a chat); others get
	// RestrictedReply, or nothing when it is empty.
	Restricted      bool
	RestrictedReply string
	// RestrictedTo narrows Restricted: engine.RestrictToCRM (also when
	// empty) or engine.RestrictToPaid (paying subscribers only).
	RestrictedTo string
}

// AgentResolver picks the agent and its policy for a conversation: its
// channel account's and the assistant that handles it
// (engine.Conversation.Assistant). It is called on every command, so it
// must be cheap (an in-memory lookup). A nil Agent means no AI replies.
type AgentResolver interface {
	Resolve(ws engine.ID, ch engine.Channel, accountID, assistantID string) (Agent, AgentPolicy)
}

// AssistantPicker is implemented by an AgentResolver that knows which
// assistant handles the new conversations of a channel account; without
// it a new conversation is the default assistant's.
type AssistantPicker interface {
	AssistantFor(ws engine.ID, ch engine.Channel, accountID string) string
}

// KnowledgeSearcher finds the knowledge passages an agent is given for
// query text q: the k best of assistant's knowledge base, best first.
// Without one the runtime ranks by BM25 alone
// (persistence.Store.SearchKnowledge).
type KnowledgeSearcher interface {
	SearchKnowledge(ctx context.Context, ws engine.ID, assistant, q string, k int) ([]engine.KnowledgePassage, error)
}

// TeamAssigner assigns conversation conv of ws to team, whose
// distribution picks the member (engine.PickTeamMember): the owner of
// teams and presence, the gateway. The automation runner's assign_team
// action goes through it.
type TeamAssigner interface {
	AssignToTeam(ctx context.Context, ws, conv, team engine.ID) error
}
