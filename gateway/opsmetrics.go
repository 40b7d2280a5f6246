package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the Gatherer in Prometheus' text format. It needs
// no token, like /healthz: expose the port to the scraper only.
func (s *Server) metricsHandler() fiber.Handler {
	g := s.cfg.Gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	return adaptor.HTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{s},
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("Serving metrics", "err", v) }

func (s *Server) observeWebhook(ch engine.Channel, start time.Time) {
	s.metrics.webhookSeconds.WithLabelValues(string(ch)).Observe(time.Since(start).Seconds())
}
