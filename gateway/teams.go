package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Teams (engine/team.go): every role lists them, owners and admins
// change them, and anyone assigns a conversation to one. The teams
// routes own the workspace's team records and round-robin cursors: one
// mutex holds each change's read-check-write (the workspace's limit, the
// members being users of the workspace) with its commit, and each
// distribution from its reads (presence, loads, cursor) through the
// conversation actor's commit to the cursor's. docs/ARCHITECTURE.md,
// "Teams and presence".
//
//	GET    /api/v1/teams                  {"teams": [...]}, each member with its presence
//	POST   /api/v1/teams                  {"name","members"?,"distribution"?} → 201 (409 too_many_teams)
//	GET    /api/v1/teams/{id}             one
//	PATCH  /api/v1/teams/{id}             {"name"?,"members"?,"distribution"?} → 200
//	DELETE /api/v1/teams/{id}             → 204
//	POST   /api/v1/conversations/{conv}/team  {"team_id": id|null, "user_id"?} → the conversation
type teams struct {
	s  *Server
	mu sync.Mutex
	// assignments counts distributions by mode and outcome (member: a
	// member got it; team: nobody was available, or the team is manual).
	assignments *prometheus.CounterVec
}

func newTeams(s *Server, reg prometheus.Registerer) *teams {
	t := &teams{s: s, assignments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_team_assignments_total",
		Help: "Conversations assigned to a team, by the team's distribution and whether a member got it (member) or it waits in the team (team)."},
		[]string{"distribution", "result"})}
	if reg != nil {
		reg.MustRegister(t.assignments)
	}
	return t
}

func (s *Server) teamRoutes(api fiber.Router) {
	h := s.teams
	api.Get("/teams", h.list)
	api.Post("/teams", requireRole(engine.RoleAdmin), h.create)
	api.Get("/teams/:id", h.get)
	api.Patch("/teams/:id", requireRole(engine.RoleAdmin), h.update)
	api.Delete("/teams/:id", requireRole(engine.RoleAdmin), h.delete)
	api.Post("/conversations/:conv/team", h.assign)
	api.Post("/presence", s.setPresence)
}

// teamBody is a create's or an update's body.
type teamBody struct {
	Name         *string                  `json:"name"`
	Members      *[]string                `json:"members"`
	Distribution *engine.TeamDistribution `json:"distribution"`
}

// parseTeamBody reads a team body strictly: a create names the team, an
// update at least one field. Any refusal is a 400; the whole team is
// checked again by engine.CleanTeam once applied.
func parseTeamBody(body []byte, create bool) (teamBody, error) {
	var b teamBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return b, err
	}
	switch {
	case create && b.Name == nil:
		return b, errorf(fiber.StatusBadRequest, "invalid", "name is required")
	case !create && b.Name == nil && b.Members == nil && b.Distribution == nil:
		return b, errorf(fiber.StatusBadRequest, "invalid", "name a field to change: name, members or distribution")
	}
	return b, nil
}

func (b *teamBody) apply(t *engine.Team) error {
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.Members != nil {
		t.Members = *b.Members
	}
	if b.Distribution != nil {
		t.Distribution = *b.Distribution
	}
	return fromEngine(engine.CleanTeam(t))
}

// teamView is a team as the API shows it: with its members' presence.
type teamView struct {
	engine.Team
	Presence map[string]engine.PresenceState `json:"presence"`
}

func (h *teams) view(t engine.Team) teamView {
	v := teamView{Team: t, Presence: make(map[string]engine.PresenceState, len(t.Members))}
	if v.Members == nil {
		v.Members = []string{}
	}
	for _, m := range t.Members {
		if id, err := engine.ParseID(m); err == nil {
			v.Presence[m] = h.s.presence.State(t.WorkspaceID, id)
		}
	}
	return v
}

func (h *teams) list(c *fiber.Ctx) error {
	ts, err := h.s.cfg.Store.Teams(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	out := make([]teamView, len(ts))
	for i := range ts {
		out[i] = h.view(ts[i])
	}
	return c.JSON(fiber.Map{"teams": out})
}

// find reads the team named by the :id parameter in the caller's
// workspace: another workspace's ids are not found.
func (h *teams) find(c *fiber.Ctx) (engine.Team, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return engine.Team{}, err
	}
	t, err := h.s.cfg.Store.Team(who(c).WorkspaceID, id)
	return t, fromEngine(err)
}

