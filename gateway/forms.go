package gateway

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Forms: a workspace's forms and their submissions
// (docs/ARCHITECTURE.md, "Forms").
//
//	GET    /api/v1/forms                      {"forms": [...]}, oldest first (every role)
//	POST   /api/v1/forms                      {"name","fields",...} → 201 (admin)
//	GET    /api/v1/forms/{id}                 one
//	PATCH  /api/v1/forms/{id}                 the parts given → 200 (admin)
//	DELETE /api/v1/forms/{id}                 → 204, with its submissions by form (admin)
//	GET    /api/v1/forms/{id}/submissions     newest first
//	GET    /api/v1/contacts/{id}/submissions  newest first
//	GET    /f/{workspace}/{form}              the public page
//	POST   /f/{workspace}/{form}              a public submission
//
// The form records have one owner, forms: its mutex holds every
// read-check-write (the workspace's limit) with its commit. A
// submission changes a contact, whose owner is its actor
// (Runtime.SubmitForm); the lookup of the contact by email or phone and
// the creation of a new one run under the stripes of submitMu that its
// email and phone keys fall in, so two submissions of one person never
// make two contacts while those of other people go on in parallel.
type forms struct {
	s        *Server
	store    *persistence.Store
	mu       sync.Mutex
	submitMu [submitStripes]sync.Mutex
	limiter  *ipLimiter
	metrics  *formMetrics
}

// Public submission limits.
const (
	// maxFormBody bounds a public submission's body.
	maxFormBody = 16 << 10
	// formHoneypot is the hidden field people never fill in; a
	// submission that fills it is answered as a success and stored nowhere.
	formHoneypot = "website"
	// formRate and formBurst are each client address's submissions: 10 at
	// once, then one every 6 seconds.
	formRate  = rate.Limit(1.0 / 6)
	formBurst = 10
	// maxSubmissionPage is the most submissions a list answers.
	maxSubmissionPage = 200
)

// formMetrics counts public submissions by outcome.
type formMetrics struct {
	submissions *prometheus.CounterVec
}

// formOutcomes are the outcomes of a public submission.
var formOutcomes = []string{"created", "updated", "invalid", "honeypot", "rate_limited", "too_large", "origin", "not_found", "error"}

func newFormMetrics(reg prometheus.Registerer) *formMetrics {
	m := &formMetrics{submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_form_submissions_total",
		Help: "Public form submissions, by outcome (created, updated: a contact; invalid; honeypot; rate_limited; too_large; origin: refused by the Origin check; not_found; error)."},
		[]string{"outcome"})}
	for _, o := range formOutcomes {
		m.submissions.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.submissions)
	}
	return m
}

func (s *Server) formRoutes(a fiber.Router, api fiber.Router) {
	h := &forms{s: s, store: s.cfg.Store, limiter: newIPLimiter(formRate, formBurst), metrics: newFormMetrics(s.cfg.Registerer)}
	api.Get("/forms", h.list)
	api.Post("/forms", requireRole(engine.RoleAdmin), h.create)
	api.Get("/forms/:id", h.get)
	api.Patch("/forms/:id", requireRole(engine.RoleAdmin), h.update)
	api.Delete("/forms/:id", requireRole(engine.RoleAdmin), h.delete)
	api.Get("/forms/:id/submissions", h.formSubmissions)
	api.Get("/contacts/:id/submissions", h.contactSubmissions)
	a.Get("/f/:workspace/:form", h.page)
	a.Post("/f/:workspace/:form", h.submit)
	a.Options("/f/:workspace/:form", h.preflight)
}

// formView is a form as the API shows it, with its public address.
type formView struct {
	engine.Form
	PublicURL string `json:"public_url"`
}

func (h *forms) view(c *fiber.Ctx, f engine.Form) formView {
	return formView{Form: f, PublicURL: h.base(c) + "/f/" + f.WorkspaceID.String() + "/" + f.ID.String()}
}

// base is the server's address as users reach it: -public-url, else the
// address the request came to.
func (h *forms) base(c *fiber.Ctx) string {
	if u := strings.TrimRight(h.s.cfg.PublicURL, "/"); u != "" {
		return u
	}
	return c.Protocol() + "://" + c.Hostname()
}

