package engine_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// systemTexts returns the texts of the system messages a result created.
func systemTexts(res engine.Result) []string {
	var out []string
	for _, m := range res.Messages {
		if m.Sender.Kind == engine.SenderSystem {
			out = append(out, m.Text)
		}
	}
	return out
}

func aiMessages(res engine.Result) []engine.Message {
	var out []engine.Message
	for _, m := range res.Messages {
		if m.Sender.Kind == engine.SenderAI {
			out = append(out, m)
		}
	}
	return out
}

func TestAIHandoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		reply     func(req engine.AIRequest) engine.AIReply
		sent      string // the AI message sent before the handoff, if any
		reason    string
		reasoning string
	}{
		{"handoff with a reason", func(req engine.AIRequest) engine.AIReply {
			return engine.AIReply{Request: req, Handoff: "billing dispute", Reasoning: "refunds need a person"}
		}, "", "billing dispute", ""},
		{"answer then handoff", func(req engine.AIRequest) engine.AIReply {
			return engine.AIReply{Request: req, Content: txt("Let me get a colleague."), Handoff: "refund over limit", Reasoning: "policy"}
		}, "Let me get a colleague.", "refund over limit", "policy"},
		{"no answer at all", func(req engine.AIRequest) engine.AIReply {
			return engine.AIReply{Request: req}
		}, "", "the agent had no answer", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("I want my money back")}, t0).AskAI
			res := h.do(tc.reply(req), at(time.Second))
			c := res.Conversation
			require.Equal(t, engine.ModeManual, c.Mode)
			require.True(t, c.AIPaused, "handoff has no timer")
			require.True(t, c.AIResumesAt.IsZero())
			require.True(t, c.NeedsHuman)
			require.Equal(t, engine.HandoffAgent, res.Handoff)
			require.Equal(t, []string{"Handed off to a person: " + tc.reason}, systemTexts(res))
			require.True(t, hasEvent(res, engine.EventHandoff))
			for _, e := range res.Events {
				if e.Type == engine.EventHandoff {
					require.Equal(t, "Handed off to a person: "+tc.reason, e.Message.Text)
				}
			}
			ai := aiMessages(res)
			if tc.sent == "" {
				require.Empty(t, ai)
				require.Empty(t, res.Send)
			} else {
				require.Len(t, ai, 1)
				require.Equal(t, tc.sent, ai[0].Text)
				require.Equal(t, tc.reasoning, ai[0].Reasoning)
				require.Len(t, res.Send, 1)
			}
			// The customer writes again: no AI request while a person has it.
			res = h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("hello?")}, at(time.Minute))
			require.Nil(t, res.AskAI)
			// A person answers: NeedsHuman clears and the timer starts.
			res = h.do(engine.SendHuman{UserID: "u1", Content: txt("I'm here")}, at(2*time.Minute))
			require.False(t, res.Conversation.NeedsHuman)
			require.Equal(t, at(2*time.Minute+engine.DefaultAIResumeAfter), res.Conversation.AIResumesAt)
		})
	}
}

