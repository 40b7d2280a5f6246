package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// courier hands outbound messages to the Sender. Each message accepted as
// sending has an outbox entry, written in the same batch as the message;
// the entry goes when the conversation records the outcome. On start the
// runtime re-queues every entry, so a message is never left sending by a
// crash (it may be sent twice if the crash fell between the channel's
// answer and our commit: at least once, never zero). Shutdown drains it
// (drain): no send starts any more, and a send already handed to the
// Sender runs to its answer, which is recorded, so that a restart does not
// send it again.
type courier struct {
	rt    *Runtime
	mu    sync.Mutex
	queue []queuedSend
	kickc chan struct{}
	// draining is closed when Shutdown begins: workers take no new send
	// and cut their backoff waits short; workers is the count of running
	// workers, which drain waits for.
	draining  chan struct{}
	drainOnce sync.Once
	workers   sync.WaitGroup
	// waiting maps each message queued or being sent to when it became
	// sending, for the outbox age metric.
	waiting map[outboxRef]time.Time
}

// queuedSend is a message to send and how many attempts already failed
// (recorded on its outbox entry, so the budget spans restarts).
type queuedSend struct {
	o     Outbound
	tried int
}

type outboxRef struct {
	ws, conv engine.ID
	seq      uint64
}

func refOf(m *engine.Message) outboxRef { return outboxRef{m.WorkspaceID, m.ConversationID, m.Seq} }

func newCourier(rt *Runtime) *courier {
	return &courier{rt: rt, kickc: make(chan struct{}, 1), draining: make(chan struct{}), waiting: map[outboxRef]time.Time{}}
}

// oldestAge is how long the oldest message queued or being sent has
// waited; zero when none. It scans the messages in flight, which are
// few unless a channel is down.
func (c *courier) oldestAge(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var oldest time.Time
	for _, t := range c.waiting {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest), 0)
}

func (c *courier) done(m *engine.Message) {
	c.mu.Lock()
	delete(c.waiting, refOf(m))
	c.mu.Unlock()
}

func (c *courier) start() {
	for range c.rt.cfg.CourierWorkers {
		c.workers.Add(1)
		c.rt.goroutine("courier", func(ctx context.Context) {
			defer c.workers.Done()
			c.work(ctx)
		})
	}
}

// errDrained is what send returns when shutdown cut its backoff wait
// short: the message was not accepted by the channel, and its outbox entry
// stays for the next start.
var errDrained = &SendError{Code: "shutdown", Reason: "shutting down", Temporary: true}

// drain stops the workers from starting sends and waits until every send
// in flight has its answer reported to its conversation (whose mailbox
// commits it before the actor stops), or until ctx ends. Messages still
// queued keep their outbox entries and are sent at the next start.
func (c *courier) drain(ctx context.Context) error {
	c.drainOnce.Do(func() { close(c.draining) })
	done := make(chan struct{})
	go func() {
		c.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("actors: sends still in flight: %w", ctx.Err())
	}
}

func (c *courier) isDraining() bool {
	select {
	case <-c.draining:
		return true
	default:
		return false
	}
}

// enqueue queues a send; it never blocks. The queue holds only messages
// already durable in the outbox, so its length is bounded by what was
// accepted.
func (c *courier) enqueue(o Outbound) { c.enqueueTried(o, 0) }

// enqueueTried queues a send of which tried attempts already failed.
func (c *courier) enqueueTried(o Outbound, tried int) {
	since := o.Message.StatusAt
	if since.IsZero() {
		since = o.Message.CreatedAt
	}
	c.mu.Lock()
	c.queue = append(c.queue, queuedSend{o, tried})
	if _, ok := c.waiting[refOf(&o.Message)]; !ok {
		c.waiting[refOf(&o.Message)] = since
	}
	c.mu.Unlock()
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

func (c *courier) next() (queuedSend, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return queuedSend{}, false
	}
	o := c.queue[0]
	c.queue[0] = queuedSend{}
	c.queue = c.queue[1:]
	if len(c.queue) > 0 {
		select { // wake another worker for the rest
		case c.kickc <- struct{}{}:
		default:
		}
	}
	return o, true
}

