package gateway

import "time"

// SetWebSocketWriteWait sets how long a WebSocket write may wait for its
// client (10 s otherwise).
func SetWebSocketWriteWait(s *Server, d time.Duration) { s.hub.SetWriteWait(d) }
