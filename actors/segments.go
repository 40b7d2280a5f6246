package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Segments (docs/ARCHITECTURE.md, "Segments"). The runtime owns the
// definitions: each change's read-check-write (the workspace's limit)
// and its commit run under segmentDefs.mu, and the definitions are kept
// in memory per workspace. A contact's membership entries are written
// only by its actor, in the batch of the contact's change
// (syncSegments); the backfill of a new or edited segment and the sweep
// of time conditions ask each contact's actor to evaluate its contact
// again (resegment), so there is no second writer.

// Segment errors.
var (
	// ErrSegmentNotFound is returned for a segment that does not exist
	// in the workspace (it wraps persistence.ErrNotFound).
	ErrSegmentNotFound = fmt.Errorf("actors: segment not found: %w", persistence.ErrNotFound)
	// ErrTooManySegments is returned when a workspace holds
	// engine.MaxSegments already.
	ErrTooManySegments = errors.New("actors: too many segments")
)

const (
	// segmentBackfillPage is how many contacts the backfill takes per
	// step; its progress is committed after each.
	segmentBackfillPage = 256
	// segmentBackfillWorkers bounds the contacts a backfill evaluates at
	// once.
	segmentBackfillWorkers = 8
	// segmentSweepBatch bounds the due contacts one sweep of a workspace
	// tells.
	segmentSweepBatch = 1000
	// DefaultSegmentSweep is how often the sweep looks for contacts whose
	// time conditions changed.
	DefaultSegmentSweep = time.Minute
)

type segmentJob struct{ ws, seg engine.ID }

type segmentDefs struct {
	mu sync.Mutex // definition changes and backfill progress commits

	cacheMu sync.RWMutex
	cache   map[engine.ID][]engine.Segment // workspace → its segments, oldest first

	jobs    chan segmentJob
	queued  sync.Map // segmentJob → struct{}
	metrics *segmentMetrics
}

type segmentMetrics struct {
	changes          *prometheus.CounterVec
	backfillContacts prometheus.Counter
	backfillSeconds  prometheus.Histogram
	backfillsRunning prometheus.Gauge
	sweepTold        prometheus.Counter
}

func newSegmentMetrics(reg prometheus.Registerer) *segmentMetrics {
	m := &segmentMetrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_segment_membership_changes_total", Help: "Contacts that entered or left a segment, by change (entered, left)."},
			[]string{"change"}),
		backfillContacts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_segment_backfill_contacts_total", Help: "Contacts evaluated by segment backfills."}),
		backfillSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_segment_backfill_duration_seconds", Help: "Time a segment backfill took from its start (or resumption) to its end.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 18)}),
		backfillsRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_segment_backfills_running", Help: "Segment backfills in progress (0 or 1: they run one at a time)."}),
		sweepTold: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_segment_sweep_contacts_total", Help: "Contacts whose time conditions came due, sent to their actor to be evaluated again."}),
	}
	if reg != nil {
		reg.MustRegister(m.changes, m.backfillContacts, m.backfillSeconds, m.backfillsRunning, m.sweepTold)
	}
	return m
}

func (d *segmentDefs) observe(changes []engine.SegmentChange) {
	for _, c := range changes {
		if c.Entered {
			d.metrics.changes.WithLabelValues("entered").Inc()
		} else {
			d.metrics.changes.WithLabelValues("left").Inc()
		}
	}
}

// segmentsOf returns the segments of ws, read once and then kept.
func (rt *Runtime) segmentsOf(ws engine.ID) ([]engine.Segment, error) {
	d := &rt.segs
	d.cacheMu.RLock()
	segs, ok := d.cache[ws]
	d.cacheMu.RUnlock()
	if ok {
		return segs, nil
	}
	d.cacheMu.Lock()
	defer d.cacheMu.Unlock()
	if segs, ok := d.cache[ws]; ok {
		return segs, nil
	}
	segs, err := rt.store.Segments(ws)
	if err != nil {
		return nil, fmt.Errorf("reading segments: %w", err)
	}
	if d.cache == nil {
		d.cache = map[engine.ID][]engine.Segment{}
	}
	d.cache[ws] = segs
	return segs, nil
}

