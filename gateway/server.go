package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/hooks"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/gateway/notify"
	"github.com/parleyhq/parley/gateway/realtime"
	"github.com/parleyhq/parley/gateway/web"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/semaphore"
)

// Config configures the gateway. Required fields say so.
type Config struct {
	// Runtime is the running engine. Required.
	Runtime *actors.Runtime
	// Store is the engine's store (tokens, accounts). Required.
	Store *persistence.Store
	// Accounts are the connected channel accounts. Required.
	Accounts *Accounts
	// Graph is the Meta Graph API client. Required.
	Graph *meta.Client
	// Media stores inbound and outbound files. Required.
	Media *media.Store
	// TrustedProxies are the addresses and CIDR ranges of the reverse
	// proxies in front of Parley: only from them are X-Forwarded-For (the
	// client address in logs and login rate limits) and
	// X-Forwarded-Proto believed. Empty believes no one.
	TrustedProxies []string
	// ReadTimeout bounds the reading of a whole request, head and body,
	// against slow clients; zero means 30 s. The body of a streamed route
	// (a CSV import) gets ten times as long from the end of its head. A
	// WebSocket is not bound by it once upgraded.
	ReadTimeout time.Duration
	// AppSecret is the Meta app secret that signs webhooks for every
	// account; an account may add its own, which signs only deliveries
	// addressed to it. With neither, every webhook POST is refused.
	AppSecret string
	// VerifyToken answers Meta's webhook subscription handshake; empty
	// refuses every handshake.
	VerifyToken string
	// Logger receives access and error logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Gatherer is what GET /metrics serves; nil serves no metrics.
	Gatherer prometheus.Gatherer
	// BodyLimit caps request bodies in bytes; zero means 8 MiB (WhatsApp
	// webhooks can reach 3 MB).
	BodyLimit int
	// BodyMemory bounds the bytes that request bodies being read (before
	// any signature or token is checked) may hold at once; a body that
	// would go past it is answered 503 with Retry-After. Zero means
	// 64 MiB; it is raised to BodyLimit if below.
	BodyMemory int64
	// MediaWorkers bounds concurrent inbound media downloads; zero
	// means 4.
	MediaWorkers int
	// ProfileWorkers bounds concurrent lookups of Messenger and
	// Instagram senders' names in the user profile APIs; zero means
	// channels.DefaultProfileWorkers.
	ProfileWorkers int
	// ProfileTTL is how long a profile answer is cached; zero means
	// channels.DefaultProfileTTL.
	ProfileTTL time.Duration
	// MediaSweepInterval is how often the media directory is swept for
	// files no message references; zero means 10 minutes. The sweep runs
	// on the runtime's clock.
	MediaSweepInterval time.Duration
	// MediaOrphanGrace is how long a media file must have stayed
	// unreferenced (an upload whose send was refused) before a sweep
	// deletes it; zero means an hour.
	MediaOrphanGrace time.Duration
	// DrainLinger is how long Shutdown keeps the listener open and
	// answering (503 with Connection: close) once the requests in progress
	// are done, so that a client about to reuse a connection, or just
	// connecting, gets an answer rather than a reset; it ends sooner once
	// every connection is closed and no request came for a fifth of it.
	// Zero means 250 ms.
	DrainLinger time.Duration
	// PublicURL is the server's address as users reach it (-public-url),
	// the base of the conversation links in push and email
	// notifications; "" leaves push links relative and emails without
	// one.
	PublicURL string
	// NotifySMTP is the relay of notification emails; nil turns them
	// off.
	NotifySMTP *notify.SMTP
	// NotifyFrom is the From address of notification emails (required
	// with NotifySMTP).
	NotifyFrom string
	// NotifyTLS configures TLS with the relay; nil means the system
	// roots (tests trust their own server).
	NotifyTLS *tls.Config
	// EmailTLS configures TLS with email accounts' SMTP submission
	// servers when their health is checked; nil means the system roots
	// (the channel sender has its own, channels.Sender.WithEmailTLS).
	EmailTLS *tls.Config
	// PostmarkAuth is "user:password", the basic auth Postmark's inbound
	// webhook must carry (-postmark-inbound-auth); empty turns the route
	// off (404).
	PostmarkAuth string
	// PushClient sends Web Push requests; nil means a default client
	// (tests trust their own push service).
	PushClient *http.Client
	// ChannelHealthInterval is how often every channel account's health
	// is checked (channels.Health); zero means 10 minutes. Negative
	// checks only on demand (Check now) and ignores what sends report:
	// tests that count Graph calls use it.
	ChannelHealthInterval time.Duration
	// WebhookClient sends the outgoing webhooks; nil means the API
	// channel's client (APIChannel.HTTPClient: no redirects, a timeout,
	// and no loopback, private or link-local address unless
	// -api-channel-allow-private).
	WebhookClient *http.Client
	// APIChannel delivers to API channel accounts' webhooks (their health
	// checks) and fetches the files their inbound messages name by URL;
	// nil means a client that refuses non-public addresses. It should be
	// the one the runtime's channels.Sender delivers with
	// (Sender.WithAPIChannel), so that both keep to one
	// -api-channel-allow-private.
	APIChannel *apichannel.Client
	// Agents holds the AI agent settings; it should be the runtime's
	// AgentResolver. Nil means a registry of its own, which the runtime
	// does not use.
	Agents *agents.Registry
	// BackupDir is where POST /api/v1/admin/backup builds a backup before
	// sending it (a directory of its own per backup, removed once sent):
	// on the data directory's file system, the store's files and the
	// media are hard-linked rather than copied. Empty means the system's
	// temporary directory.
	BackupDir string
	// AdminToken is the operator's token (-admin-token): it opens the
	// operator admin API under /api/v1/admin/workspaces (operator.go) and
	// the backup route. Empty turns the operator API off (404) and leaves
	// backups to the workspace owners.
	AdminToken string
	// Version names this Parley's build in backup manifests.
	Version string
	// WidgetVisitorRate is the requests a second the web chat widget's
	// visitor API allows each visitor, in bursts of ten times as many;
	// each client address gets five times as many. Zero means 2.
	WidgetVisitorRate float64

	// IMAPPollInterval is how long an email account's IMAP poller waits
	// on IDLE before it looks at its mailbox again unasked; zero means
	// DefaultIMAPPollInterval. Negative starts no poller.
	IMAPPollInterval time.Duration
	// IMAPBackoff is the first wait after a failed IMAP session, doubled
	// after each further failure up to five minutes; zero means a
	// second.
	IMAPBackoff time.Duration
}

