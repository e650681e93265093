package probes

import (
	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets cover 1 ms to 30 s, roughly ×2.5 apart: a healthy local
// confirm lands in the first few, a broker under an alarm in the last.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics are the probes' instruments. One set serves every prober.
type Metrics struct {
	confirm     *prometheus.HistogramVec
	e2e         *prometheus.HistogramVec
	runs        *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	connUp      *prometheus.GaugeVec
}

// NewMetrics creates the probe metrics; register them with Collectors.
func NewMetrics() *Metrics {
	labels := []string{"cluster", "node", "queue_type"}
	histogram := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    name,
			Help:    help,
			Buckets: latencyBuckets,
			// Also a native histogram, for Prometheus servers that scrape
			// them: finer resolution at a fraction of the series.
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: 0,
		}, labels)
	}
	return &Metrics{
		confirm: histogram("warren_probe_confirm_latency_seconds",
			"Time from publishing a probe message to the broker's publisher confirm."),
		e2e: histogram("warren_probe_e2e_latency_seconds",
			"Time from publishing a probe message to consuming it on the separate consumer connection."),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_probe_runs_total",
			Help: "Probe rounds by outcome: ok, nack, confirm_timeout, returned, blocked, lost, connection_error, auth_error, channel_error.",
		}, append(labels, "outcome")),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_probe_last_success_timestamp_seconds",
			Help: "Unix time of the last probe round that ended ok.",
		}, labels),
		connUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_probe_connection_up",
			Help: "1 while the probe's publisher or consumer connection to the node is open.",
		}, []string{"cluster", "node", "role"}),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.confirm, m.e2e, m.runs, m.lastSuccess, m.connUp}
}

// Forget deletes every series of a target that is no longer probed.
func (m *Metrics) Forget(cluster string) {
	match := prometheus.Labels{"cluster": cluster}
	m.confirm.DeletePartialMatch(match)
	m.e2e.DeletePartialMatch(match)
	m.runs.DeletePartialMatch(match)
	m.lastSuccess.DeletePartialMatch(match)
	m.connUp.DeletePartialMatch(match)
}

// initialise creates the series of one probe at zero, so the first
// failure is an increase and not a new series.
func (m *Metrics) initialise(cluster, node, queueType string) {
	for _, o := range AllOutcomes {
		m.runs.WithLabelValues(cluster, node, queueType, string(o))
	}
	m.confirm.WithLabelValues(cluster, node, queueType)
	m.e2e.WithLabelValues(cluster, node, queueType)
}

func (m *Metrics) record(r Result) {
	m.runs.WithLabelValues(r.Cluster, r.Node, r.QueueType, string(r.Outcome)).Inc()
	if r.ConfirmLatency > 0 {
		m.confirm.WithLabelValues(r.Cluster, r.Node, r.QueueType).Observe(r.ConfirmLatency.Seconds())
	}
	if r.Outcome == OutcomeOK {
		m.e2e.WithLabelValues(r.Cluster, r.Node, r.QueueType).Observe(r.E2ELatency.Seconds())
		m.lastSuccess.WithLabelValues(r.Cluster, r.Node, r.QueueType).Set(float64(r.Time.UnixNano()) / 1e9)
	}
}

func (m *Metrics) connection(cluster, node, role string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.connUp.WithLabelValues(cluster, node, role).Set(v)
}