// TestAIComesBackAfterHandoff: after a handoff, a person's activity
// starts the reactivation timer and solving hands the conversation back
// to the AI, unless the rules keep handoffs manual.
func TestAIComesBackAfterHandoff(t *testing.T) {
	t.Parallel()
	resume := engine.DefaultAIResumeAfter
	for _, tc := range []struct {
		name       string
		stays      bool
		human      engine.Command // the person's action after the handoff; nil: none
		solve      bool
		wantMode   engine.Mode // after the human action and the solve, if any
		wantTimer  bool        // the reactivation timer is set then
		wantPaused bool
	}{
		{"reply starts the timer", false, engine.SendHuman{UserID: "u1", Content: txt("I'm here")}, false, engine.ModeManual, true, false},
		{"echo starts the timer", false, engine.Echo{ChannelMessageID: "e1", Content: txt("from the app")}, false, engine.ModeManual, true, false},
		{"take over starts the timer", false, engine.TakeOver{UserID: "u1"}, false, engine.ModeManual, true, false},
		{"solve hands back", false, nil, true, engine.ModeAI, false, false},
		{"reply then solve hands back", false, engine.SendHuman{UserID: "u1", Content: txt("done")}, true, engine.ModeAI, false, false},
		{"stays manual: reply starts no timer", true, engine.SendHuman{UserID: "u1", Content: txt("I'm here")}, false, engine.ModeManual, false, true},
		{"stays manual: solve keeps manual", true, nil, true, engine.ModeManual, false, true},
		{"stays manual: take over still starts the timer", true, engine.TakeOver{UserID: "u1"}, false, engine.ModeManual, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.set.Agent.HandoffStaysManual = tc.stays
			req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("refund please")}, t0).AskAI
			res := h.do(engine.AIReply{Request: req, Handoff: "refunds need a person"}, at(time.Second))
			require.Equal(t, engine.ModeManual, res.Conversation.Mode)
			require.True(t, res.Conversation.NeedsHuman)
			require.True(t, res.Conversation.AIPaused)
			// No timer yet: a stale or zero deadline resumes nothing.
			require.Empty(t, h.do(engine.AIResumeDue{}, at(time.Hour)).Messages)

			acted := at(time.Minute)
			if tc.human != nil {
				h.do(tc.human, acted)
			}
			if tc.solve {
				res = h.do(engine.MoveFolder{Folder: engine.FolderSolved, UserID: "u1"}, at(2*time.Minute))
				require.Nil(t, res.AskAI, "solving asks the AI nothing")
			}
			c := h.conv
			require.Equal(t, tc.wantMode, c.Mode)
			require.Equal(t, tc.wantPaused, c.AIPaused)
			require.Equal(t, tc.wantTimer, !c.AIResumesAt.IsZero())
			if tc.wantTimer {
				require.Equal(t, acted.Add(resume), c.AIResumesAt)
				res = h.do(engine.AIResumeDue{Due: c.AIResumesAt}, acted.Add(resume))
				require.True(t, res.Reactivated)
				require.Equal(t, engine.ModeAI, res.Conversation.Mode)
			}
			// The customer writes again: the AI answers if it has the
			// conversation back (reopening it if it was solved).
			res = h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("one more thing")}, at(time.Hour))
			require.Equal(t, engine.FolderOpen, res.Conversation.Folder)
			require.Equal(t, tc.wantMode == engine.ModeAI || tc.wantTimer, res.AskAI != nil)
		})
	}
}

// TestHandoffPauseIsAPersonsChoiceOnly: a person who pauses the AI
// after a handoff keeps it paused; a handoff kept manual by the rules is
// freed when the rules change (so are handoffs stored before the AI
// came back after them, which look the same).
func TestHandoffPauseIsAPersonsChoiceOnly(t *testing.T) {
	t.Parallel()
	handedOff := func(t *testing.T, stays bool) *harness {
		h := newHarness(t)
		h.set.Agent.HandoffStaysManual = stays
		req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("refund please")}, t0).AskAI
		h.do(engine.AIReply{Request: req, Handoff: "refunds need a person"}, at(time.Second))
		return h
	}
	t.Run("pause after handoff", func(t *testing.T) {
		t.Parallel()
		h := handedOff(t, false)
		res := h.do(engine.PauseAI{UserID: "u1"}, at(time.Minute))
		require.Equal(t, []string{"AI paused"}, systemTexts(res))
		require.False(t, res.Conversation.NeedsHuman)
		res = h.do(engine.SendHuman{UserID: "u1", Content: txt("on it")}, at(2*time.Minute))
		require.True(t, res.Conversation.AIResumesAt.IsZero())
		res = h.do(engine.MoveFolder{Folder: engine.FolderSolved}, at(3*time.Minute))
		require.Equal(t, engine.ModeManual, res.Conversation.Mode)
	})
	t.Run("kept manual, then the rules change", func(t *testing.T) {
		t.Parallel()
		h := handedOff(t, true)
		h.set.Agent.HandoffStaysManual = false
		res := h.do(engine.SendHuman{UserID: "u1", Content: txt("on it")}, at(time.Minute))
		require.Equal(t, at(time.Minute+engine.DefaultAIResumeAfter), res.Conversation.AIResumesAt)
		require.False(t, res.Conversation.AIPaused)
	})
}