// Server is the HTTP gateway.
type Server struct {
	cfg       Config
	app       *fiber.App
	log       *slog.Logger
	media     *media.Store
	sweeper   *media.Sweeper
	metrics   *gatewayMetrics
	ready     atomic.Bool
	mediaJobs chan mediaJob
	reqSeq    atomic.Uint64
	hub       *realtime.Hub
	// presence owns the users' presence (presence.go); teams the
	// workspace's teams and their distribution (teams.go).
	presence *presenceTracker
	teams    *teams
	// presenceWG waits for the presence sweep, which runs until s.ctx
	// is cancelled (s.wg is waited for before that).
	presenceWG sync.WaitGroup
	uses       tokenUses
	agents     *agents.Registry
	profiles   *channels.Profiles
	notifier   *notify.Notifier
	hooks      *hooks.Service
	health     *channels.Health
	// smtp is the SMTP receiver, once ServeSMTP started it.
	smtp atomic.Pointer[email.Receiver]
	// imap supervises the email accounts' IMAP pollers.
	imap      *imapPollers
	apiClient *apichannel.Client
	// widget serves the web chat widget's visitors (widget.go).
	widget *widgetService
	// proxies are Config.TrustedProxies, parsed.
	proxies trustedProxies
	// bodyMemory holds the bytes of the request bodies being read
	// (limitBody).
	bodyMemory *semaphore.Weighted
	// draining is set when Shutdown begins (see drainGate); active
	// counts the requests drainGate let through that are in progress;
	// lastSeen is when drainGate last saw a request while draining (Unix
	// nanoseconds).
	draining atomic.Bool
	active   atomic.Int64
	lastSeen atomic.Int64
	// mediaDrain is closed by Shutdown once no webhook can queue media:
	// the media workers finish the queue and stop.
	mediaDrain chan struct{}
	// conns are the connections the HTTP server serves, hijacked ones
	// aside (trackConn), for Shutdown to wake.
	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	// agentTests holds a slot per agent test console call in progress
	// (testAgent).
	agentTests chan struct{}
	// backups holds the slot of the one backup that may be in progress
	// (backup_api.go).
	backups chan struct{}
	// paymentsMu serializes the matching of a payment event to its
	// contact and the creation of a new one (applyStripe).
	paymentsMu sync.Mutex
	// templates owns the WhatsApp message templates (templates.go).
	templates *templateStore
	// knowledge owns the knowledge bases' entries (knowledge.go).
	knowledge *knowledgeBase
	// ops owns the operator's workspace records, plan limits and
	// workspace deletions (operator.go).
	ops *workspaceOps

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	once      sync.Once
}

