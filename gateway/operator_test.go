package gateway_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

const adminToken = "adm_test_operator_token"

// newOperatorEnv is newEnv with the operator's admin token configured
// and the metrics served.
func newOperatorEnv(t *testing.T, tweak func(*actors.Config)) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	return newEnvWith(t, tweak, func(c *gateway.Config) { c.AdminToken, c.Registerer, c.Gatherer = adminToken, reg, reg })
}

// adminWorkspace is a workspace as the operator API answers it.
type adminWorkspace struct {
	ID       engine.ID             `json:"id"`
	Name     string                `json:"name"`
	State    engine.WorkspaceState `json:"state"`
	Plan     string                `json:"plan"`
	Limits   engine.PlanLimits     `json:"limits"`
	Usage    []usageLine           `json:"usage"`
	Deletion *struct {
		Phase string `json:"phase"`
		Done  int64  `json:"done"`
		Total int64  `json:"total"`
	} `json:"deletion"`
}

type usageLine struct {
	Resource engine.PlanResource `json:"resource"`
	Used     int64               `json:"used"`
	Limit    int64               `json:"limit"`
	Over     bool                `json:"over"`
	Period   string              `json:"period"`
}

// createWorkspace has the operator create a workspace and its owner
// accept the invitation; it returns the workspace and the owner's
// session token.
func (e *env) createWorkspace(name, email string, limits *engine.PlanLimits) (adminWorkspace, string) {
	e.t.Helper()
	body := map[string]any{"name": name, "owner_email": email, "plan": "starter"}
	if limits != nil {
		body["limits"] = limits
	}
	code, resp := e.api("POST", "/api/v1/admin/workspaces", adminToken, body)
	require.Equal(e.t, http.StatusCreated, code, string(resp))
	out := decodeAs[struct {
		Workspace  adminWorkspace `json:"workspace"`
		Invitation struct {
			Code  string      `json:"code"`
			Email string      `json:"email"`
			Role  engine.Role `json:"role"`
			Link  string      `json:"link"`
		} `json:"invitation"`
	}](e.t, resp)
	require.Equal(e.t, engine.RoleOwner, out.Invitation.Role)
	require.Contains(e.t, out.Invitation.Link, out.Invitation.Code)
	require.Equal(e.t, engine.WorkspaceActive, out.Workspace.State)
	code, resp = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{
		"code": out.Invitation.Code, "name": "Owner of " + name, "password": "correct horse battery"})
	require.Equal(e.t, http.StatusCreated, code, string(resp))
	s := decodeAs[session](e.t, resp)
	require.Equal(e.t, out.Workspace.ID, s.User.WorkspaceID)
	require.Equal(e.t, engine.RoleOwner, s.User.Role)
	return out.Workspace, s.Token
}

func (e *env) adminGet(ws engine.ID) (int, adminWorkspace) {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/admin/workspaces/"+ws.String(), adminToken, nil)
	var w adminWorkspace
	if code == http.StatusOK {
		w = decodeAs[adminWorkspace](e.t, body)
	}
	return code, w
}

// The operator API is off (404) without an admin token configured; with
// one, only that token opens it: none, a wrong one and a workspace
// owner's token get 401. Backups become the operator's.
func TestOperatorAdminAuth(t *testing.T) {
	t.Parallel()
	off := newEnv(t, nil)
	code, body := off.api("GET", "/api/v1/admin/workspaces", adminToken, nil)
	require.Equal(t, http.StatusNotFound, code, string(body))
	code, body = off.api("POST", "/api/v1/admin/workspaces", ownerToken, map[string]any{"name": "x", "owner_email": "a@b.test"})
	require.Equal(t, http.StatusNotFound, code, string(body))

	e := newOperatorEnv(t, nil)
	routes := [][2]string{{"GET", "/api/v1/admin/workspaces"}, {"POST", "/api/v1/admin/workspaces"},
		{"GET", "/api/v1/admin/workspaces/" + e.ws.String()}, {"PATCH", "/api/v1/admin/workspaces/" + e.ws.String()},
		{"POST", "/api/v1/admin/workspaces/" + e.ws.String() + "/suspend"}, {"POST", "/api/v1/admin/workspaces/" + e.ws.String() + "/unsuspend"},
		{"DELETE", "/api/v1/admin/workspaces/" + e.ws.String()}}
	for _, r := range routes {
		for _, tok := range []string{"", "wrong-" + adminToken, adminToken + "x", ownerToken} {
			code, body := e.api(r[0], r[1], tok, map[string]any{"name": "x", "owner_email": "a@b.test"})
			require.Equal(t, http.StatusUnauthorized, code, "%s %s with %q: %s", r[0], r[1], tok, body)
			require.Equal(t, "unauthorized", errorCode(t, body))
		}
	}
	// Nothing was created or changed by the refused calls.
	code, body = e.api("GET", "/api/v1/admin/workspaces", adminToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	list := decodeAs[struct {
		Workspaces []adminWorkspace `json:"workspaces"`
	}](t, body)
	require.Len(t, list.Workspaces, 1)
	require.Equal(t, engine.WorkspaceActive, list.Workspaces[0].State)

	// The backup is the operator's once an admin token is configured.
	code, body = e.api("POST", "/api/v1/admin/backup", ownerToken, nil)
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "operator_only", errorCode(t, body))
	code, body = e.api("POST", "/api/v1/admin/backup", adminToken, nil)
	require.Equal(t, http.StatusOK, code, string(body[:min(len(body), 200)]))
	require.True(t, bytes.Contains(body, []byte("manifest.json")))
}

