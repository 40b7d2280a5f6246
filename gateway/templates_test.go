package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const wabaID = "102290129340398"

// templatePages plays GET /{waba}/message_templates: the pages of
// Meta's answer, linked by paging.cursors.after and paging.next.
func templatePages(pages ...[]string) func(r graphReq) (int, string, bool) {
	return func(r graphReq) (int, string, bool) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.Path, "/"+wabaID+"/message_templates") {
			return 0, "", false
		}
		q, _ := url.ParseQuery(r.Query)
		i := 0
		if a := q.Get("after"); a != "" {
			fmt.Sscanf(a, "cursor-%d", &i)
		}
		if i >= len(pages) {
			return http.StatusBadRequest, `{"error":{"message":"bad cursor","type":"OAuthException","code":100}}`, true
		}
		paging := fmt.Sprintf(`{"cursors":{"before":"b","after":"cursor-%d"}`, i+1)
		if i+1 < len(pages) {
			paging += `,"next":"https://graph.facebook.com/v25.0/` + wabaID + `/message_templates?after=cursor-` + fmt.Sprint(i+1) + `"`
		}
		paging += "}"
		return http.StatusOK, `{"data":[` + strings.Join(pages[i], ",") + `],"paging":` + paging + `}`, true
	}
}

const (
	tplOrder = `{"name":"order_update","language":"en_US","status":"APPROVED","category":"UTILITY","id":"1001","parameter_format":"POSITIONAL",
		"components":[{"type":"HEADER","format":"TEXT","text":"Order {{1}}","example":{"header_text":["A-1"]}},
		{"type":"BODY","text":"Hi {{1}}, your order {{2}} ships on {{3}}.","example":{"body_text":[["Ann","A-1","Monday"]]}},
		{"type":"FOOTER","text":"Parley Shop"}]}`
	tplPromo = `{"name":"spring_promo","language":"en_US","status":"APPROVED","category":"MARKETING","id":"1002",
		"components":[{"type":"HEADER","format":"IMAGE","example":{"header_handle":["4::aW1n"]}},{"type":"BODY","text":"Spring is here"}]}`
	tplTrack = `{"name":"track_order","language":"en_US","status":"APPROVED","category":"UTILITY","id":"1005",
		"components":[{"type":"BODY","text":"Your order is on its way"},{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Stop"},{"type":"URL","text":"Track","url":"https://shop.example.com/track/{{1}}","example":["https://shop.example.com/track/A-1"]}]}]}`
	tplPending  = `{"name":"order_update","language":"es","status":"PENDING","category":"UTILITY","id":"1003","components":[{"type":"BODY","text":"Hola {{1}}"}]}`
	tplRejected = `{"name":"old_offer","language":"en_US","status":"REJECTED","rejected_reason":"INVALID_FORMAT","category":"MARKETING","id":"1004","components":[{"type":"BODY","text":"Buy"}]}`
)

// templateEnv is a Parley whose WhatsApp account names its Business
// Account, on a fake clock.
func templateEnv(t *testing.T) (*env, *clockwork.FakeClock) {
	e, clock, _ := templateEnvMetrics(t)
	return e, clock
}

// templateEnvMetrics is templateEnv with the gateway's metrics in a
// registry of the test's.
func templateEnvMetrics(t *testing.T) (*env, *clockwork.FakeClock, *prometheus.Registry) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Now().UTC())
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(g *gateway.Config) { g.Registerer = reg })
	code, body := e.api("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, map[string]any{"waba_id": wabaID})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"waba_id":"`+wabaID+`"`)
	return e, clock, reg
}

