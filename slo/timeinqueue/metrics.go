package timeinqueue

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
)

var (
	queueLabels = []string{"cluster", "vhost", "queue"}

	timeInQueueDesc = prometheus.NewDesc("warren_queue_time_in_queue_seconds",
		"Estimated time from arrival to departure of the messages that left the queue, from the broker's counters assuming FIFO (README: time in queue).",
		queueLabels, nil)
	processedWithinDesc = prometheus.NewDesc("warren_queue_processed_within_total",
		"Messages that left the queue within the threshold (good events).",
		append(queueLabels[:3:3], "threshold"), nil)
	processedDesc = prometheus.NewDesc("warren_queue_processed_total",
		"Events counted against the threshold: messages that left, plus messages counted bad the moment they waited longer than the threshold (each message once).",
		append(queueLabels[:3:3], "threshold"), nil)
	drainDesc = prometheus.NewDesc("warren_queue_drain_seconds",
		"Time to empty the backlog at the net departure rate of the last minute: 0 when empty, +Inf when the backlog is not shrinking.",
		queueLabels, nil)
)

// Target pairs a target's estimator with how its series are exported.
type Target struct {
	Cluster   string
	Estimator *Estimator
	// EstimateAll exports the estimated oldest age also for queues with a
	// head timestamp.
	EstimateAll bool
}

// Collector renders the latest estimates of every target.
type Collector struct {
	targets []Target
}

// NewCollector returns a Prometheus collector over the targets' estimates.
func NewCollector(targets []Target) *Collector { return &Collector{targets: targets} }

// Describe sends nothing: the series depend on the brokers' queues.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect renders every target's latest estimates.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.targets {
		for _, q := range t.Estimator.Estimates() {
			labels := []string{t.Cluster, q.Vhost, q.Name}
			if !q.HasHeadTimestamp || t.EstimateAll {
				ch <- prometheus.MustNewConstMetric(collector.OldestMessageAgeDesc, prometheus.GaugeValue, q.OldestAge.Seconds(), append(labels, "estimate")...)
			}
			ch <- prometheus.MustNewConstMetric(drainDesc, prometheus.GaugeValue, q.DrainSeconds, labels...)
			ch <- prometheus.MustNewConstHistogram(timeInQueueDesc, uint64(q.Count+0.5), q.Sum, cumulativeBuckets(q), labels...)
			for i, th := range q.Thresholds {
				l := append(labels[:3:3], FormatThreshold(th))
				ch <- prometheus.MustNewConstMetric(processedWithinDesc, prometheus.CounterValue, q.Within[i], l...)
				ch <- prometheus.MustNewConstMetric(processedDesc, prometheus.CounterValue, q.Total[i], l...)
			}
		}
	}
}

// cumulativeBuckets turns per-bucket counts into Prometheus's cumulative
// form, rounded to whole messages.
func cumulativeBuckets(q QueueEstimate) map[float64]uint64 {
	out := make(map[float64]uint64, len(q.Buckets))
	running := 0.0
	for i, b := range q.Buckets {
		running += q.BucketCounts[i]
		out[b] = uint64(running + 0.5)
	}
	return out
}

// ConfigFor turns a target's time_in_queue settings into an estimator
// configuration.
func ConfigFor(t config.Target) Config {
	c := Config{Thresholds: durations(t.TimeInQueue.Thresholds), Buckets: t.TimeInQueue.Buckets}
	for _, o := range t.TimeInQueue.Overrides {
		c.Overrides = append(c.Overrides, Override{
			Match:      func(vhost, queue string) bool { return o.Vhosts.Match(vhost) && o.Queues.Match(queue) },
			Thresholds: durations(o.Thresholds),
			Buckets:    o.Buckets,
		})
	}
	return c
}

func durations(ds []config.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Std()
	}
	return out
}

// FormatThreshold spells a threshold for the threshold label as it is
// usually written in a configuration: 500ms, 30s, 5m, 1h.
func FormatThreshold(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
}
