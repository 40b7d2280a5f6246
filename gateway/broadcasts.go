package gateway

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Broadcasts: one WhatsApp template sent to an audience (engine/
// broadcast.go, docs/ARCHITECTURE.md "Broadcasts"). Owners and admins
// create and control them, every role reads them. Each broadcast has one
// owner, its actor in the runtime (actors/broadcasts.go): it writes the
// broadcast, its recipients and their counts.
//
//	POST /api/v1/broadcasts                    create → 201 the broadcast
//	GET  /api/v1/broadcasts                    {"broadcasts","next_cursor"}, newest first
//	POST /api/v1/broadcasts/preview            the create body → {"total","skipped","samples"}; nothing stored
//	GET  /api/v1/broadcasts/{id}               the broadcast with its counts
//	POST /api/v1/broadcasts/{id}/pause         → 200 (409 bad_state)
//	POST /api/v1/broadcasts/{id}/resume        → 200 (409 bad_state)
//	POST /api/v1/broadcasts/{id}/cancel        → 200 (409 bad_state)
//	GET  /api/v1/broadcasts/{id}/recipients    {"recipients","next_cursor"} (?status=&cursor=&limit=)
//	GET  /api/v1/contacts/{id}/broadcasts      {"broadcasts"}: the broadcasts the contact received
//
// v1 broadcasts are WhatsApp only: Messenger and Instagram allow a
// business to write outside their 24-hour window only with a message
// tag for a narrow purpose (HUMAN_AGENT: a person's reply within 7
// days; post-purchase and event updates...), never for marketing, so
// they have no broadcast.
type broadcasts struct{ s *Server }

// maxBroadcastPage bounds a page of broadcasts or recipients.
const maxBroadcastPage = 500

func (s *Server) broadcastRoutes(api fiber.Router) {
	h := &broadcasts{s: s}
	api.Get("/broadcasts", h.list)
	api.Post("/broadcasts", requireRole(engine.RoleAdmin), h.create)
	api.Post("/broadcasts/preview", requireRole(engine.RoleAdmin), h.preview)
	api.Get("/broadcasts/:id", h.get)
	api.Post("/broadcasts/:id/pause", requireRole(engine.RoleAdmin), h.control(engine.BroadcastPause))
	api.Post("/broadcasts/:id/resume", requireRole(engine.RoleAdmin), h.control(engine.BroadcastResume))
	api.Post("/broadcasts/:id/cancel", requireRole(engine.RoleAdmin), h.control(engine.BroadcastCancel))
	api.Get("/broadcasts/:id/recipients", h.recipients)
	api.Get("/contacts/:id/broadcasts", h.ofContact)
}

// broadcastBody is the body of a create or a preview.
type broadcastBody struct {
	Name           string                     `json:"name"`
	AccountID      string                     `json:"account_id"`
	Template       engine.BroadcastTemplate   `json:"template"`
	Variables      []engine.BroadcastVariable `json:"variables"`
	HeaderMediaURL string                     `json:"header_media_url"`
	Audience       engine.BroadcastAudience   `json:"audience"`
	ScheduledAt    string                     `json:"scheduled_at"`
	RatePerSecond  int                        `json:"rate_per_second"`
}

// parseBroadcastBody reads a create or preview body into a broadcast
// (not yet checked against its template); a refusal is a 400. A
// scheduled_at without an offset is read in loc, the workspace's plan
// time zone (UTC when it has none).
func parseBroadcastBody(body []byte, loc *time.Location) (engine.Broadcast, error) {
	var b broadcastBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.Broadcast{}, err
	}
	bc := engine.Broadcast{Name: b.Name, AccountID: strings.TrimSpace(b.AccountID), Template: b.Template, Variables: b.Variables,
		HeaderMediaURL: strings.TrimSpace(b.HeaderMediaURL), Audience: b.Audience, RatePerSecond: b.RatePerSecond}
	if bc.Variables == nil {
		bc.Variables = []engine.BroadcastVariable{}
	}
	if b.ScheduledAt != "" {
		t, err := engine.ParseBroadcastTime(b.ScheduledAt, loc)
		if err != nil {
			return bc, fromEngine(err)
		}
		bc.ScheduledAt = t
	}
	return bc, nil
}

