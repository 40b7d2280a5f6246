package bench

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/prometheus/procfs"
)

// cpuMeter samples where the machine's CPU time goes during a run: to the
// server under test, to this process (the load generator, which shares
// the machine), and to everything else (the kernel's threads, other
// processes), with what stayed idle. It reads /proc (Linux).
type cpuMeter struct {
	fs     procfs.FS
	server procfs.Proc
	self   procfs.Proc
}

// cpuSample is the CPU time, in seconds, used up to one moment.
type cpuSample struct {
	at                 time.Time
	server, self, busy float64
	idle               float64 // idle and I/O wait, machine-wide
}

// CPUUse is the CPU time, in seconds, used between two samples. Server +
// Generator + Other + Idle is the machine's CPU time over Wall (Wall ×
// Cores), up to the kernel's accounting granularity.
type CPUUse struct {
	Wall                           time.Duration
	Cores                          int
	Server, Generator, Other, Idle float64
}

// newCPUMeter returns a meter of the server process pid.
func newCPUMeter(pid int) (*cpuMeter, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, fmt.Errorf("opening /proc: %w", err)
	}
	server, err := fs.Proc(pid)
	if err != nil {
		return nil, fmt.Errorf("reading process %d: %w", pid, err)
	}
	self, err := fs.Self()
	if err != nil {
		return nil, fmt.Errorf("reading this process: %w", err)
	}
	return &cpuMeter{fs: fs, server: server, self: self}, nil
}

// cpuWindow starts measuring where the CPU goes, with server process pid;
// the function it returns gives what was used since. With pid 0, or
// where /proc cannot be read, it measures nothing (ok is false) and the
// run goes on without CPU figures.
func cpuWindow(pid int) func() (u CPUUse, ok bool) {
	none := func() (CPUUse, bool) { return CPUUse{}, false }
	if pid == 0 {
		return none
	}
	m, err := newCPUMeter(pid)
	if err != nil {
		return none
	}
	before, err := m.sample()
	if err != nil {
		return none
	}
	return func() (CPUUse, bool) {
		after, err := m.sample()
		if err != nil {
			return CPUUse{}, false
		}
		return after.Since(before), true
	}
}

// sample reads the CPU time used so far.
func (m *cpuMeter) sample() (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	st, err := m.server.Stat()
	if err != nil {
		return s, fmt.Errorf("reading the server's CPU time: %w", err)
	}
	me, err := m.self.Stat()
	if err != nil {
		return s, fmt.Errorf("reading this process's CPU time: %w", err)
	}
	all, err := m.fs.Stat()
	if err != nil {
		return s, fmt.Errorf("reading the machine's CPU time: %w", err)
	}
	c := all.CPUTotal
	s.server, s.self = st.CPUTime(), me.CPUTime()
	s.busy = c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
	s.idle = c.Idle + c.Iowait
	return s, nil
}

// Since returns the CPU used from sample a to sample b.
func (b cpuSample) Since(a cpuSample) CPUUse {
	u := CPUUse{Wall: b.at.Sub(a.at), Cores: runtime.NumCPU(),
		Server: b.server - a.server, Generator: b.self - a.self, Idle: b.idle - a.idle}
	u.Other = max(b.busy-a.busy-u.Server-u.Generator, 0)
	return u
}

// Per returns CPU seconds spread over n operations, as a duration per
// operation (zero when n is not positive).
func Per(cpuSeconds float64, n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(math.Round(cpuSeconds / float64(n) * float64(time.Second)))
}

// IdleShare is the share of the machine's CPU time that stayed idle.
func (u CPUUse) IdleShare() float64 {
	total := u.Server + u.Generator + u.Other + u.Idle
	if total <= 0 {
		return 0
	}
	return u.Idle / total
}

// Cores used on average by cpuSeconds over the run.
func (u CPUUse) CoresUsed(cpuSeconds float64) float64 {
	if u.Wall <= 0 {
		return 0
	}
	return cpuSeconds / u.Wall.Seconds()
}
