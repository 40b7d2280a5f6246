package gateway

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Pipelines and a contact's stage and owner. Every role lists the
// pipelines; admins and owners change them. The definitions have one
// owner, the runtime (actors/pipelines.go); a contact's stage and owner
// change through its actor.
//
//	GET    /api/v1/pipelines              {"pipelines": [...]}, oldest first (the default one created on first use)
//	POST   /api/v1/pipelines              {"name","stages":[{"name","color"}]} → 201
//	GET    /api/v1/pipelines/{id}?owner=  one, with counts of contacts per stage (of owner's only, given one)
//	PATCH  /api/v1/pipelines/{id}         {"name"?, "stages"?: the whole ordered list, {"id"} for a kept stage} → 200 (409 stage_in_use)
//	DELETE /api/v1/pipelines/{id}         → 204 (409 stage_in_use, 409 last_pipeline)
//	POST   /api/v1/contacts/{id}/stage    {"stage_id": id|null, "pipeline_id"?} → contact
//	POST   /api/v1/contacts/{id}/owner    {"owner_id": id|null} → contact
type pipelines struct {
	s  *Server
	rt *actors.Runtime
}

// maxStageCount is where the count of a stage's contacts stops: a board
// shows "10000+" beyond it.
const maxStageCount = 10_000

func (s *Server) pipelineRoutes(api fiber.Router) {
	h := &pipelines{s: s, rt: s.cfg.Runtime}
	api.Get("/pipelines", h.list)
	api.Post("/pipelines", requireRole(engine.RoleAdmin), h.create)
	api.Get("/pipelines/:id", h.get)
	api.Patch("/pipelines/:id", requireRole(engine.RoleAdmin), h.update)
	api.Delete("/pipelines/:id", requireRole(engine.RoleAdmin), h.delete)
	api.Post("/contacts/:id/stage", h.setStage)
	api.Post("/contacts/:id/owner", h.setOwner)
}

type stageBody struct {
	ID    *string `json:"id"`
	Name  string  `json:"name"`
	Color string  `json:"color"`
}

type pipelineBody struct {
	Name   *string      `json:"name"`
	Stages *[]stageBody `json:"stages"`
}

// parsePipelineBody reads the body of a create (name and stages
// required) or of an update (at least one of them) into a change; a
// stage id that is no id is a 400.
func parsePipelineBody(body []byte, create bool) (engine.PipelineChange, error) {
	var b pipelineBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.PipelineChange{}, err
	}
	if create && (b.Name == nil || b.Stages == nil) {
		return engine.PipelineChange{}, errorf(fiber.StatusBadRequest, "invalid", "name and stages are required")
	}
	if b.Name == nil && b.Stages == nil {
		return engine.PipelineChange{}, errorf(fiber.StatusBadRequest, "invalid", "name a field to change: name or stages")
	}
	ch := engine.PipelineChange{Name: b.Name}
	if b.Stages != nil {
		specs := make([]engine.StageSpec, len(*b.Stages))
		for i, s := range *b.Stages {
			specs[i] = engine.StageSpec{Name: s.Name, Color: s.Color}
			if s.ID != nil {
				if create {
					return ch, errorf(fiber.StatusBadRequest, "invalid", "the stages of a new pipeline have no id")
				}
				id, err := engine.ParseID(*s.ID)
				if err != nil {
					return ch, errorf(fiber.StatusBadRequest, "invalid", "stages[%d].id is not an id", i)
				}
				specs[i].ID = id
			}
		}
		ch.Stages = &specs
	}
	return ch, nil
}

// pipelineError turns the runtime's refusals into API errors.
func pipelineError(err error) error {
	switch {
	case errors.Is(err, actors.ErrStageInUse):
		return errorf(fiber.StatusConflict, "stage_in_use", "contacts stand in a stage this change removes: move them to another stage first")
	case errors.Is(err, actors.ErrLastPipeline):
		return errorf(fiber.StatusConflict, "last_pipeline", "a workspace keeps at least one pipeline")
	case errors.Is(err, actors.ErrTooManyPipelines):
		return errorf(fiber.StatusConflict, "too_many_pipelines", "a workspace keeps at most %d pipelines", engine.MaxPipelines)
	}
	return fromEngine(err)
}

func (h *pipelines) list(c *fiber.Ctx) error {
	ps, err := h.rt.Pipelines(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"pipelines": ps})
}

// pipelineView is a pipeline with how many contacts stand in each stage
// (at most maxStageCount).
type pipelineView struct {
	engine.Pipeline
	Counts map[string]int `json:"counts"`
}

// view counts the contacts of each stage of p, those owned by owner
// only when owner is not zero.
func (h *pipelines) view(ws engine.ID, p engine.Pipeline, owner engine.ID) (pipelineView, error) {
	v := pipelineView{Pipeline: p, Counts: make(map[string]int, len(p.Stages))}
	for _, s := range p.Stages {
		var n int
		var err error
		if owner != engine.ZeroID {
			n, err = h.s.cfg.Store.CountContactsInStageOwnedBy(ws, s.ID, owner, maxStageCount)
		} else {
			n, err = h.s.cfg.Store.CountContactsInStage(ws, s.ID, maxStageCount)
		}
		if err != nil {
			return v, err
		}
		v.Counts[s.ID.String()] = n
	}
	return v, nil
}

