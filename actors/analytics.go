package actors

import (
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// businessDelta is what one committed change adds to the business
// figures: openings, first replies, resolutions, replies by author, CSAT.
type businessDelta struct {
	ch                engine.Channel
	opened, resolved  bool
	firstReply        bool
	firstReplyDelay   time.Duration
	resolutionTime    time.Duration
	aiReplies, humans int64
	csat              int
	changed           bool
}

// analytics compares the header before and after this transaction and
// the messages it wrote, adds the business figures that moved to the
// batch (persistence.AddFigure, in the same commit, so they are exact and
// durable), and returns them for the Prometheus counters, which move only
// once the commit succeeded.
func (t *txn) analytics() businessDelta {
	c := &t.cur
	d := businessDelta{ch: c.Channel}
	if c.Deleted || c.ID == engine.ZeroID {
		return d
	}
	old := t.old
	if old == nil {
		old = &engine.Conversation{}
	}
	if !c.OpenedAt.IsZero() && !c.OpenedAt.Equal(old.OpenedAt) {
		d.opened = true
	}
	if !c.FirstReplyAt.IsZero() && !c.FirstReplyAt.Equal(old.FirstReplyAt) {
		d.firstReply, d.firstReplyDelay = true, max(c.FirstReplyAt.Sub(c.OpenedAt), 0)
	}
	if c.Folder == engine.FolderSolved && old.Folder != engine.FolderSolved {
		from := c.OpenedAt
		if from.IsZero() {
			from = c.CreatedAt
		}
		d.resolved, d.resolutionTime = true, max(t.now.Sub(from), 0)
	}
	for _, m := range t.changed {
		if m.Seq <= old.LastSeq || m.Direction != engine.DirOut {
			continue
		}
		switch m.Sender.Kind {
		case engine.SenderAI:
			d.aiReplies++
		case engine.SenderHuman:
			d.humans++
		}
	}
	if c.CSAT != 0 && c.CSAT != old.CSAT {
		d.csat = c.CSAT
	}
	ws, day, b := c.WorkspaceID, persistence.DayOf(t.now), t.b
	add := func(f persistence.Figure, v int64) {
		if v != 0 {
			b.AddFigure(ws, day, d.ch, f, v)
			d.changed = true
		}
	}
	add(persistence.FigOpened, b2i(d.opened))
	add(persistence.FigFirstReplies, b2i(d.firstReply))
	add(persistence.FigFirstReplyMillis, d.firstReplyDelay.Milliseconds())
	add(persistence.FigResolved, b2i(d.resolved))
	add(persistence.FigResolutionMillis, d.resolutionTime.Milliseconds())
	add(persistence.FigRepliesAI, d.aiReplies)
	add(persistence.FigRepliesHuman, d.humans)
	add(persistence.FigCSATRatings, b2i(d.csat != 0))
	add(persistence.FigCSATSum, int64(d.csat))
	return d
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// businessMetrics are the business figures as Prometheus metrics, counted
// since the process started; Prometheus' increase() over a range gives
// the figures of that range.
type businessMetrics struct {
	opened, resolved *prometheus.CounterVec
	firstResponse    *prometheus.HistogramVec
	resolution       *prometheus.HistogramVec
	replies          *prometheus.CounterVec
	csat             *prometheus.HistogramVec
}

// responseBuckets run from one second to about 18 hours.
var responseBuckets = prometheus.ExponentialBuckets(1, 4, 9)

func newBusinessMetrics(reg prometheus.Registerer) *businessMetrics {
	ch := []string{"channel"}
	m := &businessMetrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_conversations_opened_total",
			Help: "Conversations opened or reopened by a customer message, by channel."}, ch),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_conversations_resolved_total",
			Help: "Conversations moved to solved, by channel."}, ch),
		firstResponse: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_first_response_duration_seconds",
			Help: "Time from a conversation's opening to its first reply (AI or human), by channel.", Buckets: responseBuckets}, ch),
		resolution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_resolution_duration_seconds",
			Help: "Time from a conversation's opening to its move to solved, by channel.", Buckets: responseBuckets}, ch),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_replies_total",
			Help: "Outbound messages by channel and author (ai, human)."}, []string{"channel", "sender"}),
		csat: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_csat_score",
			Help: "CSAT scores recorded (1 to 5), by channel.", Buckets: []float64{1, 2, 3, 4, 5}}, ch),
	}
	if reg != nil {
		reg.MustRegister(m.opened, m.resolved, m.firstResponse, m.resolution, m.replies, m.csat)
	}
	// Every channel's series exist from the start, at zero, so that
	// ratios and increases over a range have data before the first event.
	for _, c := range engine.Channels {
		ch := string(c)
		m.opened.WithLabelValues(ch)
		m.resolved.WithLabelValues(ch)
		m.firstResponse.WithLabelValues(ch)
		m.resolution.WithLabelValues(ch)
		m.replies.WithLabelValues(ch, "ai")
		m.replies.WithLabelValues(ch, "human")
		m.csat.WithLabelValues(ch)
	}
	return m
}

func (m *businessMetrics) observe(d businessDelta) {
	if !d.changed {
		return
	}
	ch := string(d.ch)
	if d.opened {
		m.opened.WithLabelValues(ch).Inc()
	}
	if d.firstReply {
		m.firstResponse.WithLabelValues(ch).Observe(d.firstReplyDelay.Seconds())
	}
	if d.resolved {
		m.resolved.WithLabelValues(ch).Inc()
		m.resolution.WithLabelValues(ch).Observe(d.resolutionTime.Seconds())
	}
	if d.aiReplies > 0 {
		m.replies.WithLabelValues(ch, "ai").Add(float64(d.aiReplies))
	}
	if d.humans > 0 {
		m.replies.WithLabelValues(ch, "human").Add(float64(d.humans))
	}
	if d.csat != 0 {
		m.csat.WithLabelValues(ch).Observe(float64(d.csat))
	}
}
