package realtime

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// wsTransport is the byte stream under a WebSocket session, the seam
// between the hub and session logic and the socket. The session's writer
// (its methods that hold wmu) is its only writer: frames, control frames
// included, are built by Parley and handed over whole or in the parts a
// non-blocking write left. A test transport implements the same (see
// chunkTransport in the tests); one for another protocol (server-sent
// events) would also take over the framing (appendFrame,
// appendEventsFrame), which the session does today.
type wsTransport interface {
	// TryWrite writes what the transport takes of b at once, without
	// waiting. n < len(b) with a nil error: the rest must wait (Write).
	TryWrite(b []byte) (n int, err error)
	// Write writes b whole, giving up at deadline with an error for
	// which isTimeout holds. It leaves no deadline behind.
	Write(b []byte, deadline time.Time) error
	// Bound makes a Write in progress give up at deadline.
	Bound(deadline time.Time)
	// Close ends the transport: a read in progress, or to come, fails.
	Close() error
}

// netTransport is a wsTransport over a network connection, with
// non-blocking writes on the socket where the platform has them (see
// tryWriteRaw).
type netTransport struct {
	nc  net.Conn
	raw syscall.RawConn // nil: TryWrite takes nothing (every frame waits for Write)
}

func newNetTransport(nc net.Conn) *netTransport {
	return &netTransport{nc: nc, raw: rawConn(nc)}
}

// TryWrite implements wsTransport.
func (t *netTransport) TryWrite(b []byte) (int, error) {
	if t.raw == nil {
		return 0, nil
	}
	return tryWriteRaw(t.raw, b)
}

// Write implements wsTransport.
func (t *netTransport) Write(b []byte, deadline time.Time) error {
	_ = t.nc.SetWriteDeadline(deadline)
	_, err := t.nc.Write(b)
	_ = t.nc.SetWriteDeadline(time.Time{})
	return err
}

// Bound implements wsTransport.
func (t *netTransport) Bound(deadline time.Time) { _ = t.nc.SetWriteDeadline(deadline) }

// Close implements wsTransport. The reader is woken by a read deadline
// in the past: closing a hijacked connection before its handler returns
// does nothing (the HTTP server closes it after).
func (t *netTransport) Close() error {
	_ = t.nc.SetReadDeadline(time.Now())
	return t.nc.Close()
}

// isTimeout reports whether a write failed at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rawConn returns the socket under c for non-blocking writes, or nil.
// Fiber hands WebSocket handlers fasthttp's hijacked connection, which
// wraps the socket (UnsafeConn).
func rawConn(c net.Conn) syscall.RawConn {
	if !rawWrites {
		return nil
	}
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		c = u.UnsafeConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
