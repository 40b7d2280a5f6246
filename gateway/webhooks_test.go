package gateway_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestVerificationHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, ch := range []string{"whatsapp", "messenger", "instagram"} {
		req, _ := http.NewRequest("GET", e.url+"/webhooks/"+ch+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+verifyToken, nil)
		code, body := e.do(req)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "1158201444", string(body), "the challenge is the whole body")
		req, _ = http.NewRequest("GET", e.url+"/webhooks/"+ch+"?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong", nil)
		code, body = e.do(req)
		require.Equal(t, http.StatusForbidden, code)
		require.Equal(t, "forbidden", errorCode(t, body))
		req, _ = http.NewRequest("GET", e.url+"/webhooks/"+ch+"?hub.mode=unsubscribe&hub.challenge=1&hub.verify_token="+verifyToken, nil)
		code, _ = e.do(req)
		require.Equal(t, http.StatusForbidden, code)
	}
}

func TestInboundWhatsAppStoredOnceAndAckedAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	payload := waText("wamid.HBgL1", "15557654321", "Zoë Ñúñez", "Olá, ¿cómo estás? 😀")
	code, body := e.webhook(engine.ChannelWhatsApp, payload)
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15557654321")
	ms := e.messages(conv) // committed when the 200 came back
	require.Len(t, ms, 1)
	require.Equal(t, "Olá, ¿cómo estás? 😀", ms[0].Text)
	require.Equal(t, "Zoë Ñúñez", e.conv(conv).ContactName)

	// Meta retries: the same delivery is stored once.
	for range 3 {
		code, _ = e.webhook(engine.ChannelWhatsApp, payload)
		require.Equal(t, http.StatusOK, code)
	}
	require.Len(t, e.messages(conv), 1)
	require.Equal(t, 1, e.conv(conv).UnreadCount)
}

func TestWebhookRejectsBadInputAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	good := waText("wamid.bad.1", "1555000", "X", "hello")
	cases := []struct {
		name     string
		payload  string
		sig      string
		wantCode int
		wantErr  string
	}{
		{"no signature", good, "-", http.StatusUnauthorized, "bad_signature"},
		{"wrong secret", good, "sha256=" + strings.Repeat("ab", 32), http.StatusUnauthorized, "bad_signature"},
		{"malformed JSON", `{"object":"whatsapp_business_account","entry":[`, "", http.StatusBadRequest, "bad_payload"},
		{"invalid UTF-8", strings.Replace(good, "hello", "hel\xfflo", 1), "", http.StatusBadRequest, "bad_payload"},
		{"wrong type", strings.Replace(good, `"timestamp":"1750000000"`, `"timestamp":1750000000`, 1), "", http.StatusBadRequest, "bad_payload"},
		{"wrong object", strings.Replace(good, "whatsapp_business_account", "page", 1), "", http.StatusBadRequest, "bad_payload"},
	}
	for _, tc := range cases {
		sig := tc.sig
		if sig == "" {
			sig = signFor(tc.payload)
		} else if sig == "-" {
			sig = ""
		}
		code, body := e.webhookSigned(engine.ChannelWhatsApp, tc.payload, sig)
		require.Equal(t, tc.wantCode, code, "%s: %s", tc.name, body)
		require.Equal(t, tc.wantErr, errorCode(t, body), tc.name)
	}
	// An oversized body is refused from its Content-Length, before it is
	// read. The request goes over a raw connection that sends only the
	// head: a client still writing the body when the server answers and
	// closes would see a broken pipe instead of the answer.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n",
		signFor("x"), 300<<10)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	errBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, "body_too_large", errorCode(t, errBody))

	n, err := e.store.CountConversations(e.ws)
	require.NoError(t, err)
	require.Zero(t, n, "nothing stored by bad input")
	// Tampering after signing is caught.
	sig := signFor(good)
	code, _ := e.webhookSigned(engine.ChannelWhatsApp, strings.Replace(good, "hello", "hellO", 1), sig)
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestWebhookOverloadedAnswers503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *actors.Config) { c.MaxInFlight = 1 })
	two := `{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"` + phoneID + `"},"messages":[` +
		`{"from":"1","id":"wamid.o1","timestamp":"1750000000","type":"text","text":{"body":"a"}},` +
		`{"from":"2","id":"wamid.o2","timestamp":"1750000000","type":"text","text":{"body":"b"}}]}}]}]}`
	req, _ := http.NewRequest("POST", e.url+"/webhooks/whatsapp", strings.NewReader(two))
	req.Header.Set("X-Hub-Signature-256", signFor(two))
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	n, err := e.store.CountConversations(e.ws)
	require.NoError(t, err)
	require.Zero(t, n)
}

