package gateway

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Retention, legal hold, a contact's data export and its erasure
// (docs/ARCHITECTURE.md, "Retention, legal hold, export and erasure").
//
//	GET    /api/v1/retention                     the policy and the last run's progress
//	PUT    /api/v1/retention                     {message_days, closed_conversation_days} (admin)
//	GET    /api/v1/contacts/{id}/legal-hold      {held, hold}
//	PUT    /api/v1/contacts/{id}/legal-hold      {reason} (admin) → {held, hold}
//	DELETE /api/v1/contacts/{id}/legal-hold      (admin) → 204
//	GET    /api/v1/contacts/{id}/export          everything about the contact as a ZIP (audited)
//	POST   /api/v1/contacts/{id}/erase           {confirm: the contact's id} (admin) → {erased...}
//
// The policy is a workspace record written under one mutex (its
// read-check-write and commit); a hold and an erasure go through the
// contact's actor (actors/erase.go); retention itself runs in the
// runtime's retention worker (actors/retention.go).
type retention struct {
	s  *Server
	mu sync.Mutex // holds each policy change's read, check and commit

	exports  prometheus.Counter
	erasures prometheus.Counter
}

func (s *Server) retentionRoutes(api fiber.Router) {
	h := &retention{s: s,
		exports: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_contact_exports_total", Help: "Contact data exports (ZIP) started."}),
		erasures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_contact_erasures_total", Help: "Contacts erased with everything Parley held about them."}),
	}
	if reg := s.cfg.Registerer; reg != nil {
		reg.MustRegister(h.exports, h.erasures)
	}
	// Media files whose messages retention deleted go as soon as no
	// other message references them.
	s.cfg.Runtime.SetMediaReleaser(s.sweeper.Release)
	api.Get("/retention", h.get)
	api.Put("/retention", requireRole(engine.RoleAdmin), h.put)
	api.Get("/contacts/:id/legal-hold", h.getHold)
	api.Put("/contacts/:id/legal-hold", requireRole(engine.RoleAdmin), h.putHold)
	api.Delete("/contacts/:id/legal-hold", requireRole(engine.RoleAdmin), h.deleteHold)
	api.Get("/contacts/:id/export", h.export)
	api.Post("/contacts/:id/erase", requireRole(engine.RoleAdmin), h.erase)
}

// retentionBody is the body of PUT /api/v1/retention.
type retentionBody struct {
	MessageDays            *int `json:"message_days"`
	ClosedConversationDays *int `json:"closed_conversation_days"`
}

// parseRetentionBody reads and checks a retention policy body.
func parseRetentionBody(body []byte) (engine.RetentionPolicy, error) {
	var b retentionBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.RetentionPolicy{}, err
	}
	if b.MessageDays == nil || b.ClosedConversationDays == nil {
		return engine.RetentionPolicy{}, errorf(fiber.StatusBadRequest, "invalid", "message_days and closed_conversation_days are required (0 keeps forever)")
	}
	p := engine.RetentionPolicy{MessageDays: *b.MessageDays, ClosedConversationDays: *b.ClosedConversationDays}
	if err := p.CheckRetentionPolicy(); err != nil {
		return p, fromEngine(err)
	}
	return p, nil
}

type retentionView struct {
	Policy engine.RetentionPolicy         `json:"policy"`
	Run    *persistence.RetentionProgress `json:"run,omitempty"`
}

func (h *retention) view(ws engine.ID) (retentionView, error) {
	st := h.s.cfg.Store
	p, err := st.RetentionPolicy(ws)
	if err != nil {
		return retentionView{}, err
	}
	v := retentionView{Policy: p}
	if prog, ok, err := st.RetentionProgress(ws); err != nil {
		return v, err
	} else if ok {
		v.Run = &prog
	}
	return v, nil
}

