package gateway

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Feedback on AI replies (seed 002, "train AI with feedback"):
//
//	POST /api/v1/conversations/{conv}/messages/{seq}/feedback   rate an AI reply up or down, with a correction
//	GET  /api/v1/feedback?rating=down&cursor=&limit=            the rated replies, newest first
//
// A rating is the conversation's state: the handler sends it to the
// conversation's actor (engine.RateReply), which stores it with its index
// in one batch. The newest corrections reach the agent as examples.

// maxFeedbackPage is the largest page of the feedback report.
const maxFeedbackPage = 100

// feedbackBody is what POST .../feedback takes.
type feedbackBody struct {
	Rating     engine.Rating `json:"rating"`
	Correction string        `json:"correction"`
}

func (s *Server) rateReply(c *fiber.Ctx) error {
	// The body first: a bad body is a 400 whatever the ids.
	var b feedbackBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	id, err := convParam(c)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(c.Params("seq"), 10, 64)
	if err != nil {
		return errNotFound
	}
	p := who(c)
	res, err := s.cfg.Runtime.Execute(c.UserContext(), p.WorkspaceID, id,
		engine.RateReply{Seq: seq, UserID: p.UserID, Rating: b.Rating, Correction: b.Correction})
	if err != nil {
		return fromEngine(err)
	}
	s.metrics.aiFeedback.WithLabelValues(string(res.Feedback.Rating)).Inc()
	// A correction becomes (or stops being) a knowledge entry.
	s.knowledge.correction(c.UserContext(), &res.Conversation, *res.Feedback)
	return c.JSON(res.Feedback)
}

// feedbackReport lists the rated replies of one rating (down unless
// rating=up), newest first, each with the question it answered, the reply
// and the correction.
func (s *Server) feedbackReport(c *fiber.Ctx) error {
	r := engine.Rating(c.Query("rating", string(engine.RatingDown)))
	if !r.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "rating must be up or down")
	}
	limit, err := uintQuery(c, "limit", 20)
	if err != nil {
		return err
	}
	if limit == 0 || limit > maxFeedbackPage {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", maxFeedbackPage)
	}
	page, err := s.cfg.Store.RatedReplies(who(c).WorkspaceID, r, c.Query("cursor"), int(limit))
	if errors.Is(err, persistence.ErrBadCursor) {
		return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
	}
	if err != nil {
		return err
	}
	items := page.Feedback
	if items == nil {
		items = []engine.Feedback{}
	}
	return c.JSON(fiber.Map{"feedback": items, "next_cursor": page.NextCursor})
}
