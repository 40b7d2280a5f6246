package meta_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// graphCall is one request the fake Graph API received.
type graphCall struct {
	Method      string
	Path        string
	Auth        string
	ContentType string
	Body        []byte
}

// fakeGraph is an httptest server playing the Graph API: it records every
// request and answers with the handler's reply.
type fakeGraph struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []graphCall
}

// newFakeGraph starts a server that records each request and then calls
// reply. The server is closed when the test ends.
func newFakeGraph(t *testing.T, reply http.HandlerFunc) *fakeGraph {
	t.Helper()
	g := &fakeGraph{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.got = append(g.got, graphCall{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		g.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		reply(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// answer replies with a fixed status and JSON body.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func (g *fakeGraph) calls() []graphCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]graphCall(nil), g.got...)
}

// only returns the single request the server received.
func (g *fakeGraph) only(t *testing.T) graphCall {
	t.Helper()
	c := g.calls()
	require.Len(t, c, 1)
	return c[0]
}

// client returns a Client aimed at the fake server; Instagram calls go to
// the /ig prefix so tests can tell the hosts apart.
func (g *fakeGraph) client(mod ...func(*meta.ClientConfig)) *meta.Client {
	cfg := meta.ClientConfig{BaseURL: g.srv.URL, InstagramBaseURL: g.srv.URL + "/ig", HTTP: g.srv.Client()}
	for _, m := range mod {
		m(&cfg)
	}
	return meta.NewClient(cfg)
}

const waSuccess = `{"messaging_product":"whatsapp","contacts":[{"input":"15557654321","wa_id":"15557654321"}],"messages":[{"id":"wamid.HBgLMTU1NTc2NTQzMjEVAgARGBI"}]}`

func TestSendWhatsApp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		content  engine.Content
		callback string
		want     string // JSON body
	}{
		{
			name:     "text reply with callback data",
			content:  engine.Content{Kind: engine.KindText, Text: "Hello <there> & welcome", ReplyTo: "wamid.IN1"},
			callback: "out_01J",
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"text",
				"text":{"body":"Hello <there> & welcome","preview_url":false},
				"context":{"message_id":"wamid.IN1"},"biz_opaque_callback_data":"out_01J"}`,
		},
		{
			name:    "image by uploaded id with caption",
			content: engine.Content{Kind: engine.KindImage, Media: &engine.Media{Ref: "1234567890", URL: "https://cdn.example/x.jpg", Caption: "Our menu"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"image",
				"image":{"id":"1234567890","caption":"Our menu"}}`,
		},
		{
			name:    "video by link, caption from text",
			content: engine.Content{Kind: engine.KindVideo, Text: "Watch", Media: &engine.Media{URL: "https://cdn.example/v.mp4"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"video",
				"video":{"link":"https://cdn.example/v.mp4","caption":"Watch"}}`,
		},
		{
			name:    "document with filename",
			content: engine.Content{Kind: engine.KindDocument, Media: &engine.Media{URL: "https://cdn.example/i.pdf", Filename: "invoice.pdf", Caption: "Invoice"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"document",
				"document":{"link":"https://cdn.example/i.pdf","caption":"Invoice","filename":"invoice.pdf"}}`,
		},
		{
			name:    "audio takes no caption",
			content: engine.Content{Kind: engine.KindAudio, Media: &engine.Media{Ref: "555", Caption: "ignored"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"audio",
				"audio":{"id":"555"}}`,
		},
		{
			name:    "sticker",
			content: engine.Content{Kind: engine.KindSticker, Media: &engine.Media{Ref: "777"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"sticker",
				"sticker":{"id":"777"}}`,
		},
		{
			name:    "reaction",
			content: engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: "wamid.IN2", Emoji: "👍"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"reaction",
				"reaction":{"message_id":"wamid.IN2","emoji":"👍"}}`,
		},
		{
			name:    "reaction removed",
			content: engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: "wamid.IN2"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"reaction",
				"reaction":{"message_id":"wamid.IN2","emoji":""}}`,
		},
		{
			name:    "location",
			content: engine.Content{Kind: engine.KindLocation, Location: &engine.Location{Latitude: 48.8584, Longitude: 2.2945, Name: "Tour Eiffel", Address: "Champ de Mars"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"location",
				"location":{"latitude":48.8584,"longitude":2.2945,"name":"Tour Eiffel","address":"Champ de Mars"}}`,
		},
		{
			name:    "contacts",
			content: engine.Content{Kind: engine.KindContacts, Contacts: []byte(`[{"name":{"formatted_name":"Ann"},"phones":[{"phone":"+1555"}]}]`)},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15557654321","type":"contacts",
				"contacts":[{"name":{"formatted_name":"Ann"},"phones":[{"phone":"+1555"}]}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGraph(t, answer(200, waSuccess))
			id, err := g.client().SendWhatsApp(t.Context(), "106540352242922", "EAAtoken", "15557654321", tc.content, tc.callback)
			require.NoError(t, err)
			require.Equal(t, "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBI", id)
			c := g.only(t)
			require.Equal(t, http.MethodPost, c.Method)
			require.Equal(t, "/v25.0/106540352242922/messages", c.Path)
			require.Equal(t, "Bearer EAAtoken", c.Auth)
			require.Equal(t, "application/json", c.ContentType)
			require.JSONEq(t, tc.want, string(c.Body))
		})
	}
}

func TestSendWhatsAppVersionAndBadSuccess(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(200, `{"messaging_product":"whatsapp","messages":[]}`))
	cl := g.client(func(c *meta.ClientConfig) { c.Version = "v24.0"; c.BaseURL += "/" })
	_, err := cl.SendWhatsApp(t.Context(), "1", "tok", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
	require.ErrorIs(t, err, meta.ErrBadResponse)
	require.Equal(t, "/v24.0/1/messages", g.only(t).Path)
	se := meta.Classify(err)
	require.Equal(t, meta.CodeBadResponse, se.Code)
	require.False(t, se.Temporary)
}

func TestSendUnsupportedContent(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(200, waSuccess))
	cl := g.client()
	ctx := t.Context()
	for name, send := range map[string]func() error{
		"whatsapp empty text": func() error {
			_, err := cl.SendWhatsApp(ctx, "1", "t", "2", engine.Content{Kind: engine.KindText}, "")
			return err
		},
		"whatsapp image without media": func() error {
			_, err := cl.SendWhatsApp(ctx, "1", "t", "2", engine.Content{Kind: engine.KindImage, Media: &engine.Media{Caption: "x"}}, "")
			return err
		},
		"whatsapp interactive": func() error {
			_, err := cl.SendWhatsApp(ctx, "1", "t", "2", engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{Type: "button_reply"}}, "")
			return err
		},
		"whatsapp bad contacts": func() error {
			_, err := cl.SendWhatsApp(ctx, "1", "t", "2", engine.Content{Kind: engine.KindContacts, Contacts: []byte("{")}, "")
			return err
		},
		"messenger location": func() error {
			_, err := cl.SendMessenger(ctx, "1", "t", "2", engine.Content{Kind: engine.KindLocation, Location: &engine.Location{}}, "", nil)
			return err
		},
		"messenger image without url or file": func() error {
			_, err := cl.SendMessenger(ctx, "1", "t", "2", engine.Content{Kind: engine.KindImage, Media: &engine.Media{Ref: "9"}}, "", nil)
			return err
		},
		"instagram reaction without target": func() error {
			_, err := cl.SendInstagram(ctx, "1", "t", "2", engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{Emoji: "❤"}})
			return err
		},
		"instagram system": func() error {
			_, err := cl.SendInstagram(ctx, "1", "t", "2", engine.Content{Kind: engine.KindSystem, Text: "x"})
			return err
		},
	} {
		err := send()
		require.ErrorIs(t, err, meta.ErrUnsupportedContent, name)
		se := meta.Classify(err)
		require.Equal(t, meta.CodeUnsupportedContent, se.Code, name)
		require.False(t, se.Temporary, name)
	}
	require.Empty(t, g.calls(), "no request for content the channel cannot take")
}

// formOf parses a recorded multipart body: fields by name and the one
// file part.
type filePart struct {
	Field, Filename, ContentType string
	Data                         []byte
}

func formOf(t *testing.T, c graphCall) (map[string]string, filePart) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(c.ContentType)
	require.NoError(t, err)
	require.Equal(t, "multipart/form-data", mt)
	mr := multipart.NewReader(bytes.NewReader(c.Body), params["boundary"])
	fields := map[string]string{}
	var file filePart
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(p)
		require.NoError(t, err)
		if p.FileName() != "" {
			require.Empty(t, file.Field, "one file part")
			file = filePart{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), data}
			continue
		}
		fields[p.FormName()] = string(data)
	}
	return fields, file
}

func TestUploadWhatsAppMedia(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(200, `{"id":"1037543291543636"}`))
	id, err := g.client().UploadWhatsAppMedia(t.Context(), "106540352242922", "EAAtoken", `menu "v2".jpg`, "image/jpeg",
		strings.NewReader("\xff\xd8jpegbytes"))
	require.NoError(t, err)
	require.Equal(t, "1037543291543636", id)
	c := g.only(t)
	require.Equal(t, http.MethodPost, c.Method)
	require.Equal(t, "/v25.0/106540352242922/media", c.Path)
	require.Equal(t, "Bearer EAAtoken", c.Auth)
	fields, file := formOf(t, c)
	require.Equal(t, map[string]string{"messaging_product": "whatsapp", "type": "image/jpeg"}, fields)
	require.Equal(t, filePart{"file", `menu "v2".jpg`, "image/jpeg", []byte("\xff\xd8jpegbytes")}, file)
}

func TestUploadTooLarge(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(200, `{"id":"1"}`))
	cl := g.client(func(c *meta.ClientConfig) { c.MaxMediaBytes = 8 })
	_, err := cl.UploadWhatsAppMedia(t.Context(), "1", "t", "a.bin", "application/pdf", strings.NewReader("123456789"))
	require.ErrorIs(t, err, meta.ErrMediaTooLarge)
	_, err = cl.SendMessenger(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindImage}, "", strings.NewReader("123456789"))
	require.ErrorIs(t, err, meta.ErrMediaTooLarge)
	require.Equal(t, meta.CodeMediaTooLarge, meta.Classify(err).Code)
	require.Empty(t, g.calls())

	id, err := cl.UploadWhatsAppMedia(t.Context(), "1", "t", "a.bin", "application/pdf", strings.NewReader("12345678"))
	require.NoError(t, err, "exactly the limit is fine")
	require.Equal(t, "1", id)
}

const msgrSuccess = `{"recipient_id":"1254477777772919","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"}`

func TestSendMessenger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		content  engine.Content
		metadata string
		want     string
	}{
		{
			name:     "text with metadata",
			content:  engine.Content{Kind: engine.KindText, Text: "Hi! How can we help?"},
			metadata: "out_01J",
			want: `{"recipient":{"id":"1254477777772919"},"messaging_type":"RESPONSE",
				"message":{"text":"Hi! How can we help?","metadata":"out_01J"}}`,
		},
		{
			name:    "image by url",
			content: engine.Content{Kind: engine.KindImage, Media: &engine.Media{URL: "https://cdn.example/shirt.png"}},
			want: `{"recipient":{"id":"1254477777772919"},"messaging_type":"RESPONSE",
				"message":{"attachment":{"type":"image","payload":{"url":"https://cdn.example/shirt.png","is_reusable":true}}}}`,
		},
		{
			name:    "document is a file",
			content: engine.Content{Kind: engine.KindDocument, Media: &engine.Media{URL: "https://cdn.example/i.pdf"}},
			want: `{"recipient":{"id":"1254477777772919"},"messaging_type":"RESPONSE",
				"message":{"attachment":{"type":"file","payload":{"url":"https://cdn.example/i.pdf","is_reusable":true}}}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGraph(t, answer(200, msgrSuccess))
			id, err := g.client().SendMessenger(t.Context(), "107021112020233", "EAApage", "1254477777772919", tc.content, tc.metadata, nil)
			require.NoError(t, err)
			require.Equal(t, "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", id)
			c := g.only(t)
			require.Equal(t, http.MethodPost, c.Method)
			require.Equal(t, "/v25.0/107021112020233/messages", c.Path)
			require.Equal(t, "Bearer EAApage", c.Auth)
			require.Equal(t, "application/json", c.ContentType)
			require.JSONEq(t, tc.want, string(c.Body))
		})
	}
}

func TestSendMessengerUpload(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(200, msgrSuccess))
	content := engine.Content{Kind: engine.KindAudio, Media: &engine.Media{Filename: "note.mp4", MimeType: "audio/mp4"}}
	id, err := g.client().SendMessenger(t.Context(), "107021112020233", "EAApage", "1254477777772919", content, "out_7",
		strings.NewReader("audio-bytes"))
	require.NoError(t, err)
	require.Equal(t, "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", id)
	c := g.only(t)
	require.Equal(t, "/v25.0/107021112020233/messages", c.Path)
	require.Equal(t, "Bearer EAApage", c.Auth)
	fields, file := formOf(t, c)
	require.JSONEq(t, `{"id":"1254477777772919"}`, fields["recipient"])
	require.JSONEq(t, `{"attachment":{"type":"audio","payload":{"is_reusable":true}},"metadata":"out_7"}`, fields["message"])
	require.Equal(t, "RESPONSE", fields["messaging_type"])
	require.Equal(t, filePart{"filedata", "note.mp4", "audio/mp4", []byte("audio-bytes")}, file)
}

func TestSendInstagram(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		content engine.Content
		answer  string
		want    string
		wantID  string
	}{
		{
			name:    "text",
			content: engine.Content{Kind: engine.KindText, Text: "Thanks for writing!"},
			answer:  `{"recipient_id":"526401693245633","message_id":"aWdfZAG1faWQ"}`,
			want:    `{"recipient":{"id":"526401693245633"},"message":{"text":"Thanks for writing!"}}`,
			wantID:  "aWdfZAG1faWQ",
		},
		{
			name:    "video by url",
			content: engine.Content{Kind: engine.KindVideo, Media: &engine.Media{URL: "https://cdn.example/clip.mp4"}},
			answer:  `{"recipient_id":"526401693245633","message_id":"aWdfZAG2"}`,
			want:    `{"recipient":{"id":"526401693245633"},"message":{"attachment":{"type":"video","payload":{"url":"https://cdn.example/clip.mp4"}}}}`,
			wantID:  "aWdfZAG2",
		},
		{
			name:    "react",
			content: engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: "aWdfIN", Emoji: "❤️"}},
			answer:  `{"recipient_id":"526401693245633"}`,
			want:    `{"recipient":{"id":"526401693245633"},"sender_action":"react","payload":{"message_id":"aWdfIN","reaction":"love"}}`,
			wantID:  "reaction:aWdfIN",
		},
		{
			name:    "unreact",
			content: engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: "aWdfIN"}},
			answer:  `{"recipient_id":"526401693245633"}`,
			want:    `{"recipient":{"id":"526401693245633"},"sender_action":"unreact","payload":{"message_id":"aWdfIN"}}`,
			wantID:  "reaction:aWdfIN",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGraph(t, answer(200, tc.answer))
			id, err := g.client().SendInstagram(t.Context(), "17841405822304914", "IGQtoken", "526401693245633", tc.content)
			require.NoError(t, err)
			require.Equal(t, tc.wantID, id)
			c := g.only(t)
			require.Equal(t, http.MethodPost, c.Method)
			require.Equal(t, "/ig/v25.0/17841405822304914/messages", c.Path, "Instagram Login host")
			require.Equal(t, "Bearer IGQtoken", c.Auth)
			require.JSONEq(t, tc.want, string(c.Body))
		})
	}
}

