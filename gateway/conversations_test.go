package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

type listResp struct {
	Conversations []engine.Conversation `json:"conversations"`
	NextCursor    string                `json:"next_cursor"`
	Counts        map[string]int64      `json:"counts"`
}

func (e *env) list(query string) listResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/conversations?"+query, ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var r listResp
	require.NoError(e.t, json.Unmarshal(body, &r))
	return r
}

func TestConversationListFiltersAndActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var convs []engine.ID
	for i := range 6 {
		user := fmt.Sprintf("15559%03d", i)
		code, _ := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.l.%d", i), user, fmt.Sprintf("Customer %d", i), "hi"))
		require.Equal(t, http.StatusOK, code)
		convs = append(convs, e.thread(engine.ChannelWhatsApp, phoneID, user))
	}
	all := e.list("")
	require.Len(t, all.Conversations, 6)
	require.Equal(t, convs[5], all.Conversations[0].ID, "newest activity first")
	require.Equal(t, int64(6), all.Counts["open"])
	require.Equal(t, int64(6), all.Counts["unread"])
	require.Equal(t, int64(6), all.Counts["unassigned"])

	post := func(conv engine.ID, path string, body any) []byte {
		t.Helper()
		code, b := e.api("POST", "/api/v1/conversations/"+conv.String()+path, ownerToken, body)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, b)
		return b
	}
	post(convs[0], "/folder", map[string]string{"folder": "solved"})
	post(convs[1], "/star", map[string]bool{"starred": true})
	post(convs[2], "/read", nil)
	post(convs[3], "/takeover", nil)
	_, me := e.me()
	post(convs[4], "/assign", map[string]string{"user_id": me})
	code, _ := e.api("PUT", "/api/v1/conversations/"+convs[5].String()+"/tags/billing", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)

	require.Len(t, e.list("folder=solved").Conversations, 1)
	require.Equal(t, convs[1], e.list("priority=true").Conversations[0].ID)
	require.Len(t, e.list("priority=true").Conversations, 1)
	require.Len(t, e.list("unread=true").Conversations, 4) // 0 solved, 2 read
	require.Equal(t, convs[3], e.list("mode=manual").Conversations[0].ID)
	require.Equal(t, convs[4], e.list("assignee=me").Conversations[0].ID)
	require.Len(t, e.list("assignee=unassigned").Conversations, 4)
	require.Equal(t, convs[5], e.list("tag=billing").Conversations[0].ID)
	require.Len(t, e.list("channel=messenger").Conversations, 0)
	require.Len(t, e.list("period=today").Conversations, 5)
	r := e.list("")
	require.Equal(t, int64(5), r.Counts["open"])
	require.Equal(t, int64(1), r.Counts["solved"])
	require.Equal(t, int64(1), r.Counts["mine"])
	require.Equal(t, int64(4), r.Counts["unassigned"])
	require.Equal(t, int64(4), r.Counts["unread"])

	// Pagination.
	page := e.list("limit=2")
	require.Len(t, page.Conversations, 2)
	require.NotEmpty(t, page.NextCursor)
	seen := map[engine.ID]bool{}
	for cursor := ""; ; {
		p := e.list("limit=2&cursor=" + cursor)
		for _, c := range p.Conversations {
			require.False(t, seen[c.ID])
			seen[c.ID] = true
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	require.Len(t, seen, 5)

	// Resume AI, pause, follow-up, CSAT, block, unsubscribe, unread.
	var c engine.Conversation
	require.NoError(t, json.Unmarshal(post(convs[3], "/resume-ai", nil), &c))
	require.Equal(t, engine.ModeAI, c.Mode)
	require.NoError(t, json.Unmarshal(post(convs[3], "/pause-ai", nil), &c))
	require.Equal(t, engine.ModeManual, c.Mode)
	require.True(t, c.AIResumesAt.IsZero())
	require.NoError(t, json.Unmarshal(post(convs[3], "/followup", map[string]string{"preset": "3h"}), &c))
	require.WithinDuration(t, time.Now().Add(3*time.Hour), c.FollowUpAt, time.Minute)
	code, body := e.api("DELETE", "/api/v1/conversations/"+convs[3].String()+"/followup", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.NoError(t, json.Unmarshal(post(convs[3], "/csat", map[string]int{"score": 4}), &c))
	require.Equal(t, 4, c.CSAT)
	require.NoError(t, json.Unmarshal(post(convs[3], "/block", nil), &c))
	require.True(t, c.Blocked)
	require.NoError(t, json.Unmarshal(post(convs[3], "/subscription", map[string]bool{"unsubscribed": true}), &c))
	require.True(t, c.Unsubscribed)
	require.NoError(t, json.Unmarshal(post(convs[2], "/unread", nil), &c))
	require.Equal(t, 1, c.UnreadCount)

	// Bad input: 4xx JSON errors, nothing changed.
	for _, bad := range []struct{ path, body string }{
		{"/folder", `{"folder":"trash"}`}, {"/csat", `{"score":9}`}, {"/followup", `{}`},
		{"/followup", `{"at":"2000-01-01T00:00:00Z"}`}, {"/assign", `{"user_id":"nope"}`}, {"/star", `{"starred":"yes"}`},
	} {
		code, b := e.api("POST", "/api/v1/conversations/"+convs[4].String()+bad.path, ownerToken, bad.body)
		require.Equal(t, http.StatusBadRequest, code, "%s %s: %s", bad.path, bad.body, b)
	}
	for _, q := range []string{"folder=trash", "unread=maybe", "assignee=bob", "period=year", "limit=0", "cursor=%%%", "channel=fax", "mode=auto"} {
		code, _ := e.api("GET", "/api/v1/conversations?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, q)
	}
	require.Equal(t, convs[4], e.list("assignee=me").Conversations[0].ID)

	// Delete for good.
	code, _ = e.api("DELETE", "/api/v1/conversations/"+convs[5].String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("GET", "/api/v1/conversations/"+convs[5].String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, int64(4), e.list("").Counts["open"])
}

func (e *env) me() (engine.ID, string) {
	e.t.Helper()
	tok, err := e.store.TokenBySecret(ownerToken)
	require.NoError(e.t, err)
	return tok.WorkspaceID, tok.UserID.String()
}

// Invariant 9 (docs/ARCHITECTURE.md): a token of workspace B gets 404 for A's ids on every
// conversation route, and nothing of A changes; B's search and segment
// filters do not see A. TestIsolationAcrossWorkspaces walks every route
// for 3 workspaces and every role.
func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.iso.1", "15558001", "A", "secret of A"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15558001")
	before := e.conv(conv)

	e.newWorkspace("pk_workspace_b")

	id := conv.String()
	routes := [][3]string{
		{"GET", "/api/v1/conversations/{conv}", ""}, {"GET", "/api/v1/conversations/{conv}/messages", ""},
		{"POST", "/api/v1/conversations/{conv}/messages", `{"text":"hi"}`},
		{"POST", "/api/v1/conversations/{conv}/messages/{seq}/retry", ""},
		{"DELETE", "/api/v1/conversations/{conv}", ""},
		{"POST", "/api/v1/conversations/{conv}/takeover", ""}, {"POST", "/api/v1/conversations/{conv}/resume-ai", ""},
		{"POST", "/api/v1/conversations/{conv}/pause-ai", ""}, {"POST", "/api/v1/conversations/{conv}/read", ""},
		{"POST", "/api/v1/conversations/{conv}/unread", ""}, {"POST", "/api/v1/conversations/{conv}/folder", `{"folder":"spam"}`},
		{"POST", "/api/v1/conversations/{conv}/star", `{"starred":true}`}, {"PUT", "/api/v1/conversations/{conv}/tags/{tag}", ""},
		{"DELETE", "/api/v1/conversations/{conv}/tags/{tag}", ""}, {"POST", "/api/v1/conversations/{conv}/assign", `{"user_id":null}`},
		{"POST", "/api/v1/conversations/{conv}/followup", `{"preset":"1h"}`}, {"DELETE", "/api/v1/conversations/{conv}/followup", ""},
		{"POST", "/api/v1/conversations/{conv}/csat", `{"score":1}`}, {"POST", "/api/v1/conversations/{conv}/block", ""},
		{"POST", "/api/v1/conversations/{conv}/unblock", ""}, {"POST", "/api/v1/conversations/{conv}/subscription", `{"unsubscribed":true}`},
		{"GET", "/api/v1/channels/{channel}/{account}", ""}, {"PATCH", "/api/v1/channels/{channel}/{account}", `{"name":"x"}`},
		{"DELETE", "/api/v1/channels/{channel}/{account}", ""}, {"POST", "/api/v1/channels/{channel}/{account}/check", ""},
		{"GET", "/api/v1/channels/{channel}/{account}/agent", ""}, {"PUT", "/api/v1/channels/{channel}/{account}/agent", `{"kind":"rules"}`},
		{"DELETE", "/api/v1/channels/{channel}/{account}/agent", ""},
		{"POST", "/api/v1/channels/{channel}/{account}/agent/test", `{"messages":[{"from":"customer","text":"hi"}]}`},
		{"POST", "/api/v1/conversations/{conv}/notes", `{"text":"x"}`},
		{"GET", "/api/v1/contacts/{id}", ""}, {"PATCH", "/api/v1/contacts/{id}", `{"name":"x"}`},
		{"GET", "/api/v1/contacts/{id}/activity", ""}, {"GET", "/api/v1/contacts/{id}/files", ""},
		{"POST", "/api/v1/contacts/{id}/merge", `{"from":"` + engine.NewID(time.Now()).String() + `"}`},
		{"GET", "/api/v1/contacts/{id}/notes", ""}, {"POST", "/api/v1/contacts/{id}/notes", `{"text":"x"}`},
		{"DELETE", "/api/v1/contacts/{id}/notes/{note}", ""},
		{"GET", "/api/v1/contacts/{id}/memories", ""}, {"POST", "/api/v1/contacts/{id}/memories", `{"text":"x"}`},
		{"DELETE", "/api/v1/contacts/{id}/memories/{memory}", ""},
		{"POST", "/api/v1/contacts/{id}/stage", `{"stage_id":null}`}, {"POST", "/api/v1/contacts/{id}/owner", `{"owner_id":null}`},
		{"GET", "/api/v1/contact-fields/{id}", ""}, {"PATCH", "/api/v1/contact-fields/{id}", `{"label":"x"}`},
		{"DELETE", "/api/v1/contact-fields/{id}", ""},
		{"POST", "/api/v1/conversations/{conv}/messages/{seq}/feedback", `{"rating":"up"}`},
		{"GET", "/api/v1/webhooks/{id}", ""}, {"PATCH", "/api/v1/webhooks/{id}", `{"active":false}`},
		{"GET", "/api/v1/webhooks/{id}/deliveries", ""}, {"POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", ""},
		{"DELETE", "/api/v1/webhooks/{id}", ""},
		{"POST", "/api/v1/conversations/{conv}/typing", ""},
		{"GET", "/api/v1/widgets/{id}", ""}, {"PATCH", "/api/v1/widgets/{id}", `{"greeting":"x"}`}, {"DELETE", "/api/v1/widgets/{id}", ""},
		{"POST", "/api/v1/conversations/{conv}/template", `{"name":"x","language":"en"}`},
		{"POST", "/api/v1/contacts/{id}/template", `{"name":"x","language":"en"}`},
		{"GET", "/api/v1/assistants/{id}", ""}, {"PATCH", "/api/v1/assistants/{id}", `{"name":"x"}`},
		{"DELETE", "/api/v1/assistants/{id}", ""},
		{"POST", "/api/v1/assistants/{id}/test", `{"messages":[{"from":"customer","text":"hi"}]}`},
		{"POST", "/api/v1/conversations/{conv}/assistant", `{"assistant_id":"default"}`},
		{"GET", "/api/v1/forms/{id}", ""}, {"PATCH", "/api/v1/forms/{id}", `{"name":"x"}`},
		{"GET", "/api/v1/forms/{id}/submissions", ""}, {"DELETE", "/api/v1/forms/{id}", ""},
		{"GET", "/api/v1/contacts/{id}/submissions", ""},
		{"GET", "/api/v1/segments/{id}", ""}, {"PATCH", "/api/v1/segments/{id}", `{"name":"x"}`},
		{"DELETE", "/api/v1/segments/{id}", ""}, {"GET", "/api/v1/segments/{id}/members", ""},
		{"GET", "/api/v1/segments/{id}/count", ""},
		{"POST", "/api/v1/conversations/{conv}/team", `{"team_id":null}`},
		{"GET", "/api/v1/teams/{id}", ""}, {"PATCH", "/api/v1/teams/{id}", `{"name":"x"}`}, {"DELETE", "/api/v1/teams/{id}", ""},
	}
	// Routes with ids checked elsewhere: users and tokens (users_test.go,
	// ids of another workspace; passwords_test.go for passwords), media
	// (content-addressed per workspace, TestSendMediaAndMessagesAPI),
	// canned replies (TestCannedRepliesAPI), pipelines (TestPipelinesAPI,
	// with a pipeline id of another workspace).
	elsewhere := map[string]bool{
		"GET /api/v1/users/{id}": true, "PATCH /api/v1/users/{id}": true, "DELETE /api/v1/users/{id}": true,
		"PUT /api/v1/users/{id}/password": true, "POST /api/v1/users/{id}/password-reset": true,
		"DELETE /api/v1/tokens/{id}": true, "GET /api/v1/media/{id}": true,
		"GET /api/v1/canned-replies/{id}": true, "PATCH /api/v1/canned-replies/{id}": true, "DELETE /api/v1/canned-replies/{id}": true,
		"GET /api/v1/pipelines/{id}": true, "PATCH /api/v1/pipelines/{id}": true, "DELETE /api/v1/pipelines/{id}": true,
		// The knowledge base (TestKnowledgeAPI: another workspace's
		// assistant of the same id has its own entries).
		"GET /api/v1/assistants/{assistant}/knowledge": true, "POST /api/v1/assistants/{assistant}/knowledge": true,
		"POST /api/v1/assistants/{assistant}/knowledge/documents": true, "POST /api/v1/assistants/{assistant}/knowledge/search": true,
		"GET /api/v1/assistants/{assistant}/knowledge/{id}": true, "PATCH /api/v1/assistants/{assistant}/knowledge/{id}": true,
		"DELETE /api/v1/assistants/{assistant}/knowledge/{id}": true, "GET /api/v1/assistants/{assistant}/knowledge/{id}/original": true,
		// (TestKnowledgeEmbeddings: another workspace's default assistant has
		// embeddings settings of its own.)
		"GET /api/v1/assistants/{assistant}/knowledge/embeddings": true, "PUT /api/v1/assistants/{assistant}/knowledge/embeddings": true,
		// switching to a workspace one is no member of
		// (TestMembershipsAcrossWorkspaces)
		"POST /api/v1/me/workspaces/{id}/switch": true,
		// automations (TestAutomationsWorkspaceIsolation)
		"GET /api/v1/automations/{id}": true, "PUT /api/v1/automations/{id}": true, "PATCH /api/v1/automations/{id}": true,
		"DELETE /api/v1/automations/{id}": true, "GET /api/v1/automations/{id}/runs": true,
		// The operator's routes take no workspace token at all
		// (TestOperatorAdminAuth: a workspace owner's token gets 401).
		"GET /api/v1/admin/workspaces/{id}": true, "PATCH /api/v1/admin/workspaces/{id}": true, "DELETE /api/v1/admin/workspaces/{id}": true,
		"POST /api/v1/admin/workspaces/{id}/suspend": true, "POST /api/v1/admin/workspaces/{id}/unsuspend": true,
		// Retention's contact routes and broadcasts: walked with every
		// workspace's ids by TestIsolationAcrossWorkspaces (an erasure of
		// another workspace's contact was a 400 there before it was a 404);
		// another workspace's real broadcast is checked by
		// TestBroadcastStatusesRepliesAndAttribution.
		"GET /api/v1/contacts/{id}/legal-hold": true, "PUT /api/v1/contacts/{id}/legal-hold": true,
		"DELETE /api/v1/contacts/{id}/legal-hold": true, "GET /api/v1/contacts/{id}/export": true,
		"POST /api/v1/contacts/{id}/erase": true, "GET /api/v1/contacts/{id}/broadcasts": true,
		"GET /api/v1/broadcasts/{id}": true, "GET /api/v1/broadcasts/{id}/recipients": true,
		"POST /api/v1/broadcasts/{id}/pause": true, "POST /api/v1/broadcasts/{id}/resume": true,
		"POST /api/v1/broadcasts/{id}/cancel": true,
	}
	// Every documented route that takes an id is checked here or there.
	ops, public := documentedOps(t, e)
	listed := map[string]bool{}
	for _, r := range routes {
		listed[r[0]+" "+r[1]] = true
	}
	for _, o := range ops {
		if strings.Contains(o, "{") && !public[o] {
			if !listed[o] && !elsewhere[o] {
				t.Errorf("%s is not checked for workspace isolation", o)
			}
		}
	}
	vals := map[string]string{"conv": id, "channel": "whatsapp", "account": phoneID, "seq": "1", "tag": "x",
		"id": before.ContactID.String()}
	field := e.addField(ownerToken, map[string]any{"key": "secret", "label": "secret of A", "type": "text"})
	code, hookBody := e.api("POST", "/api/v1/webhooks", ownerToken, map[string]any{"url": "https://hooks.example.com/a", "events": []string{"handoff"}})
	require.Equal(t, http.StatusCreated, code, string(hookBody))
	hook := decodeAs[engine.Webhook](t, hookBody)
	code, widgetBody := e.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "secret of A"})
	require.Equal(t, http.StatusCreated, code, string(widgetBody))
	var widget struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(widgetBody, &widget))
	code, asstBody := e.api("POST", "/api/v1/assistants", ownerToken, map[string]any{"name": "secret of A"})
	require.Equal(t, http.StatusCreated, code, string(asstBody))
	var asst struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(asstBody, &asst))
	form := e.addForm(ownerToken, map[string]any{"name": "secret of A", "fields": []map[string]any{{"key": "email"}}})
	seg := e.createSegment(ownerToken, map[string]any{"name": "secret of A", "conditions": []any{companyIs("x")}})
	for _, r := range routes {
		var body any
		if r[2] != "" {
			body = r[2]
		}
		path := fillTemplate(r[1], vals)
		if strings.HasPrefix(r[1], "/api/v1/contact-fields/") {
			path = fillTemplate(r[1], map[string]string{"id": field.ID.String()})
		}
		if strings.HasPrefix(r[1], "/api/v1/webhooks/") {
			path = fillTemplate(r[1], map[string]string{"id": hook.ID.String(), "delivery": "1"})
		}
		if strings.HasPrefix(r[1], "/api/v1/widgets/") {
			path = fillTemplate(r[1], map[string]string{"id": widget.ID})
		}
		if strings.HasPrefix(r[1], "/api/v1/assistants/") {
			path = fillTemplate(r[1], map[string]string{"id": asst.ID})
		}
		if strings.HasPrefix(r[1], "/api/v1/forms/") {
			path = fillTemplate(r[1], map[string]string{"id": form.ID.String()})
		}
		if strings.HasPrefix(r[1], "/api/v1/segments/") {
			path = fillTemplate(r[1], map[string]string{"id": seg.ID.String()})
		}
		code, resp := e.api(r[0], path, "pk_workspace_b", body)
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r[0], r[1], resp)
		require.NotContains(t, string(resp), "secret of A")
	}
	eventually(t, 5*time.Second, func() error {
		if n := len(e.search(ownerToken, "secret").Hits); n != 1 {
			return fmt.Errorf("%d hits", n)
		}
		return nil
	})
	require.Empty(t, e.search("pk_workspace_b", "secret").Hits, "B's search does not see A")
	code, body := e.api("GET", "/api/v1/conversations", "pk_workspace_b", nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, string(body), id)
	require.Equal(t, before, e.conv(conv), "nothing of A changed")
	require.Len(t, e.messages(conv), 1)
	require.Equal(t, []engine.FieldDef{field}, e.fieldDefs(ownerToken), "A's field is unchanged")
	code, hookBody = e.api("GET", "/api/v1/webhooks/"+hook.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(hookBody))
	require.True(t, decodeAs[engine.Webhook](t, hookBody).Active, "A's webhook is still on")
	code, widgetBody = e.api("GET", "/api/v1/widgets/"+widget.ID, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(widgetBody))
	require.NotContains(t, string(widgetBody), `"greeting":"x"`, "A's widget is unchanged")
	code, asstAfter := e.api("GET", "/api/v1/assistants/"+asst.ID, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(asstAfter))
	require.Contains(t, string(asstAfter), `"name":"secret of A"`, "A's assistant is unchanged")
	code, body = e.api("GET", "/api/v1/forms/"+form.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "secret of A", decodeAs[engine.Form](t, body).Name, "A's form is unchanged")
	require.Equal(t, "secret of A", e.segment(seg.ID).Name, "A's segment is unchanged")
	code, body = e.api("GET", "/api/v1/contacts?segment="+seg.ID.String(), "pk_workspace_b", nil)
	require.Equal(t, http.StatusBadRequest, code, "B cannot filter by A's segment: %s", body)
	code, body = e.api("GET", "/api/v1/conversations?segment="+seg.ID.String(), "pk_workspace_b", nil)
	require.Equal(t, http.StatusBadRequest, code, "B cannot filter by A's segment: %s", body)
}

