package gateway

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Contact field definitions: the custom fields of a workspace's
// contacts, their types and who may write them. Every role lists them;
// admins and owners manage them.
//
//	GET    /api/v1/contact-fields        {"fields": [...]}, by order then key
//	POST   /api/v1/contact-fields        {"key","label","type",...} → 201 (409 key_taken, 409 too_many_fields)
//	GET    /api/v1/contact-fields/{id}   one
//	PATCH  /api/v1/contact-fields/{id}   the fields given, key aside → 200
//	DELETE /api/v1/contact-fields/{id}   → 204; the contacts' values stay, as free text
//
// The records have one owner, contactFields: its mutex holds every
// read-check-write (a free key, the workspace's limit) together with its
// commit (docs/ARCHITECTURE.md, "Who owns what"). Writers of contacts
// read the definitions as last committed and check values against them
// (engine.ValidateFieldValues).
type contactFields struct {
	store *persistence.Store
	s     *Server
	mu    sync.Mutex
}

func (s *Server) contactFieldRoutes(api fiber.Router) {
	h := &contactFields{store: s.cfg.Store, s: s}
	api.Get("/contact-fields", h.list)
	api.Post("/contact-fields", requireRole(engine.RoleAdmin), h.create)
	api.Get("/contact-fields/:id", h.get)
	api.Patch("/contact-fields/:id", requireRole(engine.RoleAdmin), h.update)
	api.Delete("/contact-fields/:id", requireRole(engine.RoleAdmin), h.delete)
}

type fieldDefBody struct {
	Key      *string           `json:"key"`
	Label    *string           `json:"label"`
	Type     *engine.FieldType `json:"type"`
	Options  *[]string         `json:"options"`
	Required *bool             `json:"required"`
	AllowAI  *bool             `json:"allow_ai"`
	Order    *int              `json:"order"`
}

// parseFieldDefBody reads the body of a create (key, label and type
// required) or of an update (at least one field, never the key) and
// returns the change; any refusal is a 400 API error. The change is
// checked on its own (a select's options with its type); the update's
// result is checked again against the stored definition.
func parseFieldDefBody(body []byte, create bool) (engine.FieldDefChange, error) {
	var b fieldDefBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.FieldDefChange{}, err
	}
	ch := engine.FieldDefChange{Key: b.Key, Label: b.Label, Type: b.Type, Options: b.Options, Required: b.Required, AllowAI: b.AllowAI, Order: b.Order}
	switch {
	case create && (b.Key == nil || b.Label == nil || b.Type == nil):
		return ch, errorf(fiber.StatusBadRequest, "invalid", "key, label and type are required")
	case !create && b.Key != nil:
		return ch, errorf(fiber.StatusBadRequest, "invalid", "the key of a field does not change: create another field")
	case !create && b.Label == nil && b.Type == nil && b.Options == nil && b.Required == nil && b.AllowAI == nil && b.Order == nil:
		return ch, errorf(fiber.StatusBadRequest, "invalid", "name a field to change: label, type, options, required, allow_ai or order")
	}
	if create {
		d, err := engine.ApplyFieldDef(engine.FieldDef{}, ch, time.Time{})
		if err != nil {
			return ch, fromEngine(err)
		}
		ch.Key, ch.Label, ch.Options = &d.Key, &d.Label, &d.Options
	}
	return ch, nil
}

var errFieldKeyTaken = errorf(fiber.StatusConflict, "key_taken", "another field has this key")

func (h *contactFields) list(c *fiber.Ctx) error {
	ds, err := fieldDefs(h.store, who(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"fields": ds})
}

// fieldDefs reads a workspace's definitions, sorted as shown, never nil.
func fieldDefs(store *persistence.Store, ws engine.ID) ([]engine.FieldDef, error) {
	ds, err := store.FieldDefs(ws)
	if err != nil {
		return nil, err
	}
	if ds == nil {
		ds = []engine.FieldDef{}
	}
	engine.SortFieldDefs(ds)
	return ds, nil
}