func syncTemplates(t *testing.T, e *env) []engine.Template {
	t.Helper()
	code, body := e.api("POST", "/api/v1/templates/sync", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var out struct{ Templates []engine.Template }
	require.NoError(t, json.Unmarshal(body, &out))
	return out.Templates
}

func storedTemplates(t *testing.T, e *env) map[string]engine.Template {
	t.Helper()
	ts, err := e.store.Templates(e.ws, wabaID)
	require.NoError(t, err)
	out := map[string]engine.Template{}
	for _, x := range ts {
		out[x.Name+"/"+x.Language] = x
	}
	return out
}

func TestTemplateSyncPaged(t *testing.T) {
	e, _, reg := templateEnvMetrics(t)
	e.graph.other = templatePages([]string{tplOrder, tplPromo}, []string{tplPending}, []string{tplRejected})
	got := syncTemplates(t, e)
	require.Len(t, got, 4)
	reqs := e.graph.requests("/message_templates")
	require.Len(t, reqs, 3, "one request per page")
	for i, r := range reqs {
		require.Equal(t, "Bearer tok-"+phoneID, r.Auth)
		q, _ := url.ParseQuery(r.Query)
		if i == 0 {
			require.Empty(t, q.Get("after"))
		} else {
			require.Equal(t, fmt.Sprintf("cursor-%d", i), q.Get("after"))
		}
	}
	st := storedTemplates(t, e)
	require.Equal(t, engine.TemplateApproved, st["order_update/en_US"].Status)
	require.Equal(t, engine.TemplatePending, st["order_update/es"].Status)
	require.Equal(t, engine.TemplateRejected, st["old_offer/en_US"].Status)
	require.Equal(t, "INVALID_FORMAT", st["old_offer/en_US"].Reason)
	require.Equal(t, "IMAGE", st["spring_promo/en_US"].Components[0].Format)
	require.Equal(t, "Hi {{1}}, your order {{2}} ships on {{3}}.", st["order_update/en_US"].Components[1].Text)

	// The list answers them by name and language.
	code, body := e.api("GET", "/api/v1/templates", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	var list struct{ Templates []engine.Template }
	require.NoError(t, json.Unmarshal(body, &list))
	var names []string
	for _, x := range list.Templates {
		names = append(names, x.Name+"/"+x.Language)
	}
	require.Equal(t, []string{"old_offer/en_US", "order_update/en_US", "order_update/es", "spring_promo/en_US"}, names)
	code, body = e.api("GET", "/api/v1/templates?waba_id=another", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"templates":[]}`, string(body))
	// An agent lists them, but neither syncs nor submits.
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	code, body = e.api("GET", "/api/v1/templates", agent.Token, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"order_update"`)
	code, _ = e.api("POST", "/api/v1/templates/sync", agent.Token, nil)
	require.Equal(t, http.StatusForbidden, code)
	code, _ = e.api("POST", "/api/v1/templates", agent.Token, map[string]any{"name": "x", "language": "en", "category": "UTILITY",
		"components": []any{map[string]any{"type": "BODY", "text": "x"}}})
	require.Equal(t, http.StatusForbidden, code)
	require.Len(t, e.graph.requests("/message_templates"), 3)

	// A template deleted at Meta goes at the next sync.
	e.graph.other = templatePages([]string{tplOrder})
	require.Len(t, syncTemplates(t, e), 1)
	require.Len(t, storedTemplates(t, e), 1)

	// A failed sync stores nothing and is counted.
	e.graph.other = func(r graphReq) (int, string, bool) {
		return http.StatusInternalServerError, `{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1}}`, true
	}
	code, body = e.api("POST", "/api/v1/templates/sync", ownerToken, nil)
	require.Equal(t, http.StatusBadGateway, code, string(body))
	require.Equal(t, "graph_error", errorCode(t, body))
	require.Len(t, storedTemplates(t, e), 1)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP parley_template_syncs_total Syncs of WhatsApp message templates from the Graph API, by outcome (ok, error).
# TYPE parley_template_syncs_total counter
parley_template_syncs_total{outcome="error"} 1
parley_template_syncs_total{outcome="ok"} 2
`), "parley_template_syncs_total"))
}

func TestTemplateSyncWithoutWABA(t *testing.T) {
	e := newEnv(t, nil)
	code, body := e.api("POST", "/api/v1/templates/sync", ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "no_waba", errorCode(t, body))
	// waba_id belongs to WhatsApp accounts only.
	code, body = e.api("PATCH", "/api/v1/channels/messenger/"+pageID, ownerToken, map[string]any{"waba_id": wabaID})
	require.Equal(t, http.StatusBadRequest, code, string(body))
}

func TestTemplateSubmit(t *testing.T) {
	e, _ := templateEnv(t)
	var posted []byte
	e.graph.other = func(r graphReq) (int, string, bool) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/"+wabaID+"/message_templates") {
			return 0, "", false
		}
		posted = r.Body
		if strings.Contains(string(r.Body), "refused_one") {
			return http.StatusBadRequest, `{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2388024,"error_data":{"details":"Content in this language already exists"}}}`, true
		}
		return http.StatusOK, `{"id":"594425479261596","status":"PENDING","category":"UTILITY"}`, true
	}
	create := map[string]any{"name": "order_ready", "language": "en_US", "category": "utility", "components": []any{
		map[string]any{"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready.", "example": map[string]any{"body_text": [][]string{{"Ann", "A-1"}}}},
		map[string]any{"type": "FOOTER", "text": "Parley Shop"},
		map[string]any{"type": "BUTTONS", "buttons": []any{map[string]any{"type": "QUICK_REPLY", "text": "Thanks"}}}}}
	code, body := e.api("POST", "/api/v1/templates", ownerToken, create)
	require.Equal(t, http.StatusCreated, code, string(body))
	require.JSONEq(t, `{"name":"order_ready","language":"en_US","category":"UTILITY","parameter_format":"POSITIONAL","components":[
		{"type":"BODY","text":"Hi {{1}}, order {{2}} is ready.","example":{"body_text":[["Ann","A-1"]]}},
		{"type":"FOOTER","text":"Parley Shop"},
		{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Thanks"}]}]}`, string(posted))
	st := storedTemplates(t, e)["order_ready/en_US"]
	require.Equal(t, "594425479261596", st.ID)
	require.Equal(t, engine.TemplatePending, st.Status)

	// The same again is a conflict, checked before Meta is called.
	n := len(e.graph.requests("/message_templates"))
	code, body = e.api("POST", "/api/v1/templates", ownerToken, create)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "template_exists", errorCode(t, body))
	// Bad templates are refused before Meta is called.
	for _, bad := range []map[string]any{
		{"name": "Bad Name", "language": "en_US", "category": "UTILITY", "components": []any{map[string]any{"type": "BODY", "text": "x"}}},
		{"name": "no_example", "language": "en_US", "category": "UTILITY", "components": []any{map[string]any{"type": "BODY", "text": "Hi {{1}}"}}},
		{"name": "no_body", "language": "en_US", "category": "UTILITY", "components": []any{map[string]any{"type": "FOOTER", "text": "x"}}},
		{"name": "bad_category", "language": "en_US", "category": "PROMO", "components": []any{map[string]any{"type": "BODY", "text": "x"}}},
	} {
		code, body = e.api("POST", "/api/v1/templates", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, string(body))
	}
	require.Len(t, e.graph.requests("/message_templates"), n)
	// Meta's refusal is told, and nothing is stored.
	code, body = e.api("POST", "/api/v1/templates", ownerToken, map[string]any{"name": "refused_one", "language": "en_US", "category": "UTILITY",
		"components": []any{map[string]any{"type": "BODY", "text": "x"}}})
	require.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	require.Equal(t, "graph_error", errorCode(t, body))
	require.Contains(t, string(body), "Content in this language already exists")
	require.NotContains(t, storedTemplates(t, e), "refused_one/en_US")
}

// waTemplateStatus is a message_template_status_update webhook.
func waTemplateStatus(waba, event, name, lang, reason string) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","time":1750000000,"changes":[{"value":{"event":"%s","message_template_id":1001,"message_template_name":"%s","message_template_language":"%s","reason":"%s","message_template_category":"UTILITY"},"field":"message_template_status_update"}]}]}`,
		waba, event, name, lang, reason)
}

