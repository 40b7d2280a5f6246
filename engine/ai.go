package engine

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// AgentRules are the per-workspace (or per-channel-account) rules of the
// AI agent that the pure functions need. The zero value means: default
// handoff keywords, no automatic follow-up, no CSAT survey.
type AgentRules struct {
	// HandoffKeywords are words or phrases that, in a customer message to
	// the AI, hand the conversation to a person. Nil means
	// DefaultHandoffKeywords; an empty non-nil slice means none.
	HandoffKeywords []string `json:"handoff_keywords"`
	// AutoFollowUpAfter is how long the customer may stay silent after the
	// AI's last message before the AI follows up; zero means never.
	AutoFollowUpAfter time.Duration `json:"auto_followup_after,omitempty"`
	// AutoFollowUpMax is how many automatic follow-ups are sent at most
	// between two customer messages; zero with AutoFollowUpAfter set
	// means 1.
	AutoFollowUpMax int `json:"auto_followup_max,omitempty"`
	// AutoCSAT sends CSATSurvey when a conversation is solved.
	AutoCSAT bool `json:"auto_csat,omitempty"`
	// CSATSurvey is the survey text; empty means DefaultCSATSurvey.
	CSATSurvey string `json:"csat_survey,omitempty"`
	// HandoffStaysManual keeps a handed-off conversation manual until a
	// person gives it back: a person's reply starts no reactivation timer
	// and solving it does not hand it back to the AI. By default (false) a
	// handoff waits for a person, and then is like any manual spell
	// (docs/ARCHITECTURE.md, invariant 4). It applies to conversations
	// already handed off when it changes.
	HandoffStaysManual bool `json:"handoff_stays_manual,omitempty"`
	// NoAgent is set by the runtime when no agent answers the
	// conversation: a due follow-up is then a reminder for a person.
	NoAgent bool `json:"-"`
}

// DefaultHandoffKeywords are what a customer says to ask for a person.
var DefaultHandoffKeywords = []string{"human", "real person", "a person", "representative", "operator",
	"talk to someone", "speak to someone"}

// DefaultCSATSurvey is the survey sent when a conversation is solved.
const DefaultCSATSurvey = "How would you rate the help you got? Reply with a number from 1 (poor) to 5 (excellent)."

// Keywords returns the handoff keywords with the default applied.
func (r AgentRules) Keywords() []string {
	if r.HandoffKeywords == nil {
		return DefaultHandoffKeywords
	}
	return r.HandoffKeywords
}

// FollowUpMax returns the automatic follow-up limit with the default
// applied.
func (r AgentRules) FollowUpMax() int {
	if r.AutoFollowUpAfter <= 0 {
		return 0
	}
	if r.AutoFollowUpMax <= 0 {
		return 1
	}
	return r.AutoFollowUpMax
}

// Survey returns the CSAT survey text with the default applied.
func (r AgentRules) Survey() string {
	if strings.TrimSpace(r.CSATSurvey) == "" {
		return DefaultCSATSurvey
	}
	return r.CSATSurvey
}

// HandoffKind says why a conversation was handed to a person (a metrics
// label: a small fixed set).
type HandoffKind string

// Handoff kinds.
const (
	// HandoffAgent: the agent decided a person should answer.
	HandoffAgent HandoffKind = "agent"
	// HandoffCustomer: the customer asked for a person.
	HandoffCustomer HandoffKind = "customer_request"
)

// AIPurpose says what an AI request is for.
type AIPurpose string

// AI request purposes. The empty purpose is a reply.
const (
	PurposeReply    AIPurpose = ""
	PurposeFollowUp AIPurpose = "followup"
)

// EventHandoff tells subscribers (the assignee, or the whole team when
// the conversation is unassigned) that a conversation needs a person; its
// Message is the system message with the reason.
const EventHandoff EventType = "conversation.handoff"

// EventFollowUpSent tells subscribers that a follow-up went to the
// customer.
const EventFollowUpSent EventType = "followup.sent"

// MatchKeyword returns the first keyword found in text as a whole word
// or phrase, case-insensitively, and whether one was.
func MatchKeyword(text string, keywords []string) (string, bool) {
	if len(keywords) == 0 {
		return "", false
	}
	norm := keywordForm(text)
	if len(norm) == 1 {
		return "", false // no words
	}
	for _, k := range keywords {
		kw := keywordForm(k)
		if len(kw) > 2 && strings.Contains(norm, kw) {
			return k, true
		}
	}
	return "", false
}

