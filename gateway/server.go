package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
)

// Config configures the gateway.
type Config struct {
	// Runtime is the running engine. Required.
	Runtime *actors.Runtime
	// Logger receives access and error logs; nil discards them.
	Logger *slog.Logger
	// BodyLimit caps request bodies in bytes; zero means 4 MiB.
	BodyLimit int
}

// Server is the HTTP gateway.
type Server struct {
	cfg   Config
	app   *fiber.App
	log   *slog.Logger
	ready atomic.Bool
}

// New builds the gateway's routes; it listens on nothing yet.
func New(cfg Config) (*Server, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("gateway: Config.Runtime is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 4 << 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             cfg.BodyLimit,
		ErrorHandler:          s.errorHandler,
	})
	s.app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.app.Get("/readyz", func(c *fiber.Ctx) error {
		if !s.ready.Load() {
			return fiber.NewError(fiber.StatusServiceUnavailable, "not ready")
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})
	return s, nil
}

// App returns the Fiber app, for tests that drive it in memory.
func (s *Server) App() *fiber.App { return s.app }

// errorBody is the JSON error every failed request gets.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
	}
	var body errorBody
	body.Error.Code = codeFor(status)
	body.Error.Message = err.Error()
	if status >= 500 {
		s.log.Error("Request failed", "path", c.Path(), "err", err)
	}
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

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.ready.Store(true)
	if err := s.app.Listener(ln); err != nil {
		return fmt.Errorf("gateway: serving: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in
// progress, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	return nil
}