func TestSendInstagramNoMessageID(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(200, `{"recipient_id":"1"}`))
	_, err := g.client().SendInstagram(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "x"})
	require.ErrorIs(t, err, meta.ErrBadResponse)
}

// mediaServer plays WhatsApp's two-step media download: GET
// /v25.0/{media-id} returns the metadata, GET /files/{name} the bytes.
func mediaServer(t *testing.T, data []byte, info func(url string) string, file http.HandlerFunc) *fakeGraph {
	t.Helper()
	var g *fakeGraph
	g = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v25.0/1037543291543636":
			answer(200, info(g.srv.URL+"/files/whatsapp_media?mid=1037543291543636&ext=1"))(w, r)
		case r.URL.Path == "/files/whatsapp_media" && file != nil:
			file(w, r)
		case r.URL.Path == "/files/whatsapp_media":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(data)
		default:
			http.NotFound(w, r)
		}
	})
	return g
}

func TestFetchWhatsAppMedia(t *testing.T) {
	t.Parallel()
	data := []byte("\xff\xd8\xff\xe0 a small jpeg!!!")
	sum := sha256.Sum256(data)
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	hexSum := hex.EncodeToString(sum[:])
	badSum := sha256.Sum256([]byte("something else"))
	infoJSON := func(sha string, size string) func(string) string {
		return func(u string) string {
			return `{"messaging_product":"whatsapp","url":"` + u + `","mime_type":"image/jpeg","sha256":"` + sha +
				`","file_size":` + size + `,"id":"1037543291543636"}`
		}
	}
	size := "20"
	require.Len(t, data, 20)

	for _, tc := range []struct {
		name    string
		info    func(string) string
		wantErr error
	}{
		{name: "base64 checksum", info: infoJSON(b64, size)},
		{name: "hex checksum, size as string", info: infoJSON(hexSum, `"20"`)},
		{name: "no checksum", info: infoJSON("", "0")},
		{name: "bad checksum", info: infoJSON(base64.StdEncoding.EncodeToString(badSum[:]), size), wantErr: meta.ErrMediaChecksum},
		{name: "unreadable checksum", info: infoJSON("not-a-digest", size), wantErr: meta.ErrMediaChecksum},
		{name: "size mismatch", info: infoJSON(b64, "21"), wantErr: meta.ErrMediaChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := mediaServer(t, data, tc.info, nil)
			m, err := g.client().FetchWhatsAppMedia(t.Context(), "1037543291543636", "EAAtoken")
			calls := g.calls()
			require.Len(t, calls, 2)
			for _, c := range calls {
				require.Equal(t, http.MethodGet, c.Method)
				require.Equal(t, "Bearer EAAtoken", c.Auth, c.Path)
			}
			require.Equal(t, "/v25.0/1037543291543636", calls[0].Path)
			require.Equal(t, "/files/whatsapp_media", calls[1].Path)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, meta.Media{Data: data, MimeType: "image/jpeg", SHA256: hexSum, Size: 20}, m)
		})
	}
}

func TestFetchWhatsAppMediaTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 1 << 10
	t.Run("declared", func(t *testing.T) {
		t.Parallel()
		g := mediaServer(t, nil, func(u string) string {
			return `{"url":"` + u + `","mime_type":"video/mp4","file_size":2048,"id":"1037543291543636"}`
		}, nil)
		_, err := g.client(func(c *meta.ClientConfig) { c.MaxMediaBytes = limit }).FetchWhatsAppMedia(t.Context(), "1037543291543636", "t")
		require.ErrorIs(t, err, meta.ErrMediaTooLarge)
		require.Len(t, g.calls(), 1, "no download of a file declared too large")
	})
	t.Run("streamed", func(t *testing.T) {
		t.Parallel()
		// The metadata says nothing about the size and the file is
		// streamed without a length, for as long as anyone reads it: the
		// client must stop reading past the limit.
		g := mediaServer(t, nil, func(u string) string { return `{"url":"` + u + `","id":"1037543291543636"}` },
			func(w http.ResponseWriter, r *http.Request) {
				chunk := bytes.Repeat([]byte{'x'}, 32<<10)
				for range 1 << 15 { // up to 1 GiB
					if _, err := w.Write(chunk); err != nil || r.Context().Err() != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			})
		_, err := g.client(func(c *meta.ClientConfig) { c.MaxMediaBytes = limit }).FetchWhatsAppMedia(t.Context(), "1037543291543636", "t")
		require.ErrorIs(t, err, meta.ErrMediaTooLarge)
	})
	t.Run("content length", func(t *testing.T) {
		t.Parallel()
		g := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte{'x'}, limit+1))
		})
		_, err := g.client(func(c *meta.ClientConfig) { c.MaxMediaBytes = limit }).Download(t.Context(), g.srv.URL+"/f", "")
		require.ErrorIs(t, err, meta.ErrMediaTooLarge)
	})
}