// recover re-queues an outbox entry found at start.
func (c *courier) recover(e persistence.OutboxEntry) error {
	conv, err := c.rt.store.Conversation(e.WorkspaceID, e.ConversationID)
	if err != nil {
		return err
	}
	m, err := c.rt.store.Message(e.WorkspaceID, e.ConversationID, e.Seq)
	if err != nil {
		return err
	}
	if m.Status != engine.StatusSending {
		// The outcome is recorded; only the entry was left. Let the
		// conversation drop it.
		c.rt.dir.send(e.WorkspaceID, e.ConversationID, &deliveryMsg{seq: e.Seq, extID: m.ChannelMessageID})
		return nil
	}
	c.enqueueTried(Outbound{Conversation: conv, Message: m}, e.Attempts)
	return nil
}

func (c *courier) work(ctx context.Context) {
	for {
		if c.isDraining() {
			return // what is queued stays in the outbox, sent at start
		}
		q, ok := c.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.draining:
				return
			case <-c.kickc:
				continue
			}
		}
		o := q.o
		extID, serr := c.send(ctx, o, q.tried)
		if ctx.Err() != nil || serr == errDrained {
			// Shutdown cut the send or its backoff short: the outbox
			// entry stays and the message is sent again at start (a call
			// cut short may have reached the channel: at least once).
			if ctx.Err() != nil && serr != errDrained {
				c.rt.log.Warn("Shutdown cut a send short; it is sent again at the next start",
					"conversation", o.Message.ConversationID, "seq", o.Message.Seq)
			}
			return
		}
		c.done(&o.Message)
		c.rt.dir.send(o.Message.WorkspaceID, o.Message.ConversationID,
			&deliveryMsg{seq: o.Message.Seq, extID: extID, err: serr})
	}
}

// send tries o until it succeeds, fails for good, or runs out of
// attempts (tried of them already failed before a restart), backing off
// exponentially with jitter between tries. Each failed attempt that will
// be retried is recorded on the outbox entry first.
func (c *courier) send(ctx context.Context, o Outbound, tried int) (string, *SendError) {
	rt := c.rt
	if rt.cfg.Sender == nil {
		rt.metrics.sent(o, "no_sender")
		return "", &SendError{Code: "no_sender", Reason: "no channel sender is configured"}
	}
	if tried >= rt.cfg.SendAttempts {
		rt.metrics.sent(o, "attempts_exhausted")
		return "", &SendError{Code: "attempts_exhausted", Reason: fmt.Sprintf("gave up after %d attempts", tried)}
	}
	backoff := 500 * time.Millisecond
	for range min(tried, 6) {
		backoff *= 2
	}
	backoff = min(backoff, 30*time.Second)
	for attempt := tried + 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, rt.cfg.SendTimeout)
		extID, err := rt.cfg.Sender.Send(sctx, o)
		cancel()
		if err == nil {
			if extID == "" {
				rt.metrics.sent(o, "no_message_id")
				return "", &SendError{Code: "no_message_id", Reason: "the channel accepted the message without an id"}
			}
			rt.metrics.sent(o, "")
			return extID, nil
		}
		var se *SendError
		if !errors.As(err, &se) {
			se = &SendError{Code: "network", Reason: err.Error(), Temporary: true}
		}
		// A broadcast's throttled send goes back to its broadcast, which
		// paces the retry (engine.BroadcastOnError).
		if !se.Temporary || attempt >= rt.cfg.SendAttempts || o.Message.Sender.Kind == engine.SenderBroadcast && engine.BroadcastThrottled(se.Code) {
			rt.metrics.sent(o, se.Code)
			if se.Temporary && attempt >= rt.cfg.SendAttempts {
				se = &SendError{Code: se.Code, Reason: fmt.Sprintf("%s (gave up after %d attempts)", se.Reason, attempt)}
			}
			return "", se
		}
		rt.metrics.sendRetries.Inc()
		c.recordAttempts(ctx, &o.Message, attempt)
		wait := backoff/2 + rand.N(backoff/2+1) //nolint:gosec // jitter
		select {
		case <-ctx.Done():
			return "", errDrained
		case <-c.draining:
			return "", errDrained
		case <-rt.clock.After(wait):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// recordAttempts has the message's conversation write the count of failed
// attempts on its outbox entry, and waits for it (or for shutdown).
func (c *courier) recordAttempts(ctx context.Context, m *engine.Message, attempts int) {
	if ctx.Err() != nil {
		return // shutting down: an attempt cut short is not counted
	}
	done := make(chan struct{})
	c.rt.dir.send(m.WorkspaceID, m.ConversationID, &attemptMsg{seq: m.Seq, attempts: attempts, done: done})
	select {
	case <-done:
	case <-ctx.Done():
	}
}
