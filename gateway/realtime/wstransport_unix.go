//go:build unix

package realtime

import "syscall"

// rawWrites: the platform's sockets take non-blocking writes.
const rawWrites = true

// tryWriteRaw writes what the socket takes of b now, without waiting
// for it to drain.
func tryWriteRaw(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		if werr == syscall.EAGAIN || werr == syscall.EINTR {
			n, werr = 0, nil
		}
		n = max(n, 0)
		return true // never wait for the socket to drain
	})
	if err == nil {
		err = werr
	}
	return n, err
}