func TestFetchWhatsAppMediaErrors(t *testing.T) {
	t.Parallel()
	t.Run("file 404", func(t *testing.T) {
		t.Parallel()
		g := mediaServer(t, nil, func(u string) string { return `{"url":"` + u + `","id":"1037543291543636"}` },
			func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
		_, err := g.client().FetchWhatsAppMedia(t.Context(), "1037543291543636", "t")
		var ge *meta.GraphError
		require.ErrorAs(t, err, &ge)
		require.Equal(t, 404, ge.HTTPStatus)
		require.True(t, ge.NoCode)
		se := meta.Classify(err)
		require.Equal(t, "http_404", se.Code)
		require.False(t, se.Temporary)
	})
	t.Run("unknown media id", func(t *testing.T) {
		t.Parallel()
		g := newFakeGraph(t, answer(400, `{"error":{"message":"Unsupported get request. Object with ID '42' does not exist","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AbCdEf"}}`))
		_, err := g.client().FetchWhatsAppMedia(t.Context(), "42", "t")
		var ge *meta.GraphError
		require.ErrorAs(t, err, &ge)
		require.Equal(t, 100, ge.Code)
		require.Equal(t, 33, ge.Subcode)
		require.Equal(t, "GraphMethodException", ge.Type)
		require.Equal(t, "/v25.0/42", g.only(t).Path)
	})
	t.Run("no url", func(t *testing.T) {
		t.Parallel()
		g := newFakeGraph(t, answer(200, `{"id":"42"}`))
		_, err := g.client().FetchWhatsAppMedia(t.Context(), "42", "t")
		require.ErrorIs(t, err, meta.ErrBadResponse)
	})
}

func TestDownload(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = io.WriteString(w, "png-bytes")
	})
	cl := g.client()
	m, err := cl.Download(t.Context(), g.srv.URL+"/v/t1.15752-9/photo.png?stp=dst&oh=1", "")
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("png-bytes"))
	require.Equal(t, meta.Media{Data: []byte("png-bytes"), MimeType: "image/png", SHA256: hex.EncodeToString(sum[:]), Size: 9}, m)
	_, err = cl.Download(t.Context(), g.srv.URL+"/x", "pagetoken")
	require.NoError(t, err)
	calls := g.calls()
	require.Empty(t, calls[0].Auth, "no token, no Authorization header")
	require.Equal(t, "Bearer pagetoken", calls[1].Auth)
}