// The operator creates workspaces (each owner joins through the
// invitation), lists them a page at a time, changes a plan, and refuses
// bad bodies without storing anything.
func TestOperatorCreatesAndListsWorkspaces(t *testing.T) {
	t.Parallel()
	e := newOperatorEnv(t, nil)
	var made []engine.ID
	for i := range 3 {
		w, tok := e.createWorkspace(fmt.Sprintf("Shop %d", i), fmt.Sprintf("owner%d@shop.test", i), nil)
		made = append(made, w.ID)
		code, body := e.api("GET", "/api/v1/me", tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.Contains(t, string(body), fmt.Sprintf("Shop %d", i))
	}
	var seen []engine.ID
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		code, body := e.api("GET", "/api/v1/admin/workspaces?limit=2&cursor="+cursor, adminToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		page := decodeAs[struct {
			Workspaces []adminWorkspace `json:"workspaces"`
			Next       string           `json:"next_cursor"`
		}](t, body)
		for _, w := range page.Workspaces {
			seen = append(seen, w.ID)
			require.Len(t, w.Usage, len(engine.PlanResources), "each lists its usage")
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	require.Equal(t, append([]engine.ID{e.ws}, made...), seen)

	// Bad bodies: 400, nothing stored.
	for _, b := range []string{`{}`, `{"name":"x"}`, `{"owner_email":"a@b.test"}`, `{"name":"","owner_email":"a@b.test"}`,
		`{"name":"x","owner_email":"not an email"}`, `{"name":"x","owner_email":"a@b.test","limits":{"seats":-1}}`,
		`{"name":"x","owner_email":"a@b.test","time_zone":"Mars/Olympus"}`, `{"name":"x","owner_email":"a@b.test","nope":1}`, `[`} {
		code, body := e.api("POST", "/api/v1/admin/workspaces", adminToken, b)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", b, body)
	}
	wss, err := e.store.Workspaces()
	require.NoError(t, err)
	require.Len(t, wss, 4)

	code, body := e.api("PATCH", "/api/v1/admin/workspaces/"+made[0].String(), adminToken, map[string]any{
		"plan": "pro", "limits": map[string]any{"seats": 5, "contacts": 1000}, "time_zone": "Europe/Paris"})
	require.Equal(t, http.StatusOK, code, string(body))
	w := decodeAs[adminWorkspace](t, body)
	require.Equal(t, "pro", w.Plan)
	require.Equal(t, engine.PlanLimits{Seats: 5, Contacts: 1000}, w.Limits)
	code, body = e.api("PATCH", "/api/v1/admin/workspaces/"+made[0].String(), adminToken, map[string]any{"limits": map[string]any{"contacts": -5}})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	_, w = e.adminGet(made[0])
	require.Equal(t, engine.PlanLimits{Seats: 5, Contacts: 1000}, w.Limits, "a refused change changes nothing")
	code, _ = e.api("GET", "/api/v1/admin/workspaces/"+engine.NewID(time.Now()).String(), adminToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// A suspended workspace's users and tokens get 403 workspace_suspended
// on every route and the WebSocket, its open sockets are closed, while
// its channels' inbound messages are still acknowledged and stored;
// another workspace is untouched. Unsuspending lets them back in.
func TestOperatorSuspendsAWorkspace(t *testing.T) {
	t.Parallel()
	e := newOperatorEnv(t, nil)
	w, tok := e.createWorkspace("Late payer", "late@shop.test", nil)
	code, body := e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "whatsapp", "account_id": "PHONE_S", "access_token": "tok-s"})
	require.Equal(t, http.StatusCreated, code, string(body))
	sock, _, err := e.dialWS("token=" + tok)
	require.NoError(t, err)

	code, body = e.api("POST", "/api/v1/admin/workspaces/"+w.ID.String()+"/suspend", adminToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, engine.WorkspaceSuspended, decodeAs[adminWorkspace](t, body).State)
	for _, r := range [][2]string{{"GET", "/api/v1/conversations"}, {"GET", "/api/v1/me"}, {"GET", "/api/v1/contacts"},
		{"POST", "/api/v1/contacts"}, {"GET", "/api/v1/usage"}, {"GET", "/api/v1/channels"}, {"POST", "/api/v1/users/invitations"}} {
		code, body := e.api(r[0], r[1], tok, map[string]any{"name": "x"})
		require.Equal(t, http.StatusForbidden, code, "%s %s: %s", r[0], r[1], body)
		require.Equal(t, "workspace_suspended", errorCode(t, body))
	}
	_, resp, err := e.dialWS("token=" + tok)
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	// The open socket was closed.
	_ = sock.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := sock.conn.ReadMessage(); err != nil {
			require.NotContains(t, err.Error(), "timeout")
			break
		}
	}
	// Signing in with the right password says why.
	code, body = e.api("POST", "/api/v1/auth/login", "", map[string]any{"email": "late@shop.test", "password": "correct horse battery"})
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "workspace_suspended", errorCode(t, body))
	// Its customers' messages are still taken in.
	p := waTextTo("PHONE_S", "wamid.susp.1", "1555777", "are you there?")
	code, body = e.webhookSigned(engine.ChannelWhatsApp, p, meta.Sign([]byte(p), []byte(appSecret)))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if n, _ := e.store.CountConversations(w.ID); n != 1 {
			return fmt.Errorf("%d conversations", n)
		}
		return nil
	})
	// Another workspace does not notice.
	code, body = e.api("GET", "/api/v1/conversations", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))

	code, body = e.api("POST", "/api/v1/admin/workspaces/"+w.ID.String()+"/unsuspend", adminToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("GET", "/api/v1/conversations", tok, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), "are you there?")
}

