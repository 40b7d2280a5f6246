package actors

import (
	"context"

	"github.com/parleyhq/parley/engine"
)

// historyForAgent is how many recent messages an agent sees.
const historyForAgent = 30

// agentPool runs AI calls on a bounded number of workers, outside the
// conversation actors. A reply goes back to its conversation as a message;
// the conversation checks it is still wanted (invariant 5).
type agentPool struct {
	rt   *Runtime
	jobs chan engine.AIRequest
}

func newAgentPool(rt *Runtime) *agentPool {
	return &agentPool{rt: rt, jobs: make(chan engine.AIRequest, rt.cfg.AgentQueue)}
}

func (p *agentPool) start() {
	if p.rt.cfg.Agent == nil {
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
	if p.rt.cfg.Agent == nil {
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
	if conv.ModeEpoch != req.ModeEpoch || conv.LastCustomerSeq != req.LastCustomerSeq {
		return // already stale: do not spend an AI call on it
	}
	hist, err := rt.store.Messages(req.WorkspaceID, req.ConversationID, 0, historyForAgent)
	if err != nil {
		rt.log.Warn("Agent: reading history", "conversation", req.ConversationID, "err", err)
		return
	}
	actx, cancel := context.WithTimeout(ctx, rt.cfg.AgentTimeout)
	ans, err := rt.cfg.Agent.Reply(actx, AIContext{Request: req, Conversation: conv, History: hist})
	cancel()
	if err != nil {
		rt.log.Warn("Agent call failed", "conversation", req.ConversationID, "err", err)
		return
	}
	if ans.Content.Kind == "" {
		return
	}
	rt.dir.send(req.WorkspaceID, req.ConversationID, &aiReplyMsg{req: req, ans: ans})
}
