package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

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
	targetSourceDesc = prometheus.NewDesc("warren_target_source",
		"1 for the source the served snapshot was read from (management: the management API's statistics; prometheus: the rabbitmq_prometheus plugin), 0 for the other one the target's source setting allows.",
		[]string{"cluster", "source"}, nil)
	queuesExportedDesc = prometheus.NewDesc("warren_queues_exported",
		"Queues with per-queue series in the snapshot.",
		[]string{"cluster"}, nil)
	queuesDroppedDesc = prometheus.NewDesc("warren_queues_dropped",
		"Queues that pass the filters but have no per-queue series because of max_queues.",
		[]string{"cluster"}, nil)
)

func collectTarget(ch chan<- prometheus.Metric, cluster string, h collector.Health, snap *snapshot.Snapshot) {
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

// collectSource exports warren_target_source for every source the
// target's setting allows: under auto both, else the one it names.
func collectSource(ch chan<- prometheus.Metric, t config.Target, snap *snapshot.Snapshot) {
	for _, source := range []string{config.SourceManagement, config.SourcePrometheus} {
		if t.IsAuto() || t.Source == source {
			gauge(ch, targetSourceDesc, boolValue(snap != nil && snap.Source == source), t.Name, source)
		}
	}
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
