package gateway

import (
	"errors"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Automations: a workspace's rules (docs/ARCHITECTURE.md, "Automations").
// Every role lists them and reads their run logs; admins and owners
// manage them.
//
//	GET    /api/v1/automations               {"automations": [...]}, oldest first
//	POST   /api/v1/automations               a rule body → 201 (409 too_many_automations)
//	POST   /api/v1/automations/presets       {"preset", "users" | "stage_id"} → 201: a one-click rule
//	GET    /api/v1/automations/{id}          one
//	PUT    /api/v1/automations/{id}          a rule body → 200
//	PATCH  /api/v1/automations/{id}          {"enabled"} → 200
//	DELETE /api/v1/automations/{id}          → 204
//	GET    /api/v1/automations/{id}/runs     {"runs", "next_cursor"}, newest first
//
// The rules' owner is the runtime's automation runner (actors/automations.go).

func (s *Server) automationRoutes(api fiber.Router) {
	api.Get("/automations", s.listAutomations)
	api.Post("/automations", requireRole(engine.RoleAdmin), s.createAutomation)
	api.Post("/automations/presets", requireRole(engine.RoleAdmin), s.createAutomationPreset)
	api.Get("/automations/:id", s.getAutomation)
	api.Put("/automations/:id", requireRole(engine.RoleAdmin), s.replaceAutomation)
	api.Patch("/automations/:id", requireRole(engine.RoleAdmin), s.enableAutomation)
	api.Delete("/automations/:id", requireRole(engine.RoleAdmin), s.deleteAutomation)
	api.Get("/automations/:id/runs", s.automationRuns)
}

func automationError(err error) error {
	switch {
	case errors.Is(err, actors.ErrTooManyAutomations):
		return errorf(fiber.StatusConflict, "too_many_automations", "a workspace keeps at most %d automations: delete one first", engine.MaxAutomations)
	case errors.Is(err, actors.ErrAutomationNotFound):
		return errNotFound
	case errors.Is(err, persistence.ErrBadCursor):
		return errorf(fiber.StatusBadRequest, "invalid", "cursor is not one this server gave")
	}
	return fromEngine(err)
}

func (s *Server) listAutomations(c *fiber.Ctx) error {
	rs := s.cfg.Runtime.Automations(who(c).WorkspaceID)
	if rs == nil {
		rs = []engine.Automation{}
	}
	if !who(c).Role.AtLeast(engine.RoleAdmin) {
		for i := range rs {
			rs[i] = withoutSecrets(rs[i])
		}
	}
	return c.JSON(fiber.Map{"automations": rs})
}

// withoutSecrets returns rule a with its call_webhook secrets left out:
// those who may read rules but not manage them (agents) do not get them.
func withoutSecrets(a engine.Automation) engine.Automation {
	a.Actions = slices.Clone(a.Actions)
	for i := range a.Actions {
		a.Actions[i].Secret = ""
	}
	return a
}

func (s *Server) getAutomation(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	a, err := s.cfg.Runtime.Automation(who(c).WorkspaceID, id)
	if err != nil {
		return automationError(err)
	}
	if !who(c).Role.AtLeast(engine.RoleAdmin) {
		a = withoutSecrets(a)
	}
	return c.JSON(a)
}

// parseAutomation reads a rule body (engine.ParseAutomationBody) and
// checks it against the route's schema.
func parseAutomation(c *fiber.Ctx) (engine.AutomationBody, error) {
	b, err := engine.ParseAutomationBody(c.Body())
	if err != nil {
		return b, errorf(fiber.StatusBadRequest, "invalid", "%s", err.Error())
	}
	return b, validateBody(c, c.Body())
}

func (s *Server) createAutomation(c *fiber.Ctx) error {
	b, err := parseAutomation(c)
	if err != nil {
		return err
	}
	a, err := s.cfg.Runtime.SaveAutomation(who(c).WorkspaceID, engine.ZeroID, b, "")
	if err != nil {
		return automationError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(a)
}

func (s *Server) replaceAutomation(c *fiber.Ctx) error {
	b, err := parseAutomation(c)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	a, err := s.cfg.Runtime.SaveAutomation(who(c).WorkspaceID, id, b, "")
	if err != nil {
		return automationError(err)
	}
	return c.JSON(a)
}

type automationEnable struct {
	Enabled *bool `json:"enabled"`
}

func (s *Server) enableAutomation(c *fiber.Ctx) error {
	var b automationEnable
	if err := decodeJSONBytes(c.Body(), &b); err != nil {
		return err
	}
	if b.Enabled == nil {
		return errorf(fiber.StatusBadRequest, "invalid", "enabled is required")
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	a, err := s.cfg.Runtime.SetAutomationEnabled(who(c).WorkspaceID, id, *b.Enabled)
	if err != nil {
		return automationError(err)
	}
	return c.JSON(a)
}

func (s *Server) deleteAutomation(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Runtime.DeleteAutomation(who(c).WorkspaceID, id); err != nil {
		return automationError(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type automationPresetBody struct {
	Preset  string      `json:"preset"`
	Users   []engine.ID `json:"users"`
	StageID string      `json:"stage_id"`
}

func (s *Server) createAutomationPreset(c *fiber.Ctx) error {
	var b automationPresetBody
	if err := decodeJSONBytes(c.Body(), &b); err != nil {
		return err
	}
	var stage engine.ID
	if b.StageID != "" {
		id, err := engine.ParseID(b.StageID)
		if err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "stage_id is not an id")
		}
		stage = id
	}
	body, err := engine.AutomationPreset(b.Preset, b.Users, stage)
	if err != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "%s", err.Error())
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	a, err := s.cfg.Runtime.SaveAutomation(who(c).WorkspaceID, engine.ZeroID, body, b.Preset)
	if err != nil {
		return automationError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(a)
}

const automationRunsMaxLimit = 200

func (s *Server) automationRuns(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > automationRunsMaxLimit {
			return errorf(fiber.StatusBadRequest, "invalid", "limit must be 1 to %d", automationRunsMaxLimit)
		}
		limit = n
	}
	runs, next, err := s.cfg.Runtime.AutomationRuns(who(c).WorkspaceID, id, c.Query("cursor"), limit)
	if err != nil {
		return automationError(err)
	}
	if runs == nil {
		runs = []engine.AutomationRun{}
	}
	for i := range runs {
		// A run keeps its rule's actions; the log shows no secret.
		runs[i].Actions = withoutSecrets(engine.Automation{Actions: runs[i].Actions}).Actions
	}
	return c.JSON(fiber.Map{"runs": runs, "next_cursor": next})
}
