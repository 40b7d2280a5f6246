package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// The operator admin API (docs/ARCHITECTURE.md, "Operator admin API,
// plans and limits"): the server's operator, holding the admin token of
// the server's configuration (Config.AdminToken, -admin-token or
// PARLEY_ADMIN_TOKEN), creates, lists, suspends and deletes workspaces
// and sets their plans' limits:
//
//	POST   /api/v1/admin/workspaces                  {name, owner_email, plan?, limits?, time_zone?} → 201 {workspace, invitation}
//	GET    /api/v1/admin/workspaces?cursor=&limit=   → {workspaces, next_cursor}
//	GET    /api/v1/admin/workspaces/{id}             → the workspace with its state, limits, usage and deletion progress
//	PATCH  /api/v1/admin/workspaces/{id}             {plan?, limits?, time_zone?} → the same
//	POST   /api/v1/admin/workspaces/{id}/suspend     → the same
//	POST   /api/v1/admin/workspaces/{id}/unsuspend   → the same
//	DELETE /api/v1/admin/workspaces/{id}             → 202, the deletion runs in the background
//
// Without an admin token configured the routes answer 404; with one, a
// request without it (a workspace user's token included) gets 401. The
// workspaces' owners and admins read their own usage at GET
// /api/v1/usage.
//
// workspaceOps is the single owner of the operator records: every write
// of one goes through mu, and the records are also kept in a snapshot
// (states) that each authenticated request reads without a lock.
// Checking a limit and creating what it limits happen under mu too, so
// that two creations cannot both pass the last free seat.
type workspaceOps struct {
	s  *Server
	mu sync.Mutex
	// states maps each workspace with an operator record to it; replaced
	// whole under mu.
	states atomic.Pointer[map[engine.ID]engine.WorkspaceOperatorRecord]
	// wake tells the deleter a workspace was marked for deletion.
	wake chan struct{}
	// wg is the deleter's: it ends with the server's context (Shutdown
	// cancels it, then waits).
	wg sync.WaitGroup

	deletions       prometheus.Counter
	deletedKeys     prometheus.Counter
	deletingGauge   prometheus.Gauge
	usage           *prometheus.GaugeVec
	limitRefusals   *prometheus.CounterVec
	deletionRetries prometheus.Counter
}

// Operator API bounds.
const (
	maxWorkspacesPage   = 200
	defaultWorkspaceTTL = 7 * 24 * time.Hour // the owner invitation's lifetime
	maxWorkspaceName    = 200
	maxPlanName         = 100
)

// Tunables of the deletion, variables so that tests can make them small.
var (
	// workspaceDeleteChunk is how many keys one deletion batch removes.
	workspaceDeleteChunk = 5000
	// workspaceDeleteRetry is how long the deleter waits after a failure
	// (or while a backup holds the media files) before it tries again.
	workspaceDeleteRetry = 10 * time.Second
	// workspaceUsageRefresh is how often the usage gauges are refreshed.
	workspaceUsageRefresh = 5 * time.Minute
	// workspaceDeletePause, when set (by a test), is asked before each
	// batch of a deletion's range phases; true stops the deletion there,
	// as a crash would.
	workspaceDeletePause func(phase string) bool
)

// errDeletionPaused stops a deletion paused by workspaceDeletePause.
var errDeletionPaused = errors.New("workspace deletion paused")

var errWorkspaceSuspended = &apiError{fiber.StatusForbidden, "workspace_suspended", "this workspace is suspended: contact your provider"}
var errWorkspaceDeleting = &apiError{fiber.StatusForbidden, "workspace_deleted", "this workspace is being deleted"}

// planLimitError is a 402 plan_limit: the error body also says the limit.
type planLimitError struct {
	apiError
	Limit    int64
	Resource engine.PlanResource
}

func newPlanLimitError(r engine.PlanResource, limit int64) *planLimitError {
	what := map[engine.PlanResource]string{
		engine.PlanSeats: "users", engine.PlanChannelAccounts: "channel accounts", engine.PlanContacts: "contacts",
		engine.PlanAIRepliesPerMonth: "AI replies a month", engine.PlanBroadcastsPerMonth: "broadcasts a month",
	}[r]
	return &planLimitError{apiError: apiError{fiber.StatusPaymentRequired, "plan_limit",
		fmt.Sprintf("this workspace's plan allows %d %s; ask your provider to raise the limit", limit, what)}, Limit: limit, Resource: r}
}

