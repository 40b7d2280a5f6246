package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Retention (docs/ARCHITECTURE.md, "Retention, legal hold, export and
// erasure"). One goroutine, the retention worker, walks each workspace's
// conversations in id order, a bounded batch at a time, and asks each
// one's actor to apply the workspace's policy: the actor owns the message
// log, so it is the only writer that deletes from it. A passivated
// conversation is activated by the message like by any other. After each
// batch the worker commits how far it got (persistence.RetentionProgress),
// so a run cut short by a restart resumes after the last batch done, and
// waits Config.RetentionPace so that the inbox's own work keeps the disk
// and the actors first.

// Retention defaults.
const (
	// DefaultRetentionEvery is how often the worker starts a run.
	DefaultRetentionEvery = time.Hour
	// DefaultRetentionBatch is how many conversations one batch visits.
	DefaultRetentionBatch = 16
	// DefaultRetentionPace is the pause after each batch.
	DefaultRetentionPace = 50 * time.Millisecond
	// retentionMessageBatch bounds the messages one actor commit deletes.
	retentionMessageBatch = 500
)

// retentionMsg asks a conversation's actor to apply a retention policy
// at now.
type retentionMsg struct {
	policy engine.RetentionPolicy
	now    time.Time
	reply  chan retentionReply
}

type retentionReply struct {
	messages     int
	conversation bool
	digests      []string // media files released
	err          error
}

// retentionMetrics are the retention worker's Prometheus metrics.
type retentionMetrics struct {
	messages      prometheus.Counter
	conversations prometheus.Counter
	runSeconds    prometheus.Histogram
	lastRun       prometheus.Gauge
}

func newRetentionMetrics(reg prometheus.Registerer) *retentionMetrics {
	m := &retentionMetrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_retention_messages_deleted_total", Help: "Messages deleted by the retention policy (whole conversations' included)."}),
		conversations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_retention_conversations_deleted_total", Help: "Solved and archived conversations deleted whole by the retention policy."}),
		runSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_retention_run_seconds", Help: "Time one retention run over every workspace took, pauses included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_retention_last_run_timestamp_seconds", Help: "When the last complete retention run ended (Unix time)."}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.conversations, m.runSeconds, m.lastRun)
	}
	return m
}

// SetMediaReleaser sets f to be called with the media files whose
// messages retention deleted, once the deletion is committed: the media
// store removes those no other message references.
func (rt *Runtime) SetMediaReleaser(f func(ws engine.ID, digests []string)) {
	rt.mediaReleaser.Store(&f)
}

func (rt *Runtime) releaseMedia(ws engine.ID, digests []string) {
	if len(digests) == 0 {
		return
	}
	if f := rt.mediaReleaser.Load(); f != nil {
		(*f)(ws, digests)
	}
}

// retentionWorker starts a retention run every Config.RetentionEvery.
func (rt *Runtime) retentionWorker(ctx context.Context) {
	tick := rt.clock.NewTicker(rt.cfg.RetentionEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
			if _, err := rt.RunRetention(ctx); err != nil && ctx.Err() == nil {
				rt.log.Error("Retention run failed", "err", err)
			}
		}
	}
}

// RetentionReport is what one retention run deleted.
type RetentionReport struct {
	Messages      int64
	Conversations int64
}

// retentionBatchDone, when set (tests), runs after each batch's progress
// is committed.
var retentionBatchDone func(ws engine.ID, p persistence.RetentionProgress)

// RunRetention applies every workspace's retention policy once, resuming
// each workspace's run where a restart cut it short. The worker calls it
// every Config.RetentionEvery; tests call it with an injected clock.
func (rt *Runtime) RunRetention(ctx context.Context) (RetentionReport, error) {
	rt.retentionRun.Lock()
	defer rt.retentionRun.Unlock()
	start := time.Now()
	var total RetentionReport
	wss, err := rt.store.Workspaces()
	if err != nil {
		return total, fmt.Errorf("listing workspaces for retention: %w", err)
	}
	for _, w := range wss {
		r, err := rt.retainWorkspace(ctx, w.ID)
		total.Messages += r.Messages
		total.Conversations += r.Conversations
		if err != nil {
			return total, fmt.Errorf("retention of workspace %s: %w", w.ID, err)
		}
	}
	rt.retention.runSeconds.Observe(time.Since(start).Seconds())
	rt.retention.lastRun.Set(float64(rt.clock.Now().Unix()))
	return total, nil
}

