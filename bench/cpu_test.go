package bench

import (
	"os"
	"testing"
	"time"
)

func TestCPUUseArithmetic(t *testing.T) {
	at := time.Unix(1000, 0)
	a := cpuSample{at: at, server: 10, self: 4, busy: 30, idle: 50}
	b := cpuSample{at: at.Add(2 * time.Second), server: 12.5, self: 5, busy: 34, idle: 50.25}
	u := b.Since(a)
	if u.Wall != 2*time.Second || u.Server != 2.5 || u.Generator != 1 || u.Idle != 0.25 {
		t.Fatalf("Since = %+v", u)
	}
	// busy rose by 4: 2.5 server + 1 generator + 0.5 the rest.
	if u.Other != 0.5 {
		t.Fatalf("Other = %v, want 0.5", u.Other)
	}
	if got := u.IdleShare(); got != 0.25/4.25 {
		t.Fatalf("IdleShare = %v", got)
	}
	if got := u.CoresUsed(u.Server); got != 1.25 {
		t.Fatalf("CoresUsed = %v, want 1.25", got)
	}
	if got := Per(u.Server, 25000); got != 100*time.Microsecond {
		t.Fatalf("Per = %v, want 100µs", got)
	}
	if Per(1, 0) != 0 {
		t.Fatal("Per of no operations must be zero")
	}
	// The kernel's counters are sampled apart: the rest never goes
	// negative.
	c := cpuSample{at: at.Add(time.Second), server: 11, self: 4.5, busy: 31}
	if u := c.Since(a); u.Other != 0 {
		t.Fatalf("Other = %v, want 0", u.Other)
	}
}

func TestCPUMeterReadsProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	// The "server" is this process: its CPU time and the generator's
	// are then the same counter.
	m, err := newCPUMeter(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.sample()
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has charged this process at least 50 ms (its
	// accounting has 10 ms steps).
	var b cpuSample
	x := uint64(1)
	for b.server-a.server < 0.05 {
		for i := range 1_000_000 {
			x = x*6364136223846793005 + uint64(i)
		}
		if b, err = m.sample(); err != nil {
			t.Fatal(err)
		}
	}
	u := b.Since(a)
	if u.Server < 0.05 || u.Generator < 0.05 {
		t.Fatalf("the spin was not counted: %+v (%d)", u, x)
	}
	if d := u.Server - u.Generator; d > 0.02 || d < -0.02 {
		t.Fatalf("one process read twice differs: server %v, generator %v", u.Server, u.Generator)
	}
	if s := u.IdleShare(); s < 0 || s > 1 {
		t.Fatalf("IdleShare = %v", s)
	}
	if u.Cores < 1 {
		t.Fatalf("Cores = %d", u.Cores)
	}
}

func TestCPUWindowWithoutServer(t *testing.T) {
	if _, ok := cpuWindow(0)(); ok {
		t.Fatal("a window without a server process measured something")
	}
	// A process that does not exist: no figures, no failure.
	if _, ok := cpuWindow(1 << 30)(); ok {
		t.Fatal("a window of a missing process measured something")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	u, ok := cpuWindow(os.Getpid())()
	if !ok || u.Wall <= 0 || u.Cores < 1 {
		t.Fatalf("window of this process: %+v, %v", u, ok)
	}
}
