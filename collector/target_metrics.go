package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pollMetrics are the poll's own instruments, updated as polls finish.
type pollMetrics struct {
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	interval      *prometheus.GaugeVec
	responseBytes *prometheus.GaugeVec
}

func newPollMetrics() *pollMetrics {
	return &pollMetrics{
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
func (m *pollMetrics) initialise(cluster string, interval float64) {
	m.duration.WithLabelValues(cluster)
	m.interval.WithLabelValues(cluster).Set(interval)
	for _, r := range []string{ReasonTimeout, ReasonConnection, ReasonTLS, ReasonAuth, ReasonHTTPStatus, ReasonInvalidResponse, ReasonCredentials} {
		m.errors.WithLabelValues(cluster, r)
	}
}

var (
	targetUpDesc = prometheus.NewDesc("warren_target_up",
		"1 if the latest poll of the target's management API succeeded, 0 if it failed (per-object series then show the last good snapshot).",
		[]string{"cluster"}, nil)
	snapshotAgeDesc = prometheus.NewDesc("warren_snapshot_age_seconds",
		"Seconds since the poll that produced the snapshot being served started.",
		[]string{"cluster"}, nil)
	clusterInfoDesc = prometheus.NewDesc("warren_cluster_info",
		"Versions and name the target's management API reports; always 1.",
		[]string{"cluster", "cluster_name", "rabbitmq_version", "erlang_version", "management_version"}, nil)
	queuesExportedDesc = prometheus.NewDesc("warren_queues_exported",
		"Queues with per-queue series in the snapshot.",
		[]string{"cluster"}, nil)
	queuesDroppedDesc = prometheus.NewDesc("warren_queues_dropped",
		"Queues that pass the filters but have no per-queue series because of max_queues.",
		[]string{"cluster"}, nil)
)

func collectTarget(ch chan<- prometheus.Metric, cluster string, h Health, snap *Snapshot) {
	up := 0.0
	if h.Up {
		up = 1
	}
	gauge(ch, targetUpDesc, up, cluster)
	if snap == nil {
		return
	}
	gauge(ch, snapshotAgeDesc, time.Since(snap.Time).Seconds(), cluster)
	gauge(ch, clusterInfoDesc, 1, cluster, snap.ClusterName, snap.RabbitMQVersion, snap.ErlangVersion, snap.ManagementVersion)
	gauge(ch, queuesExportedDesc, float64(len(snap.Queues)), cluster)
	gauge(ch, queuesDroppedDesc, float64(snap.QueuesDropped), cluster)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
