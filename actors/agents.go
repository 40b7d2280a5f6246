package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// historyForAgent is how many recent messages an agent sees.
const historyForAgent = 30

// agentPool runs AI calls on a bounded number of workers, outside the
// conversation actors. A reply goes back to its conversation as a message;
// the conversation checks it is still wanted (docs/ARCHITECTURE.md, invariant 5).
type agentPool struct {
	rt   *Runtime
	jobs chan engine.AIRequest
}

func newAgentPool(rt *Runtime) *agentPool {
	return &agentPool{rt: rt, jobs: make(chan engine.AIRequest, rt.cfg.AgentQueue)}
}

func (p *agentPool) start() {
	if p.rt.cfg.Agents == nil {
		return
	}
	for range p.rt.cfg.AgentWorkers {
		p.rt.goroutine("agent", p.work)
	}
}

// submit queues a request without blocking; when the queue is full the
// request is dropped and counted (the conversation stays waiting, and the
// next customer message or reactivation asks again).
func (p *agentPool) submit(req engine.AIRequest) {
	if p.rt.cfg.Agents == nil {
		return
	}
	select {
	case p.jobs <- req:
		p.rt.metrics.aiRequests.Inc()
	default:
		p.rt.metrics.aiDropped.Inc()
		p.rt.log.Warn("Agent queue full; AI request dropped", "conversation", req.ConversationID)
	}
}

func (p *agentPool) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-p.jobs:
			p.run(ctx, req)
		}
	}
}

func (p *agentPool) run(ctx context.Context, req engine.AIRequest) {
	rt := p.rt
	conv, err := rt.store.Conversation(req.WorkspaceID, req.ConversationID)
	if err != nil {
		rt.log.Warn("Agent: reading conversation", "conversation", req.ConversationID, "err", err)
		return
	}
	if conv.ModeEpoch != req.ModeEpoch || conv.LastCustomerSeq != req.LastCustomerSeq || conv.Mode != engine.ModeAI {
		return // already stale: do not spend an AI call on it
	}
	agent, pol := rt.cfg.Agents.Resolve(conv.WorkspaceID, conv.Channel, conv.ChannelAccountID, conv.Assistant())
	if agent == nil {
		p.settle(req)
		return
	}
	var contact *engine.Contact
	if c, err := rt.store.Contact(conv.WorkspaceID, conv.ContactID); err == nil {
		contact = &c
	} else if !errors.Is(err, persistence.ErrNotFound) {
		rt.log.Warn("Agent: reading contact", "conversation", req.ConversationID, "err", err)
		return
	}
	if pol.Restricted && !engine.RestrictionAdmits(pol.RestrictedTo, contact) {
		rt.aiMetrics.restricted.Inc()
		if pol.RestrictedReply == "" || req.Purpose != engine.PurposeReply {
			p.settle(req)
			return
		}
		why := "restricted agent: the contact is not in the CRM"
		if pol.RestrictedTo == engine.RestrictToPaid {
			why = "restricted agent: the contact is not a paying subscriber"
		}
		p.answer(req, AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: engine.RestrictedReplyFor(pol.RestrictedReply, contact)},
			Reasoning: why})
		return
	}
	if q := rt.aiQuota.Load(); q != nil && req.Purpose == engine.PurposeReply {
		if ok, why := (*q).TakeAIReply(conv.WorkspaceID); !ok {
			// Over the plan's monthly AI replies: no AI call; people
			// take the conversation, with why as its note.
			rt.aiMetrics.quotaRefusals.Inc()
			p.answer(req, AIAnswer{Handoff: why})
			return
		}
	}
	hist, err := rt.store.Messages(req.WorkspaceID, req.ConversationID, 0, historyForAgent)
	if err != nil {
		rt.log.Warn("Agent: reading history", "conversation", req.ConversationID, "err", err)
		return
	}
	var memories []engine.Memory
	if contact != nil {
		if memories, err = rt.store.Memories(conv.WorkspaceID, contact.ID, engine.MaxMemories); err != nil {
			rt.log.Warn("Agent: reading memories", "conversation", req.ConversationID, "err", err)
			return
		}
	}
	corrections, err := rt.store.Corrections(conv.WorkspaceID, engine.MaxFeedbackExamples)
	if err != nil {
		rt.log.Warn("Agent: reading corrections", "conversation", req.ConversationID, "err", err)
		return
	}
	var crm engine.ContactCRM
	if contact != nil && (contact.Stage != nil || contact.OwnerID != nil) {
		if crm, err = rt.contactCRM(contact); err != nil {
			rt.log.Warn("Agent: reading the contact's stage and owner", "conversation", req.ConversationID, "err", err)
			return
		}
	}
	defs, err := rt.store.FieldDefs(conv.WorkspaceID)
	if err != nil {
		rt.log.Warn("Agent: reading field definitions", "conversation", req.ConversationID, "err", err)
		return
	}
	engine.SortFieldDefs(defs)
	var knowledge []engine.KnowledgePassage
	if q := engine.KnowledgeQueryText(hist); q != "" {
		if knowledge, err = rt.searchKnowledge(ctx, conv.WorkspaceID, engine.AssistantOf(&conv), q, engine.KnowledgeTopK); err != nil {
			// The agent answers without the knowledge base rather than
			// leave the customer waiting.
			rt.log.Warn("Agent: searching the knowledge base", "conversation", req.ConversationID, "err", err)
			knowledge = nil
		}
	}
	kind := pol.Kind
	actx, cancel := context.WithTimeout(ctx, rt.cfg.AgentTimeout)
	start := time.Now()
	ans, err := agent.Reply(actx, AIContext{Request: req, Conversation: conv, History: hist, Contact: contact,
		Memories: memories, CRM: crm, Corrections: corrections, FieldDefs: defs, Knowledge: knowledge})
	cancel()
	rt.aiMetrics.requestSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the conversation stays waiting
		}
		reason, label := "error", "error"
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			reason, label = "timeout", "timeout"
		case errors.Is(err, ErrInvalidAnswer):
			label = "invalid_reply"
		}
		rt.aiMetrics.errors.WithLabelValues(kind, label).Inc()
		rt.log.Warn("Agent call failed; handing off", "conversation", req.ConversationID, "kind", kind, "err", err)
		if req.Purpose != engine.PurposeReply {
			return // a failed follow-up is simply not sent
		}
		// The customer must not wait for nobody: a person takes it.
		ans = AIAnswer{Handoff: fmt.Sprintf("the AI agent failed (%s)", reason)}
	}
	if req.Purpose != engine.PurposeReply && ans.Content.Kind == "" && ans.Handoff == "" && len(ans.Remember) == 0 && len(ans.Contact) == 0 {
		return // no follow-up to send
	}
	p.answer(req, ans)
}