type formFieldBody struct {
	Key      string `json:"key"`
	Label    string `json:"label"`
	Required bool   `json:"required"`
}

type formBody struct {
	Name           *string          `json:"name"`
	Fields         *[]formFieldBody `json:"fields"`
	ThankYou       *string          `json:"thank_you"`
	StageID        *string          `json:"stage_id"`
	OwnerID        *string          `json:"owner_id"`
	Tag            *string          `json:"tag"`
	AllowedOrigins *[]string        `json:"allowed_origins"`
	stageSet       bool
	ownerSet       bool
}

// parseFormBody reads the body of a create (name and fields required) or
// an update (at least one part) into a change; stage_id and owner_id
// null or "" clear them. Any refusal is a 400 API error.
func parseFormBody(body []byte, create bool) (engine.FormChange, *engine.ID, error) {
	var b formBody
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.FormChange{}, nil, err
	}
	var raw map[string]any
	_ = decodeJSONBytes(body, &raw)
	_, b.stageSet = raw["stage_id"]
	_, b.ownerSet = raw["owner_id"]
	ch := engine.FormChange{Name: b.Name, ThankYou: b.ThankYou, Tag: b.Tag, AllowedOrigins: b.AllowedOrigins}
	if b.Fields != nil {
		fs := make([]engine.FormField, len(*b.Fields))
		for i, f := range *b.Fields {
			fs[i] = engine.FormField{Key: f.Key, Label: f.Label, Required: f.Required}
		}
		ch.Fields = &fs
	}
	switch {
	case create && (b.Name == nil || b.Fields == nil):
		return ch, nil, errorf(fiber.StatusBadRequest, "invalid", "name and fields are required")
	case !create && len(raw) == 0:
		return ch, nil, errorf(fiber.StatusBadRequest, "invalid", "name a part to change")
	}
	var stage *engine.ID
	if b.stageSet {
		if b.StageID == nil || *b.StageID == "" {
			ch.ClearStage = true
		} else {
			id, err := engine.ParseID(*b.StageID)
			if err != nil {
				return ch, nil, errorf(fiber.StatusBadRequest, "invalid", "stage_id is not a stage id")
			}
			stage = &id
		}
	}
	if b.ownerSet {
		if b.OwnerID == nil || *b.OwnerID == "" {
			ch.ClearOwner = true
		} else {
			id, err := engine.ParseID(*b.OwnerID)
			if err != nil {
				return ch, nil, errorf(fiber.StatusBadRequest, "invalid", "owner_id is not a user id")
			}
			ch.OwnerID = &id
		}
	}
	return ch, stage, nil
}