func TestTemplateStatusWebhook(t *testing.T) {
	e, _ := templateEnv(t)
	e.graph.other = templatePages([]string{tplOrder, tplPending})
	syncTemplates(t, e)

	code, body := e.webhook(engine.ChannelWhatsApp, waTemplateStatus(wabaID, "APPROVED", "order_update", "es", "NONE"))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, engine.TemplateApproved, storedTemplates(t, e)["order_update/es"].Status)

	code, _ = e.webhook(engine.ChannelWhatsApp, waTemplateStatus(wabaID, "PAUSED", "order_update", "en_US", "Your template was paused for low quality"))
	require.Equal(t, http.StatusOK, code)
	st := storedTemplates(t, e)["order_update/en_US"]
	require.Equal(t, engine.TemplatePaused, st.Status)
	require.Equal(t, "Your template was paused for low quality", st.Reason)

	// Unsigned, or for another Business Account: nothing changes.
	payload := waTemplateStatus(wabaID, "DISABLED", "order_update", "en_US", "x")
	code, _ = e.webhookSigned(engine.ChannelWhatsApp, payload, meta.Sign([]byte(payload), []byte("another secret")))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = e.webhook(engine.ChannelWhatsApp, waTemplateStatus("999", "DISABLED", "order_update", "en_US", "x"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, engine.TemplatePaused, storedTemplates(t, e)["order_update/en_US"].Status)
	// A status of a template not synced yet is acknowledged and waits for the sync.
	code, _ = e.webhook(engine.ChannelWhatsApp, waTemplateStatus(wabaID, "APPROVED", "brand_new", "en_US", "NONE"))
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, storedTemplates(t, e), "brand_new/en_US")
}