// ---- rate limiting ----

// waitAsync runs f in a goroutine and returns a channel with its result.
func waitAsync(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func requirePending(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Wait returned early: %v", err)
	default:
	}
}

func requireDone(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
		return nil
	}
}

func TestRateLimiterRefillsWithClock(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	l := meta.NewRateLimiter(clock, meta.RateLimits{Messenger: 2, HeavyMedia: 1})
	ctx := t.Context()
	page := meta.LimitKey{Channel: engine.ChannelMessenger, Account: "107021112020233"}

	// The bucket starts full: one second's worth of tokens.
	require.NoError(t, l.Wait(ctx, page, meta.SendStandard))
	require.NoError(t, l.Wait(ctx, page, meta.SendStandard))

	third := waitAsync(func() error { return l.Wait(ctx, page, meta.SendStandard) })
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(499 * time.Millisecond)
	requirePending(t, third)
	clock.Advance(time.Millisecond)
	require.NoError(t, requireDone(t, third))

	// Audio and video draw from their own bucket; another page and another
	// channel are not affected.
	require.NoError(t, l.Wait(ctx, page, meta.SendHeavyMedia))
	heavy := waitAsync(func() error { return l.Wait(ctx, page, meta.SendHeavyMedia) })
	require.NoError(t, l.Wait(ctx, meta.LimitKey{Channel: engine.ChannelMessenger, Account: "other"}, meta.SendStandard))
	require.NoError(t, l.Wait(ctx, meta.LimitKey{Channel: engine.ChannelInstagram, Account: "107021112020233"}, meta.SendHeavyMedia))
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Second)
	require.NoError(t, requireDone(t, heavy))

	// After a long pause the bucket holds at most its burst.
	clock.Advance(time.Hour)
	require.NoError(t, l.Wait(ctx, page, meta.SendStandard))
	require.NoError(t, l.Wait(ctx, page, meta.SendStandard))
	fifth := waitAsync(func() error { return l.Wait(ctx, page, meta.SendStandard) })
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	requirePending(t, fifth)
	clock.Advance(500 * time.Millisecond)
	require.NoError(t, requireDone(t, fifth))
}

