package actors

import (
	"errors"

	"github.com/parleyhq/parley/actors/ports"
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
	// ErrInvalidAnswer is ports.ErrInvalidAnswer.
	ErrInvalidAnswer = ports.ErrInvalidAnswer
)

// The ports the runtime uses, defined in package ports so that channel
// and agent implementations need not import the runtime.
type (
	// Outbound is ports.Outbound.
	Outbound = ports.Outbound
	// SendError is ports.SendError.
	SendError = ports.SendError
	// Sender is ports.Sender.
	Sender = ports.Sender
	// AIContext is ports.AIContext.
	AIContext = ports.AIContext
	// KnowledgeSearcher is ports.KnowledgeSearcher.
	KnowledgeSearcher = ports.KnowledgeSearcher
	// TeamAssigner is ports.TeamAssigner.
	TeamAssigner = ports.TeamAssigner
	// AIAnswer is ports.AIAnswer.
	AIAnswer = ports.AIAnswer
	// Agent is ports.Agent.
	Agent = ports.Agent
	// AgentPolicy is ports.AgentPolicy.
	AgentPolicy = ports.AgentPolicy
	// AgentResolver is ports.AgentResolver.
	AgentResolver = ports.AgentResolver
	// AssistantPicker is ports.AssistantPicker.
	AssistantPicker = ports.AssistantPicker
)

// staticResolver answers every conversation with one agent.
type staticResolver struct{ agent Agent }

func (r staticResolver) Resolve(engine.ID, engine.Channel, string, string) (Agent, AgentPolicy) {
	return r.agent, AgentPolicy{Kind: "static"}
}
