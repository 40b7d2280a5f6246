package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/gateway/realtime"
	"github.com/parleyhq/parley/gateway/web"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
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
	// Agents holds the AI agent settings; it should be the runtime's
	// AgentResolver. Nil means a registry of its own, which the runtime
	// does not use.
	Agents *agents.Registry
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
	agents    *agents.Registry
	profiles  *channels.Profiles
	// bodyMemory holds the bytes of the request bodies being read
	// (limitBody).
	bodyMemory *semaphore.Weighted

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
	sweeper, err := media.NewSweeper(media.SweeperConfig{Store: cfg.Media, Refs: cfg.Store, Clock: cfg.Runtime.Clock(),
		Interval: cfg.MediaSweepInterval, Grace: cfg.MediaOrphanGrace, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, media: cfg.Media, sweeper: sweeper, metrics: newGatewayMetrics(cfg.Registerer),
		mediaJobs: make(chan mediaJob, 4096), agents: cfg.Agents, bodyMemory: semaphore.NewWeighted(cfg.BodyMemory),
		profiles: profiles}
	hub, err := realtime.New(realtime.Config{Broadcaster: cfg.Runtime.Broadcaster(), Authenticate: s.authenticateCaller, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.hub = hub
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// Values read from a request (route params, queries, headers) end
		// up in conversation state and events that outlive the request:
		// they must not alias Fiber's reused buffers.
		Immutable:    true,
		BodyLimit:    cfg.BodyLimit,
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorHandler: s.errorHandler,
		// Bodies are streamed so that imports are read as they arrive;
		// limitBody keeps BodyLimit for every other route.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
	})
	s.app.Server().HeaderReceived = s.headerReceived
	s.routes()
	return s, nil
}

// Start starts the gateway's goroutines: the WebSocket hub's shards, the
// inbound media downloads, the profile lookups and the media sweeper.
// Serve calls it if it was not called; Shutdown stops them all. Calling
// it again, or after Shutdown, does nothing.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		s.hub.Start(s.ctx)
		for range s.cfg.MediaWorkers {
			s.wg.Add(1)
			go pprof.Do(s.ctx, pprof.Labels("parley", "media"), func(ctx context.Context) {
				defer s.wg.Done()
				s.mediaWorker(ctx)
			})
		}
		s.profiles.Start()
		s.sweeper.Start()
	})
}

func (s *Server) routes() {
	a := s.app
	a.Use(s.requestID, s.accessLog, s.limitBody)
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	a.Get("/readyz", func(c *fiber.Ctx) error {
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

	// The WebSocket route authenticates itself (browsers pass the token
	// in the query), so it is registered before the authenticated group.
	a.Get("/public/media/:token", s.servePublicMedia)
	a.Get("/api/v1/ws", s.hub.Handler())
	// Login and accept-invite take no token, so the account routes come
	// before the authenticated group; the others check the token themselves.
	s.userRoutes(a, a.Group("/api/v1"))
	api := a.Group("/api/v1", s.requireAuth)
	api.Get("/channels", s.listChannels)
	api.Post("/channels", requireRole(engine.RoleAdmin), s.createChannel)
	api.Get("/channels/:channel/:account", s.getChannel)
	api.Patch("/channels/:channel/:account", requireRole(engine.RoleAdmin), s.updateChannel)
	api.Delete("/channels/:channel/:account", requireRole(engine.RoleAdmin), s.deleteChannel)
	api.Get("/agent", s.getAgent)
	api.Put("/agent", requireRole(engine.RoleAdmin), s.putAgent)
	api.Get("/channels/:channel/:account/agent", s.getChannelAgent)
	api.Put("/channels/:channel/:account/agent", requireRole(engine.RoleAdmin), s.putChannelAgent)
	api.Delete("/channels/:channel/:account/agent", requireRole(engine.RoleAdmin), s.deleteChannelAgent)
	api.Get("/media/:id", s.serveMedia)
	api.Get("/analytics", s.analytics)
	api.Get("/conversations", s.listConversations)
	api.Get("/search", s.search)
	api.Get("/tags", s.listTags)
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
	s.contactRoutes(api)

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
	if s.log.Enabled(c.UserContext(), slog.LevelDebug) || c.Response().StatusCode() >= 500 {
		s.log.Log(c.UserContext(), levelFor(c.Response().StatusCode()), "HTTP request",
			"method", c.Method(), "path", c.Path(), "status", c.Response().StatusCode(),
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
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, code := fiber.StatusInternalServerError, "internal"
	msg := "internal error"
	var ae *apiError
	var re *realtime.Error
	var fe *fiber.Error
	switch {
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
	body.Error.Code, body.Error.Message = code, msg
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

// Shutdown stops accepting connections, waits for requests in progress
// until ctx ends, and stops the workers and the media sweeper. Safe to
// call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.ready.Store(false)
		// Upgraded connections are not drained by the HTTP server: the
		// hub closes them.
		herr := s.hub.Shutdown(ctx)
		if serr := s.app.ShutdownWithContext(ctx); serr != nil {
			err = fmt.Errorf("gateway: shutdown: %w", serr)
		}
		if herr != nil {
			err = errors.Join(err, fmt.Errorf("gateway: %w", herr))
		}
		s.startOnce.Do(func() {}) // a Start from now on starts nothing
		s.cancel()
		s.wg.Wait()
		s.profiles.Shutdown()
		s.sweeper.Shutdown()
	})
	return err
}