// An inbound image is fetched from the Graph API (id → URL → bytes with
// the channel token), stored content-addressed, and served to
// authenticated clients of the workspace.
func TestInboundMediaFetchedAndServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	img := []byte("\xff\xd8\xff\xe0 fake jpeg bytes")
	e.graph.mu.Lock()
	e.graph.media["MEDIA_1"] = img
	e.graph.mu.Unlock()
	payload := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},"contacts":[{"profile":{"name":"P"},"wa_id":"155501"}],"messages":[{"from":"155501","id":"wamid.img1","timestamp":"1750000000","type":"image","image":{"id":"MEDIA_1","mime_type":"image/jpeg","sha256":"","caption":"look"}}]}}]}]}`, phoneID)
	code, body := e.webhook(engine.ChannelWhatsApp, payload)
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "155501")
	var key string
	eventually(t, 5*time.Second, func() error {
		m := e.messages(conv)[0]
		if m.Media == nil || m.Media.StorageKey == "" {
			return errors.New("media not attached yet")
		}
		key = m.Media.StorageKey
		return nil
	})
	require.Equal(t, "look", e.messages(conv)[0].Media.Caption)
	for _, r := range e.graph.requests("/MEDIA_1") {
		require.Equal(t, "Bearer tok-"+phoneID, r.Auth)
	}
	digest := key[strings.Index(key, "/")+1:]
	code, got := e.api("GET", "/api/v1/media/"+digest, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, img, got)
	code, _ = e.api("GET", "/api/v1/media/"+digest, "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = e.api("GET", "/api/v1/media/../../etc/passwd", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// A human reply goes out through the WhatsApp Cloud API; statuses move
// its ticks forward only, including a status that arrives before the send
// call returned the message id.
func TestOutboundStatusesIncludingBeforeSendReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	code, _ := e.webhook(engine.ChannelWhatsApp, waText("wamid.in.1", "15550002", "C", "hi"))
	require.Equal(t, http.StatusOK, code)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550002")

	e.graph.mu.Lock()
	e.graph.hold = make(chan struct{})
	hold := e.graph.hold
	e.graph.mu.Unlock()
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "Hello from a human"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var sent engine.Message
	require.NoError(t, json.Unmarshal(body, &sent))
	require.Equal(t, engine.StatusSending, sent.Status)
	require.Equal(t, engine.ModeManual, e.conv(conv).Mode, "a human reply takes over")

	// The send call is in flight; Meta already reports read, then a late
	// delivered. The id the send will return is wamid.out.<n>.
	eventually(t, 5*time.Second, func() error {
		if len(e.graph.requests("/messages")) == 0 {
			return errors.New("send not called yet")
		}
		return nil
	})
	wamid := fmt.Sprintf("wamid.out.%d", e.graph.n)
	code, _ = e.webhook(engine.ChannelWhatsApp, waStatus(wamid, "read", 1750000100, ""))
	require.Equal(t, http.StatusOK, code)
	code, _ = e.webhook(engine.ChannelWhatsApp, waStatus(wamid, "delivered", 1750000050, ""))
	require.Equal(t, http.StatusOK, code)
	close(hold)
	eventually(t, 5*time.Second, func() error {
		m := e.messages(conv)[0]
		if m.Status != engine.StatusRead || m.ChannelMessageID != wamid {
			return fmt.Errorf("status %s id %q", m.Status, m.ChannelMessageID)
		}
		return nil
	})
	req := e.graph.requests("/" + phoneID + "/messages")[0]
	require.Equal(t, "Bearer tok-"+phoneID, req.Auth)
	var out map[string]any
	require.NoError(t, json.Unmarshal(req.Body, &out))
	require.Equal(t, "15550002", out["to"])
	require.Equal(t, "Hello from a human", out["text"].(map[string]any)["body"])

	// A replayed "sent" after "read" changes nothing.
	code, _ = e.webhook(engine.ChannelWhatsApp, waStatus(wamid, "sent", 1750000000, ""))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, engine.StatusRead, e.messages(conv)[0].Status)
}

// A permanent Graph error fails the message with its code and a readable
// reason; retrying really sends it again.
func TestPermanentSendErrorAndRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.in.2", "15550003", "C", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550003")
	e.graph.mu.Lock()
	e.graph.send = func(graphReq) (int, string) {
		return http.StatusBadRequest, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"AbC"}}`
	}
	e.graph.mu.Unlock()
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "late"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var m engine.Message
	require.NoError(t, json.Unmarshal(body, &m))
	eventually(t, 5*time.Second, func() error {
		if s := e.messages(conv)[0].Status; s != engine.StatusFailed {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	failed := e.messages(conv)[0]
	require.Equal(t, "131047", failed.ErrorCode)
	require.NotEmpty(t, failed.ErrorReason)
	require.Len(t, e.graph.requests("/messages"), 1, "a permanent error is not retried automatically")

	e.graph.mu.Lock()
	e.graph.send = nil
	e.graph.mu.Unlock()
	code, body = e.api("POST", fmt.Sprintf("/api/v1/conversations/%s/messages/%d/retry", conv, m.Seq), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if s := e.messages(conv)[0].Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	require.Len(t, e.graph.requests("/messages"), 2)
	code, body = e.api("POST", fmt.Sprintf("/api/v1/conversations/%s/messages/%d/retry", conv, m.Seq), ownerToken, nil)
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "not_failed", errorCode(t, body))
}

// 5xx answers are retried; a slow Graph API is cut off by the send
// timeout and retried; after the attempts run out the message fails.
func TestTransientSendErrorsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *actors.Config) { c.SendAttempts = 3; c.SendTimeout = 300 * time.Millisecond })
	e.webhook(engine.ChannelWhatsApp, waText("wamid.in.3", "15550004", "C", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550004")
	calls := 0
	e.graph.mu.Lock()
	e.graph.send = func(graphReq) (int, string) {
		calls++
		if calls == 1 {
			return http.StatusBadGateway, `<html>bad gateway</html>`
		}
		return 0, ""
	}
	e.graph.mu.Unlock()
	code, _ := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "one"})
	require.Equal(t, http.StatusCreated, code)
	eventually(t, 10*time.Second, func() error {
		if s := e.messages(conv)[0].Status; s != engine.StatusSent {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	// Now the API hangs: every attempt times out, then the message fails.
	e.graph.mu.Lock()
	e.graph.hold = make(chan struct{})
	e.graph.send = nil
	e.graph.mu.Unlock()
	code, _ = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "two"})
	require.Equal(t, http.StatusCreated, code)
	eventually(t, 15*time.Second, func() error {
		if s := e.messages(conv)[0].Status; s != engine.StatusFailed {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	e.graph.mu.Lock()
	close(e.graph.hold)
	e.graph.hold = nil
	e.graph.mu.Unlock()
}

// An echo of a message the business sent from the Messenger app is
// stored as an outbound human message, not re-sent, and takes the
// conversation over.
func TestEchoTakesOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := `{"object":"page","entry":[{"id":"` + pageID + `","time":1750000000000,"messaging":[{"sender":{"id":"PSID_1"},"recipient":{"id":"` + pageID + `"},"timestamp":1750000000000,"message":{"mid":"m_in_1","text":"Hi page"}}]}]}`
	code, body := e.webhook(engine.ChannelMessenger, in)
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelMessenger, pageID, "PSID_1")
	require.Equal(t, engine.ModeAI, e.conv(conv).Mode)
	echo := `{"object":"page","entry":[{"id":"` + pageID + `","time":1750000001000,"messaging":[{"sender":{"id":"` + pageID + `"},"recipient":{"id":"PSID_1"},"timestamp":1750000001000,"message":{"mid":"m_echo_1","is_echo":true,"app_id":123,"text":"Answered from the Page inbox"}}]}]}`
	code, body = e.webhook(engine.ChannelMessenger, echo)
	require.Equal(t, http.StatusOK, code, string(body))
	c := e.conv(conv)
	require.Equal(t, engine.ModeManual, c.Mode)
	require.False(t, c.AIResumesAt.IsZero())
	m := e.messages(conv)[0]
	require.Equal(t, engine.DirOut, m.Direction)
	require.Equal(t, engine.SenderHuman, m.Sender.Kind)
	require.Equal(t, engine.StatusSent, m.Status)
	require.Empty(t, e.graph.requests("/messages"), "an echo is never re-sent")
	// Messenger watermarks: read.
	read := `{"object":"page","entry":[{"id":"` + pageID + `","time":1750000002000,"messaging":[{"sender":{"id":"PSID_1"},"recipient":{"id":"` + pageID + `"},"timestamp":1750000002000,"read":{"watermark":1750000001500}}]}]}`
	code, _ = e.webhook(engine.ChannelMessenger, read)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, engine.StatusRead, e.messages(conv)[0].Status)
}

func TestOutsideWindowRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.in.w", "15550009", "C", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550009")
	code, _ := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "ok"})
	require.Equal(t, http.StatusCreated, code)
	// The rule itself is the engine's; here we check the API's answer for
	// a conversation whose window is closed, reached through the clock.
	e.stop()
	e.clock = clockworkAt(time.Now().Add(25 * time.Hour))
	e.start()
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]string{"text": "too late"})
	require.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	require.Equal(t, "outside_window", errorCode(t, body))
}
