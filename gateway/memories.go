package gateway

import (
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
)

// Contact memories: short facts the AI agent is told in every
// conversation with the contact. The agent saves its own (its answer's
// remember); people read, add and delete them here.
//
//	GET    /api/v1/contacts/{id}/memories            memories, oldest first
//	POST   /api/v1/contacts/{id}/memories            {"text"} → 201 memory (409 when the contact has engine.MaxMemories)
//	DELETE /api/v1/contacts/{id}/memories/{memory}   → 204
//
// Changes are published as memory.created and memory.deleted, with
// {"memory": ...}; the agent's own come with their conversation's id.

type memoryBody struct {
	Text string `json:"text"`
}

// parseMemoryBody reads a memory's body and returns its tidied text; any
// refusal is a 400 API error.
func parseMemoryBody(body []byte) (string, error) {
	var b memoryBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return "", err
	}
	text, err := engine.NormalizeMemoryText(b.Text)
	if err != nil {
		return "", fromEngine(err)
	}
	return text, nil
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
	text, err := parseMemoryBody(c.Body())
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	unlock := h.lock(id) // a merge moving this contact's memories waits
	defer unlock()
	if _, err := h.contact(p.WorkspaceID, id); err != nil {
		return err
	}
	have, err := h.store.Memories(p.WorkspaceID, id, engine.MaxMemories)
	if err != nil {
		return err
	}
	if len(have) >= engine.MaxMemories {
		return errorf(fiber.StatusConflict, "too_many_memories", "a contact keeps at most %d memories: delete one first", engine.MaxMemories)
	}
	now := h.rt.Clock().Now()
	author := p.UserID
	m := engine.Memory{ID: engine.NewID(now), WorkspaceID: p.WorkspaceID, ContactID: id, Text: text,
		Source: engine.MemoryHuman, AuthorID: &author, CreatedAt: now}
	batch := h.store.NewBatch()
	batch.PutMemory(&m)
	if err := h.store.Commit(batch); err != nil {
		return err
	}
	h.publish(engine.Event{Type: engine.EventMemoryCreated, WorkspaceID: m.WorkspaceID, At: now, Data: fiber.Map{"memory": m}})
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
	unlock := h.lock(id)
	defer unlock()
	m, err := h.store.Memory(ws, id, memID)
	if err != nil {
		return fromEngine(err)
	}
	batch := h.store.NewBatch()
	batch.DeleteMemory(&m)
	if err := h.store.Commit(batch); err != nil {
		return err
	}
	h.publish(engine.Event{Type: engine.EventMemoryDeleted, WorkspaceID: ws, At: h.rt.Clock().Now(), Data: fiber.Map{"memory": m}})
	return c.SendStatus(fiber.StatusNoContent)
}

// mergedMemories returns the memories of contact from, moved to contact
// into, that into does not hold yet, within engine.MaxMemories.
func (h *contacts) mergedMemories(ws, from, into engine.ID) ([]engine.Memory, error) {
	src, err := h.store.Memories(ws, from, engine.MaxMemories)
	if err != nil {
		return nil, err
	}
	have, err := h.store.Memories(ws, into, engine.MaxMemories)
	if err != nil {
		return nil, err
	}
	var out []engine.Memory
	for _, m := range src {
		if len(have) >= engine.MaxMemories {
			break
		}
		if engine.HasMemory(have, m.Text) {
			continue
		}
		m.ContactID = into
		out = append(out, m)
		have = append(have, m)
	}
	return out, nil
}
