package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// SetWebSocketWriteWait sets how long a WebSocket write may wait for its
// client (10 s otherwise).
func SetWebSocketWriteWait(s *Server, d time.Duration) { s.hub.wait.Store(int64(d)) }

// WebSocketSlowDisconnects is parley_gateway_websocket_slow_disconnects_total.
func WebSocketSlowDisconnects(s *Server) float64 {
	return testutil.ToFloat64(s.metrics.wsSlowDisconnects)
}
