package gateway

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Canned replies: a workspace's saved replies, inserted into the
// composer by their short code. Every role lists them; admins and owners
// manage them (as in Chatwoot: agents use them).
//
//	GET    /api/v1/canned-replies        {"canned_replies": [...]}, by short code
//	POST   /api/v1/canned-replies        {"short_code","title","body"} → 201 (409 short_code_taken, 409 too_many_canned_replies)
//	GET    /api/v1/canned-replies/{id}   one
//	PATCH  /api/v1/canned-replies/{id}   the fields given → 200 (409 short_code_taken)
//	DELETE /api/v1/canned-replies/{id}   → 204
//
// The records have one owner, cannedReplies: its mutex holds every
// read-check-write (a free short code, the workspace's limit) together
// with its commit (docs/ARCHITECTURE.md, "Who owns what").
type cannedReplies struct {
	store *persistence.Store
	s     *Server
	mu    sync.Mutex
}

// cannedChecked, when set (by a test), runs between a create's check of
// the short codes and its commit: where a second writer would slip in
// without the mutex.
var cannedChecked func()

func (s *Server) cannedRoutes(api fiber.Router) {
	h := &cannedReplies{store: s.cfg.Store, s: s}
	api.Get("/canned-replies", h.list)
	api.Post("/canned-replies", requireRole(engine.RoleAdmin), h.create)
	api.Get("/canned-replies/:id", h.get)
	api.Patch("/canned-replies/:id", requireRole(engine.RoleAdmin), h.update)
	api.Delete("/canned-replies/:id", requireRole(engine.RoleAdmin), h.delete)
}

type cannedBody struct {
	ShortCode *string `json:"short_code"`
	Title     *string `json:"title"`
	Body      *string `json:"body"`
}

// parseCannedBody reads the body of a create (every field required) or
// of an update (at least one field) and returns the change, each field
// tidied and checked; any refusal is a 400 API error.
func parseCannedBody(body []byte, create bool) (engine.CannedReplyChange, error) {
	var b cannedBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.CannedReplyChange{}, err
	}
	ch := engine.CannedReplyChange{ShortCode: b.ShortCode, Title: b.Title, Body: b.Body}
	if create && (b.ShortCode == nil || b.Title == nil || b.Body == nil) {
		return ch, errorf(fiber.StatusBadRequest, "invalid", "short_code, title and body are required")
	}
	if !create && b.ShortCode == nil && b.Title == nil && b.Body == nil {
		return ch, errorf(fiber.StatusBadRequest, "invalid", "name a field to change: short_code, title or body")
	}
	r, err := engine.ApplyCannedReply(engine.CannedReply{}, ch, time.Time{})
	if err != nil {
		return ch, fromEngine(err)
	}
	for _, f := range []struct {
		p *string
		v string
	}{{ch.ShortCode, r.ShortCode}, {ch.Title, r.Title}, {ch.Body, r.Body}} {
		if f.p != nil {
			*f.p = f.v
		}
	}
	return ch, nil
}

var errShortCodeTaken = errorf(fiber.StatusConflict, "short_code_taken", "another canned reply has this short code")

func sortCanned(rs []engine.CannedReply) {
	slices.SortFunc(rs, func(a, b engine.CannedReply) int { return strings.Compare(a.ShortCode, b.ShortCode) })
}

func (h *cannedReplies) list(c *fiber.Ctx) error {
	rs, err := h.store.CannedReplies(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []engine.CannedReply{}
	}
	sortCanned(rs)
	return c.JSON(fiber.Map{"canned_replies": rs})
}

func (h *cannedReplies) get(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	r, err := h.store.CannedReply(who(c).WorkspaceID, id)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(r)
}

// parse reads and checks a body, against its parser and the route's
// schema.
func (h *cannedReplies) parse(c *fiber.Ctx, create bool) (engine.CannedReplyChange, error) {
	ch, err := parseCannedBody(c.Body(), create)
	if err != nil {
		return ch, err
	}
	return ch, validateBody(c, c.Body())
}

func (h *cannedReplies) create(c *fiber.Ctx) error {
	p := who(c)
	ch, err := h.parse(c, true)
	if err != nil {
		return err
	}
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	r, err := engine.ApplyCannedReply(engine.CannedReply{ID: engine.NewID(now), WorkspaceID: p.WorkspaceID, CreatedBy: p.UserID, CreatedAt: now}, ch, now)
	if err != nil {
		return fromEngine(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all, err := h.store.CannedReplies(p.WorkspaceID)
	if err != nil {
		return err
	}
	if len(all) >= engine.MaxCannedReplies {
		return errorf(fiber.StatusConflict, "too_many_canned_replies", "a workspace keeps at most %d canned replies: delete one first", engine.MaxCannedReplies)
	}
	if slices.ContainsFunc(all, func(o engine.CannedReply) bool { return o.ShortCode == r.ShortCode }) {
		return errShortCodeTaken
	}
	if cannedChecked != nil {
		cannedChecked()
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutCannedReply(&r) }); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (h *cannedReplies) update(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	ch, err := h.parse(c, false)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all, err := h.store.CannedReplies(ws)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(o engine.CannedReply) bool { return o.ID == id })
	if i < 0 {
		return errNotFound
	}
	r, err := engine.ApplyCannedReply(all[i], ch, h.s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return fromEngine(err)
	}
	if slices.ContainsFunc(all, func(o engine.CannedReply) bool { return o.ID != id && o.ShortCode == r.ShortCode }) {
		return errShortCodeTaken
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutCannedReply(&r) }); err != nil {
		return err
	}
	return c.JSON(r)
}

func (h *cannedReplies) delete(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.store.CannedReply(ws, id); err != nil {
		return fromEngine(err)
	}
	if err := h.commit(func(b *persistence.Batch) { b.DeleteCannedReply(ws, id) }); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// commit writes one synced batch of canned reply changes.
func (h *cannedReplies) commit(f func(b *persistence.Batch)) error {
	b := h.store.NewBatch()
	f(b)
	if err := h.store.Commit(b); err != nil {
		return fmt.Errorf("storing canned reply: %w", err)
	}
	return nil
}
