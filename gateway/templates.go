package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/persistence"
)

// WhatsApp message templates (engine/template.go):
//
//	GET  /api/v1/templates                      {"templates": [...]}, by name then language (every role)
//	POST /api/v1/templates/sync                 fetch every WhatsApp Business Account's templates from the Graph API (admin)
//	POST /api/v1/templates                      submit a new template to Meta for review (admin) → 201
//	POST /api/v1/conversations/{conv}/template  send a template in a WhatsApp conversation → 201 the message
//	POST /api/v1/contacts/{id}/template         the same in the contact's newest WhatsApp conversation
//
// The template records have one owner, templateStore: its mutex holds
// every write (a sync's replacement of an account's templates, a
// submission, a status webhook) with its commit (docs/ARCHITECTURE.md,
// "Who owns what"). Sends read the template as last committed; the
// pure rule engine.BuildTemplateMessage checks the send against it.
type templateStore struct {
	s  *Server
	mu sync.Mutex
}

// graphTimeout bounds one sync or submission's Graph calls.
const graphTimeout = 60 * time.Second

func (s *Server) templateRoutes(api fiber.Router) {
	h := s.templates
	api.Get("/templates", h.list)
	api.Post("/templates/sync", requireRole(engine.RoleAdmin), h.sync)
	api.Post("/templates", requireRole(engine.RoleAdmin), h.create)
	api.Post("/conversations/:conv/template", h.sendToConversation)
	api.Post("/contacts/:id/template", h.sendToContact)
}

func sortTemplates(ts []engine.Template) {
	slices.SortFunc(ts, func(a, b engine.Template) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Language, b.Language); c != 0 {
			return c
		}
		return strings.Compare(a.WABAID, b.WABAID)
	})
}

func (h *templateStore) list(c *fiber.Ctx) error {
	ts, err := h.s.cfg.Store.Templates(who(c).WorkspaceID, c.Query("waba_id"))
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []engine.Template{}
	}
	sortTemplates(ts)
	return c.JSON(fiber.Map{"templates": ts})
}

// wabaAccounts returns a WhatsApp account per WhatsApp Business Account
// of the workspace (the first by account id): the one whose token calls
// the Business Management API.
func (h *templateStore) wabaAccounts(ws engine.ID) []engine.ChannelAccount {
	var out []engine.ChannelAccount
	for _, a := range h.s.cfg.Accounts.Workspace(ws) {
		if a.Channel == engine.ChannelWhatsApp && a.WABAID != "" &&
			!slices.ContainsFunc(out, func(o engine.ChannelAccount) bool { return o.WABAID == a.WABAID }) {
			out = append(out, a)
		}
	}
	return out
}

var errNoWABA = errorf(fiber.StatusConflict, "no_waba", "no WhatsApp account of the workspace has a waba_id (its WhatsApp Business Account id): set it in Settings › Channels")

// graphFailure is the API error of a Graph call that failed: the Graph
// error's code and message when Meta refused, else a 502.
func graphFailure(op string, err error) error {
	var ge *meta.GraphError
	if errors.As(err, &ge) {
		status := fiber.StatusBadGateway
		if ge.HTTPStatus >= 400 && ge.HTTPStatus < 500 {
			status = fiber.StatusUnprocessableEntity
		}
		msg := ge.Message
		if ge.Details != "" {
			msg += " (" + ge.Details + ")"
		}
		return errorf(status, "graph_error", "%s: Meta answered code %d: %s", op, ge.Code, msg)
	}
	return errorf(fiber.StatusBadGateway, "graph_unreachable", "%s: %s", op, err.Error())
}

// sync fetches the templates of every WhatsApp Business Account of the
// workspace and replaces the stored ones in one batch: a template gone
// from Meta goes. One account's failure fails the sync and stores
// nothing.
func (h *templateStore) sync(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	accts := h.wabaAccounts(ws)
	if len(accts) == 0 {
		return errNoWABA
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), graphTimeout)
	defer cancel()
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	fetched := map[string][]engine.Template{}
	for _, a := range accts {
		ts, err := h.s.cfg.Graph.ListTemplates(ctx, a.WABAID, a.AccessToken)
		if err != nil {
			h.s.metrics.templateSyncs.WithLabelValues("error").Inc()
			h.s.log.Warn("Syncing WhatsApp templates failed", "waba", a.WABAID, "err", err)
			if errors.Is(err, meta.ErrTooManyTemplates) {
				return errorf(fiber.StatusUnprocessableEntity, "too_many_templates", "WhatsApp Business Account %s has more than %d templates", a.WABAID, engine.MaxTemplates)
			}
			return graphFailure("syncing the templates of WhatsApp Business Account "+a.WABAID, err)
		}
		for i := range ts {
			ts[i].WorkspaceID, ts[i].WABAID, ts[i].UpdatedAt = ws, a.WABAID, now
		}
		fetched[a.WABAID] = ts
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.s.cfg.Store.NewBatch()
	var all []engine.Template
	for waba, ts := range fetched {
		old, err := h.s.cfg.Store.Templates(ws, waba)
		if err != nil {
			return err
		}
		for _, o := range old {
			if !slices.ContainsFunc(ts, func(t engine.Template) bool { return t.Name == o.Name && t.Language == o.Language }) {
				b.DeleteTemplate(ws, waba, o.Name, o.Language)
			}
		}
		for i := range ts {
			b.PutTemplate(&ts[i])
		}
		all = append(all, ts...)
	}
	if err := h.s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("storing synced templates: %w", err)
	}
	h.s.metrics.templateSyncs.WithLabelValues("ok").Inc()
	if all == nil {
		all = []engine.Template{}
	}
	sortTemplates(all)
	return c.JSON(fiber.Map{"templates": all})
}

