package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
)

// Limits of the agent test console.
const (
	// maxAgentTestMessages is the most sample messages one test sends.
	maxAgentTestMessages = 50
	// maxAgentTestTimeout bounds one test call below the server's 30 s
	// write timeout, whatever timeout the settings give the agent.
	maxAgentTestTimeout = 20 * time.Second
	// agentTestSlots is how many tests may call agents at once.
	agentTestSlots = 4
)

// agentTestMessage is one line of a sample conversation.
type agentTestMessage struct {
	From string `json:"from"` // customer or agent
	Text string `json:"text"`
}

// agentTestBody is a test console request: settings to try (over the
// saved ones, so a key already set need not be sent again) and a sample
// conversation, oldest first.
type agentTestBody struct {
	Settings *agentBody         `json:"settings"`
	Messages []agentTestMessage `json:"messages"`
}

// agentTestResult is what the agent would do with the sample
// conversation. Outcome is reply, handoff or off.
type agentTestResult struct {
	Kind              engine.AgentKind `json:"kind"`
	Outcome           string           `json:"outcome"`
	Reply             string           `json:"reply"`
	Reasoning         string           `json:"reasoning"`
	Handoff           string           `json:"handoff"`
	HandoffBy         string           `json:"handoff_by"` // keyword, agent or error
	Error             string           `json:"error"`
	FollowUpInSeconds float64          `json:"follow_up_in_seconds"`
	FollowUpReason    string           `json:"follow_up_reason"`
	Remember          []engine.Fact    `json:"remember"`
	DurationMS        int64            `json:"duration_ms"`
	// Knowledge are the knowledge base passages the agent was given;
	// Sources those its reply records (engine.Message.Sources).
	Knowledge []engine.KnowledgePassage `json:"knowledge"`
	Sources   []engine.KnowledgeSource  `json:"sources"`
}

// testAgent sends a sample conversation to an agent (the saved settings,
// or those changed by the body's settings) through the same registry
// and agent interface the runtime uses, and shows the answer. Nothing is
// stored. The call is bounded in time, and at most agentTestSlots run at
// once (429 busy beyond).
func (s *Server) testAgent(c *fiber.Ctx) error {
	return s.runAgentTest(c, "", "")
}

// testChannelAgent is testAgent for a channel account: the settings
// tried are its own (its override, or the workspace's it inherits),
// changed by the body's.
func (s *Server) testChannelAgent(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	return s.runAgentTest(c, acct.Channel, acct.AccountID)
}

// runAgentTest answers a test console request over the settings in force
// for the account (ch, id), or the workspace's when ch is empty.
func (s *Server) runAgentTest(c *fiber.Ctx, ch engine.Channel, id string) error {
	return s.runAgentTestOf(c, func() (engine.AgentSettings, error) {
		set, _ := s.agents.Settings(who(c).WorkspaceID, ch, id)
		return set, nil
	})
}

// testAssistant is testAgent for an assistant: the settings tried are
// the assistant's, changed by the body's.
func (s *Server) testAssistant(c *fiber.Ctx) error {
	return s.runAgentTestOf(c, func() (engine.AgentSettings, error) {
		a, err := s.assistantParam(c)
		return a.Settings, err
	})
}

