//go:build !unix

package realtime

import "syscall"

// rawWrites: elsewhere (Windows) the shards write nothing themselves;
// each connection's frames are written by its session goroutine with
// blocking writes.
const rawWrites = false

func tryWriteRaw(syscall.RawConn, []byte) (int, error) { return 0, nil }
