package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// The graceful restart tests drive the real binary: SIGTERM under
// webhook load, with a send in flight, and with WebSocket subscribers,
// then a new process on the same data directory (docs/ARCHITECTURE.md,
// "Shutdown").

// sigterm sends SIGTERM and waits for the process to exit, at most 30 s;
// it returns how long the exit took and the exit error.
func (p *crashProc) sigterm(t *testing.T) (time.Duration, error) {
	t.Helper()
	t0 := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("parley did not exit in 30 s after SIGTERM\n%s", p.log.tail())
	}
	return time.Since(t0), p.err
}

// connectCrashChannel connects the crash tests' WhatsApp number.
func connectCrashChannel(t *testing.T, cl *http.Client, url string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"channel": "whatsapp", "account_id": crashPhoneID, "name": "x", "access_token": crashAccessToken})
	code, resp, err := crashRequest(context.Background(), cl, http.MethodPost, url+"/api/v1/channels", body, apiHeaders())
	require.NoError(t, err)
	require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, code, string(resp))
}

// postDelivery posts a signed delivery and returns the status, the
// Retry-After header and the error code of a refusal.
func postDelivery(ctx context.Context, cl *http.Client, url string, d *crashDelivery) (code int, retryAfter, errCode string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/webhooks/whatsapp", strings.NewReader(string(d.body)))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", d.sig)
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", "", err
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Code, nil
}

// restartLoad plays Meta's webhook senders across a restart: each posts
// new deliveries on a keep-alive connection; a delivery refused (503 with
// Retry-After, or no listener) is retried once the new process serves,
// as Meta retries it later.
type restartLoad struct {
	s *crashState
	// next is closed with url2 set when the new process serves.
	next chan struct{}
	url2 string

	ok200, refused503, refusedConn, resets atomic.Int64
	// draining is set from SIGTERM until the new process serves;
	// okDraining counts the 200s answered meanwhile, drained lists their
	// deliveries (guarded by s.mu).
	draining   atomic.Bool
	okDraining atomic.Int64
	drained    []*crashDelivery
	resetsMu   sync.Mutex
	resetErr   []string
}

func (l *restartLoad) ack(d *crashDelivery) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.isAcked[d] {
		return
	}
	l.s.isAcked[d] = true
	l.s.acked = append(l.s.acked, d)
	delete(l.s.pending, d)
	for _, id := range d.wamids {
		l.s.wamids[id].acked = true
	}
}

func (l *restartLoad) webhooker(ctx context.Context, t *testing.T, cl *http.Client, url string, g int) {
	for n := 0; ctx.Err() == nil; n++ {
		users := []string{crashUser((g*7 + n) % crashUsers)}
		d := waDelivery(0, g, n, users, time.Now())
		l.s.mu.Lock()
		for i, id := range d.wamids {
			l.s.wamids[id] = &crashWamid{user: d.users[i], text: d.texts[i]}
		}
		l.s.mu.Unlock()
		code, retryAfter, errCode, err := postDelivery(ctx, cl, url, d)
		switch {
		case err == nil && code == http.StatusOK:
			l.ok200.Add(1)
			if l.draining.Load() {
				l.okDraining.Add(1)
				l.s.mu.Lock()
				l.drained = append(l.drained, d)
				l.s.mu.Unlock()
			}
			l.ack(d)
			continue
		case err == nil && code == http.StatusServiceUnavailable:
			l.refused503.Add(1)
			if retryAfter == "" || (errCode != "shutting_down" && errCode != "overloaded") {
				t.Errorf("a 503 with Retry-After %q and code %q", retryAfter, errCode)
			}
		case err != nil && errors.Is(err, syscall.ECONNREFUSED):
			l.refusedConn.Add(1) // no listener: nothing was sent
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			l.resets.Add(1)
			l.resetsMu.Lock()
			l.resetErr = append(l.resetErr, fmt.Sprintf("%s (draining %v, at %v)", err, l.draining.Load(), time.Now().Format("15:04:05.000000")))
			l.resetsMu.Unlock()
		default:
			t.Errorf("webhook answered %d", code)
		}
		// Refused: Meta retries later, here once the new process serves.
		l.s.mu.Lock()
		l.s.pending[d] = true
		l.s.mu.Unlock()
		select {
		case <-l.next:
		case <-ctx.Done():
			return
		}
		url = l.url2
		for ctx.Err() == nil {
			code, _, _, err := postDelivery(ctx, cl, url, d)
			if err == nil && code == http.StatusOK {
				l.ack(d)
				break
			}
			time.Sleep(20 * time.Millisecond) // Meta's retry, much sooner
		}
	}
}

