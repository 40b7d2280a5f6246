package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// The kill -9 test drives the real binary over HTTP and kills it under
// load, five times. It checks invariants 1 and 2 of docs/ARCHITECTURE.md through the
// whole stack (acked means durable, stored exactly once) and that the
// outbox leaves no message "sending" for ever.

const (
	crashAppSecret   = "crash-test-app-secret"
	crashVerifyToken = "crash-test-verify-token"
	crashOwnerToken  = "pk_crash_test_owner_token"
	crashPhoneID     = "106540352242922"
	crashAccessToken = "tok"
	crashUsers       = 50
	crashRounds      = 5
	crashWebhookers  = 8
	crashRepliers    = 2
	// crashFaultRate is the share of send calls the faulty Graph API
	// answers with a temporary error (HTTP 500, code 131000).
	crashFaultRate = 0.3
)

// ---- fake Graph API ----

// crashGraph plays the WhatsApp Cloud API send endpoint. While faulty it
// answers some sends with a documented temporary error; it always answers
// after a random 0–50 ms.
type crashGraph struct {
	srv    *httptest.Server
	faulty atomic.Bool
	n      atomic.Uint64
	// run is the process run (0-based start count) sends now come from.
	run atomic.Int64

	mu sync.Mutex
	// calls counts send requests per recipient+text.
	calls map[string]int
	// accepted lists the wamids answered with 200 per recipient+text.
	accepted map[string][]string
	// acceptedRun is the process run each of those answers went to.
	acceptedRun map[string][]int64
	// acceptedAt is when each of those answers was written.
	acceptedAt map[string][]time.Time
	faults     int
	bad        []string // malformed requests, reported as test errors
}

func sendKey(to, text string) string { return to + "\x00" + text }

func newCrashGraph(t *testing.T) *crashGraph {
	g := &crashGraph{calls: map[string]int{}, accepted: map[string][]string{}, acceptedRun: map[string][]int64{}, acceptedAt: map[string][]time.Time{}}
	g.faulty.Store(true)
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func graphError(w http.ResponseWriter, status, code int, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":"(#%d) %s","type":"OAuthException","code":%d,"error_data":{"messaging_product":"whatsapp","details":%q},"fbtrace_id":"AbCdEf%d"}}`,
		code, msg, code, msg, rand.IntN(1_000_000))
}

func (g *crashGraph) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, _ := io.ReadAll(r.Body)
	var req struct {
		MessagingProduct string `json:"messaging_product"`
		To               string `json:"to"`
		Type             string `json:"type"`
		Text             *struct {
			Body string `json:"body"`
		} `json:"text"`
	}
	// POST /{v}/{phone_number_id}/messages
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method == http.MethodGet && len(parts) == 2 && r.URL.Query().Has("fields") {
		// The channel health check: GET /{v}/{phone_number_id}?fields=...
		if parts[1] != crashPhoneID || r.Header.Get("Authorization") != "Bearer "+crashAccessToken {
			graphError(w, http.StatusBadRequest, 100, "Unsupported get request")
			return
		}
		fmt.Fprintf(w, `{"id":%q,"display_phone_number":"+1 555 000 0000","verified_name":"Parley test"}`, crashPhoneID)
		return
	}
	if r.Method != http.MethodPost || len(parts) != 3 || parts[1] != crashPhoneID || parts[2] != "messages" ||
		r.Header.Get("Authorization") != "Bearer "+crashAccessToken ||
		json.Unmarshal(body, &req) != nil || req.MessagingProduct != "whatsapp" || req.Type != "text" || req.Text == nil || req.To == "" {
		g.mu.Lock()
		g.bad = append(g.bad, fmt.Sprintf("%s %s auth=%q %s", r.Method, r.URL.Path, r.Header.Get("Authorization"), body))
		g.mu.Unlock()
		graphError(w, http.StatusBadRequest, 100, "Invalid parameter")
		return
	}
	select { // sometimes slow
	case <-time.After(time.Duration(rand.IntN(51)) * time.Millisecond):
	case <-r.Context().Done():
		return // the caller is gone (killed): nothing was accepted
	}
	key := sendKey(req.To, req.Text.Body)
	fault := g.faulty.Load() && rand.Float64() < crashFaultRate
	g.mu.Lock()
	g.calls[key]++
	if fault {
		g.faults++
		g.mu.Unlock()
		graphError(w, http.StatusInternalServerError, 131000, "Something went wrong")
		return
	}
	id := fmt.Sprintf("wamid.out.%d", g.n.Add(1))
	g.accepted[key] = append(g.accepted[key], id)
	g.acceptedRun[key] = append(g.acceptedRun[key], g.run.Load())
	g.acceptedAt[key] = append(g.acceptedAt[key], time.Now())
	g.mu.Unlock()
	fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":%q}]}`, req.To, req.To, id)
}

