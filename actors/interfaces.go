package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Errors returned by the Runtime.
var (
	// ErrOverloaded is returned when the bounded in-flight ingest is full;
	// the caller should retry later (the gateway answers 503 with
	// Retry-After).
	ErrOverloaded = errors.New("actors: overloaded")
	// ErrShuttingDown is returned once Shutdown has begun.
	ErrShuttingDown = errors.New("actors: shutting down")
	// ErrNotFound is returned for a conversation that does not exist in
	// the workspace.
	ErrNotFound = errors.New("actors: conversation not found")
	// ErrActorFailed is returned to the caller whose message made a
	// conversation actor panic; the actor restarts from disk.
	ErrActorFailed = errors.New("actors: conversation actor failed")
)

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
// the gateway (the Meta send APIs).
type Sender interface {
	// Send delivers o and returns the channel's message id. A *SendError
	// tells whether to retry; any other error is treated as temporary.
	Send(ctx context.Context, o Outbound) (channelMessageID string, err error)
}

// AIContext is what an agent sees: the request, the conversation header
// and its recent messages, newest first.
type AIContext struct {
	Request      engine.AIRequest
	Conversation engine.Conversation
	History      []engine.Message
}

// AIAnswer is an agent's reply. Empty Content.Kind means no reply.
type AIAnswer struct {
	Content   engine.Content
	Reasoning string
}

// Agent computes AI replies. It is called from the agent pool, never from
// a conversation actor.
type Agent interface {
	Reply(ctx context.Context, in AIContext) (AIAnswer, error)
}