// New builds the gateway's routes; it starts nothing (see Start) and
// listens on nothing until Serve.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Runtime == nil:
		return nil, errors.New("gateway: Config.Runtime is required")
	case cfg.Store == nil:
		return nil, errors.New("gateway: Config.Store is required")
	case cfg.Accounts == nil:
		return nil, errors.New("gateway: Config.Accounts is required")
	case cfg.Graph == nil:
		return nil, errors.New("gateway: Config.Graph is required")
	case cfg.Media == nil:
		return nil, errors.New("gateway: Config.Media is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// A WhatsApp number of the unlimited messaging tier sends at Meta's
	// upgraded throughput (broadcasts.go).
	accounts := cfg.Accounts
	cfg.Graph.SetAccountRates(func(k meta.LimitKey) float64 {
		if a, ok := accounts.Get(k.Channel, k.Account); ok && k.Channel == engine.ChannelWhatsApp && a.MessagingTier == engine.TierUnlimited {
			return engine.BroadcastMaxRate
		}
		return 0
	})
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 8 << 20
	}
	if cfg.BodyMemory <= 0 {
		cfg.BodyMemory = 64 << 20
	}
	cfg.BodyMemory = max(cfg.BodyMemory, int64(cfg.BodyLimit))
	if _, err := bodySchemas(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.MediaWorkers <= 0 {
		cfg.MediaWorkers = 4
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	proxies, err := parseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.DrainLinger <= 0 {
		cfg.DrainLinger = 250 * time.Millisecond
	}
	if cfg.Agents == nil {
		reg, err := agents.NewRegistry(cfg.Store, nil)
		if err != nil {
			return nil, err
		}
		cfg.Agents = reg
	}
	profiles, err := channels.NewProfiles(channels.ProfilesConfig{Renamer: cfg.Runtime, Graph: cfg.Graph, Accounts: cfg.Accounts,
		Clock: cfg.Runtime.Clock(), Workers: cfg.ProfileWorkers, TTL: cfg.ProfileTTL, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	notifier, err := notify.New(notify.Config{Store: cfg.Store, Clock: cfg.Runtime.Clock(), PublicURL: cfg.PublicURL,
		HTTPClient: cfg.PushClient, SMTP: cfg.NotifySMTP, From: cfg.NotifyFrom, SMTPTLS: cfg.NotifyTLS,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	checker := channels.MetaChecker{Graph: cfg.Graph}
	if cfg.APIChannel == nil {
		cfg.APIChannel = apichannel.NewClient(apichannel.ClientConfig{})
	}
	hookClient := cfg.WebhookClient
	if hookClient == nil {
		hookClient = cfg.APIChannel.HTTPClient() // the same guard against non-public addresses
	}
	outHooks, err := hooks.New(hooks.Config{Store: cfg.Store, Clock: cfg.Runtime.Clock(), HTTPClient: hookClient,
		Publish: cfg.Runtime.Broadcaster().Publish, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	health, err := channels.NewHealth(channels.HealthConfig{Store: cfg.Store, Accounts: cfg.Accounts, Publisher: cfg.Runtime.Broadcaster(),
		Checkers: map[engine.Channel]channels.HealthChecker{engine.ChannelWhatsApp: checker, engine.ChannelMessenger: checker, engine.ChannelInstagram: checker,
			engine.ChannelEmail: channels.EmailChecker{TLS: cfg.EmailTLS}, engine.ChannelAPI: apichannel.Checker{Client: cfg.APIChannel},
			engine.ChannelWebChat: widgetChecker{}},
		Clock: cfg.Runtime.Clock(), Interval: cfg.ChannelHealthInterval, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	sweeper, err := media.NewSweeper(media.SweeperConfig{Store: cfg.Media, Refs: cfg.Store, Clock: cfg.Runtime.Clock(),
		Interval: cfg.MediaSweepInterval, Grace: cfg.MediaOrphanGrace, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, media: cfg.Media, sweeper: sweeper, metrics: newGatewayMetrics(cfg.Registerer),
		mediaJobs: make(chan mediaJob, 4096), agentTests: make(chan struct{}, agentTestSlots), backups: make(chan struct{}, 1), agents: cfg.Agents, bodyMemory: semaphore.NewWeighted(cfg.BodyMemory),
		profiles: profiles, notifier: notifier, hooks: outHooks, health: health, apiClient: cfg.APIChannel, proxies: proxies, mediaDrain: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.presence = newPresenceTracker(cfg.Runtime.Clock(), engine.DefaultPresenceRules, cfg.Runtime.Broadcaster().Publish, cfg.Registerer)
	s.teams = newTeams(s, cfg.Registerer)
	hub, err := realtime.New(realtime.Config{Broadcaster: cfg.Runtime.Broadcaster(), Authenticate: s.authenticateCaller,
		Credential: func(c *fiber.Ctx) string { return credentialName(who(c).Hash) }, Registerer: cfg.Registerer,
		Presence: s.presence})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.hub = hub
	if s.ops, err = newWorkspaceOps(s); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.templates = &templateStore{s: s}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// Values read from a request (route params, queries, headers) end
		// up in conversation state and events that outlive the request:
		// they must not alias Fiber's reused buffers.
		Immutable:    true,
		BodyLimit:    cfg.BodyLimit,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorHandler: s.errorHandler,
		// Bodies are streamed so that imports are read as they arrive;
		// limitBody keeps BodyLimit for every other route.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,

		// X-Forwarded-For and X-Forwarded-Proto count only from a trusted
		// proxy (forwardedClient reduces the former to one address).
		EnableTrustedProxyCheck: true,
		TrustedProxies:          proxies.strings(),
		ProxyHeader:             fiber.HeaderXForwardedFor,
	})
	s.app.Server().HeaderReceived = s.headerReceived
	s.app.Server().ConnState = s.trackConn
	s.routes()
	return s, nil
}

// Start starts the gateway's goroutines: the WebSocket hub's shards, the
// inbound media downloads, the profile lookups, the media sweeper and the
// channel health monitor.
// Serve calls it if it was not called; Shutdown stops them all. Calling
// it again, or after Shutdown, does nothing.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		s.hub.Start(s.ctx)
		s.ops.start(s.ctx)
		s.cfg.Runtime.SetAIReplyQuota(s.ops)
		s.presenceWG.Add(1)
		go pprof.Do(s.ctx, pprof.Labels("parley", "presence"), func(ctx context.Context) {
			defer s.presenceWG.Done()
			s.presence.run(ctx)
		})
		s.knowledge.embed.start(s.ctx)
		s.cfg.Runtime.SetKnowledgeSearcher(s.knowledge.embed)
		s.cfg.Runtime.SetTeamAssigner(s.teams)
		for range s.cfg.MediaWorkers {
			s.wg.Add(1)
			go pprof.Do(s.ctx, pprof.Labels("parley", "media"), func(ctx context.Context) {
				defer s.wg.Done()
				s.mediaWorker(ctx)
			})
		}
		s.profiles.Start()
		s.sweeper.Start()
		s.notifier.Start()
		s.cfg.Runtime.Broadcaster().AddTap(s.notifier.Tap)
		s.hooks.Start()
		// The actors stage each event's webhook deliveries in the batch
		// that commits it (docs/ARCHITECTURE.md, "Outgoing webhooks").
		s.cfg.Runtime.SetEventOutbox(s.hooks.Stage)
		s.cfg.Runtime.Broadcaster().AddTap(s.widgetTap)
		s.cfg.Accounts.health.Store(s.health)
		s.health.Start()
		if s.cfg.IMAPPollInterval >= 0 {
			s.imap = newIMAPPollers(s)
			s.cfg.Accounts.imap.Store(s.imap)
			s.imap.start()
		}
	})
}

func (s *Server) routes() {
	a := s.app
	a.Use(s.forwardedClient, s.secureHeaders, s.requestID, s.accessLog, s.drainGate, s.limitBody, s.audit)
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	a.Get("/readyz", func(c *fiber.Ctx) error {
		if s.draining.Load() {
			return errShuttingDown
		}
		if !s.ready.Load() {
			return errorf(fiber.StatusServiceUnavailable, "unavailable", "not ready")
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})
	doc := openAPIDocument()
	a.Get("/api/v1/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(doc)
	})
	a.Get("/metrics", s.metricsHandler())
	a.Get("/webhooks/:channel<regex(^(whatsapp|messenger|instagram)$)>", s.verifyWebhook)
	a.Post("/webhooks/:channel<regex(^(whatsapp|messenger|instagram)$)>", s.receiveWebhook)
	a.Post("/webhooks/email/postmark", s.receivePostmark)
	a.Post("/webhooks/stripe/:workspace", s.receiveStripe)

	// The WebSocket route authenticates itself (browsers pass the token
	// in the query), so it is registered before the authenticated group.
	a.Get("/public/media/:token", s.servePublicMedia)
	a.Get("/api/v1/ws", s.hub.Handler())
	// Login and accept-invite take no token, so the account routes come
	// before the authenticated group; the others check the token themselves.
	s.operatorRoutes(a)
	s.userRoutes(a, a.Group("/api/v1"))
	s.apiChannelRoutes(a)
	api := a.Group("/api/v1", s.requireAuth)
	api.Get("/channels", s.listChannels)
	api.Post("/channels", requireRole(engine.RoleAdmin), s.createChannel)
	api.Get("/channels/:channel/:account", s.getChannel)
	api.Patch("/channels/:channel/:account", requireRole(engine.RoleAdmin), s.updateChannel)
	api.Delete("/channels/:channel/:account", requireRole(engine.RoleAdmin), s.deleteChannel)
	api.Post("/channels/:channel/:account/check", requireRole(engine.RoleAdmin), s.checkChannel)
	api.Get("/settings/webhooks", requireRole(engine.RoleAdmin), s.webhookSettings)
	api.Get("/audit", requireRole(engine.RoleAdmin), s.listAudit)
	api.Get("/usage", requireRole(engine.RoleAdmin), s.getUsage)
	api.Get("/agent", s.getAgent)
	api.Put("/agent", requireRole(engine.RoleAdmin), s.putAgent)
	api.Post("/agent/test", requireRole(engine.RoleAdmin), s.testAgent)
	api.Get("/channels/:channel/:account/agent", s.getChannelAgent)
	api.Put("/channels/:channel/:account/agent", requireRole(engine.RoleAdmin), s.putChannelAgent)
	api.Delete("/channels/:channel/:account/agent", requireRole(engine.RoleAdmin), s.deleteChannelAgent)
	api.Post("/channels/:channel/:account/agent/test", requireRole(engine.RoleAdmin), s.testChannelAgent)

	// Assistants (assistants.go).
	api.Get("/assistants", s.listAssistants)
	api.Post("/assistants", requireRole(engine.RoleAdmin), s.createAssistant)
	api.Get("/assistants/:id", s.getAssistant)
	api.Patch("/assistants/:id", requireRole(engine.RoleAdmin), s.updateAssistant)
	api.Delete("/assistants/:id", requireRole(engine.RoleAdmin), s.deleteAssistant)
	api.Post("/assistants/:id/test", requireRole(engine.RoleAdmin), s.testAssistant)
	api.Post("/conversations/:conv/assistant", s.setConversationAssistant)
	api.Get("/media/:id", s.serveMedia)
	api.Get("/analytics", s.analytics)
	api.Get("/conversations", s.listConversations)
	api.Get("/search", s.search)
	api.Get("/tags", s.listTags)
	api.Get("/campaigns", s.listCampaigns)
	api.Get("/conversations/:conv", s.getConversation)
	api.Delete("/conversations/:conv", requireRole(engine.RoleAdmin), s.deleteConversation)
	api.Post("/conversations/:conv/takeover", s.takeOver)
	api.Post("/conversations/:conv/resume-ai", s.resumeAI)
	api.Post("/conversations/:conv/pause-ai", s.pauseAI)
	api.Post("/conversations/:conv/read", s.markRead)
	api.Post("/conversations/:conv/unread", s.markUnread)
	api.Post("/conversations/:conv/folder", s.moveFolder)
	api.Post("/conversations/:conv/star", s.star)
	api.Put("/conversations/:conv/tags/:tag", s.addTag)
	api.Delete("/conversations/:conv/tags/:tag", s.removeTag)
	api.Post("/conversations/:conv/assign", s.assign)
	api.Post("/conversations/:conv/followup", s.scheduleFollowUp)
	api.Delete("/conversations/:conv/followup", s.cancelFollowUp)
	api.Post("/conversations/:conv/csat", s.setCSAT)
	api.Post("/conversations/:conv/block", s.block)
	api.Post("/conversations/:conv/unblock", s.unblock)
	api.Post("/conversations/:conv/subscription", s.unsubscribe)
	api.Get("/conversations/:conv/messages", s.listMessages)
	api.Post("/conversations/:conv/messages", s.sendMessage)
	api.Post("/conversations/:conv/messages/:seq/retry", s.retryMessage)
	api.Post("/conversations/:conv/messages/:seq/feedback", s.rateReply)
	api.Get("/feedback", s.feedbackReport)
	s.contactRoutes(api)
	s.retentionRoutes(api)
	s.cannedRoutes(api)
	s.pipelineRoutes(api)
	s.outgoingWebhookRoutes(api)
	s.contactFieldRoutes(api)
	s.templateRoutes(api)
	s.knowledgeRoutes(api)
	s.formRoutes(a, api)
	s.automationRoutes(api)
	s.segmentRoutes(api)
	s.teamRoutes(api)
	s.optOutRoutes(api)
	s.broadcastRoutes(api)
	api.Post("/admin/backup", requireRole(engine.RoleOwner), s.backup)

	// The web chat widget: its script and visitor API (their own tokens,
	// their own CORS), and the admin routes under api.
	s.widgetRoutes(a, api)
	api.Post("/conversations/:conv/typing", s.agentTyping)

	// The inbox web app answers every other GET; registered last so that
	// every route above wins.
	a.Use(web.Handler())
}

// App returns the Fiber app, for tests that drive it in memory.
func (s *Server) App() *fiber.App { return s.app }

func (s *Server) requestID(c *fiber.Ctx) error {
	id := c.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		id = fmt.Sprintf("%x-%d", time.Now().UnixNano()&0xffffffff, s.reqSeq.Add(1))
	}
	c.Set("X-Request-Id", id)
	c.Locals("request_id", id)
	return c.Next()
}

func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	d := time.Since(start)
	route := c.Route().Path
	s.metrics.requestSeconds.WithLabelValues(c.Method(), route, statusClass(c.Response().StatusCode())).Observe(d.Seconds())
	level := levelFor(c.Response().StatusCode())
	if errors.Is(err, errShuttingDown) {
		level = slog.LevelDebug // counted by parley_gateway_shutdown_refusals_total
	}
	if s.log.Enabled(c.UserContext(), level) {
		s.log.Log(c.UserContext(), level, "HTTP request",
			"method", c.Method(), "path", c.Path(), "status", c.Response().StatusCode(), "client_ip", c.IP(),
			"duration", d, "request_id", c.Locals("request_id"))
	}
	return nil
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelDebug
}

func statusClass(code int) string { return fmt.Sprintf("%dxx", code/100) }

// errorBody is the JSON error every failed request gets.
type errorBody struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Fields  []engine.FieldError `json:"fields,omitempty"`
		// Limit and Resource say which plan limit a plan_limit error
		// met (operator.go).
		Limit    *int64              `json:"limit,omitempty"`
		Resource engine.PlanResource `json:"resource,omitempty"`
	} `json:"error"`
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, code := fiber.StatusInternalServerError, "internal"
	msg := "internal error"
	var ae *apiError
	var fse *fieldsError
	var ple *planLimitError
	var fields []engine.FieldError
	var re *realtime.Error
	var fe *fiber.Error
	var limit *int64
	var resource engine.PlanResource
	switch {
	case errors.As(err, &ple):
		status, code, msg, limit, resource = ple.Status, ple.Code, ple.Message, &ple.Limit, ple.Resource
	case errors.As(err, &fse):
		status, code, msg, fields = fse.Status, fse.Code, fse.Message, fse.Fields
	case errors.As(err, &ae):
		status, code, msg = ae.Status, ae.Code, ae.Message
	case errors.As(err, &re):
		status, code, msg = re.Status, re.Code, re.Message
	case errors.As(err, &fe):
		status, code, msg = fe.Code, codeFor(fe.Code), fe.Message
	default:
		s.log.Error("Request failed", "path", c.Path(), "request_id", c.Locals("request_id"), "err", err)
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Fields = code, msg, fields
	body.Error.Limit, body.Error.Resource = limit, resource
	return c.Status(status).JSON(body)
}

func codeFor(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "body_too_large"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// Serve starts the gateway (Start) if it was not started and serves on
// ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.Start()
	s.ready.Store(true)
	if err := s.app.Listener(ln); err != nil {
		return fmt.Errorf("gateway: serving: %w", err)
	}
	return nil
}

// Shutdown drains the gateway (docs/ARCHITECTURE.md, "Shutdown"): at once
// /readyz answers 503 and every request that starts from then on is
// refused with 503, Retry-After and Connection: close (health and metrics
// aside), and WebSocket subscribers are closed with 1001 to resume
// elsewhere or later; the requests in progress run to their answer (a
// webhook's 200 after its commit), each closing its connection; the
// connections clients still hold are answered the same 503 for
// Config.DrainLinger (or until they are all closed); then the listener
// closes, with the idle connections and those no request came on
// (wakeConns), the media workers fetch what is queued, and the workers
// and the media sweeper stop. Every wait ends with ctx. Safe to call more
// than once.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		began := time.Now()
		s.lastSeen.Store(began.UnixNano())
		s.ready.Store(false)
		s.draining.Store(true)
		// Upgraded connections are not drained by the HTTP server: the
		// hub closes them.
		herr := s.hub.Shutdown(ctx)
		if derr := s.drainRequests(ctx, began); derr != nil {
			err = derr
		}
		if s.imap != nil {
			// A mail being stored is stored (and its cursor moved) or read
			// again at the next start.
			s.cfg.Accounts.imap.CompareAndSwap(s.imap, nil)
			s.imap.shutdown()
		}
		if r := s.smtp.Load(); r != nil {
			// Mail being committed gets its 250; the rest a 451 to retry.
			if serr := r.Shutdown(ctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("gateway: SMTP receiver: %w", serr))
			}
		}
		stopWaking := s.wakeConns()
		if serr := s.app.ShutdownWithContext(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("gateway: shutdown: %w", serr))
		}
		stopWaking()
		if herr != nil {
			err = errors.Join(err, fmt.Errorf("gateway: %w", herr))
		}
		s.startOnce.Do(func() {}) // a Start from now on starts nothing
		// The media of the webhooks answered are fetched while ctx
		// allows; what is left then is dropped (and logged).
		close(s.mediaDrain)
		if werr := waitGroup(ctx, &s.wg); werr != nil {
			s.log.Warn("Shutdown: inbound media not fetched", "left", len(s.mediaJobs), "err", werr)
			err = errors.Join(err, fmt.Errorf("gateway: media downloads: %w", werr))
		}
		s.cancel()
		s.wg.Wait()
		s.presenceWG.Wait()
		s.knowledge.embed.wait()
		s.ops.wait()
		s.profiles.Shutdown()
		s.sweeper.Shutdown()
		s.notifier.Shutdown()
		s.hooks.Shutdown()
		s.cfg.Accounts.health.CompareAndSwap(s.health, nil)
		s.health.Shutdown()
	})
	return err
}

