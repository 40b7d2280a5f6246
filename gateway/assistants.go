package gateway

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
)

// assistantView is an assistant as the API shows it: its agent settings
// as GET /agent shows them (never the API key), the channel accounts it
// handles (for the default assistant: every account of the workspace no
// other assistant lists) and how many conversations it handles.
type assistantView struct {
	ID            string              `json:"id"`
	Name          string              `json:"name"`
	Default       bool                `json:"default"`
	Accounts      []engine.AccountRef `json:"accounts"`
	Agent         agentView           `json:"agent"`
	Conversations int64               `json:"conversations"`
	CreatedAt     time.Time           `json:"created_at,omitzero"`
	UpdatedAt     time.Time           `json:"updated_at,omitzero"`
}

func (s *Server) viewAssistant(a engine.Assistant, counts map[string]int64) assistantView {
	v := assistantView{ID: a.ID, Name: a.Name, Default: a.ID == engine.DefaultAssistantID, Accounts: a.Accounts,
		Agent: viewAgent(a.Settings, false, s.cfg.Runtime.AIDebounce()), Conversations: counts[a.ID],
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	if v.Default {
		v.Accounts = nil
		for _, acct := range s.cfg.Accounts.Workspace(a.WorkspaceID) {
			if s.agents.AssistantFor(a.WorkspaceID, acct.Channel, acct.AccountID) == engine.DefaultAssistantID {
				v.Accounts = append(v.Accounts, engine.AccountRef{Channel: acct.Channel, AccountID: acct.AccountID})
			}
		}
	}
	if v.Accounts == nil {
		v.Accounts = []engine.AccountRef{}
	}
	return v
}

// assistantBody creates an assistant or changes the fields it names.
type assistantBody struct {
	Name *string `json:"name"`
	// Accounts replaces the channel accounts the assistant handles; an
	// account another assistant listed moves to this one.
	Accounts *[]engine.AccountRef `json:"accounts"`
	// Agent changes the assistant's agent settings as PUT /agent does.
	Agent *agentBody `json:"agent"`
}

// assistantCounts reads how many conversations each assistant handles;
// a failure leaves the counts out rather than failing the answer.
func (s *Server) assistantCounts(ws engine.ID) map[string]int64 {
	counts, err := s.cfg.Store.AssistantCounts(ws)
	if err != nil {
		s.log.Warn("Reading the assistants' conversation counts", "workspace", ws, "err", err)
	}
	return counts
}

func (s *Server) listAssistants(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	counts := s.assistantCounts(ws)
	out := []assistantView{}
	for _, a := range s.agents.Assistants(ws) {
		out = append(out, s.viewAssistant(a, counts))
	}
	return c.JSON(fiber.Map{"assistants": out})
}

// assistantParam returns the assistant named by the path's id.
func (s *Server) assistantParam(c *fiber.Ctx) (engine.Assistant, error) {
	id := c.Params("id")
	if id == "" || len(id) > engine.MaxAssistantIDBytes || !utf8.ValidString(id) {
		return engine.Assistant{}, errNotFound
	}
	a, ok := s.agents.Assistant(who(c).WorkspaceID, id)
	if !ok {
		return a, errNotFound
	}
	return a, nil
}

func (s *Server) getAssistant(c *fiber.Ctx) error {
	a, err := s.assistantParam(c)
	if err != nil {
		return err
	}
	return c.JSON(s.viewAssistant(a, s.assistantCounts(a.WorkspaceID)))
}

// applyAssistant changes a by the body's fields; the accounts must be
// the workspace's.
func (s *Server) applyAssistant(a *engine.Assistant, b *assistantBody) error {
	return applyAssistantBody(a, b, func(ref engine.AccountRef) bool {
		acct, ok := s.cfg.Accounts.Get(ref.Channel, ref.AccountID)
		return ok && acct.WorkspaceID == a.WorkspaceID
	})
}

// applyAssistantBody changes a by the fields of b and checks the result
// (engine.Assistant.Validate, and the default assistant's settings);
// isAccount says whether an account is one of the workspace's. Errors
// are 400 API errors.
func applyAssistantBody(a *engine.Assistant, b *assistantBody, isAccount func(engine.AccountRef) bool) error {
	if b.Name != nil {
		a.Name = strings.TrimSpace(*b.Name)
	}
	if b.Accounts != nil {
		if a.ID == engine.DefaultAssistantID {
			return errorf(fiber.StatusBadRequest, "invalid", "the default assistant handles every account no other assistant lists: assign accounts to the other assistants")
		}
		for i, ref := range *b.Accounts {
			if !isAccount(ref) {
				return errorf(fiber.StatusBadRequest, "invalid", "accounts[%d] is not a channel account of this workspace", i)
			}
		}
		a.Accounts = *b.Accounts
	}
	if b.Agent != nil {
		if a.ID != engine.DefaultAssistantID && b.Agent.StripeWebhookSecret != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "stripe_webhook_secret is set on the default assistant's settings (PUT /api/v1/agent)")
		}
		if err := b.Agent.apply(&a.Settings); err != nil {
			return err
		}
	}
	if err := a.Validate(); err != nil {
		return fromEngine(err)
	}
	if a.ID == engine.DefaultAssistantID {
		set := a.Settings
		set.Channel, set.AccountID = "", ""
		if err := set.Validate(); err != nil {
			return fromEngine(err)
		}
	}
	return nil
}

