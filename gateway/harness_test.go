package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

const (
	appSecret   = "test-app-secret"
	verifyToken = "test-verify-token"
	ownerToken  = "pk_test_owner_token"
	phoneID     = "106540352242922"
	pageID      = "PAGE_1"
	igID        = "IG_1"
)

// fakeGraph plays Meta's Graph API: it records requests and answers with
// what the test set, in the documented formats.
type fakeGraph struct {
	srv *httptest.Server
	mu  sync.Mutex
	// reqs are the recorded requests: method, path, body.
	reqs []graphReq
	// send answers a send call; nil means success with a fresh id.
	send func(r graphReq) (status int, body string)
	// media maps a WhatsApp media id to its bytes.
	media map[string][]byte
	n     int
	// hold, if set, blocks send responses until closed; downloadHold
	// blocks media downloads the same way.
	hold, downloadHold chan struct{}
	// profile answers a user profile call (GET /{v}/{user id}?fields=);
	// nil answers the id alone (a profile with no name).
	profile func(r graphReq) (status int, body string)
	// other, if set, answers first any request it takes (ok true); the
	// template tests play the Business Management API with it.
	other func(r graphReq) (status int, body string, ok bool)
}

type graphReq struct {
	Method, Path, Auth, ContentType string
	Body                            []byte
	Query                           string
}