// reloadSegments reads the segments of ws again after a committed
// change.
func (rt *Runtime) reloadSegments(ws engine.ID) error {
	d := &rt.segs
	d.cacheMu.Lock()
	defer d.cacheMu.Unlock()
	segs, err := rt.store.Segments(ws)
	if err != nil {
		delete(d.cache, ws)
		return fmt.Errorf("reading segments: %w", err)
	}
	if d.cache == nil {
		d.cache = map[engine.ID][]engine.Segment{}
	}
	d.cache[ws] = segs
	return nil
}

// Segments returns the segments of workspace ws, oldest first.
func (rt *Runtime) Segments(ws engine.ID) ([]engine.Segment, error) {
	segs, err := rt.segmentsOf(ws)
	return slices.Clone(segs), err
}

// Segment returns segment id of ws, or ErrSegmentNotFound.
func (rt *Runtime) Segment(ws, id engine.ID) (engine.Segment, error) {
	segs, err := rt.segmentsOf(ws)
	if err != nil {
		return engine.Segment{}, err
	}
	for _, s := range segs {
		if s.ID == id {
			return s, nil
		}
	}
	return engine.Segment{}, ErrSegmentNotFound
}

// SegmentBackfill returns the progress of segment id's backfill.
func (rt *Runtime) SegmentBackfill(ws, id engine.ID) (persistence.SegmentBackfill, error) {
	return rt.store.SegmentBackfillProgress(ws, id)
}

// CreateSegment stores new segment s (its ID, WorkspaceID and times set
// by the caller) and starts its backfill.
func (rt *Runtime) CreateSegment(ctx context.Context, s engine.Segment) (engine.Segment, error) {
	if err := engine.ValidateSegment(&s); err != nil {
		return engine.Segment{}, err
	}
	if err := rt.enter(); err != nil {
		return engine.Segment{}, err
	}
	defer rt.ops.Done()
	rt.segs.mu.Lock()
	defer rt.segs.mu.Unlock()
	have, err := rt.store.Segments(s.WorkspaceID)
	if err != nil {
		return engine.Segment{}, err
	}
	if len(have) >= engine.MaxSegments {
		return engine.Segment{}, ErrTooManySegments
	}
	s.Version = 1
	if err := rt.commitSegment(&s); err != nil {
		return engine.Segment{}, err
	}
	return s, nil
}

// UpdateSegment replaces the name, match and conditions of segment id
// with those of s; an edit of the conditions restarts the backfill.
func (rt *Runtime) UpdateSegment(ctx context.Context, ws, id engine.ID, s engine.Segment) (engine.Segment, error) {
	if err := rt.enter(); err != nil {
		return engine.Segment{}, err
	}
	defer rt.ops.Done()
	rt.segs.mu.Lock()
	defer rt.segs.mu.Unlock()
	cur, err := rt.store.Segment(ws, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return engine.Segment{}, ErrSegmentNotFound
	} else if err != nil {
		return engine.Segment{}, err
	}
	next := cur
	next.Name, next.Match, next.Conditions = s.Name, s.Match, s.Conditions
	if err := engine.ValidateSegment(&next); err != nil {
		return engine.Segment{}, err
	}
	next.UpdatedAt = rt.clock.Now().UTC()
	if !slices.Equal(next.Conditions, cur.Conditions) || next.Match != cur.Match {
		next.Version++
	}
	if next.Version == cur.Version {
		b := rt.store.NewBatch()
		b.PutSegment(&next)
		if err := rt.store.Commit(b); err != nil {
			b.Close()
			return engine.Segment{}, fmt.Errorf("committing segment: %w", err)
		}
		return next, rt.reloadSegments(ws)
	}
	if err := rt.commitSegment(&next); err != nil {
		return engine.Segment{}, err
	}
	return next, nil
}

// commitSegment writes s with a new backfill of its version, makes it
// the workspace's, and queues the backfill. The caller holds segs.mu.
func (rt *Runtime) commitSegment(s *engine.Segment) error {
	b := rt.store.NewBatch()
	b.PutSegment(s)
	b.PutSegmentBackfill(s.WorkspaceID, &persistence.SegmentBackfill{SegmentID: s.ID, Version: s.Version,
		StartedAt: rt.clock.Now().UTC()})
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing segment: %w", err)
	}
	if err := rt.reloadSegments(s.WorkspaceID); err != nil {
		return err
	}
	rt.queueBackfill(segmentJob{s.WorkspaceID, s.ID})
	return nil
}

