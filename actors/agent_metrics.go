package actors

import (
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// agentMetrics are the AI agent's metrics.
type agentMetrics struct {
	requestSeconds *prometheus.HistogramVec
	errors         *prometheus.CounterVec
	handoffs       *prometheus.CounterVec
	reactivations  prometheus.Counter
	followUpsSent  prometheus.Counter
	surveys        prometheus.Counter
	restricted     prometheus.Counter
	// quotaRefusals counts AI replies not generated for the plan's
	// monthly limit (AIReplyQuota).
	quotaRefusals  prometheus.Counter
	pendingRetries prometheus.Counter
}

func newAgentMetrics(reg prometheus.Registerer) *agentMetrics {
	m := &agentMetrics{
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parley_agent_request_duration_seconds", Help: "Time an AI agent took to answer, by agent kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17)}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_agent_errors_total", Help: "AI agent calls that failed, by agent kind and reason (timeout, invalid_reply, error)."},
			[]string{"kind", "reason"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_agent_handoffs_total", Help: "Conversations handed to a person, by why (agent, customer_request)."},
			[]string{"reason"}),
		reactivations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_ai_reactivations_total", Help: "Conversations given back to the AI by the reactivation timer."}),
		followUpsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_followups_sent_total", Help: "Follow-up messages written to customers."}),
		surveys: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_csat_surveys_sent_total", Help: "CSAT surveys sent when a conversation was solved."}),
		restricted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_agent_restricted_total", Help: "Customers not in the CRM turned away by a restricted agent."}),
		quotaRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_agent_plan_limit_handoffs_total", Help: "AI replies not generated because the workspace's plan allows no more this month; people took the conversation."}),
		pendingRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_ai_pending_retries_total", Help: "Customers still waiting for the AI when the backstop fired (after a restart or a lost request): the AI was asked again."}),
	}
	if reg != nil {
		reg.MustRegister(m.requestSeconds, m.errors, m.handoffs, m.reactivations, m.followUpsSent, m.surveys, m.restricted, m.pendingRetries, m.quotaRefusals)
	}
	return m
}

// observe counts what a committed result did.
func (m *agentMetrics) observe(r *engine.Result) {
	if r.Handoff != "" {
		m.handoffs.WithLabelValues(string(r.Handoff)).Inc()
	}
	if r.Reactivated {
		m.reactivations.Inc()
	}
	if r.FollowUpSent {
		m.followUpsSent.Inc()
	}
	if r.SurveySent {
		m.surveys.Inc()
	}
}