func (h *teams) get(c *fiber.Ctx) error {
	t, err := h.find(c)
	if err != nil {
		return err
	}
	return c.JSON(h.view(t))
}

// checkMembers refuses members who are not users of the workspace.
func (h *teams) checkMembers(t *engine.Team) error {
	for _, m := range t.Members {
		id, _ := engine.ParseID(m) // CleanTeam parsed them
		if _, err := h.s.cfg.Store.User(t.WorkspaceID, id); err != nil {
			if errors.Is(err, persistence.ErrNotFound) {
				return errorf(fiber.StatusBadRequest, "invalid", "member %s is not a user of this workspace", m)
			}
			return err
		}
	}
	return nil
}

func (h *teams) create(c *fiber.Ctx) error {
	b, err := parseTeamBody(c.Body(), true)
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	t := engine.Team{ID: engine.NewID(now), WorkspaceID: who(c).WorkspaceID, CreatedAt: now, UpdatedAt: now}
	if err := b.apply(&t); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	existing, err := h.s.cfg.Store.Teams(t.WorkspaceID)
	if err != nil {
		return err
	}
	if len(existing) >= engine.MaxTeams {
		return errorf(fiber.StatusConflict, "too_many_teams", "a workspace keeps at most %d teams", engine.MaxTeams)
	}
	if err := h.checkMembers(&t); err != nil {
		return err
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutTeam(&t) }); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(h.view(t))
}

// update reads the body before the id: a bad body is a 400 whatever the
// id.
func (h *teams) update(c *fiber.Ctx) error {
	b, err := parseTeamBody(c.Body(), false)
	if err != nil {
		return err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t, err := h.find(c)
	if err != nil {
		return err
	}
	if err := b.apply(&t); err != nil {
		return err
	}
	if err := h.checkMembers(&t); err != nil {
		return err
	}
	t.UpdatedAt = h.s.cfg.Runtime.Clock().Now().UTC()
	if err := h.commit(func(b *persistence.Batch) { b.PutTeam(&t) }); err != nil {
		return err
	}
	return c.JSON(h.view(t))
}

func (h *teams) delete(c *fiber.Ctx) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, err := h.find(c)
	if err != nil {
		return err
	}
	if err := h.commit(func(b *persistence.Batch) { b.DeleteTeam(t.WorkspaceID, t.ID) }); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *teams) commit(f func(*persistence.Batch)) error {
	b := h.s.cfg.Store.NewBatch()
	f(b)
	if err := h.s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("committing teams: %w", err)
	}
	return nil
}

// removeMember takes a user removed from the workspace out of every team
// of it.
func (h *teams) removeMember(ws, user engine.ID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts, err := h.s.cfg.Store.Teams(ws)
	if err != nil {
		return err
	}
	b := h.s.cfg.Store.NewBatch()
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	n := 0
	for i := range ts {
		t := &ts[i]
		if !t.HasMember(user.String()) {
			continue
		}
		t.Members = removeString(t.Members, user.String())
		t.UpdatedAt = now
		b.PutTeam(t)
		n++
	}
	if n == 0 {
		b.Close()
		return nil
	}
	if err := h.s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("removing %s from its teams: %w", user, err)
	}
	return nil
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

type teamAssignBody struct {
	TeamID *string `json:"team_id"`
	UserID *string `json:"user_id"`
}