// DeleteSegment removes segment id of ws with its members.
func (rt *Runtime) DeleteSegment(ctx context.Context, ws, id engine.ID) error {
	if err := rt.enter(); err != nil {
		return err
	}
	defer rt.ops.Done()
	rt.segs.mu.Lock()
	defer rt.segs.mu.Unlock()
	if _, err := rt.store.Segment(ws, id); errors.Is(err, persistence.ErrNotFound) {
		return ErrSegmentNotFound
	} else if err != nil {
		return err
	}
	b := rt.store.NewBatch()
	b.DeleteSegment(ws, id)
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("deleting segment: %w", err)
	}
	return rt.reloadSegments(ws)
}

// segmentSync is what syncSegments wrote into a batch.
type segmentSync struct {
	changes []engine.SegmentChange
	wrote   bool
}

// syncSegments brings contact id's membership entries, its due entry
// and its activity log in line with next (nil: the contact is gone), in
// batch b. Only the contact's actor calls it, for the batch of its own
// change (docs/ARCHITECTURE.md, invariant 11).
func (rt *Runtime) syncSegments(b *persistence.Batch, ws, id engine.ID, next *engine.Contact) (segmentSync, error) {
	segs, err := rt.segmentsOf(ws)
	if err != nil || len(segs) == 0 {
		return segmentSync{}, err
	}
	have, err := rt.store.ContactSegments(ws, id)
	if err != nil {
		return segmentSync{}, err
	}
	due, err := rt.store.SegmentDue(ws, id)
	if err != nil {
		return segmentSync{}, err
	}
	now := rt.clock.Now().UTC()
	want := engine.Memberships(segs, next, now)
	var out segmentSync
	var changed []engine.Segment
	var entered []bool
	for _, sid := range have {
		if want[sid] {
			continue
		}
		i := slices.IndexFunc(segs, func(s engine.Segment) bool { return s.ID == sid })
		if i < 0 {
			b.DropContactSegment(ws, id, sid)
			out.wrote = true
			continue
		}
		b.SetSegmentMember(ws, sid, id, false)
		changed, entered = append(changed, segs[i]), append(entered, false)
	}
	for i := range segs {
		if want[segs[i].ID] && !slices.Contains(have, segs[i].ID) {
			b.SetSegmentMember(ws, segs[i].ID, id, true)
			changed, entered = append(changed, segs[i]), append(entered, true)
		}
	}
	if len(changed) > 0 && next != nil {
		ids := engine.NewIDs(now, len(changed))
		for i, s := range changed {
			ch := engine.SegmentChange{ID: ids[i], WorkspaceID: ws, ContactID: id, SegmentID: s.ID,
				SegmentName: s.Name, Entered: entered[i], At: now}
			b.PutSegmentChange(&ch)
			out.changes = append(out.changes, ch)
		}
	}
	var nextDue time.Time
	if next != nil {
		nextDue = engine.SegmentNextChange(segs, *next, now)
	}
	b.SetSegmentDue(ws, id, due, nextDue)
	out.wrote = out.wrote || len(changed) > 0 || !due.Equal(nextDue)
	return out, nil
}

// contactActivity reads what the contact's conversations say of it:
// when it last wrote and their tags (reads across owners, of what their
// actors committed).
func (rt *Runtime) contactActivity(ws, id engine.ID) (time.Time, []string, error) {
	convs, err := rt.store.ContactConversations(ws, id)
	if err != nil {
		return time.Time{}, nil, err
	}
	var last time.Time
	tags := []string{}
	for _, conv := range convs {
		c, err := rt.store.Conversation(ws, conv)
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		} else if err != nil {
			return time.Time{}, nil, err
		}
		if c.LastInboundAt.After(last) {
			last = c.LastInboundAt
		}
		tags = append(tags, c.Tags...)
	}
	return last, tags, nil
}