// prepare reads and checks a create or preview body: the number is a
// WhatsApp account of the workspace with its Business Account, the
// template exists there and is approved, the variables cover it, the
// rate is within the number's tier. It returns the broadcast and its
// template.
func (h *broadcasts) prepare(c *fiber.Ctx) (engine.Broadcast, engine.Template, error) {
	ws := who(c).WorkspaceID
	bc, err := parseBroadcastBody(c.Body(), engine.WorkspacePlanLocation(h.s.ops.record(ws).TimeZone))
	if err != nil {
		return bc, engine.Template{}, err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return bc, engine.Template{}, err
	}
	acct, ok := h.s.cfg.Accounts.Get(engine.ChannelWhatsApp, bc.AccountID)
	if bc.AccountID == "" || !ok || acct.WorkspaceID != ws {
		return bc, engine.Template{}, errorf(fiber.StatusBadRequest, "invalid", "account_id must be a WhatsApp number (phone number id) of the workspace")
	}
	if acct.WABAID == "" {
		return bc, engine.Template{}, errNoWABA
	}
	_, maxRate, _ := engine.BroadcastTierLimit(acct.MessagingTier)
	t, err := h.s.cfg.Store.Template(ws, acct.WABAID, bc.Template.Name, bc.Template.Language)
	if errors.Is(err, persistence.ErrNotFound) {
		return bc, t, errorf(fiber.StatusNotFound, "template_not_found", "no template %q in %q: sync the templates, or check its name and language", bc.Template.Name, bc.Template.Language)
	}
	if err != nil {
		return bc, t, err
	}
	if err := engine.ValidateBroadcast(&bc, t, maxRate); err != nil {
		return bc, t, templateError(err)
	}
	bc.WorkspaceID, bc.WABAID, bc.Tier = ws, acct.WABAID, acct.MessagingTier
	return bc, t, nil
}