// ---- the process ----

// crashLog is the binary's stderr: it finds the address line and keeps
// the error lines and the last lines for the report.
type crashLog struct {
	mu     sync.Mutex
	part   []byte
	last   []string
	errs   []string
	nerrs  int
	addr   chan string
	gotAdr bool
}

func (l *crashLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		line := string(l.part[:i])
		l.part = l.part[i+1:]
		if m := runningRe.FindStringSubmatch(line); m != nil && !l.gotAdr {
			l.gotAdr = true
			l.addr <- m[1]
		}
		if strings.Contains(line, "level=ERROR") {
			l.nerrs++
			if len(l.errs) < 20 {
				l.errs = append(l.errs, line)
			}
		}
		l.last = append(l.last, line)
		if len(l.last) > 40 {
			l.last = l.last[1:]
		}
	}
	return len(p), nil
}

func (l *crashLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

type crashProc struct {
	cmd  *exec.Cmd
	url  string
	log  *crashLog
	done chan struct{}
	err  error // cmd.Wait's result, set before done closes
}

// startWithEnv runs the binary configured through PARLEY_* variables on
// a free port and returns once it logs its address; extra variables come
// last and win.
func startWithEnv(t *testing.T, dataDir, graphURL string, extra ...string) *crashProc {
	t.Helper()
	p := &crashProc{log: &crashLog{addr: make(chan string, 1)}, done: make(chan struct{})}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(os.Environ(),
		"PARLEY_ADDR=127.0.0.1:0",
		"PARLEY_DATA_DIR="+dataDir,
		"PARLEY_META_APP_SECRET="+crashAppSecret,
		"PARLEY_META_VERIFY_TOKEN="+crashVerifyToken,
		"PARLEY_GRAPH_API_URL="+graphURL,
		"PARLEY_BOOTSTRAP_TOKEN="+crashOwnerToken,
		"PARLEY_LOG_JSON=",
	)
	p.cmd.Env = append(p.cmd.Env, extra...)
	p.cmd.Stderr = p.log
	p.cmd.Stdout = p.log
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case a := <-p.log.addr:
		p.url = "http://" + a
		return p
	case <-p.done:
		t.Fatalf("parley exited before serving: %v\n%s", p.err, p.log.tail())
	case <-time.After(30 * time.Second):
		t.Fatalf("parley did not report its address\n%s", p.log.tail())
	}
	return nil
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *crashProc) kill9(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("parley exited by itself before the kill: %v\n%s", p.err, p.log.tail())
	default:
	}
	require.NoError(t, p.cmd.Process.Kill())
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("parley did not die after SIGKILL")
	}
	var ee *exec.ExitError
	require.ErrorAs(t, p.err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed by SIGKILL, got %v", p.err)
}

// ---- load ----

// crashDelivery is one signed webhook delivery, kept to be replayed.
type crashDelivery struct {
	body   []byte
	sig    string
	wamids []string
	users  []string
	texts  []string
}

type crashSend struct {
	round int
	user  string
	conv  engine.ID
	text  string
	seq   uint64
}

type crashWamid struct {
	user, text string
	acked      bool
}