func newWorkspaceOps(s *Server) (*workspaceOps, error) {
	o := &workspaceOps{s: s, wake: make(chan struct{}, 1),
		deletions: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_workspace_deletions_total",
			Help: "Workspace deletions finished (every key and file of the workspace removed)."}),
		deletedKeys: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_workspace_deletion_keys_deleted_total",
			Help: "Keys (and media files) removed by workspace deletions."}),
		deletingGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_workspace_deletions_in_progress",
			Help: "Workspaces marked for deletion whose data is not yet all removed."}),
		usage: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "parley_workspace_usage",
			Help: "What each workspace uses of each plan resource (monthly ones: this month); refreshed every few minutes."}, []string{"workspace", "resource"}),
		limitRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_plan_limit_refusals_total",
			Help: "Creations refused (or AI replies not generated) because of a plan limit, by resource."}, []string{"resource"}),
		deletionRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_workspace_deletion_retries_total",
			Help: "Workspace deletion steps that failed (or waited for a backup) and will be tried again."}),
	}
	if reg := s.cfg.Registerer; reg != nil {
		reg.MustRegister(o.deletions, o.deletedKeys, o.deletingGauge, o.usage, o.limitRefusals, o.deletionRetries)
	}
	for _, r := range engine.PlanResources {
		o.limitRefusals.WithLabelValues(string(r))
	}
	recs, err := s.cfg.Store.WorkspaceOperatorRecords()
	if err != nil {
		return nil, fmt.Errorf("reading the workspaces' operator records: %w", err)
	}
	m := make(map[engine.ID]engine.WorkspaceOperatorRecord, len(recs))
	for _, r := range recs {
		m[r.WorkspaceID] = r
	}
	o.states.Store(&m)
	return o, nil
}

// record returns the operator record of ws; a workspace without one
// (made before the operator API, or at first start) is active and
// unlimited.
func (o *workspaceOps) record(ws engine.ID) engine.WorkspaceOperatorRecord {
	if r, ok := (*o.states.Load())[ws]; ok {
		return r
	}
	return engine.WorkspaceOperatorRecord{WorkspaceID: ws, State: engine.WorkspaceActive}
}

// admits returns the error a request of ws's users gets, or nil.
func (o *workspaceOps) admits(ws engine.ID) error {
	switch o.record(ws).State {
	case engine.WorkspaceSuspended:
		return errWorkspaceSuspended
	case engine.WorkspaceDeleting:
		return errWorkspaceDeleting
	}
	return nil
}

// putLocked writes r and publishes it in the snapshot; o.mu is held.
func (o *workspaceOps) putLocked(b *persistence.Batch, r engine.WorkspaceOperatorRecord) error {
	b.PutWorkspaceOperatorRecord(&r)
	if err := o.s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("writing a workspace's operator record: %w", err)
	}
	o.publishLocked(r, false)
	return nil
}

