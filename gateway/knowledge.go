package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/knowledge"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
)

// The knowledge base of an assistant (docs/ARCHITECTURE.md, "The
// knowledge base"):
//
//	GET    /api/v1/assistants/{assistant}/knowledge                 {"entries": [...], "passages": n}, newest first
//	POST   /api/v1/assistants/{assistant}/knowledge                 an FAQ {"kind":"faq","question","answer"} or a text {"kind":"text","title","text"} → 201
//	POST   /api/v1/assistants/{assistant}/knowledge/documents       multipart: file (PDF, Markdown, HTML, text), title → 201
//	POST   /api/v1/assistants/{assistant}/knowledge/search          {"query","k","answer"} → {"passages", "answer"}
//	GET    /api/v1/assistants/{assistant}/knowledge/{id}            the entry with its passages
//	PATCH  /api/v1/assistants/{assistant}/knowledge/{id}            the fields given → 200
//	DELETE /api/v1/assistants/{assistant}/knowledge/{id}            → 204
//	GET    /api/v1/assistants/{assistant}/knowledge/{id}/original   a document's file as uploaded
//
// The entries have one owner, knowledgeBase: its mutex holds each
// change's read of the index counts (persistence.PutKnowledge) and the
// workspace's limit together with its commit. A correction given with a
// down rating becomes an entry of kind correction, written here after
// the rating's commit (knowledgeBase.correction).
type knowledgeBase struct {
	s     *Server
	store *persistence.Store
	mu    sync.Mutex
	embed *embedder

	changes   *prometheus.CounterVec
	documents *prometheus.CounterVec
}

// Limits of the knowledge routes.
const (
	// MaxKnowledgeDocumentBytes is the largest document upload; a larger
	// request is refused before its body is read (413).
	maxKnowledgeQueryBytes = 2000
	maxKnowledgeK          = 20
)

func (s *Server) knowledgeRoutes(api fiber.Router) {
	h := &knowledgeBase{s: s, store: s.cfg.Store,
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_knowledge_changes_total",
			Help: "Knowledge base entries changed, by kind (faq, text, document, correction) and change (created, updated, deleted)."},
			[]string{"kind", "change"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_knowledge_documents_total",
			Help: "Documents uploaded to a knowledge base, by result (indexed, unsupported, unreadable, too_large)."}, []string{"result"}),
	}
	if reg := s.cfg.Registerer; reg != nil {
		reg.MustRegister(h.changes, h.documents)
	}
	for _, r := range []string{"indexed", "unsupported", "unreadable", "too_large"} {
		h.documents.WithLabelValues(r)
	}
	h.embed = newEmbedder(h, s.cfg.Registerer)
	s.knowledge = h
	g := api.Group("/assistants/:assistant/knowledge")
	g.Get("/embeddings", h.getEmbeddings)
	g.Put("/embeddings", requireRole(engine.RoleAdmin), h.putEmbeddings)
	g.Get("", h.list)
	g.Post("", requireRole(engine.RoleAdmin), h.create)
	g.Post("/documents", requireRole(engine.RoleAdmin), h.upload)
	g.Post("/search", requireRole(engine.RoleAdmin), h.search)
	g.Get("/:id", h.get)
	g.Patch("/:id", requireRole(engine.RoleAdmin), h.update)
	g.Delete("/:id", requireRole(engine.RoleAdmin), h.delete)
	g.Get("/:id/original", h.original)
}

// assistantExists says whether workspace ws has an assistant with id
// asst (the default one always; others in the agents' registry).
func (s *Server) assistantExists(ws engine.ID, asst string) (bool, error) {
	if asst == engine.DefaultAssistant {
		return true, nil
	}
	_, ok := s.agents.Assistant(ws, asst)
	return ok, nil
}

var errNoAssistant = errorf(fiber.StatusNotFound, "not_found", "no such assistant")

// assistantParam reads the route's assistant id and checks it exists.
func (h *knowledgeBase) assistantParam(c *fiber.Ctx) (string, error) {
	asst := c.Params("assistant")
	if !engine.ValidAssistantID(asst) {
		return "", errNoAssistant
	}
	ok, err := h.s.assistantExists(who(c).WorkspaceID, asst)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNoAssistant
	}
	return asst, nil
}

