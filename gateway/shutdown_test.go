package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// Shutdown drains (docs/ARCHITECTURE.md, "Shutdown"): /readyz goes 503 at
// once and a webhook that arrives from then on is refused with 503 and
// Retry-After on a closing connection, while a webhook in progress runs
// to its 200 (after its commit) and closes its connection; Shutdown
// returns once it has.
func TestShutdownDrainsRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// A delivery longer than the server's 8 KiB prefetch: its handler
	// runs, reading the body, while the client still sends it.
	payload := waText("wamid.drain.inflight", "15550002222", "Ana", "in flight") + strings.Repeat(" ", 16<<10)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	head := fmt.Sprintf("POST /webhooks/whatsapp HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n"+
		"X-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n", meta.Sign([]byte(payload), []byte(appSecret)), len(payload))
	_, err = conn.Write([]byte(head + payload[:10<<10]))
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() error {
		if n := gateway.ActiveRequests(e.gw); n != 1 {
			return fmt.Errorf("%d requests in progress", n)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- e.gw.Shutdown(ctx) }()

	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	eventually(t, 5*time.Second, func() error {
		resp, err := fresh.Get(e.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		return nil
	})
	refused := waText("wamid.drain.late", "15550003333", "Bo", "too late")
	req, err := http.NewRequest(http.MethodPost, e.url+"/webhooks/whatsapp", strings.NewReader(refused))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", meta.Sign([]byte(refused), []byte(appSecret)))
	resp, err := fresh.Do(req)
	require.NoError(t, err, "a webhook arriving while the server drains is answered, not reset")
	body := make([]byte, 512)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "shutting_down", errorCode(t, body[:n]))
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.True(t, resp.Close, "the refusal closes its connection")
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) with a webhook in progress", err)
	default:
	}

	_, err = conn.Write([]byte(payload[10<<10:]))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	inflight, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	inflight.Body.Close()
	require.Equal(t, http.StatusOK, inflight.StatusCode, "the webhook in progress is answered after its commit")
	require.True(t, inflight.Close, "its connection closes after the answer")
	require.NoError(t, <-stopped)

	_, ok, err := e.store.LookupChannelMessage(e.ws, engine.ChannelWhatsApp, "wamid.drain.inflight")
	require.NoError(t, err)
	require.True(t, ok, "the webhook answered 200 is stored")
	_, ok, err = e.store.LookupChannelMessage(e.ws, engine.ChannelWhatsApp, "wamid.drain.late")
	require.NoError(t, err)
	require.False(t, ok, "the refused webhook stored nothing")
}

// The media files of webhooks answered before Shutdown are fetched during
// the drain: a download in progress runs to its end and the queued ones
// are fetched after it, rather than dropped with their messages left
// without their file.
func TestShutdownFetchesQueuedMedia(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.MediaWorkers = 1 })
	hold := make(chan struct{})
	e.graph.mu.Lock()
	e.graph.downloadHold = hold
	for i := range 3 {
		e.graph.media[fmt.Sprintf("MEDIA_DRAIN_%d", i)] = []byte(fmt.Sprintf("picture %d", i))
	}
	e.graph.mu.Unlock()
	var convs []engine.ID
	for i := range 3 {
		user := fmt.Sprintf("1555040%04d", i)
		payload := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},"contacts":[{"profile":{"name":"P"},"wa_id":"%s"}],"messages":[{"from":"%s","id":"wamid.img.drain.%d","timestamp":"1750000000","type":"image","image":{"id":"MEDIA_DRAIN_%d","mime_type":"image/jpeg"}}]}}]}]}`,
			phoneID, user, user, i, i)
		code, body := e.webhook(engine.ChannelWhatsApp, payload)
		require.Equal(t, http.StatusOK, code, string(body))
		convs = append(convs, e.thread(engine.ChannelWhatsApp, phoneID, user))
	}
	eventually(t, 5*time.Second, func() error { // the only worker is downloading the first file
		if n := len(e.graph.requests("/download/MEDIA_DRAIN_0")); n != 1 {
			return fmt.Errorf("%d downloads", n)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- e.gw.Shutdown(ctx) }()
	eventually(t, 5*time.Second, func() error { // Shutdown has closed the listener: no webhook comes any more
		resp, err := http.Get(e.url + "/readyz")
		if err != nil {
			return nil
		}
		resp.Body.Close()
		return fmt.Errorf("/readyz answered %d", resp.StatusCode)
	})
	close(hold)
	require.NoError(t, <-stopped)
	for i, conv := range convs {
		m := e.messages(conv)[0]
		require.NotNil(t, m.Media)
		require.NotEmpty(t, m.Media.StorageKey, "the file of message %d is fetched", i)
	}
}

// A connection no request came on (browsers and HTTP clients open spare
// ones) does not hold Shutdown until the server's read timeout: it is
// closed, after a 408 that clients take for "this idle connection is
// closing" (Go's HTTP client closes it quietly, browsers retry on another).
func TestShutdownClosesSpareConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.client.CloseIdleConnections() // the setup's keep-alive connections
	spare, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer spare.Close()
	eventually(t, 5*time.Second, func() error {
		if n := gateway.OpenConns(e.gw); n != 1 {
			return fmt.Errorf("%d connections", n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.gw.Shutdown(ctx), "the spare connection held the shutdown")
	require.NoError(t, spare.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(spare)
	require.NoError(t, err, "closed, not reset")
	require.True(t, strings.HasPrefix(string(got), "HTTP/1.1 408 ") && strings.Contains(string(got), "Connection: close\r\n"), "%q", got)
}