func (o *workspaceOps) publishLocked(r engine.WorkspaceOperatorRecord, gone bool) {
	old := *o.states.Load()
	m := make(map[engine.ID]engine.WorkspaceOperatorRecord, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if gone {
		delete(m, r.WorkspaceID)
	} else {
		m[r.WorkspaceID] = r
	}
	o.states.Store(&m)
}

// --- plan limits ---

// usageOf returns what ws uses of r now (monthly resources: this month,
// in the plan's time zone), counting at most max (0: all).
func (o *workspaceOps) usageOf(ws engine.ID, r engine.PlanResource, rec engine.WorkspaceOperatorRecord, max int) (int64, error) {
	st := o.s.cfg.Store
	if max <= 0 {
		max = int(^uint(0) >> 1)
	}
	var n int
	var err error
	switch r {
	case engine.PlanSeats:
		n, err = st.CountUsers(ws, max)
	case engine.PlanChannelAccounts:
		n, err = st.CountWorkspaceChannelAccounts(ws, max)
	case engine.PlanContacts:
		n, err = st.CountContacts(ws, max)
	default:
		return st.PlanUsage(ws, r, engine.PlanMonth(o.s.cfg.Runtime.Clock().Now(), rec.TimeZone))
	}
	return int64(n), err
}

// withinLimit runs create if ws may have n more of r, under the lock that
// orders limit checks against the creations they allow; otherwise it
// returns a plan_limit error and counts the refusal.
func (o *workspaceOps) withinLimit(ws engine.ID, r engine.PlanResource, n int64, create func() error) error {
	rec := o.record(ws)
	limit := rec.Limits.Of(r)
	if limit <= 0 {
		return create()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	used, err := o.usageOf(ws, r, rec, int(limit)+1)
	if err != nil {
		return err
	}
	if r == engine.PlanSeats {
		// Pending invitations hold a seat each until accepted or gone.
		inv, err := o.s.cfg.Store.CountWorkspaceInvitations(ws, int(limit)+1)
		if err != nil {
			return err
		}
		used += int64(inv)
	}
	if !engine.PlanAllows(limit, used, n) {
		o.limitRefusals.WithLabelValues(string(r)).Inc()
		return newPlanLimitError(r, limit)
	}
	return create()
}

// seatsForAcceptance checks, when an invitation to ws is accepted, that
// the users (the invitation's own seat aside) leave room for one more.
func (o *workspaceOps) seatsForAcceptance(ws engine.ID) error {
	limit := o.record(ws).Limits.Seats
	if limit <= 0 {
		return nil
	}
	n, err := o.s.cfg.Store.CountUsers(ws, int(limit)+1)
	if err != nil {
		return err
	}
	if !engine.PlanAllows(limit, int64(n), 1) {
		o.limitRefusals.WithLabelValues(string(engine.PlanSeats)).Inc()
		return newPlanLimitError(engine.PlanSeats, limit)
	}
	return nil
}

// takeMonthly counts one use of the monthly resource r by ws if its plan
// allows one more this month, and reports whether it did.
func (o *workspaceOps) takeMonthly(ws engine.ID, r engine.PlanResource) (ok bool, limit int64, err error) {
	rec := o.record(ws)
	limit = rec.Limits.Of(r)
	month := engine.PlanMonth(o.s.cfg.Runtime.Clock().Now(), rec.TimeZone)
	o.mu.Lock()
	defer o.mu.Unlock()
	if limit > 0 {
		used, err := o.s.cfg.Store.PlanUsage(ws, r, month)
		if err != nil {
			return false, limit, err
		}
		if !engine.PlanAllows(limit, used, 1) {
			o.limitRefusals.WithLabelValues(string(r)).Inc()
			return false, limit, nil
		}
	}
	b := o.s.cfg.Store.NewBatch()
	b.AddPlanUsage(ws, r, month, 1)
	if err := o.s.cfg.Store.Commit(b); err != nil {
		return false, limit, fmt.Errorf("counting a plan's monthly use: %w", err)
	}
	return true, limit, nil
}

// TakeAIReply counts one AI reply of ws this month if its plan allows
// one more; otherwise the reply is not generated and the conversation is
// handed to people with why as its note (actors.AIReplyQuota).
func (o *workspaceOps) TakeAIReply(ws engine.ID) (ok bool, why string) {
	if o.record(ws).State != engine.WorkspaceActive && o.record(ws).State != "" {
		return false, "the workspace is suspended: no AI replies"
	}
	ok, limit, err := o.takeMonthly(ws, engine.PlanAIRepliesPerMonth)
	if err != nil {
		o.s.log.Warn("Counting an AI reply", "workspace", ws, "err", err)
		return true, "" // a counter that cannot be written does not silence the AI
	}
	if !ok {
		return false, fmt.Sprintf("the workspace's plan allows %d AI replies a month: this month's are used up", limit)
	}
	return true, ""
}

// MayStartBroadcast reports (as a plan_limit error, 402) whether
// workspace ws may start another broadcast this month, and if it may,
// counts it. The broadcast sender calls it once per broadcast, as it
// starts; nil means go ahead.
func (s *Server) MayStartBroadcast(ws engine.ID) error {
	ok, limit, err := s.ops.takeMonthly(ws, engine.PlanBroadcastsPerMonth)
	if err != nil {
		return err
	}
	if !ok {
		return newPlanLimitError(engine.PlanBroadcastsPerMonth, limit)
	}
	return nil
}

// planUsage is one resource's line of a usage report.
type planUsage struct {
	Resource engine.PlanResource `json:"resource"`
	Used     int64               `json:"used"`
	// Limit is 0 when unlimited.
	Limit int64 `json:"limit"`
	// Over is set when Used passed Limit: contacts created by inbound
	// messages (never refused) or a limit lowered below what exists.
	Over bool `json:"over,omitempty"`
	// Period is the month a monthly resource is counted in ("2006-01").
	Period string `json:"period,omitempty"`
}

// usageReport computes ws's usage of every resource and sets the gauges.
func (o *workspaceOps) usageReport(ws engine.ID) ([]planUsage, error) {
	rec := o.record(ws)
	month := engine.PlanMonth(o.s.cfg.Runtime.Clock().Now(), rec.TimeZone)
	out := make([]planUsage, 0, len(engine.PlanResources))
	for _, r := range engine.PlanResources {
		used, err := o.usageOf(ws, r, rec, 0)
		if err != nil {
			return nil, err
		}
		u := planUsage{Resource: r, Used: used, Limit: rec.Limits.Of(r)}
		u.Over = u.Limit > 0 && u.Used > u.Limit
		if r.Monthly() {
			u.Period = month
		}
		o.usage.WithLabelValues(ws.String(), string(r)).Set(float64(used))
		out = append(out, u)
	}
	return out, nil
}

// refreshUsage recomputes the usage gauges of every active or suspended
// workspace.
func (o *workspaceOps) refreshUsage() {
	wss, err := o.s.cfg.Store.Workspaces()
	if err != nil {
		o.s.log.Warn("Refreshing workspace usage", "err", err)
		return
	}
	for _, w := range wss {
		if o.record(w.ID).State == engine.WorkspaceDeleting {
			continue
		}
		if _, err := o.usageReport(w.ID); err != nil {
			o.s.log.Warn("Refreshing workspace usage", "workspace", w.ID, "err", err)
		}
	}
}

// getUsage answers GET /api/v1/usage (owners and admins): their
// workspace's plan, limits and usage.
func (s *Server) getUsage(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	u, err := s.ops.usageReport(ws)
	if err != nil {
		return err
	}
	rec := s.ops.record(ws)
	return c.JSON(fiber.Map{"plan": rec.Plan, "time_zone": rec.TimeZone, "usage": u})
}

// --- the operator's routes ---

// operatorRoutes registers the operator admin API; called before the
// authenticated group, whose token check is not theirs.
func (s *Server) operatorRoutes(a fiber.Router) {
	g := a.Group("/api/v1/admin/workspaces", s.requireOperator)
	g.Post("", s.adminCreateWorkspace)
	g.Get("", s.adminListWorkspaces)
	g.Get("/:id", s.adminGetWorkspace)
	g.Patch("/:id", s.adminUpdateWorkspace)
	g.Post("/:id/suspend", s.adminSetWorkspaceState(engine.WorkspaceSuspended))
	g.Post("/:id/unsuspend", s.adminSetWorkspaceState(engine.WorkspaceActive))
	g.Delete("/:id", s.adminDeleteWorkspace)
	// A backup holds every workspace's data: with an admin token
	// configured, it is the operator's alone (see backupGate).
	a.Post("/api/v1/admin/backup", s.backupGate)
}

// isOperator reports whether the request carries the admin token.
func (s *Server) isOperator(c *fiber.Ctx) bool {
	if s.cfg.AdminToken == "" {
		return false
	}
	secret, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok {
		return false
	}
	// Hashing both sides first makes the comparison's time independent
	// of the lengths too.
	got, want := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(s.cfg.AdminToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// requireOperator admits the operator: 404 when no admin token is
// configured (the API is off), 401 without it.
func (s *Server) requireOperator(c *fiber.Ctx) error {
	if s.cfg.AdminToken == "" {
		return errNotFound
	}
	if !s.isOperator(c) {
		return errUnauthorized
	}
	return c.Next()
}

// backupGate serves POST /api/v1/admin/backup to the operator; without
// an admin token configured it leaves the route to the workspace owners
// (a single-workspace server's owner is its operator); with one, a
// workspace owner gets 403 operator_only.
func (s *Server) backupGate(c *fiber.Ctx) error {
	if s.isOperator(c) {
		return s.backup(c)
	}
	if s.cfg.AdminToken != "" {
		if err := s.authenticate(c); err != nil {
			return err
		}
		return errorf(fiber.StatusForbidden, "operator_only", "backups hold every workspace: only the server's operator (the admin token) may make one")
	}
	return c.Next()
}

// workspaceAdminView is a workspace as the operator sees it.
type workspaceAdminView struct {
	engine.Workspace
	State      engine.WorkspaceState     `json:"state"`
	Plan       string                    `json:"plan,omitempty"`
	Limits     engine.PlanLimits         `json:"limits"`
	TimeZone   string                    `json:"time_zone,omitempty"`
	OwnerEmail string                    `json:"owner_email,omitempty"`
	ChangedAt  time.Time                 `json:"changed_at,omitzero"`
	Usage      []planUsage               `json:"usage,omitempty"`
	Deletion   *engine.WorkspaceDeletion `json:"deletion,omitempty"`
}

func (s *Server) adminView(w engine.Workspace, withUsage bool) (workspaceAdminView, error) {
	rec := s.ops.record(w.ID)
	v := workspaceAdminView{Workspace: w, State: rec.State, Plan: rec.Plan, Limits: rec.Limits, TimeZone: rec.TimeZone,
		OwnerEmail: rec.OwnerEmail, ChangedAt: rec.ChangedAt, Deletion: rec.Deletion}
	if v.State == "" {
		v.State = engine.WorkspaceActive
	}
	if withUsage && v.State != engine.WorkspaceDeleting {
		u, err := s.ops.usageReport(w.ID)
		if err != nil {
			return v, err
		}
		v.Usage = u
	}
	return v, nil
}

// adminWorkspaceBody is the body of the create and update routes.
type adminWorkspaceBody struct {
	Name       *string            `json:"name"`
	OwnerEmail *string            `json:"owner_email"`
	Plan       *string            `json:"plan"`
	Limits     *engine.PlanLimits `json:"limits"`
	TimeZone   *string            `json:"time_zone"`
}

// applyTo checks the body's plan fields and sets them on rec.
func (b *adminWorkspaceBody) applyTo(rec *engine.WorkspaceOperatorRecord) error {
	if b.Plan != nil {
		p := strings.TrimSpace(*b.Plan)
		if len(p) > maxPlanName || strings.ContainsAny(p, "\r\n") {
			return errorf(fiber.StatusBadRequest, "invalid", "plan is at most %d characters on one line", maxPlanName)
		}
		rec.Plan = p
	}
	if b.Limits != nil {
		if err := engine.CheckPlanLimits(*b.Limits); err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "%s", err.Error())
		}
		rec.Limits = *b.Limits
	}
	if b.TimeZone != nil {
		if err := engine.CheckPlanTimeZone(*b.TimeZone); err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "%s", err.Error())
		}
		rec.TimeZone = *b.TimeZone
	}
	return nil
}