func (s *Server) putAssistantErr(err error) error {
	if errors.Is(err, agents.ErrTooManyAssistants) {
		return errorf(fiber.StatusConflict, "too_many", "a workspace has at most %d assistants", engine.MaxAssistants)
	}
	return fromEngine(err)
}

func (s *Server) createAssistant(c *fiber.Ctx) error {
	var body assistantBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Name == nil {
		return errorf(fiber.StatusBadRequest, "invalid", "name is required")
	}
	ws := who(c).WorkspaceID
	now := time.Now().UTC()
	a := engine.Assistant{ID: engine.NewID(now).String(), WorkspaceID: ws, CreatedAt: now, UpdatedAt: now,
		Settings: agents.DefaultSettings(ws)}
	if err := s.applyAssistant(&a, &body); err != nil {
		return err
	}
	a.Settings.UpdatedAt = now
	if err := s.agents.PutAssistant(a); err != nil {
		return s.putAssistantErr(err)
	}
	stored, _ := s.agents.Assistant(ws, a.ID)
	return c.Status(fiber.StatusCreated).JSON(s.viewAssistant(stored, s.assistantCounts(ws)))
}

func (s *Server) updateAssistant(c *fiber.Ctx) error {
	var body assistantBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	cur, err := s.assistantParam(c)
	if err != nil {
		return err
	}
	counts := s.assistantCounts(cur.WorkspaceID)
	before := s.viewAssistant(cur, counts)
	// The change runs under the registry's lock: it reads no registry.
	stored, err := s.agents.ChangeAssistant(cur.WorkspaceID, cur.ID, func(a *engine.Assistant) error {
		if err := s.applyAssistant(a, &body); err != nil {
			return err
		}
		now := time.Now().UTC()
		a.UpdatedAt = now
		if body.Agent != nil {
			a.Settings.UpdatedAt = now
		}
		return nil
	})
	if err != nil {
		return s.putAssistantErr(err)
	}
	after := s.viewAssistant(stored, counts)
	auditChange(c, before, after)
	return c.JSON(after)
}

// deleteAssistant removes an assistant (never the default one): its
// channel accounts go back to the default assistant first (so no new
// conversation comes to it), then its conversations, each through its
// actor, then its record. A failure on the way leaves the assistant
// with fewer conversations and no account: deleting it again finishes.
func (s *Server) deleteAssistant(c *fiber.Ctx) error {
	a, err := s.assistantParam(c)
	if err != nil {
		return err
	}
	if a.ID == engine.DefaultAssistantID {
		return errorf(fiber.StatusConflict, "default_assistant", "the default assistant cannot be deleted")
	}
	if len(a.Accounts) > 0 {
		if _, err := s.agents.ChangeAssistant(a.WorkspaceID, a.ID, func(x *engine.Assistant) error {
			x.Accounts, x.UpdatedAt = nil, time.Now().UTC()
			return nil
		}); err != nil {
			return fromEngine(err)
		}
	}
	if err := s.moveAssistantConversations(c, a.WorkspaceID, a.ID); err != nil {
		return err
	}
	if err := s.agents.DeleteAssistant(a.WorkspaceID, a.ID); err != nil {
		return fromEngine(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// moveAssistantConversations hands the conversations of a deleted
// assistant back to the default one.
func (s *Server) moveAssistantConversations(c *fiber.Ctx, ws engine.ID, id string) error {
	convs, err := s.cfg.Store.AssistantConversations(ws, id)
	if err != nil {
		return fmt.Errorf("listing the conversations of assistant %s: %w", id, err)
	}
	for _, conv := range convs {
		_, err := s.cfg.Runtime.Execute(c.UserContext(), ws, conv, engine.SetAssistant{AssistantID: engine.DefaultAssistantID})
		if err != nil && !errors.Is(err, engine.ErrDeleted) {
			return fmt.Errorf("moving conversation %s to the default assistant: %w", conv, fromEngine(err))
		}
	}
	return nil
}

type conversationAssistantBody struct {
	AssistantID string `json:"assistant_id"`
}

// setConversationAssistant hands a conversation to another assistant.
func (s *Server) setConversationAssistant(c *fiber.Ctx) error {
	var b conversationAssistantBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if _, ok := s.agents.Assistant(who(c).WorkspaceID, b.AssistantID); !ok || len(b.AssistantID) > engine.MaxAssistantIDBytes {
		return errorf(fiber.StatusBadRequest, "invalid", "assistant_id is not an assistant of this workspace")
	}
	return s.action(c, engine.SetAssistant{AssistantID: b.AssistantID, UserID: who(c).UserID.String()})
}
