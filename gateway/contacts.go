package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Contacts, the CRM side of the inbox.
//
//	GET    /api/v1/contacts?q=&cursor=&limit=    list newest first, or search; each with its conversations' last activity and tags
//	GET    /api/v1/contacts?stage=&owner=&cursor=&limit=  those in a stage and/or owned by a user, newest first (pipelines.go)
//	POST   /api/v1/contacts                      create → 201 contact
//	GET    /api/v1/contacts/export               every contact as CSV
//	POST   /api/v1/contacts/import               CSV body → {job, imported, updated, failed, errors}
//	GET    /api/v1/contacts/{id}                 contact + conversations, notes, files, activity
//	GET    /api/v1/contacts/{id}/activity?before=&limit=  the whole activity, a page at a time (contact_timeline.go)
//	GET    /api/v1/contacts/{id}/files?before=&limit=     every file, a page at a time
//	PATCH  /api/v1/contacts/{id}                 change profile and custom fields → contact
//	POST   /api/v1/contacts/{id}/merge           {"from": id} → the merged contact
//	GET    /api/v1/contacts/{id}/notes           notes, newest first
//	POST   /api/v1/contacts/{id}/notes           {"text"} → 201 note
//	DELETE /api/v1/contacts/{id}/notes/{note}    author or admin → 204
//	POST   /api/v1/conversations/{conv}/notes    {"text"} → 201 note on the conversation's contact
//	.../contacts/{id}/memories                   the AI's memories of the contact (memories.go)
//
// Every change to a contact goes through the contact's actor (actors/contact.go),
// and is published on the workspace's event stream:
// contact.created, contact.updated, contact.deleted (a merge source),
// note.created, note.deleted, note.mentioned (to the mentioned user only)
// and contacts.import.progress.
type contacts struct {
	s     *Server
	store *persistence.Store
	rt    *actors.Runtime
}

// Bounds of a contact's detail.
const (
	detailConversations = 100
	detailNotes         = 50
	detailScanConvs     = 20  // conversations scanned for files and activity
	detailScanMessages  = 200 // newest messages scanned per conversation
	detailFiles         = 100
	detailActivity      = 100
	maxNotesPage        = 200
)

func (s *Server) contactRoutes(api fiber.Router) {
	h := &contacts{s: s, store: s.cfg.Store, rt: s.cfg.Runtime}
	api.Get("/contacts", h.list)
	api.Post("/contacts", h.create)
	api.Get("/contacts/export", h.export)
	api.Post("/contacts/import", h.importCSV)
	api.Get("/contacts/:id", h.get)
	api.Get("/contacts/:id/activity", h.timelinePage(false))
	api.Get("/contacts/:id/files", h.timelinePage(true))
	api.Patch("/contacts/:id", h.update)
	api.Post("/contacts/:id/merge", h.merge)
	api.Get("/contacts/:id/notes", h.listNotes)
	api.Post("/contacts/:id/notes", h.addNote)
	api.Delete("/contacts/:id/notes/:note", h.deleteNote)
	api.Post("/conversations/:conv/notes", h.addConversationNote)
	api.Get("/contacts/:id/memories", h.listMemories)
	api.Post("/contacts/:id/memories", h.addMemory)
	api.Delete("/contacts/:id/memories/:memory", h.deleteMemory)
}

// idParam parses a route parameter holding an id; a malformed id is a
// 404 like an unknown one.
func idParam(c *fiber.Ctx, name string) (engine.ID, error) {
	id, err := engine.ParseID(c.Params(name))
	if err != nil {
		return engine.ZeroID, errNotFound
	}
	return id, nil
}

// contact reads a contact of the caller's workspace; another workspace's
// id is not found.
func (h *contacts) contact(ws, id engine.ID) (engine.Contact, error) {
	ct, err := h.store.Contact(ws, id)
	return ct, fromEngine(err)
}