// The counts of a list under a channel tab are that channel's: folder
// counts and the open folder's unread, mine and unassigned (issue 16:
// they counted every channel).
func TestConversationCountsFollowTheChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var wa []engine.ID
	for i := range 3 {
		user := fmt.Sprintf("15558%03d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.cc.%d", i), user, "WhatsApp customer", "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		wa = append(wa, e.thread(engine.ChannelWhatsApp, phoneID, user))
	}
	code, body := e.webhook(engine.ChannelMessenger, messengerText("m_cc_1", "PSID_CC_1", "hello"))
	require.Equal(t, http.StatusOK, code, string(body))
	ms := e.thread(engine.ChannelMessenger, pageID, "PSID_CC_1")
	post := func(conv engine.ID, path string, body any) {
		t.Helper()
		code, b := e.api("POST", "/api/v1/conversations/"+conv.String()+path, ownerToken, body)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, b)
	}
	_, me := e.me()
	post(wa[0], "/folder", map[string]string{"folder": "solved"})
	post(wa[1], "/read", nil)
	post(wa[2], "/assign", map[string]string{"user_id": me})
	post(ms, "/assign", map[string]string{"user_id": me})

	counts := func(query string) map[string]int64 { return e.list(query).Counts }
	require.Equal(t, map[string]int64{"open": 3, "solved": 1, "pending": 0, "spam": 0, "archived": 0, "unread": 2, "mine": 2, "unassigned": 1}, counts(""))
	require.Equal(t, map[string]int64{"open": 2, "solved": 1, "pending": 0, "spam": 0, "archived": 0, "unread": 1, "mine": 1, "unassigned": 1}, counts("channel=whatsapp"))
	require.Equal(t, map[string]int64{"open": 1, "solved": 0, "pending": 0, "spam": 0, "archived": 0, "unread": 1, "mine": 1, "unassigned": 0}, counts("channel=messenger"))
	require.Equal(t, map[string]int64{"open": 0, "solved": 0, "pending": 0, "spam": 0, "archived": 0, "unread": 0, "mine": 0, "unassigned": 0}, counts("channel=instagram"))
	// The counts are the channel's whatever the folder listed.
	require.Equal(t, counts("channel=whatsapp"), counts("channel=whatsapp&folder=solved"))
}