// parseAdminWorkspaceBody reads the body of a create (name and
// owner_email required) or of an update (plan fields only), checks it
// against the document's schema and the engine's rules, and sets its plan
// fields on rec. Every refusal is a 400 and leaves rec as it was.
func parseAdminWorkspaceBody(raw []byte, create bool, rec *engine.WorkspaceOperatorRecord) (name, email string, err error) {
	var body adminWorkspaceBody
	if err := decodeJSONBytes(raw, &body); err != nil {
		return "", "", err
	}
	schemas, err := bodySchemas()
	if err != nil {
		return "", "", err
	}
	route := "PATCH /api/v1/admin/workspaces/{id}"
	if create {
		route = "POST /api/v1/admin/workspaces"
	}
	if err := checkBody(schemas[route], raw); err != nil {
		return "", "", err
	}
	switch {
	case create && (body.Name == nil || body.OwnerEmail == nil):
		return "", "", errorf(fiber.StatusBadRequest, "invalid", "name and owner_email are required")
	case !create && (body.Name != nil || body.OwnerEmail != nil):
		return "", "", errorf(fiber.StatusBadRequest, "invalid", "only plan, limits and time_zone can be changed")
	case !create && body.Plan == nil && body.Limits == nil && body.TimeZone == nil:
		return "", "", errorf(fiber.StatusBadRequest, "invalid", "nothing to change: set plan, limits or time_zone")
	}
	if create {
		name = strings.TrimSpace(*body.Name)
		if name == "" || len(name) > maxWorkspaceName || !utf8.ValidString(name) || strings.ContainsAny(name, "\r\n") {
			return "", "", errorf(fiber.StatusBadRequest, "invalid", "name must be 1 to %d characters on one line", maxWorkspaceName)
		}
		if email, err = normalizeEmail(*body.OwnerEmail); err != nil {
			return "", "", err
		}
	}
	next := *rec
	if err := body.applyTo(&next); err != nil {
		return "", "", err
	}
	*rec = next
	return name, email, nil
}

