package agents

import (
	"context"
	"fmt"
	"strings"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
)

// Defaults of the built-in rules agent.
const (
	DefaultGreeting     = "Hi! Thanks for your message. How can I help you today?"
	DefaultFallback     = "no automatic answer for this message"
	DefaultFollowUpText = "Just checking in: is there anything else I can help you with?"
)

// Rules is the built-in agent that needs no AI service: keyword
// answers, the answer of a knowledge base FAQ (or correction) that
// matches the question well enough (engine.FAQAnswer), a greeting for a
// new conversation, and otherwise a handoff to a person.
type Rules struct {
	Greeting     string
	Answers      []engine.KeywordAnswer
	Fallback     string
	FollowUpText string
}

// NewRules builds the rules agent of settings s, defaults applied.
func NewRules(s engine.AgentSettings) *Rules {
	a := &Rules{Greeting: s.Greeting, Answers: s.Answers, Fallback: s.Fallback, FollowUpText: s.FollowUpText}
	if strings.TrimSpace(a.Greeting) == "" {
		a.Greeting = DefaultGreeting
	}
	if strings.TrimSpace(a.Fallback) == "" {
		a.Fallback = DefaultFallback
	}
	if strings.TrimSpace(a.FollowUpText) == "" {
		a.FollowUpText = DefaultFollowUpText
	}
	return a
}

// Reply answers the newest customer message.
func (a *Rules) Reply(_ context.Context, in ports.AIContext) (ports.AIAnswer, error) {
	if in.Request.Purpose == engine.PurposeFollowUp {
		return textAnswer(a.FollowUpText, "rules agent: follow-up"), nil
	}
	var last string
	answered := false              // has the business written in this conversation yet?
	for _, m := range in.History { // newest first
		if m.Direction == engine.DirOut {
			answered = true
		}
		if last == "" && m.Sender.Kind == engine.SenderCustomer {
			last = m.Text
		}
	}
	for _, r := range a.Answers {
		if k, ok := engine.MatchKeyword(last, r.Keywords); ok {
			return textAnswer(r.Answer, "rules agent: keyword \""+k+"\""), nil
		}
	}
	if p, ok := engine.FAQAnswer(in.Knowledge); ok {
		ans := textAnswer(p.Answer, fmt.Sprintf("rules agent: knowledge base %s %q (match %.0f%%)", p.Kind, p.Title, 100*p.Match))
		ans.Sources = engine.SourcesOf([]engine.KnowledgePassage{p})
		return ans, nil
	}
	if !answered {
		return textAnswer(a.Greeting, "rules agent: greeting for a new conversation"), nil
	}
	return ports.AIAnswer{Handoff: a.Fallback, Reasoning: "rules agent: no keyword matched"}, nil
}

func textAnswer(text, reasoning string) ports.AIAnswer {
	return ports.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: text}, Reasoning: reasoning}
}
