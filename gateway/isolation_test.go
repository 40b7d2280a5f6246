package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
)

// isolationPublic are the routes that take no workspace token, with why
// the isolation walk leaves them out; each is checked where named.
var isolationPublic = map[string]string{
	"GET /healthz":                                 "liveness: no workspace data",
	"GET /readyz":                                  "readiness: no workspace data",
	"GET /metrics":                                 "server metrics: counters without workspace data",
	"GET /api/v1/openapi.json":                     "the API document",
	"GET /api/v1/ws":                               "the WebSocket: walked below with each workspace's tokens",
	"GET /webhooks/{channel}":                      "Meta's subscription handshake (verify token)",
	"POST /webhooks/{channel}":                     "Meta events, signed; routed by account (TestWebhookRouting...)",
	"POST /webhooks/email/postmark":                "Postmark inbound, basic auth; routed by address",
	"POST /webhooks/stripe/{workspace}":            "Stripe events, signed with the workspace's own secret",
	"POST /api/v1/auth/login":                      "sign-in (TestMembershipsAcrossWorkspaces)",
	"POST /api/v1/auth/accept-invite":              "an invitation's code names its workspace (TestMembershipsAcrossWorkspaces)",
	"POST /api/v1/auth/setup":                      "the first owner's setup link (TestSetupLink)",
	"POST /api/v1/auth/reset-password":             "a reset link names its user (TestPasswordReset)",
	"POST /api/v1/api-channel/{account}/messages":  "an API channel account's own inbound token (TestAPIChannelWorkspaceIsolation)",
	"POST /api/v1/api-channel/{account}/statuses":  "an API channel account's own inbound token (TestAPIChannelWorkspaceIsolation)",
	"POST /api/v1/api-channel/{account}/contacts":  "an API channel account's own inbound token (TestAPIChannelWorkspaceIsolation)",
	"GET /public/media/{token}":                    "a signed media link",
	"GET /f/{workspace}/{form}":                    "a public form, by its workspace and id",
	"POST /f/{workspace}/{form}":                   "a public form's submission, by its workspace and id",
	"GET /widget.js":                               "the web chat widget's script",
	"GET /widget/v1/{widget}/config":               "the widget's visitors: by widget id and origin",
	"GET /widget/v1/{widget}/files/{seq}":          "the widget's visitors: their own session",
	"GET /widget/v1/{widget}/messages":             "the widget's visitors: their own session",
	"GET /widget/v1/{widget}/ws":                   "the widget's visitors: their own session",
	"POST /widget/v1/{widget}/files":               "the widget's visitors: their own session",
	"POST /widget/v1/{widget}/messages":            "the widget's visitors: their own session",
	"POST /widget/v1/{widget}/sessions":            "the widget's visitors: a session of the widget's workspace",
	"POST /api/v1/admin/workspaces":                "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
	"GET /api/v1/admin/workspaces":                 "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
	"GET /api/v1/admin/workspaces/{id}":            "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
	"PATCH /api/v1/admin/workspaces/{id}":          "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
	"DELETE /api/v1/admin/workspaces/{id}":         "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
	"POST /api/v1/admin/workspaces/{id}/suspend":   "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
	"POST /api/v1/admin/workspaces/{id}/unsuspend": "the server operator's admin token, never a workspace's (TestOperatorAdminAuth)",
}

// isoRoute is what the isolation walk knows of a route: the least role
// it admits and a body that would pass its validation.
type isoRoute struct {
	role engine.Role
	body string
}

const (
	agent = engine.RoleAgent
	admin = engine.RoleAdmin
	owner = engine.RoleOwner
)

