package actors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// policyResolver answers every conversation with one agent and policy.
type policyResolver struct {
	agent  actors.Agent
	policy actors.AgentPolicy
}

func (r policyResolver) Resolve(engine.ID, engine.Channel, string, string) (actors.Agent, actors.AgentPolicy) {
	return r.agent, r.policy
}

// funcAgent answers with f.
type funcAgent func(ctx context.Context, in actors.AIContext) (actors.AIAnswer, error)

func (f funcAgent) Reply(ctx context.Context, in actors.AIContext) (actors.AIAnswer, error) {
	return f(ctx, in)
}

func aiTexts(ms []engine.Message) []string {
	var out []string
	for i := len(ms) - 1; i >= 0; i-- { // oldest first
		if ms[i].Sender.Kind == engine.SenderAI {
			out = append(out, ms[i].Text)
		}
	}
	return out
}

func systemTextsOf(ms []engine.Message) []string {
	var out []string
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Sender.Kind == engine.SenderSystem {
			out = append(out, ms[i].Text)
		}
	}
	return out
}

// A burst of customer messages gets one answer, asked once the window
// has passed since the last one, for the newest message.
func TestDebounceAnswersABurstOnce(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{} }) // default 2 s
	conv := h.say("u1", "in-1", "hi")
	h.advance(time.Second)
	h.say("u1", "in-2", "I have a question")
	h.advance(time.Second)
	h.say("u1", "in-3", "about my order")
	h.advance(1999 * time.Millisecond)
	require.Equal(t, 1, actors.HeldAIRequests(h.rt), "still inside the window of the last message")
	require.Zero(t, agent.calls.Load())
	h.advance(time.Millisecond)
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 || got[0] != "AI: about my order" {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.Equal(t, int64(1), agent.calls.Load())
	require.Zero(t, actors.HeldAIRequests(h.rt))
}

// A customer who keeps typing still gets an answer: at most four windows
// after their first message.
func TestDebounceIsCapped(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{} })
	conv := h.say("u1", "in-0", "typing")
	for i := 1; i <= 5; i++ { // every 1.5 s: each message restarts the window
		h.advance(1500 * time.Millisecond)
		if i < 5 {
			h.say("u1", fmt.Sprintf("in-%d", i), "more")
		}
	}
	// 7.5 s after the first message; the cap is 8 s.
	require.Zero(t, agent.calls.Load())
	h.advance(500 * time.Millisecond)
	eventually(t, 5*time.Second, func() error {
		if agent.calls.Load() != 1 {
			return errors.New("no answer at the cap")
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if len(aiTexts(h.messages(conv))) != 1 {
			return errors.New("reply not stored")
		}
		return nil
	})
}

// Invariant 5 (docs/ARCHITECTURE.md) with the debounce: a customer message arriving while the
// AI computes makes that answer stale; it is discarded and the newer
// message gets its own answer after its window.
func TestDebouncedReplyCrossedByCustomer(t *testing.T) {
	t.Parallel()
	agent := newGatedAgent()
	sender := &recordingSender{}
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = sender })
	conv := h.say("u1", "in-1", "first")
	h.advance(2 * time.Second)
	first := <-agent.started
	h.say("u1", "in-2", "second")
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "answer to first"}}
	h.exec(conv, engine.MarkRead{}) // barrier: the stale reply was handled
	require.Empty(t, aiTexts(h.messages(conv)))
	h.advance(2 * time.Second)
	second := <-agent.started
	require.Equal(t, first.Request.LastCustomerSeq+1, second.Request.LastCustomerSeq)
	agent.release <- actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "answer to second"}}
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 || got[0] != "answer to second" {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
}

// A handoff computed while a person took over is discarded like a reply.
func TestHandoffOverAHumanIsDiscarded(t *testing.T) {
	t.Parallel()
	agent := newGatedAgent()
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) {
		c.Agent = agent
		c.Sender = &recordingSender{}
		c.AIDebounce = -1
		c.Registerer = reg
	})
	conv := h.say("u1", "in-1", "hello")
	<-agent.started
	h.exec(conv, engine.TakeOver{UserID: "agent-1"})
	agent.release <- actors.AIAnswer{Handoff: "needs a person"}
	// The answer reaches the actor after the agent's pool hands it back:
	// wait until the actor has discarded it, then look at the header.
	eventually(t, 5*time.Second, func() error {
		if n := testutil.ToFloat64(metric(t, reg, "parley_actors_ai_replies_discarded_total")); n != 1 {
			return fmt.Errorf("%v replies discarded", n)
		}
		return nil
	})
	h.exec(conv, engine.MarkRead{})
	c := h.conv(conv)
	require.False(t, c.NeedsHuman)
	require.False(t, c.AIPaused, "the person's timer stands")
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_actors_ai_replies_discarded_total")))
}