func TestRateLimiterWaitCancelled(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	l := meta.NewRateLimiter(clock, meta.RateLimits{WhatsApp: 1})
	key := meta.LimitKey{Channel: engine.ChannelWhatsApp, Account: "106540352242922"}
	require.NoError(t, l.Wait(t.Context(), key, meta.SendStandard))

	ctx, cancel := context.WithCancel(t.Context())
	blocked := waitAsync(func() error { return l.Wait(ctx, key, meta.SendStandard) })
	require.NoError(t, clock.BlockUntilContext(t.Context(), 1))
	cancel()
	require.ErrorIs(t, requireDone(t, blocked), context.Canceled)

	// The cancelled waiter gave its token back: the next one waits one
	// interval, not two.
	next := waitAsync(func() error { return l.Wait(t.Context(), key, meta.SendStandard) })
	require.NoError(t, clock.BlockUntilContext(t.Context(), 1))
	clock.Advance(time.Second)
	require.NoError(t, requireDone(t, next))

	done, stop := context.WithCancel(t.Context())
	stop()
	require.ErrorIs(t, l.Wait(done, key, meta.SendStandard), context.Canceled, "an ended context fails even with no wait")
}

func TestRateLimiterUnlimited(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	l := meta.NewRateLimiter(clock, meta.RateLimits{WhatsApp: -1, PairBurst: -1})
	key := meta.LimitKey{Channel: engine.ChannelWhatsApp, Account: "1"}
	for range 1000 {
		require.NoError(t, l.Wait(t.Context(), key, meta.SendStandard))
		require.NoError(t, l.WaitPair(t.Context(), "1", "2"))
	}
	require.NoError(t, l.Wait(t.Context(), meta.LimitKey{Channel: engine.ChannelWebChat, Account: "1"}, meta.SendStandard))
}