// TestSolveHandsBackOnlyManualUnpaused: solving gives a taken-over
// conversation back to the AI but leaves one a person paused, and does
// nothing to one the AI already has.
func TestSolveHandsBackOnlyManualUnpaused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		before   engine.Command
		wantMode engine.Mode
		wantLog  []string
	}{
		{"taken over", engine.TakeOver{UserID: "u1"}, engine.ModeAI, []string{"Moved to solved", "Handed back to the AI"}},
		{"paused", engine.PauseAI{UserID: "u1"}, engine.ModeManual, []string{"Moved to solved"}},
		{"AI mode", engine.MarkRead{}, engine.ModeAI, []string{"Moved to solved"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
			h.do(tc.before, at(time.Second))
			res := h.do(engine.MoveFolder{Folder: engine.FolderSolved}, at(time.Minute))
			require.Equal(t, tc.wantMode, res.Conversation.Mode)
			require.Equal(t, tc.wantLog, systemTexts(res))
			require.Nil(t, res.AskAI)
			if tc.wantMode == engine.ModeAI {
				require.True(t, res.Conversation.AIResumesAt.IsZero())
				require.False(t, res.Conversation.NeedsHuman)
			}
		})
	}
}

// The agent's reasoning and reasons are outside input: cut to size and
// made valid, never a reason to lose the reply.
func TestAIReplyTextFieldsAreSanitised(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0).AskAI
	long := strings.Repeat("é", engine.MaxTextBytes) // twice the limit in bytes
	res := h.do(engine.AIReply{Request: req, Content: txt("hello"), Reasoning: long, Handoff: "bad \xff reason"}, t0)
	ai := aiMessages(res)
	require.Len(t, ai, 1)
	require.LessOrEqual(t, len(ai[0].Reasoning), engine.MaxTextBytes)
	require.True(t, utf8.ValidString(ai[0].Reasoning))
	require.True(t, utf8.ValidString(systemTexts(res)[0]))
}

// A stale reply that would hand off is discarded like any stale reply.
func TestStaleHandoffIsDiscarded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0).AskAI
	h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("hi again")}, at(time.Second))
	res := h.do(engine.AIReply{Request: req, Handoff: "whatever"}, at(2*time.Second))
	require.True(t, res.Discarded)
	require.Empty(t, res.Handoff)
	require.Equal(t, engine.ModeAI, res.Conversation.Mode)
}

func TestHandoffKeywords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		keywords []string
		text     string
		handoff  bool
	}{
		{"default keyword", nil, "Can I talk to a HUMAN please?", true},
		{"default phrase", nil, "I want to speak to someone", true},
		{"inside another word", nil, "humanitarian aid", false},
		{"no keyword", nil, "What are your opening hours?", false},
		{"custom keyword", []string{"agente"}, "quiero un agente", true},
		{"custom keywords replace the defaults", []string{"agente"}, "a human please", false},
		{"empty list turns it off", []string{}, "a human please", false},
		{"punctuation is not a word", []string{"real person"}, "a real, person", true},
		{"phrase with extra spaces", []string{"real person"}, "a real   person!", true},
		{"letters beyond ASCII, any case", []string{"Atención Humana"}, "Quiero ATENCIÓN humana.", true},
		{"keyword at the very end", []string{"agent"}, "agent", true},
		{"keyword longer than the text", []string{"real person"}, "real", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.set.Agent.HandoffKeywords = tc.keywords
			res := h.do(engine.Receive{ChannelMessageID: "m1", Content: txt(tc.text)}, t0)
			if !tc.handoff {
				require.NotNil(t, res.AskAI)
				require.Empty(t, res.Handoff)
				return
			}
			require.Nil(t, res.AskAI, "no AI request when the customer asks for a person")
			require.Equal(t, engine.HandoffCustomer, res.Handoff)
			require.Equal(t, engine.ModeManual, res.Conversation.Mode)
			require.True(t, res.Conversation.NeedsHuman)
			require.True(t, res.Conversation.AwaitingReply)
			require.Len(t, systemTexts(res), 1)
			require.Contains(t, systemTexts(res)[0], "the customer asked for a person")
		})
	}
	// In manual mode a keyword changes nothing.
	h := newHarness(t)
	h.do(engine.TakeOver{UserID: "u1"}, t0)
	res := h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("human!")}, t0)
	require.Empty(t, res.Handoff)
	require.False(t, res.Conversation.NeedsHuman)
}

func TestReactivationIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
	due := h.do(engine.TakeOver{UserID: "u1"}, t0).Conversation.AIResumesAt
	res := h.do(engine.AIResumeDue{Due: due}, due)
	require.True(t, res.Reactivated)
	require.NotNil(t, res.AskAI, "the customer is waiting: the AI answers")
}

func autoFollowUpHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.set.Agent.AutoFollowUpAfter = time.Hour
	h.set.Agent.AutoFollowUpMax = 2
	return h
}