// metric is a view of one metric of reg for testutil.ToFloat64: the sum
// of the series whose labels include the name=value pairs given.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	return collectorFunc{t: t, reg: reg, name: name, labels: labels}
}

// collectorFunc reports one metric of a registry (the sum over series
// whose labels include the given name=value pairs).
type collectorFunc struct {
	t      *testing.T
	reg    *prometheus.Registry
	name   string
	labels []string
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc(c.name, "test view", nil, nil)
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) {
	mfs, err := c.reg.Gather()
	require.NoError(c.t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != c.name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(c.labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == c.labels[i] && lp.GetValue() == c.labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(c.name, "test view", nil, nil), prometheus.UntypedValue, sum)
}

// The agent hands off: manual with no timer, needs a human, a system
// message with the reason, an event for the team, a metric.
func TestAgentHandoff(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	agent := funcAgent(func(context.Context, actors.AIContext) (actors.AIAnswer, error) {
		return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "A colleague will help you."},
			Handoff: "refund request", Reasoning: "refunds need approval"}, nil
	})
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{agent, actors.AgentPolicy{Kind: "test", Debounce: -1}}
		c.Sender = &recordingSender{}
		c.Registerer = reg
	})
	sub, _, err := h.rt.Subscribe(h.ws, actors.Filter{}, nil)
	require.NoError(t, err)
	defer sub.Close()
	conv := h.say("u1", "in-1", "I want a refund")
	var handoff *engine.Event
	for handoff == nil {
		select {
		case env := <-sub.C:
			if env.Event.Type == engine.EventHandoff {
				handoff = &env.Event
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no handoff event")
		}
	}
	require.Equal(t, "Handed off to a person: refund request", handoff.Message.Text)
	c := h.conv(conv)
	require.Equal(t, engine.ModeManual, c.Mode)
	require.True(t, c.NeedsHuman)
	require.True(t, c.AIResumesAt.IsZero())
	ms := h.messages(conv)
	require.Equal(t, []string{"A colleague will help you."}, aiTexts(ms))
	for _, m := range ms {
		if m.Sender.Kind == engine.SenderAI {
			require.Equal(t, "refunds need approval", m.Reasoning)
		}
	}
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_agent_handoffs_total", "reason", "agent")))
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_agent_request_duration_seconds", "kind", "test")))
}

// A failing or slow agent hands the customer to a person, and counts.
func TestAgentFailureHandsOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		agent  actors.Agent
		reason string
	}{
		{"error", funcAgent(func(context.Context, actors.AIContext) (actors.AIAnswer, error) {
			return actors.AIAnswer{}, errors.New("boom")
		}), "error"},
		{"timeout", funcAgent(func(ctx context.Context, _ actors.AIContext) (actors.AIAnswer, error) {
			<-ctx.Done()
			return actors.AIAnswer{}, fmt.Errorf("calling agent: %w", ctx.Err())
		}), "timeout"},
		{"invalid reply", funcAgent(func(context.Context, actors.AIContext) (actors.AIAnswer, error) {
			return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "  "}}, nil
		}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			h := newHarness(t, func(c *actors.Config) {
				c.Agents = policyResolver{tc.agent, actors.AgentPolicy{Kind: "test", Debounce: -1}}
				c.Sender = &recordingSender{}
				c.Registerer = reg
				c.AgentTimeout = 50 * time.Millisecond
			})
			conv := h.say("u1", "in-1", "hello")
			eventually(t, 5*time.Second, func() error {
				if !h.conv(conv).NeedsHuman {
					return errors.New("not handed off")
				}
				return nil
			})
			sys := systemTextsOf(h.messages(conv))
			require.Len(t, sys, 1)
			require.True(t, strings.HasPrefix(sys[0], "Handed off to a person: the AI agent"), sys[0])
			if tc.reason != "" {
				require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_agent_errors_total", "kind", "test", "reason", tc.reason)))
			}
		})
	}
}