func (h *contactFields) find(ws engine.ID, c *fiber.Ctx) ([]engine.FieldDef, int, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, 0, err
	}
	all, err := h.store.FieldDefs(ws)
	if err != nil {
		return nil, 0, err
	}
	i := slices.IndexFunc(all, func(d engine.FieldDef) bool { return d.ID == id })
	if i < 0 {
		return nil, 0, errNotFound
	}
	return all, i, nil
}

func (h *contactFields) get(c *fiber.Ctx) error {
	all, i, err := h.find(who(c).WorkspaceID, c)
	if err != nil {
		return err
	}
	return c.JSON(all[i])
}

// parse reads and checks a body, against its parser and the route's
// schema.
func (h *contactFields) parse(c *fiber.Ctx, create bool) (engine.FieldDefChange, error) {
	ch, err := parseFieldDefBody(c.Body(), create)
	if err != nil {
		return ch, err
	}
	return ch, validateBody(c, c.Body())
}

func (h *contactFields) create(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	ch, err := h.parse(c, true)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all, err := h.store.FieldDefs(ws)
	if err != nil {
		return err
	}
	if len(all) >= engine.MaxFieldDefs {
		return errorf(fiber.StatusConflict, "too_many_fields", "a workspace keeps at most %d contact fields: delete one first", engine.MaxFieldDefs)
	}
	if slices.ContainsFunc(all, func(o engine.FieldDef) bool { return o.Key == *ch.Key }) {
		return errFieldKeyTaken
	}
	if ch.Order == nil {
		next := 0
		for _, o := range all {
			next = max(next, o.Order+1)
		}
		ch.Order = &next
	}
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	d, err := engine.ApplyFieldDef(engine.FieldDef{ID: engine.NewID(now), WorkspaceID: ws, CreatedAt: now}, ch, now)
	if err != nil {
		return fromEngine(err)
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutFieldDef(&d) }); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(d)
}

func (h *contactFields) update(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	ch, err := h.parse(c, false)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all, i, err := h.find(ws, c)
	if err != nil {
		return err
	}
	if ch.Type != nil && *ch.Type != engine.FieldSingleSelect && *ch.Type != engine.FieldMultiSelect && ch.Options == nil {
		ch.Options = &[]string{} // a field no longer a select drops its options
	}
	d, err := engine.ApplyFieldDef(all[i], ch, h.s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return fromEngine(err)
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutFieldDef(&d) }); err != nil {
		return err
	}
	return c.JSON(d)
}

func (h *contactFields) delete(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	h.mu.Lock()
	defer h.mu.Unlock()
	all, i, err := h.find(ws, c)
	if err != nil {
		return err
	}
	if err := h.commit(func(b *persistence.Batch) { b.DeleteFieldDef(ws, all[i].ID) }); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// commit writes one synced batch of field definition changes.
func (h *contactFields) commit(f func(b *persistence.Batch)) error {
	b := h.store.NewBatch()
	f(b)
	if err := h.store.Commit(b); err != nil {
		return fmt.Errorf("storing contact field: %w", err)
	}
	return nil
}

// checkCustomFields checks the custom field values a write of a contact
// proposes against the workspace's definitions as last committed
// (engine.ValidateFieldValues) and returns them normalised; creating
// wants every required field.
func checkCustomFields(store *persistence.Store, ws engine.ID, values map[string]*string, creating bool) (map[string]*string, error) {
	if len(values) == 0 && !creating {
		return values, nil
	}
	defs, err := store.FieldDefs(ws)
	if err != nil {
		return nil, err
	}
	out, err := engine.ValidateFieldValues(defs, values, creating)
	if err != nil {
		return nil, fromEngine(err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// aiWriteActivity is the activity item of an AI write of contact fields:
// the fields it wrote, those refused, and the conversation and customer
// message (seq) it came from.
func aiWriteActivity(w *engine.AIContactWrite) activityItem {
	cid := w.ConversationID
	return activityItem{Type: activityAIWrite, At: w.At, ConversationID: &cid, AIWrite: w, key: "j" + w.ID.String()}
}
