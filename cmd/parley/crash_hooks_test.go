package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// The outgoing webhooks' kill -9 test: inbound WhatsApp messages are
// posted under load to the real binary while a subscription to
// message_created delivers them to a real local receiver that answers
// slowly; the process is killed with SIGKILL three times with deliveries
// pending and in flight. After the last restart the receiver must have
// every message whose webhook was acknowledged (0 lost), each
// conversation's in the order they were acknowledged, and every
// duplicate (an attempt cut by the kill, sent again) must carry the same
// X-Parley-Delivery id, the idempotency key docs/ARCHITECTURE.md promises
// (delivery is at least once).

const (
	hookCrashRounds  = 3
	hookCrashSenders = 8
	hookCrashUsers   = 4 // per sender: a sender posts its users' messages one after another
)

// hookReceiver records what the subscription delivered, in arrival
// order.
type hookCrashReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	// got lists the wamids delivered, in arrival order, per user.
	got map[string][]string
	// ids maps a wamid to the X-Parley-Delivery ids it came with.
	ids  map[string]map[string]bool
	dups int
	bad  []string
}

func newHookCrashReceiver(t *testing.T) *hookCrashReceiver {
	r := &hookCrashReceiver{got: map[string][]string{}, ids: map[string]map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		select { // slow: deliveries stay in flight and pending
		case <-time.After(time.Duration(rand.IntN(8)) * time.Millisecond):
		case <-req.Context().Done():
			return // the sender was killed: nothing was received
		}
		var m struct {
			Event    string `json:"event"`
			SourceID string `json:"source_id"`
			Content  string `json:"content"`
		}
		id := req.Header.Get(engine.WebhookDeliveryHeader)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := json.Unmarshal(body, &m); err != nil || m.Event != string(engine.WebhookMessageCreated) || id == "" || m.Content == "" {
			r.bad = append(r.bad, fmt.Sprintf("%s %q %s", req.Header.Get(engine.WebhookEventHeader), id, body))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !strings.HasPrefix(m.SourceID, "wamid.hook.") {
			return // the workspace's own messages (the default agent's replies)
		}
		user, _, _ := strings.Cut(m.Content, " ")
		if r.ids[m.SourceID] == nil {
			r.ids[m.SourceID] = map[string]bool{}
			r.got[user] = append(r.got[user], m.SourceID)
		} else {
			r.dups++
		}
		r.ids[m.SourceID][id] = true
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// hookCrashPost posts one signed WhatsApp webhook with one text message
// from user and reports whether it was answered 200.
func hookCrashPost(ctx context.Context, cl *http.Client, url, user, wamid string) bool {
	body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550000000","phone_number_id":%q},"contacts":[{"profile":{"name":"Customer %s"},"wa_id":%q}],"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":"%s hello %s"}}]}}]}]}`,
		crashPhoneID, user, user, user, wamid, time.Now().Unix(), user, wamid)
	code, _, err := crashRequest(ctx, cl, http.MethodPost, url+"/webhooks/whatsapp", body, map[string]string{
		"Content-Type": "application/json", "X-Hub-Signature-256": meta.Sign(body, []byte(crashAppSecret))})
	return err == nil && code == http.StatusOK
}

func TestKillNineOutgoingWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: slow")
	}
	dataDir := t.TempDir()
	graph := newCrashGraph(t)
	recv := newHookCrashReceiver(t)
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	allow := "PARLEY_API_CHANNEL_ALLOW_PRIVATE=true"

	var mu sync.Mutex
	acked := map[string][]string{} // per user, the wamids answered 200, in order
	total := 0
	for round := range hookCrashRounds + 1 {
		p := startWithEnv(t, dataDir, graph.srv.URL, allow)
		if round == 0 {
			body, _ := json.Marshal(map[string]string{"channel": "whatsapp", "account_id": crashPhoneID, "name": "x", "access_token": crashAccessToken})
			code, resp, err := crashRequest(context.Background(), cl, http.MethodPost, p.url+"/api/v1/channels", body, apiHeaders())
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, code, string(resp))
			body, _ = json.Marshal(map[string]any{"url": recv.srv.URL + "/hook", "events": []string{string(engine.WebhookMessageCreated)}})
			code, resp, err = crashRequest(context.Background(), cl, http.MethodPost, p.url+"/api/v1/webhooks", body, apiHeaders())
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, code, string(resp))
		}
		if round == hookCrashRounds {
			break // the last start only delivers what is left
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for g := range hookCrashSenders {
			wg.Go(func() {
				for n := 0; ctx.Err() == nil; n++ {
					user := "1555" + strconv.Itoa(1000000+g*hookCrashUsers+n%hookCrashUsers)
					wamid := fmt.Sprintf("wamid.hook.r%d.g%d.n%d", round, g, n)
					// Paced: the backlog must be deliverable by four
					// workers within the test's deadline.
					time.Sleep(10 * time.Millisecond)
					if !hookCrashPost(ctx, cl, p.url, user, wamid) {
						// Killed, or cut: Meta would post it again; an
						// unacknowledged message is not owed.
						continue
					}
					mu.Lock()
					acked[user] = append(acked[user], wamid)
					total++
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(1500+rand.IntN(1000)) * time.Millisecond)
		p.kill9(t)
		cancel()
		wg.Wait()
	}
	require.Positive(t, total)

	// Every acknowledged message reaches the receiver after the last
	// restart.
	deadline := time.Now().Add(60 * time.Second)
	for {
		recv.mu.Lock()
		missing := 0
		for _, ws := range acked {
			for _, w := range ws {
				if recv.ids[w] == nil {
					missing++
				}
			}
		}
		recv.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never delivered", missing, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.Empty(t, recv.bad, "malformed deliveries")
	for user, want := range acked {
		// In order per conversation: what was acknowledged arrives in
		// the order it was acknowledged (the receiver may also have a
		// message whose webhook was cut by the kill, stored but never
		// answered: it is left out of the comparison).
		isAcked := map[string]bool{}
		for _, w := range want {
			isAcked[w] = true
		}
		var got []string
		for _, w := range recv.got[user] {
			if isAcked[w] {
				got = append(got, w)
			}
		}
		require.Equal(t, want, got, "user %s: deliveries in acknowledgement order", user)
	}
	for w, ids := range recv.ids {
		require.Len(t, ids, 1, "message %s delivered under several delivery ids: %v", w, ids)
	}
	t.Logf("%d messages acknowledged over %d kills, all delivered in order; %d duplicates (same delivery id)", total, hookCrashRounds, recv.dups)
}