func (h *contacts) list(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return err
	}
	if limit == 0 || limit > persistence.MaxContactPage {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", persistence.MaxContactPage)
	}
	q := c.Query("q")
	if len(q) > engine.MaxQueryBytes {
		return errorf(fiber.StatusBadRequest, "bad_query", "q must be at most %d bytes", engine.MaxQueryBytes)
	}
	f, err := contactFilter(c)
	if err != nil {
		return err
	}
	seg, err := h.s.segmentQuery(c)
	if err != nil {
		return err
	}
	if seg != engine.ZeroID {
		return h.listSegment(c, ws, seg, f, c.Query("tag"), int(limit), q)
	}
	if tag := c.Query("tag"); tag != "" {
		return h.listTagged(c, ws, f, tag, int(limit), q)
	}
	var page persistence.ContactPage
	if f != (persistence.ContactFilter{}) {
		if strings.TrimSpace(q) != "" {
			return errorf(fiber.StatusBadRequest, "bad_query", "q does not go with stage or owner")
		}
		page, err = h.store.FilteredContacts(ws, f, c.Query("cursor"), int(limit))
	} else if strings.TrimSpace(q) == "" {
		page, err = h.store.Contacts(ws, c.Query("cursor"), int(limit))
	} else {
		page, err = h.store.SearchContacts(ws, engine.NormalizeQuery(q), c.Query("cursor"), int(limit))
	}
	if errors.Is(err, persistence.ErrBadCursor) {
		return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
	}
	if err != nil {
		return err
	}
	items := make([]contactListItem, len(page.Contacts))
	for i, ct := range page.Contacts {
		if items[i], err = h.listItem(ws, ct); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{"contacts": items, "next_cursor": page.NextCursor, "partial": page.Partial})
}

// maxTagScan bounds how many contacts of a stage or owner one page of
// the list filtered by tag looks at; beyond it the page is partial and
// its cursor goes on from the last one looked at.
const maxTagScan = 2000

// listTagged answers the contact list filtered by stage and/or owner
// and by tag (the contact's own, or one of its conversations'): the stage
// and owner index read a page at a time, each contact's conversations
// read for its tags (as every list row is), those with the tag kept,
// until limit of them or maxTagScan looked at.
func (h *contacts) listTagged(c *fiber.Ctx, ws engine.ID, f persistence.ContactFilter, tag string, limit int, q string) error {
	if f == (persistence.ContactFilter{}) || strings.TrimSpace(q) != "" {
		return errorf(fiber.StatusBadRequest, "bad_query", "tag goes with stage or owner, not with q")
	}
	if len(tag) > engine.MaxTagBytes {
		return errorf(fiber.StatusBadRequest, "bad_query", "tag must be at most %d bytes", engine.MaxTagBytes)
	}
	items := []contactListItem{}
	cursor, scanned, partial := c.Query("cursor"), 0, false
	for len(items) < limit {
		page, err := h.store.FilteredContacts(ws, f, cursor, min(limit*4, persistence.MaxContactPage))
		if errors.Is(err, persistence.ErrBadCursor) {
			return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
		}
		if err != nil {
			return err
		}
		for i, ct := range page.Contacts {
			item, err := h.listItem(ws, ct)
			if err != nil {
				return err
			}
			scanned++
			cursor = ct.ID.String()
			if slices.Contains(item.Tags, tag) {
				items = append(items, item)
			}
			if len(items) == limit || scanned == maxTagScan {
				if i == len(page.Contacts)-1 && page.NextCursor == "" {
					cursor = "" // that was the last one
				}
				partial = len(items) < limit && cursor != ""
				return c.JSON(fiber.Map{"contacts": items, "next_cursor": cursor, "partial": partial})
			}
		}
		if page.NextCursor == "" {
			cursor = ""
			break
		}
	}
	return c.JSON(fiber.Map{"contacts": items, "next_cursor": cursor, "partial": partial})
}

