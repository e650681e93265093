package timeinqueue

import (
	"time"

	"github.com/warrenhq/warren/internal/config"
)

// ConfigFor turns a target's settings into the configuration of the
// estimator that times m: the time_in_queue settings for Waiting, the
// processing settings for Processing.
func ConfigFor(t config.Target, m Measure) Config {
	if m == Processing {
		c := Config{Measure: Processing, Buckets: t.Processing.Buckets, StatsInterval: t.StatsInterval.Std()}
		if len(c.Buckets) == 0 {
			c.Buckets = DefaultProcessingBuckets
		}
		c.Extra = sloThresholds(t.Processing.SLOThresholds)
		return c
	}
	c := Config{Thresholds: durations(t.TimeInQueue.Thresholds), Buckets: t.TimeInQueue.Buckets, EstimateNonFIFO: t.TimeInQueue.EstimatesNonFIFO(),
		StatsInterval: t.StatsInterval.Std(), Native: !t.DropsMetric(HistogramFamily)}
	if len(c.Buckets) == 0 && t.Profile != config.ProfileFull {
		c.Buckets = StandardBuckets
	}
	for _, o := range t.TimeInQueue.Overrides {
		c.Overrides = append(c.Overrides, Override{
			Match:      func(vhost, queue string) bool { return o.Vhosts.Match(vhost) && o.Queues.Match(queue) },
			Thresholds: durations(o.Thresholds),
			Buckets:    o.Buckets,
		})
	}
	c.Extra = sloThresholds(t.TimeInQueue.SLOThresholds)
	return c
}

// HistogramFamily is the metric family of the time-in-queue histogram.
const HistogramFamily = "warren_queue_time_in_queue_seconds"

// DefaultProcessingBuckets cover 10 ms to RabbitMQ's default consumer
// timeout of 30 minutes.
var DefaultProcessingBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800}

// sloThresholds are the thresholds SLOs measure, each counted for the
// queues its SLO matches.
func sloThresholds(ths []config.SLOThreshold) []Override {
	var out []Override
	for _, x := range ths {
		out = append(out, Override{
			Match:      func(vhost, queue string) bool { return config.MatchQueue(x.Vhost, x.Queue, vhost, queue) },
			Thresholds: []time.Duration{x.Threshold.Std()},
		})
	}
	return out
}

func durations(ds []config.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Std()
	}
	return out
}
