package channels_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/stretchr/testify/require"
)

// accountMap is a channels.Accounts over a map.
type accountMap map[string]engine.ChannelAccount

func (a accountMap) Get(ch engine.Channel, id string) (engine.ChannelAccount, bool) {
	acct, ok := a[string(ch)+"/"+id]
	return acct, ok
}

// graphServer plays the Graph send APIs in their documented formats and
// records the paths asked.
type graphServer struct {
	mu    sync.Mutex
	paths []string
	auths []string
}

func (g *graphServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	g.mu.Lock()
	g.paths = append(g.paths, r.URL.Path)
	g.auths = append(g.auths, r.Header.Get("Authorization"))
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/media"):
		io.WriteString(w, `{"id":"media-1"}`)
	case strings.Contains(r.URL.Path, "/PHONE/"):
		io.WriteString(w, `{"messaging_product":"whatsapp","contacts":[{"input":"15557654321","wa_id":"15557654321"}],"messages":[{"id":"wamid.OUT"}]}`)
	default:
		io.WriteString(w, `{"recipient_id":"x","message_id":"m_OUT"}`)
	}
}

func (g *graphServer) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.paths...)
}

func senderEnv(t *testing.T) (*channels.Sender, *graphServer, *media.Store, engine.ID) {
	t.Helper()
	g := &graphServer{}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	store, err := media.NewStore(t.TempDir(), 1<<20)
	require.NoError(t, err)
	ws := engine.NewID(time.Now())
	accounts := accountMap{
		"whatsapp/PHONE": {WorkspaceID: ws, Channel: engine.ChannelWhatsApp, AccountID: "PHONE", AccessToken: "tok-phone"},
		"instagram/IG":   {WorkspaceID: ws, Channel: engine.ChannelInstagram, AccountID: "IG", AccessToken: "tok-ig"},
		"email/MAIL":     {WorkspaceID: ws, Channel: engine.ChannelEmail, AccountID: "MAIL"},
		"sms/SMS":        {WorkspaceID: ws, Channel: engine.Channel("sms"), AccountID: "SMS"},
	}
	graph := meta.NewClient(meta.ClientConfig{BaseURL: srv.URL, InstagramBaseURL: srv.URL})
	return channels.NewSender(accounts, graph, store), g, store, ws
}

func outbound(ws engine.ID, ch engine.Channel, account string, content engine.Content) ports.Outbound {
	return ports.Outbound{
		Conversation: engine.Conversation{ID: engine.NewID(time.Now()), WorkspaceID: ws, Channel: ch, ChannelAccountID: account, ExternalUserID: "15557654321"},
		Message:      engine.Message{ID: engine.NewID(time.Now()), Content: content},
	}
}

// TestSenderDispatchesByChannel: a WhatsApp file is uploaded, then sent
// by its media id with the account's token; the channel's message id
// comes back.
func TestSenderDispatchesByChannel(t *testing.T) {
	t.Parallel()
	s, g, store, ws := senderEnv(t)
	key, digest, size, err := store.Put(ws, "image/png", strings.NewReader("png"))
	require.NoError(t, err)
	store.Unpin(ws, digest)
	content := engine.Content{Kind: engine.KindImage, Media: &engine.Media{StorageKey: key, SHA256: digest, Size: size, MimeType: "image/png"}}
	id, err := s.Send(context.Background(), outbound(ws, engine.ChannelWhatsApp, "PHONE", content))
	require.NoError(t, err)
	require.Equal(t, "wamid.OUT", id)
	paths := g.seen()
	require.Len(t, paths, 2, "%v", paths)
	require.True(t, strings.HasSuffix(paths[0], "/PHONE/media"), paths[0])
	require.True(t, strings.HasSuffix(paths[1], "/PHONE/messages"), paths[1])
	require.Equal(t, []string{"Bearer tok-phone", "Bearer tok-phone"}, g.auths)
}

// TestSenderRefusals: an account not connected, or connected to another
// workspace, a channel with no send API and an Instagram file with no
// public URL fail with the courier's permanent send errors and call
// nothing.
func TestSenderRefusals(t *testing.T) {
	t.Parallel()
	s, g, store, ws := senderEnv(t)
	key, digest, _, err := store.Put(ws, "image/png", strings.NewReader("png"))
	require.NoError(t, err)
	store.Unpin(ws, digest)
	text := engine.Content{Kind: engine.KindText, Text: "hi"}
	image := engine.Content{Kind: engine.KindImage, Media: &engine.Media{StorageKey: key, SHA256: digest, MimeType: "image/png"}}
	for _, tc := range []struct {
		name string
		o    ports.Outbound
		code string
	}{
		{"unknown account", outbound(ws, engine.ChannelWhatsApp, "OTHER", text), "not_connected"},
		{"another workspace", outbound(engine.NewID(time.Now()), engine.ChannelWhatsApp, "PHONE", text), "not_connected"},
		{"a channel with no send API", outbound(ws, engine.Channel("sms"), "SMS", text), "unsupported_channel"},
		{"email without a store to thread from", outbound(ws, engine.ChannelEmail, "MAIL", text), "not_configured"},
		{"instagram without a public URL", outbound(ws, engine.ChannelInstagram, "IG", image), "no_public_url"},
	} {
		_, err := s.Send(context.Background(), tc.o)
		var se *ports.SendError
		require.ErrorAs(t, err, &se, tc.name)
		require.Equal(t, tc.code, se.Code, tc.name)
		require.False(t, se.Temporary, tc.name)
	}
	require.Empty(t, g.seen())
}
