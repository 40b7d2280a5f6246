package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Rating is a person's verdict on an AI reply.
type Rating string

// Ratings.
const (
	RatingUp   Rating = "up"
	RatingDown Rating = "down"
)

// Valid reports whether r is a known rating.
func (r Rating) Valid() bool { return r == RatingUp || r == RatingDown }

// Limits of feedback.
const (
	// MaxCorrectionBytes caps a correction's text.
	MaxCorrectionBytes = 4 << 10
	// MaxFeedbackExamples is how many corrections, newest first, an
	// agent receives as examples with each request.
	MaxFeedbackExamples = 5
	// questionLookback is how many messages before a rated reply are
	// searched for the customer message it answered.
	questionLookback = 20
)

// Feedback is one person's rating of one AI reply, with an optional
// correction. There is at most one per user per message: a new rating
// replaces the user's previous one. Question and Answer are copied from
// the conversation when the rating is given, so that the report and the
// agent's examples read no messages.
type Feedback struct {
	WorkspaceID    ID        `json:"workspace_id"`
	ConversationID ID        `json:"conversation_id"`
	Seq            uint64    `json:"seq"`
	UserID         ID        `json:"user_id"`
	Rating         Rating    `json:"rating"`
	Correction     string    `json:"correction,omitempty"`
	Question       string    `json:"question,omitempty"`
	Answer         string    `json:"answer"`
	At             time.Time `json:"at"`
}

// RateReply records a person's rating of AI message Seq.
type RateReply struct {
	Seq        uint64
	UserID     ID
	Rating     Rating
	Correction string
}

func (RateReply) isCommand() {}

// rateReply checks the rating and builds the feedback record: the message
// must be a reply the AI sent, the rating up or down, the correction valid
// text of at most MaxCorrectionBytes.
func (a *applier) rateReply(cmd RateReply) error {
	if !cmd.Rating.Valid() {
		return fmt.Errorf("%w: rating must be up or down", ErrInvalid)
	}
	corr := strings.TrimSpace(cmd.Correction)
	if len(corr) > MaxCorrectionBytes || !utf8.ValidString(corr) {
		return fmt.Errorf("%w: correction must be text of at most %d bytes", ErrInvalid, MaxCorrectionBytes)
	}
	if cmd.UserID == ZeroID {
		return fmt.Errorf("%w: feedback needs a user", ErrInvalid)
	}
	m, ok := a.message(cmd.Seq)
	if !ok {
		return ErrNoSuchMessage
	}
	if m.Direction != DirOut || m.Sender.Kind != SenderAI {
		return fmt.Errorf("%w: only a reply of the AI can be rated", ErrInvalid)
	}
	fb := Feedback{WorkspaceID: a.c.WorkspaceID, ConversationID: a.c.ID, Seq: m.Seq, UserID: cmd.UserID,
		Rating: cmd.Rating, Correction: corr, Answer: textOf(m), At: a.now}
	for seq := m.Seq - 1; seq > 0 && seq+questionLookback >= m.Seq; seq-- {
		q, ok := a.message(seq)
		if ok && q.Sender.Kind == SenderCustomer {
			fb.Question = textOf(q)
			break
		}
	}
	a.feedback = &fb
	return nil
}

// textOf is a message's text, or a preview of what it holds.
func textOf(m Message) string {
	if m.Text != "" {
		return m.Text
	}
	return m.Content.Preview()
}
