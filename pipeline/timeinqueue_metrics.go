package pipeline

import (
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

// The processing-latency families: the same estimate applied to
// deliveries and acks, and the consumer timeout it is measured against.
var (
	processingFamily = exposition.NewFamily("warren_queue_processing_seconds",
		"Estimated time from delivery to acknowledgement of the manual-ack deliveries that were settled (acked, rejected, or returned by a closed channel), from the broker's counters assuming deliveries are acked in order. Present for queues with such deliveries.",
		dto.MetricType_HISTOGRAM)
	oldestUnackedFamily = exposition.NewFamily("warren_queue_oldest_unacked_age_seconds",
		"Estimated age of the oldest delivery of the queue still waiting for its acknowledgement, at the broker's newest sample; 0 when none waits. The broker closes the consumer's channel when it passes warren_queue_consumer_timeout_seconds.",
		dto.MetricType_GAUGE)
	consumerTimeoutFamily = exposition.NewFamily("warren_queue_consumer_timeout_seconds",
		"How long a delivery of the queue may stay unacknowledged before the broker closes its channel: the queue's x-consumer-timeout argument or consumer-timeout policy (the lower), else the target's consumer_timeout setting.",
		dto.MetricType_GAUGE)
)

// TimeInQueueFamilies are the families of the time-in-queue and
// processing estimates, besides the estimated oldest age in
// oldestMessageAgeFamily.
var TimeInQueueFamilies = []*exposition.Family{timeInQueueFamily, processedWithinFamily, processedFamily,
	processingFamily, oldestUnackedFamily, consumerTimeoutFamily}

// encodeHistogram writes an estimate's histogram to h, with the
// per-bucket counts made cumulative in buf (returned for reuse), rounded
// to whole messages as Prometheus counts them.
func encodeHistogram(h exposition.FamilyWriter, labels []byte, q *timeinqueue.QueueEstimate, buf []uint64) []uint64 {
	buf = cumulativeCounts(q, buf)
	h.Histogram(labels, q.Buckets, buf, q.Sum, uint64(q.Count+0.5))
	return buf
}

// cumulativeCounts makes an estimate's classic bucket counts cumulative
// in buf, rounded to whole messages.
func cumulativeCounts(q *timeinqueue.QueueEstimate, buf []uint64) []uint64 {
	buf = buf[:0]
	running := 0.0
	for i := range q.Buckets {
		running += q.BucketCounts[i]
		buf = append(buf, uint64(running+0.5))
	}
	return buf
}

// encodeTimeInQueue writes a queue's time-in-queue histogram: classic
// buckets, and the native ones for protobuf where the estimate has them.
func (e *encoder) encodeTimeInQueue(h exposition.FamilyWriter, labels []byte, q *timeinqueue.QueueEstimate, buf []uint64) []uint64 {
	if q.Native == nil {
		return encodeHistogram(h, labels, q, buf)
	}
	buf = cumulativeCounts(q, buf)
	e.native = exposition.Native{Schema: timeinqueue.NativeSchema, ZeroThreshold: timeinqueue.NativeZeroThreshold,
		ZeroCount: q.Native.ZeroCount, Offset: q.Native.Offset, Counts: q.Native.Counts}
	h.NativeHistogram(labels, q.Buckets, buf, q.Sum, uint64(q.Count+0.5), &e.native, e.classicBuckets)
	return buf
}
