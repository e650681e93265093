package config

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// PerQueueMetrics are the per-queue metric families drop_metrics may
// name: the ones a big installation may not need, each in the smallest
// exposition profile that exports it (exposition.go). Target-level
// metrics (warren_target_up, poll metrics, node metrics) cannot be
// dropped.
var PerQueueMetrics = append(slices.Clip(StandardMetrics), fullOnlyMetrics...)

// DefaultMaxResponseSize is the default max_response_size, sized for
// warren's own queue listing of 100,000 busy queues: every column it asks
// for, the sample history of a 15 s poll at a 5 s stats interval and the
// processing series took 2,669 bytes a queue on RabbitMQ 3.10.8 (267 MB
// for 100,000), with one-digit counters and 34-character names; 384 MiB
// leaves half as much again for long names and counters in the billions.
// pipeline's TestDefaultMaxResponseSizeHoldsTheListingOf100kBusyQueues
// measures it again; docs/polling.md explains the bounds.
const DefaultMaxResponseSize Size = 384 << 20

// MaxResponseBytes is the bound of each response of the target's broker:
// max_response_size, or its default.
func (t *Target) MaxResponseBytes() int64 {
	if t.MaxResponseSize == 0 {
		return int64(DefaultMaxResponseSize)
	}
	return int64(t.MaxResponseSize)
}

// MinMaxResponseSize is the smallest max_response_size accepted: below it
// even the overview and node listing of a small cluster would not fit, so
// a smaller value is a mistake (bytes meant as megabytes).
const MinMaxResponseSize Size = 64 << 10

// DropsMetric reports whether the target exports no series of the metric
// family: drop_metrics names it, or exposition.profile leaves it out.
func (t *Target) DropsMetric(name string) bool {
	return slices.Contains(t.DropMetrics, name) || !ProfileExports(t.Profile, name)
}

// validateScale checks the cardinality settings of targets[i].
func (p *parser) validateScale(root *yaml.Node, i int, t *Target) {
	if t.MaxQueuesPerVhost < 0 {
		p.add(lineOf(root, "targets", i, "max_queues_per_vhost"), pathString([]any{"targets", i, "max_queues_per_vhost"}),
			"must be 0 (no limit) or more, not %d", t.MaxQueuesPerVhost)
	}
	if t.MaxResponseSize != 0 && t.MaxResponseSize < MinMaxResponseSize {
		p.add(lineOf(root, "targets", i, "max_response_size"), pathString([]any{"targets", i, "max_response_size"}),
			"must be at least %d bytes (64KiB), not %d: is a unit missing, such as 256MB?", MinMaxResponseSize, t.MaxResponseSize)
	}
	for j, name := range t.DropMetrics {
		if !slices.Contains(PerQueueMetrics, name) {
			path := []any{"targets", i, "drop_metrics", j}
			p.add(lineOf(root, path...), pathString(path), "%q is not a per-queue metric (known: %s)", name, strings.Join(PerQueueMetrics, ", "))
		}
	}
}
