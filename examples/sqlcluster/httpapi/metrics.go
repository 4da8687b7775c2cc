package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the HTTP layer's Prometheus metrics.
//
// Concurrency: safe for concurrent use (Prometheus vectors are).
type metrics struct {
	requests  *prometheus.CounterVec   // endpoint, method, code
	duration  *prometheus.HistogramVec // endpoint
	forwarded *prometheus.CounterVec   // endpoint
}

func newDefaultRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "holeycow", Subsystem: "http", Name: "requests_total",
			Help: "HTTP API requests served, by endpoint, method and status code.",
		}, []string{"endpoint", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "holeycow", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP API request latency, by endpoint, forwarding included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"endpoint"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "holeycow", Subsystem: "http", Name: "forwarded_total",
			Help: "HTTP API requests forwarded to the leader, by endpoint.",
		}, []string{"endpoint"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.forwarded} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one request; endpoint is a known path or "other", and
// method is bounded by the routes, so label values stay few.
func (m *metrics) observe(endpoint, method string, code int, d time.Duration, forwarded bool) {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodHead:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(endpoint, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
	if forwarded {
		m.forwarded.WithLabelValues(endpoint).Inc()
	}
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