// isolationRoutes lists every route that takes a workspace token. A route
// added without an entry fails TestIsolationAcrossWorkspaces.
var isolationRoutes = map[string]isoRoute{
	"POST /api/v1/auth/logout":                                   {agent, ""},
	"POST /api/v1/auth/logout-all":                               {agent, `{"include_current":false}`},
	"GET /api/v1/auth/sessions":                                  {agent, ""},
	"GET /api/v1/me":                                             {agent, ""},
	"GET /api/v1/me/workspaces":                                  {agent, ""},
	"POST /api/v1/me/workspaces/{id}/switch":                     {agent, ""},
	"GET /api/v1/me/notifications":                               {agent, ""},
	"PUT /api/v1/me/notifications":                               {agent, `{}`},
	"GET /api/v1/push/key":                                       {agent, ""},
	"GET /api/v1/push/subscriptions":                             {agent, ""},
	"POST /api/v1/push/subscriptions":                            {agent, `{}`},
	"DELETE /api/v1/push/subscriptions":                          {agent, `{}`},
	"GET /api/v1/users":                                          {agent, ""},
	"POST /api/v1/users/invitations":                             {admin, `{"email":"new@example.com","role":"agent"}`},
	"GET /api/v1/users/{id}":                                     {agent, ""},
	"PATCH /api/v1/users/{id}":                                   {agent, `{"name":"x"}`},
	"DELETE /api/v1/users/{id}":                                  {admin, ""},
	"PUT /api/v1/users/{id}/password":                            {admin, `{"password":"a long password"}`},
	"POST /api/v1/users/{id}/password-reset":                     {admin, ""},
	"GET /api/v1/tokens":                                         {agent, ""},
	"POST /api/v1/tokens":                                        {agent, `{"name":"x"}`},
	"DELETE /api/v1/tokens/{id}":                                 {agent, ""},
	"GET /api/v1/channels":                                       {agent, ""},
	"POST /api/v1/channels":                                      {admin, `{"channel":"api","name":"x","webhook_url":"https://example.com/x"}`},
	"GET /api/v1/channels/{channel}/{account}":                   {agent, ""},
	"PATCH /api/v1/channels/{channel}/{account}":                 {admin, `{"name":"x"}`},
	"DELETE /api/v1/channels/{channel}/{account}":                {admin, ""},
	"POST /api/v1/channels/{channel}/{account}/check":            {admin, ""},
	"GET /api/v1/settings/webhooks":                              {admin, ""},
	"GET /api/v1/audit":                                          {admin, ""},
	"GET /api/v1/agent":                                          {agent, ""},
	"PUT /api/v1/agent":                                          {admin, `{"kind":"rules"}`},
	"POST /api/v1/agent/test":                                    {admin, `{"messages":[{"from":"customer","text":"hi"}]}`},
	"GET /api/v1/channels/{channel}/{account}/agent":             {agent, ""},
	"PUT /api/v1/channels/{channel}/{account}/agent":             {admin, `{"kind":"rules"}`},
	"DELETE /api/v1/channels/{channel}/{account}/agent":          {admin, ""},
	"POST /api/v1/channels/{channel}/{account}/agent/test":       {admin, `{"messages":[{"from":"customer","text":"hi"}]}`},
	"GET /api/v1/assistants":                                     {agent, ""},
	"POST /api/v1/assistants":                                    {admin, `{"name":"x"}`},
	"GET /api/v1/assistants/{id}":                                {agent, ""},
	"PATCH /api/v1/assistants/{id}":                              {admin, `{"name":"x"}`},
	"DELETE /api/v1/assistants/{id}":                             {admin, ""},
	"POST /api/v1/assistants/{id}/test":                          {admin, `{"messages":[{"from":"customer","text":"hi"}]}`},
	"POST /api/v1/conversations/{conv}/assistant":                {agent, `{"assistant_id":"default"}`},
	"GET /api/v1/media/{id}":                                     {agent, ""},
	"GET /api/v1/analytics":                                      {agent, ""},
	"GET /api/v1/conversations":                                  {agent, ""},
	"GET /api/v1/campaigns":                                      {agent, ""},
	"GET /api/v1/tags":                                           {agent, ""},
	"GET /api/v1/search":                                         {agent, ""},
	"GET /api/v1/conversations/{conv}":                           {agent, ""},
	"DELETE /api/v1/conversations/{conv}":                        {agent, ""},
	"GET /api/v1/conversations/{conv}/messages":                  {agent, ""},
	"POST /api/v1/conversations/{conv}/messages":                 {agent, `{"text":"hi"}`},
	"POST /api/v1/conversations/{conv}/messages/{seq}/retry":     {agent, ""},
	"POST /api/v1/conversations/{conv}/messages/{seq}/feedback":  {agent, `{"rating":"up"}`},
	"GET /api/v1/feedback":                                       {agent, ""},
	"POST /api/v1/conversations/{conv}/takeover":                 {agent, ""},
	"POST /api/v1/conversations/{conv}/resume-ai":                {agent, ""},
	"POST /api/v1/conversations/{conv}/pause-ai":                 {agent, ""},
	"POST /api/v1/conversations/{conv}/read":                     {agent, ""},
	"POST /api/v1/conversations/{conv}/unread":                   {agent, ""},
	"POST /api/v1/conversations/{conv}/folder":                   {agent, `{"folder":"spam"}`},
	"POST /api/v1/conversations/{conv}/star":                     {agent, `{"starred":true}`},
	"PUT /api/v1/conversations/{conv}/tags/{tag}":                {agent, ""},
	"DELETE /api/v1/conversations/{conv}/tags/{tag}":             {agent, ""},
	"GET /api/v1/broadcasts":                                     {agent, ""},
	"POST /api/v1/broadcasts":                                    {admin, `{}`},
	"POST /api/v1/broadcasts/preview":                            {admin, `{}`},
	"GET /api/v1/broadcasts/{id}":                                {agent, ""},
	"POST /api/v1/broadcasts/{id}/pause":                         {admin, ""},
	"POST /api/v1/broadcasts/{id}/resume":                        {admin, ""},
	"POST /api/v1/broadcasts/{id}/cancel":                        {admin, ""},
	"GET /api/v1/broadcasts/{id}/recipients":                     {agent, ""},
	"GET /api/v1/contacts/{id}/broadcasts":                       {agent, ""},
	"GET /api/v1/settings/opt-out":                               {agent, ""},
	"PUT /api/v1/settings/opt-out":                               {admin, `{}`},
	"GET /api/v1/teams":                                          {agent, ""},
	"POST /api/v1/teams":                                         {admin, `{"name":"x","members":[],"distribution":"manual"}`},
	"GET /api/v1/teams/{id}":                                     {agent, ""},
	"PATCH /api/v1/teams/{id}":                                   {admin, `{"name":"y"}`},
	"DELETE /api/v1/teams/{id}":                                  {admin, ""},
	"POST /api/v1/conversations/{conv}/team":                     {agent, `{"team_id":null}`},
	"POST /api/v1/presence":                                      {agent, `{"state":"away"}`},
	"POST /api/v1/conversations/{conv}/assign":                   {agent, `{"user_id":null}`},
	"POST /api/v1/conversations/{conv}/followup":                 {agent, `{"preset":"1h"}`},
	"DELETE /api/v1/conversations/{conv}/followup":               {agent, ""},
	"POST /api/v1/conversations/{conv}/csat":                     {agent, `{"score":1}`},
	"POST /api/v1/conversations/{conv}/block":                    {agent, ""},
	"POST /api/v1/conversations/{conv}/unblock":                  {agent, ""},
	"POST /api/v1/conversations/{conv}/subscription":             {agent, `{"unsubscribed":true}`},
	"POST /api/v1/conversations/{conv}/notes":                    {agent, `{"text":"x"}`},
	"POST /api/v1/conversations/{conv}/typing":                   {agent, ""},
	"POST /api/v1/conversations/{conv}/template":                 {agent, `{"name":"x","language":"en"}`},
	"GET /api/v1/contacts":                                       {agent, ""},
	"POST /api/v1/contacts":                                      {agent, `{"name":"x"}`},
	"GET /api/v1/contacts/export":                                {agent, ""},
	"POST /api/v1/contacts/import":                               {agent, ""},
	"GET /api/v1/retention":                                      {agent, ""},
	"PUT /api/v1/retention":                                      {admin, `{"message_days":0}`},
	"GET /api/v1/contacts/{id}/legal-hold":                       {agent, ""},
	"PUT /api/v1/contacts/{id}/legal-hold":                       {admin, `{"reason":"x"}`},
	"DELETE /api/v1/contacts/{id}/legal-hold":                    {admin, ""},
	"GET /api/v1/contacts/{id}/export":                           {agent, ""},
	"POST /api/v1/contacts/{id}/erase":                           {admin, `{"confirm":"x"}`},
	"GET /api/v1/contacts/{id}":                                  {agent, ""},
	"PATCH /api/v1/contacts/{id}":                                {agent, `{"name":"x"}`},
	"GET /api/v1/contacts/{id}/activity":                         {agent, ""},
	"GET /api/v1/contacts/{id}/files":                            {agent, ""},
	"POST /api/v1/contacts/{id}/merge":                           {agent, `{"from":"{other}"}`},
	"GET /api/v1/contacts/{id}/notes":                            {agent, ""},
	"POST /api/v1/contacts/{id}/notes":                           {agent, `{"text":"x"}`},
	"DELETE /api/v1/contacts/{id}/notes/{note}":                  {agent, ""},
	"GET /api/v1/contacts/{id}/memories":                         {agent, ""},
	"POST /api/v1/contacts/{id}/memories":                        {agent, `{"text":"x"}`},
	"DELETE /api/v1/contacts/{id}/memories/{memory}":             {agent, ""},
	"POST /api/v1/contacts/{id}/stage":                           {agent, `{"stage_id":null}`},
	"POST /api/v1/contacts/{id}/owner":                           {agent, `{"owner_id":null}`},
	"POST /api/v1/contacts/{id}/template":                        {agent, `{"name":"x","language":"en"}`},
	"GET /api/v1/contacts/{id}/submissions":                      {agent, ""},
	"GET /api/v1/pipelines":                                      {agent, ""},
	"POST /api/v1/pipelines":                                     {admin, `{"name":"x","stages":[{"name":"a"}]}`},
	"GET /api/v1/pipelines/{id}":                                 {agent, ""},
	"PATCH /api/v1/pipelines/{id}":                               {admin, `{"name":"x"}`},
	"DELETE /api/v1/pipelines/{id}":                              {admin, ""},
	"GET /api/v1/canned-replies":                                 {agent, ""},
	"POST /api/v1/canned-replies":                                {agent, `{"short_code":"zz","title":"T","body":"B"}`},
	"GET /api/v1/canned-replies/{id}":                            {agent, ""},
	"PATCH /api/v1/canned-replies/{id}":                          {agent, `{"title":"x"}`},
	"DELETE /api/v1/canned-replies/{id}":                         {agent, ""},
	"GET /api/v1/webhooks":                                       {admin, ""},
	"POST /api/v1/webhooks":                                      {admin, `{"url":"https://hooks.example.com/x","events":["handoff"]}`},
	"GET /api/v1/webhooks/{id}":                                  {admin, ""},
	"PATCH /api/v1/webhooks/{id}":                                {admin, `{"active":false}`},
	"DELETE /api/v1/webhooks/{id}":                               {admin, ""},
	"GET /api/v1/webhooks/{id}/deliveries":                       {admin, ""},
	"POST /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver": {admin, ""},
	"GET /api/v1/automations":                                    {agent, ""},
	"POST /api/v1/automations":                                   {admin, `{"name":"x","trigger":{"type":"contact_created"},"actions":[{"type":"add_tag","tag":"x"}]}`},
	"POST /api/v1/automations/presets":                           {admin, `{}`},
	"GET /api/v1/automations/{id}":                               {agent, ""},
	"PUT /api/v1/automations/{id}":                               {admin, `{"name":"x","trigger":{"type":"contact_created"},"actions":[{"type":"add_tag","tag":"x"}]}`},
	"PATCH /api/v1/automations/{id}":                             {admin, `{"enabled":false}`},
	"DELETE /api/v1/automations/{id}":                            {admin, ""},
	"GET /api/v1/automations/{id}/runs":                          {agent, ""},
	"GET /api/v1/contact-fields":                                 {agent, ""},
	"POST /api/v1/contact-fields":                                {admin, `{"key":"zz","label":"x","type":"text"}`},
	"GET /api/v1/contact-fields/{id}":                            {agent, ""},
	"PATCH /api/v1/contact-fields/{id}":                          {admin, `{"label":"x"}`},
	"DELETE /api/v1/contact-fields/{id}":                         {admin, ""},
	"GET /api/v1/templates":                                      {agent, ""},
	"POST /api/v1/templates/sync":                                {admin, ""},
	"POST /api/v1/templates":                                     {admin, `{}`},
	"GET /api/v1/assistants/{assistant}/knowledge":               {agent, ""},
	"POST /api/v1/assistants/{assistant}/knowledge":              {admin, `{"kind":"faq","question":"q","answer":"a"}`},
	"POST /api/v1/assistants/{assistant}/knowledge/documents":    {admin, ""},
	"POST /api/v1/assistants/{assistant}/knowledge/search":       {agent, `{"query":"x"}`},
	"GET /api/v1/assistants/{assistant}/knowledge/embeddings":    {agent, ""},
	"PUT /api/v1/assistants/{assistant}/knowledge/embeddings":    {admin, `{"enabled":false}`},
	"GET /api/v1/assistants/{assistant}/knowledge/{id}":          {agent, ""},
	"PATCH /api/v1/assistants/{assistant}/knowledge/{id}":        {admin, `{"answer":"x"}`},
	"DELETE /api/v1/assistants/{assistant}/knowledge/{id}":       {admin, ""},
	"GET /api/v1/assistants/{assistant}/knowledge/{id}/original": {agent, ""},
	"GET /api/v1/forms":                                          {agent, ""},
	"POST /api/v1/forms":                                         {admin, `{"name":"x","fields":[{"key":"email"}]}`},
	"GET /api/v1/forms/{id}":                                     {agent, ""},
	"PATCH /api/v1/forms/{id}":                                   {admin, `{"name":"x"}`},
	"DELETE /api/v1/forms/{id}":                                  {admin, ""},
	"GET /api/v1/forms/{id}/submissions":                         {agent, ""},
	"GET /api/v1/segments":                                       {agent, ""},
	"POST /api/v1/segments":                                      {agent, `{"name":"x","conditions":[{"kind":"profile","key":"company","op":"is","value":"x"}]}`},
	"POST /api/v1/segments/preview":                              {agent, `{"conditions":[{"kind":"profile","key":"company","op":"is","value":"x"}]}`},
	"GET /api/v1/segments/{id}":                                  {agent, ""},
	"PATCH /api/v1/segments/{id}":                                {agent, `{"name":"x"}`},
	"DELETE /api/v1/segments/{id}":                               {agent, ""},
	"GET /api/v1/segments/{id}/members":                          {agent, ""},
	"GET /api/v1/segments/{id}/count":                            {agent, ""},
	"GET /api/v1/widgets":                                        {agent, ""},
	"POST /api/v1/widgets":                                       {admin, `{"name":"x"}`},
	"GET /api/v1/widgets/{id}":                                   {agent, ""},
	"PATCH /api/v1/widgets/{id}":                                 {admin, `{"greeting":"x"}`},
	"DELETE /api/v1/widgets/{id}":                                {admin, ""},
	"GET /api/v1/usage":                                          {admin, ""},
	"POST /api/v1/admin/backup":                                  {owner, ""},
}