// crashState is what the clients saw: what was acked and accepted.
type crashState struct {
	mu      sync.Mutex
	wamids  map[string]*crashWamid
	acked   []*crashDelivery // deliveries that got a 200 at least once
	isAcked map[*crashDelivery]bool
	pending map[*crashDelivery]bool // posted, never acked: Meta would retry
	sends   []crashSend

	ackedPerRound    [crashRounds]int // deliveries answered 200 per round (first acks, replays and retries)
	msgsAckedInRound [crashRounds]int // messages first acked in a round
	replays          int              // replays of acked deliveries answered 200
	retried          int              // redeliveries of unacked deliveries answered 200
	postErrors       int              // transport errors (the kill)
	non200           map[int]int      // other statuses
	sendsPerRound    [crashRounds]int
	loadStart        time.Time
	firstAck         [crashRounds]time.Duration // from the start of the load to the first 200
	maxAckLatency    [crashRounds]time.Duration // slowest webhook answered 200
	sendErrors       int
}

func waDelivery(round, g, n int, users []string, now time.Time) *crashDelivery {
	type text struct {
		Body string `json:"body"`
	}
	type msg struct {
		From      string `json:"from"`
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Type      string `json:"type"`
		Text      text   `json:"text"`
	}
	type contact struct {
		Profile struct {
			Name string `json:"name"`
		} `json:"profile"`
		WaID string `json:"wa_id"`
	}
	d := &crashDelivery{}
	var msgs []msg
	var contacts []contact
	seen := map[string]bool{}
	for i, u := range users {
		id := fmt.Sprintf("wamid.HBgL.r%d.g%d.n%d.%d", round, g, n, i)
		body := "Olá, ¿qué tal? 😀 " + id
		d.wamids, d.users, d.texts = append(d.wamids, id), append(d.users, u), append(d.texts, body)
		msgs = append(msgs, msg{From: u, ID: id, Timestamp: strconv.FormatInt(now.Unix(), 10), Type: "text",
			Text: text{Body: body}})
		if !seen[u] {
			seen[u] = true
			c := contact{WaID: u}
			c.Profile.Name = "Zoë " + u[len(u)-2:]
			contacts = append(contacts, c)
		}
	}
	payload := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id": "WABA_1",
			"changes": []any{map[string]any{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]any{"display_phone_number": "15550001111", "phone_number_id": crashPhoneID},
					"contacts":          contacts,
					"messages":          msgs,
				},
			}},
		}},
	}
	body, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	d.body = body
	d.sig = meta.Sign(body, []byte(crashAppSecret))
	return d
}

func crashUser(i int) string { return fmt.Sprintf("155576543%02d", i) }