// entryParams reads the assistant and the entry id of a route.
func (h *knowledgeBase) entryParams(c *fiber.Ctx) (string, engine.ID, error) {
	asst, err := h.assistantParam(c)
	if err != nil {
		return "", engine.ID{}, err
	}
	id, err := idParam(c, "id")
	return asst, id, err
}

// knowledgeBody is a create or an update of an FAQ or a text.
type knowledgeBody struct {
	Kind     engine.KnowledgeKind `json:"kind"`
	Title    *string              `json:"title"`
	Question *string              `json:"question"`
	Answer   *string              `json:"answer"`
	Text     *string              `json:"text"`
}

func (h *knowledgeBase) parse(c *fiber.Ctx, create bool) (knowledgeBody, error) {
	var b knowledgeBody
	if err := decodeJSON(c, &b); err != nil {
		return b, err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return b, err
	}
	if create && b.Kind != engine.KnowledgeFAQ && b.Kind != engine.KnowledgeText {
		return b, errorf(fiber.StatusBadRequest, "invalid", "kind must be faq or text")
	}
	return b, nil
}

func (b knowledgeBody) change() engine.KnowledgeChange {
	return engine.KnowledgeChange{Title: b.Title, Question: b.Question, Answer: b.Answer, Text: b.Text}
}