// adminCreateWorkspace creates a workspace, its operator record and an
// invitation for its owner, in one batch, and answers them with the
// invitation's code and link.
func (s *Server) adminCreateWorkspace(c *fiber.Ctx) error {
	now := s.cfg.Runtime.Clock().Now()
	rec := engine.WorkspaceOperatorRecord{State: engine.WorkspaceActive, ChangedAt: now}
	name, email, err := parseAdminWorkspaceBody(c.Body(), true, &rec)
	if err != nil {
		return err
	}
	w := engine.Workspace{ID: engine.NewID(now), Name: name, CreatedAt: now}
	rec.WorkspaceID, rec.OwnerEmail = w.ID, email
	code := "inv_" + randomString(32)
	// No user invited the owner: an invitation without an inviter is the
	// operator's (users.validInvitation).
	inv := persistence.Invitation{WorkspaceID: w.ID, Email: email, Role: engine.RoleOwner, CreatedAt: now, ExpiresAt: now.Add(defaultWorkspaceTTL)}
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	b := s.cfg.Store.NewBatch()
	b.PutWorkspace(&w)
	b.PutInvitation(code, &inv)
	if err := s.ops.putLocked(b, rec); err != nil {
		return err
	}
	v, err := s.adminView(w, false)
	if err != nil {
		return err
	}
	link := "/#invite/" + code
	if s.cfg.PublicURL != "" {
		link = strings.TrimRight(s.cfg.PublicURL, "/") + link
	}
	s.log.Info("Workspace created by the operator", "workspace", w.ID)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"workspace": v,
		"invitation": fiber.Map{"code": code, "email": email, "role": engine.RoleOwner, "expires_at": inv.ExpiresAt, "link": link}})
}