// SIGTERM under webhook load: every webhook is either answered 200 (and
// stored, exactly once, after the restart) or refused cleanly (503 with
// Retry-After while draining, or no listener once it closed); none is
// cut off mid-request. /readyz answers 503 from SIGTERM on.
func TestSIGTERMUnderWebhookLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test: slow")
	}
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	graph.faulty.Store(false)
	p := startWithEnv(t, dataDir, graph.srv.URL)
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer cl.CloseIdleConnections()
	connectCrashChannel(t, cl, p.url)

	s := &crashState{wamids: map[string]*crashWamid{}, isAcked: map[*crashDelivery]bool{},
		pending: map[*crashDelivery]bool{}, non200: map[int]int{}}
	l := &restartLoad{s: s, next: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := range crashWebhookers {
		wg.Go(func() { l.webhooker(ctx, t, cl, p.url, g) })
	}
	// /readyz, polled on fresh connections from SIGTERM until the
	// process is gone.
	type probe struct {
		at   time.Duration
		code int
	}
	var probes []probe
	var termAt time.Time
	termed := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		<-termed
		pc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			resp, err := pc.Get(p.url + "/readyz")
			if err != nil {
				return
			}
			resp.Body.Close()
			probes = append(probes, probe{time.Since(termAt), resp.StatusCode})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	waitFor(t, 15*time.Second, func() error {
		if n := l.ok200.Load(); n < 200 {
			return fmt.Errorf("%d webhooks answered", n)
		}
		return nil
	})

	termAt = time.Now()
	t.Logf("SIGTERM at %s", termAt.Format("15:04:05.000000"))
	l.draining.Store(true)
	close(termed)
	drain, err := p.sigterm(t)
	require.NoError(t, err, "a clean exit after SIGTERM\n%s", p.log.tail())
	require.Contains(t, p.log.tail(), `msg="Parley stopped"`)
	<-probed
	require.NotEmpty(t, probes, "/readyz answered nothing after SIGTERM")
	first503 := -1
	for i, pr := range probes {
		if pr.code == http.StatusServiceUnavailable && first503 < 0 {
			first503 = i
		}
		if first503 >= 0 {
			require.Equal(t, http.StatusServiceUnavailable, pr.code, "/readyz went back to %d after 503", pr.code)
		}
	}
	require.GreaterOrEqual(t, first503, 0, "/readyz never answered 503 while draining: %v", probes)

	p2 := startWithEnv(t, dataDir, graph.srv.URL)
	l.url2 = p2.url
	l.draining.Store(false)
	close(l.next)
	waitFor(t, 15*time.Second, func() error { // every refused delivery is retried and answered
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.pending) > 0 {
			return fmt.Errorf("%d refused deliveries not yet answered 200", len(s.pending))
		}
		return nil
	})
	cancel()
	wg.Wait()
	// Meta may deliver again what the draining process answered: the new
	// process acknowledges it and stores nothing twice.
	s.mu.Lock()
	drained := l.drained
	s.mu.Unlock()
	for _, d := range drained {
		code, _, _, err := postDelivery(context.Background(), cl, p2.url, d)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	_, err = p2.sigterm(t)
	require.NoError(t, err, "%s", p2.log.tail())

	require.Zero(t, l.resets.Load(), "webhooks cut off mid-request: %v\n%s", l.resetErr, p.log.tail())
	check := s.checkStore(t, dataDir, "after the restart")
	require.Zero(t, check.duplicates)
	s.mu.Lock()
	acked := len(s.acked)
	s.mu.Unlock()
	t.Logf("drain took %v; /readyz 503 %v after SIGTERM (%d probes); webhooks: %d answered 200 (%d of them after SIGTERM, by the draining process), %d refused with 503, %d found no listener, 0 reset; %d deliveries stored exactly once after the restart (%d inbound messages; the %d answered while draining posted again)",
		drain.Round(time.Millisecond), probes[first503].at.Round(time.Millisecond), len(probes), l.ok200.Load(), l.okDraining.Load(),
		l.refused503.Load(), l.refusedConn.Load(), acked, check.inbound, len(drained))
}