// assign answers POST /conversations/{conv}/team: {"team_id": null}
// takes the conversation from its team (its assignee stays); a team id
// gives it to the team and, unless user_id names one of its members, to
// the member the team's distribution picks (engine.PickTeamMember), or
// to nobody in the team when none is available.
func (h *teams) assign(c *fiber.Ctx) error {
	var b teamAssignBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	conv, err := convParam(c)
	if err != nil {
		return err
	}
	p := who(c)
	if b.TeamID == nil || *b.TeamID == "" {
		if b.UserID != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "user_id needs a team_id")
		}
		cur, err := h.s.cfg.Runtime.Conversation(p.WorkspaceID, conv)
		if err != nil {
			return fromEngine(err)
		}
		return h.s.action(c, engine.AssignTeam{UserID: cur.AssigneeID, By: p.UserID})
	}
	teamID, err := engine.ParseID(*b.TeamID)
	if err != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "team_id is not a team id")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t, err := h.s.cfg.Store.Team(p.WorkspaceID, teamID)
	if errors.Is(err, persistence.ErrNotFound) {
		return errorf(fiber.StatusBadRequest, "invalid", "no such team in this workspace")
	}
	if err != nil {
		return err
	}
	if b.UserID != nil && *b.UserID != "" {
		if !t.HasMember(*b.UserID) {
			return errorf(fiber.StatusBadRequest, "invalid", "user_id is not a member of the team")
		}
		return h.s.action(c, engine.AssignTeam{TeamID: t.ID.String(), UserID: *b.UserID, By: p.UserID})
	}
	res, err := h.distribute(c.UserContext(), conv, &t, p.UserID)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(res)
}

// distribute assigns conv to team t and to the member its distribution
// picks, by (zero: an automation), under h.mu.
func (h *teams) distribute(ctx context.Context, conv engine.ID, t *engine.Team, by engine.ID) (engine.Conversation, error) {
	pick, err := h.pick(t)
	if err != nil {
		return engine.Conversation{}, err
	}
	res, err := h.s.cfg.Runtime.Execute(ctx, t.WorkspaceID, conv, engine.AssignTeam{TeamID: t.ID.String(), UserID: pick.UserID, By: by})
	if err != nil {
		return engine.Conversation{}, err
	}
	h.distributed(t, pick)
	return res.Conversation, nil
}

// AssignToTeam is the runtime's ports.TeamAssigner: an automation's
// assign_team action, distributed as the API's.
func (h *teams) AssignToTeam(ctx context.Context, ws, conv, team engine.ID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, err := h.s.cfg.Store.Team(ws, team)
	if err != nil {
		return fmt.Errorf("reading team %s: %w", team, err)
	}
	_, err = h.distribute(ctx, conv, &t, engine.ZeroID)
	return err
}

// pick reads what the distribution needs, for t, under h.mu: the
// members' presence from the tracker, their loads (open conversations
// assigned, the list index counters the conversation actors keep in
// their own batches) and the team's cursor.
func (h *teams) pick(t *engine.Team) (engine.TeamPick, error) {
	loads := map[string]int64{}
	if t.Distribution == engine.TeamLeastLoaded {
		for _, m := range t.Members {
			n, err := h.s.cfg.Store.Count(t.WorkspaceID, engine.FolderOpen, persistence.DimAssignee(m))
			if err != nil {
				return engine.TeamPick{}, fmt.Errorf("reading the load of %s: %w", m, err)
			}
			loads[m] = n
		}
	}
	cursor, err := h.s.cfg.Store.TeamCursor(t.WorkspaceID, t.ID)
	if err != nil {
		return engine.TeamPick{}, fmt.Errorf("reading the cursor of team %s: %w", t.ID, err)
	}
	return engine.PickTeamMember(t, h.s.presence.Snapshot(t.WorkspaceID, t.Members), loads, cursor,
		h.s.cfg.Runtime.Clock().Now(), h.s.presence.rules), nil
}

// distributed records a pick the conversation's actor committed: the
// team's cursor moves (a crash before this commit gives the same member
// the next turn again, nothing worse) and the metric counts it.
func (h *teams) distributed(t *engine.Team, pick engine.TeamPick) {
	result := "team"
	if pick.UserID != "" {
		result = "member"
		if err := h.commit(func(b *persistence.Batch) { b.SetTeamCursor(t.WorkspaceID, t.ID, pick.Cursor) }); err != nil {
			h.s.log.Error("Moving a team's round-robin cursor", "team", t.ID, "err", err)
		}
	}
	h.assignments.WithLabelValues(string(t.Distribution), result).Inc()
}

// myTeams are the ids of the teams user is a member of.
func (h *teams) myTeams(ws, user engine.ID) ([]string, error) {
	ts, err := h.s.cfg.Store.Teams(ws)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for i := range ts {
		if ts[i].HasMember(user.String()) {
			out = append(out, ts[i].ID.String())
		}
	}
	return out, nil
}