// adminListWorkspaces answers the workspaces in id order (oldest first),
// a page at a time: cursor is the last id of the previous page.
func (s *Server) adminListWorkspaces(c *fiber.Ctx) error {
	limit := c.QueryInt("limit", 50)
	if limit < 1 || limit > maxWorkspacesPage {
		return errorf(fiber.StatusBadRequest, "invalid", "limit must be between 1 and %d", maxWorkspacesPage)
	}
	var after engine.ID
	if cur := c.Query("cursor"); cur != "" {
		id, err := engine.ParseID(cur)
		if err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "bad cursor")
		}
		after = id
	}
	wss, err := s.cfg.Store.Workspaces()
	if err != nil {
		return err
	}
	out := []workspaceAdminView{}
	next := ""
	for _, w := range wss {
		if after != engine.ZeroID && w.ID.Compare(after) <= 0 {
			continue
		}
		if len(out) == limit {
			next = out[len(out)-1].ID.String()
			break
		}
		v, err := s.adminView(w, true)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(fiber.Map{"workspaces": out, "next_cursor": next})
}

// adminWorkspace reads the :id workspace.
func (s *Server) adminWorkspace(c *fiber.Ctx) (engine.Workspace, error) {
	id, err := engine.ParseID(c.Params("id"))
	if err != nil {
		return engine.Workspace{}, errNotFound
	}
	w, err := s.cfg.Store.Workspace(id)
	if err != nil {
		return w, fromEngine(err)
	}
	return w, nil
}

// answerWorkspace answers w as the operator sees it, with its usage.
func (s *Server) answerWorkspace(c *fiber.Ctx, w engine.Workspace) error {
	v, err := s.adminView(w, true)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) adminGetWorkspace(c *fiber.Ctx) error {
	w, err := s.adminWorkspace(c)
	if err != nil {
		return err
	}
	return s.answerWorkspace(c, w)
}

// adminUpdateWorkspace changes a workspace's plan, limits or time zone.
// Lowering a limit below what is used refuses new creations only: what
// exists stays.
func (s *Server) adminUpdateWorkspace(c *fiber.Ctx) error {
	var probe engine.WorkspaceOperatorRecord
	if _, _, err := parseAdminWorkspaceBody(c.Body(), false, &probe); err != nil {
		return err // a bad body is a 400 before the workspace is looked up
	}
	w, err := s.adminWorkspace(c)
	if err != nil {
		return err
	}
	s.ops.mu.Lock()
	rec := s.ops.record(w.ID)
	if rec.State == engine.WorkspaceDeleting {
		s.ops.mu.Unlock()
		return errorf(fiber.StatusConflict, "workspace_deleting", "the workspace is being deleted")
	}
	if _, _, err := parseAdminWorkspaceBody(c.Body(), false, &rec); err != nil {
		s.ops.mu.Unlock()
		return err
	}
	rec.ChangedAt = s.cfg.Runtime.Clock().Now()
	err = s.ops.putLocked(s.cfg.Store.NewBatch(), rec)
	s.ops.mu.Unlock()
	if err != nil {
		return err
	}
	return s.answerWorkspace(c, w)
}

// setStateLocked moves ws to state to; o.mu is held.
func (o *workspaceOps) setStateLocked(ws engine.ID, to engine.WorkspaceState) (engine.WorkspaceOperatorRecord, error) {
	rec := o.record(ws)
	next, err := engine.NextWorkspaceState(rec.State, to)
	if err != nil {
		return rec, errorf(fiber.StatusConflict, "workspace_deleting", "the workspace is being deleted")
	}
	now := o.s.cfg.Runtime.Clock().Now()
	rec.State, rec.ChangedAt = next, now
	if next == engine.WorkspaceDeleting {
		total, err := o.s.cfg.Store.CountWorkspaceKeys(ws)
		if err != nil {
			return rec, err
		}
		rec.Deletion = &engine.WorkspaceDeletion{Phase: "queued", Total: total, StartedAt: now, UpdatedAt: now}
	}
	if err := o.putLocked(o.s.cfg.Store.NewBatch(), rec); err != nil {
		return rec, err
	}
	return rec, nil
}

