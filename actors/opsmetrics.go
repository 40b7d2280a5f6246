package actors

import (
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// sent counts a finished send of o: code is empty when the channel took
// the message, the error code otherwise. kind is "template" for a
// WhatsApp template message, "message" for every other.
func (m *runtimeMetrics) sent(o Outbound, code string) {
	result := "failed"
	if code == "" {
		result, code = "sent", "ok"
	}
	kind := "message"
	if o.Message.Kind == engine.KindTemplate {
		kind = "template"
	}
	m.sends.WithLabelValues(string(o.Conversation.Channel), result, code, kind).Inc()
}

// mailboxCollector reports the messages sent to conversation actors and
// not handled yet: the total, and the deepest single mailbox. It walks
// the directory's shards at each scrape (one lock at a time).
type mailboxCollector struct {
	d          *directory
	total, max *prometheus.Desc
}

func newMailboxCollector(d *directory) *mailboxCollector {
	return &mailboxCollector{d: d,
		total: prometheus.NewDesc("parley_actors_mailbox_messages",
			"Messages queued to conversation actors and not handled yet.", nil, nil),
		max: prometheus.NewDesc("parley_actors_mailbox_max_messages",
			"Messages queued to the busiest conversation actor.", nil, nil),
	}
}

func (c *mailboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.total; ch <- c.max }

func (c *mailboxCollector) Collect(ch chan<- prometheus.Metric) {
	total, deepest := c.d.mailboxDepth()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(deepest))
}

// mailboxDepth sums the pending counts of the live actors and finds the
// largest.
func (d *directory) mailboxDepth() (total, deepest int64) {
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for _, e := range sh.entries {
			n := e.pending.Load()
			total += n
			deepest = max(deepest, n)
		}
		sh.mu.Unlock()
	}
	return total, deepest
}