// isoWorkspace is one workspace of the walk: its tokens by role, its
// resources by path parameter and the marker its data carries.
type isoWorkspace struct {
	id     engine.ID
	marker string
	tokens map[engine.Role]string
	// vals are its resources: "param" or "prefix param" → value.
	vals map[string]string
	// ids are the ids the walk must never find in another workspace's
	// answers or events.
	ids []string
	// acct is its API channel account; agentEmail signs its agent in.
	acct       apiAccount
	agentEmail string
}

// populateWorkspace gives workspace w (its owner token set) an admin, an
// agent, an API channel conversation and one of each resource a route
// names.
func populateWorkspace(t *testing.T, e *env, w *isoWorkspace, hook string) {
	t.Helper()
	own := w.tokens[owner]
	w.vals = map[string]string{"seq": "1", "tag": "x", "delivery": "1", "channel": "api", "me/workspaces id": w.id.String()}
	create := func(path string, body any) string {
		t.Helper()
		code, resp := e.api("POST", path, own, body)
		require.Equal(t, http.StatusCreated, code, "%s: %s", path, resp)
		v := decodeAs[struct {
			ID any `json:"id"`
		}](t, resp)
		id := fmt.Sprint(v.ID)
		w.ids = append(w.ids, id)
		return id
	}
	for _, role := range []engine.Role{admin, agent} {
		code, body := e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{
			"code": e.invite(own, string(role)+"."+w.marker+"@example.com", role), "name": w.marker + " " + string(role), "password": "a long password"})
		require.Equal(t, http.StatusCreated, code, string(body))
		s := decodeAs[session](t, body)
		code, body = e.api("POST", "/api/v1/tokens", s.Token, map[string]any{"name": "walk"})
		require.Equal(t, http.StatusCreated, code, string(body))
		tok := decodeAs[struct {
			ID    engine.ID `json:"id"`
			Token string    `json:"token"`
		}](t, body)
		w.tokens[role] = tok.Token
		w.ids = append(w.ids, s.User.ID.String(), tok.ID.String())
		if role == agent {
			w.vals["users id"], w.vals["tokens id"] = s.User.ID.String(), tok.ID.String()
			w.agentEmail = s.User.Email
		}
	}
	acct := e.connectAPIAs(own, hook)
	w.acct = acct
	w.vals["account"] = acct.AccountID
	w.ids = append(w.ids, acct.AccountID)
	e.apiInbound(acct, map[string]any{"source_id": "m1", "text": "hello " + w.marker,
		"contact": map[string]any{"external_id": "person-" + w.marker, "name": w.marker + " customer"}})
	th, ok, err := e.store.LookupThread(w.id, acct.AccountID, "person-"+w.marker)
	require.NoError(t, err)
	require.True(t, ok)
	w.vals["conv"], w.vals["contacts id"] = th.ConversationID.String(), th.ContactID.String()
	w.ids = append(w.ids, th.ConversationID.String(), th.ContactID.String())
	contact := th.ContactID.String()
	w.vals["note"] = create("/api/v1/contacts/"+contact+"/notes", map[string]any{"text": "note " + w.marker})
	w.vals["memory"] = create("/api/v1/contacts/"+contact+"/memories", map[string]any{"text": "memory " + w.marker})
	w.vals["other"] = create("/api/v1/contacts", map[string]any{"name": w.marker + " second"})
	w.vals["canned-replies id"] = create("/api/v1/canned-replies", map[string]any{"short_code": "c" + w.marker, "title": w.marker, "body": w.marker})
	// A broadcast needs a WhatsApp number with its templates synced:
	// the walk names an id no workspace holds, and
	// TestBroadcastStatusesRepliesAndAttribution checks that another
	// workspace's real broadcast is neither seen nor controlled.
	w.vals["broadcasts id"] = engine.NewID(time.Now()).String()
	w.vals["teams id"] = create("/api/v1/teams", map[string]any{"name": w.marker, "members": []string{}, "distribution": "manual"})
	w.vals["pipelines id"] = create("/api/v1/pipelines", map[string]any{"name": w.marker, "stages": []map[string]any{{"name": w.marker}}})
	w.vals["webhooks id"] = create("/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/" + w.marker, "events": []string{"handoff"}})
	w.vals["automations id"] = create("/api/v1/automations", map[string]any{"name": w.marker,
		"trigger": map[string]any{"type": "contact_created"}, "actions": []any{map[string]any{"type": "add_tag", "tag": w.marker}}})
	w.vals["contact-fields id"] = create("/api/v1/contact-fields", map[string]any{"key": "k" + w.marker, "label": w.marker, "type": "text"})
	asst := create("/api/v1/assistants", map[string]any{"name": w.marker})
	w.vals["assistants id"], w.vals["assistant"] = asst, asst
	w.vals["knowledge id"] = create("/api/v1/assistants/"+asst+"/knowledge", map[string]any{"kind": "faq", "question": w.marker, "answer": w.marker})
	w.vals["forms id"] = create("/api/v1/forms", map[string]any{"name": w.marker, "fields": []map[string]any{{"key": "email"}}})
	w.vals["segments id"] = create("/api/v1/segments", map[string]any{"name": w.marker, "conditions": []any{companyIs(w.marker)}})
	w.vals["widgets id"] = create("/api/v1/widgets", map[string]any{"name": w.marker})
	w.vals["media id"] = strings.Repeat("0", 64)
}