func (h *retention) get(c *fiber.Ctx) error {
	v, err := h.view(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h *retention) put(c *fiber.Ctx) error {
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	p, err := parseRetentionBody(c.Body())
	if err != nil {
		return err
	}
	me := who(c)
	ws := me.WorkspaceID
	st := h.s.cfg.Store
	h.mu.Lock()
	defer h.mu.Unlock()
	before, err := st.RetentionPolicy(ws)
	if err != nil {
		return err
	}
	p.UpdatedAt = h.s.cfg.Runtime.Clock().Now().UTC()
	p.UpdatedBy = me.UserID.String()
	b := st.NewBatch()
	b.PutRetentionPolicy(ws, &p)
	if err := st.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing the retention policy: %w", err)
	}
	auditChange(c, before, p)
	v, err := h.view(ws)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// legalHoldBody is the body of PUT /api/v1/contacts/{id}/legal-hold.
type legalHoldBody struct {
	Reason string `json:"reason"`
}

type legalHoldView struct {
	Held bool              `json:"held"`
	Hold *engine.LegalHold `json:"hold,omitempty"`
}

func (h *retention) getHold(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	if _, err := h.s.cfg.Store.Contact(ws, id); err != nil {
		return fromEngine(err)
	}
	hold, held, err := h.s.cfg.Store.LegalHold(ws, id)
	if err != nil {
		return err
	}
	v := legalHoldView{Held: held}
	if held {
		v.Hold = &hold
	}
	return c.JSON(v)
}

func (h *retention) putHold(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var b legalHoldBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	reason, err := engine.CheckLegalHoldReason(b.Reason)
	if err != nil {
		return fromEngine(err)
	}
	me := who(c)
	hold := &engine.LegalHold{ContactID: id, Reason: reason, SetBy: me.UserID.String(),
		SetAt: h.s.cfg.Runtime.Clock().Now().UTC()}
	got, held, err := h.s.cfg.Runtime.SetLegalHold(c.UserContext(), me.WorkspaceID, id, hold)
	if err != nil {
		return contactErr(err)
	}
	return c.JSON(legalHoldView{Held: held, Hold: &got})
}

func (h *retention) deleteHold(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, _, err := h.s.cfg.Runtime.SetLegalHold(c.UserContext(), who(c).WorkspaceID, id, nil); err != nil {
		return contactErr(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// contactErr maps the contact actor's errors of a hold or an erasure.
func contactErr(err error) error {
	switch {
	case errors.Is(err, actors.ErrContactNotFound):
		return errNotFound
	case errors.Is(err, actors.ErrLegalHold):
		return errorf(fiber.StatusConflict, "legal_hold", "the contact is on legal hold: release the hold first")
	}
	return fromEngine(err)
}

// eraseBody is the body of POST /api/v1/contacts/{id}/erase: confirm must
// repeat the contact's id.
type eraseBody struct {
	Confirm string `json:"confirm"`
}

// parseEraseBody reads an erasure's body and checks its confirmation
// against contact id.
func parseEraseBody(body []byte, id engine.ID) error {
	var b eraseBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return err
	}
	if b.Confirm != id.String() {
		return errorf(fiber.StatusBadRequest, "confirm_mismatch", "confirm must be the contact's id")
	}
	return nil
}

func (h *retention) erase(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	// Another workspace's contact is not found before its confirmation
	// is read (a 404, as every route answers other workspaces' ids).
	ct, err := h.s.cfg.Store.Contact(ws, id)
	if err != nil {
		return contactErr(err)
	}
	if err := parseEraseBody(c.Body(), id); err != nil {
		return err
	}
	e, err := h.s.cfg.Runtime.EraseContact(c.UserContext(), ws, id)
	if err != nil {
		return contactErr(err)
	}
	h.s.sweeper.Release(ws, e.Digests)
	// The outgoing webhook deliveries that name the contact go too, by
	// their owner (docs/ARCHITECTURE.md, "Retention, legal hold, export
	// and erasure").
	if _, err := h.s.hooks.EraseContact(ws, append(e.ConversationIDs, id), erasureNeedles(&ct, e.ConversationIDs)); err != nil {
		return fmt.Errorf("erasing the webhook deliveries of contact %s: %w", id, err)
	}
	h.erasures.Inc()
	return c.JSON(fiber.Map{"erased": true, "contact_id": id, "conversations": e.Conversations, "messages": e.Messages,
		"files": len(e.Digests)})
}

// exportConversation is a conversation's file in a contact's export.
type exportConversation struct {
	Conversation engine.Conversation `json:"conversation"`
	Messages     []engine.Message    `json:"messages"` // oldest first, with their delivery statuses
	Notes        []engine.Note       `json:"notes"`
}

// exportContact is contact.json in a contact's export.
type exportContact struct {
	ExportedAt      time.Time               `json:"exported_at"`
	Contact         engine.Contact          `json:"contact"`
	Consent         exportConsent           `json:"consent"`
	LegalHold       *engine.LegalHold       `json:"legal_hold,omitempty"`
	Notes           []engine.Note           `json:"notes"`
	Memories        []engine.Memory         `json:"memories"`
	Segments        []engine.ID             `json:"segments"`
	FormSubmissions []engine.FormSubmission `json:"form_submissions"`
	Activity        []activityItem          `json:"activity"`
	Conversations   []engine.ID             `json:"conversations"`
}

type exportConsent struct {
	Unsubscribed bool `json:"unsubscribed"`
	Blocked      bool `json:"blocked"`
}

// exportMaxActivity bounds the activity items of an export.
const exportMaxActivity = 10000

// export streams everything Parley holds about a contact as a ZIP:
// contact.json, conversations/<id>.json and media/<conversation>/<seq>-<name>.
func (h *retention) export(c *fiber.Ctx) error {
	auditRead(c)
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	st := h.s.cfg.Store
	ct, err := st.Contact(ws, id)
	if err != nil {
		return fromEngine(err)
	}
	doc := exportContact{ExportedAt: h.s.cfg.Runtime.Clock().Now().UTC(), Contact: ct,
		Consent: exportConsent{Unsubscribed: ct.Unsubscribed, Blocked: ct.Blocked}}
	if hold, held, err := st.LegalHold(ws, id); err != nil {
		return err
	} else if held {
		doc.LegalHold = &hold
	}
	if doc.Notes, err = st.Notes(ws, id, 1<<30); err != nil {
		return err
	}
	if doc.Memories, err = st.Memories(ws, id, engine.MaxMemories); err != nil {
		return err
	}
	if doc.Segments, err = st.ContactSegments(ws, id); err != nil {
		return err
	}
	if doc.FormSubmissions, err = st.ContactSubmissions(ws, id, 1<<30); err != nil {
		return err
	}
	ch := &contacts{s: h.s, store: st, rt: h.s.cfg.Runtime}
	if doc.Activity, err = ch.page(ws, id, nil, exportMaxActivity, false); err != nil {
		return err
	}
	if doc.Conversations, err = st.ContactConversations(ws, id); err != nil {
		return err
	}
	h.exports.Inc()
	media, log := h.s.media, h.s.log
	c.Set(fiber.HeaderContentType, "application/zip")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="contact-`+id.String()+`.zip"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		zw := zip.NewWriter(w)
		if err := writeExport(zw, ws, &doc, st, func(digest string) (io.ReadCloser, error) {
			f, _, err := media.Open(ws, digest)
			return f, err
		}); err != nil {
			log.Error("Exporting a contact", "contact", id, "err", err)
			return
		}
		if err := zw.Close(); err != nil {
			return
		}
		_ = w.Flush()
	})
	return nil
}

// writeExport writes the export's files into zw, one conversation at a
// time so that memory stays bounded by a conversation.
func writeExport(zw *zip.Writer, ws engine.ID, doc *exportContact, st *persistence.Store,
	open func(digest string) (io.ReadCloser, error)) error {
	if err := writeJSONFile(zw, "contact.json", doc); err != nil {
		return err
	}
	for _, conv := range doc.Conversations {
		hdr, err := st.Conversation(ws, conv)
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		ec := exportConversation{Conversation: hdr, Messages: []engine.Message{}, Notes: []engine.Note{}}
		for before := uint64(0); ; {
			page, err := st.Messages(ws, conv, before, 500)
			if err != nil {
				return err
			}
			ec.Messages = append(ec.Messages, page...)
			if len(page) < 500 {
				break
			}
			before = page[len(page)-1].Seq
		}
		slices.Reverse(ec.Messages)
		for _, n := range doc.Notes {
			if n.ConversationID != nil && *n.ConversationID == conv {
				ec.Notes = append(ec.Notes, n)
			}
		}
		if err := writeJSONFile(zw, "conversations/"+conv.String()+".json", &ec); err != nil {
			return err
		}
		for i := range ec.Messages {
			m := &ec.Messages[i]
			d := persistence.MediaDigest(m.Media)
			if d == "" {
				continue
			}
			if err := writeMediaFile(zw, exportMediaName(conv, m), d, open); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportMediaName is where a message's file goes in the export.
func exportMediaName(conv engine.ID, m *engine.Message) string {
	name := path.Base(strings.ReplaceAll(m.Media.Filename, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "file"
	}
	return "media/" + conv.String() + "/" + strconv.FormatUint(m.Seq, 10) + "-" + name
}

func writeMediaFile(zw *zip.Writer, name, digest string, open func(string) (io.ReadCloser, error)) error {
	f, err := open(digest)
	if err != nil {
		return nil // a file the sweeper removed, or never fetched: the message says what it was
	}
	defer f.Close()
	w, err := zw.Create(name)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

func writeJSONFile(zw *zip.Writer, name string, v any) error {
	w, err := zw.Create(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// erasureNeedles are what names an erased contact in a stored webhook
// body: its id and its conversations' ids (as text and as bytes), its
// identities' external ids, its phone and its email.
func erasureNeedles(ct *engine.Contact, convs []engine.ID) [][]byte {
	var out [][]byte
	for _, id := range append([]engine.ID{ct.ID}, convs...) {
		out = append(out, []byte(id.String()), bytes.Clone(id[:]))
	}
	for _, v := range []string{ct.Profile.Phone, ct.Profile.Email} {
		if v != "" {
			out = append(out, []byte(v))
		}
	}
	for _, i := range ct.Identities {
		if i.ExternalID != "" {
			out = append(out, []byte(i.ExternalID))
		}
	}
	return out
}