// outsideWindow makes a WhatsApp conversation whose customer wrote 25
// hours ago, with a contact named Dana Scully who has an order_id.
func outsideWindow(t *testing.T, e *env, clock *clockwork.FakeClock) engine.ID {
	t.Helper()
	code, _ := e.webhook(engine.ChannelWhatsApp, waText("wamid.in1", "15557654321", "Dana Scully", "hello"))
	require.Equal(t, http.StatusOK, code)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15557654321")
	c := e.conv(conv)
	code, body := e.api("PATCH", "/api/v1/contacts/"+c.ContactID.String(), ownerToken, map[string]any{"custom_fields": map[string]string{"order_id": "A-42"}})
	require.Equal(t, http.StatusOK, code, string(body))
	clock.Advance(25 * time.Hour)
	return conv
}

func TestTemplateSendOutsideWindow(t *testing.T) {
	e, clock := templateEnv(t)
	e.graph.other = templatePages([]string{tplOrder, tplPromo, tplPending, tplTrack})
	syncTemplates(t, e)
	conv := outsideWindow(t, e, clock)

	// Free text is still refused.
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "hi again"})
	require.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	require.Equal(t, "outside_window", errorCode(t, body))
	require.Empty(t, e.graph.requests("/messages"))

	// A template goes, its variables filled from the contact.
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/template", ownerToken, map[string]any{
		"name": "order_update", "language": "en_US",
		"header": []any{map[string]any{"field": "order_id"}},
		"body": []any{map[string]any{"field": "first_name"}, map[string]any{"field": "order_id"},
			map[string]any{"field": "ship_date", "fallback": "Monday"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	var m engine.Message
	require.NoError(t, json.Unmarshal(body, &m))
	require.Equal(t, engine.KindTemplate, m.Kind)
	require.Equal(t, "Order A-42\n\nHi Dana, your order A-42 ships on Monday.\n\nParley Shop", m.Text)
	var sent []graphReq
	eventually(t, 5*time.Second, func() error {
		if sent = e.graph.requests("/" + phoneID + "/messages"); len(sent) != 1 {
			return fmt.Errorf("%d sends", len(sent))
		}
		return nil
	})
	require.JSONEq(t, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"template",
		"template":{"name":"order_update","language":{"code":"en_US"},"components":[
			{"type":"header","parameters":[{"type":"text","text":"A-42"}]},
			{"type":"body","parameters":[{"type":"text","text":"Dana"},{"type":"text","text":"A-42"},{"type":"text","text":"Monday"}]}]},
		"biz_opaque_callback_data":"`+m.ID.String()+`"}`, string(sent[0].Body))
	var wamid string
	eventually(t, 5*time.Second, func() error {
		ms := e.messages(conv)
		if ms[0].Status != engine.StatusSent {
			return fmt.Errorf("status %s", ms[0].Status)
		}
		wamid = ms[0].ChannelMessageID
		return nil
	})
	// Its statuses come as for any message.
	code, _ = e.webhook(engine.ChannelWhatsApp, waStatus(wamid, "delivered", clock.Now().Unix(), ""))
	require.Equal(t, http.StatusOK, code)
	code, _ = e.webhook(engine.ChannelWhatsApp, waStatus(wamid, "read", clock.Now().Unix(), ""))
	require.Equal(t, http.StatusOK, code)
	eventually(t, 5*time.Second, func() error {
		if st := e.messages(conv)[0].Status; st != engine.StatusRead {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	// The stored message keeps the template as sent.
	got := e.messages(conv)[0]
	require.NotNil(t, got.Template)
	require.Equal(t, []engine.TemplateParam{{Text: "Dana"}, {Text: "A-42"}, {Text: "Monday"}}, got.Template.Body)

	// A media header by link, through the contact's route.
	c := e.conv(conv)
	code, body = e.api("POST", "/api/v1/contacts/"+c.ContactID.String()+"/template", ownerToken, map[string]any{
		"name": "spring_promo", "language": "en_US", "header_media": map[string]any{"type": "image", "link": "https://cdn.example.com/spring.png"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if sent = e.graph.requests("/" + phoneID + "/messages"); len(sent) != 2 {
			return fmt.Errorf("%d sends", len(sent))
		}
		return nil
	})
	var promo map[string]any
	require.NoError(t, json.Unmarshal(sent[1].Body, &promo))
	tpl, _ := json.Marshal(promo["template"])
	require.JSONEq(t, `{"name":"spring_promo","language":{"code":"en_US"},"components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://cdn.example.com/spring.png"}}]}]}`, string(tpl))

	// Refusals: nothing more is sent.
	for _, tc := range []struct {
		req  map[string]any
		code int
		want string
	}{
		{map[string]any{"name": "order_update", "language": "es", "body": []any{map[string]any{"text": "x"}}}, http.StatusConflict, "template_not_approved"},
		{map[string]any{"name": "order_update", "language": "fr"}, http.StatusNotFound, "template_not_found"},
		{map[string]any{"name": "nope", "language": "en_US"}, http.StatusNotFound, "template_not_found"},
		{map[string]any{"name": "order_update", "language": "en_US", "header": []any{map[string]any{"text": "1"}},
			"body": []any{map[string]any{"text": "a"}}}, http.StatusBadRequest, "invalid_template_params"},
		{map[string]any{"name": "order_update", "language": "en_US", "header": []any{map[string]any{"text": "1"}},
			"body": []any{map[string]any{"text": "a"}, map[string]any{"field": "missing"}, map[string]any{"text": "c"}}}, http.StatusBadRequest, "invalid_template_params"},
		{map[string]any{"name": "spring_promo", "language": "en_US"}, http.StatusBadRequest, "invalid_template_params"},
		{map[string]any{"name": "spring_promo", "language": "en_US", "header_media": map[string]any{"type": "video", "link": "https://x.test/a.mp4"}}, http.StatusBadRequest, "invalid_template_params"},
		{map[string]any{"language": "en_US"}, http.StatusBadRequest, "invalid"},
		{map[string]any{"name": "order_update", "language": "en_US", "extra": 1}, http.StatusBadRequest, ""},
	} {
		code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/template", ownerToken, tc.req)
		require.Equal(t, tc.code, code, "%v: %s", tc.req, body)
		if tc.want != "" {
			require.Equal(t, tc.want, errorCode(t, body), string(body))
		}
	}
	require.Len(t, e.graph.requests("/"+phoneID+"/messages"), 2)
	require.Len(t, e.messages(conv), 3, "the inbound message and the two templates")

	// A URL button's variable goes as a button component.
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/template", ownerToken, map[string]any{
		"name": "track_order", "language": "en_US", "buttons": []any{map[string]any{"field": "order_id"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if sent = e.graph.requests("/" + phoneID + "/messages"); len(sent) != 3 {
			return fmt.Errorf("%d sends", len(sent))
		}
		return nil
	})
	var track map[string]any
	require.NoError(t, json.Unmarshal(sent[2].Body, &track))
	tpl, _ = json.Marshal(track["template"])
	require.JSONEq(t, `{"name":"track_order","language":{"code":"en_US"},"components":[{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"A-42"}]}]}`, string(tpl))
}

// TestTemplateSendErrorCodes: each documented template error of the
// send API fails the message with its code and reason, without retries.
func TestTemplateSendErrorCodes(t *testing.T) {
	e, clock := templateEnv(t)
	e.graph.other = templatePages([]string{tplPromo})
	syncTemplates(t, e)
	conv := outsideWindow(t, e, clock)
	codes := map[int]string{
		132000: "The number of template parameters does not match the template",
		132001: "The template does not exist in this language, or is not approved",
		132005: "The template's translated text is too long",
		132007: "The template's content breaks WhatsApp's policy",
		132012: "A template parameter has the wrong format",
		132015: "The template is paused for low quality",
		132016: "The template is disabled for low quality",
		132068: "The template's flow is blocked",
		132069: "The template's flow is throttled",
	}
	for code, reason := range codes {
		e.graph.send = func(r graphReq) (int, string) {
			return http.StatusBadRequest, fmt.Sprintf(`{"error":{"message":"(#%d) template error","type":"OAuthException","code":%d,"error_data":{"messaging_product":"whatsapp","details":"details of %d"},"fbtrace_id":"Ab1"}}`, code, code, code)
		}
		n := len(e.graph.requests("/" + phoneID + "/messages"))
		status, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/template", ownerToken, map[string]any{
			"name": "spring_promo", "language": "en_US", "header_media": map[string]any{"id": "4490709327384033"}})
		require.Equal(t, http.StatusCreated, status, string(body))
		var m engine.Message
		require.NoError(t, json.Unmarshal(body, &m))
		eventually(t, 5*time.Second, func() error {
			for _, got := range e.messages(conv) {
				if got.ID == m.ID && got.Status == engine.StatusFailed {
					if got.ErrorCode != fmt.Sprint(code) || !strings.Contains(got.ErrorReason, reason) {
						return fmt.Errorf("failed with %s: %s", got.ErrorCode, got.ErrorReason)
					}
					return nil
				}
			}
			return fmt.Errorf("message %s not failed yet", m.ID)
		})
		require.Len(t, e.graph.requests("/"+phoneID+"/messages"), n+1, "code %d is not retried", code)
	}
	// The first send's body named the uploaded media id.
	first := e.graph.requests("/" + phoneID + "/messages")[0]
	require.Contains(t, string(first.Body), `"image":{"id":"4490709327384033"}`)
}

// TestTemplateSyncLimit: a Business Account's templates are read up to
// engine.MaxTemplates (20 pages of 100); one more page is refused and
// stores nothing.
func TestTemplateSyncLimit(t *testing.T) {
	e, _ := templateEnv(t)
	page := func(p int) []string {
		out := make([]string, 100)
		for i := range out {
			out[i] = fmt.Sprintf(`{"name":"t_%02d_%03d","language":"en_US","status":"APPROVED","category":"UTILITY","id":"%d","components":[{"type":"BODY","text":"Hello"}]}`, p, i, p*1000+i)
		}
		return out
	}
	var pages [][]string
	for p := range engine.MaxTemplates / 100 {
		pages = append(pages, page(p))
	}
	e.graph.other = templatePages(pages...)
	start := time.Now()
	require.Len(t, syncTemplates(t, e), engine.MaxTemplates)
	t.Logf("synced %d templates in %d pages in %v", engine.MaxTemplates, len(pages), time.Since(start))
	require.Len(t, storedTemplates(t, e), engine.MaxTemplates)

	e.graph.other = templatePages(append(pages, page(len(pages)))...)
	code, body := e.api("POST", "/api/v1/templates/sync", ownerToken, nil)
	require.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	require.Equal(t, "too_many_templates", errorCode(t, body))
	require.Len(t, storedTemplates(t, e), engine.MaxTemplates)
}