// listSegment answers the contact list filtered by segment: a page of
// the segment's members index, newest first. With stage, owner and/or
// tag (the pipeline board's columns) the members are read a page at a
// time and those in the stage, of the owner, with the tag kept, until
// limit of them or maxTagScan looked at (partial, as listTagged).
func (h *contacts) listSegment(c *fiber.Ctx, ws, seg engine.ID, f persistence.ContactFilter, tag string, limit int, q string) error {
	if strings.TrimSpace(q) != "" {
		return errorf(fiber.StatusBadRequest, "bad_query", "segment does not go with q")
	}
	if len(tag) > engine.MaxTagBytes {
		return errorf(fiber.StatusBadRequest, "bad_query", "tag must be at most %d bytes", engine.MaxTagBytes)
	}
	narrow := f != (persistence.ContactFilter{}) || tag != ""
	items := []contactListItem{}
	cursor, scanned := c.Query("cursor"), 0
	for len(items) < limit {
		want := limit - len(items)
		if narrow {
			want = min(limit*4, persistence.MaxContactPage)
		}
		page, err := h.store.SegmentMembers(ws, seg, cursor, want)
		if errors.Is(err, persistence.ErrBadCursor) {
			return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
		}
		if err != nil {
			return err
		}
		for i, ct := range page.Contacts {
			scanned++
			cursor = ct.ID.String()
			if i == len(page.Contacts)-1 && page.NextCursor == "" {
				cursor = ""
			}
			if f.Stage != engine.ZeroID && (ct.Stage == nil || ct.Stage.StageID != f.Stage) ||
				f.Owner != engine.ZeroID && (ct.OwnerID == nil || *ct.OwnerID != f.Owner) {
				if scanned == maxTagScan {
					return c.JSON(fiber.Map{"contacts": items, "next_cursor": cursor, "partial": cursor != ""})
				}
				continue
			}
			item, err := h.listItem(ws, ct)
			if err != nil {
				return err
			}
			if tag == "" || slices.Contains(item.Tags, tag) {
				items = append(items, item)
			}
			if len(items) == limit || scanned == maxTagScan {
				partial := len(items) < limit && cursor != ""
				return c.JSON(fiber.Map{"contacts": items, "next_cursor": cursor, "partial": partial})
			}
		}
		if page.NextCursor == "" {
			cursor = ""
			break
		}
	}
	return c.JSON(fiber.Map{"contacts": items, "next_cursor": cursor, "partial": false})
}

// contactListItem is a contact of the list with what its conversations
// say: when the latest was last active, and their tags (with the
// contact's own, a form's).
type contactListItem struct {
	engine.Contact
	LastActivityAt time.Time `json:"last_activity_at,omitzero"`
	Tags           []string  `json:"tags,omitempty"`
}

// listItem reads what ct's conversations add to its list row.
func (h *contacts) listItem(ws engine.ID, ct engine.Contact) (contactListItem, error) {
	item := contactListItem{Contact: ct, Tags: slices.Clone(ct.Tags)}
	convs, err := h.conversations(ws, ct.ID)
	if err != nil {
		return item, fmt.Errorf("reading the conversations of contact %s: %w", ct.ID, err)
	}
	for _, conv := range convs {
		if conv.LastActivityAt.After(item.LastActivityAt) {
			item.LastActivityAt = conv.LastActivityAt
		}
		for _, t := range conv.Tags {
			if !slices.Contains(item.Tags, t) {
				item.Tags = append(item.Tags, t)
			}
		}
	}
	slices.Sort(item.Tags)
	return item, nil
}