func (h *knowledgeBase) list(c *fiber.Ctx) error {
	asst, err := h.assistantParam(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	es, err := h.store.KnowledgeEntries(ws, asst)
	if err != nil {
		return err
	}
	slices.Reverse(es)
	if es == nil {
		es = []engine.KnowledgeEntry{}
	}
	n, _, err := h.store.KnowledgeStats(ws, asst)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entries": es, "passages": n})
}

func (h *knowledgeBase) get(c *fiber.Ctx) error {
	asst, id, err := h.entryParams(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	e, err := h.store.KnowledgeEntry(ws, asst, id)
	if err != nil {
		return fromEngine(err)
	}
	ps, err := h.store.KnowledgeEntryPassages(ws, asst, id)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []engine.Passage{}
	}
	return c.JSON(fiber.Map{"entry": e, "passages": ps})
}

// commit writes entry e (nil: deletes entry id) with passages ps, its
// document reference changes and its count, under the mutex.
func (h *knowledgeBase) commit(ws engine.ID, asst string, id engine.ID, e *engine.KnowledgeEntry, ps []engine.Passage, extra func(*persistence.Batch)) error {
	b := h.store.NewBatch()
	defer b.Close()
	if err := h.store.PutKnowledge(b, ws, asst, id, e, ps); err != nil {
		return fmt.Errorf("indexing knowledge entry: %w", err)
	}
	if extra != nil {
		extra(b)
	}
	if err := h.store.Commit(b); err != nil {
		return fmt.Errorf("storing knowledge entry: %w", err)
	}
	if e != nil {
		h.embedChanged(ws, asst)
	}
	return nil
}

// checkRoom refuses a new entry when the assistant holds the most.
func (h *knowledgeBase) checkRoom(ws engine.ID, asst string) error {
	n, err := h.store.CountKnowledgeEntries(ws, asst, engine.MaxKnowledgeEntries)
	if err != nil {
		return err
	}
	if n >= engine.MaxKnowledgeEntries {
		return errorf(fiber.StatusConflict, "too_many_entries", "an assistant keeps at most %d knowledge entries: delete some first", engine.MaxKnowledgeEntries)
	}
	return nil
}

func (h *knowledgeBase) create(c *fiber.Ctx) error {
	b, err := h.parse(c, true)
	if err != nil {
		return err
	}
	asst, err := h.assistantParam(c)
	if err != nil {
		return err
	}
	p := who(c)
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	e, err := engine.ApplyKnowledge(engine.KnowledgeEntry{ID: engine.NewID(now), WorkspaceID: p.WorkspaceID, Assistant: asst,
		Kind: b.Kind, CreatedBy: p.UserID, CreatedAt: now}, b.change(), now)
	if err != nil {
		return fromEngine(err)
	}
	ps := engine.KnowledgePassages(&e, "")
	e.Passages = len(ps)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checkRoom(p.WorkspaceID, asst); err != nil {
		return err
	}
	if err := h.commit(p.WorkspaceID, asst, e.ID, &e, ps, nil); err != nil {
		return err
	}
	h.changes.WithLabelValues(string(e.Kind), "created").Inc()
	return c.Status(fiber.StatusCreated).JSON(e)
}

func (h *knowledgeBase) update(c *fiber.Ctx) error {
	b, err := h.parse(c, false)
	if err != nil {
		return err
	}
	asst, id, err := h.entryParams(c)
	if err != nil {
		return err
	}
	if b.Kind != "" {
		return errorf(fiber.StatusBadRequest, "invalid", "the kind of an entry never changes")
	}
	ws := who(c).WorkspaceID
	h.mu.Lock()
	defer h.mu.Unlock()
	old, err := h.store.KnowledgeEntry(ws, asst, id)
	if err != nil {
		return fromEngine(err)
	}
	e, err := engine.ApplyKnowledge(old, b.change(), h.s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return fromEngine(err)
	}
	var docText string
	if e.Kind == engine.KnowledgeDocument {
		// A document keeps its text; its passages take the new title.
		ps, err := h.store.KnowledgeEntryPassages(ws, asst, id)
		if err != nil {
			return err
		}
		texts := make([]string, len(ps))
		for i, p := range ps {
			texts[i] = p.Text
		}
		docText = strings.Join(texts, "\n\n")
	}
	ps := engine.KnowledgePassages(&e, docText)
	e.Passages = len(ps)
	if err := h.commit(ws, asst, id, &e, ps, nil); err != nil {
		return err
	}
	h.changes.WithLabelValues(string(e.Kind), "updated").Inc()
	return c.JSON(e)
}

func (h *knowledgeBase) delete(c *fiber.Ctx) error {
	asst, id, err := h.entryParams(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	h.mu.Lock()
	defer h.mu.Unlock()
	old, err := h.store.KnowledgeEntry(ws, asst, id)
	if err != nil {
		return fromEngine(err)
	}
	if err := h.commit(ws, asst, id, nil, nil, func(b *persistence.Batch) {
		if old.Document != nil {
			b.DeleteKnowledgeDocRef(ws, old.Document.SHA256, asst, id)
		}
	}); err != nil {
		return err
	}
	if old.Document != nil {
		h.removeFile(ws, old.Document.SHA256)
	}
	h.changes.WithLabelValues(string(old.Kind), "deleted").Inc()
	return c.SendStatus(fiber.StatusNoContent)
}

// removeFile removes a document's original once nothing references it
// (neither a message nor another entry).
func (h *knowledgeBase) removeFile(ws engine.ID, digest string) {
	if _, err := h.s.media.RemoveUnreferenced(ws, digest, func() (bool, error) { return h.store.MediaReferenced(ws, digest) }); err != nil {
		h.s.log.Warn("Knowledge: removing a document's file; the sweeper will", "err", err)
	}
}

// upload adds an uploaded document: its text is read (knowledge.Extract)
// and indexed, its file kept in the media store as uploaded.
func (h *knowledgeBase) upload(c *fiber.Ctx) error {
	asst, err := h.assistantParam(c)
	if err != nil {
		return err
	}
	p := who(c)
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		return errorf(fiber.StatusBadRequest, "bad_upload", "send the document as multipart/form-data with a \"file\" part")
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return errorf(fiber.StatusBadRequest, "bad_upload", "a multipart \"file\" part is required")
	}
	f, err := fh.Open()
	if err != nil {
		return errorf(fiber.StatusBadRequest, "bad_upload", "cannot read the uploaded file")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(h.s.cfg.BodyLimit)+1))
	if err != nil {
		return errorf(fiber.StatusBadRequest, "bad_upload", "cannot read the uploaded file")
	}
	if len(data) > h.s.cfg.BodyLimit {
		h.documents.WithLabelValues("too_large").Inc()
		return errorf(fiber.StatusRequestEntityTooLarge, "body_too_large", "a document may be at most %d bytes", h.s.cfg.BodyLimit)
	}
	mimeType := fh.Header.Get(fiber.HeaderContentType)
	format, err := knowledge.FormatOf(fh.Filename, mimeType, data)
	if err != nil {
		h.documents.WithLabelValues("unsupported").Inc()
		return errorf(fiber.StatusUnsupportedMediaType, "unsupported_document", "%s", err.Error())
	}
	text, err := knowledge.Extract(format, data, engine.MaxKnowledgeDocumentTextBytes)
	if err == nil && strings.TrimSpace(text) == "" {
		err = fmt.Errorf("%w: the document holds no text", knowledge.ErrUnreadable)
	}
	if err != nil {
		h.documents.WithLabelValues("unreadable").Inc()
		return errorf(fiber.StatusUnprocessableEntity, "unreadable_document", "%s", err.Error())
	}
	title := strings.TrimSpace(c.FormValue("title"))
	if title == "" {
		title = strings.TrimSuffix(fh.Filename, pathExt(fh.Filename))
	}
	if title == "" {
		title = "Document"
	}
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	e, err := engine.ApplyKnowledge(engine.KnowledgeEntry{ID: engine.NewID(now), WorkspaceID: p.WorkspaceID, Assistant: asst,
		Kind: engine.KnowledgeDocument, CreatedBy: p.UserID, CreatedAt: now},
		engine.KnowledgeChange{Title: &title}, now)
	if err != nil {
		return fromEngine(err)
	}
	ps := engine.KnowledgePassages(&e, text)
	e.Passages = len(ps)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checkRoom(p.WorkspaceID, asst); err != nil {
		return err
	}
	mt := media.SanitizeMime(cmpOr(mimeType, mime.TypeByExtension(pathExt(fh.Filename)), "application/octet-stream"))
	_, digest, size, err := h.s.media.Put(p.WorkspaceID, mt, bytes.NewReader(data))
	if errors.Is(err, media.ErrTooLarge) {
		h.documents.WithLabelValues("too_large").Inc()
		return errorf(fiber.StatusRequestEntityTooLarge, "body_too_large", "the document is larger than the media limit")
	}
	if err != nil {
		return fmt.Errorf("storing knowledge document: %w", err)
	}
	// Pinned until the entry that references it is committed (or not:
	// the file is then an orphan for the sweeper).
	defer h.s.media.Unpin(p.WorkspaceID, digest)
	e.Document = &engine.KnowledgeDoc{Filename: safeFilename(fh.Filename), MimeType: mt, SHA256: digest, Size: size}
	if err := h.commit(p.WorkspaceID, asst, e.ID, &e, ps, func(b *persistence.Batch) {
		b.PutKnowledgeDocRef(p.WorkspaceID, digest, asst, e.ID)
	}); err != nil {
		return err
	}
	h.documents.WithLabelValues("indexed").Inc()
	h.changes.WithLabelValues(string(e.Kind), "created").Inc()
	return c.Status(fiber.StatusCreated).JSON(e)
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func pathExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 && !strings.ContainsAny(name[i:], `/\`) {
		return name[i:]
	}
	return ""
}

// safeFilename keeps a file's base name, valid UTF-8 of at most 200
// bytes, without control characters or quotes.
func safeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	if len(name) > 200 {
		name = strings.ToValidUTF8(name[:200], "")
	}
	if name == "" {
		name = "document"
	}
	return name
}

// original streams a document's file as uploaded.
func (h *knowledgeBase) original(c *fiber.Ctx) error {
	asst, id, err := h.entryParams(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	e, err := h.store.KnowledgeEntry(ws, asst, id)
	if err != nil {
		return fromEngine(err)
	}
	if e.Document == nil {
		return errorf(fiber.StatusNotFound, "not_found", "this entry has no document")
	}
	f, typ, err := h.s.media.Open(ws, e.Document.SHA256)
	if errors.Is(err, os.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": e.Document.Filename}))
	return sendFile(c, f, typ, "private, no-cache")
}

// knowledgeSearchBody is what the tester sends.
type knowledgeSearchBody struct {
	Query  string `json:"query"`
	K      int    `json:"k"`
	Answer bool   `json:"answer"`
}

// search answers "what would the assistant answer?": the passages the
// agent would receive for query, and with answer, the agent's reply
// through the agent test console's path (nothing is stored).
func (h *knowledgeBase) search(c *fiber.Ctx) error {
	var b knowledgeSearchBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	asst, err := h.assistantParam(c)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(b.Query)
	if q == "" || len(q) > maxKnowledgeQueryBytes {
		return errorf(fiber.StatusBadRequest, "invalid", "query must be 1 to %d bytes", maxKnowledgeQueryBytes)
	}
	k := b.K
	if k == 0 {
		k = engine.KnowledgeTopK
	}
	if k < 1 || k > maxKnowledgeK {
		return errorf(fiber.StatusBadRequest, "invalid", "k must be 1 to %d", maxKnowledgeK)
	}
	ws := who(c).WorkspaceID
	start := time.Now()
	ps, err := h.embed.SearchKnowledge(c.UserContext(), ws, asst, q, k)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if ps == nil {
		ps = []engine.KnowledgePassage{}
	}
	out := fiber.Map{"passages": ps, "took_ms": float64(took.Microseconds()) / 1000}
	if b.Answer {
		// The assistant's own settings; the default assistant's are
		// the workspace's.
		set, _ := h.s.agents.Settings(ws, "", "")
		if a, ok := h.s.agents.Assistant(ws, asst); ok && asst != engine.DefaultAssistant {
			set = a.Settings
		}
		set.WorkspaceID, set.Channel, set.AccountID = ws, "", ""
		hist, last, err := agentTestHistory(ws, []agentTestMessage{{From: "customer", Text: q}})
		if err != nil {
			return err
		}
		// The agent receives what the runtime would give it: the top
		// engine.KnowledgeTopK passages.
		res, err := h.s.tryAgent(set, hist, last, ps[:min(len(ps), engine.KnowledgeTopK)])
		if err != nil {
			return err
		}
		out["answer"] = res
	}
	return c.JSON(out)
}

// correction keeps the knowledge entry of rating fb: a down rating with
// a correction (and the question it answered) is an entry of kind
// correction, question and corrected answer, which the agent receives
// like any entry; another rating by the same person of the same reply
// replaces or removes it. It runs after the rating's commit; a failure
// is logged (the rating stands, the entry is written by the next
// rating).
func (h *knowledgeBase) correction(ctx context.Context, conv *engine.Conversation, fb engine.Feedback) {
	ws := fb.WorkspaceID
	asst := engine.AssistantOf(conv)
	ref := engine.KnowledgeRating{ConversationID: fb.ConversationID, Seq: fb.Seq, UserID: fb.UserID}
	id := engine.CorrectionEntryID(ref)
	h.mu.Lock()
	defer h.mu.Unlock()
	old, err := h.store.KnowledgeEntry(ws, asst, id)
	exists := err == nil
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		h.s.log.WarnContext(ctx, "Knowledge: reading a correction", "err", err)
		return
	}
	if fb.Rating != engine.RatingDown || fb.Correction == "" || strings.TrimSpace(fb.Question) == "" {
		if exists {
			if err := h.commit(ws, asst, id, nil, nil, nil); err != nil {
				h.s.log.WarnContext(ctx, "Knowledge: removing a correction", "err", err)
				return
			}
			h.changes.WithLabelValues(string(engine.KnowledgeCorrection), "deleted").Inc()
		}
		return
	}
	e := old
	if !exists {
		e = engine.KnowledgeEntry{ID: id, WorkspaceID: ws, Assistant: asst, Kind: engine.KnowledgeCorrection, Rating: &ref,
			CreatedBy: fb.UserID, CreatedAt: fb.At}
		if err := h.checkRoom(ws, asst); err != nil {
			h.s.log.WarnContext(ctx, "Knowledge: no room for a correction", "err", err)
			return
		}
	}
	q := truncateUTF8(strings.TrimSpace(fb.Question), engine.MaxKnowledgeQuestionBytes)
	e, err = engine.ApplyKnowledge(e, engine.KnowledgeChange{Question: &q, Answer: &fb.Correction}, fb.At)
	if err != nil {
		h.s.log.WarnContext(ctx, "Knowledge: a correction that is no entry", "err", err)
		return
	}
	ps := engine.KnowledgePassages(&e, "")
	e.Passages = len(ps)
	if err := h.commit(ws, asst, id, &e, ps, nil); err != nil {
		h.s.log.WarnContext(ctx, "Knowledge: storing a correction", "err", err)
		return
	}
	change := "created"
	if exists {
		change = "updated"
	}
	h.changes.WithLabelValues(string(engine.KnowledgeCorrection), change).Inc()
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