// runAgentTestOf answers a test console request over the settings
// settingsOf returns, read once the body is (a bad body is a 400 before
// an unknown id's 404).
func (s *Server) runAgentTestOf(c *fiber.Ctx, settingsOf func() (engine.AgentSettings, error)) error {
	var body agentTestBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	set, err := settingsOf()
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	if body.Settings != nil {
		if err := body.Settings.apply(&set); err != nil {
			return err
		}
	}
	set.WorkspaceID, set.Channel, set.AccountID = ws, "", ""
	if err := set.Validate(); err != nil {
		return fromEngine(err)
	}
	hist, last, err := agentTestHistory(ws, body.Messages)
	if err != nil {
		return err
	}
	var knowledge []engine.KnowledgePassage
	if q := engine.KnowledgeQueryText(hist); q != "" {
		if knowledge, err = s.knowledge.embed.SearchKnowledge(c.UserContext(), ws, engine.DefaultAssistant, q, engine.KnowledgeTopK); err != nil {
			return err
		}
	}
	out, err := s.tryAgent(set, hist, last, knowledge)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// tryAgent asks the agent of settings set what it would answer to a
// sample conversation hist (newest first, last the newest customer
// text), given the knowledge passages, as the runtime would ask it. It
// stores nothing. The call is bounded in time, and at most
// agentTestSlots run at once (429 busy beyond).
func (s *Server) tryAgent(set engine.AgentSettings, hist []engine.Message, last string, knowledge []engine.KnowledgePassage) (agentTestResult, error) {
	ws := set.WorkspaceID
	out := agentTestResult{Kind: set.Kind, Remember: []engine.Fact{}, Knowledge: knowledge, Sources: []engine.KnowledgeSource{}}
	if out.Knowledge == nil {
		out.Knowledge = []engine.KnowledgePassage{}
	}
	agent, _ := s.agents.Build(set)
	if agent == nil {
		out.Outcome, out.Reasoning = "off", "the AI is off: a person answers every conversation"
		return out, nil
	}
	// The runtime hands a conversation to a person on a handoff keyword
	// before any agent is asked (engine.MatchKeyword on the rules).
	if k, ok := engine.MatchKeyword(last, set.Rules.Keywords()); ok {
		out.Outcome, out.HandoffBy = "handoff", "keyword"
		out.Handoff = "the customer asked for a person (\"" + k + "\")"
		return out, nil
	}
	select {
	case s.agentTests <- struct{}{}:
		defer func() { <-s.agentTests }()
	default:
		return out, errorf(fiber.StatusTooManyRequests, "busy", "too many agent tests at once, retry in a moment")
	}
	timeout := set.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultAgentTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, min(timeout, maxAgentTestTimeout))
	defer cancel()
	now := time.Now().UTC()
	conv := engine.Conversation{WorkspaceID: ws, Channel: engine.ChannelWebChat, Mode: engine.ModeAI,
		Folder: engine.FolderOpen, AwaitingReply: true, LastActivityAt: now, LastInboundAt: now}
	if len(hist) > 0 {
		conv.LastCustomerSeq = hist[0].Seq
	}
	start := time.Now()
	ans, err := agent.Reply(ctx, ports.AIContext{
		Request:      engine.AIRequest{WorkspaceID: ws, Purpose: engine.PurposeReply, LastCustomerSeq: conv.LastCustomerSeq},
		Conversation: conv, History: hist, Memories: []engine.Memory{}, Knowledge: knowledge})
	out.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v: %w", min(timeout, maxAgentTestTimeout), err)
		}
		// The runtime hands off when the agent fails: so does the test.
		out.Outcome, out.HandoffBy, out.Error = "handoff", "error", err.Error()
		out.Handoff = "the AI agent failed"
		return out, nil
	}
	out.Reasoning, out.Handoff = ans.Reasoning, ans.Handoff
	out.FollowUpReason = ans.FollowUpReason
	out.FollowUpInSeconds = ans.FollowUpAfter.Seconds()
	if !ans.FollowUpAt.IsZero() {
		out.FollowUpInSeconds = max(ans.FollowUpAt.Sub(now).Seconds(), 0)
	}
	if ans.Remember != nil {
		out.Remember = ans.Remember
	}
	if ans.Sources != nil {
		out.Sources = ans.Sources
	}
	if ans.Content.Kind == engine.KindText {
		out.Reply = ans.Content.Text
	}
	switch {
	case out.Handoff != "":
		out.Outcome, out.HandoffBy = "handoff", "agent"
	case ans.Content.Kind == "":
		// An answer with nothing in it hands off too (ports.AIAnswer).
		out.Outcome, out.HandoffBy, out.Handoff = "handoff", "agent", "the agent gave no answer"
	default:
		out.Outcome = "reply"
	}
	return out, nil
}

// agentTestHistory turns sample lines (oldest first) into the history an
// agent sees (newest first) and returns the newest customer text. It
// wants at least one customer line.
func agentTestHistory(ws engine.ID, lines []agentTestMessage) ([]engine.Message, string, error) {
	if len(lines) == 0 || len(lines) > maxAgentTestMessages {
		return nil, "", errorf(fiber.StatusBadRequest, "invalid", "messages must hold 1 to %d lines", maxAgentTestMessages)
	}
	base := time.Now().UTC().Add(-time.Duration(len(lines)) * time.Second)
	hist := make([]engine.Message, len(lines))
	last := ""
	for i, l := range lines {
		if strings.TrimSpace(l.Text) == "" || len(l.Text) > engine.MaxTextBytes {
			return nil, "", errorf(fiber.StatusBadRequest, "invalid", "messages[%d].text must be 1 to %d bytes of text", i, engine.MaxTextBytes)
		}
		m := engine.Message{WorkspaceID: ws, Seq: uint64(i + 1), Content: engine.Content{Kind: engine.KindText, Text: l.Text}, //nolint:gosec // i < maxAgentTestMessages
			CreatedAt: base.Add(time.Duration(i) * time.Second)}
		switch l.From {
		case "customer":
			m.Direction, m.Sender = engine.DirIn, engine.Sender{Kind: engine.SenderCustomer}
			last = l.Text
		case "agent":
			m.Direction, m.Sender = engine.DirOut, engine.Sender{Kind: engine.SenderAI}
			m.Status = engine.StatusDelivered
		default:
			return nil, "", errorf(fiber.StatusBadRequest, "invalid", "messages[%d].from must be customer or agent", i)
		}
		hist[len(lines)-1-i] = m
	}
	if last == "" {
		return nil, "", errorf(fiber.StatusBadRequest, "invalid", "messages need at least one customer line")
	}
	return hist, last, nil
}