// holdGraph plays the WhatsApp send endpoint and takes hold to answer
// each send; it counts the sends it received per text.
type holdGraph struct {
	srv     *httptest.Server
	hold    atomic.Int64 // nanoseconds
	started chan string
	mu      sync.Mutex
	calls   map[string]int
	ids     map[string]string
	n       atomic.Int64
}

func newHoldGraph(t *testing.T, hold time.Duration) *holdGraph {
	g := &holdGraph{started: make(chan string, 16), calls: map[string]int{}, ids: map[string]string{}}
	g.hold.Store(int64(hold))
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/"+crashPhoneID+"/messages") ||
			json.NewDecoder(r.Body).Decode(&req) != nil {
			graphError(w, http.StatusBadRequest, 100, "Invalid parameter")
			return
		}
		g.mu.Lock()
		g.calls[req.Text.Body]++ // received: whatever follows, Meta has it
		g.mu.Unlock()
		g.started <- req.Text.Body
		select {
		case <-time.After(time.Duration(g.hold.Load())):
		case <-r.Context().Done():
			return
		}
		id := fmt.Sprintf("wamid.held.%d", g.n.Add(1))
		g.mu.Lock()
		g.ids[req.Text.Body] = id
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":%q}]}`, id)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *holdGraph) count(text string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[text]
}