func (h *pipelines) find(c *fiber.Ctx) (engine.Pipeline, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return engine.Pipeline{}, err
	}
	ps, err := h.rt.Pipelines(who(c).WorkspaceID)
	if err != nil {
		return engine.Pipeline{}, err
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return engine.Pipeline{}, errNotFound
}

func (h *pipelines) get(c *fiber.Ctx) error {
	p, err := h.find(c)
	if err != nil {
		return err
	}
	f, err := contactFilter(c)
	if err != nil {
		return err
	}
	if f.Stage != engine.ZeroID {
		return errorf(fiber.StatusBadRequest, "bad_query", "a pipeline's counts take owner, not stage")
	}
	v, err := h.view(who(c).WorkspaceID, p, f.Owner)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h *pipelines) parse(c *fiber.Ctx, create bool) (engine.PipelineChange, error) {
	ch, err := parsePipelineBody(c.Body(), create)
	if err != nil {
		return ch, err
	}
	return ch, validateBody(c, c.Body())
}

func (h *pipelines) create(c *fiber.Ctx) error {
	ch, err := h.parse(c, true)
	if err != nil {
		return err
	}
	p, err := h.rt.CreatePipeline(who(c).WorkspaceID, ch)
	if err != nil {
		return pipelineError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

// update reads the body before the id, as every change does: a bad
// body is a 400 whatever the id.
func (h *pipelines) update(c *fiber.Ctx) error {
	ch, err := h.parse(c, false)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	p, err := h.rt.UpdatePipeline(who(c).WorkspaceID, id, ch)
	if err != nil {
		return pipelineError(err)
	}
	return c.JSON(p)
}

func (h *pipelines) delete(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := h.rt.DeletePipeline(who(c).WorkspaceID, id); err != nil {
		return pipelineError(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type setStageBody struct {
	StageID    *string `json:"stage_id"`
	PipelineID *string `json:"pipeline_id"`
}

// optionalID parses an id a body may give as null; name names the field
// in the error.
func optionalID(s *string, name string) (*engine.ID, error) {
	if s == nil {
		return nil, nil
	}
	id, err := engine.ParseID(*s)
	if err != nil {
		return nil, errorf(fiber.StatusBadRequest, "invalid", "%s must be an id or null", name)
	}
	return &id, nil
}

// contactAction reads the caller, the contact id of the path and the
// body into b of an action on a contact.
func contactAction(c *fiber.Ctx, b any) (*principal, engine.ID, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, id, err
	}
	return who(c), id, decodeJSON(c, b)
}

// setStage moves a contact to a stage through its actor
// (actors.Runtime.SetContactStage).
func (h *pipelines) setStage(c *fiber.Ctx) error {
	var b setStageBody
	p, id, err := contactAction(c, &b)
	if err != nil {
		return err
	}
	stage, err := optionalID(b.StageID, "stage_id")
	if err != nil {
		return err
	}
	pipe, err := optionalID(b.PipelineID, "pipeline_id")
	if err != nil {
		return err
	}
	var to *engine.ContactStage
	if stage != nil {
		to = &engine.ContactStage{StageID: *stage}
		if pipe != nil {
			to.PipelineID = *pipe
		}
	} else if pipe != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "pipeline_id goes with a stage_id")
	}
	if to != nil {
		// The default pipeline exists once anyone reads the pipelines.
		if _, err := h.rt.Pipelines(p.WorkspaceID); err != nil {
			return err
		}
	}
	by := p.UserID
	ct, err := h.rt.SetContactStage(c.UserContext(), p.WorkspaceID, id, to, &by)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(ct)
}

type setOwnerBody struct {
	OwnerID *string `json:"owner_id"`
}

// setOwner gives a contact an owner through its actor
// (actors.Runtime.SetContactOwner).
func (h *pipelines) setOwner(c *fiber.Ctx) error {
	var b setOwnerBody
	p, id, err := contactAction(c, &b)
	if err != nil {
		return err
	}
	owner, err := optionalID(b.OwnerID, "owner_id")
	if err != nil {
		return err
	}
	by := p.UserID
	ct, err := h.rt.SetContactOwner(c.UserContext(), p.WorkspaceID, id, owner, &by)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(ct)
}

// contactFilter reads the stage and owner filters of the contact list.
func contactFilter(c *fiber.Ctx) (persistence.ContactFilter, error) {
	var f persistence.ContactFilter
	for _, q := range []struct {
		name string
		to   *engine.ID
	}{{"stage", &f.Stage}, {"owner", &f.Owner}} {
		v := c.Query(q.name)
		if v == "" {
			continue
		}
		id, err := engine.ParseID(v)
		if err != nil {
			return f, errorf(fiber.StatusBadRequest, "bad_query", "%s must be an id", q.name)
		}
		*q.to = id
	}
	return f, nil
}