// The customer asks for a person: no AI call at all.
func TestCustomerAsksForAPerson(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{agent, actors.AgentPolicy{Kind: "test", Debounce: -1,
			Rules: engine.AgentRules{HandoffKeywords: []string{"humano"}}}}
		c.Sender = &recordingSender{}
		c.Registerer = reg
	})
	conv := h.say("u1", "in-1", "Quiero hablar con un humano")
	c := h.conv(conv)
	require.True(t, c.NeedsHuman)
	require.Equal(t, engine.ModeManual, c.Mode)
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_agent_handoffs_total", "reason", "customer_request")))
	h.exec(conv, engine.MarkRead{})
	require.Zero(t, agent.calls.Load())
}

// Invariant 4 (docs/ARCHITECTURE.md) with metrics: at the deadline the AI answers the waiting
// customer, and the reactivation is counted.
func TestReactivationAnswersAndCounts(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) { c.Agent = agent; c.Sender = &recordingSender{}; c.Registerer = reg })
	conv := h.say("u1", "in-1", "hello")
	h.exec(conv, engine.TakeOver{UserID: "a"}) // before the debounce window ends
	h.advance(2 * time.Second)
	eventually(t, 5*time.Second, func() error {
		if actors.HeldAIRequests(h.rt) != 0 {
			return errors.New("request still held")
		}
		return nil
	})
	h.exec(conv, engine.MarkRead{})
	require.Zero(t, agent.calls.Load(), "the held request is stale once a person took over")
	h.advance(15 * time.Minute)
	eventually(t, 5*time.Second, func() error {
		actors.Kick(h.rt)
		if h.conv(conv).Mode != engine.ModeAI {
			return errors.New("not resumed")
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error { // the reactivation's request has its window too
		if actors.HeldAIRequests(h.rt) != 1 {
			return errors.New("no request held")
		}
		return nil
	})
	h.advance(2 * time.Second)
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 || got[0] != "AI: hello" {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_ai_reactivations_total")))
}

// Automatic follow-up through the durable timer: the AI writes it with
// the follow-up purpose, once, and the log says so.
func TestAutoFollowUpThroughTheTimer(t *testing.T) {
	t.Parallel()
	var purposes []engine.AIPurpose
	calls := make(chan engine.AIPurpose, 8)
	agent := funcAgent(func(_ context.Context, in actors.AIContext) (actors.AIAnswer, error) {
		calls <- in.Request.Purpose
		text := "Sure, it ships today."
		if in.Request.Purpose == engine.PurposeFollowUp {
			text = "Anything else I can help with?"
		}
		return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: text}}, nil
	})
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{agent, actors.AgentPolicy{Kind: "test", Debounce: -1,
			Rules: engine.AgentRules{AutoFollowUpAfter: 3 * time.Hour, AutoFollowUpMax: 1}}}
		c.Sender = &recordingSender{}
		c.Registerer = reg
	})
	conv := h.say("u1", "in-1", "when does it ship?")
	purposes = append(purposes, <-calls)
	eventually(t, 5*time.Second, func() error {
		if h.conv(conv).FollowUpAt.IsZero() {
			return errors.New("no follow-up scheduled")
		}
		return nil
	})
	require.Equal(t, t0.Add(3*time.Hour), h.conv(conv).FollowUpAt)
	h.advance(3 * time.Hour)
	purposes = append(purposes, <-calls)
	require.Equal(t, []engine.AIPurpose{engine.PurposeReply, engine.PurposeFollowUp}, purposes)
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 2 {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.Contains(t, systemTextsOf(h.messages(conv)), "Follow-up sent")
	require.True(t, h.conv(conv).FollowUpAt.IsZero(), "at most one")
	eventually(t, 5*time.Second, func() error { // counted just after the commit
		if n := testutil.ToFloat64(metric(t, reg, "parley_followups_sent_total")); n != 1 {
			return fmt.Errorf("%v follow-ups counted", n)
		}
		return nil
	})
}

// A restricted agent answers only contacts of the CRM; a chat-created
// contact gets the configured reply and the agent is not called.
func TestRestrictedAgent(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{agent, actors.AgentPolicy{Kind: "test", Debounce: -1, Restricted: true,
			RestrictedReply: "This service is for members only."}}
		c.Sender = &recordingSender{}
	})
	conv := h.say("u1", "in-1", "hello")
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 || got[0] != "This service is for members only." {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.Zero(t, agent.calls.Load())

	// Once the contact is in the CRM (added by a person), the agent answers.
	c := h.conv(conv)
	contact, err := h.store.Contact(h.ws, c.ContactID)
	require.NoError(t, err)
	old := contact
	contact.Source = engine.SourceManual
	b := h.store.NewBatch()
	b.PutContact(&old, &contact)
	require.NoError(t, h.store.Commit(b))
	h.say("u1", "in-2", "I'm a member now")
	eventually(t, 5*time.Second, func() error {
		if agent.calls.Load() != 1 {
			return errors.New("agent not called for a CRM contact")
		}
		return nil
	})
}

