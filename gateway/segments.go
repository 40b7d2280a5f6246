package gateway

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Segments: saved filters over contacts (engine/segment.go). Every role
// lists them, counts and reads their members, and filters the contact
// list (GET /contacts?segment=) and the inbox (GET
// /conversations?segment=) by one; admins and owners change them. The
// definitions have one owner, the runtime (actors/segments.go); a
// contact's membership is written only by its actor.
//
//	GET    /api/v1/segments                     {"segments": [...]}, oldest first, each with count and backfill
//	POST   /api/v1/segments                     {"name","match","conditions"} → 201 (409 too_many_segments)
//	POST   /api/v1/segments/preview             {"match","conditions"} → {"count","scanned","partial"}
//	GET    /api/v1/segments/{id}                one, with count and backfill
//	PATCH  /api/v1/segments/{id}                {"name"?, "match"?, "conditions"?} → 200
//	DELETE /api/v1/segments/{id}                → 204
//	GET    /api/v1/segments/{id}/members        {"contacts","next_cursor"}, newest first
//	GET    /api/v1/segments/{id}/count          {"count","backfill"}
type segments struct {
	s  *Server
	rt *actors.Runtime
}

// maxPreviewScan bounds how many contacts, newest first, a preview
// evaluates: beyond it the count is partial.
const maxPreviewScan = 5000

func (s *Server) segmentRoutes(api fiber.Router) {
	h := &segments{s: s, rt: s.cfg.Runtime}
	api.Get("/segments", h.list)
	api.Post("/segments", requireRole(engine.RoleAdmin), h.create)
	api.Post("/segments/preview", h.preview)
	api.Get("/segments/:id", h.get)
	api.Patch("/segments/:id", requireRole(engine.RoleAdmin), h.update)
	api.Delete("/segments/:id", requireRole(engine.RoleAdmin), h.delete)
	api.Get("/segments/:id/members", h.members)
	api.Get("/segments/:id/count", h.count)
}

type segmentBody struct {
	Name       *string                    `json:"name"`
	Match      *engine.SegmentMatch       `json:"match"`
	Conditions *[]engine.SegmentCondition `json:"conditions"`
}

// parseSegmentBody reads the body of a create (name and conditions
// required, match all by default), of an update (at least one field) or
// of a preview (conditions required, no name needed) into a segment,
// checked whole by engine.ValidateSegment (an update's is checked again
// with what it keeps). Any refusal is a 400.
func parseSegmentBody(body []byte, kind string) (segmentBody, engine.Segment, error) {
	var b segmentBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return b, engine.Segment{}, err
	}
	var s engine.Segment
	switch kind {
	case "create", "preview":
		if b.Conditions == nil || kind == "create" && b.Name == nil {
			return b, s, errorf(fiber.StatusBadRequest, "invalid", "name and conditions are required")
		}
	default:
		if b.Name == nil && b.Match == nil && b.Conditions == nil {
			return b, s, errorf(fiber.StatusBadRequest, "invalid", "name a field to change: name, match or conditions")
		}
		return b, s, nil
	}
	s.Name, s.Match, s.Conditions = "preview", engine.MatchAll, *b.Conditions
	if b.Name != nil {
		s.Name = *b.Name
	}
	if b.Match != nil {
		s.Match = *b.Match
	}
	return b, s, fromEngine(engine.ValidateSegment(&s))
}

// segmentError turns the runtime's refusals into API errors.
func segmentError(err error) error {
	switch {
	case errors.Is(err, actors.ErrTooManySegments):
		return errorf(fiber.StatusConflict, "too_many_segments", "a workspace keeps at most %d segments", engine.MaxSegments)
	case errors.Is(err, actors.ErrSegmentNotFound):
		return errNotFound
	}
	return fromEngine(err)
}

// segmentView is a segment with how many contacts are members and its
// backfill's progress.
type segmentView struct {
	engine.Segment
	Count    int64         `json:"count"`
	Backfill *backfillView `json:"backfill,omitempty"`
}