// sendReply has the first conversation of user answered with text over
// the API and returns the conversation and the message's seq.
func sendReply(t *testing.T, cl *http.Client, url, user, text string) (engine.ID, uint64) {
	t.Helper()
	d := waDelivery(0, 0, int(time.Now().UnixNano()%1e9), []string{user}, time.Now())
	code, _, _, err := postDelivery(context.Background(), cl, url, d)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	code, b, err := crashRequest(context.Background(), cl, http.MethodGet, url+"/api/v1/conversations", nil, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, string(b))
	var list struct {
		Conversations []engine.Conversation `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(b, &list))
	var conv engine.ID
	for _, c := range list.Conversations {
		if c.ExternalUserID == user {
			conv = c.ID
		}
	}
	require.NotEqual(t, engine.ZeroID, conv, "no conversation for %s in %s", user, b)
	body, _ := json.Marshal(map[string]string{"text": text})
	code, b, err = crashRequest(context.Background(), cl, http.MethodPost, url+"/api/v1/conversations/"+conv.String()+"/messages", body, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, string(b))
	var m struct {
		Seq uint64 `json:"seq"`
	}
	require.NoError(t, json.Unmarshal(b, &m))
	require.NotZero(t, m.Seq, string(b))
	return conv, m.Seq
}

// storedMessage opens the stopped process's store and returns a message
// and how many outbox entries are left.
func storedMessage(t *testing.T, dataDir string, conv engine.ID, seq uint64) (engine.Message, int) {
	t.Helper()
	st, err := persistence.Open(persistence.Options{Dir: filepath.Join(dataDir, "db")})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	tok, err := st.TokenBySecret(crashOwnerToken)
	require.NoError(t, err)
	m, err := st.Message(tok.WorkspaceID, conv, seq)
	require.NoError(t, err)
	outbox, err := st.Outbox()
	require.NoError(t, err)
	return m, len(outbox)
}

// SIGTERM with a send in flight (the Graph API holds it 300 ms): the
// process waits for Meta's answer and records it (sent, with Meta's id),
// so the new process does not send it again: Meta sees one request.
func TestSIGTERMWaitsForSendInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test: slow")
	}
	dataDir := t.TempDir()
	graph := newHoldGraph(t, 300*time.Millisecond)
	p := startWithEnv(t, dataDir, graph.srv.URL)
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	connectCrashChannel(t, cl, p.url)
	conv, seq := sendReply(t, cl, p.url, crashUser(1), "held for 300 ms")
	select {
	case <-graph.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the send did not reach the Graph API")
	}
	drain, err := p.sigterm(t)
	require.NoError(t, err, "%s", p.log.tail())
	m, outbox := storedMessage(t, dataDir, conv, seq)
	require.Equal(t, engine.StatusSent, m.Status, "the answer of the send in flight is recorded")
	graph.mu.Lock()
	require.Equal(t, graph.ids["held for 300 ms"], m.ChannelMessageID)
	graph.mu.Unlock()
	require.Zero(t, outbox, "nothing is left to send again")

	// The new process sends what it is given, and not the held one again.
	graph.hold.Store(0)
	p2 := startWithEnv(t, dataDir, graph.srv.URL)
	conv2, _ := sendReply(t, cl, p2.url, crashUser(2), "after the restart")
	waitFor(t, 10*time.Second, func() error {
		code, b, err := crashRequest(context.Background(), cl, http.MethodGet,
			fmt.Sprintf("%s/api/v1/conversations/%s/messages?limit=1", p2.url, conv2), nil, apiHeaders())
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %s %v", code, b, err)
		}
		if !strings.Contains(string(b), `"status":"sent"`) {
			return fmt.Errorf("not sent yet: %s", b)
		}
		return nil
	})
	_, err = p2.sigterm(t)
	require.NoError(t, err, "%s", p2.log.tail())
	require.Equal(t, 1, graph.count("held for 300 ms"), "Meta saw the held send once")
	require.Equal(t, 1, graph.count("after the restart"))
	t.Logf("the process exited %v after SIGTERM, the send held 300 ms; message %d sent as %s", drain.Round(time.Millisecond), seq, m.ChannelMessageID)
}

// The drain is bounded: with PARLEY_SHUTDOWN_TIMEOUT shorter than Meta's
// answer the send is cut short, the process exits (status 1: work was
// cut), and the new process sends the message again (at least once).
func TestShutdownTimeoutCutsSendShort(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test: slow")
	}
	dataDir := t.TempDir()
	graph := newHoldGraph(t, 5*time.Second)
	p := startWithEnv(t, dataDir, graph.srv.URL, "PARLEY_SHUTDOWN_TIMEOUT=200ms")
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	connectCrashChannel(t, cl, p.url)
	conv, seq := sendReply(t, cl, p.url, crashUser(3), "cut short")
	<-graph.started
	drain, err := p.sigterm(t)
	var ee interface{ ExitCode() int }
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	require.Less(t, drain, 3*time.Second, "the drain ends with its timeout, not with Meta's answer")
	m, outbox := storedMessage(t, dataDir, conv, seq)
	require.Equal(t, engine.StatusSending, m.Status)
	require.Equal(t, 1, outbox)

	graph.hold.Store(0)
	p2 := startWithEnv(t, dataDir, graph.srv.URL)
	waitFor(t, 10*time.Second, func() error {
		if n := graph.count("cut short"); n != 2 {
			return fmt.Errorf("%d sends", n)
		}
		return nil
	})
	_, err = p2.sigterm(t)
	require.NoError(t, err, "%s", p2.log.tail())
	m, outbox = storedMessage(t, dataDir, conv, seq)
	require.Equal(t, engine.StatusSent, m.Status)
	require.Zero(t, outbox)
	t.Logf("exited %v after SIGTERM with a 200 ms drain timeout", drain.Round(time.Millisecond))
}

// WebSocket subscribers get a 1001 close at SIGTERM; reconnected to the
// new process with their epoch and last seq they are told to resync (a
// new process is a new epoch), find every message over REST, and receive
// the new process's events from its hello's seq on, without a gap.
func TestWebSocketsResumeAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test: slow")
	}
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	graph.faulty.Store(false)
	p := startWithEnv(t, dataDir, graph.srv.URL)
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	connectCrashChannel(t, cl, p.url)
	user := crashUser(4)
	post := func(url string, n int) string {
		d := waDelivery(9, 0, n, []string{user}, time.Now())
		code, _, _, err := postDelivery(context.Background(), cl, url, d)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		return d.wamids[0]
	}
	var wamids []string
	wamids = append(wamids, post(p.url, 0))

	type frame struct {
		Type           string          `json:"type"`
		Epoch          string          `json:"epoch"`
		Seq            uint64          `json:"seq"`
		ConversationID string          `json:"conversation_id"`
		Data           json.RawMessage `json:"data"`
	}
	dial := func(url, query string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/api/v1/ws?token="+crashOwnerToken+query, nil)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// read returns the next frames (an array frame is split).
	read := func(c *websocket.Conn) ([]frame, error) {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		var fs []frame
		if len(b) > 0 && b[0] == '[' {
			require.NoError(t, json.Unmarshal(b, &fs))
			return fs, nil
		}
		var f frame
		require.NoError(t, json.Unmarshal(b, &f))
		return []frame{f}, nil
	}
	// untilCreated reads until a message.created event and returns the
	// seq of the last event read.
	untilCreated := func(c *websocket.Conn, last uint64) uint64 {
		for {
			fs, err := read(c)
			require.NoError(t, err)
			done := false
			for _, f := range fs {
				require.Equal(t, last+1, f.Seq, "events follow one another: %+v", f)
				last = f.Seq
				done = done || f.Type == "message.created"
			}
			if done {
				return last
			}
		}
	}

	c := dial(p.url, "")
	hello, err := read(c)
	require.NoError(t, err)
	require.Equal(t, "hello", hello[0].Type)
	epoch, last := hello[0].Epoch, hello[0].Seq
	for n := 1; n <= 3; n++ {
		wamids = append(wamids, post(p.url, n))
		last = untilCreated(c, last)
	}

	_, err = p.sigterm(t)
	require.NoError(t, err, "%s", p.log.tail())
	var ce *websocket.CloseError
	for {
		if _, err = read(c); err != nil {
			break
		}
	}
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseGoingAway, ce.Code, "closed with 1001 at shutdown")

	p2 := startWithEnv(t, dataDir, graph.srv.URL)
	c2 := dial(p2.url, fmt.Sprintf("&epoch=%s&seq=%d", epoch, last))
	hello, err = read(c2)
	require.NoError(t, err)
	require.Equal(t, "hello", hello[0].Type)
	require.NotEqual(t, epoch, hello[0].Epoch, "a new process is a new epoch")
	resync, err := read(c2)
	require.NoError(t, err)
	require.Equal(t, "resync", resync[0].Type, "the old epoch's seq cannot be replayed: reload over REST")

	// The reload finds every message stored before the restart.
	code, b, err := crashRequest(context.Background(), cl, http.MethodGet, p2.url+"/api/v1/conversations", nil, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var list struct {
		Conversations []engine.Conversation `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Conversations, 1)
	conv := list.Conversations[0].ID
	code, b, err = crashRequest(context.Background(), cl, http.MethodGet, p2.url+"/api/v1/conversations/"+conv.String()+"/messages", nil, apiHeaders())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	for _, id := range wamids {
		require.Contains(t, string(b), id)
	}
	// And the new process's events follow its hello without a gap.
	post(p2.url, 4)
	untilCreated(c2, hello[0].Seq)
	_, err = p2.sigterm(t)
	require.NoError(t, err, "%s", p2.log.tail())
}

// A second SIGTERM during the drain ends the process at once (the signal's
// default action), instead of waiting for a send the channel holds.
func TestSecondSIGTERMEndsTheDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test: slow")
	}
	dataDir := t.TempDir()
	graph := newHoldGraph(t, 20*time.Second)
	p := startWithEnv(t, dataDir, graph.srv.URL, "PARLEY_SHUTDOWN_TIMEOUT=30s")
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	connectCrashChannel(t, cl, p.url)
	sendReply(t, cl, p.url, crashUser(4), "held for 20 s")
	select {
	case <-graph.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the send did not reach the Graph API")
	}
	t0 := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	waitFor(t, 10*time.Second, func() error {
		if !strings.Contains(p.log.tail(), "Shutting down") {
			return errors.New("the drain has not begun")
		}
		return nil
	})
	select {
	case <-p.done:
		t.Fatalf("the first SIGTERM did not wait for the send in flight\n%s", p.log.tail())
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("a second SIGTERM did not end the process\n%s", p.log.tail())
	}
	require.Less(t, time.Since(t0), 15*time.Second, "the process waited for the held send")
	var ee *exec.ExitError
	require.ErrorAs(t, p.err, &ee)
	require.False(t, ee.Success())
}