// A "paid" restricted agent answers paying subscribers only: a contact
// in the CRM without paid access is refused like a stranger, the
// provider's checkout (applied through the contact's actor) lets it in,
// a redelivery changes nothing, and the cancellation shuts it out again.
func TestPaidAgent(t *testing.T) {
	t.Parallel()
	agent := &echoAgent{}
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{agent, actors.AgentPolicy{Kind: "test", Debounce: -1, Restricted: true,
			RestrictedTo: engine.RestrictToPaid, RestrictedReply: "Subscribe: https://buy.stripe.com/x?client_reference_id={{contact.id}}"}}
		c.Sender = &recordingSender{}
	})
	conv := h.say("u1", "in-1", "hello")
	c := h.conv(conv)
	link := "Subscribe: https://buy.stripe.com/x?client_reference_id=" + c.ContactID.String()
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 1 || got[0] != link {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	contact, err := h.store.Contact(h.ws, c.ContactID)
	require.NoError(t, err)
	old := contact
	contact.Source = engine.SourceManual // in the CRM, but not paying
	b := h.store.NewBatch()
	b.PutContact(&old, &contact)
	require.NoError(t, h.store.Commit(b))
	h.say("u1", "in-2", "I'm in your CRM")
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 2 {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.Zero(t, agent.calls.Load())

	paid := engine.SubscriptionChange{Active: true, Provider: engine.ProviderStripe, CustomerID: "cus_1", EventID: "evt_1", EventAt: t0}
	ct, changed, err := h.rt.ApplySubscription(context.Background(), h.ws, c.ContactID, paid)
	require.NoError(t, err)
	require.True(t, changed)
	require.True(t, ct.IsSubscriber())
	_, changed, err = h.rt.ApplySubscription(context.Background(), h.ws, c.ContactID, paid)
	require.NoError(t, err)
	require.False(t, changed, "a redelivered event")
	stored, err := h.store.Contact(h.ws, c.ContactID)
	require.NoError(t, err)
	require.True(t, stored.IsSubscriber(), "committed")
	h.say("u1", "in-3", "I paid")
	eventually(t, 5*time.Second, func() error {
		if agent.calls.Load() != 1 {
			return errors.New("agent not called for a subscriber")
		}
		return nil
	})

	_, changed, err = h.rt.ApplySubscription(context.Background(), h.ws, c.ContactID, engine.SubscriptionChange{
		Provider: engine.ProviderStripe, CustomerID: "cus_1", EventID: "evt_2", EventAt: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.True(t, changed)
	h.say("u1", "in-4", "still there?")
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); len(got) != 4 || got[3] != link {
			return fmt.Errorf("AI messages %q", got)
		}
		return nil
	})
	require.EqualValues(t, 1, agent.calls.Load())
	_, _, err = h.rt.ApplySubscription(context.Background(), h.ws, engine.NewID(t0), paid)
	require.ErrorIs(t, err, actors.ErrContactNotFound)
}

// Solving sends the CSAT survey; the customer's "5" is the score.
func TestCSATSurveyAndScore(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{}
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{&echoAgent{}, actors.AgentPolicy{Kind: "test", Debounce: -1,
			Rules: engine.AgentRules{AutoCSAT: true, CSATSurvey: "Rate us 1-5"}}}
		c.Sender = sender
		c.Registerer = reg
	})
	conv := h.say("u1", "in-1", "hi")
	eventually(t, 5*time.Second, func() error {
		if sender.count() != 1 {
			return errors.New("no AI reply sent")
		}
		return nil
	})
	h.exec(conv, engine.MoveFolder{Folder: engine.FolderSolved, UserID: "a"})
	eventually(t, 5*time.Second, func() error {
		if sender.count() != 2 {
			return errors.New("no survey sent")
		}
		return nil
	})
	h.say("u1", "in-2", "⭐⭐⭐⭐⭐")
	c := h.conv(conv)
	require.Equal(t, 5, c.CSAT)
	require.Equal(t, engine.FolderSolved, c.Folder)
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_csat_surveys_sent_total")))
}