// drainGate counts the requests in progress and, once Shutdown began,
// refuses new ones (but /healthz, /readyz and /metrics) with 503 and
// Retry-After, which Meta's webhooks retry; every answer from then on
// closes its connection. A refused request's body is read on (bounded,
// into nothing) first: closing a connection with a body still coming
// would reset it before the client reads the 503.
func (s *Server) drainGate(c *fiber.Ctx) error {
	switch c.Path() {
	case "/healthz", "/readyz", "/metrics":
		err := c.Next()
		if s.draining.Load() {
			c.Context().SetConnectionClose()
		}
		return err
	}
	s.active.Add(1) // before the check: Shutdown waits for every request that saw draining false
	defer s.active.Add(-1)
	if s.draining.Load() {
		s.lastSeen.Store(time.Now().UnixNano())
		if req := c.Request(); req.IsBodyStream() {
			_, _ = io.CopyN(io.Discard, req.BodyStream(), int64(s.cfg.BodyLimit))
		}
		c.Context().SetConnectionClose()
		c.Set(fiber.HeaderRetryAfter, "5")
		s.metrics.drainRefusals.Inc()
		return errShuttingDown
	}
	err := c.Next()
	if s.draining.Load() {
		c.Context().SetConnectionClose()
	}
	return err
}

