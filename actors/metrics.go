package actors

import "github.com/prometheus/client_golang/prometheus"

// runtimeMetrics are the runtime's own Prometheus metrics.
type runtimeMetrics struct {
	commitSeconds   prometheus.Histogram
	ingested        prometheus.Counter
	duplicates      prometheus.Counter
	overloaded      prometheus.Counter
	timersFired     prometheus.Counter
	aiDiscarded     prometheus.Counter
	aiRequests      prometheus.Counter
	aiDropped       prometheus.Counter
	sends           *prometheus.CounterVec
	sendRetries     prometheus.Counter
	actorsRestarts  prometheus.Counter
	slowConsumers   prometheus.Counter
	searchProjected prometheus.Counter
	echoesHeld      prometheus.Counter
	echoesMerged    prometheus.Counter
	// aiContactFields counts the contact values AI answers asked to
	// write, by result: written, or refused (no allow_ai, no definition,
	// an invalid value).
	aiContactFields *prometheus.CounterVec
	// optOuts counts contacts unsubscribed or subscribed again by an
	// opt-out keyword (engine/optout.go), by kind.
	optOuts       *prometheus.CounterVec
	ingestSeconds prometheus.Histogram
	business      *businessMetrics
}

func newRuntimeMetrics(reg prometheus.Registerer, rt *Runtime) *runtimeMetrics {
	m := &runtimeMetrics{
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_actors_commit_duration_seconds", Help: "Time a conversation actor waits for its synced batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		ingested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_messages_ingested_total", Help: "Inbound messages committed."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_duplicate_messages_total", Help: "Inbound messages skipped as already stored."}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_overloaded_total", Help: "Ingest calls refused because in-flight ingest was full."}),
		timersFired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_timers_fired_total", Help: "Durable timers delivered to conversations."}),
		aiDiscarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_ai_replies_discarded_total", Help: "AI replies dropped because a human took over or the customer wrote again."}),
		aiRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_ai_requests_total", Help: "AI replies requested from the agent pool."}),
		aiDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_ai_requests_dropped_total", Help: "AI requests refused because the agent pool queue was full."}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_actors_sends_total", Help: "Outbound sends finished, by channel, result (sent, failed), error code (ok when sent) and kind (template for WhatsApp templates, else message)."},
			[]string{"channel", "result", "code", "kind"}),
		ingestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_actors_ingest_duration_seconds", Help: "Time from accepting inbound messages to all of them committed.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		sendRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_send_retries_total", Help: "Outbound sends retried after a temporary error."}),
		actorsRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_conversation_restarts_total", Help: "Conversation actors restarted after a panic."}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_slow_subscribers_closed_total", Help: "Subscribers closed because their queue was full."}),
		searchProjected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_search_projections_total", Help: "Conversation changes applied to the search index."}),
		echoesHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_echoes_held_total", Help: "Echoes with an unknown id kept aside because the conversation had sends in flight (Instagram)."}),
		echoesMerged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_actors_echoes_merged_total", Help: "Held echoes that were Parley's own sends coming back, merged into them."}),
		aiContactFields: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_actors_ai_contact_fields_total", Help: "Contact values the AI agent asked to write, by result (written, refused)."},
			[]string{"result"}),
		optOuts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_actors_opt_out_keywords_total", Help: "Contacts whose broadcast subscription an opt-out keyword changed, by kind (unsubscribed, resubscribed)."},
			[]string{"kind"}),
	}
	m.business = newBusinessMetrics(reg)
	if reg != nil {
		reg.MustRegister(m.commitSeconds, m.ingested, m.duplicates, m.overloaded, m.timersFired, m.aiDiscarded,
			m.aiRequests, m.aiDropped, m.sends, m.sendRetries, m.actorsRestarts, m.slowConsumers, m.searchProjected, m.ingestSeconds,
			m.echoesHeld, m.echoesMerged, m.aiContactFields, m.optOuts,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_actors_conversations_active",
				Help: "Conversation actors in memory."}, func() float64 { return float64(rt.dir.active.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_actors_contacts_active",
				Help: "Contact actors in memory."}, func() float64 { return float64(rt.dir.contacts.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_actors_ingest_in_flight",
				Help: "Inbound messages accepted and not yet committed."}, func() float64 { return float64(rt.inflight.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_actors_activations_total",
				Help: "Conversation actors spawned (first use or re-activation)."}, func() float64 { return float64(rt.dir.spawns.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_actors_subscribers",
				Help: "Live event subscribers."}, func() float64 { return float64(rt.bc.Subscribers()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_actors_passivations_total",
				Help: "Conversation actors passivated (stopped when idle; their state stays on disk)."},
				func() float64 { return float64(rt.dir.passivated.Load()) }),
			newMailboxCollector(rt.dir),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_outbox_oldest_age_seconds",
				Help: "Age of the oldest outbound message waiting for its send to finish (0 when none)."},
				func() float64 { return rt.courier.oldestAge(rt.clock.Now()).Seconds() }),
		)
	}
	return m
}
