//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// RaiseFDLimit raises this process's open-file limit to its hard limit
// (children, such as the server under test, inherit it) and returns the
// new soft limit.
func RaiseFDLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("raising the open-file limit: %w", err)
		}
	}
	return l.Cur, nil
}
