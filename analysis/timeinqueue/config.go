package timeinqueue

import (
	"time"

	"github.com/warrenhq/warren/internal/config"
)

// ConfigFor turns a target's time_in_queue settings into an estimator
// configuration.
func ConfigFor(t config.Target) Config {
	c := Config{Thresholds: durations(t.TimeInQueue.Thresholds), Buckets: t.TimeInQueue.Buckets, EstimateNonFIFO: t.TimeInQueue.EstimatesNonFIFO()}
	for _, o := range t.TimeInQueue.Overrides {
		c.Overrides = append(c.Overrides, Override{
			Match:      func(vhost, queue string) bool { return o.Vhosts.Match(vhost) && o.Queues.Match(queue) },
			Thresholds: durations(o.Thresholds),
			Buckets:    o.Buckets,
		})
	}
	for _, x := range t.TimeInQueue.SLOThresholds {
		c.Extra = append(c.Extra, Override{
			Match:      func(vhost, queue string) bool { return config.MatchQueue(x.Vhost, x.Queue, vhost, queue) },
			Thresholds: []time.Duration{x.Threshold.Std()},
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
