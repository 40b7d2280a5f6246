package gateway

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// The audit log (docs/ARCHITECTURE.md, "Audit log"):
//
//	GET /api/v1/audit     owners and admins: entries newest first, filtered
//	                      (actor, action, resource, since, until), a page
//	                      at a time by cursor, or every match as JSON Lines
//	                      or CSV (format=jsonl|csv)
//
// The audit middleware records every successful mutating call made with a
// workspace's token (and the reads that export data) right after the
// handler's commit; sign-ins and user changes, whose batches the gateway
// owns, append their entry to that same batch (auditInto).

const (
	auditDoneKey   = "parley.audit.done"
	auditReadKey   = "parley.audit.read"
	auditBeforeKey = "parley.audit.before"
	auditAfterKey  = "parley.audit.after"

	auditDefaultLimit = 50
	auditMaxLimit     = 200
	// auditExportMax bounds one export's entries.
	auditExportMax = 100000
)

// auditSkipped are the mutating routes that change nothing anyone audits:
// the agents' test consoles (a dry run that stores nothing), a user's
// own read marks, and saying one is typing (nothing is stored).
var auditSkipped = map[string]bool{
	"POST /api/v1/agent/test":                            true,
	"POST /api/v1/channels/:channel/:account/agent/test": true,
	"POST /api/v1/conversations/:conv/read":              true,
	"POST /api/v1/conversations/:conv/unread":            true,
	"POST /api/v1/conversations/:conv/typing":            true,
}

// auditAction names what a request did: its method and its route's
// pattern, such as "POST /api/v1/conversations/:conv/takeover".
func auditAction(c *fiber.Ctx) string { return c.Method() + " " + c.Route().Path }

// auditRead marks a GET that exports data, so that it is recorded.
func auditRead(c *fiber.Ctx) { c.Locals(auditReadKey, true) }

// auditChange gives the audit entry of the request the settings' value
// before and after the change.
func auditChange(c *fiber.Ctx, before, after any) {
	c.Locals(auditBeforeKey, before)
	c.Locals(auditAfterKey, after)
}

// auditEntry builds the audit entry of request c by user usr with token
// tok (kind names the token: api or session).
func (s *Server) auditEntry(c *fiber.Ctx, usr engine.User, tok engine.ID, kind persistence.TokenKind) engine.AuditEntry {
	now := s.cfg.Runtime.Clock().Now().UTC()
	e := engine.AuditEntry{
		ID: nextAuditID(now), WorkspaceID: usr.WorkspaceID, At: now,
		UserID: usr.ID, UserName: usr.Name, TokenID: tok, TokenKind: string(kind),
		IP: c.IP(), UserAgent: truncate(c.Get(fiber.HeaderUserAgent), 512),
		Action: auditAction(c), Status: c.Response().StatusCode(),
	}
	if r := c.Route(); r != nil {
		for _, p := range r.Params {
			if v := c.Params(p); v != "" {
				if e.Resource == nil {
					e.Resource = map[string]string{}
				}
				e.Resource[p] = truncate(v, 256)
			}
		}
	}
	e.Before = auditJSON(c.Locals(auditBeforeKey))
	e.After = auditJSON(c.Locals(auditAfterKey))
	return e
}

func auditJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// auditInto appends the audit entry of request c by usr (with token tok
// of kind kind) to b, the batch of the change, so that the change and its
// entry commit together; the middleware then records nothing more. The
// status is the one the handler is about to send.
func (s *Server) auditInto(c *fiber.Ctx, b *persistence.Batch, usr engine.User, tok engine.ID, kind persistence.TokenKind, status int) {
	e := s.auditEntry(c, usr, tok, kind)
	e.Status = status
	b.AppendAudit(&e)
	c.Locals(auditDoneKey, &e)
}

// audit is the middleware that records each successful mutating call
// (and each marked export) of an authenticated workspace user, after the
// handler has committed the change.
func (s *Server) audit(c *fiber.Ctx) error {
	err := c.Next()
	if done, _ := c.Locals(auditDoneKey).(*engine.AuditEntry); done != nil {
		if err == nil && c.Response().StatusCode() < 400 {
			s.metrics.auditEntries.WithLabelValues(done.Action).Inc() // committed with the change
		}
		return err
	}
	if err != nil || c.Response().StatusCode() >= 400 {
		return err
	}
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
	default:
		if read, _ := c.Locals(auditReadKey).(bool); !read {
			return nil
		}
	}
	p := who(c)
	if p == nil || auditSkipped[auditAction(c)] {
		return nil // not a workspace's user: webhooks, integrators, sign-in failures
	}
	e := s.auditEntry(c, p.User, p.TokenID, p.Kind)
	b := s.cfg.Store.NewBatch()
	b.AppendAudit(&e)
	if cerr := s.cfg.Store.Commit(b); cerr != nil {
		s.log.Error("Could not append to the audit log", "action", e.Action, "err", cerr)
		return nil
	}
	s.metrics.auditEntries.WithLabelValues(e.Action).Inc()
	return nil
}

// auditRequest is a parsed GET /api/v1/audit query.
type auditRequest struct {
	query  persistence.AuditQuery
	format string // "json", "jsonl" or "csv"
}

