package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestChannelAccountsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	code, body := e.api("GET", "/api/v1/channels", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, string(body), "tok-", "access tokens are never returned")
	var list struct {
		Channels []map[string]any `json:"channels"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Channels, 3)

	code, body = e.api("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, map[string]any{"name": "Support", "app_secret": "s2"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"has_app_secret":true`)
	require.NotContains(t, string(body), "s2")

	// Bad bodies: 400 with a JSON error, nothing changed.
	for _, bad := range []string{`{`, `[]`, `{"name": 5}`, `{"nope": 1}`, "{\"name\": \"\xff\"}", `{"name":"a"} trailing`, ``} {
		code, body = e.api("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.Equal(t, "bad_json", errorCode(t, body))
	}
	code, body = e.api("POST", "/api/v1/channels", ownerToken, map[string]any{"channel": "sms", "account_id": "x", "access_token": "t"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "invalid", errorCode(t, body))
	code, _ = e.api("POST", "/api/v1/channels", ownerToken, map[string]any{"channel": "whatsapp", "account_id": phoneID, "access_token": "t"})
	require.Equal(t, http.StatusConflict, code)
	code, body = e.api("GET", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"name":"Support"`)

	code, _ = e.api("DELETE", "/api/v1/channels/instagram/"+igID, ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("GET", "/api/v1/channels/instagram/"+igID, ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// documentedOps returns "METHOD template" of every operation in the served
// OpenAPI document, and which of them are public (no token).
func documentedOps(t *testing.T, e *env) (ops []string, public map[string]bool) {
	t.Helper()
	code, body := e.api("GET", "/api/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	public = map[string]bool{}
	for path, methods := range doc.Paths {
		for m, o := range methods {
			k := strings.ToUpper(m) + " " + path
			ops = append(ops, k)
			if o.Security != nil && len(*o.Security) == 0 {
				public[k] = true
			}
		}
	}
	slices.Sort(ops)
	return ops, public
}

// fillTemplate replaces each {param} of an OpenAPI path with vals[param],
// or a fresh id.
func fillTemplate(path string, vals map[string]string) string {
	return regexp.MustCompile(`\{([a-z]+)\}`).ReplaceAllStringFunc(path, func(m string) string {
		if v, ok := vals[m[1:len(m)-1]]; ok {
			return v
		}
		return engine.NewID(time.Now()).String()
	})
}

// TestRoutesNeedAToken walks every documented operation: each one that
// is not public answers 401 without a token and with a wrong one.
func TestRoutesNeedAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ops, public := documentedOps(t, e)
	vals := map[string]string{"channel": "whatsapp", "account": phoneID, "seq": "1", "id": strings.Repeat("a", 64)}
	checked := 0
	for _, o := range ops {
		if public[o] {
			continue
		}
		method, path, _ := strings.Cut(o, " ")
		if strings.HasPrefix(path, "/api/v1/admin/workspaces") {
			// The operator's routes take the server's admin token, and
			// are off (404) when none is configured, as here:
			// TestOperatorAdminAuth checks their 401s.
			continue
		}
		if method == "GET" && path == "/api/v1/media/{id}" {
			vals["id"] = strings.Repeat("a", 64)
		} else {
			vals["id"] = engine.NewID(time.Now()).String()
		}
		for _, tok := range []string{"", "pk_wrong"} {
			code, body := e.api(method, fillTemplate(path, vals), tok, nil)
			require.Equal(t, http.StatusUnauthorized, code, "%s (token %q): %s", o, tok, body)
			require.Equal(t, "unauthorized", errorCode(t, body))
		}
		checked++
	}
	require.Greater(t, checked, 30, "the document lists the API")
}

func TestSendMediaAndMessagesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.m.1", "15550101", "C", "send me the invoice"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550101")
	pdf := []byte("%PDF-1.4 fake invoice")
	code, body := e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", "invoice.pdf", "application/pdf", pdf, map[string]string{"caption": "Here it is"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var m engine.Message
	require.NoError(t, json.Unmarshal(body, &m))
	require.Equal(t, engine.KindDocument, m.Kind)
	require.Equal(t, "invoice.pdf", m.Media.Filename)
	eventually(t, 5*time.Second, func() error {
		if s := e.messages(conv)[0].Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	uploads := e.graph.requests("/" + phoneID + "/media")
	require.Len(t, uploads, 1, "the file is uploaded to the WhatsApp media API")
	require.Contains(t, string(uploads[0].Body), "fake invoice")
	sends := e.graph.requests("/" + phoneID + "/messages")
	require.Len(t, sends, 1)
	var out map[string]any
	require.NoError(t, json.Unmarshal(sends[0].Body, &out))
	require.Equal(t, "document", out["type"])
	doc := out["document"].(map[string]any)
	require.Contains(t, doc["id"], "uploaded-")
	require.Equal(t, "Here it is", doc["caption"])

	// The stored file is served back to the workspace.
	code, got := e.api("GET", "/api/v1/media/"+m.Media.SHA256, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, pdf, got)
	// Not to another workspace.
	e.newWorkspace("pk_workspace_b")
	code, got = e.api("GET", "/api/v1/media/"+m.Media.SHA256, "pk_workspace_b", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.NotContains(t, string(got), "fake invoice")

	// Messages list: newest first, with a before cursor; bad queries 400.
	code, body = e.api("GET", "/api/v1/conversations/"+conv.String()+"/messages?limit=1", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	var page struct {
		Messages []engine.Message `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Messages, 1)
	require.Equal(t, m.Seq, page.Messages[0].Seq)
	code, body = e.api("GET", fmt.Sprintf("/api/v1/conversations/%s/messages?before=%d", conv, m.Seq), ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &page))
	require.Equal(t, "send me the invoice", page.Messages[0].Text)
	for _, q := range []string{"limit=0", "limit=x", "before=-1", "limit=1000"} {
		code, body = e.api("GET", "/api/v1/conversations/"+conv.String()+"/messages?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Equal(t, "bad_query", errorCode(t, body))
	}
	code, _ = e.api("GET", "/api/v1/conversations/not-an-id/messages", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = e.api("GET", "/api/v1/conversations/"+engine.NewID(time.Now()).String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "   "})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "invalid", errorCode(t, body))
}

