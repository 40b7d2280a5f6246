package realtime

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus metrics. Their names and help texts
// are those the dashboards and alerts in deploy/ use.
type metrics struct {
	subscribers     prometheus.Gauge
	slowDisconnects prometheus.Counter
}

func unregisteredMetrics() *metrics {
	return &metrics{
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_gateway_websocket_subscribers", Help: "Live WebSocket subscribers."}),
		slowDisconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_gateway_websocket_slow_disconnects_total", Help: "WebSocket subscribers disconnected for falling behind."}),
	}
}

// newMetrics builds the metrics and registers them with reg, unless nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := unregisteredMetrics()
	if reg != nil {
		for _, c := range []prometheus.Collector{m.subscribers, m.slowDisconnects} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("realtime: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}