func (rt *Runtime) retainWorkspace(ctx context.Context, ws engine.ID) (RetentionReport, error) {
	var r RetentionReport
	policy, err := rt.store.RetentionPolicy(ws)
	if err != nil || !policy.RetentionActive() {
		return r, err
	}
	prog, ok, err := rt.store.RetentionProgress(ws)
	if err != nil {
		return r, err
	}
	now := rt.clock.Now()
	if !ok || !prog.FinishedAt.IsZero() {
		prog = persistence.RetentionProgress{StartedAt: now}
	}
	for {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		ids, err := rt.store.ConversationIDsAfter(ws, prog.After, rt.cfg.RetentionBatch)
		if err != nil {
			return r, err
		}
		for _, id := range ids {
			rep, err := rt.retainConversation(ctx, ws, id, policy, rt.clock.Now())
			if err != nil {
				return r, fmt.Errorf("retention of conversation %s: %w", id, err)
			}
			r.Messages += int64(rep.messages)
			prog.Messages += int64(rep.messages)
			if rep.conversation {
				r.Conversations++
				prog.Conversations++
			}
		}
		if len(ids) > 0 {
			prog.After = ids[len(ids)-1]
		}
		if len(ids) < rt.cfg.RetentionBatch {
			prog.FinishedAt = rt.clock.Now()
		}
		b := rt.store.NewBatch()
		b.PutRetentionProgress(ws, &prog)
		if err := rt.store.Commit(b); err != nil {
			b.Close()
			return r, fmt.Errorf("committing retention progress: %w", err)
		}
		if retentionBatchDone != nil {
			retentionBatchDone(ws, prog)
		}
		if !prog.FinishedAt.IsZero() {
			rt.log.Info("Retention run finished", "workspace", ws, "messages", prog.Messages,
				"conversations", prog.Conversations)
			return r, nil
		}
		if rt.cfg.RetentionPace > 0 {
			// A real-time pause, not the injected clock: it spaces the
			// worker's disk work out against the inbox's.
			t := time.NewTimer(rt.cfg.RetentionPace)
			select {
			case <-ctx.Done():
				t.Stop()
				return r, ctx.Err()
			case <-t.C:
			}
		}
	}
}

// retainConversation asks conversation conv's actor to apply policy at
// now, waits for its commits and releases the media files it freed.
func (rt *Runtime) retainConversation(ctx context.Context, ws, conv engine.ID, policy engine.RetentionPolicy, now time.Time) (retentionReply, error) {
	if err := rt.enter(); err != nil {
		return retentionReply{}, err
	}
	defer rt.ops.Done()
	m := &retentionMsg{policy: policy, now: now, reply: make(chan retentionReply, 1)}
	rt.dir.send(ws, conv, m)
	var rep retentionReply
	select {
	case rep = <-m.reply:
	case <-ctx.Done():
		return retentionReply{}, ctx.Err()
	}
	rt.retention.messages.Add(float64(rep.messages))
	if rep.conversation {
		rt.retention.conversations.Inc()
	}
	rt.releaseMedia(ws, rep.digests)
	return rep, rep.err
}

// retain applies a retention policy to the conversation: the rule
// (engine.RetentionFor) decides, on the header as last committed and the
// contact's legal hold as stored now; a whole conversation goes through
// the same path as a person's delete (engine.Delete), expired messages in
// batches of the actor's own commits, each with the conversation's search
// entries queued for a rebuild.
func (a *conversationActor) retain(m *retentionMsg) retentionReply {
	if a.conv == nil {
		return retentionReply{}
	}
	_, held, err := a.rt.store.LegalHold(a.ws, a.conv.ContactID)
	if err != nil {
		return retentionReply{err: err}
	}
	v := engine.RetentionFor(m.policy, a.conv, m.now, held)
	var rep retentionReply
	if v.DeleteConversation {
		uses, err := a.rt.store.ConversationMedia(a.ws, a.id)
		if err != nil {
			return retentionReply{err: err}
		}
		n, err := a.rt.store.CountMessages(a.ws, a.id)
		if err != nil {
			return retentionReply{err: err}
		}
		if _, err := a.command(engine.Delete{}); err != nil {
			return retentionReply{err: err}
		}
		for _, u := range uses {
			rep.digests = append(rep.digests, u.Digest)
		}
		rep.messages, rep.conversation = n, true
		return rep
	}
	if v.MessagesBefore.IsZero() {
		return rep
	}
	for {
		msgs, err := a.rt.store.OldestMessages(a.ws, a.id, retentionMessageBatch)
		if err != nil {
			rep.err = err
			return rep
		}
		k := 0
		for k < len(msgs) && engine.RetentionExpired(&msgs[k], v.MessagesBefore) {
			k++
		}
		if k == 0 {
			return rep
		}
		t := a.begin()
		digests := t.b.DeleteMessages(a.conv, msgs[:k])
		if msgs[k-1].Seq >= a.conv.LastSeq {
			t.cur.Preview = "" // the newest message went: nothing of it stays on the header
		}
		if err := t.commit(); err != nil {
			t.abort()
			rep.err = err
			return rep
		}
		rep.messages += k
		rep.digests = append(rep.digests, digests...)
		if k < len(msgs) {
			return rep
		}
	}
}
