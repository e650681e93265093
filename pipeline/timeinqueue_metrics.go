package pipeline

import (
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/internal/exposition"
)

// The time-in-queue families, encoded once per poll with the other
// per-queue families; the estimated oldest age goes into
// oldestMessageAgeFamily beside the head-timestamp series.
var (
	timeInQueueFamily = exposition.NewFamily("warren_queue_time_in_queue_seconds",
		"Estimated time from arrival to departure of the messages that left the queue, from the broker's counters assuming FIFO.",
		dto.MetricType_HISTOGRAM)
	processedWithinFamily = exposition.NewFamily("warren_queue_processed_within_total",
		"Messages that left the queue within the threshold (good events).",
		dto.MetricType_COUNTER)
	processedFamily = exposition.NewFamily("warren_queue_processed_total",
		"Events counted against the threshold: messages that left, plus messages counted bad the moment they waited longer than the threshold (each message once).",
		dto.MetricType_COUNTER)
)

// TimeInQueueFamilies are the families of the time-in-queue estimates,
// besides the estimated oldest age in oldestMessageAgeFamily.
var TimeInQueueFamilies = []*exposition.Family{timeInQueueFamily, processedWithinFamily, processedFamily}

// cumulativeCounts turns per-bucket counts into Prometheus's cumulative
// form, rounded to whole messages, appended to out.
func cumulativeCounts(out []uint64, q *timeinqueue.QueueEstimate) []uint64 {
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
