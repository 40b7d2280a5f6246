package gateway

import (
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/markdown"
)

type noteBody struct {
	Text string `json:"text"`
}

func (h *contacts) listNotes(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return err
	}
	if limit == 0 || limit > maxNotesPage {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", maxNotesPage)
	}
	if _, err := h.contact(ws, id); err != nil {
		return err
	}
	notes, err := h.store.Notes(ws, id, int(limit))
	if err != nil {
		return err
	}
	if notes == nil {
		notes = []engine.Note{}
	}
	renderNotes(notes)
	return c.JSON(fiber.Map{"notes": notes})
}

// renderNotes fills the HTML of notes read from the store: it is never
// stored, so a change of the renderer or its sanitiser applies to every
// note at once.
func renderNotes(notes []engine.Note) {
	for i := range notes {
		notes[i].HTML = markdown.Render(notes[i].Text)
	}
}

func (h *contacts) addNote(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return h.writeNote(c, id, nil)
}

// addConversationNote puts a note on the contact of a conversation, with
// the conversation named in it.
func (h *contacts) addConversationNote(c *fiber.Ctx) error {
	conv, err := convParam(c)
	if err != nil {
		return err
	}
	cv, err := h.rt.Conversation(who(c).WorkspaceID, conv)
	if err != nil {
		return fromEngine(err)
	}
	return h.writeNote(c, cv.ContactID, &conv)
}

// writeNote stores a note by the caller on contact id through the
// contact's actor, which publishes note.created to the workspace and
// note.mentioned to each user the text mentions (the author aside); the
// note answered and published carries its Markdown rendered as HTML.
func (h *contacts) writeNote(c *fiber.Ctx, id engine.ID, conv *engine.ID) error {
	p := who(c)
	var b noteBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := engine.ValidateNoteText(b.Text); err != nil {
		return fromEngine(err)
	}
	if _, err := h.contact(p.WorkspaceID, id); err != nil {
		return err
	}
	mentions, err := h.mentioned(p.WorkspaceID, b.Text)
	if err != nil {
		return err
	}
	now := h.rt.Clock().Now()
	n := engine.Note{ID: engine.NewID(now), WorkspaceID: p.WorkspaceID, ContactID: id, ConversationID: conv,
		AuthorID: p.UserID, Text: b.Text, HTML: markdown.Render(b.Text), Mentions: mentions, CreatedAt: now}
	n, err = h.rt.AddNote(c.UserContext(), n)
	if err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(n)
}

// mentioned returns the ids of the workspace users that text mentions
// with @handle (engine.ParseMentions): a handle names a user by the local
// part of their email or their whole name (words joined by nothing, '.',
// '_' or '-'), case and accents aside, or by their first name when no
// other user has it.
func (h *contacts) mentioned(ws engine.ID, text string) ([]engine.ID, error) {
	out := []engine.ID{}
	handles := engine.ParseMentions(text)
	if len(handles) == 0 {
		return out, nil
	}
	users, err := h.store.Users(ws)
	if err != nil {
		return nil, err
	}
	byHandle := map[string]engine.ID{}
	firsts := map[string][]engine.ID{}
	for i := range users {
		hs, first := engine.MentionHandles(&users[i])
		for _, hd := range hs {
			byHandle[hd] = users[i].ID
		}
		if first != "" {
			firsts[first] = append(firsts[first], users[i].ID)
		}
	}
	for _, hd := range handles {
		u, ok := byHandle[hd]
		if !ok && len(firsts[hd]) == 1 {
			u, ok = firsts[hd][0], true
		}
		if ok && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// deleteNote removes a note; only its author or an admin may.
func (h *contacts) deleteNote(c *fiber.Ctx) error {
	p := who(c)
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	noteID, err := idParam(c, "note")
	if err != nil {
		return err
	}
	err = h.rt.DeleteNote(c.UserContext(), p.WorkspaceID, id, noteID, func(n *engine.Note) error {
		if n.AuthorID != p.UserID && !p.Role.AtLeast(engine.RoleAdmin) {
			return errorf(fiber.StatusForbidden, "forbidden", "only the author or an admin may delete a note")
		}
		return nil
	})
	if err != nil {
		return fromEngine(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