// refundAgent hands off any customer message that mentions a refund and
// answers the others with "AI: <text>".
func refundAgent(calls *atomic.Int64) actors.Agent {
	return funcAgent(func(_ context.Context, in actors.AIContext) (actors.AIAnswer, error) {
		calls.Add(1)
		for _, m := range in.History {
			if m.Sender.Kind != engine.SenderCustomer {
				continue
			}
			if strings.Contains(m.Text, "refund") {
				return actors.AIAnswer{Handoff: "refunds need a person"}, nil
			}
			return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "AI: " + m.Text}}, nil
		}
		return actors.AIAnswer{}, nil
	})
}

// waitAITexts waits until conv's AI messages are want.
func waitAITexts(t *testing.T, h *harness, conv engine.ID, want ...string) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if got := aiTexts(h.messages(conv)); !slices.Equal(got, want) {
			return fmt.Errorf("AI messages %q, want %q", got, want)
		}
		return nil
	})
}

// waitHandoff waits until conv is handed off.
func waitHandoff(t *testing.T, h *harness, conv engine.ID) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if !h.conv(conv).NeedsHuman {
			return errors.New("not handed off")
		}
		return nil
	})
}

// After a handoff the AI comes back (docs/ARCHITECTURE.md, invariant 4):
// a person's reply starts the timer and the AI answers the customer once
// it fires; solving hands the conversation back, and the customer's next
// message reopens it and gets the AI's answer.
func TestAIComesBackAfterHandoff(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{refundAgent(&calls), actors.AgentPolicy{Kind: "test", Debounce: -1}}
		c.Sender = &recordingSender{}
	})

	// The timer: a person replies after the handoff.
	conv := h.say("u1", "in-1", "I want a refund")
	waitHandoff(t, h, conv)
	h.exec(conv, engine.SendHuman{UserID: "agent-1", Content: engine.Content{Kind: engine.KindText, Text: "Done, refunded."}})
	require.Equal(t, t0.Add(engine.DefaultAIResumeAfter), h.conv(conv).AIResumesAt)
	h.say("u1", "in-2", "thanks, and my invoice?")
	h.exec(conv, engine.MarkRead{}) // barrier
	require.Equal(t, int64(1), calls.Load(), "no AI while the person has it")
	h.advance(engine.DefaultAIResumeAfter)
	waitAITexts(t, h, conv, "AI: thanks, and my invoice?")
	require.Equal(t, engine.ModeAI, h.conv(conv).Mode)

	// Solving: the handed-off conversation goes back to the AI.
	conv2 := h.say("u2", "in-3", "refund now")
	waitHandoff(t, h, conv2)
	h.exec(conv2, engine.MoveFolder{Folder: engine.FolderSolved, UserID: "agent-1"})
	c := h.conv(conv2)
	require.Equal(t, engine.ModeAI, c.Mode)
	require.False(t, c.NeedsHuman)
	require.Empty(t, aiTexts(h.messages(conv2)), "solving asks the AI nothing")
	h.say("u2", "in-4", "hello again")
	waitAITexts(t, h, conv2, "AI: hello again")
	require.Equal(t, engine.FolderOpen, h.conv(conv2).Folder)
}

// With handoff_stays_manual a handoff stays manual: a person's reply
// starts no timer and solving keeps it manual.
func TestHandoffStaysManualSetting(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	h := newHarness(t, func(c *actors.Config) {
		c.Agents = policyResolver{refundAgent(&calls), actors.AgentPolicy{Kind: "test", Debounce: -1,
			Rules: engine.AgentRules{HandoffStaysManual: true}}}
		c.Sender = &recordingSender{}
	})
	conv := h.say("u1", "in-1", "I want a refund")
	waitHandoff(t, h, conv)
	h.exec(conv, engine.SendHuman{UserID: "agent-1", Content: engine.Content{Kind: engine.KindText, Text: "On it."}})
	require.True(t, h.conv(conv).AIResumesAt.IsZero())
	h.exec(conv, engine.MoveFolder{Folder: engine.FolderSolved, UserID: "agent-1"})
	h.advance(engine.DefaultAIResumeAfter)
	h.say("u1", "in-2", "hello again")
	h.exec(conv, engine.MarkRead{}) // barrier
	require.Equal(t, engine.ModeManual, h.conv(conv).Mode)
	require.Equal(t, int64(1), calls.Load())
	require.Empty(t, aiTexts(h.messages(conv)))
}