// contactBody is the body of create and update: every field optional; in
// an update an absent field is unchanged and a custom field set to null
// is removed.
type contactBody struct {
	Name         *string            `json:"name"`
	Email        *string            `json:"email"`
	Phone        *string            `json:"phone"`
	Company      *string            `json:"company"`
	Title        *string            `json:"title"`
	Country      *string            `json:"country"`
	Language     *string            `json:"language"`
	Avatar       *string            `json:"avatar"`
	AvatarURL    *string            `json:"avatar_url"`
	CustomFields map[string]*string `json:"custom_fields"`
	Source       *string            `json:"source"`
}

// patch returns the change b asks for.
func (b *contactBody) patch() (engine.ContactPatch, error) {
	if b.Avatar != nil && b.AvatarURL != nil {
		return engine.ContactPatch{}, errorf(fiber.StatusBadRequest, "invalid", "give avatar or avatar_url, not both")
	}
	if b.Avatar == nil {
		b.Avatar = b.AvatarURL
	}
	return engine.ContactPatch{Name: b.Name, Email: b.Email, Phone: b.Phone, Company: b.Company, Title: b.Title,
		Country: b.Country, Language: b.Language, AvatarURL: b.Avatar, CustomFields: b.CustomFields}, nil
}

func (h *contacts) create(c *fiber.Ctx) error {
	p := who(c)
	var b contactBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	src := engine.SourceManual
	switch {
	case b.Source != nil:
		src = engine.ContactSource(*b.Source)
	case h.personalToken(c):
		src = engine.SourceAPI
	}
	patch, err := b.patch()
	if err != nil {
		return err
	}
	if patch.CustomFields, err = checkCustomFields(h.store, p.WorkspaceID, patch.CustomFields, true); err != nil {
		return err
	}
	now := h.rt.Clock().Now()
	ct, err := engine.NewContact(engine.NewID(now), p.WorkspaceID, src, patch, now)
	if err != nil {
		return fromEngine(err)
	}
	// Contacts created here (people and scripts) count against the plan;
	// those inbound messages create are never refused (operator.go).
	err = h.s.ops.withinLimit(p.WorkspaceID, engine.PlanContacts, 1, func() error {
		ct, err = h.rt.CreateContact(c.UserContext(), ct)
		return err
	})
	if err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(ct)
}

// personalToken reports whether the request carries a personal API token
// (rather than a login session): what a script uses.
func (h *contacts) personalToken(c *fiber.Ctx) bool {
	secret, _ := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	t, err := h.store.IssuedTokenBySecret(secret)
	return err == nil && t.Kind == persistence.TokenAPI
}

// update changes a contact through its actor (actors.Runtime.UpdateContact).
func (h *contacts) update(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var b contactBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Source != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "the source of a contact does not change")
	}
	patch, err := b.patch()
	if err != nil {
		return err
	}
	if patch.CustomFields, err = checkCustomFields(h.store, ws, patch.CustomFields, false); err != nil {
		return err
	}
	ct, err := h.rt.UpdateContact(c.UserContext(), ws, id, patch)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(ct)
}

type mergeBody struct {
	From string `json:"from"`
}

// merge moves contact "from" into the contact of the route
// (actors.Runtime.MergeContacts): its identities, conversations, notes
// and memories move, the target's empty profile and custom fields are
// filled from it, and it is deleted.
func (h *contacts) merge(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var b mergeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	from, err := engine.ParseID(b.From)
	if err != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "from must be a contact id")
	}
	if from == id {
		return errorf(fiber.StatusBadRequest, "invalid", "a contact cannot be merged into itself")
	}
	if _, err := h.contact(ws, id); err != nil {
		return err
	}
	merged, err := h.rt.MergeContacts(c.UserContext(), ws, id, from)
	if errors.Is(err, actors.ErrMergeSourceNotFound) {
		return errorf(fiber.StatusNotFound, "not_found", "no contact %s to merge from", b.From)
	}
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(merged)
}

