package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/persistence"
)

type auditPage struct {
	Entries    []engine.AuditEntry `json:"entries"`
	NextCursor string              `json:"next_cursor"`
}

// newAuditEnv is an env with a fake clock and a metrics registry.
func newAuditEnv(t *testing.T) (*env, *clockwork.FakeClock, *prometheus.Registry) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Now())
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(g *gateway.Config) { g.Registerer = reg })
	return e, clock, reg
}

// apiUA is api with the request's User-Agent set to ua.
func (e *env) apiUA(method, path, token, ua string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", ua)
	return e.do(req)
}

func (e *env) audit(token, query string) auditPage {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/audit?"+query, token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[auditPage](e.t, body)
}

func findAction(entries []engine.AuditEntry, action string) *engine.AuditEntry {
	for i := range entries {
		if entries[i].Action == action {
			return &entries[i]
		}
	}
	return nil
}

// counterWith is the value of counter name with label action.
func counterWith(t *testing.T, reg *prometheus.Registry, name, action string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "action" && l.GetValue() == action {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestAuditLogRecordsActions(t *testing.T) {
	t.Parallel()
	e, clock, reg := newAuditEnv(t)
	ana := e.addUser("ana@example.com", engine.RoleAdmin, "ana's password")
	bob := e.addUser("bob@example.com", engine.RoleAgent, "bob's password")

	// A sign-in, a settings change, a role change, a channel change.
	st, body := e.apiUA("POST", "/api/v1/auth/login", "", "AuditBrowser/1.0", map[string]string{"email": "ana@example.com", "password": "ana's password"})
	require.Equal(t, http.StatusOK, st, string(body))
	anaSession := decodeAs[session](t, body)
	clock.Advance(time.Second)
	st, body = e.apiUA("PUT", "/api/v1/agent", anaSession.Token, "AuditBrowser/1.0", map[string]any{"system_prompt": "Be brief."})
	require.Equal(t, http.StatusOK, st, string(body))
	st, body = e.apiUA("PATCH", "/api/v1/users/"+bob.User.ID.String(), ownerToken, "curl/8", map[string]any{"role": "admin"})
	require.Equal(t, http.StatusOK, st, string(body))
	st, body = e.apiUA("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ana.Token, "curl/8", map[string]any{"name": "Sales"})
	require.Equal(t, http.StatusOK, st, string(body))
	// A refused call and a read are not actions.
	st, _ = e.apiUA("PATCH", "/api/v1/users/"+bob.User.ID.String(), ownerToken, "curl/8", map[string]any{"role": "nobody"})
	require.Equal(t, http.StatusBadRequest, st)
	st, _ = e.api("GET", "/api/v1/users", ownerToken, nil)
	require.Equal(t, http.StatusOK, st)

	all := e.audit(ownerToken, "limit=200").Entries
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i-1].ID.Compare(all[i].ID), 0, "newest first")
	}
	login := findAction(all, "POST /api/v1/auth/login")
	require.NotNil(t, login, "%+v", all)
	require.Equal(t, ana.User.ID, login.UserID)
	require.Equal(t, "session", login.TokenKind)
	require.Equal(t, "127.0.0.1", login.IP)
	require.Equal(t, "AuditBrowser/1.0", login.UserAgent)
	require.Equal(t, http.StatusOK, login.Status)

	agent := findAction(all, "PUT /api/v1/agent")
	require.NotNil(t, agent)
	require.Equal(t, anaSession.User.ID, agent.UserID)
	tok, err := e.store.TokenBySecret(anaSession.Token)
	require.NoError(t, err)
	require.Equal(t, tok.UserID, agent.UserID)
	require.Contains(t, string(agent.After), "Be brief.")
	require.NotContains(t, string(agent.Before), "Be brief.")
	require.True(t, agent.At.Equal(clock.Now().UTC()) || agent.At.Before(clock.Now()), "the injected clock dates the entry")

	role := findAction(all, "PATCH /api/v1/users/:id")
	require.NotNil(t, role)
	require.Equal(t, e.ownerID(), role.UserID)
	require.Equal(t, "api", role.TokenKind)
	require.Equal(t, "curl/8", role.UserAgent)
	require.Equal(t, bob.User.ID.String(), role.Resource["id"])
	require.JSONEq(t, `{"name":"User bob@example.com","role":"agent"}`, string(role.Before))
	require.JSONEq(t, `{"name":"User bob@example.com","role":"admin"}`, string(role.After))

	ch := findAction(all, "PATCH /api/v1/channels/:channel/:account")
	require.NotNil(t, ch)
	require.Equal(t, map[string]string{"channel": "whatsapp", "account": phoneID}, ch.Resource)

	for _, en := range all {
		require.NotEqual(t, "GET /api/v1/users", en.Action)
		require.Equal(t, e.ws, en.WorkspaceID)
	}
	n := 0
	for _, en := range all {
		if en.Action == "PATCH /api/v1/users/:id" {
			n++
		}
	}
	require.Equal(t, 1, n, "the refused role change is not recorded")
	require.Equal(t, 1.0, counterWith(t, reg, "parley_audit_entries_total", "PATCH /api/v1/users/:id"))
	require.Equal(t, 1.0, counterWith(t, reg, "parley_audit_entries_total", "PUT /api/v1/agent"))

	// Filters: actor, action, resource, since/until.
	byAna := e.audit(ownerToken, "actor="+ana.User.ID.String()).Entries
	require.NotEmpty(t, byAna)
	for _, en := range byAna {
		require.Equal(t, ana.User.ID, en.UserID)
	}
	byAction := e.audit(ownerToken, "action="+url.QueryEscape("PUT /api/v1/agent")).Entries
	require.Len(t, byAction, 1)
	byResource := e.audit(ownerToken, "resource="+bob.User.ID.String()).Entries
	require.Len(t, byResource, 1)
	require.Equal(t, role.ID, byResource[0].ID)
	future := clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	require.Empty(t, e.audit(ownerToken, "since="+future).Entries)
	require.Len(t, e.audit(ownerToken, "until="+future).Entries, len(all))

	// An agent, and a demoted admin, get 403; no token gets 401.
	bobAgent := e.addUser("carl@example.com", engine.RoleAgent, "carl's password")
	st, body = e.api("GET", "/api/v1/audit", bobAgent.Token, nil)
	require.Equal(t, http.StatusForbidden, st)
	require.Equal(t, "forbidden", errorCode(t, body))
	st, _ = e.api("GET", "/api/v1/audit", "", nil)
	require.Equal(t, http.StatusUnauthorized, st)
	// An admin reads it.
	require.NotEmpty(t, e.audit(ana.Token, "").Entries)
}

