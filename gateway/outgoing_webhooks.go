package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/hooks"
)

// Outgoing webhooks: a workspace's subscriptions to its events (admins
// and owners), served by the hooks service, their one owner
// (docs/ARCHITECTURE.md, "Outgoing webhooks").
//
//	GET    /api/v1/webhooks                              {"webhooks": [...]} (secrets left out)
//	POST   /api/v1/webhooks                              {"url","events","secret"?,"active"?} → 201 with the secret (409 too_many_webhooks)
//	GET    /api/v1/webhooks/{id}                         one
//	PATCH  /api/v1/webhooks/{id}                         the fields given → 200
//	DELETE /api/v1/webhooks/{id}                         → 204, with its deliveries
//	GET    /api/v1/webhooks/{id}/deliveries              {"deliveries": [...]}, newest first
//	POST   /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver → 202 the new delivery
func (s *Server) outgoingWebhookRoutes(api fiber.Router) {
	admin := requireRole(engine.RoleAdmin)
	api.Get("/webhooks", admin, s.listHooks)
	api.Post("/webhooks", admin, s.createHook)
	api.Get("/webhooks/:id", admin, s.getHook)
	api.Patch("/webhooks/:id", admin, s.updateHook)
	api.Delete("/webhooks/:id", admin, s.deleteHook)
	api.Get("/webhooks/:id/deliveries", admin, s.hookDeliveries)
	api.Post("/webhooks/:id/deliveries/:delivery/redeliver", admin, s.redeliverHook)
}

type hookBody struct {
	URL    *string               `json:"url"`
	Secret *string               `json:"secret"`
	Events []engine.WebhookEvent `json:"events"`
	Active *bool                 `json:"active"`
}

// parseHookBody reads the body of a create (url and events required; a
// secret is made when none is given) or of an update (a field at
// least), checked by the engine's rule; any refusal is a 400 API error.
func parseHookBody(body []byte, create bool) (engine.WebhookChange, error) {
	var b hookBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.WebhookChange{}, err
	}
	ch := engine.WebhookChange{URL: b.URL, Secret: b.Secret, Events: b.Events, Active: b.Active}
	if create && (b.URL == nil || b.Events == nil) {
		return ch, errorf(fiber.StatusBadRequest, "invalid", "url and events are required")
	}
	if !create && b.URL == nil && b.Secret == nil && b.Events == nil && b.Active == nil {
		return ch, errorf(fiber.StatusBadRequest, "invalid", "name a field to change: url, secret, events or active")
	}
	if create && ch.Secret == nil {
		var k [24]byte
		_, _ = rand.Read(k[:]) // crypto/rand never fails
		sec := hex.EncodeToString(k[:])
		ch.Secret = &sec
	}
	probe := engine.Webhook{URL: "https://probe.invalid", Secret: "0123456789abcdef", Events: []engine.WebhookEvent{engine.WebhookHandoff}}
	if _, err := engine.ApplyWebhook(probe, ch, probe.CreatedAt); err != nil {
		return ch, fromEngine(err)
	}
	return ch, nil
}

func hookError(err error) error {
	switch {
	case errors.Is(err, hooks.ErrNotFound):
		return errNotFound
	case errors.Is(err, hooks.ErrTooMany):
		return errorf(fiber.StatusConflict, "too_many_webhooks", "a workspace has at most %d webhooks", engine.MaxWebhooks)
	}
	return fromEngine(err)
}

func (s *Server) parseHook(c *fiber.Ctx, create bool) (engine.WebhookChange, error) {
	ch, err := parseHookBody(c.Body(), create)
	if err != nil {
		return ch, err
	}
	return ch, validateBody(c, c.Body())
}

func (s *Server) listHooks(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"webhooks": s.hooks.List(who(c).WorkspaceID)})
}

func (s *Server) getHook(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	h, err := s.hooks.Get(who(c).WorkspaceID, id)
	if err != nil {
		return hookError(err)
	}
	return c.JSON(h)
}

func (s *Server) createHook(c *fiber.Ctx) error {
	ch, err := s.parseHook(c, true)
	if err != nil {
		return err
	}
	h, err := s.hooks.Create(who(c).WorkspaceID, ch, s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return hookError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(h)
}

func (s *Server) updateHook(c *fiber.Ctx) error {
	// The body is checked before the id, as every change route does: a
	// bad body is a 400 whatever the address names.
	ch, err := s.parseHook(c, false)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	h, err := s.hooks.Update(who(c).WorkspaceID, id, ch, s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return hookError(err)
	}
	return c.JSON(h)
}

func (s *Server) deleteHook(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.hooks.Delete(who(c).WorkspaceID, id); err != nil {
		return hookError(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) hookDeliveries(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ds, err := s.hooks.Deliveries(who(c).WorkspaceID, id)
	if err != nil {
		return hookError(err)
	}
	if ds == nil {
		ds = []engine.WebhookDelivery{}
	}
	return c.JSON(fiber.Map{"deliveries": ds})
}

func (s *Server) redeliverHook(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(c.Params("delivery"), 10, 64)
	if err != nil {
		return errNotFound
	}
	d, err := s.hooks.Redeliver(who(c).WorkspaceID, id, seq, s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return hookError(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(d)
}