// contactFile is a file shared in one of a contact's conversations.
type contactFile struct {
	MediaID        string             `json:"media_id,omitempty"`
	Kind           engine.MessageKind `json:"kind"`
	Filename       string             `json:"filename,omitempty"`
	Mime           string             `json:"mime,omitempty"`
	Size           int64              `json:"size,omitempty"`
	Caption        string             `json:"caption,omitempty"`
	ConversationID engine.ID          `json:"conversation_id"`
	Seq            uint64             `json:"seq"`
	Direction      engine.Direction   `json:"direction"`
	CreatedAt      time.Time          `json:"created_at"`
}

// activityItem is one entry of a contact's timeline: a conversation
// started, a conversation moved to a folder, a note, a file.
type activityItem struct {
	Type           string         `json:"type"`
	At             time.Time      `json:"at"`
	ConversationID *engine.ID     `json:"conversation_id,omitempty"`
	Channel        engine.Channel `json:"channel,omitempty"`
	Folder         engine.Folder  `json:"folder,omitempty"`
	Note           *engine.Note   `json:"note,omitempty"`
	File           *contactFile   `json:"file,omitempty"`
	// Change is set on stage_changed and owner_changed (pipelines.go).
	Change *engine.ContactChange `json:"change,omitempty"`
	// AIWrite is the AI agent's write of contact fields.
	AIWrite *engine.AIContactWrite `json:"ai_write,omitempty"`
	// Segment is set on segment.entered and segment.left (segments.go).
	Segment *engine.SegmentChange `json:"segment,omitempty"`

	// key orders items of the same time in the paged timeline
	// (contact_timeline.go): unique per item.
	key string
}

// Activity item types.
const (
	activityConversation = "conversation.created"
	activityFolder       = "folder.changed"
	activityNote         = "note"
	activityFile         = "file"
	activityAIWrite      = "contact.ai_updated"
	activitySegmentIn    = "segment.entered"
	activitySegmentOut   = "segment.left"
)

func (h *contacts) get(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ct, err := h.contact(ws, id)
	if err != nil {
		return err
	}
	convs, err := h.conversations(ws, id)
	if err != nil {
		return err
	}
	slices.SortFunc(convs, func(a, b engine.Conversation) int { return b.LastActivityAt.Compare(a.LastActivityAt) })
	convs = convs[:min(len(convs), detailConversations)]
	notes, err := h.store.Notes(ws, id, detailNotes)
	if err != nil {
		return err
	}
	if notes == nil {
		notes = []engine.Note{}
	}
	renderNotes(notes)
	changes, err := h.store.ContactChanges(ws, id)
	if err != nil {
		return err
	}
	writes, err := h.store.AIContactWrites(ws, id)
	if err != nil {
		return err
	}
	segChanges, err := h.store.SegmentChanges(ws, id)
	if err != nil {
		return err
	}
	files, activity, err := h.timeline(ws, convs, notes, changes, writes, segChanges)
	if err != nil {
		return err
	}
	return c.JSON(struct {
		engine.Contact
		Conversations []engine.Conversation `json:"conversations"`
		Notes         []engine.Note         `json:"notes"`
		Files         []contactFile         `json:"files"`
		Activity      []activityItem        `json:"activity"`
	}{ct, convs, notes, files, activity})
}

// conversations reads the conversations of contact id.
func (h *contacts) conversations(ws, id engine.ID) ([]engine.Conversation, error) {
	ids, err := h.store.ContactConversations(ws, id)
	if err != nil {
		return nil, err
	}
	convs := make([]engine.Conversation, 0, len(ids))
	for _, cid := range ids {
		conv, err := h.store.Conversation(ws, cid)
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if conv.ContactID != id {
			continue // a stale entry: the conversation moved to another contact
		}
		convs = append(convs, conv)
	}
	return convs, nil
}