// resegment evaluates the contact's segments again: its activity read
// from its conversations, then its memberships at the runtime's time. It
// commits only what changed.
func (a *contactActor) resegment() error {
	if a.c == nil {
		b := a.rt.store.NewBatch()
		s, err := a.rt.syncSegments(b, a.ws, a.id, nil)
		if err != nil || !s.wrote {
			b.Close()
			return err
		}
		if err := a.rt.store.Commit(b); err != nil {
			b.Close()
			return fmt.Errorf("committing segments of contact %s: %w", a.id, err)
		}
		return nil
	}
	last, tags, err := a.rt.contactActivity(a.ws, a.id)
	if err != nil {
		return err
	}
	if act, changed := engine.UpdateActivity(a.c.Activity, last, tags); changed {
		next := *a.c
		next.Activity = act
		_, err := a.put(next, engine.EventContactUpdated)
		return err
	}
	b := a.rt.store.NewBatch()
	s, err := a.rt.syncSegments(b, a.ws, a.id, a.c)
	if err != nil || !s.wrote {
		b.Close()
		return err
	}
	if err := a.rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing segments of contact %s: %w", a.id, err)
	}
	a.rt.segs.observe(s.changes)
	return nil
}

// Resegment asks contact id's actor to evaluate its segments again and
// waits for it.
func (rt *Runtime) Resegment(ctx context.Context, ws, id engine.ID) error {
	_, err := rt.contactCall(ctx, ws, id, true, "segments", func(a *contactActor) (any, error) {
		return nil, a.resegment()
	})
	return err
}

// activityLater tells contact's actor that one of its conversations
// changed what segments look at: a customer message at lastMessage
// (zero: none), its tags (tagsChanged); created is set for a new
// conversation, whose contact may be new too (written by the
// conversation's first batch): it is evaluated whole. The conversation
// actor does not wait. Nothing is told in a workspace without segments.
func (rt *Runtime) activityLater(ws, contact engine.ID, lastMessage time.Time, tagsChanged, created bool) {
	if segs, err := rt.segmentsOf(ws); err != nil || len(segs) == 0 {
		return
	}
	rt.contactTell(ws, contact, "activity", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil
		}
		if created {
			return nil, a.resegment()
		}
		var tags []string
		if tagsChanged {
			_, t, err := rt.contactActivity(ws, contact)
			if err != nil {
				return nil, err
			}
			tags = t
		}
		act, changed := engine.UpdateActivity(a.c.Activity, lastMessage, tags)
		if !changed {
			return nil, nil
		}
		next := *a.c
		next.Activity = act
		_, err := a.put(next, engine.EventContactUpdated)
		return nil, err
	})
}

// queueBackfill queues the backfill of j unless it is queued already. A
// full queue drops it: its progress is durable, and the next start
// resumes it.
func (rt *Runtime) queueBackfill(j segmentJob) {
	if _, dup := rt.segs.queued.LoadOrStore(j, struct{}{}); dup {
		return
	}
	select {
	case rt.segs.jobs <- j:
	default:
		rt.segs.queued.Delete(j)
		rt.log.Warn("Segment backfill queue full; it resumes at the next start", "segment", j.seg)
	}
}

