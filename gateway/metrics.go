package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/engine"
)

type gatewayMetrics struct {
	requestSeconds           *prometheus.HistogramVec
	webhookRequests          *prometheus.CounterVec
	webhookSignatureFailures *prometheus.CounterVec
	webhookVerifyFailures    *prometheus.CounterVec
	webhookRejected          *prometheus.CounterVec
	webhookUnknownAccount    *prometheus.CounterVec
	emailReceived            *prometheus.CounterVec
	emailSeconds             prometheus.Histogram
	webhookOverloaded        prometheus.Counter
	mediaFailures            prometheus.Counter
	webhookSeconds           *prometheus.HistogramVec
	bodyMemoryBytes          prometheus.Gauge
	bodyMemoryRefusals       prometheus.Counter
	drainRefusals            prometheus.Counter
	// apiChannelRequests counts the API channel integrators' requests by
	// endpoint (messages, statuses, contacts) and result.
	apiChannelRequests *prometheus.CounterVec
	backups            *prometheus.CounterVec
	backupSeconds      prometheus.Histogram
	backupLastSuccess  prometheus.Gauge
	paymentWebhooks    *prometheus.CounterVec
	paymentRejected    *prometheus.CounterVec
	// auditEntries counts audit log entries appended, by action.
	auditEntries *prometheus.CounterVec
	// aiFeedback counts ratings of AI replies, by rating (up, down).
	aiFeedback *prometheus.CounterVec

	// The web chat widget's (widget.go).
	widgetSessions       prometheus.Gauge
	widgetMessages       *prometheus.CounterVec
	widgetRefusedOrigins prometheus.Counter
	widgetRateLimited    prometheus.Counter
	// imapSessions counts failed IMAP sessions of the email accounts'
	// pollers, by reason.
	imapSessions *prometheus.CounterVec
	// workspaceSwitches counts sessions moved to another workspace of
	// their person; invitationsAccepted counts invitations accepted, by
	// account (new, or existing: a person joining another workspace)
	// (memberships.go).
	workspaceSwitches   prometheus.Counter
	invitationsAccepted *prometheus.CounterVec
	// templateSyncs counts template syncs by outcome (templates.go).
	templateSyncs *prometheus.CounterVec
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parley_gateway_request_duration_seconds", Help: "HTTP request latency by method, route and status class.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"method", "route", "status"}),
		webhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_webhook_requests_total", Help: "Webhook deliveries received, by channel."}, []string{"channel"}),
		webhookSignatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_webhook_signature_failures_total", Help: "Webhook deliveries refused for a missing or bad signature."}, []string{"channel"}),
		webhookVerifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_webhook_verification_failures_total", Help: "Subscription handshakes refused."}, []string{"channel"}),
		webhookRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_webhook_rejected_total", Help: "Webhook deliveries refused as malformed."}, []string{"channel"}),
		webhookUnknownAccount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_webhook_unknown_account_events_total", Help: "Webhook events for accounts that are not connected (dropped)."}, []string{"channel"}),
		webhookOverloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_gateway_webhook_overloaded_total", Help: "Webhook deliveries answered 503 because the engine was overloaded or stopping."}),
		mediaFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_gateway_media_fetch_failures_total", Help: "Inbound media files that could not be fetched."}),
		webhookSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parley_gateway_webhook_duration_seconds", Help: "Time to answer a signed webhook delivery (durable ingest included), by channel.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"channel"}),
		bodyMemoryBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_gateway_request_body_memory_bytes", Help: "Memory reserved by request bodies being read before authentication (bounded by the body memory setting)."}),
		bodyMemoryRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_gateway_request_body_memory_refusals_total", Help: "Requests answered 503 because request bodies being read already held the body memory bound."}),
		emailReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_email_received_total", Help: "Mails taken by the SMTP receiver, by result (stored, duplicate, auto_reply, bounce, malformed, retry)."}, []string{"result"}),
		emailSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_email_delivery_duration_seconds", Help: "Time from the end of a mail's DATA to its durable commit (the 250).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		drainRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_gateway_shutdown_refusals_total", Help: "Requests answered 503 with Retry-After because the server was shutting down."}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_backups_total", Help: "Backups made through the admin API, by result (ok, error: the backup could not be made or sent whole)."}, []string{"result"}),
		backupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_backup_duration_seconds", Help: "Time to make a backup (checkpoint, media links and checksums) and send it.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
		backupLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_backup_last_success_timestamp_seconds", Help: "When the last backup sent whole began (Unix time); 0 before the first."}),
		apiChannelRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_api_channel_requests_total",
			Help: "API channel integrators' requests, by endpoint (messages, statuses, contacts) and result (created, duplicate, applied, updated, refused, unauthorized)."},
			[]string{"endpoint", "result"}),
		paymentWebhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_payment_webhooks_received_total", Help: "Payment provider webhook deliveries received, by provider."}, []string{"provider"}),
		paymentRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_payment_webhooks_rejected_total", Help: "Payment provider webhook deliveries refused, by provider and reason (signature, stale, payload)."},
			[]string{"provider", "reason"}),
		auditEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_audit_entries_total", Help: "Audit log entries appended, by action (method and route pattern)."}, []string{"action"}),
		aiFeedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_ai_feedback_total", Help: "Ratings of AI replies given by people, by rating (up, down)."}, []string{"rating"}),
		widgetSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_widget_visitor_sessions", Help: "Web chat visitors' WebSockets open now."}),
		widgetMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_widget_messages_total", Help: "Web chat messages, by direction: inbound (a visitor's, stored) and outbound (a reply handed to the visitor)."},
			[]string{"direction"}),
		widgetRefusedOrigins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_widget_refused_origins_total", Help: "Visitor requests and WebSockets refused because their origin is not one of the widget's allowed origins."}),
		widgetRateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_widget_rate_limited_total", Help: "Visitor requests and frames refused by the per-visitor and per-address rate limits."}),
		imapSessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_email_imap_session_failures_total",
			Help: "IMAP sessions of email accounts' mailboxes that ended in a failure, by reason (imap_auth, imap_tls, imap_folder, imap_unreachable)."},
			[]string{"reason"}),
		workspaceSwitches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_auth_workspace_switches_total", Help: "Sessions switched to another workspace of their person."}),
		invitationsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_auth_invitations_accepted_total",
			Help: "Invitations accepted, by account: new (a new person) or existing (a person of another workspace joining)."},
			[]string{"account"}),
	}
	if reg != nil {
		reg.MustRegister(m.requestSeconds, m.webhookRequests, m.webhookSignatureFailures, m.webhookVerifyFailures,
			m.webhookRejected, m.webhookUnknownAccount, m.webhookOverloaded, m.mediaFailures,
			m.webhookSeconds, m.bodyMemoryBytes, m.bodyMemoryRefusals, m.drainRefusals, m.apiChannelRequests,
			m.paymentWebhooks, m.paymentRejected, m.backups, m.backupSeconds, m.backupLastSuccess, m.emailReceived, m.emailSeconds,
			m.auditEntries, m.aiFeedback)
		reg.MustRegister(m.widgetSessions, m.widgetMessages, m.widgetRefusedOrigins, m.widgetRateLimited)
		reg.MustRegister(m.imapSessions)
		reg.MustRegister(m.workspaceSwitches, m.invitationsAccepted)
	}
	for _, d := range []string{"inbound", "outbound"} {
		m.widgetMessages.WithLabelValues(d)
	}
	for _, a := range []string{"new", "existing"} {
		m.invitationsAccepted.WithLabelValues(a)
	}
	for _, r := range []string{"imap_auth", "imap_tls", "imap_folder", "imap_unreachable"} {
		m.imapSessions.WithLabelValues(r)
	}
	for _, r := range []engine.Rating{engine.RatingUp, engine.RatingDown} {
		m.aiFeedback.WithLabelValues(string(r))
	}
	m.backups.WithLabelValues("ok")
	m.backups.WithLabelValues("error")
	// The webhook channels' series exist from the start, at zero.
	for ch := range parsers {
		for _, v := range []*prometheus.CounterVec{m.webhookRequests, m.webhookSignatureFailures, m.webhookVerifyFailures,
			m.webhookRejected, m.webhookUnknownAccount} {
			v.WithLabelValues(string(ch))
		}
		m.webhookSeconds.WithLabelValues(string(ch))
	}
	for _, r := range []string{"stored", "duplicate", "auto_reply", "bounce", "malformed", "retry"} {
		m.emailReceived.WithLabelValues(r)
	}
	m.paymentWebhooks.WithLabelValues(engine.ProviderStripe)
	for _, reason := range []string{"signature", "stale", "payload"} {
		m.paymentRejected.WithLabelValues(engine.ProviderStripe, reason)
	}
	m.templateSyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_template_syncs_total", Help: "Syncs of WhatsApp message templates from the Graph API, by outcome (ok, error)."}, []string{"outcome"})
	if reg != nil {
		reg.MustRegister(m.templateSyncs)
	}
	m.templateSyncs.WithLabelValues("ok")
	m.templateSyncs.WithLabelValues("error")
	return m
}
