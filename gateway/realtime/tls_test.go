package realtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// TestHandlerOverTLS serves the hub from Fiber on a TLS listener: the
// hello, events written by the session's writer and the 1001 close at
// Shutdown all reach the client intact. (Muting the library with a
// timed-out write corrupts a TLS connection: the client saw "bad record
// MAC".)
func TestHandlerOverTLS(t *testing.T) {
	t.Parallel()
	// httptest's certificate for 127.0.0.1, and its pool.
	certSrv := httptest.NewTLSServer(nil)
	cert, roots := certSrv.TLS.Certificates[0], x509.NewCertPool()
	roots.AddCert(certSrv.Certificate())
	certSrv.Close()

	bc := actors.NewBroadcaster("ep", 64, 64)
	ws := engine.NewID(time.Unix(1, 0))
	h, err := New(Config{Broadcaster: bc, Authenticate: func(*fiber.Ctx) (engine.ID, engine.ID, error) {
		return ws, engine.NewID(time.Unix(2, 0)), nil
	}})
	require.NoError(t, err)
	h.Start(context.Background())
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/ws", h.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		_ = app.Listener(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	defer func() { _ = app.Shutdown() }()

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, _, err := d.Dial("wss://"+ln.Addr().String()+"/api/v1/ws", nil)
	require.NoError(t, err)
	defer conn.Close()
	read := func() map[string]any {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		var f map[string]any
		require.NoError(t, conn.ReadJSON(&f))
		return f
	}
	require.Equal(t, "hello", read()["type"])
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.subscribers) == 1 }, 5*time.Second, time.Millisecond)
	for i := range 3 {
		bc.Publish([]engine.Event{{Type: "message.created", WorkspaceID: ws}})
		require.Equal(t, float64(i+1), read()["seq"])
	}
	require.NoError(t, h.Shutdown(context.Background()))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
}
