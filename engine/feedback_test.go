package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// TestRateReply: a rating of an AI reply carries the question before it,
// the reply and the trimmed correction, changes no message nor the header,
// and is refused for a customer's or a person's message, an unknown seq,
// an unknown rating, a correction over 4 KiB or not UTF-8, and no user.
func TestRateReply(t *testing.T) {
	h := newHarness(t)
	res := h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("How much is it?")}, at(0))
	req := *res.AskAI
	h.do(engine.AIReply{Request: req, Content: txt("It costs 10 EUR.")}, at(time.Second))
	aiSeq := h.conv.LastSeq
	h.do(engine.SendHuman{Content: txt("a person writes"), UserID: "u"}, at(2*time.Second))
	humanSeq := h.conv.LastSeq
	user := engine.NewID(t0)

	before := h.conv.Clone()
	now := at(time.Minute)
	res = h.do(engine.RateReply{Seq: aiSeq, UserID: user, Rating: engine.RatingDown, Correction: "  It costs 12 EUR.\n"}, now)
	require.Empty(t, res.Messages)
	require.Empty(t, res.Send)
	require.Equal(t, before, res.Conversation)
	require.Equal(t, &engine.Feedback{WorkspaceID: h.conv.WorkspaceID, ConversationID: h.conv.ID, Seq: aiSeq, UserID: user,
		Rating: engine.RatingDown, Correction: "It costs 12 EUR.", Question: "How much is it?", Answer: "It costs 10 EUR.", At: now},
		res.Feedback)

	res = h.do(engine.RateReply{Seq: aiSeq, UserID: user, Rating: engine.RatingUp}, now)
	require.Equal(t, engine.RatingUp, res.Feedback.Rating)
	require.Empty(t, res.Feedback.Correction)

	h.fail(engine.RateReply{Seq: 1, UserID: user, Rating: engine.RatingUp}, now, engine.ErrInvalid)
	h.fail(engine.RateReply{Seq: humanSeq, UserID: user, Rating: engine.RatingUp}, now, engine.ErrInvalid)
	h.fail(engine.RateReply{Seq: 99, UserID: user, Rating: engine.RatingUp}, now, engine.ErrNoSuchMessage)
	h.fail(engine.RateReply{Seq: aiSeq, UserID: user, Rating: "meh"}, now, engine.ErrInvalid)
	h.fail(engine.RateReply{Seq: aiSeq, UserID: user, Rating: engine.RatingDown,
		Correction: strings.Repeat("a", engine.MaxCorrectionBytes+1)}, now, engine.ErrInvalid)
	h.fail(engine.RateReply{Seq: aiSeq, UserID: user, Rating: engine.RatingDown, Correction: "\xff"}, now, engine.ErrInvalid)
	h.fail(engine.RateReply{Seq: aiSeq, Rating: engine.RatingUp}, now, engine.ErrInvalid)
}