var errShuttingDown = errorf(fiber.StatusServiceUnavailable, "shutting_down", "the server is restarting; retry later")

// drainRequests waits until no request drainGate let through is in
// progress, then until Config.DrainLinger has passed since began, or
// sooner once every client connection is closed and no request came for
// a fifth of it (a client that just got a closing answer may be
// reconnecting: a connection still in the listen queue when the listener
// closes is reset), or until ctx ends.
func (s *Server) drainRequests(ctx context.Context, began time.Time) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	quiet := s.cfg.DrainLinger / 5
	for {
		idle := s.active.Load() == 0
		settled := s.app.Server().GetOpenConnectionsCount() <= 0 && time.Since(time.Unix(0, s.lastSeen.Load())) >= quiet
		if idle && (settled || time.Since(began) >= s.cfg.DrainLinger) {
			return nil
		}
		select {
		case <-ctx.Done():
			if idle {
				return nil // only the linger is cut short
			}
			return fmt.Errorf("gateway: %d requests still in progress: %w", s.active.Load(), ctx.Err())
		case <-tick.C:
		}
	}
}

// waitGroup waits for wg until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trackConn keeps the set of connections the HTTP server serves: it is
// the server's ConnState hook, which sees each connection's first and
// last states (and each request's, which it leaves aside).
func (s *Server) trackConn(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		s.connsMu.Lock()
		s.conns[c] = struct{}{}
		s.connsMu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.connsMu.Lock()
		delete(s.conns, c)
		s.connsMu.Unlock()
	}
}

// wakeConns wakes the reads of every connection the HTTP server serves,
// every 100 ms until the returned stop is called. The HTTP server closes
// idle keep-alive connections at shutdown, but it waits for a connection
// on which no request came yet, as for a request, up to its read timeout
// (30 s): browsers and HTTP clients open such spare connections. Woken,
// a connection with nothing on it is closed, and one with a request head
// still arriving is answered 408. Shutdown calls it once no request is in
// progress (or its deadline passed).
func (s *Server) wakeConns() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s.connsMu.Lock()
			for c := range s.conns {
				_ = c.SetReadDeadline(time.Now())
			}
			s.connsMu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