// templateCreateBody is a template to submit: the WhatsApp account
// whose Business Account receives it, and the template.
type templateCreateBody struct {
	AccountID  string                     `json:"account_id"`
	Name       string                     `json:"name"`
	Language   string                     `json:"language"`
	Category   string                     `json:"category"`
	Components []engine.TemplateComponent `json:"components"`
}

// parseTemplateCreate reads and checks a template to submit; a refusal
// is a 400.
func parseTemplateCreate(body []byte) (templateCreateBody, engine.Template, error) {
	var b templateCreateBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return b, engine.Template{}, err
	}
	t := engine.Template{Name: b.Name, Language: b.Language, Category: b.Category, Components: b.Components}
	if err := engine.ValidateTemplate(&t); err != nil {
		return b, t, fromEngine(err)
	}
	return b, t, nil
}

func (h *templateStore) create(c *fiber.Ctx) error {
	p := who(c)
	body, t, err := parseTemplateCreate(c.Body())
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	var acct engine.ChannelAccount
	for _, a := range h.s.cfg.Accounts.Workspace(p.WorkspaceID) {
		if a.Channel == engine.ChannelWhatsApp && a.WABAID != "" && (body.AccountID == "" || a.AccountID == body.AccountID) {
			acct = a
			break
		}
	}
	if acct.WABAID == "" {
		if body.AccountID != "" {
			return errorf(fiber.StatusBadRequest, "invalid", "account_id is not a WhatsApp account of the workspace with a waba_id")
		}
		return errNoWABA
	}
	ws := p.WorkspaceID
	if _, err := h.s.cfg.Store.Template(ws, acct.WABAID, t.Name, t.Language); err == nil {
		return errorf(fiber.StatusConflict, "template_exists", "a template %q in %s exists already", t.Name, t.Language)
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), graphTimeout)
	defer cancel()
	id, status, err := h.s.cfg.Graph.CreateTemplate(ctx, acct.WABAID, acct.AccessToken, t)
	if err != nil {
		return graphFailure("submitting the template", err)
	}
	t.WorkspaceID, t.WABAID, t.ID, t.Status = ws, acct.WABAID, id, status
	t.UpdatedAt = h.s.cfg.Runtime.Clock().Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.s.cfg.Store.NewBatch()
	b.PutTemplate(&t)
	if err := h.s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("storing a submitted template: %w", err)
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

// applyStatuses applies template status webhooks: each update changes
// the template of that name and language of every workspace whose
// WhatsApp account names the update's Business Account. A delivery not
// signed with the server's app secret (trusted false) changes only the
// templates of accounts whose own app secret signed it. An update of a
// template not stored yet is left for the next sync.
func (s *Server) applyTemplateStatuses(updates []engine.TemplateStatusUpdate, trusted bool, body []byte, sig string) error {
	h := s.templates
	h.mu.Lock()
	defer h.mu.Unlock()
	now := s.cfg.Runtime.Clock().Now().UTC()
	b := s.cfg.Store.NewBatch()
	changed := 0
	done := map[string]bool{}
	for _, a := range s.cfg.Accounts.All() {
		if a.Channel != engine.ChannelWhatsApp || a.WABAID == "" {
			continue
		}
		if !trusted && (a.AppSecret == "" || !meta.VerifySignature(body, sig, []byte(a.AppSecret))) {
			continue
		}
		for _, u := range updates {
			key := a.WorkspaceID.String() + "\x00" + u.WABAID + "\x00" + u.Name + "\x00" + u.Language
			if u.WABAID != a.WABAID || done[key] {
				continue
			}
			done[key] = true
			t, err := s.cfg.Store.Template(a.WorkspaceID, a.WABAID, u.Name, u.Language)
			if errors.Is(err, persistence.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if nt, ok := engine.ApplyTemplateStatus(t, u, now); ok {
				b.PutTemplate(&nt)
				changed++
			}
		}
	}
	if changed == 0 {
		return nil
	}
	if err := s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("storing template statuses: %w", err)
	}
	return nil
}