// Messenger and Instagram inbound through HTTP: attachments are fetched
// from their URLs; Instagram's read receipt moves our message to read.
func TestMessengerAndInstagramInbound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.graph.mu.Lock()
	e.graph.media["pic-1"] = []byte("png bytes")
	e.graph.mu.Unlock()
	msgr := fmt.Sprintf(`{"object":"page","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"PSID_9"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"m_att_1","attachments":[{"type":"image","payload":{"url":"%s/download/pic-1"}}]}}]}]}`, pageID, pageID, e.graph.srv.URL)
	code, body := e.webhook(engine.ChannelMessenger, msgr)
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelMessenger, pageID, "PSID_9")
	eventually(t, 5*time.Second, func() error {
		m := e.messages(conv)[0]
		if m.Media == nil || m.Media.StorageKey == "" {
			return fmt.Errorf("media not fetched")
		}
		return nil
	})
	require.Equal(t, engine.KindImage, e.messages(conv)[0].Kind)

	ig := fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"IGSID_1"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"ig_mid_1","text":"Hola 👋"}}]}]}`, igID, igID)
	code, body = e.webhook(engine.ChannelInstagram, ig)
	require.Equal(t, http.StatusOK, code, string(body))
	igConv := e.thread(engine.ChannelInstagram, igID, "IGSID_1")
	require.Equal(t, "Hola 👋", e.messages(igConv)[0].Text)
	code, body = e.api("POST", "/api/v1/conversations/"+igConv.String()+"/messages", ownerToken, map[string]string{"text": "Hi!"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var mid string
	eventually(t, 5*time.Second, func() error {
		m := e.messages(igConv)[0]
		if m.Status != engine.StatusSent {
			return fmt.Errorf("status %s", m.Status)
		}
		mid = m.ChannelMessageID
		return nil
	})
	seen := fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000001000,"messaging":[{"sender":{"id":"IGSID_1"},"recipient":{"id":"%s"},"timestamp":1750000001000,"read":{"mid":"%s"}}]}]}`, igID, igID, mid)
	code, body = e.webhook(engine.ChannelInstagram, seen)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, engine.StatusRead, e.messages(igConv)[0].Status)
	req := e.graph.requests("/" + igID + "/messages")
	require.Len(t, req, 1)
	require.Equal(t, "Bearer tok-"+igID, req[0].Auth)
}