func TestAuditLogPagingAndExport(t *testing.T) {
	t.Parallel()
	e, clock, _ := newAuditEnv(t)
	for i := 0; i < 7; i++ {
		clock.Advance(time.Millisecond)
		st, body := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]any{"short_code": "r" + string(rune('a'+i)), "title": "T", "body": "Hello =1+1"})
		require.Equal(t, http.StatusCreated, st, string(body))
	}
	all := e.audit(ownerToken, "limit=200").Entries
	var paged []engine.AuditEntry
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100)
		q := "limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		p := e.audit(ownerToken, q)
		require.LessOrEqual(t, len(p.Entries), 3)
		paged = append(paged, p.Entries...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	require.Equal(t, all, paged, "pages walk the whole log once, newest first")
	require.GreaterOrEqual(t, len(all), 7+3) // three channels connected, seven replies

	// JSON Lines.
	st, body := e.api("GET", "/api/v1/audit?format=jsonl", ownerToken, nil)
	require.Equal(t, http.StatusOK, st)
	var lines []engine.AuditEntry
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var en engine.AuditEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &en))
		lines = append(lines, en)
	}
	// The export is recorded before it streams, so it lists itself first.
	require.NotEmpty(t, lines)
	require.Equal(t, "GET /api/v1/audit", lines[0].Action)
	require.Equal(t, all, lines[1:])

	// CSV, filtered; its export is itself recorded.
	st, body = e.api("GET", "/api/v1/audit?format=csv&action="+url.QueryEscape("POST /api/v1/canned-replies"), ownerToken, nil)
	require.Equal(t, http.StatusOK, st)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+7)
	require.Equal(t, "action", rows[0][8])
	require.Equal(t, "POST /api/v1/canned-replies", rows[1][8])
	exp := e.audit(ownerToken, "limit=1").Entries
	require.Equal(t, "GET /api/v1/audit", exp[0].Action)

	// Bad queries: 400 with the error shape.
	for _, q := range []string{"limit=0", "limit=201", "cursor=nope", "actor=1", "since=yesterday", "format=xml", "color=red",
		"limit=1&limit=2", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "%zz"} {
		st, body := e.api("GET", "/api/v1/audit?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, st, q)
		require.Equal(t, "invalid", errorCode(t, body), q)
	}
}

func TestAuditLogWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e, _, _ := newAuditEnv(t)
	st, _ := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]any{"short_code": "hi", "title": "T", "body": "Hello"})
	require.Equal(t, http.StatusCreated, st)

	now := time.Now()
	ws2 := engine.Workspace{ID: engine.NewID(now), Name: "Other", CreatedAt: now}
	owner2 := engine.User{ID: engine.NewID(now), WorkspaceID: ws2.ID, Name: "Other owner", Role: engine.RoleOwner, CreatedAt: now}
	secret2 := gateway.NewSecret()
	b := e.store.NewBatch()
	b.PutWorkspace(&ws2)
	b.PutUser(&owner2)
	b.IssueToken(secret2, &persistence.IssuedToken{ID: engine.NewID(now), Kind: persistence.TokenAPI, Token: engine.Token{
		WorkspaceID: ws2.ID, UserID: owner2.ID, Role: engine.RoleOwner, Name: "t", CreatedAt: now}})
	require.NoError(t, e.store.Commit(b))

	require.Empty(t, e.audit(secret2, "").Entries, "another workspace's actions are not shown")
	st, _ = e.api("POST", "/api/v1/canned-replies", secret2, map[string]any{"short_code": "yo", "title": "T", "body": "Yo"})
	require.Equal(t, http.StatusCreated, st)
	other := e.audit(secret2, "").Entries
	require.Len(t, other, 1)
	require.Equal(t, owner2.ID, other[0].UserID)
	mine := e.audit(ownerToken, "limit=200").Entries
	for _, en := range mine {
		require.Equal(t, e.ws, en.WorkspaceID)
		require.NotEqual(t, owner2.ID, en.UserID)
	}
	// A cursor from one workspace reads nothing of the other.
	require.Empty(t, e.audit(secret2, "cursor="+mine[0].ID.String()+"&actor="+e.ownerID().String()).Entries)
	st, body := e.api("GET", "/api/v1/audit?format=jsonl", secret2, nil)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, 2, strings.Count(string(body), "\n"), "its one action and the export itself: %s", body)
}