// parseTemplateSend reads a template send's body; a refusal is a 400.
func parseTemplateSend(body []byte) (engine.TemplateSend, error) {
	var req engine.TemplateSend
	if err := decodeJSONBytes(body, &req); err != nil {
		return req, err
	}
	if strings.TrimSpace(req.Name) == "" || strings.TrimSpace(req.Language) == "" {
		return req, errorf(fiber.StatusBadRequest, "invalid", "name and language are required")
	}
	return req, nil
}

func (h *templateStore) sendToConversation(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	req, err := parseTemplateSend(c.Body())
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	conv, err := h.s.cfg.Runtime.Conversation(who(c).WorkspaceID, id)
	if err != nil {
		return fromEngine(err)
	}
	return h.send(c, conv, req)
}

// sendToContact sends a template in the contact's WhatsApp conversation
// of most recent activity (on account_id when the query names one).
func (h *templateStore) sendToContact(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	req, err := parseTemplateSend(c.Body())
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	if _, err := h.s.cfg.Store.Contact(ws, id); err != nil {
		return fromEngine(err)
	}
	ids, err := h.s.cfg.Store.ContactConversations(ws, id)
	if err != nil {
		return err
	}
	var best engine.Conversation
	for _, cid := range ids {
		conv, err := h.s.cfg.Runtime.Conversation(ws, cid)
		if err != nil || conv.Channel != engine.ChannelWhatsApp || conv.Deleted {
			continue
		}
		if a := c.Query("account_id"); a != "" && conv.ChannelAccountID != a {
			continue
		}
		if best.ID == engine.ZeroID || conv.LastActivityAt.After(best.LastActivityAt) {
			best = conv
		}
	}
	if best.ID == engine.ZeroID {
		return errorf(fiber.StatusConflict, "no_whatsapp_conversation", "the contact has no WhatsApp conversation to send the template in")
	}
	return h.send(c, best, req)
}

// send checks req against its template and the conversation's contact
// (engine.BuildTemplateMessage) and hands it to the conversation's
// actor as a human's send: it goes through the outbox and the courier
// like any reply, outside the 24-hour window too.
func (h *templateStore) send(c *fiber.Ctx, conv engine.Conversation, req engine.TemplateSend) error {
	p := who(c)
	if conv.Channel != engine.ChannelWhatsApp {
		return errorf(fiber.StatusBadRequest, "invalid", "templates are sent on WhatsApp only")
	}
	acct, ok := h.s.cfg.Accounts.Get(conv.Channel, conv.ChannelAccountID)
	if !ok || acct.WorkspaceID != p.WorkspaceID {
		return errorf(fiber.StatusConflict, "not_connected", "the conversation's WhatsApp account is not connected")
	}
	if acct.WABAID == "" {
		return errNoWABA
	}
	t, err := h.s.cfg.Store.Template(p.WorkspaceID, acct.WABAID, req.Name, req.Language)
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf(fiber.StatusNotFound, "template_not_found", "no template %q in %q: sync the templates, or check its name and language", req.Name, req.Language)
	}
	if err != nil {
		return err
	}
	var contact *engine.Contact
	if conv.ContactID != engine.ZeroID {
		if ct, err := h.s.cfg.Store.Contact(p.WorkspaceID, conv.ContactID); err == nil {
			contact = &ct
		}
	}
	content, err := engine.BuildTemplateMessage(t, req, contact)
	if err != nil {
		return templateError(err)
	}
	res, err := h.s.cfg.Runtime.Execute(c.UserContext(), p.WorkspaceID, conv.ID, engine.SendHuman{UserID: p.UserID.String(), Content: content})
	if err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(res.Send[0])
}

// templateError maps the template rule's refusals to their API errors.
func templateError(err error) error {
	switch {
	case errors.Is(err, engine.ErrTemplateNotApproved):
		return errorf(fiber.StatusConflict, "template_not_approved", "%s", err.Error())
	case errors.Is(err, engine.ErrTemplateLanguage), errors.Is(err, engine.ErrTemplateNotFound):
		return errorf(fiber.StatusNotFound, "template_not_found", "%s", err.Error())
	case errors.Is(err, engine.ErrTemplateParams):
		return errorf(fiber.StatusBadRequest, "invalid_template_params", "%s", err.Error())
	}
	return fromEngine(err)
}