func TestRateLimiterPair(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	l := meta.NewRateLimiter(clock, meta.RateLimits{})
	ctx := t.Context()
	for range meta.DefaultPairBurst {
		require.NoError(t, l.WaitPair(ctx, "106540352242922", "15557654321"))
	}
	next := waitAsync(func() error { return l.WaitPair(ctx, "106540352242922", "15557654321") })
	require.NoError(t, l.WaitPair(ctx, "106540352242922", "15550000000"), "other recipients are unaffected")
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(6*time.Second - time.Millisecond)
	requirePending(t, next)
	clock.Advance(time.Millisecond)
	require.NoError(t, requireDone(t, next))

	// Long after, the recipient's bucket is swept and starts full again.
	clock.Advance(time.Hour)
	for range meta.DefaultPairBurst {
		require.NoError(t, l.WaitPair(ctx, "106540352242922", "15557654321"))
	}
}

func TestClientKeepsToRateLimit(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	g := newFakeGraph(t, answer(200, waSuccess))
	cl := g.client(func(c *meta.ClientConfig) {
		c.Clock = clock
		c.Limits = meta.RateLimits{WhatsApp: 1}
	})
	send := func() error {
		_, err := cl.SendWhatsApp(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
		return err
	}
	require.NoError(t, send())
	second := waitAsync(send)
	require.NoError(t, clock.BlockUntilContext(t.Context(), 1))
	require.Len(t, g.calls(), 1, "the second send waits for a token")
	clock.Advance(time.Second)
	require.NoError(t, requireDone(t, second))
	require.Len(t, g.calls(), 2)

	// A send whose context ends while it waits for a token reports a
	// timeout (the fake clock never moves, so only the deadline ends it).
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := cl.SendWhatsApp(ctx, "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	se := meta.Classify(err)
	require.Equal(t, meta.CodeTimeout, se.Code)
	require.True(t, se.Temporary)
	require.Len(t, g.calls(), 2)
}
