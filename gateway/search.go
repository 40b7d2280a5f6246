package gateway

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// searchHit is one search result: the conversation as the inbox list
// shows it, and where and what matched.
type searchHit struct {
	Conversation engine.Conversation `json:"conversation"`
	// Field is "text" for a message, else the contact field that matched
	// (name, phone, email, company).
	Field   string    `json:"field"`
	Seq     uint64    `json:"seq,omitempty"`
	Snippet string    `json:"snippet"`
	At      time.Time `json:"at"`
}

// search answers GET /api/v1/search: conversations by contact name,
// phone, email, company and message text, most recent activity first.
func (s *Server) search(c *fiber.Ctx) error {
	p := who(c)
	limit, err := uintQuery(c, "limit", 20)
	if err != nil {
		return err
	}
	if limit == 0 || limit > 100 {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to 100")
	}
	q := c.Query("q")
	if q == "" {
		return errorf(fiber.StatusBadRequest, "bad_query", "q is required")
	}
	page, err := s.cfg.Runtime.Search(p.WorkspaceID, persistence.SearchQuery{Text: q, Cursor: c.Query("cursor"), Limit: int(limit)})
	switch {
	case errors.Is(err, persistence.ErrBadCursor):
		return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
	case errors.Is(err, engine.ErrInvalid):
		return errorf(fiber.StatusBadRequest, "bad_query", "%s", err.Error())
	case err != nil:
		return fromEngine(err)
	}
	hits := make([]searchHit, 0, len(page.Hits))
	for _, h := range page.Hits {
		conv, err := s.cfg.Runtime.Conversation(p.WorkspaceID, h.ConversationID)
		if errors.Is(err, actors.ErrNotFound) || errors.Is(err, persistence.ErrNotFound) {
			continue // deleted since it was indexed
		}
		if err != nil {
			return fromEngine(err)
		}
		field := string(h.Field)
		if h.Field == persistence.FieldMessage {
			field = "text"
		}
		hits = append(hits, searchHit{Conversation: conv, Field: field, Seq: h.Seq, Snippet: h.Snippet, At: h.At})
	}
	return c.JSON(fiber.Map{"hits": hits, "next_cursor": page.NextCursor, "partial": page.Partial})
}