// keywordForm lowercases s and keeps its words (letters, digits and
// apostrophes) separated by single spaces, with a space at either end, so
// that a phrase is found as a whole in a text by substring search.
func keywordForm(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(' ')
	space := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || r == '\'' {
			b.WriteRune(unicode.ToLower(r))
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	if !space {
		b.WriteByte(' ')
	}
	return b.String()
}

// ParseCSAT reads a customer's answer to the survey: a digit from 1 to 5
// (optionally "/5" or with a trailing full stop) or one to five stars
// (★, ⭐ or *). It reports false for anything else.
func ParseCSAT(text string) (int, bool) {
	s := strings.TrimSpace(text)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "."), "!")
	if i := strings.Index(s, "/"); i >= 0 && strings.TrimSpace(s[i+1:]) == "5" {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) == 1 && s[0] >= '1' && s[0] <= '5' {
		n, _ := strconv.Atoi(s)
		return n, true
	}
	n := 0
	for _, r := range s {
		switch r {
		case '★', '⭐', '*':
			n++
		case '\uFE0F', ' ':
		default:
			return 0, false
		}
		if n > 5 {
			return 0, false
		}
	}
	return n, n >= 1
}

// handoff hands the conversation to a person: manual mode with no timer
// (paused), marked as needing a human, a system message with the reason
// and a handoff event carrying it. Unless the rules keep handoffs manual,
// the pause lasts only until a person acts (which starts the timer) or
// the conversation is solved (which hands it back): see aiPaused.
func (a *applier) handoff(kind HandoffKind, reason string) {
	a.setMode(ModeManual)
	a.c.AIPaused = true
	a.c.AIResumesAt = time.Time{}
	a.c.NeedsHuman = true
	a.askAI = false
	reason = truncateRunes(strings.TrimSpace(reason), 500)
	text := "Handed off to a person"
	if reason != "" {
		text += ": " + reason
	}
	a.system(text)
	m := a.msgs[len(a.msgs)-1]
	a.events = append(a.events, Event{Type: EventHandoff, Message: &m})
	a.handoffKind = kind
}

// aiPaused reports whether the AI is paused with no timer: by a person
// (PauseAI), or by a handoff still waiting for a person when the rules
// keep handoffs manual. A handoff otherwise holds the AI only until a
// person acts or the conversation is solved.
func (a *applier) aiPaused() bool {
	return a.c.AIPaused && !(a.c.NeedsHuman && !a.s.Agent.HandoffStaysManual)
}

// scheduleAutoFollowUp sets the automatic follow-up after an AI message,
// unless one is already set or the limit is reached.
func (a *applier) scheduleAutoFollowUp() {
	r := a.s.Agent
	if a.c.AutoFollowUps >= r.FollowUpMax() || !a.c.FollowUpAt.IsZero() {
		return
	}
	a.c.FollowUpAt = a.now.Add(r.AutoFollowUpAfter)
	a.c.FollowUpAuto = true
	a.extra = append(a.extra, EventFollowUpScheduled)
}

// followUpDue runs a follow-up whose time has come: the AI writes it in
// AI mode; a person is reminded in manual mode or when no agent answers
// (an automatic one is dropped then); on WhatsApp nothing is sent outside
// the 24-hour window.
func (a *applier) followUpDue() {
	auto := a.c.FollowUpAuto
	a.c.FollowUpAt, a.c.FollowUpAuto = time.Time{}, false
	switch {
	case (a.c.Mode == ModeManual || a.s.Agent.NoAgent) && !auto:
		a.system("Follow-up due")
		a.extra = append(a.extra, EventFollowUpDue)
	case a.c.Mode == ModeManual || a.s.Agent.NoAgent:
		a.extra = append(a.extra, EventFollowUpCancelled)
	case !a.c.InWindow(a.now):
		a.system("Follow-up cancelled: more than 24 hours since the customer's last message")
		a.extra = append(a.extra, EventFollowUpCancelled)
	case a.c.Blocked || a.c.Folder == FolderSpam:
		a.system("Follow-up cancelled")
		a.extra = append(a.extra, EventFollowUpCancelled)
	default:
		if auto {
			a.c.AutoFollowUps++
		}
		a.askAI, a.purpose = true, PurposeFollowUp
		a.extra = append(a.extra, EventFollowUpDue)
	}
}

// csatAnswer records the customer's answer to a pending survey; it
// reports whether text was one.
func (a *applier) csatAnswer(text string) bool {
	if !a.c.CSATPending {
		return false
	}
	a.c.CSATPending = false
	n, ok := ParseCSAT(text)
	if !ok {
		return false
	}
	a.c.CSAT = n
	a.system("Customer rated the conversation " + strconv.Itoa(n) + "/5")
	return true
}

// sendSurvey sends the CSAT survey when a conversation is solved.
func (a *applier) sendSurvey() {
	r := a.s.Agent
	if !r.AutoCSAT || a.c.CSAT != 0 || a.c.Blocked || !a.c.InWindow(a.now) {
		return
	}
	a.sendOut(Sender{Kind: SenderAI}, Content{Kind: KindText, Text: r.Survey()}, "CSAT survey")
	a.c.CSATPending = true
	a.surveySent = true
}
