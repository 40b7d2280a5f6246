package gateway

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
)

// Contact memories: short facts the AI agent is told in every
// conversation with the contact. The agent saves its own (its answer's
// remember); people read, add and delete them here.
//
//	GET    /api/v1/contacts/{id}/memories            memories, oldest first
//	POST   /api/v1/contacts/{id}/memories            {"text", "type"} → 201 memory (409 when the contact has engine.MaxMemories)
//	DELETE /api/v1/contacts/{id}/memories/{memory}   → 204
//
// Changes are published as memory.created and memory.deleted, with
// {"memory": ...}; the agent's own come with their conversation's id.

type memoryBody struct {
	Text string `json:"text"`
	// Type is one of engine.MemoryTypes; none is a fact.
	Type string `json:"type"`
}

// parseMemoryBody reads a memory's body and returns its tidied text and
// its type; any refusal is a 400 API error.
func parseMemoryBody(body []byte) (string, engine.MemoryType, error) {
	var b memoryBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return "", "", err
	}
	text, err := engine.NormalizeMemoryText(b.Text)
	if err != nil {
		return "", "", fromEngine(err)
	}
	typ, err := engine.ParseMemoryType(b.Type)
	if err != nil {
		return "", "", fromEngine(err)
	}
	return text, typ, nil
}

func (h *contacts) listMemories(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := h.contact(ws, id); err != nil {
		return err
	}
	ms, err := h.store.Memories(ws, id, engine.MaxMemories)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []engine.Memory{}
	}
	return c.JSON(fiber.Map{"memories": ms})
}

func (h *contacts) addMemory(c *fiber.Ctx) error {
	p := who(c)
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	text, typ, err := parseMemoryBody(c.Body())
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	author := p.UserID
	m, err := h.rt.AddMemory(c.UserContext(), p.WorkspaceID, id, text, typ, &author)
	if errors.Is(err, engine.ErrMemoriesFull) {
		return errorf(fiber.StatusConflict, "too_many_memories", "a contact keeps at most %d memories: delete one first", engine.MaxMemories)
	}
	if err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

func (h *contacts) deleteMemory(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	memID, err := idParam(c, "memory")
	if err != nil {
		return err
	}
	if err := h.rt.DeleteMemory(c.UserContext(), ws, id, memID); err != nil {
		return fromEngine(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
