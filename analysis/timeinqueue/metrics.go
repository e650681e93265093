package timeinqueue

import (
	"strconv"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/exposition"
)

// The time-in-queue families, encoded once per poll (see
// internal/exposition); the estimated oldest age goes into the collector's
// OldestMessageAgeFamily beside the head-timestamp series.
var (
	timeInQueueFamily = exposition.NewFamily("warren_queue_time_in_queue_seconds",
		"Estimated time from arrival to departure of the messages that left the queue, from the broker's counters assuming FIFO (README: time in queue).",
		dto.MetricType_HISTOGRAM)
	processedWithinFamily = exposition.NewFamily("warren_queue_processed_within_total",
		"Messages that left the queue within the threshold (good events).",
		dto.MetricType_COUNTER)
	processedFamily = exposition.NewFamily("warren_queue_processed_total",
		"Events counted against the threshold: messages that left, plus messages counted bad the moment they waited longer than the threshold (each message once).",
		dto.MetricType_COUNTER)
	drainFamily = exposition.NewFamily("warren_queue_drain_seconds",
		"Time to empty the backlog at the net departure rate of the last minute: 0 when empty, +Inf when the backlog is not shrinking.",
		dto.MetricType_GAUGE)
)

// Families are the families Series encodes, besides the collector's
// OldestMessageAgeFamily.
var Families = []*exposition.Family{timeInQueueFamily, processedWithinFamily, processedFamily, drainFamily}

var sourceEstimate = exposition.AppendLabel(nil, "source", "estimate")

// Target pairs a target's estimator with how its series are exported.
type Target struct {
	Cluster   string
	Estimator *Estimator
	// EstimateAll exports the estimated oldest age also for queues with a
	// head timestamp.
	EstimateAll bool
	// Drop reports whether a metric family is not to be exported
	// (drop_metrics); nil drops nothing.
	Drop func(metric string) bool
}

// Series encodes one target's time-in-queue estimates for /metrics after
// every poll (an exposition.Source).
type Series struct {
	target     Target
	labels     *collector.LabelCache
	thresholds map[time.Duration][]byte // encoded threshold labels
	fragment   atomic.Pointer[exposition.Fragment]
}

// Sources encodes each target's estimates in its poller's goroutine after
// every poll, and returns them for exposition.NewHandler. targets[i]
// belongs to pollers[i]; call Sources after each estimator has been
// attached to its poller (OnSnapshot(e.Observe)), so that the estimates
// encoded are the ones of the poll that just finished.
func Sources(targets []Target, pollers []*collector.Poller) []exposition.Source {
	sources := make([]exposition.Source, len(targets))
	for i, t := range targets {
		s := &Series{target: t, labels: pollers[i].Labels(), thresholds: map[time.Duration][]byte{}}
		pollers[i].OnSnapshot(func(*collector.Snapshot) { s.fragment.Store(s.encode(t.Estimator.Estimates())) })
		sources[i] = s
	}
	return sources
}

// Fragment returns the latest encoded estimates, or nil before the first.
func (s *Series) Fragment() *exposition.Fragment { return s.fragment.Load() }

func (s *Series) encode(estimates []QueueEstimate) *exposition.Fragment {
	b := exposition.NewBuilder(s.fragment.Load())
	b.Drop(s.target.Drop)
	var (
		oldest    = b.Family(collector.OldestMessageAgeFamily)
		drain     = b.Family(drainFamily)
		histogram = b.Family(timeInQueueFamily)
		within    = b.Family(processedWithinFamily)
		total     = b.Family(processedFamily)
		counts    []uint64
	)
	for i := range estimates {
		q := &estimates[i]
		l := s.labels.Queue(q.Vhost, q.Name)
		if !q.HasHeadTimestamp || s.target.EstimateAll {
			oldest.AddWith(l, sourceEstimate, q.OldestAge.Seconds())
		}
		drain.Add(l, q.DrainSeconds)
		counts = cumulativeCounts(counts[:0], q)
		histogram.Histogram(l, q.Buckets, counts, q.Sum, uint64(q.Count+0.5))
		for j, th := range q.Thresholds {
			tl := s.thresholdLabel(th)
			within.AddWith(l, tl, q.Within[j])
			total.AddWith(l, tl, q.Total[j])
		}
	}
	return b.Fragment()
}

func (s *Series) thresholdLabel(th time.Duration) []byte {
	l, ok := s.thresholds[th]
	if !ok {
		l = exposition.AppendLabel(nil, "threshold", FormatThreshold(th))
		s.thresholds[th] = l
	}
	return l
}

// cumulativeCounts turns per-bucket counts into Prometheus's cumulative
// form, rounded to whole messages, appended to out.
func cumulativeCounts(out []uint64, q *QueueEstimate) []uint64 {
	running := 0.0
	for i := range q.Buckets {
		running += q.BucketCounts[i]
		out = append(out, uint64(running+0.5))
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