// closeSockets closes the WebSockets of every token of ws.
func (s *Server) closeWorkspaceSockets(ws engine.ID) {
	toks, err := s.cfg.Store.WorkspaceTokens(ws)
	if err != nil {
		s.log.Warn("Closing a workspace's WebSockets", "workspace", ws, "err", err)
		return
	}
	s.signedOut(toks)
}

func (s *Server) adminSetWorkspaceState(to engine.WorkspaceState) fiber.Handler {
	return func(c *fiber.Ctx) error {
		w, err := s.adminWorkspace(c)
		if err != nil {
			return err
		}
		s.ops.mu.Lock()
		_, err = s.ops.setStateLocked(w.ID, to)
		s.ops.mu.Unlock()
		if err != nil {
			return err
		}
		if to != engine.WorkspaceActive {
			s.closeWorkspaceSockets(w.ID)
		}
		s.log.Info("Workspace state changed by the operator", "workspace", w.ID, "state", to)
		v, err := s.adminView(w, true)
		if err != nil {
			return err
		}
		return c.JSON(v)
	}
}

// adminDeleteWorkspace marks a workspace for deletion (from then on it
// is inaccessible) and wakes the deleter; 202 with the progress so far.
// Deleting a workspace already being deleted answers the same.
func (s *Server) adminDeleteWorkspace(c *fiber.Ctx) error {
	w, err := s.adminWorkspace(c)
	if err != nil {
		return err
	}
	s.ops.mu.Lock()
	if s.ops.record(w.ID).State != engine.WorkspaceDeleting {
		_, err = s.ops.setStateLocked(w.ID, engine.WorkspaceDeleting)
	}
	s.ops.mu.Unlock()
	if err != nil {
		return err
	}
	s.closeWorkspaceSockets(w.ID)
	s.ops.kick()
	s.log.Info("Workspace marked for deletion by the operator", "workspace", w.ID)
	v, err := s.adminView(w, false)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(v)
}

// --- the deleter ---

func (o *workspaceOps) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// start runs the deleter (and the usage gauges' refresh) until ctx ends;
// a deletion a restart interrupted resumes from its recorded phase.
func (o *workspaceOps) start(ctx context.Context) {
	o.wg.Add(1)
	go pprof.Do(ctx, pprof.Labels("parley", "workspace-deleter"), func(ctx context.Context) {
		defer o.wg.Done()
		o.run(ctx)
	})
}

// wait waits for the deleter to stop (its context ended).
func (o *workspaceOps) wait() { o.wg.Wait() }

