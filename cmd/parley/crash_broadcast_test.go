package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/persistence"
)

// broadcastGraph plays the Graph API a broadcast talks to: the WhatsApp
// Business Account's templates and the number's messages endpoint, which
// counts the sends per recipient.
type broadcastGraph struct {
	srv   *httptest.Server
	mu    sync.Mutex
	sends map[string]int
	total atomic.Int64
}

const broadcastWABA = "102290129340398"

func newBroadcastGraph(t *testing.T) *broadcastGraph {
	g := &broadcastGraph{sends: map[string]int{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *broadcastGraph) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/"+broadcastWABA+"/message_templates"):
		io.WriteString(w, `{"data":[{"name":"weekly_news","language":"en_US","status":"APPROVED","category":"MARKETING","id":"2001",
			"components":[{"type":"BODY","text":"Hi {{1}}, this week's news.","example":{"body_text":[["Ann"]]}}]}],"paging":{"cursors":{"before":"b","after":"a"}}}`)
	case strings.HasSuffix(r.URL.Path, "/messages"):
		body, _ := io.ReadAll(r.Body)
		var m struct{ To string }
		_ = json.Unmarshal(body, &m)
		g.mu.Lock()
		g.sends[m.To]++
		g.mu.Unlock()
		n := g.total.Add(1)
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],"messages":[{"id":"wamid.bc.%d"}]}`, m.To, m.To, n)
	default:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"id":"x"}`)
	}
}

// TestKillNineBroadcast kills the server with SIGKILL in the middle of a
// 10,000-recipient broadcast, starts it again on the same data and lets
// the broadcast finish: the fake Graph API counts the sends per
// recipient.
func TestKillNineBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: slow")
	}
	const n = 10_000
	dataDir := t.TempDir()
	graph := newBroadcastGraph(t)
	cl := &http.Client{Timeout: 30 * time.Second}
	call := func(p *crashProc, method, path string, body any) (int, []byte) {
		var raw []byte
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		code, resp, err := crashRequest(context.Background(), cl, method, p.url+path, raw, apiHeaders())
		require.NoError(t, err)
		return code, resp
	}
	p := startWithEnv(t, dataDir, graph.srv.URL)
	code, resp := call(p, "POST", "/api/v1/channels", map[string]any{"channel": "whatsapp", "account_id": crashPhoneID, "name": "x",
		"access_token": crashAccessToken, "waba_id": broadcastWABA, "messaging_tier": "TIER_UNLIMITED"})
	require.Equal(t, http.StatusCreated, code, string(resp))
	code, resp = call(p, "POST", "/api/v1/templates/sync", nil)
	require.Equal(t, http.StatusOK, code, string(resp))
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range n {
		fmt.Fprintf(&csv, "+1555%07d,Person %d\n", i, i)
	}
	code, resp = call(p, "POST", "/api/v1/broadcasts", map[string]any{"name": "Weekly", "account_id": crashPhoneID,
		"template":  map[string]any{"name": "weekly_news", "language": "en_US"},
		"variables": []map[string]any{{"component": "body", "index": 1, "field": "first_name", "fallback": "there"}},
		"audience":  map[string]any{"csv": csv.String()}, "rate_per_second": 1000})
	require.Equal(t, http.StatusCreated, code, string(resp))
	var b struct {
		ID     string
		State  string
		Counts struct{ Total, Queued, Sent, Failed int }
	}
	require.NoError(t, json.Unmarshal(resp, &b))
	get := func(p *crashProc) {
		code, resp := call(p, "GET", "/api/v1/broadcasts/"+b.ID, nil)
		require.Equal(t, http.StatusOK, code, string(resp))
		require.NoError(t, json.Unmarshal(resp, &b))
	}

	// Kill it mid-send: between a quarter and three quarters sent.
	deadline := time.Now().Add(60 * time.Second)
	for graph.total.Load() < n/4 {
		require.True(t, time.Now().Before(deadline), "the broadcast did not get going: %d sent\n%s", graph.total.Load(), p.log.tail())
		time.Sleep(time.Millisecond)
	}
	p.kill9(t)
	before := graph.total.Load()
	require.Less(t, before, int64(n), "killed before the end")
	t.Logf("killed after %d sends", before)
	pending := pendingOutbound(t, dataDir)
	t.Logf("%d messages were waiting for their send's outcome", len(pending))

	p = startWithEnv(t, dataDir, graph.srv.URL)
	deadline = time.Now().Add(120 * time.Second)
	for {
		get(p)
		if b.State == "completed" {
			break
		}
		require.True(t, time.Now().Before(deadline), "not completed: %+v\n%s", b, p.log.tail())
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, n, b.Counts.Total)
	require.Equal(t, n, b.Counts.Sent, "%+v", b.Counts)
	graph.mu.Lock()
	defer graph.mu.Unlock()
	var twice []string
	for to, k := range graph.sends {
		if k > 2 || k == 2 && !pending[to] {
			twice = append(twice, fmt.Sprintf("%s×%d", to, k))
		}
	}
	require.Len(t, graph.sends, n, "every recipient got the broadcast")
	// A recipient whose send's outcome was committed before the kill is
	// never sent again. A send whose outcome was not yet durable (its
	// message still in the outbox) is made again after the restart, as
	// every outbound message is: the Graph API takes no idempotency key
	// (docs/ARCHITECTURE.md, "Broadcasts").
	require.Empty(t, twice, "only a recipient whose send's outcome was not committed at the kill may get it twice")
}

// pendingOutbound opens the killed server's store and returns the
// recipients (wa ids) of the messages left in its outbox: those whose
// send had no committed outcome.
func pendingOutbound(t *testing.T, dataDir string) map[string]bool {
	t.Helper()
	st, err := persistence.Open(persistence.Options{Dir: dataDir + "/db"})
	require.NoError(t, err)
	defer st.Close()
	entries, err := st.Outbox()
	require.NoError(t, err)
	out := map[string]bool{}
	for _, e := range entries {
		c, err := st.Conversation(e.WorkspaceID, e.ConversationID)
		require.NoError(t, err)
		out[c.ExternalUserID] = true
	}
	return out
}
