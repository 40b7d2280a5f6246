package actors

import (
	"sync"
	"time"
)

// poolDispatcher runs actor mailboxes on a pool of long-lived goroutines
// instead of a new goroutine per mailbox run. A new goroutine starts with
// a small stack that the ingest path (JSON, Pebble) grows every time; a
// reused one keeps its stack. Schedule hands the run to an idle worker if
// there is one and starts a worker otherwise, so it never waits; workers
// idle for longer than idleFor exit.
type poolDispatcher struct {
	work       chan func()
	throughput int
	idleFor    time.Duration
	quit       chan struct{}
	wg         sync.WaitGroup
	stopOnce   sync.Once
}

func newPoolDispatcher(throughput int, idleFor time.Duration) *poolDispatcher {
	return &poolDispatcher{work: make(chan func()), throughput: throughput, idleFor: idleFor, quit: make(chan struct{})}
}

// Schedule runs fn on a pooled goroutine.
func (d *poolDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		d.wg.Add(1)
		go d.worker(fn)
	}
}

// Throughput is how many messages a mailbox run handles before yielding.
func (d *poolDispatcher) Throughput() int { return d.throughput }

func (d *poolDispatcher) worker(fn func()) {
	defer d.wg.Done()
	fn()
	idle := time.NewTimer(d.idleFor)
	defer idle.Stop()
	for {
		select {
		case fn := <-d.work:
			fn()
			idle.Reset(d.idleFor)
		case <-idle.C:
			return
		case <-d.quit:
			return
		}
	}
}

// stop makes idle workers exit and waits for running ones to finish.
func (d *poolDispatcher) stop() {
	d.stopOnce.Do(func() { close(d.quit) })
	d.wg.Wait()
}