func (o *workspaceOps) run(ctx context.Context) {
	clock := o.s.cfg.Runtime.Clock()
	refresh := clock.NewTicker(workspaceUsageRefresh)
	defer refresh.Stop()
	o.refreshUsage()
	for {
		retry := false
		for _, ws := range o.deleting() {
			if err := o.deleteWorkspace(ctx, ws); err != nil {
				if ctx.Err() != nil {
					return
				}
				o.deletionRetries.Inc()
				o.s.log.Warn("Deleting a workspace; will try again", "workspace", ws, "err", err)
				o.noteFailure(ws, err)
				retry = true
			}
		}
		var again <-chan time.Time
		var t clockwork.Timer
		if retry {
			t = clock.NewTimer(workspaceDeleteRetry)
			again = t.Chan()
		}
		select {
		case <-ctx.Done():
		case <-o.wake:
		case <-again:
		case <-refresh.Chan():
			o.refreshUsage()
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// deleting lists the workspaces marked for deletion, oldest mark first.
func (o *workspaceOps) deleting() []engine.ID {
	var recs []engine.WorkspaceOperatorRecord
	for _, r := range *o.states.Load() {
		if r.State == engine.WorkspaceDeleting {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b engine.WorkspaceOperatorRecord) int { return a.ChangedAt.Compare(b.ChangedAt) })
	o.deletingGauge.Set(float64(len(recs)))
	out := make([]engine.ID, len(recs))
	for i, r := range recs {
		out[i] = r.WorkspaceID
	}
	return out
}

func (o *workspaceOps) noteFailure(ws engine.ID, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec := o.record(ws)
	if rec.Deletion == nil {
		return
	}
	d := *rec.Deletion
	d.LastError, d.ErrorCount = err.Error(), d.ErrorCount+1
	rec.Deletion = &d
	if perr := o.putLocked(o.s.cfg.Store.NewBatch(), rec); perr != nil {
		o.s.log.Warn("Recording a deletion's failure", "workspace", ws, "err", perr)
	}
}

// Deletion phases, in order.
const (
	phaseAccounts = "accounts" // channel accounts disconnected: nothing routes to the workspace
	phaseSystem   = "system"   // tokens, credentials, invitations, timers, outbox, queues
	phaseData     = "data"     // the workspace's own key range, conversations to search index
	phaseMedia    = "media"    // its media files
	phaseFinal    = "final"    // a last sweep of the above, then the workspace record
)

// deleteWorkspace runs (or resumes) the deletion of ws phase by phase;
// each batch records the progress with what it removed. o.mu is taken
// per batch, not for the whole deletion, so that the operator and the
// limit checks are not held up by a large one.
func (o *workspaceOps) deleteWorkspace(ctx context.Context, ws engine.ID) error {
	st := o.s.cfg.Store
	chunk := workspaceDeleteChunk
	// step runs f under o.mu with ws's record in phase, then publishes
	// the record f wrote (with its progress) or writes it.
	step := func(phase string, f func(rec *engine.WorkspaceOperatorRecord) (removed int, wrote bool, err error)) (int, error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		rec := o.record(ws)
		d := *rec.Deletion
		d.Phase, d.UpdatedAt = phase, o.s.cfg.Runtime.Clock().Now()
		rec.Deletion = &d
		n, wrote, err := f(&rec)
		o.deletedKeys.Add(float64(n))
		if err != nil {
			if wrote {
				o.publishLocked(rec, false)
			}
			return n, err
		}
		if wrote {
			o.publishLocked(rec, false)
			return n, nil
		}
		return n, o.putLocked(st.NewBatch(), rec)
	}
	system := func(phase string) error {
		_, err := step(phase, func(rec *engine.WorkspaceOperatorRecord) (int, bool, error) {
			n, err := st.DeleteWorkspaceSystemKeys(ws, chunk, rec)
			return n, n > 0, err
		})
		return err
	}
	rangeChunks := func(phase string) error {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			if workspaceDeletePause != nil && workspaceDeletePause(phase) {
				return errDeletionPaused
			}
			n, err := step(phase, func(rec *engine.WorkspaceOperatorRecord) (int, bool, error) {
				n, err := st.DeleteWorkspaceRangeChunk(ws, chunk, rec)
				return n, n > 0, err
			})
			if err != nil || n == 0 {
				return err
			}
		}
	}
	files := func(phase string) error {
		_, err := step(phase, func(rec *engine.WorkspaceOperatorRecord) (int, bool, error) {
			n, err := o.s.media.DeleteWorkspace(ws, chunk)
			if errors.Is(err, media.ErrHeld) {
				return 0, false, fmt.Errorf("waiting for a backup to finish: %w", err)
			}
			rec.Deletion.Done += int64(n)
			rec.Deletion.Total += int64(n)
			return n, false, err
		})
		return err
	}
	order := []string{"queued", phaseAccounts, phaseSystem, phaseData, phaseMedia, phaseFinal}
	// The recorded phase may have been cut short by a restart: it runs
	// again (every phase can).
	at := max(slices.Index(order, o.record(ws).Deletion.Phase), 0)
	for _, ph := range order[at:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		switch ph {
		case phaseAccounts:
			_, err = step(ph, func(*engine.WorkspaceOperatorRecord) (int, bool, error) {
				// Its outgoing webhooks stop; their records and deliveries
				// go with the system keys and the range.
				o.s.hooks.ForgetWorkspace(ws)
				for _, a := range o.s.cfg.Accounts.Workspace(ws) {
					if err := o.s.cfg.Accounts.Delete(ws, a.Channel, a.AccountID); err != nil && !errors.Is(err, errNotFound) {
						return 0, false, fmt.Errorf("disconnecting %s account %s: %w", a.Channel, a.AccountID, err)
					}
				}
				return 0, false, nil
			})
		case phaseSystem:
			err = system(ph)
		case phaseData:
			err = rangeChunks(ph)
		case phaseMedia:
			err = files(ph)
		case phaseFinal:
			// What work already under way wrote meanwhile (an AI reply, a
			// media download) goes too.
			if err = system(ph); err == nil {
				if err = rangeChunks(ph); err == nil {
					if err = files(ph); err == nil {
						err = o.finish(ws)
					}
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// finish removes the workspace and operator records: the deletion is
// done.
func (o *workspaceOps) finish(ws engine.ID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.s.cfg.Store.DeleteWorkspaceRecords(ws); err != nil {
		return err
	}
	rec := o.record(ws)
	o.publishLocked(rec, true)
	o.deletions.Inc()
	o.deletedKeys.Add(2)
	o.usage.DeletePartialMatch(prometheus.Labels{"workspace": ws.String()})
	o.deleting()
	o.s.log.Info("Workspace deleted", "workspace", ws)
	return nil
}