// backfillView is a backfill's progress as the API shows it.
type backfillView struct {
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	Finished   bool      `json:"finished"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

func (h *segments) view(sg engine.Segment) (segmentView, error) {
	v := segmentView{Segment: sg}
	n, err := h.s.cfg.Store.SegmentCount(sg.WorkspaceID, sg.ID)
	if err != nil {
		return v, err
	}
	v.Count = max(n, 0)
	if v.Backfill, err = h.backfill(sg); err != nil {
		return v, err
	}
	return v, nil
}

func (h *segments) backfill(sg engine.Segment) (*backfillView, error) {
	p, err := h.rt.SegmentBackfill(sg.WorkspaceID, sg.ID)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p.Version != sg.Version {
		return &backfillView{}, nil // the edit's backfill is about to start
	}
	return &backfillView{Done: p.Done, Total: max(p.Total, p.Done), Finished: !p.FinishedAt.IsZero(),
		StartedAt: p.StartedAt, FinishedAt: p.FinishedAt}, nil
}

func (h *segments) list(c *fiber.Ctx) error {
	segs, err := h.rt.Segments(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	out := make([]segmentView, len(segs))
	for i, sg := range segs {
		if out[i], err = h.view(sg); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{"segments": out})
}

func (h *segments) find(c *fiber.Ctx) (engine.Segment, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return engine.Segment{}, err
	}
	sg, err := h.rt.Segment(who(c).WorkspaceID, id)
	return sg, segmentError(err)
}

func (h *segments) get(c *fiber.Ctx) error {
	sg, err := h.find(c)
	if err != nil {
		return err
	}
	v, err := h.view(sg)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h *segments) create(c *fiber.Ctx) error {
	_, sg, err := parseSegmentBody(c.Body(), "create")
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	now := h.rt.Clock().Now().UTC()
	sg.ID, sg.WorkspaceID, sg.CreatedAt, sg.UpdatedAt = engine.NewID(now), who(c).WorkspaceID, now, now
	sg, err = h.rt.CreateSegment(c.Context(), sg)
	if err != nil {
		return segmentError(err)
	}
	v, err := h.view(sg)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

// update reads the body before the id: a bad body is a 400 whatever the
// id.
func (h *segments) update(c *fiber.Ctx) error {
	b, _, err := parseSegmentBody(c.Body(), "update")
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	cur, err := h.find(c)
	if err != nil {
		return err
	}
	next := cur
	if b.Name != nil {
		next.Name = *b.Name
	}
	if b.Match != nil {
		next.Match = *b.Match
	}
	if b.Conditions != nil {
		next.Conditions = *b.Conditions
	}
	sg, err := h.rt.UpdateSegment(c.Context(), cur.WorkspaceID, cur.ID, next)
	if err != nil {
		return segmentError(err)
	}
	v, err := h.view(sg)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h *segments) delete(c *fiber.Ctx) error {
	sg, err := h.find(c)
	if err != nil {
		return err
	}
	if err := h.rt.DeleteSegment(c.Context(), sg.WorkspaceID, sg.ID); err != nil {
		return segmentError(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *segments) members(c *fiber.Ctx) error {
	sg, err := h.find(c)
	if err != nil {
		return err
	}
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return err
	}
	if limit == 0 || limit > persistence.MaxContactPage {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", persistence.MaxContactPage)
	}
	page, err := h.s.cfg.Store.SegmentMembers(sg.WorkspaceID, sg.ID, c.Query("cursor"), int(limit))
	if errors.Is(err, persistence.ErrBadCursor) {
		return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
	}
	if err != nil {
		return err
	}
	cs := page.Contacts
	if cs == nil {
		cs = []engine.Contact{}
	}
	return c.JSON(fiber.Map{"contacts": cs, "next_cursor": page.NextCursor})
}

func (h *segments) count(c *fiber.Ctx) error {
	sg, err := h.find(c)
	if err != nil {
		return err
	}
	v, err := h.view(sg)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"count": v.Count, "backfill": v.Backfill})
}

// preview counts how many of the newest contacts (up to maxPreviewScan)
// a definition being edited would hold, with engine.SegmentMatches over
// the contacts as committed (their activity read from their
// conversations): nothing is written.
func (h *segments) preview(c *fiber.Ctx) error {
	_, sg, err := parseSegmentBody(c.Body(), "preview")
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	now := h.rt.Clock().Now()
	count, scanned, cursor := 0, 0, ""
	for scanned < maxPreviewScan {
		page, err := h.s.cfg.Store.Contacts(ws, cursor, persistence.MaxContactPage)
		if err != nil {
			return err
		}
		for _, ct := range page.Contacts {
			if err := h.withActivity(ws, &ct); err != nil {
				return err
			}
			if engine.SegmentMatches(sg, ct, now) {
				count++
			}
			scanned++
		}
		if page.NextCursor == "" {
			return c.JSON(fiber.Map{"count": count, "scanned": scanned, "partial": false})
		}
		cursor = page.NextCursor
	}
	return c.JSON(fiber.Map{"count": count, "scanned": scanned, "partial": true})
}

// withActivity fills ct's activity from its conversations as committed
// (the record's may lag until a backfill evaluates the contact).
func (h *segments) withActivity(ws engine.ID, ct *engine.Contact) error {
	convs, err := h.s.cfg.Store.ContactConversations(ws, ct.ID)
	if err != nil {
		return err
	}
	var last time.Time
	tags := []string{}
	for _, id := range convs {
		conv, err := h.s.cfg.Store.Conversation(ws, id)
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		if conv.LastInboundAt.After(last) {
			last = conv.LastInboundAt
		}
		tags = append(tags, conv.Tags...)
	}
	ct.Activity, _ = engine.UpdateActivity(ct.Activity, last, tags)
	return nil
}

// segmentQuery reads the segment= query: zero when absent, else a
// segment of the caller's workspace (another id is a 400).
func (s *Server) segmentQuery(c *fiber.Ctx) (engine.ID, error) {
	v := c.Query("segment")
	if v == "" {
		return engine.ZeroID, nil
	}
	id, err := engine.ParseID(v)
	if err != nil {
		return engine.ZeroID, errorf(fiber.StatusBadRequest, "bad_query", "segment must be a segment's id")
	}
	if _, err := s.cfg.Runtime.Segment(who(c).WorkspaceID, id); err != nil {
		if errors.Is(err, actors.ErrSegmentNotFound) {
			return engine.ZeroID, errorf(fiber.StatusBadRequest, "bad_query", "segment is not a segment of the workspace")
		}
		return engine.ZeroID, err
	}
	return id, nil
}