func newFakeGraph(t *testing.T) *fakeGraph {
	g := &fakeGraph{media: map[string][]byte{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := graphReq{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body, r.URL.RawQuery}
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	g.n++
	n := g.n
	send, hold, profile, other := g.send, g.hold, g.profile, g.other
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if other != nil {
		if status, b, ok := other(req); ok {
			w.WriteHeader(status)
			io.WriteString(w, b)
			return
		}
	}
	switch {
	case r.URL.Query().Has("fields"):
		status, b := http.StatusOK, `{"id":"`+r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]+`"}`
		if profile != nil {
			status, b = profile(req)
		}
		w.WriteHeader(status)
		io.WriteString(w, b)
	case strings.HasSuffix(r.URL.Path, "/messages"):
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if send != nil {
			if status, b := send(req); status != 0 {
				w.WriteHeader(status)
				io.WriteString(w, b)
				return
			}
		}
		if strings.Contains(r.URL.Path, phoneID) {
			fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":"wamid.out.%d"}]}`, n)
		} else {
			fmt.Fprintf(w, `{"recipient_id":"x","message_id":"m_out_%d"}`, n)
		}
	case strings.HasSuffix(r.URL.Path, "/media"):
		fmt.Fprintf(w, `{"id":"uploaded-%d"}`, n)
	case strings.HasPrefix(r.URL.Path, "/download/"):
		g.mu.Lock()
		data, downloadHold := g.media[strings.TrimPrefix(r.URL.Path, "/download/")], g.downloadHold
		g.mu.Unlock()
		if downloadHold != nil {
			select {
			case <-downloadHold:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(data)
	default: // media info: /{v}/{media-id}
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		g.mu.Lock()
		data, ok := g.media[id]
		g.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"Unsupported get request","type":"GraphMethodException","code":100}}`)
			return
		}
		fmt.Fprintf(w, `{"url":"%s/download/%s","mime_type":"image/jpeg","file_size":%d,"id":"%s","messaging_product":"whatsapp"}`, g.srv.URL, id, len(data), id)
	}
}

func (g *fakeGraph) requests(suffix string) []graphReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []graphReq
	for _, r := range g.reqs {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// env is a whole Parley on 127.0.0.1: store, runtime, gateway, with a
// fake Graph API.
type env struct {
	t      *testing.T
	dir    string
	url    string
	graph  *fakeGraph
	store  *persistence.Store
	rt     *actors.Runtime
	gw     *gateway.Server
	media  *media.Store
	clock  clockwork.Clock
	ws     engine.ID
	client *http.Client
	tweak  func(*actors.Config)
	// gwTweak, if set, changes the gateway's configuration.
	gwTweak func(*gateway.Config)
	// mediaMax is the media store's file limit (zero: 1 MiB); emailTLS
	// is what the sender trusts of SMTP submission servers.
	mediaMax int64
	emailTLS *tls.Config
}

func newEnv(t *testing.T, tweak func(*actors.Config)) *env {
	t.Helper()
	return newEnvWith(t, tweak, nil)
}

// newEnvWith is newEnv with the gateway's configuration changed by
// gwTweak too.
func newEnvWith(t *testing.T, tweak func(*actors.Config), gwTweak func(*gateway.Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), graph: newFakeGraph(t), clock: clockwork.NewRealClock(), client: &http.Client{Timeout: 30 * time.Second},
		tweak: tweak, gwTweak: gwTweak}
	e.start()
	t.Cleanup(e.stop)
	e.connect(engine.ChannelWhatsApp, phoneID)
	e.connect(engine.ChannelMessenger, pageID)
	e.connect(engine.ChannelInstagram, igID)
	return e
}

func (e *env) start() {
	t := e.t
	t.Helper()
	store, err := persistence.Open(persistence.Options{Dir: e.dir + "/db"})
	require.NoError(t, err)
	_, err = gateway.Bootstrap(store, ownerToken, time.Now())
	require.NoError(t, err)
	tok, err := store.TokenBySecret(ownerToken)
	require.NoError(t, err)
	e.ws = tok.WorkspaceID
	graph := meta.NewClient(meta.ClientConfig{BaseURL: e.graph.srv.URL, InstagramBaseURL: e.graph.srv.URL})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.url = "http://" + ln.Addr().String()
	mediaMax := e.mediaMax
	if mediaMax == 0 {
		mediaMax = 1 << 20
	}
	mediaStore, err := media.NewStore(e.dir+"/media", mediaMax)
	require.NoError(t, err)
	mediaStore.SetPublicURL(e.url)
	accounts, err := gateway.NewAccounts(store)
	require.NoError(t, err)
	cfg := actors.Config{Store: store, Clock: e.clock, Sender: channels.NewSender(accounts, graph, mediaStore).WithMessages(store).WithEmailTLS(e.emailTLS), SendAttempts: 2}
	if e.tweak != nil {
		e.tweak(&cfg)
	}
	rt, err := actors.New(cfg)
	require.NoError(t, err)
	require.NoError(t, rt.Start())
	registry, _ := cfg.Agents.(*agents.Registry) // a test that wires the registry into the runtime
	gcfg := gateway.Config{Runtime: rt, Store: store, Accounts: accounts, Graph: graph, Media: mediaStore,
		AppSecret: appSecret, VerifyToken: verifyToken, BodyLimit: 256 << 10, Agents: registry,
		// Health checks on demand only: most tests count the Graph calls
		// and the events (health_test.go turns them on).
		ChannelHealthInterval: -1, EmailTLS: e.emailTLS}
	if e.gwTweak != nil {
		e.gwTweak(&gcfg)
	}
	gw, err := gateway.New(gcfg)
	require.NoError(t, err)
	gw.Start() // before Serve: a fake clock advanced from now on moves the media sweep
	go func() { _ = gw.Serve(ln) }()
	e.store, e.rt, e.gw, e.media = store, rt, gw, mediaStore
}

func (e *env) stop() {
	if e.gw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.gw.Shutdown(ctx))
	require.NoError(e.t, e.rt.Shutdown(ctx))
	require.NoError(e.t, e.store.Close())
	e.gw = nil
}

func (e *env) connect(ch engine.Channel, id string) {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{
		"channel": ch, "account_id": id, "name": string(ch) + " test", "access_token": "tok-" + id})
	require.Equal(e.t, http.StatusCreated, code, string(body))
}

// api calls the REST API with a JSON body (or none) and returns the status
// and body.
func (e *env) api(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
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
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, []byte) {
	e.t.Helper()
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

// webhook posts a signed webhook payload.
func (e *env) webhook(ch engine.Channel, payload string) (int, []byte) {
	e.t.Helper()
	return e.webhookSigned(ch, payload, meta.Sign([]byte(payload), []byte(appSecret)))
}

func (e *env) webhookSigned(ch engine.Channel, payload, sig string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url+"/webhooks/"+string(ch), strings.NewReader(payload))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	return e.do(req)
}

func (e *env) upload(path, field, filename, mimeType string, data []byte, fields map[string]string) (int, []byte) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename)}
	h["Content-Type"] = []string{mimeType}
	pw, err := mw.CreatePart(h)
	require.NoError(e.t, err)
	pw.Write(data)
	for k, v := range fields {
		require.NoError(e.t, mw.WriteField(k, v))
	}
	require.NoError(e.t, mw.Close())
	req, err := http.NewRequest("POST", e.url+path, &buf)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return e.do(req)
}

func (e *env) thread(ch engine.Channel, account, user string) engine.ID {
	e.t.Helper()
	th, ok, err := e.store.LookupThread(e.ws, account, user)
	require.NoError(e.t, err)
	require.True(e.t, ok, "no conversation for %s/%s", account, user)
	return th.ConversationID
}

func (e *env) messages(conv engine.ID) []engine.Message {
	e.t.Helper()
	ms, err := e.store.Messages(e.ws, conv, 0, 1000)
	require.NoError(e.t, err)
	return ms
}

func (e *env) conv(id engine.ID) engine.Conversation {
	e.t.Helper()
	c, err := e.store.Conversation(e.ws, id)
	require.NoError(e.t, err)
	return c
}

type searchResp struct {
	Hits []struct {
		Conversation engine.Conversation `json:"conversation"`
		Field        string              `json:"field"`
		Seq          uint64              `json:"seq"`
		Snippet      string              `json:"snippet"`
	} `json:"hits"`
	NextCursor string `json:"next_cursor"`
}

// search runs GET /api/v1/search?q=q with token.
func (e *env) search(token, q string) searchResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/search?q="+url.QueryEscape(q), token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var r searchResp
	require.NoError(e.t, json.Unmarshal(body, &r))
	return r
}

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	require.NotEmpty(t, v.Error.Message, string(body))
	return v.Error.Code
}

// waText is a WhatsApp text message webhook from user wa to our number.
func waText(wamid, wa, name, text string) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"contacts":[{"profile":{"name":%q},"wa_id":"%s"}],"messages":[{"from":"%s","id":"%s","timestamp":"1750000000","type":"text","text":{"body":%q}}]}}]}]}`,
		phoneID, name, wa, wa, wamid, text)
}

func waStatus(wamid, status string, ts int64, errJSON string) string {
	errs := ""
	if errJSON != "" {
		errs = `,"errors":[` + errJSON + `]`
	}
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"statuses":[{"id":"%s","status":"%s","timestamp":"%d","recipient_id":"15557654321"%s}]}}]}]}`,
		phoneID, wamid, status, ts, errs)
}