var isoParam = regexp.MustCompile(`\{([a-z]+)\}`)

// isoPath fills route's parameters with w's resources: an {id} by the
// path's first part that names a resource kind.
func isoPath(t *testing.T, route string, w *isoWorkspace) string {
	t.Helper()
	_, path, _ := strings.Cut(route, " ")
	kind := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")[0]
	if strings.Contains(path, "/knowledge/{id}") {
		kind = "knowledge"
	}
	if strings.HasPrefix(path, "/api/v1/me/workspaces/") {
		kind = "me/workspaces"
	}
	return isoParam.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := w.vals[name]
		if name == "id" {
			v, ok = w.vals[kind+" id"]
		}
		require.True(t, ok, "%s: no value for %s", route, m)
		return v
	})
}

// workspaceRecords is every key under workspace ws (hex) with the sha256
// of its value.
func workspaceRecords(t *testing.T, e *env, ws engine.ID) map[string]string {
	t.Helper()
	lo := append([]byte{'w'}, ws[:]...)
	hi := append(slices.Clone(lo), 0xFF, 0xFF)
	it, err := e.store.DB().NewIter(nil)
	require.NoError(t, err)
	defer it.Close()
	out := map[string]string{}
	for ok := it.SeekGE(lo); ok && bytes.Compare(it.Key(), hi) < 0; ok = it.Next() {
		h := sha256.Sum256(it.Value())
		out[hex.EncodeToString(it.Key())] = hex.EncodeToString(h[:])
	}
	require.NoError(t, it.Error())
	require.NotEmpty(t, out)
	return out
}