// Automatic follow-ups: N hours after the AI's last message, at most M
// times between two customer messages, written by the AI.
func TestAutoFollowUp(t *testing.T) {
	t.Parallel()
	h := autoFollowUpHarness(t)
	req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("price?")}, t0).AskAI
	res := h.do(engine.AIReply{Request: req, Content: txt("It's 10€.")}, t0)
	require.Equal(t, t0.Add(time.Hour), res.Conversation.FollowUpAt)
	require.True(t, res.Conversation.FollowUpAuto)
	require.True(t, hasEvent(res, engine.EventFollowUpScheduled))

	now := t0
	for i := 1; i <= 2; i++ {
		now = h.conv.FollowUpAt
		h.noop(engine.FollowUpDue{Due: now}, now.Add(-time.Nanosecond))
		res = h.do(engine.FollowUpDue{Due: now}, now)
		require.NotNil(t, res.AskAI)
		require.Equal(t, engine.PurposeFollowUp, res.AskAI.Purpose)
		require.Equal(t, i, res.Conversation.AutoFollowUps)
		res = h.do(engine.AIReply{Request: *res.AskAI, Content: txt("Anything else?")}, now)
		require.False(t, res.Discarded)
		require.True(t, res.FollowUpSent)
		require.Equal(t, []string{"Follow-up sent"}, systemTexts(res))
		require.True(t, hasEvent(res, engine.EventFollowUpSent))
	}
	require.True(t, h.conv.FollowUpAt.IsZero(), "at most M automatic follow-ups")

	// The customer writes: the count starts again.
	req = *h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("yes")}, now.Add(time.Minute)).AskAI
	require.Zero(t, h.conv.AutoFollowUps)
	res = h.do(engine.AIReply{Request: req, Content: txt("Sure")}, now.Add(time.Minute))
	require.False(t, res.Conversation.FollowUpAt.IsZero())
	// ...and writing again cancels the pending automatic one.
	res = h.do(engine.Receive{ChannelMessageID: "m3", Content: txt("thanks")}, now.Add(2*time.Minute))
	require.True(t, res.Conversation.FollowUpAt.IsZero())
	require.True(t, hasEvent(res, engine.EventFollowUpCancelled))
}

func TestFollowUpEdgeCases(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*harness, time.Time) {
		h := autoFollowUpHarness(t)
		req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("price?")}, t0).AskAI
		h.do(engine.AIReply{Request: req, Content: txt("It's 10€.")}, t0)
		return h, h.conv.FollowUpAt
	}
	t.Run("outside the WhatsApp window nothing is sent", func(t *testing.T) {
		t.Parallel()
		h, _ := setup(t)
		late := t0.Add(25 * time.Hour)
		h.do(engine.ScheduleFollowUp{At: late, UserID: "u1"}, t0)
		res := h.do(engine.FollowUpDue{Due: late}, late)
		require.Nil(t, res.AskAI)
		require.True(t, hasEvent(res, engine.EventFollowUpCancelled))
		require.Contains(t, systemTexts(res)[0], "24 hours")
	})
	t.Run("a reply that crossed a customer message is discarded", func(t *testing.T) {
		t.Parallel()
		h, due := setup(t)
		req := *h.do(engine.FollowUpDue{Due: due}, due).AskAI
		h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("still there")}, due)
		res := h.do(engine.AIReply{Request: req, Content: txt("Anything else?")}, due)
		require.True(t, res.Discarded)
	})
	t.Run("an automatic follow-up is dropped once a person has the conversation", func(t *testing.T) {
		t.Parallel()
		h, due := setup(t)
		h.do(engine.PauseAI{UserID: "u1"}, t0)
		res := h.do(engine.FollowUpDue{Due: due}, due)
		require.Nil(t, res.AskAI)
		require.Empty(t, systemTexts(res))
		require.True(t, hasEvent(res, engine.EventFollowUpCancelled))
	})
	t.Run("with no agent a person's follow-up is a reminder", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.set.Agent.NoAgent = true
		h.do(engine.ScheduleFollowUp{At: at(time.Hour), UserID: "u1"}, t0)
		res := h.do(engine.FollowUpDue{Due: at(time.Hour)}, at(time.Hour))
		require.Nil(t, res.AskAI)
		require.Equal(t, []string{"Follow-up due"}, systemTexts(res))
	})
	t.Run("the AI schedules one", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		req := *h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("call me tomorrow")}, t0).AskAI
		res := h.do(engine.AIReply{Request: req, Content: txt("Will do"), FollowUpAt: at(20 * time.Hour),
			FollowUpReason: "customer asked for tomorrow"}, t0)
		require.Equal(t, at(20*time.Hour), res.Conversation.FollowUpAt)
		require.False(t, res.Conversation.FollowUpAuto)
		require.Equal(t, []string{"Follow-up scheduled by the AI for " + at(20*time.Hour).Format(time.RFC3339) +
			": customer asked for tomorrow"}, systemTexts(res))
		// A customer message does not cancel it (only automatic ones).
		res = h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("ok")}, at(time.Hour))
		require.Equal(t, at(20*time.Hour), res.Conversation.FollowUpAt)
	})
}