// settle tells the conversation that req gets no answer, so that its
// backstop does not ask again.
func (p *agentPool) settle(req engine.AIRequest) {
	if req.Purpose == engine.PurposeReply {
		p.rt.dir.send(req.WorkspaceID, req.ConversationID, &aiReplyMsg{req: req, settled: true})
	}
}

func (p *agentPool) answer(req engine.AIRequest, ans AIAnswer) {
	p.rt.dir.send(req.WorkspaceID, req.ConversationID, &aiReplyMsg{req: req, ans: ans})
}

// askAI asks for an AI reply to the conversation of transaction t once
// its debounce window has passed (or at once, with no window).
func (rt *Runtime) askAI(req engine.AIRequest, t *txn) {
	hasAgent, pol := t.policy()
	if !hasAgent {
		return // AI answers are off here: nothing to hold or ask
	}
	window := rt.debounceWindow(pol)
	if window < 0 || req.Purpose != engine.PurposeReply {
		rt.agents.submit(req)
		return
	}
	rt.debounce.request(req, window)
}

// settings returns the engine settings for the transaction's
// conversation: the workspace rules with the agent rules of its channel
// account.
func (t *txn) settings() engine.Settings {
	s := t.a.rt.cfg.Settings
	s.Agent.NoAgent = true
	if t.a.rt.cfg.Agents != nil && t.cur.ID != engine.ZeroID {
		hasAgent, pol := t.policy()
		s.Agent = pol.Rules
		s.Agent.NoAgent = !hasAgent
	}
	s.OptOut = t.a.rt.optOutFor(t.a.ws)
	return s
}