// timeline gathers the files and the activity of a contact from its most
// recently active conversations (the newest messages of each), its
// notes, its stage and owner changes and the AI's writes of its fields,
// newest first, bounded.
func (h *contacts) timeline(ws engine.ID, convs []engine.Conversation, notes []engine.Note, changes []engine.ContactChange,
	writes []engine.AIContactWrite, segChanges []engine.SegmentChange) ([]contactFile, []activityItem, error) {
	files := []contactFile{}
	activity := []activityItem{}
	for i := range notes {
		activity = append(activity, noteActivity(&notes[i]))
	}
	for i := range changes {
		activity = append(activity, changeActivity(&changes[i]))
	}
	for i := range writes {
		activity = append(activity, aiWriteActivity(&writes[i]))
	}
	for i := range segChanges {
		activity = append(activity, segmentActivity(&segChanges[i]))
	}
	for i := range convs {
		conv := &convs[i]
		activity = append(activity, convActivity(conv))
		if i >= detailScanConvs {
			continue
		}
		msgs, err := h.store.Messages(ws, conv.ID, 0, detailScanMessages)
		if err != nil {
			return nil, nil, err
		}
		for i := range msgs {
			a, ok := messageActivity(conv, &msgs[i])
			if !ok {
				continue
			}
			if a.File != nil {
				files = append(files, *a.File)
			}
			activity = append(activity, a)
		}
	}
	slices.SortStableFunc(files, func(a, b contactFile) int { return b.CreatedAt.Compare(a.CreatedAt) })
	slices.SortStableFunc(activity, func(a, b activityItem) int { return b.At.Compare(a.At) })
	return files[:min(len(files), detailFiles)], activity[:min(len(activity), detailActivity)], nil
}

// noteActivity is the activity item of a note.
func noteActivity(n *engine.Note) activityItem {
	return activityItem{Type: activityNote, At: n.CreatedAt, ConversationID: n.ConversationID, Note: n, key: "n" + n.ID.String()}
}

// changeActivity is the activity item of a change of stage or owner.
func changeActivity(ch *engine.ContactChange) activityItem {
	return activityItem{Type: string(ch.Kind), At: ch.At, Change: ch, key: "s" + ch.ID.String()}
}

// segmentActivity is the activity item of a contact entering or leaving
// a segment.
func segmentActivity(ch *engine.SegmentChange) activityItem {
	typ := activitySegmentOut
	if ch.Entered {
		typ = activitySegmentIn
	}
	return activityItem{Type: typ, At: ch.At, Segment: ch, key: "g" + ch.ID.String()}
}

// convActivity is the activity item of a conversation's start.
func convActivity(conv *engine.Conversation) activityItem {
	cid := conv.ID
	return activityItem{Type: activityConversation, At: conv.CreatedAt, ConversationID: &cid, Channel: conv.Channel,
		key: "c" + cid.String()}
}

// messageActivity is the activity item a message of conv makes, if any:
// a move to another folder (its system message) or a file.
func messageActivity(conv *engine.Conversation, m *engine.Message) (activityItem, bool) {
	cid := conv.ID
	switch {
	case m.Kind == engine.KindSystem && strings.HasPrefix(m.Text, "Moved to "):
		return activityItem{Type: activityFolder, At: m.CreatedAt, ConversationID: &cid, Channel: conv.Channel,
			Folder: engine.Folder(strings.TrimPrefix(m.Text, "Moved to ")), key: messageItemKey(cid, m.Seq)}, true
	case m.Kind.HasMedia() && m.Media != nil:
		f := contactFile{MediaID: m.Media.SHA256, Kind: m.Kind, Filename: m.Media.Filename, Mime: m.Media.MimeType,
			Size: m.Media.Size, Caption: m.Media.Caption, ConversationID: cid, Seq: m.Seq, Direction: m.Direction,
			CreatedAt: m.CreatedAt}
		return activityItem{Type: activityFile, At: m.CreatedAt, ConversationID: &cid, Channel: conv.Channel, File: &f,
			key: messageItemKey(cid, m.Seq)}, true
	}
	return activityItem{}, false
}