// GET /api/v1/tags lists the workspace's tags from every folder with how
// many conversations carry each, whatever rows a client has loaded (issue
// 16: the inbox's tag filter offered only the tags of its loaded rows).
func TestTagsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tags := func() []map[string]any {
		t.Helper()
		code, body := e.api("GET", "/api/v1/tags", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[struct{ Tags []map[string]any }](t, body).Tags
	}
	require.Empty(t, tags())
	var convs []engine.ID
	for i := range 3 {
		user := fmt.Sprintf("15558100%d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.tags.%d", i), user, "Tagged", "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		convs = append(convs, e.thread(engine.ChannelWhatsApp, phoneID, user))
	}
	tag := func(method string, conv engine.ID, tag string) {
		t.Helper()
		code, body := e.api(method, "/api/v1/conversations/"+conv.String()+"/tags/"+tag, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	tag("PUT", convs[0], "billing")
	tag("PUT", convs[1], "billing")
	tag("PUT", convs[2], "vip")
	tag("PUT", convs[2], "gone")
	tag("DELETE", convs[2], "gone")
	code, body := e.api("POST", "/api/v1/conversations/"+convs[1].String()+"/folder", ownerToken, map[string]string{"folder": "archived"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/conversations/"+convs[0].String()+"/star", ownerToken, map[string]bool{"starred": true})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, []map[string]any{
		{"tag": "billing", "conversations": 2.0},
		{"tag": "priority", "conversations": 1.0},
		{"tag": "vip", "conversations": 1.0},
	}, tags())
	code, _ = e.api("GET", "/api/v1/tags", "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

// useWebhookAgent makes ai the workspace's agent (the webhook kind).
func (e *env) useWebhookAgent(ai *fakeAI) {
	e.t.Helper()
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot"})
	require.Equal(e.t, http.StatusOK, code, string(body))
}

// needs_human=true lists the conversations a handoff left waiting for a
// person, and no longer once a person acts.
func TestConversationListNeedsHuman(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	e := newAIEnv(t)
	e.useWebhookAgent(ai)
	ai.set(func(int) (int, string, time.Duration) { return 200, `{"handoff":"wants a refund"}`, 0 })
	e.webhook(engine.ChannelWhatsApp, waText("wamid.nh.1", "15550201", "Hana", "refund please"))
	handed := e.thread(engine.ChannelWhatsApp, phoneID, "15550201")
	eventually(t, 5*time.Second, func() error {
		if !e.conv(handed).NeedsHuman {
			return fmt.Errorf("not handed off")
		}
		return nil
	})
	ai.set(func(int) (int, string, time.Duration) { return 200, `{"reply":"Sure"}`, 0 })
	e.webhook(engine.ChannelWhatsApp, waText("wamid.nh.2", "15550202", "Ivo", "hi"))
	answered := e.thread(engine.ChannelWhatsApp, phoneID, "15550202")
	eventually(t, 5*time.Second, func() error {
		if e.conv(answered).FirstReplyAt.IsZero() {
			return fmt.Errorf("not answered")
		}
		return nil
	})
	require.Len(t, e.list("").Conversations, 2)
	r := e.list("needs_human=true")
	require.Len(t, r.Conversations, 1)
	require.Equal(t, handed, r.Conversations[0].ID)
	require.True(t, r.Conversations[0].NeedsHuman)
	require.Len(t, e.list("needs_human=true&mode=manual").Conversations, 1)
	require.Len(t, e.list("needs_human=true&mode=ai").Conversations, 0)
	require.Len(t, e.list("needs_human=false").Conversations, 2)
	code, body := e.api("GET", "/api/v1/conversations?needs_human=maybe", ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Equal(t, "bad_query", errorCode(t, body))

	// A person's reply clears it.
	code, body = e.api("POST", "/api/v1/conversations/"+handed.String()+"/messages", ownerToken, map[string]string{"text": "On it"})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if n := len(e.list("needs_human=true").Conversations); n != 0 {
			return fmt.Errorf("%d still listed", n)
		}
		return nil
	})
}