// Deleting a workspace makes it inaccessible at once, then removes all
// its data in the background: afterwards a scan of the whole store finds
// no key or record of it (conversations, messages, contacts, notes,
// indexes, search index, tokens, credentials, channel accounts), its
// media directory is gone and its search finds nothing, while another
// workspace keeps everything.
func TestOperatorDeletesAWorkspaceAndAllItsData(t *testing.T) {
	t.Parallel()
	e := newOperatorEnv(t, nil)
	w, tok := e.createWorkspace("Doomed", "doomed@shop.test", nil)
	code, body := e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "whatsapp", "account_id": "PHONE_D", "access_token": "tok-d"})
	require.Equal(t, http.StatusCreated, code, string(body))
	signed := func(p string) {
		t.Helper()
		code, body := e.webhookSigned(engine.ChannelWhatsApp, p, meta.Sign([]byte(p), []byte(appSecret)))
		require.Equal(t, http.StatusOK, code, string(body))
	}
	// An outgoing webhook whose deliveries stay queued (a loopback
	// address is refused, so each attempt fails and waits for a retry).
	code, body = e.api("POST", "/api/v1/webhooks", tok, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"message_created"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	doomedHook := decodeAs[engine.Webhook](t, body).ID.String()
	for i := range 5 {
		signed(waTextTo("PHONE_D", fmt.Sprintf("wamid.del.%d", i), fmt.Sprintf("155580%d", i), "zanzibar order "+fmt.Sprint(i)))
	}
	// A media file.
	img := []byte("\xff\xd8\xff\xe0 doomed jpeg")
	e.graph.mu.Lock()
	e.graph.media["MEDIA_D"] = img
	e.graph.mu.Unlock()
	signed(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"PHONE_D"},"contacts":[{"profile":{"name":"P"},"wa_id":"1555899"}],"messages":[{"from":"1555899","id":"wamid.del.img","timestamp":"1750000000","type":"image","image":{"id":"MEDIA_D","mime_type":"image/jpeg","sha256":"","caption":"zanzibar"}}]}}]}]}`)
	mediaDir := filepath.Join(e.dir, "media", w.ID.String())
	eventually(t, 5*time.Second, func() error {
		entries, _ := os.ReadDir(mediaDir)
		if len(entries) == 0 {
			return fmt.Errorf("no media yet")
		}
		return nil
	})
	// Contacts, notes, a canned reply, a token of its own.
	for i := range 3 {
		code, body := e.api("POST", "/api/v1/contacts", tok, map[string]any{"name": fmt.Sprintf("Zanzibar Lead %d", i), "email": fmt.Sprintf("lead%d@zanzibar.test", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
		ct := decodeAs[engine.Contact](t, body)
		code, body = e.api("POST", "/api/v1/contacts/"+ct.ID.String()+"/notes", tok, map[string]any{"text": "call back"})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body = e.api("POST", "/api/v1/canned-replies", tok, map[string]any{"short_code": "hi", "title": "Hi", "body": "Hello there"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/tokens", tok, map[string]any{"name": "script"})
	require.Equal(t, http.StatusCreated, code, string(body))
	// The search index has it.
	eventually(t, 5*time.Second, func() error {
		if r := e.search(tok, "zanzibar"); len(r.Hits) == 0 {
			return fmt.Errorf("not indexed yet")
		}
		return nil
	})
	// The other workspace has data of its own.
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.keep.1", "1555111", "Keeper", "zanzibar keep me"))
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Zanzibar Keeper", "email": "keep@zanzibar.test"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if r := e.search(ownerToken, "zanzibar"); len(r.Hits) == 0 {
			return fmt.Errorf("not indexed yet")
		}
		return nil
	})
	code, body = e.api("GET", "/api/v1/webhooks/"+doomedHook+"/deliveries", tok, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), "zanzibar order", "its webhook deliveries are queued")
	keepKeys := countWorkspaceKeys(t, e, e.ws)

	code, body = e.api("DELETE", "/api/v1/admin/workspaces/"+w.ID.String(), adminToken, nil)
	require.Equal(t, http.StatusAccepted, code, string(body))
	marked := decodeAs[adminWorkspace](t, body)
	require.Equal(t, engine.WorkspaceDeleting, marked.State)
	require.NotNil(t, marked.Deletion)
	require.Positive(t, marked.Deletion.Total)
	code, body = e.api("GET", "/api/v1/conversations", tok, nil)
	require.Contains(t, []int{http.StatusForbidden, http.StatusUnauthorized}, code, string(body))
	code, body = e.api("POST", "/api/v1/admin/workspaces/"+w.ID.String()+"/unsuspend", adminToken, nil)
	require.Contains(t, []int{http.StatusConflict, http.StatusNotFound}, code, "a deletion is final: %s", body)

	eventually(t, 20*time.Second, func() error {
		if code, w := e.adminGet(w.ID); code != http.StatusNotFound {
			return fmt.Errorf("still there: %d %+v", code, w.Deletion)
		}
		return nil
	})
	var left []string
	require.NoError(t, e.store.ScanForWorkspace(w.ID, func(k []byte) { left = append(left, fmt.Sprintf("%q", k)) }))
	require.Empty(t, left, "keys of the deleted workspace remain")
	_, err := os.Stat(mediaDir)
	require.True(t, os.IsNotExist(err), "its media directory remains: %v", err)
	code, _ = e.api("GET", "/api/v1/conversations", tok, nil)
	require.Equal(t, http.StatusUnauthorized, code, "its sessions are gone")
	code, _, _ = e.login("doomed@shop.test", "correct horse battery")
	require.Equal(t, http.StatusUnauthorized, code, "its credentials are gone")
	_, err = e.store.ChannelAccount(engine.ChannelWhatsApp, "PHONE_D")
	require.ErrorIs(t, err, persistence.ErrNotFound, "its channel account no longer routes")

	// The other workspace is whole.
	require.Equal(t, keepKeys, countWorkspaceKeys(t, e, e.ws))
	require.NotEmpty(t, e.search(ownerToken, "zanzibar").Hits)
	code, body = e.api("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "parley_workspace_deletions_total 1")
	require.Contains(t, string(body), "parley_workspace_deletions_in_progress 0")
	require.Regexp(t, `parley_workspace_deletion_keys_deleted_total [1-9]`, string(body))
}

// countWorkspaceKeys counts the keys that hold or name ws.
func countWorkspaceKeys(t *testing.T, e *env, ws engine.ID) int {
	t.Helper()
	n := 0
	require.NoError(t, e.store.ScanForWorkspace(ws, func([]byte) { n++ }))
	return n
}

// Each limit is enforced where the thing is created, with 402
// plan_limit and the limit, and nothing stored; inbound messages are
// never refused (their contact is created and the overage shown); the
// usage API shows each limit with its use.
func TestPlanLimitsEnforced(t *testing.T) {
	t.Parallel()
	e := newOperatorEnv(t, nil)
	w, tok := e.createWorkspace("Small", "small@shop.test", &engine.PlanLimits{Seats: 2, ChannelAccounts: 1, Contacts: 2})
	planLimit := func(code int, body []byte, r engine.PlanResource, limit int64) {
		t.Helper()
		require.Equal(t, http.StatusPaymentRequired, code, string(body))
		v := decodeAs[struct {
			Error struct {
				Code     string              `json:"code"`
				Message  string              `json:"message"`
				Limit    int64               `json:"limit"`
				Resource engine.PlanResource `json:"resource"`
			} `json:"error"`
		}](t, body)
		require.Equal(t, "plan_limit", v.Error.Code)
		require.Equal(t, limit, v.Error.Limit)
		require.Equal(t, r, v.Error.Resource)
		require.NotEmpty(t, v.Error.Message)
	}
	// Seats: the owner and one invitation.
	code, body := e.api("POST", "/api/v1/users/invitations", tok, map[string]any{"email": "agent1@shop.test", "role": "agent"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/users/invitations", tok, map[string]any{"email": "agent2@shop.test", "role": "agent"})
	planLimit(code, body, engine.PlanSeats, 2)
	n, err := e.store.CountWorkspaceInvitations(w.ID, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the refused invitation is not stored")

	// Channel accounts: one, whatever its kind.
	code, body = e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "whatsapp", "account_id": "PHONE_L", "access_token": "tok-l"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "messenger", "account_id": "PAGE_L", "access_token": "tok-l"})
	planLimit(code, body, engine.PlanChannelAccounts, 1)
	code, body = e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "api", "name": "bot", "webhook_url": "https://example.com/hook"})
	planLimit(code, body, engine.PlanChannelAccounts, 1)
	_, err = e.store.ChannelAccount(engine.ChannelMessenger, "PAGE_L")
	require.ErrorIs(t, err, persistence.ErrNotFound, "the refused account is not stored")
	na, err := e.store.CountWorkspaceChannelAccounts(w.ID, 10)
	require.NoError(t, err)
	require.Equal(t, 1, na)

	// Contacts: two by the API; the third refused, by the API and by CSV.
	for i := range 2 {
		code, body := e.api("POST", "/api/v1/contacts", tok, map[string]any{"name": fmt.Sprintf("C%d", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body = e.api("POST", "/api/v1/contacts", tok, map[string]any{"name": "C3"})
	planLimit(code, body, engine.PlanContacts, 2)
	req, err := http.NewRequest("POST", e.url+"/api/v1/contacts/import", strings.NewReader("name,email\nD1,d1@x.test\nD2,d2@x.test\n"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/csv")
	code, body = e.do(req)
	require.Less(t, code, 300, string(body))
	require.Contains(t, string(body), "plan_limit")
	cn, err := e.store.CountContacts(w.ID, 100)
	require.NoError(t, err)
	require.Equal(t, 2, cn, "the refused contacts are not stored")

	// An inbound message from a new customer is taken, its contact
	// created over the limit, and the overage shown.
	p := waTextTo("PHONE_L", "wamid.lim.1", "1555444", "hello")
	code, body = e.webhookSigned(engine.ChannelWhatsApp, p, meta.Sign([]byte(p), []byte(appSecret)))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if n, _ := e.store.CountContacts(w.ID, 100); n != 3 {
			return fmt.Errorf("%d contacts", n)
		}
		return nil
	})
	code, body = e.api("GET", "/api/v1/usage", tok, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	u := decodeAs[struct {
		Plan  string      `json:"plan"`
		Usage []usageLine `json:"usage"`
	}](t, body)
	require.Equal(t, "starter", u.Plan)
	byRes := map[engine.PlanResource]usageLine{}
	for _, l := range u.Usage {
		byRes[l.Resource] = l
	}
	require.Equal(t, usageLine{Resource: engine.PlanSeats, Used: 1, Limit: 2}, byRes[engine.PlanSeats])
	require.Equal(t, usageLine{Resource: engine.PlanChannelAccounts, Used: 1, Limit: 1}, byRes[engine.PlanChannelAccounts])
	require.Equal(t, usageLine{Resource: engine.PlanContacts, Used: 3, Limit: 2, Over: true}, byRes[engine.PlanContacts])
	require.Zero(t, byRes[engine.PlanAIRepliesPerMonth].Limit)
	require.NotEmpty(t, byRes[engine.PlanAIRepliesPerMonth].Period)

	// Raising a limit lets the next creation through.
	code, body = e.api("PATCH", "/api/v1/admin/workspaces/"+w.ID.String(), adminToken, map[string]any{"limits": map[string]any{"seats": 2, "channel_accounts": 2, "contacts": 10}})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts", tok, map[string]any{"name": "C3"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "messenger", "account_id": "PAGE_L", "access_token": "tok-l"})
	require.Equal(t, http.StatusCreated, code, string(body))

	// The default workspace, without a plan, is unlimited.
	for i := range 3 {
		code, body := e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": fmt.Sprintf("Free %d", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body = e.api("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `parley_plan_limit_refusals_total{resource="seats"} 1`)
	require.Contains(t, string(body), `parley_plan_limit_refusals_total{resource="channel_accounts"} 2`)
	require.Contains(t, string(body), `parley_plan_limit_refusals_total{resource="contacts"} 3`)
	require.Contains(t, string(body), fmt.Sprintf(`parley_workspace_usage{resource="contacts",workspace="%s"}`, w.ID))
}

// Accepting an invitation when the seats filled meanwhile is refused too.
func TestPlanSeatsCheckedOnAcceptance(t *testing.T) {
	t.Parallel()
	e := newOperatorEnv(t, nil)
	w, tok := e.createWorkspace("Seats", "seats@shop.test", nil)
	code1 := e.invite(tok, "a@shop.test", engine.RoleAgent)
	code, body := e.api("PATCH", "/api/v1/admin/workspaces/"+w.ID.String(), adminToken, map[string]any{"limits": map[string]any{"seats": 1}})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code1, "name": "A", "password": "correct horse battery"})
	require.Equal(t, http.StatusPaymentRequired, code, string(body))
	require.Equal(t, "plan_limit", errorCode(t, body))
	n, err := e.store.CountUsers(w.ID, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// Broadcasts a month: MayStartBroadcast counts each one and refuses past
// the limit until the month changes in the plan's time zone (the clock
// injected).
func TestPlanMonthlyLimitResetsWithTheMonth(t *testing.T) {
	t.Parallel()
	// 2026-12-31 23:30 UTC is already January in Paris (UTC+1).
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC))
	e := newOperatorEnv(t, func(c *actors.Config) { c.Clock = clock })
	w, _ := e.createWorkspace("Monthly", "monthly@shop.test", &engine.PlanLimits{BroadcastsPerMonth: 2})
	require.NoError(t, e.gw.MayStartBroadcast(w.ID))
	require.NoError(t, e.gw.MayStartBroadcast(w.ID))
	err := e.gw.MayStartBroadcast(w.ID)
	require.Error(t, err)
	require.Contains(t, err.Error(), "2 broadcasts a month")
	// Unlimited elsewhere.
	for range 3 {
		require.NoError(t, e.gw.MayStartBroadcast(e.ws))
	}
	// In Paris the month turned at 23:00 UTC: January's counter is empty.
	code, body := e.api("PATCH", "/api/v1/admin/workspaces/"+w.ID.String(), adminToken, map[string]any{"time_zone": "Europe/Paris"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.NoError(t, e.gw.MayStartBroadcast(w.ID))
	require.NoError(t, e.gw.MayStartBroadcast(w.ID))
	require.Error(t, e.gw.MayStartBroadcast(w.ID))
	clock.Advance(31 * 24 * time.Hour) // February
	require.NoError(t, e.gw.MayStartBroadcast(w.ID))
	_, got := e.adminGet(w.ID)
	for _, l := range got.Usage {
		if l.Resource == engine.PlanBroadcastsPerMonth {
			require.Equal(t, usageLine{Resource: engine.PlanBroadcastsPerMonth, Used: 1, Limit: 2, Period: "2027-02"}, l)
		}
	}
}

// AI replies past the plan's monthly limit are not generated: no AI call
// is made and the conversation is handed to people with a note saying
// why; the customer's message is stored all the same.
func TestPlanAIRepliesPerMonth(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) { return 200, completion("On its way.", ""), 0 })
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) {
		r, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents, c.AIDebounce = r, -1
	}, func(c *gateway.Config) { c.AdminToken, c.Registerer, c.Gatherer = adminToken, reg, reg })
	e.useOpenAI(ai, 5)
	code, body := e.api("PATCH", "/api/v1/admin/workspaces/"+e.ws.String(), adminToken, map[string]any{"limits": map[string]any{"ai_replies_per_month": 1}})
	require.Equal(t, http.StatusOK, code, string(body))

	e.webhook(engine.ChannelWhatsApp, waText("wamid.aiq.1", "15550901", "Ann", "where is my order?"))
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.aiq.2", "15550902", "Bob", "and mine?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550902")
	eventually(t, 5*time.Second, func() error {
		if !e.conv(conv).NeedsHuman {
			return fmt.Errorf("not handed off")
		}
		return nil
	})
	require.Len(t, ai.requests(), 1, "no AI call past the limit")
	require.Equal(t, engine.ModeManual, e.conv(conv).Mode)
	msgs := e.messages(conv)
	require.Equal(t, "Handed off to a person: the workspace's plan allows 1 AI replies a month: this month's are used up", msgs[0].Text)
	require.Equal(t, "and mine?", msgs[1].Text)
	require.Equal(t, []string{"On its way."}, e.sentTexts())

	code, body = e.api("GET", "/api/v1/usage", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `{"resource":"ai_replies_per_month","used":1,"limit":1,"period":"`)
	code, body = e.api("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `parley_plan_limit_refusals_total{resource="ai_replies_per_month"} 1`)
}

// A deletion goes in batches with its progress recorded, and one cut
// short (here: stopped in its data phase, then the server restarted)
// resumes where it was and finishes.
func TestOperatorDeletionResumesAfterRestart(t *testing.T) {
	var batches atomic.Int64
	gateway.SetWorkspaceDeletion(t, 7, func(phase string) bool {
		return phase == "data" && batches.Add(1) > 3
	})
	// No metrics: a restart registers them again.
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.AdminToken = adminToken })
	w, tok := e.createWorkspace("Resumed", "resumed@shop.test", nil)
	code, body := e.api("POST", "/api/v1/channels", tok, map[string]any{"channel": "whatsapp", "account_id": "PHONE_R", "access_token": "tok-r"})
	require.Equal(t, http.StatusCreated, code, string(body))
	for i := range 6 {
		p := waTextTo("PHONE_R", fmt.Sprintf("wamid.res.%d", i), fmt.Sprintf("155570%d", i), "resume me")
		code, body := e.webhookSigned(engine.ChannelWhatsApp, p, meta.Sign([]byte(p), []byte(appSecret)))
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = e.api("POST", "/api/v1/contacts", tok, map[string]any{"name": fmt.Sprintf("R%d", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body = e.api("DELETE", "/api/v1/admin/workspaces/"+w.ID.String(), adminToken, nil)
	require.Equal(t, http.StatusAccepted, code, string(body))
	var paused adminWorkspace
	eventually(t, 10*time.Second, func() error {
		_, paused = e.adminGet(w.ID)
		if paused.Deletion == nil || paused.Deletion.Phase != "data" || batches.Load() <= 3 {
			return fmt.Errorf("not paused in the data phase: %+v", paused.Deletion)
		}
		return nil
	})
	require.Positive(t, paused.Deletion.Done)
	require.Less(t, paused.Deletion.Done, paused.Deletion.Total, "stopped part way")
	require.Equal(t, engine.WorkspaceDeleting, paused.State)

	e.stop()
	gateway.SetWorkspaceDeletion(t, 7, nil)
	e.start()
	eventually(t, 20*time.Second, func() error {
		if code, w := e.adminGet(w.ID); code != http.StatusNotFound {
			return fmt.Errorf("still there: %d %+v", code, w.Deletion)
		}
		return nil
	})
	require.Zero(t, countWorkspaceKeys(t, e, w.ID))
	code, body = e.api("GET", "/api/v1/conversations", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
}