func TestCSATSurvey(t *testing.T) {
	t.Parallel()
	solved := func(t *testing.T, auto bool) (*harness, engine.Result) {
		h := newHarness(t)
		h.set.Agent.AutoCSAT = auto
		h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi")}, t0)
		return h, h.do(engine.MoveFolder{Folder: engine.FolderSolved, UserID: "u1"}, at(time.Minute))
	}
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		_, res := solved(t, false)
		require.Empty(t, res.Send)
		require.False(t, res.Conversation.CSATPending)
	})
	for _, tc := range []struct {
		answer string
		score  int
	}{{"4", 4}, {" 5/5 ", 5}, {"⭐⭐⭐", 3}, {"★", 1}, {"3.", 3}, {"not great, 2 maybe", 0}, {"6", 0}} {
		t.Run("answer "+tc.answer, func(t *testing.T) {
			t.Parallel()
			h, res := solved(t, true)
			require.True(t, res.SurveySent)
			require.Len(t, res.Send, 1)
			require.Equal(t, engine.DefaultCSATSurvey, res.Send[0].Text)
			require.True(t, res.Conversation.CSATPending)
			res = h.do(engine.Receive{ChannelMessageID: "m2", Content: txt(tc.answer)}, at(time.Hour))
			require.False(t, res.Conversation.CSATPending)
			if tc.score == 0 {
				// Not a score: an ordinary message that reopens the
				// conversation and gets an answer.
				require.Equal(t, engine.FolderOpen, res.Conversation.Folder)
				require.NotNil(t, res.AskAI)
				require.Zero(t, res.Conversation.CSAT)
				return
			}
			require.Equal(t, tc.score, res.Conversation.CSAT)
			require.Equal(t, engine.FolderSolved, res.Conversation.Folder, "a score does not reopen")
			require.Nil(t, res.AskAI)
			require.Zero(t, res.Conversation.UnreadCount-h.conv.UnreadCount)
		})
	}
	t.Run("a person sets the score", func(t *testing.T) {
		t.Parallel()
		h, _ := solved(t, true)
		res := h.do(engine.SetCSAT{Score: 2}, at(time.Hour))
		require.False(t, res.Conversation.CSATPending)
		require.Equal(t, 2, res.Conversation.CSAT)
	})
}

func TestParseCSAT(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"1": 1, "5": 5, "0": 0, "6": 0, "3/5": 3, "3 / 5": 3, "⭐️⭐️": 2,
		"*****": 5, "******": 0, "": 0, "abc": 0, "12": 0, "★ ★ ★ ★": 4, "4!": 4} {
		got, ok := engine.ParseCSAT(in)
		require.Equal(t, want, got, "%q", in)
		require.Equal(t, want != 0, ok, "%q", in)
	}
}

func FuzzParseCSAT(f *testing.F) {
	for _, s := range []string{"4", "⭐⭐", "5/5", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := engine.ParseCSAT(s)
		if ok != (n >= 1 && n <= 5) {
			t.Fatalf("ParseCSAT(%q) = %d, %v", s, n, ok)
		}
	})
}

func FuzzMatchKeyword(f *testing.F) {
	f.Add("talk to a human", "human")
	f.Fuzz(func(t *testing.T, text, kw string) {
		k, ok := engine.MatchKeyword(text, []string{kw})
		if ok && (k != kw || strings.TrimSpace(kw) == "") {
			t.Fatalf("matched %q for keyword %q", k, kw)
		}
		if ok && !utf8.ValidString(text) && strings.TrimSpace(kw) == "" {
			t.Fatal("empty keyword matched")
		}
	})
}