func crashRequest(ctx context.Context, cl *http.Client, method, url string, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func apiHeaders() map[string]string {
	return map[string]string{"Authorization": "Bearer " + crashOwnerToken, "Content-Type": "application/json"}
}

// webhooker posts deliveries until ctx ends: mostly new ones, sometimes a
// replay of an acked one, sometimes a retry of one that never got a 200.
func (s *crashState) webhooker(ctx context.Context, t *testing.T, cl *http.Client, url string, round, g int) {
	for n := 0; ctx.Err() == nil; n++ {
		var d *crashDelivery
		kind := "new"
		p := rand.Float64()
		s.mu.Lock()
		switch {
		case p < 0.1 && len(s.acked) > 0:
			d, kind = s.acked[rand.IntN(len(s.acked))], "replay"
		case p < 0.2 && len(s.pending) > 0:
			for pd := range s.pending {
				d, kind = pd, "retry"
				break
			}
		}
		s.mu.Unlock()
		if d == nil {
			users := make([]string, 1+rand.IntN(3))
			for i := range users {
				users[i] = crashUser(rand.IntN(crashUsers))
			}
			d = waDelivery(round, g, n, users, time.Now())
			s.mu.Lock()
			for i, id := range d.wamids {
				s.wamids[id] = &crashWamid{user: d.users[i], text: d.texts[i]}
			}
			s.mu.Unlock()
		}
		t0 := time.Now()
		code, respBody, err := crashRequest(ctx, cl, http.MethodPost, url+"/webhooks/whatsapp", d.body,
			map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": d.sig})
		lat := time.Since(t0)
		s.mu.Lock()
		switch {
		case err == nil && code == http.StatusOK:
			if s.ackedPerRound[round] == 0 {
				s.firstAck[round] = time.Since(s.loadStart)
			}
			s.maxAckLatency[round] = max(s.maxAckLatency[round], lat)
			s.ackedPerRound[round]++
			switch {
			case s.isAcked[d]:
				if kind == "replay" {
					s.replays++
				}
			default:
				if kind == "retry" {
					s.retried++
				}
				s.isAcked[d] = true
				s.acked = append(s.acked, d)
				delete(s.pending, d)
				for _, id := range d.wamids {
					if w := s.wamids[id]; !w.acked {
						w.acked = true
						s.msgsAckedInRound[round]++
					}
				}
			}
		case err != nil:
			s.postErrors++
			if !s.isAcked[d] {
				s.pending[d] = true
			}
		default:
			s.non200[code]++
			if !s.isAcked[d] {
				s.pending[d] = true
			}
			if code >= 400 && code < 500 {
				t.Errorf("webhook answered %d: %s", code, respBody)
			}
		}
		s.mu.Unlock()
	}
}

type crashConv struct {
	user string
	id   engine.ID
}

// replier sends human replies to known conversations until ctx ends.
func (s *crashState) replier(ctx context.Context, t *testing.T, cl *http.Client, url string, round, g int, convs []crashConv) {
	for n := 0; ctx.Err() == nil; n++ {
		c := convs[rand.IntN(len(convs))]
		text := fmt.Sprintf("Reply r%d s%d #%d — ñandú", round, g, n)
		body, _ := json.Marshal(map[string]string{"text": text})
		code, respBody, err := crashRequest(ctx, cl, http.MethodPost, url+"/api/v1/conversations/"+c.id.String()+"/messages", body, apiHeaders())
		s.mu.Lock()
		switch {
		case err == nil && code == http.StatusCreated:
			var m struct {
				Seq    uint64 `json:"seq"`
				Status string `json:"status"`
				Text   string `json:"text"`
			}
			if jerr := json.Unmarshal(respBody, &m); jerr != nil || m.Seq == 0 || m.Text != text || m.Status != string(engine.StatusSending) {
				t.Errorf("send answered 201 with %s (%v)", respBody, jerr)
				break
			}
			s.sends = append(s.sends, crashSend{round: round, user: c.user, conv: c.id, text: text, seq: m.Seq})
			s.sendsPerRound[round]++
		case err != nil:
			s.sendErrors++
		default:
			s.sendErrors++
			if code >= 400 && code < 500 {
				t.Errorf("send answered %d: %s", code, respBody)
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// ---- the store after death ----

type crashCheck struct {
	ws         engine.ID
	convs      []crashConv
	inbound    int
	outbound   int
	sending    int // outbound messages still sending
	outbox     int
	duplicates int
}

// checkSearch opens the stopped process's store, finishes the search
// projection its queue holds (work left by the kills included), and
// checks that every conversation is found by its number and a sample of
// the acked messages by their text.
func (s *crashState) checkSearch(t *testing.T, dataDir string) {
	t.Helper()
	st, err := persistence.Open(persistence.Options{Dir: filepath.Join(dataDir, "db")})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	for {
		n, err := st.ProjectSearch(512)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	tok, err := st.TokenBySecret(crashOwnerToken)
	require.NoError(t, err)
	ws := tok.WorkspaceID
	found := func(q string, conv engine.ID) bool {
		for cursor := ""; ; {
			page, err := st.Search(ws, persistence.SearchQuery{Text: q, Cursor: cursor, Limit: 100})
			require.NoError(t, err, q)
			for _, h := range page.Hits {
				if h.ConversationID == conv {
					return true
				}
			}
			if cursor = page.NextCursor; cursor == "" {
				return false
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A sample of the acked messages (searching them all takes long):
	// every delivery of the first rounds' kills is as likely to be picked.
	checked := 0
	for k, d := range s.acked {
		if k%25 != 0 {
			continue
		}
		for i, u := range d.users {
			th, ok, err := st.LookupThread(ws, crashPhoneID, u)
			require.NoError(t, err)
			require.True(t, ok, u)
			require.True(t, found(d.wamids[i], th.ConversationID), "acked message %q of %s is not found by search", d.texts[i], u)
			checked++
		}
	}
	for i := range crashUsers {
		u := crashUser(i)
		if th, ok, err := st.LookupThread(ws, crashPhoneID, u); err == nil && ok {
			require.True(t, found(u, th.ConversationID), "conversation of %s is not found by its number", u)
		}
	}
	t.Logf("search: a sample of %d acked messages found by their text after the kills", checked)
}

// checkStore opens the dead process's store and checks that every acked
// message is stored exactly once, nothing unacked is stored twice, every
// accepted send is stored, and every sending message has an outbox entry.
func (s *crashState) checkStore(t *testing.T, dataDir, when string) crashCheck {
	t.Helper()
	st, err := persistence.Open(persistence.Options{Dir: filepath.Join(dataDir, "db")})
	require.NoError(t, err, when)
	defer func() { require.NoError(t, st.Close(), when) }()
	tok, err := st.TokenBySecret(crashOwnerToken)
	require.NoError(t, err, when)
	ws := tok.WorkspaceID
	var res crashCheck
	res.ws = ws

	byConv := map[engine.ID]map[uint64]engine.Message{}
	userOf := map[engine.ID]string{}
	counts := map[string]int{}
	for i := range crashUsers {
		u := crashUser(i)
		th, ok, err := st.LookupThread(ws, crashPhoneID, u)
		require.NoError(t, err, when)
		if !ok {
			continue
		}
		res.convs = append(res.convs, crashConv{user: u, id: th.ConversationID})
		userOf[th.ConversationID] = u
		ms, err := st.Messages(ws, th.ConversationID, 0, 1<<30)
		require.NoError(t, err, when)
		m := make(map[uint64]engine.Message, len(ms))
		for _, msg := range ms {
			require.NotContains(t, m, msg.Seq, "%s: seq %d twice in %s", when, msg.Seq, th.ConversationID)
			m[msg.Seq] = msg
			if msg.Direction == engine.DirIn {
				res.inbound++
				counts[msg.ChannelMessageID]++
			} else {
				res.outbound++
			}
		}
		byConv[th.ConversationID] = m
	}
	outbox, err := st.Outbox()
	require.NoError(t, err, when)
	res.outbox = len(outbox)
	inOutbox := map[persistence.OutboxEntry]bool{}
	for _, e := range outbox {
		e.Attempts = 0 // entries are looked up by message, whatever the attempts made
		inOutbox[e] = true
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	lost, dups := 0, 0
	for id, n := range counts {
		if n > 1 {
			dups++
			t.Errorf("%s: channel message %s stored %d times", when, id, n)
		}
		if _, ok := s.wamids[id]; !ok {
			t.Errorf("%s: stored channel message %s was never posted", when, id)
		}
	}
	res.duplicates = dups
	for id, w := range s.wamids {
		if !w.acked {
			continue
		}
		ref, ok, err := st.LookupChannelMessage(ws, engine.ChannelWhatsApp, id)
		require.NoError(t, err, when)
		if !ok || counts[id] != 1 {
			lost++
			if lost <= 10 {
				t.Errorf("%s: acked message %s (user %s): in index %v, stored %d times", when, id, w.user, ok, counts[id])
			}
			continue
		}
		m, found := byConv[ref.ConversationID][ref.Seq]
		switch {
		case !found:
			t.Errorf("%s: index of %s points at %s/%d, which holds no message", when, id, ref.ConversationID, ref.Seq)
		case m.ChannelMessageID != id || m.Text != w.text || m.Direction != engine.DirIn || m.Sender.Kind != engine.SenderCustomer:
			t.Errorf("%s: index of %s points at %+v", when, id, m)
		case userOf[ref.ConversationID] != w.user:
			t.Errorf("%s: %s from %s stored in the conversation of %s", when, id, w.user, userOf[ref.ConversationID])
		}
	}
	if lost > 10 {
		t.Errorf("%s: %d acked messages lost or duplicated in all", when, lost)
	}
	for _, sd := range s.sends {
		m, ok := byConv[sd.conv][sd.seq]
		if !ok {
			t.Errorf("%s: send %q accepted with 201 as %s/%d is not stored", when, sd.text, sd.conv, sd.seq)
			continue
		}
		if m.Direction != engine.DirOut || m.Sender.Kind != engine.SenderHuman || m.Text != sd.text {
			t.Errorf("%s: send %q accepted as %s/%d, stored as %+v", when, sd.text, sd.conv, sd.seq, m)
		}
	}
	for conv, ms := range byConv {
		for seq, m := range ms {
			if m.Direction != engine.DirOut {
				continue
			}
			switch m.Status {
			case engine.StatusSending:
				res.sending++
				if !inOutbox[persistence.OutboxEntry{WorkspaceID: ws, ConversationID: conv, Seq: seq}] {
					t.Errorf("%s: %s/%d is sending with no outbox entry: it would never be sent", when, conv, seq)
				}
			case engine.StatusSent, engine.StatusDelivered, engine.StatusRead, engine.StatusFailed:
			default:
				t.Errorf("%s: %s/%d has status %q", when, conv, seq, m.Status)
			}
		}
	}
	return res
}

// ---- the test ----

func TestKillNineThroughHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: slow")
	}
	t0 := time.Now()
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	s := &crashState{wamids: map[string]*crashWamid{}, isAcked: map[*crashDelivery]bool{},
		pending: map[*crashDelivery]bool{}, non200: map[int]int{}}
	var convs []crashConv
	var checks [crashRounds]crashCheck
	var loads [crashRounds]time.Duration

	var errLines [crashRounds + 1]int
	var killedAt [crashRounds]time.Time
	var errSample []string
	for round := range crashRounds {
		graph.run.Store(int64(round))
		p := startWithEnv(t, dataDir, graph.srv.URL)
		cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
		body, _ := json.Marshal(map[string]string{"channel": "whatsapp", "account_id": crashPhoneID, "name": "x", "access_token": crashAccessToken})
		code, resp, err := crashRequest(context.Background(), cl, http.MethodPost, p.url+"/api/v1/channels", body, apiHeaders())
		require.NoError(t, err)
		if round == 0 {
			require.Equal(t, http.StatusCreated, code, string(resp))
		} else {
			require.Equal(t, http.StatusConflict, code, "the account connected in round 0 survives kill -9: %s", resp)
		}

		ctx, cancel := context.WithCancel(context.Background())
		s.mu.Lock()
		s.loadStart = time.Now()
		s.mu.Unlock()
		var wg sync.WaitGroup
		for g := range crashWebhookers {
			wg.Go(func() { s.webhooker(ctx, t, cl, p.url, round, g) })
		}
		if len(convs) > 0 {
			for g := range crashRepliers {
				wg.Go(func() { s.replier(ctx, t, cl, p.url, round, g, convs) })
			}
		}
		if round == 0 {
			// The first round must leave conversations for the replies
			// of the next ones, however slow fsync is on this machine:
			// its load is timed from its first acked webhook.
			deadline := time.Now().Add(15 * time.Second)
			for {
				s.mu.Lock()
				n := s.ackedPerRound[0]
				s.mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no webhook acked in 15 s\n%s", p.log.tail())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		loads[round] = time.Duration(300+rand.IntN(601)) * time.Millisecond
		time.Sleep(loads[round]) // the load runs this long; then the crash
		p.kill9(t)
		killedAt[round] = time.Now()
		cancel()
		wg.Wait()
		cl.CloseIdleConnections()
		p.log.mu.Lock()
		errLines[round] = p.log.nerrs
		errSample = append(errSample, p.log.errs...)
		p.log.mu.Unlock()

		checks[round] = s.checkStore(t, dataDir, fmt.Sprintf("after kill %d", round+1))
		convs = checks[round].convs
		require.NotEmpty(t, convs, "round %d stored no conversation", round)
		if t.Failed() {
			t.Fatalf("round %d failed; last log lines:\n%s", round, p.log.tail())
		}
	}

	// Last start: Meta is healthy; the outbox must drain.
	graph.faulty.Store(false)
	graph.run.Store(crashRounds)
	p := startWithEnv(t, dataDir, graph.srv.URL)
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	s.mu.Lock()
	want := map[engine.ID]map[uint64]string{}
	for _, sd := range s.sends {
		if want[sd.conv] == nil {
			want[sd.conv] = map[uint64]string{}
		}
		want[sd.conv][sd.seq] = sd.text
	}
	nSends := len(s.sends)
	s.mu.Unlock()
	type finalMsg struct {
		Seq              uint64 `json:"seq"`
		Direction        string `json:"direction"`
		Text             string `json:"text"`
		Status           string `json:"status"`
		ChannelMessageID string `json:"channel_message_id"`
		ErrorCode        string `json:"error_code"`
		ErrorReason      string `json:"error_reason"`
	}
	// fetch reads every message of every known conversation over the API.
	fetch := func() (map[engine.ID][]finalMsg, error) {
		out := map[engine.ID][]finalMsg{}
		for _, c := range convs {
			before := uint64(0)
			for {
				u := p.url + "/api/v1/conversations/" + c.id.String() + "/messages?limit=200"
				if before > 0 {
					u += "&before=" + strconv.FormatUint(before, 10)
				}
				code, b, err := crashRequest(context.Background(), cl, http.MethodGet, u, nil, apiHeaders())
				if err != nil {
					return nil, err
				}
				if code != http.StatusOK {
					return nil, fmt.Errorf("GET %s: %d %s", u, code, b)
				}
				var page struct {
					Messages []finalMsg `json:"messages"`
				}
				if err := json.Unmarshal(b, &page); err != nil {
					return nil, fmt.Errorf("GET %s: %w: %s", u, err, b)
				}
				out[c.id] = append(out[c.id], page.Messages...)
				if len(page.Messages) < 200 {
					break
				}
				before = page.Messages[len(page.Messages)-1].Seq
			}
		}
		return out, nil
	}
	var (
		final     map[engine.ID][]finalMsg
		lastErr   error
		polls     int
		drainedIn time.Duration
	)
	tFinal := time.Now()
	deadline := tFinal.Add(20 * time.Second)
	for {
		polls++
		all, err := fetch()
		lastErr = err
		if err == nil {
			pending := 0
			found := 0
			for conv, ms := range all {
				for _, m := range ms {
					if m.Direction == string(engine.DirOut) && m.Status == string(engine.StatusSending) {
						pending++
					}
					if _, ok := want[conv][m.Seq]; ok {
						found++
					}
				}
			}
			if pending == 0 && found == nSends {
				final, drainedIn = all, time.Since(tFinal)
				break
			}
			lastErr = fmt.Errorf("%d outbound messages still sending; %d of %d accepted sends found", pending, found, nSends)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain in 20 s: %v\nlast log lines:\n%s", lastErr, p.log.tail())
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}

	// Every accepted send ended sent (with an id Meta gave for exactly
	// that recipient and text) or failed.
	userOf := map[engine.ID]string{}
	for _, c := range convs {
		userOf[c.id] = c.user
	}
	var sent, failed, dupSends, allOut int
	var dupWindow []time.Duration
	failReasons := map[string]int{}
	graph.mu.Lock()
	for conv, ms := range final {
		for _, m := range ms {
			if m.Direction != string(engine.DirOut) {
				continue
			}
			allOut++
			text, ok := want[conv][m.Seq]
			if !ok {
				continue // accepted, but the 201 was lost to the kill
			}
			require.Equal(t, text, m.Text)
			key := sendKey(userOf[conv], text)
			if runs := graph.acceptedRun[key]; len(runs) > 1 {
				dupSends++
				// How long before the kill Meta had accepted it: the
				// window between Meta's answer and our commit.
				before := killedAt[runs[0]].Sub(graph.acceptedAt[key][0])
				dupWindow = append(dupWindow, before.Round(time.Millisecond))
				// At least once is the design, but only across a crash:
				// two acceptances within one run mean a double send with
				// no crash to excuse it.
				for i := 1; i < len(runs); i++ {
					if slices.Contains(runs[:i], runs[i]) {
						t.Errorf("%s/%d %q was sent twice within run %d (runs %v)", conv, m.Seq, text, runs[i], runs)
					}
				}
			}
			switch m.Status {
			case string(engine.StatusSent):
				sent++
				if !slices.Contains(graph.accepted[key], m.ChannelMessageID) {
					t.Errorf("%s/%d is sent as %q, an id Meta never gave for it (gave %v)", conv, m.Seq, m.ChannelMessageID, graph.accepted[key])
				}
			case string(engine.StatusFailed):
				failed++
				failReasons[m.ErrorCode]++
			default:
				t.Errorf("%s/%d ended %q", conv, m.Seq, m.Status)
			}
		}
	}
	for _, b := range graph.bad {
		t.Errorf("malformed send request: %s", b)
	}
	faults := graph.faults
	graphCalls := 0
	for _, n := range graph.calls {
		graphCalls += n
	}
	graph.mu.Unlock()
	require.Equal(t, nSends, sent+failed)
	require.Positive(t, nSends, "no reply was accepted in four rounds: the send path went unchecked")

	// A clean stop.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("parley did not exit after SIGINT\n%s", p.log.tail())
	}
	require.NoError(t, p.err, "clean exit after SIGINT\n%s", p.log.tail())
	require.Contains(t, p.log.tail(), `msg="Parley stopped"`)
	last := s.checkStore(t, dataDir, "after the clean stop")
	require.Zero(t, last.sending, "nothing left sending")
	require.Zero(t, last.outbox, "the outbox is empty once everything is sent or failed")
	s.checkSearch(t, dataDir)

	// The report.
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range crashRounds {
		t.Logf("round %d: load %v, %d deliveries answered 200 (%d messages acked for the first time; first 200 after %v, slowest %v), %d sends accepted; store after the kill: %d conversations, %d inbound, %d outbound (%d sending, %d outbox entries)",
			r, loads[r], s.ackedPerRound[r], s.msgsAckedInRound[r], s.firstAck[r].Round(time.Millisecond), s.maxAckLatency[r].Round(time.Millisecond), s.sendsPerRound[r],
			len(checks[r].convs), checks[r].inbound, checks[r].outbound, checks[r].sending, checks[r].outbox)
	}
	ackedMsgs := 0
	for _, w := range s.wamids {
		if w.acked {
			ackedMsgs++
		}
	}
	t.Logf("webhooks: %d distinct deliveries acked (%d messages, all stored exactly once), %d replays of acked deliveries answered 200, %d redeliveries of unacked ones answered 200, %d never acked, %d transport errors, other statuses %v",
		len(s.acked), ackedMsgs, s.replays, s.retried, len(s.pending), s.postErrors, s.non200)
	t.Logf("sends: %d accepted with 201 (%d refused or cut off by the kill), %d outbound stored in all; final: %d sent, %d failed %v; %d accepted sends reached Meta more than once (at least once after a crash); Meta saw %d send calls, %d answered with error 131000",
		nSends, s.sendErrors, allOut, sent, failed, failReasons, dupSends, graphCalls, faults)
	p.log.mu.Lock()
	errLines[crashRounds] = p.log.nerrs
	errSample = append(errSample, p.log.errs...)
	p.log.mu.Unlock()
	slices.Sort(dupWindow)
	t.Logf("sent twice: first accepted by Meta this long before the kill of that run: %v", dupWindow)
	t.Logf("drained in %v (%d polls); ERROR log lines per run %v; whole test %v", drainedIn.Round(time.Millisecond), polls, errLines, time.Since(t0).Round(time.Millisecond))
	for i, l := range errSample {
		if i == 10 {
			break
		}
		t.Logf("  %s", l)
	}
}