// resolve checks the stage and owner a change names against the
// workspace's pipelines and users as they stand.
func (h *forms) resolve(ws engine.ID, ch *engine.FormChange, stage *engine.ID) error {
	if stage != nil {
		ps, err := h.s.cfg.Runtime.Pipelines(ws)
		if err != nil {
			return err
		}
		p, _, ok := engine.FindStage(ps, *stage)
		if !ok {
			return errorf(fiber.StatusBadRequest, "invalid", "stage_id %s is not a stage of the workspace's pipelines", *stage)
		}
		ch.Stage = &engine.ContactStage{PipelineID: p.ID, StageID: *stage}
	}
	if ch.OwnerID != nil {
		if _, err := h.store.User(ws, *ch.OwnerID); errors.Is(err, persistence.ErrNotFound) {
			return errorf(fiber.StatusBadRequest, "invalid", "owner_id %s is not a user of the workspace", *ch.OwnerID)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (h *forms) list(c *fiber.Ctx) error {
	fs, err := h.store.Forms(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	out := make([]formView, len(fs))
	for i, f := range fs {
		out[i] = h.view(c, f)
	}
	return c.JSON(fiber.Map{"forms": out})
}

func (h *forms) find(c *fiber.Ctx) (engine.Form, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return engine.Form{}, err
	}
	f, err := h.store.Form(who(c).WorkspaceID, id)
	return f, fromEngine(err)
}

func (h *forms) get(c *fiber.Ctx) error {
	f, err := h.find(c)
	if err != nil {
		return err
	}
	return c.JSON(h.view(c, f))
}

func (h *forms) parse(c *fiber.Ctx, create bool) (engine.FormChange, error) {
	ch, stage, err := parseFormBody(c.Body(), create)
	if err != nil {
		return ch, err
	}
	if err := validateBody(c, c.Body()); err != nil {
		return ch, err
	}
	return ch, h.resolve(who(c).WorkspaceID, &ch, stage)
}

func (h *forms) create(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	ch, err := h.parse(c, true)
	if err != nil {
		return err
	}
	defs, err := h.store.FieldDefs(ws)
	if err != nil {
		return err
	}
	if ch.ThankYou == nil {
		ty := engine.DefaultThankYou
		ch.ThankYou = &ty
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	all, err := h.store.Forms(ws)
	if err != nil {
		return err
	}
	if len(all) >= engine.MaxForms {
		return errorf(fiber.StatusConflict, "too_many_forms", "a workspace keeps at most %d forms: delete one first", engine.MaxForms)
	}
	now := h.s.cfg.Runtime.Clock().Now().UTC()
	f, err := engine.ApplyForm(engine.Form{ID: engine.NewID(now), WorkspaceID: ws, CreatedAt: now}, ch, defs, now)
	if err != nil {
		return fromEngine(err)
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutForm(&f) }); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(h.view(c, f))
}

func (h *forms) update(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	ch, err := h.parse(c, false)
	if err != nil {
		return err
	}
	defs, err := h.store.FieldDefs(ws)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, err := h.find(c)
	if err != nil {
		return err
	}
	f, err := engine.ApplyForm(cur, ch, defs, h.s.cfg.Runtime.Clock().Now().UTC())
	if err != nil {
		return fromEngine(err)
	}
	if err := h.commit(func(b *persistence.Batch) { b.PutForm(&f) }); err != nil {
		return err
	}
	return c.JSON(h.view(c, f))
}

func (h *forms) delete(c *fiber.Ctx) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := h.find(c)
	if err != nil {
		return err
	}
	if err := h.commit(func(b *persistence.Batch) { b.DeleteForm(f.WorkspaceID, f.ID) }); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *forms) commit(f func(b *persistence.Batch)) error {
	b := h.store.NewBatch()
	f(b)
	if err := h.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("storing a form: %w", err)
	}
	return nil
}

func submissionLimit(c *fiber.Ctx) (int, error) {
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return 0, err
	}
	if limit == 0 || limit > maxSubmissionPage {
		return 0, errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", maxSubmissionPage)
	}
	return int(limit), nil
}

func (h *forms) formSubmissions(c *fiber.Ctx) error {
	limit, err := submissionLimit(c)
	if err != nil {
		return err
	}
	f, err := h.find(c)
	if err != nil {
		return err
	}
	subs, err := h.store.FormSubmissions(f.WorkspaceID, f.ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"submissions": subs})
}

func (h *forms) contactSubmissions(c *fiber.Ctx) error {
	ws := who(c).WorkspaceID
	limit, err := submissionLimit(c)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := h.store.Contact(ws, id); err != nil {
		return fromEngine(err)
	}
	subs, err := h.store.ContactSubmissions(ws, id, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"submissions": subs})
}

// publicForm reads the form a public route names; any miss is a 404.
func (h *forms) publicForm(c *fiber.Ctx) (engine.Form, error) {
	ws, err1 := engine.ParseID(c.Params("workspace"))
	id, err2 := engine.ParseID(c.Params("form"))
	if err1 != nil || err2 != nil {
		return engine.Form{}, errorf(fiber.StatusNotFound, "not_found", "no such form")
	}
	f, err := h.store.Form(ws, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return engine.Form{}, errorf(fiber.StatusNotFound, "not_found", "no such form")
	}
	return f, err
}

