package gateway

import (
	"errors"
	"strings"
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

// searchRounds bounds the store pages one filtered search request reads
// to fill its page: past it the page is returned short, with the cursor
// to go on from.
const searchRounds = 8

// search answers GET /api/v1/search: conversations by contact name,
// phone, email, company and message text, most recent activity first;
// only those of a folder and a channel when folder and channel are given.
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
	folder := engine.Folder(c.Query("folder"))
	if folder != "" && !folder.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "folder must be open, solved, spam or archived")
	}
	ch := engine.Channel(c.Query("channel"))
	if ch != "" && !ch.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "unknown channel")
	}
	hits := make([]searchHit, 0, limit)
	cursor, partial := c.Query("cursor"), false
	// The store pages hold every folder and channel: read on until the
	// page is full, each store page no longer than what is missing so
	// that its cursor skips no hit.
	for range searchRounds {
		page, err := s.cfg.Runtime.Search(p.WorkspaceID, persistence.SearchQuery{Text: q, Cursor: cursor, Limit: int(limit) - len(hits)})
		switch {
		case errors.Is(err, persistence.ErrBadCursor):
			return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
		case errors.Is(err, engine.ErrInvalid):
			// The engine's words are for logs: say what is wrong with q.
			return errorf(fiber.StatusBadRequest, "bad_query", "%s", strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": "))
		case err != nil:
			return fromEngine(err)
		}
		for _, h := range page.Hits {
			conv, err := s.cfg.Runtime.Conversation(p.WorkspaceID, h.ConversationID)
			if errors.Is(err, actors.ErrNotFound) || errors.Is(err, persistence.ErrNotFound) {
				continue // deleted since it was indexed
			}
			if err != nil {
				return fromEngine(err)
			}
			if folder != "" && conv.Folder != folder || ch != "" && conv.Channel != ch {
				continue
			}
			field := string(h.Field)
			if h.Field == persistence.FieldMessage {
				field = "text"
			}
			hits = append(hits, searchHit{Conversation: conv, Field: field, Seq: h.Seq, Snippet: h.Snippet, At: h.At})
		}
		cursor, partial = page.NextCursor, page.Partial
		if cursor == "" || len(hits) == int(limit) || partial {
			break
		}
	}
	return c.JSON(fiber.Map{"hits": hits, "next_cursor": cursor, "partial": partial})
}
