package config

import (
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// TimeInQueueConfig configures the time-in-queue estimate.
type TimeInQueueConfig struct {
	// Thresholds for warren_queue_processed_within_total.
	Thresholds []Duration `yaml:"thresholds"`
	// Buckets of warren_queue_time_in_queue_seconds, in seconds.
	Buckets []float64 `yaml:"buckets"`
	// ClassicBuckets sends the classic buckets beside the native
	// histogram to a scrape in protobuf (default false: the native one
	// alone, one series a queue). The text format always has them.
	ClassicBuckets bool `yaml:"classic_buckets"`
	// EstimateAll exports the estimated oldest-message age also for
	// queues with a head timestamp, to compare the two in production.
	EstimateAll bool `yaml:"estimate_all"`
	// SampleHistory asks the management API for each queue's sample
	// history since the previous poll (default true): the broker's own
	// timestamps at stats-interval resolution instead of one point per
	// poll, for about 300 more bytes per queue and poll.
	SampleHistory *bool `yaml:"sample_history"`
	// NonFIFO says what to do with queues that do not deliver in arrival
	// order (priority queues, queues with many redeliveries), where the
	// FIFO estimate is wrong: NonFIFOWithhold (the default, also when
	// empty) publishes no estimate for them, NonFIFOEstimate publishes it
	// anyway.
	NonFIFO string `yaml:"non_fifo"`
	// Overrides set thresholds and buckets for the queues they match;
	// the first match wins.
	Overrides []TimeInQueueOverride `yaml:"overrides"`
	// SLOThresholds are added by the time_in_queue SLOs on the target
	// (not a YAML key).
	SLOThresholds []SLOThreshold `yaml:"-"`
}

// TimeInQueueOverride sets thresholds and buckets for matching queues.
type TimeInQueueOverride struct {
	Vhosts     Filter     `yaml:"vhosts"`
	Queues     Filter     `yaml:"queues"`
	Thresholds []Duration `yaml:"thresholds"`
	Buckets    []float64  `yaml:"buckets"`
}

// The values of time_in_queue.non_fifo.
const (
	NonFIFOWithhold = "withhold"
	NonFIFOEstimate = "estimate"
)

// EstimatesNonFIFO reports whether queues that break FIFO get an
// estimate anyway (non_fifo: estimate).
func (c TimeInQueueConfig) EstimatesNonFIFO() bool { return c.NonFIFO == NonFIFOEstimate }

// WantsSampleHistory reports whether polls ask for per-queue samples.
func (c TimeInQueueConfig) WantsSampleHistory() bool {
	return c.SampleHistory == nil || *c.SampleHistory
}

// DefaultStatsInterval is RabbitMQ's default collect_statistics_interval.
const DefaultStatsInterval = 5 * time.Second

// DefaultTimeInQueueThresholds are the thresholds counted unless
// configured.
var DefaultTimeInQueueThresholds = []Duration{Duration(10 * time.Second), Duration(30 * time.Second)}

// SLOThreshold asks the time-in-queue estimator of a target to count
// events against Threshold for the queues an SLO measures, in addition to
// the thresholds configured for them.
type SLOThreshold struct {
	Vhost, Queue *Regexp
	Threshold    Duration
}

// ProcessingConfig configures the processing-latency estimate.
type ProcessingConfig struct {
	// Enabled turns the estimate on (the default): it asks the broker for
	// two more sample series per queue, about 50% more bytes per queue
	// and poll (docs/benchmarks.md).
	Enabled *bool `yaml:"enabled"`
	// Buckets of warren_queue_processing_seconds, in seconds.
	Buckets []float64 `yaml:"buckets"`
	// SLOThresholds are added by the processing_latency SLOs on the
	// target (not a YAML key).
	SLOThresholds []SLOThreshold `yaml:"-"`
}

// IsEnabled reports whether the processing estimate runs (enabled is
// unset or true).
func (c ProcessingConfig) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// checkBuckets reports histogram buckets at path that are not positive
// and increasing.
func (p *parser) checkBuckets(root *yaml.Node, buckets []float64, path ...any) {
	for j := range buckets {
		if buckets[j] <= 0 || (j > 0 && buckets[j] <= buckets[j-1]) {
			full := append(slices.Clip(path), j)
			p.add(lineOf(root, full...), pathString(full), "buckets must be positive and increasing")
			return
		}
	}
}

func (p *parser) validateTimeInQueue(root *yaml.Node, i int, c *TimeInQueueConfig) {
	checkBuckets := func(buckets []float64, path ...any) {
		p.checkBuckets(root, buckets, append([]any{"targets", i, "time_in_queue"}, path...)...)
	}
	checkBuckets(c.Buckets, "buckets")
	if c.NonFIFO != "" && c.NonFIFO != NonFIFOWithhold && c.NonFIFO != NonFIFOEstimate {
		full := []any{"targets", i, "time_in_queue", "non_fifo"}
		p.add(lineOf(root, full...), pathString(full), "%q is not a non_fifo policy: use %s or %s", c.NonFIFO, NonFIFOWithhold, NonFIFOEstimate)
	}
	for j, o := range c.Overrides {
		checkBuckets(o.Buckets, "overrides", j, "buckets")
		if len(o.Thresholds) == 0 && len(o.Buckets) == 0 {
			full := []any{"targets", i, "time_in_queue", "overrides", j}
			p.add(lineOf(root, full...), pathString(full), "an override needs thresholds or buckets")
		}
	}
}