func (h *broadcasts) create(c *fiber.Ctx) error {
	p := who(c)
	bc, _, err := h.prepare(c)
	if err != nil {
		return err
	}
	// The plan's broadcasts a month: counted as the broadcast is created
	// (MayStartBroadcast, operator.go); past the limit a 402 plan_limit.
	if err := h.s.MayStartBroadcast(p.WorkspaceID); err != nil {
		return err
	}
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	if bc.ScheduledAt.IsZero() || bc.ScheduledAt.Before(now) {
		bc.ScheduledAt = now
	}
	bc.ID, bc.State, bc.CreatedAt = engine.NewID(now), engine.BroadcastScheduled, now
	bc.CreatedBy = p.UserID.String()
	if p.UserID == engine.ZeroID {
		bc.CreatedBy = "api"
	}
	out, err := h.s.cfg.Runtime.CreateBroadcast(c.UserContext(), bc)
	if err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// broadcastSample is a preview's recipient with the template filled.
type broadcastSample struct {
	ContactID string `json:"contact_id"`
	Name      string `json:"name"`
	Phone     string `json:"phone"`
	Text      string `json:"text"`
}

type broadcastSkip struct {
	ContactID string `json:"contact_id,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Reason    string `json:"reason"`
}

// preview resolves the audience as it stands now, without storing
// anything (a CSV's new phones are counted, not made contacts).
func (h *broadcasts) preview(c *fiber.Ctx) error {
	bc, t, err := h.prepare(c)
	if err != nil {
		return err
	}
	entries, err := h.s.cfg.Runtime.ResolveBroadcastAudience(c.UserContext(), bc.WorkspaceID, &bc.Audience, false)
	if err != nil {
		return fromEngine(err)
	}
	skipped := []broadcastSkip{}
	samples := []broadcastSample{}
	for _, e := range entries {
		var id string
		if e.ContactID != engine.ZeroID {
			id = e.ContactID.String()
		}
		skip := e.Skip
		var text string
		if skip == "" {
			contact := e.Contact
			if contact == nil {
				contact = &engine.Contact{Profile: engine.Profile{Name: e.Name, Phone: "+" + e.Phone}}
			}
			content, err := engine.BroadcastMessage(&bc, t, contact)
			if err != nil {
				skip = engine.SkipVariables
			}
			text = content.Text
		}
		if skip != "" {
			s := broadcastSkip{ContactID: id, Reason: skip}
			if e.ContactID == engine.ZeroID {
				s.Phone = e.Phone
			}
			skipped = append(skipped, s)
			continue
		}
		if len(samples) < 10 {
			samples = append(samples, broadcastSample{ContactID: id, Name: e.Name, Phone: e.Phone, Text: text})
		}
	}
	return c.JSON(fiber.Map{"total": len(entries), "skipped": skipped, "samples": samples})
}

func (h *broadcasts) list(c *fiber.Ctx) error {
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return err
	}
	if limit == 0 || limit > maxBroadcastPage {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", maxBroadcastPage)
	}
	bcs, next, err := h.s.cfg.Store.Broadcasts(who(c).WorkspaceID, c.Query("cursor"), int(limit))
	if errors.Is(err, persistence.ErrBadCursor) {
		return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
	}
	if err != nil {
		return err
	}
	if bcs == nil {
		bcs = []engine.Broadcast{}
	}
	return c.JSON(fiber.Map{"broadcasts": bcs, "next_cursor": next})
}

func broadcastError(err error) error {
	switch {
	case errors.Is(err, actors.ErrBroadcastNotFound):
		return errNotFound
	case errors.Is(err, engine.ErrBroadcastState):
		return errorf(fiber.StatusConflict, "bad_state", "%s", strings.TrimPrefix(err.Error(), engine.ErrBroadcastState.Error()+": "))
	}
	return fromEngine(err)
}

func (h *broadcasts) get(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	bc, err := h.s.cfg.Runtime.Broadcast(c.UserContext(), who(c).WorkspaceID, id)
	if err != nil {
		return broadcastError(err)
	}
	return c.JSON(bc)
}

func (h *broadcasts) control(action engine.BroadcastAction) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		bc, err := h.s.cfg.Runtime.ControlBroadcast(c.UserContext(), who(c).WorkspaceID, id, action)
		if err != nil {
			return broadcastError(err)
		}
		return c.JSON(bc)
	}
}

// recipientView is a recipient as the API shows it.
type recipientView struct {
	ContactID      string                 `json:"contact_id"`
	Name           string                 `json:"name"`
	Phone          string                 `json:"phone"`
	Status         engine.RecipientStatus `json:"status"`
	ErrorCode      string                 `json:"error_code,omitempty"`
	ErrorReason    string                 `json:"error_reason,omitempty"`
	SkipReason     string                 `json:"skip_reason,omitempty"`
	MessageID      string                 `json:"message_id,omitempty"`
	ConversationID string                 `json:"conversation_id,omitempty"`
	UpdatedAt      time.Time              `json:"updated_at"`
}

func viewRecipient(r *engine.BroadcastRecipient) recipientView {
	v := recipientView{ContactID: r.ContactID.String(), Name: r.Name, Phone: r.Phone, Status: r.Status.Public(),
		ErrorCode: r.ErrorCode, ErrorReason: r.ErrorReason, SkipReason: r.SkipReason, MessageID: r.MessageID, UpdatedAt: r.UpdatedAt}
	if r.ConversationID != engine.ZeroID {
		v.ConversationID = r.ConversationID.String()
	}
	return v
}

// recipients lists a broadcast's recipients in contact order, of one
// status when asked; the cursor is the last contact id of the page.
func (h *broadcasts) recipients(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	if _, err := h.s.cfg.Store.Broadcast(ws, id); err != nil {
		return fromEngine(err)
	}
	limit, err := uintQuery(c, "limit", 100)
	if err != nil {
		return err
	}
	if limit == 0 || limit > maxBroadcastPage {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", maxBroadcastPage)
	}
	status := engine.RecipientStatus(c.Query("status"))
	if status != "" && !slices.Contains(engine.RecipientStatuses, status) {
		return errorf(fiber.StatusBadRequest, "bad_query", "status must be queued, sent, delivered, read, failed, replied, opted_out or skipped")
	}
	after := engine.ZeroID
	if cur := c.Query("cursor"); cur != "" {
		if after, err = engine.ParseID(cur); err != nil {
			return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
		}
	}
	out := []recipientView{}
	next := ""
	err = h.s.cfg.Store.EachBroadcastRecipient(ws, id, after, func(r *engine.BroadcastRecipient) bool {
		if status != "" && r.Status.Public() != status {
			return true
		}
		if len(out) == int(limit) {
			next = out[len(out)-1].ContactID
			return false
		}
		out = append(out, viewRecipient(r))
		return true
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"recipients": out, "next_cursor": next})
}

// contactBroadcast is a broadcast the contact received, with its
// recipient's status.
type contactBroadcast struct {
	BroadcastID    string                 `json:"broadcast_id"`
	Name           string                 `json:"name"`
	Template       string                 `json:"template"`
	Status         engine.RecipientStatus `json:"status"`
	SentAt         time.Time              `json:"sent_at,omitzero"`
	ErrorCode      string                 `json:"error_code,omitempty"`
	ErrorReason    string                 `json:"error_reason,omitempty"`
	SkipReason     string                 `json:"skip_reason,omitempty"`
	ConversationID string                 `json:"conversation_id,omitempty"`
	UpdatedAt      time.Time              `json:"updated_at"`
}

// ofContact lists the broadcasts the contact was a recipient of, newest
// first.
func (h *broadcasts) ofContact(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	if _, err := h.s.cfg.Store.Contact(ws, id); err != nil {
		return fromEngine(err)
	}
	ids, err := h.s.cfg.Store.ContactBroadcasts(ws, id, 1000)
	if err != nil {
		return err
	}
	out := []contactBroadcast{}
	for i := len(ids) - 1; i >= 0; i-- {
		bc, err := h.s.cfg.Store.Broadcast(ws, ids[i])
		if err != nil {
			continue
		}
		r, err := h.s.cfg.Store.BroadcastRecipient(ws, ids[i], id)
		if err != nil {
			continue
		}
		v := contactBroadcast{BroadcastID: bc.ID.String(), Name: bc.Name, Template: bc.Template.Name, Status: r.Status.Public(),
			SentAt: r.SentAt, ErrorCode: r.ErrorCode, ErrorReason: r.ErrorReason, SkipReason: r.SkipReason, UpdatedAt: r.UpdatedAt}
		if r.ConversationID != engine.ZeroID {
			v.ConversationID = r.ConversationID.String()
		}
		out = append(out, v)
	}
	return c.JSON(fiber.Map{"broadcasts": out})
}