// originAllowed reports whether a request's Origin may submit form f:
// none (not a browser's cross-site request), the server's own address,
// or one of the form's allowed origins.
func (h *forms) originAllowed(c *fiber.Ctx, f *engine.Form) bool {
	o := c.Get(fiber.HeaderOrigin)
	if o == "" {
		return true
	}
	n, err := engine.NormalizeOrigin(o)
	if err != nil {
		return false
	}
	if self, err := engine.NormalizeOrigin(h.base(c)); err == nil && n == self {
		return true
	}
	if self, err := engine.NormalizeOrigin(c.Protocol() + "://" + c.Hostname()); err == nil && n == self {
		return true
	}
	return slices.Contains(f.AllowedOrigins, n)
}

// cors lets an allowed origin read the answer of its submission.
func (h *forms) cors(c *fiber.Ctx, f *engine.Form) {
	o := c.Get(fiber.HeaderOrigin)
	if n, err := engine.NormalizeOrigin(o); err == nil && slices.Contains(f.AllowedOrigins, n) {
		c.Set(fiber.HeaderAccessControlAllowOrigin, o)
		c.Set(fiber.HeaderVary, fiber.HeaderOrigin)
	}
}

// preflight answers a browser's CORS preflight of a submission from an
// allowed origin (JSON bodies are not simple requests).
func (h *forms) preflight(c *fiber.Ctx) error {
	f, err := h.publicForm(c)
	if err != nil {
		return err
	}
	if !h.originAllowed(c, &f) {
		return errorf(fiber.StatusForbidden, "origin_not_allowed", "this site may not submit the form")
	}
	h.cors(c, &f)
	c.Set(fiber.HeaderAccessControlAllowMethods, fiber.MethodPost)
	c.Set(fiber.HeaderAccessControlAllowHeaders, fiber.HeaderContentType)
	c.Set(fiber.HeaderAccessControlMaxAge, "600")
	return c.SendStatus(fiber.StatusNoContent)
}

// submissionBody is a public submission: the values by field key and
// the honeypot.
type submissionBody struct {
	Values  map[string]string `json:"values"`
	Website string            `json:"website"`
}

// parseSubmission reads a public submission's body (at most
// maxFormBody bytes of JSON, at most engine.MaxFormFields+1 values of
// bounded size); any refusal is a 4xx API error.
func parseSubmission(body []byte) (submissionBody, error) {
	var b submissionBody
	if len(body) > maxFormBody {
		return b, errorf(fiber.StatusRequestEntityTooLarge, "too_large", "a submission is at most %d bytes", maxFormBody)
	}
	if err := decodeJSONBytes(body, &b); err != nil {
		return b, err
	}
	if err := engine.ValidateFormSubmission(b.Values); err != nil {
		return b, errorf(fiber.StatusRequestEntityTooLarge, "too_large", "%s", strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": "))
	}
	return b, nil
}

// submitAnswer is the 201 of a public submission.
type submitAnswer struct {
	ThankYou string `json:"thank_you"`
}

func (h *forms) submit(c *fiber.Ctx) error {
	outcome := "error"
	defer func() { h.metrics.submissions.WithLabelValues(outcome).Inc() }()
	now := h.s.cfg.Runtime.Clock().Now()
	if ok, wait := h.limiter.allow(c.IP(), now); !ok {
		outcome = "rate_limited"
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds()+0.999)))
		return errorf(fiber.StatusTooManyRequests, "rate_limited", "too many submissions from your address: try again in a little while")
	}
	f, err := h.publicForm(c)
	if err != nil {
		outcome = "not_found"
		return err
	}
	if !h.originAllowed(c, &f) {
		outcome = "origin"
		return errorf(fiber.StatusForbidden, "origin_not_allowed", "this site may not submit the form")
	}
	h.cors(c, &f)
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		outcome = "invalid"
		return errorf(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "a submission is JSON (Content-Type: application/json)")
	}
	b, err := parseSubmission(c.Body())
	if err == nil {
		err = validateBody(c, c.Body())
	}
	if err != nil {
		outcome = "invalid"
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "too_large" {
			outcome = "too_large"
		}
		return err
	}
	thanks := submitAnswer{ThankYou: f.ThankYou}
	if thanks.ThankYou == "" {
		thanks.ThankYou = engine.DefaultThankYou
	}
	if b.Website != "" {
		outcome = "honeypot" // a bot: it is thanked, and nothing is stored
		return c.Status(fiber.StatusCreated).JSON(thanks)
	}
	defs, err := h.store.FieldDefs(f.WorkspaceID)
	if err != nil {
		return err
	}
	values, patch, err := engine.ValidateSubmission(&f, defs, b.Values)
	if err != nil {
		outcome = "invalid"
		if fe, ok := engine.AsFieldErrors(err); ok {
			return &fieldsError{apiError{fiber.StatusBadRequest, "invalid_fields", "some values are invalid: " + fieldList(fe)}, fe}
		}
		return fromEngine(err)
	}
	at := now.UTC()
	sub := engine.FormSubmission{ID: engine.NewID(at), WorkspaceID: f.WorkspaceID, FormID: f.ID, FormName: f.Name,
		Values: values, Origin: c.Get(fiber.HeaderOrigin), CreatedAt: at}
	if len(sub.Origin) > engine.MaxFormOriginBytes {
		sub.Origin = ""
	}
	created, err := h.apply(c, &f, patch, sub)
	if err != nil {
		return h.s.retryLater(c, err)
	}
	outcome = "updated"
	if created {
		outcome = "created"
	}
	return c.Status(fiber.StatusCreated).JSON(thanks)
}