// parseAuditQuery parses the query string of GET /api/v1/audit.
func parseAuditQuery(raw string) (auditRequest, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "malformed query string")
	}
	r := auditRequest{format: "json", query: persistence.AuditQuery{Limit: auditDefaultLimit}}
	for k, vs := range vals {
		if len(vs) != 1 {
			return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "%s is given more than once", k)
		}
		v := vs[0]
		switch k {
		case "actor", "cursor":
			id, err := engine.ParseID(v)
			if err != nil {
				return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "%s must be an id", k)
			}
			if k == "actor" {
				r.query.Actor = id
			} else {
				r.query.Before = id
			}
		case "action", "resource":
			if v == "" || len(v) > 256 {
				return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "%s must be 1 to 256 bytes", k)
			}
			if k == "action" {
				r.query.Action = v
			} else {
				r.query.Resource = v
			}
		case "since", "until":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "%s must be an RFC 3339 time", k)
			}
			if t.Unix() < 0 {
				return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "%s must be after 1970", k)
			}
			if k == "since" {
				r.query.Since = t
			} else {
				r.query.Until = t
			}
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > auditMaxLimit {
				return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "limit must be 1 to %d", auditMaxLimit)
			}
			r.query.Limit = n
		case "format":
			if v != "json" && v != "jsonl" && v != "csv" {
				return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "format must be json, jsonl or csv")
			}
			r.format = v
		default:
			return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "unknown parameter %q", truncate(k, 64))
		}
	}
	if !r.query.Since.IsZero() && !r.query.Until.IsZero() && !r.query.Until.After(r.query.Since) {
		return auditRequest{}, errorf(fiber.StatusBadRequest, "invalid", "until must be after since")
	}
	return r, nil
}

type auditPage struct {
	Entries    []engine.AuditEntry `json:"entries"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

// listAudit answers GET /api/v1/audit.
func (s *Server) listAudit(c *fiber.Ctx) error {
	r, err := parseAuditQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	if r.format == "json" {
		entries, next, err := s.cfg.Store.AuditEntries(ws, r.query)
		if err != nil {
			return err
		}
		page := auditPage{Entries: entries}
		if page.Entries == nil {
			page.Entries = []engine.AuditEntry{}
		}
		if next != (engine.ID{}) {
			page.NextCursor = next.String()
		}
		return c.JSON(page)
	}
	// The stream's writer starts at once on a goroutine of its own, so the
	// export's own entry is committed first: the export lists itself.
	if p := who(c); p != nil {
		e := s.auditEntry(c, p.User, p.TokenID, p.Kind)
		e.Status = fiber.StatusOK
		b := s.cfg.Store.NewBatch()
		b.AppendAudit(&e)
		if err := s.cfg.Store.Commit(b); err != nil {
			return fmt.Errorf("recording the audit export: %w", err)
		}
		c.Locals(auditDoneKey, &e)
	}
	q := r.query
	q.Limit = auditMaxLimit
	if r.format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="audit.%s"`, r.format))
	store, log := s.cfg.Store, s.log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		cw := csv.NewWriter(w)
		if r.format == "csv" {
			_ = cw.Write([]string{"id", "at", "user_id", "user_name", "token_id", "token_kind", "ip", "user_agent", "action", "resource", "status", "before", "after"})
		}
		written := 0
		for written < auditExportMax {
			entries, next, err := store.AuditEntries(ws, q)
			if err != nil {
				log.Error("Audit export failed", "err", err)
				return
			}
			for i := range entries {
				if r.format == "csv" {
					_ = cw.Write(auditRow(&entries[i]))
				} else {
					b, _ := json.Marshal(&entries[i])
					_, _ = w.Write(append(b, '\n'))
				}
			}
			written += len(entries)
			if next == (engine.ID{}) {
				break
			}
			q.Before = next
		}
		cw.Flush()
		_ = w.Flush()
	})
	return nil
}

// auditRow is an entry as a CSV row, escaped as the contacts export is
// (escapeCell).
func auditRow(e *engine.AuditEntry) []string {
	var res []string
	for k, v := range e.Resource {
		res = append(res, k+"="+v)
	}
	sort.Strings(res)
	row := []string{e.ID.String(), e.At.Format(time.RFC3339Nano), e.UserID.String(), e.UserName, e.TokenID.String(), e.TokenKind,
		e.IP, e.UserAgent, e.Action, strings.Join(res, " "), strconv.Itoa(e.Status), string(e.Before), string(e.After)}
	for i, v := range row {
		row[i] = escapeCell(v)
	}
	return row
}

// auditIDs keeps the audit log's ids in the order their entries were
// made: a ULID's random part restarts whenever another caller takes an
// id of another millisecond, so two entries of one millisecond could
// sort either way; an id not above the last one is the last one plus one.
var auditIDs struct {
	sync.Mutex
	last engine.ID
}

func nextAuditID(now time.Time) engine.ID {
	id := engine.NewID(now)
	auditIDs.Lock()
	defer auditIDs.Unlock()
	if id.Compare(auditIDs.last) <= 0 {
		id = auditIDs.last
		for i := len(id) - 1; i >= 0; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	auditIDs.last = id
	return id
}
