package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// waitStatus waits until the newest message of conv has status want.
func (e *env) waitStatus(conv engine.ID, want engine.DeliveryStatus) engine.Message {
	e.t.Helper()
	var m engine.Message
	eventually(e.t, 5*time.Second, func() error {
		m = e.messages(conv)[0]
		if m.Status != want {
			return fmt.Errorf("status %s, want %s", m.Status, want)
		}
		return nil
	})
	return m
}

func (e *env) fetch(url string) (int, []byte) {
	e.t.Helper()
	resp, err := e.client.Get(url)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

// Instagram takes outbound media only by URL: Parley gives it a signed,
// expiring link to the stored file, then sends the caption as text.
func TestInstagramOutboundMediaByPublicLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ig := fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"IGSID_7"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"ig_mid_7","text":"foto?"}}]}]}`, igID, igID)
	code, body := e.webhook(engine.ChannelInstagram, ig)
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelInstagram, igID, "IGSID_7")
	png := []byte("\x89PNG fake image bytes")
	code, body = e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", "menu.png", "image/png", png, map[string]string{"caption": "Our menu"})
	require.Equal(t, http.StatusCreated, code, string(body))
	e.waitStatus(conv, engine.StatusSent)

	sends := e.graph.requests("/" + igID + "/messages")
	require.Len(t, sends, 2, "the attachment, then its caption")
	var att struct {
		Message struct {
			Attachment struct {
				Type    string `json:"type"`
				Payload struct {
					URL string `json:"url"`
				} `json:"payload"`
			} `json:"attachment"`
			Text string `json:"text"`
		} `json:"message"`
	}
	require.NoError(t, json.Unmarshal(sends[0].Body, &att))
	require.Equal(t, "image", att.Message.Attachment.Type)
	link := att.Message.Attachment.Payload.URL
	require.True(t, strings.HasPrefix(link, e.url+"/public/media/"), link)
	var caption struct {
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	require.NoError(t, json.Unmarshal(sends[1].Body, &caption))
	require.Equal(t, "Our menu", caption.Message.Text)

	// The link serves the file with no token; a forged one does not.
	code, got := e.fetch(link)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, png, got)
	tampered := link[:len(link)-2] + "AA"
	if tampered == link {
		tampered = link[:len(link)-2] + "BB"
	}
	for _, bad := range []string{tampered, e.url + "/public/media/nope", e.url + "/public/media/" + strings.Repeat("A", 80) + ".x"} {
		code, got = e.fetch(bad)
		require.Equal(t, http.StatusNotFound, code, bad)
		require.NotContains(t, string(got), "fake image")
	}
	// Expired links are refused.
	m := e.messages(conv)[0]
	expired, err := e.media.PublicLink(e.ws, m.Media.SHA256, time.Now().Add(-time.Minute))
	require.NoError(t, err)
	code, _ = e.fetch(expired)
	require.Equal(t, http.StatusNotFound, code)

	// Without a public URL the send fails with a clear reason.
	e.media.SetPublicURL("")
	code, body = e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", "menu2.png", "image/png", []byte("other png"), nil)
	require.Equal(t, http.StatusCreated, code, string(body))
	failed := e.waitStatus(conv, engine.StatusFailed)
	require.Equal(t, "no_public_url", failed.ErrorCode)
	require.Contains(t, failed.ErrorReason, "PARLEY_PUBLIC_URL")
}

// Messenger attachments carry no caption either: it follows as text.
func TestMessengerCaptionFollowsAttachment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	msgr := fmt.Sprintf(`{"object":"page","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"PSID_4"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"m_4","text":"menu?"}}]}]}`, pageID, pageID)
	code, body := e.webhook(engine.ChannelMessenger, msgr)
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelMessenger, pageID, "PSID_4")
	code, body = e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", "menu.png", "image/png", []byte("png"), map[string]string{"caption": "Today's menu"})
	require.Equal(t, http.StatusCreated, code, string(body))
	e.waitStatus(conv, engine.StatusSent)
	sends := e.graph.requests("/" + pageID + "/messages")
	require.Len(t, sends, 2)
	require.Contains(t, sends[0].ContentType, "multipart/form-data", "the file is uploaded with the send")
	require.Contains(t, string(sends[1].Body), `"text":"Today's menu"`)
}