// submitStripes is how many locks the submissions' lookups are spread
// over.
const submitStripes = 64

// lockKeys locks the stripes of submitMu that keys fall in, in order
// (so that two submissions never wait on each other's), and returns
// their unlock.
func (h *forms) lockKeys(keys []string) func() {
	var idx []int
	for _, k := range keys {
		f := fnv.New32a()
		_, _ = f.Write([]byte(k))
		if i := int(f.Sum32() % submitStripes); !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		h.submitMu[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(idx) {
			h.submitMu[i].Unlock()
		}
	}
}

// apply finds the contact of a submission by its email, then its phone
// (the identity keys), and hands the change to its actor; nobody known
// makes a new contact. The lookup and the creation run under the
// stripes of the keys (lockKeys).
func (h *forms) apply(c *fiber.Ctx, f *engine.Form, p engine.ContactPatch, sub engine.FormSubmission) (bool, error) {
	var keys []string
	if p.Email != nil {
		if e := engine.NormalizeEmail(*p.Email); e != "" {
			keys = append(keys, engine.KeyEmail+e)
		}
	}
	if p.Phone != nil {
		if n := engine.NormalizePhone(*p.Phone); n != "" {
			keys = append(keys, engine.KeyPhone+n)
		}
	}
	defer h.lockKeys(keys)()
	id, found, err := h.store.ContactByKeys(f.WorkspaceID, keys)
	if err != nil {
		return false, err
	}
	if formLooked != nil {
		formLooked()
	}
	if !found {
		id = engine.NewID(sub.CreatedAt)
	}
	ap := actors.FormApply{Patch: p, Stage: f.Stage, Owner: f.OwnerID, Tag: f.Tag, Sub: sub}
	_, _, err = h.s.cfg.Runtime.SubmitForm(c.UserContext(), f.WorkspaceID, id, !found, ap)
	return !found, err
}

// formLooked, when set (by a test), runs between the lookup of a
// submission's contact and its creation: where a second submission would
// slip in without lockKeys.
var formLooked func()

// ipLimiter keeps a token bucket per client address (golang.org/x/time/rate),
// on the runtime's clock. Buckets idle long enough to be full again are
// dropped when the map grows.
type ipLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*ipBucket
}

type ipBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// maxIPBuckets is how many addresses the limiter keeps before it drops
// the idle ones.
const maxIPBuckets = 10000

func newIPLimiter(every rate.Limit, burst int) *ipLimiter {
	return &ipLimiter{every: every, burst: burst, buckets: map[string]*ipBucket{}}
}

// allow takes a token of ip's bucket at now; when there is none it says
// how long until there is.
func (l *ipLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxIPBuckets {
			full := time.Duration(float64(l.burst) / float64(l.every) * float64(time.Second))
			for k, o := range l.buckets {
				if now.Sub(o.last) > full {
					delete(l.buckets, k)
				}
			}
		}
		b = &ipBucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[ip] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
