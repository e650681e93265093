package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/warrenhq/warren/snapshot"
)

// Metrics are the polls' own instruments, shared by the pollers of every
// target and updated as polls finish.
type Metrics struct {
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	interval      *prometheus.GaugeVec
	responseBytes *prometheus.GaugeVec
}

// NewMetrics returns the instruments, with no series yet.
func NewMetrics() *Metrics {
	return &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warren_poll_duration_seconds",
			Help:    "Wall time of one poll of a target's management API, failed polls included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"cluster"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_poll_errors_total",
			Help: "Failed polls of a target's management API, by reason: timeout, connection, tls, auth, http_status, invalid_response, credentials.",
		}, []string{"cluster", "reason"}),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_poll_interval_seconds",
			Help: "Poll interval in force: poll_interval, or longer while polls take longer than poll_interval (one poll runs at a time).",
		}, []string{"cluster"}),
		responseBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_poll_response_bytes",
			Help: "Bytes the management API returned to the latest successful poll, all requests together.",
		}, []string{"cluster"}),
	}
}

// initialise creates every series of a target at zero, so that rate() and
// increase() see the first error.
func (m *Metrics) initialise(cluster string, interval time.Duration) {
	m.duration.WithLabelValues(cluster)
	m.interval.WithLabelValues(cluster).Set(interval.Seconds())
	for _, r := range snapshot.Reasons {
		m.errors.WithLabelValues(cluster, string(r))
	}
}

// Forget deletes every series of a target that is no longer polled.
func (m *Metrics) Forget(cluster string) {
	match := prometheus.Labels{"cluster": cluster}
	m.duration.DeletePartialMatch(match)
	m.errors.DeletePartialMatch(match)
	m.interval.DeletePartialMatch(match)
	m.responseBytes.DeletePartialMatch(match)
}

// Collectors returns the instruments, for a registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.duration, m.errors, m.interval, m.responseBytes}
}