// settledRecords is workspaceRecords once the work its last changes
// started in the background (the search index's projection, segment
// backfills, automation runs) is done: the search backlog is empty and
// two reads agree.
func settledRecords(t *testing.T, e *env, ws engine.ID) map[string]string {
	t.Helper()
	var out map[string]string
	eventually(t, 10*time.Second, func() error {
		n, err := e.store.SearchBacklog()
		if err != nil || n > 0 {
			return fmt.Errorf("search backlog %d: %v", n, err)
		}
		a := workspaceRecords(t, e, ws)
		if c := recordsChanged(a, workspaceRecords(t, e, ws)); len(c) > 0 {
			return fmt.Errorf("still changing: %v", c)
		}
		out = a
		return nil
	})
	return out
}

// recordsChanged lists the keys added, removed or rewritten from a to b.
func recordsChanged(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestIsolationAcrossWorkspaces walks every route the router serves, for
// 3 workspaces × owner, admin and agent: a caller of one workspace naming
// another's resources (its ids in every path parameter) gets 404 or 403,
// never another workspace's data in an answer or on its WebSocket, and
// the other workspace's stored data is unchanged byte for byte; a caller
// below a route's least role gets 403 on their own workspace's resources.
// Routes without an entry in isolationRoutes or isolationPublic fail it.
func TestIsolationAcrossWorkspaces(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, nil, nil, 0)
	hook := newIntegrator(t)
	routes := gateway.Routes(e.gw)
	for _, r := range routes {
		_, public := isolationPublic[r]
		_, private := isolationRoutes[r]
		require.True(t, public != private, "%s: list it in isolationRoutes (the least role it admits) or in isolationPublic (with why)", r)
	}
	for r := range isolationRoutes {
		require.Contains(t, routes, r, "isolationRoutes lists a route the router does not serve")
	}
	for r := range isolationPublic {
		require.Contains(t, routes, r, "isolationPublic lists a route the router does not serve")
	}

	wss := []*isoWorkspace{{id: e.ws, marker: "alpha7q"}, {marker: "bravo7q"}, {marker: "charlie7q"}}
	wss[0].tokens = map[engine.Role]string{owner: ownerToken}
	for _, w := range wss[1:] {
		id, tok := e.workspaceOf(w.marker)
		w.id, w.tokens = id, map[engine.Role]string{owner: tok}
	}
	for _, w := range wss {
		populateWorkspace(t, e, w, hook.srv.URL+"/"+w.marker)
	}
	// Each workspace's owner and agent listen on a WebSocket for the
	// whole walk.
	type listener struct {
		w    *isoWorkspace
		sock *wsClient
	}
	var socks []listener
	for _, w := range wss {
		for _, role := range []engine.Role{owner, agent} {
			c, _, err := e.dialWS("token=" + w.tokens[role])
			require.NoError(t, err)
			socks = append(socks, listener{w, c})
		}
	}

	leaks := func(w *isoWorkspace, body []byte) string {
		for _, x := range wss {
			if x == w {
				continue
			}
			if bytes.Contains(body, []byte(x.marker)) {
				return x.marker
			}
			for _, id := range x.ids {
				if bytes.Contains(body, []byte(id)) {
					return id
				}
			}
		}
		return ""
	}
	calls := 0
	call := func(route, path, token, body string) (int, []byte) {
		method, _, _ := strings.Cut(route, " ")
		var b any
		if body != "" {
			b = body
		}
		calls++
		return e.api(method, path, token, b)
	}
	for _, w := range wss {
		before := map[engine.ID]map[string]string{}
		for _, x := range wss {
			if x != w {
				before[x.id] = settledRecords(t, e, x.id)
			}
		}
		for _, route := range routes {
			spec, ok := isolationRoutes[route]
			if !ok {
				continue
			}
			named := strings.Contains(route, "{")
			for _, role := range []engine.Role{owner, admin, agent} {
				tok := w.tokens[role]
				// Below the route's role: 403, on its own workspace's
				// resources.
				if !role.AtLeast(spec.role) {
					code, resp := call(route, isoPath(t, route, w), tok, strings.ReplaceAll(spec.body, "{other}", w.vals["other"]))
					if code != http.StatusForbidden {
						t.Errorf("%s as %s of %s, below its role: %d %s", route, role, w.marker, code, resp)
					}
				}
				if !named {
					code, resp := call(route, strings.SplitN(route, " ", 2)[1], tok, spec.body)
					if leak := leaks(w, resp); leak != "" {
						t.Errorf("%s as %s of %s answers %d with %s of another workspace: %s", route, role, w.marker, code, leak, resp)
					}
					continue
				}
				for _, x := range wss {
					if x == w {
						continue
					}
					code, resp := call(route, isoPath(t, route, x), tok, strings.ReplaceAll(spec.body, "{other}", x.vals["other"]))
					refused := code == http.StatusNotFound || code == http.StatusForbidden
					if !refused {
						t.Errorf("%s as %s of %s naming %s's resources: %d %s", route, role, w.marker, x.marker, code, resp)
					}
					if leak := leaks(w, resp); leak != "" {
						t.Errorf("%s as %s of %s answers %d with %s of another workspace: %s", route, role, w.marker, code, leak, resp)
					}
				}
			}
		}
		for _, x := range wss {
			if x != w {
				require.Empty(t, recordsChanged(before[x.id], workspaceRecords(t, e, x.id)), "%s's calls changed %s's stored data", w.marker, x.marker)
			}
		}
	}
	t.Logf("%d routes, %d calls", len(routes), calls)
	// The walk's API tokens cannot switch at all; a session cannot
	// switch to a workspace its person is not a member of.
	for _, w := range wss {
		code, _, body := e.login(w.agentEmail, "a long password")
		require.Equal(t, http.StatusOK, code, string(body))
		sess := decodeAs[session](t, body).Token
		for _, x := range wss {
			if x != w {
				code, resp := e.api("POST", "/api/v1/me/workspaces/"+x.id.String()+"/switch", sess, nil)
				require.Equal(t, http.StatusNotFound, code, "%s's session switching to %s: %s", w.marker, x.marker, resp)
			}
		}
	}
	// The WebSockets: one more message in each workspace, then each
	// socket reads up to its own workspace's; nothing it got during the
	// walk or since was another workspace's.
	for _, w := range wss {
		e.apiInbound(w.acct, map[string]any{"source_id": "last", "text": "last of " + w.marker,
			"contact": map[string]any{"external_id": "person-" + w.marker}})
	}
	for _, l := range socks {
		_ = l.sock.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, msg, err := l.sock.conn.ReadMessage()
			require.NoError(t, err, "%s's socket", l.w.marker)
			if leak := leaks(l.w, msg); leak != "" {
				t.Fatalf("%s's socket got %s of another workspace: %s", l.w.marker, leak, msg)
			}
			if bytes.Contains(msg, []byte("last of "+l.w.marker)) {
				break
			}
		}
	}
}