// segmentBackfiller runs the queued backfills one at a time, first those
// a previous process left unfinished.
func (rt *Runtime) segmentBackfiller(ctx context.Context) {
	wss, err := rt.store.Workspaces()
	if err != nil {
		rt.log.Error("Reading workspaces for segment backfills", "err", err)
	}
	for _, w := range wss {
		segs, err := rt.segmentsOf(w.ID)
		if err != nil {
			rt.log.Error("Reading segments", "workspace", w.ID, "err", err)
			continue
		}
		for _, s := range segs {
			p, err := rt.store.SegmentBackfillProgress(w.ID, s.ID)
			if err != nil || p.Version != s.Version || p.FinishedAt.IsZero() {
				rt.queueBackfill(segmentJob{w.ID, s.ID})
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-rt.segs.jobs:
			rt.segs.queued.Delete(j)
			if err := rt.backfill(ctx, j); err != nil && ctx.Err() == nil && !errors.Is(err, ErrShuttingDown) {
				rt.log.Error("Segment backfill", "segment", j.seg, "err", err)
			}
		}
	}
}

// backfill evaluates every contact of j's workspace, in id order from
// where its progress stands, through each contact's actor, and commits
// the progress after each page. An edit of the segment meanwhile ends
// it (the edit queued a new one).
func (rt *Runtime) backfill(ctx context.Context, j segmentJob) error {
	seg, err := rt.store.Segment(j.ws, j.seg)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	p, err := rt.store.SegmentBackfillProgress(j.ws, j.seg)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	if p.Version != seg.Version {
		p = persistence.SegmentBackfill{SegmentID: seg.ID, Version: seg.Version, StartedAt: rt.clock.Now().UTC()}
	} else if !p.FinishedAt.IsZero() {
		return nil
	}
	if p.Done == 0 && p.Total == 0 {
		// How many there are to do, counted by the backfill rather than
		// by the API call that made the segment.
		total, err := rt.store.CountContacts(j.ws, 1<<31-1)
		if err != nil {
			return err
		}
		p.Total = int64(total)
		if _, err := rt.putBackfill(j.ws, &p); err != nil {
			return err
		}
	}
	m := rt.segs.metrics
	m.backfillsRunning.Inc()
	defer m.backfillsRunning.Dec()
	start := time.Now()
	for {
		ids, err := rt.store.ContactIDsAfter(j.ws, p.Cursor, segmentBackfillPage)
		if err != nil {
			return err
		}
		if err := rt.resegmentAll(ctx, j.ws, ids); err != nil {
			return err
		}
		if len(ids) > 0 {
			p.Cursor = ids[len(ids)-1]
		}
		p.Done += int64(len(ids))
		p.Total = max(p.Total, p.Done)
		if len(ids) < segmentBackfillPage {
			p.FinishedAt = rt.clock.Now().UTC()
		}
		m.backfillContacts.Add(float64(len(ids)))
		if current, err := rt.putBackfill(j.ws, &p); err != nil || !current {
			return err
		}
		if !p.FinishedAt.IsZero() {
			m.backfillSeconds.Observe(time.Since(start).Seconds())
			rt.log.Info("Segment backfill done", "segment", seg.ID, "contacts", p.Done, "took", time.Since(start))
			return nil
		}
	}
}

// resegmentAll asks the actors of ids to evaluate their segments, a few
// at a time, and waits for all.
func (rt *Runtime) resegmentAll(ctx context.Context, ws engine.ID, ids []engine.ID) error {
	sem := make(chan struct{}, segmentBackfillWorkers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := rt.Resegment(ctx, ws, id)
			if err != nil && !errors.Is(err, ErrContactNotFound) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// putBackfill commits a backfill's progress if its version is still the
// segment's; it reports whether it was.
func (rt *Runtime) putBackfill(ws engine.ID, p *persistence.SegmentBackfill) (bool, error) {
	rt.segs.mu.Lock()
	defer rt.segs.mu.Unlock()
	seg, err := rt.store.Segment(ws, p.SegmentID)
	if errors.Is(err, persistence.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if seg.Version != p.Version {
		return false, nil
	}
	b := rt.store.NewBatch()
	b.PutSegmentBackfill(ws, p)
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return false, fmt.Errorf("committing backfill progress: %w", err)
	}
	return true, nil
}

// segmentSweeper tells, every interval of the runtime's clock, the
// actors of the contacts whose time conditions came due.
func (rt *Runtime) segmentSweeper(ctx context.Context) {
	tick := rt.clock.NewTicker(rt.cfg.SegmentSweep)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.Chan():
			rt.SweepSegments(now)
		}
	}
}

// SweepSegments tells the actors of the contacts whose time conditions
// are due at now to evaluate them again (the sweeper calls it every
// Config.SegmentSweep; tests may).
func (rt *Runtime) SweepSegments(now time.Time) {
	rt.segs.cacheMu.RLock()
	var wss []engine.ID
	for ws, segs := range rt.segs.cache {
		if slices.ContainsFunc(segs, func(s engine.Segment) bool { return engine.SegmentTimed(&s) }) {
			wss = append(wss, ws)
		}
	}
	rt.segs.cacheMu.RUnlock()
	for _, ws := range wss {
		ids, err := rt.store.DueSegmentContacts(ws, now, segmentSweepBatch)
		if err != nil {
			rt.log.Error("Reading contacts due for segments", "workspace", ws, "err", err)
			continue
		}
		for _, id := range ids {
			rt.contactTell(ws, id, "segments due", func(a *contactActor) (any, error) { return nil, a.resegment() })
		}
		rt.segs.metrics.sweepTold.Add(float64(len(ids)))
	}
}
