package pipeline

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/internal/exposition"
)

// The silent-loss families (analysis/loss).
var (
	unroutableFamily = exposition.NewFamily("warren_unroutable_messages_total",
		"Messages published to the vhost that no queue took (the broker's per-vhost message_stats): outcome=dropped were published without mandatory and are gone; outcome=returned were returned to a mandatory publisher.",
		dto.MetricType_COUNTER)
	lengthLimitFamily = exposition.NewFamily("warren_queue_length_limit",
		"The queue's effective length limit (x-max-length or x-max-length-bytes, argument or policy, the lower of the two), unit=messages or bytes, with the overflow mode: drop-head, reject-publish or reject-publish-dlx.",
		dto.MetricType_GAUGE)
	lengthLimitRatioFamily = exposition.NewFamily("warren_queue_length_limit_ratio",
		"Depth over the queue's length limit: messages over x-max-length, or bytes over x-max-length-bytes, the higher where both are set; 1 is full.",
		dto.MetricType_GAUGE)
	queueDroppedFamily = exposition.NewFamily("warren_queue_dropped_total",
		"Messages warren estimates the queue's drop-head length limit dropped while it watched the queue (no dead-letter exchange: they are lost). Starts at 0 when warren starts watching the queue.",
		dto.MetricType_COUNTER)
	queueDiscardedFamily = exposition.NewFamily("warren_queue_discarded_total",
		"Messages warren estimates left the queue neither completed nor dropped by a length limit while it watched the queue: rejected or nacked without requeue, or expired, with no dead-letter exchange to take them. Starts at 0 when warren starts watching the queue.",
		dto.MetricType_COUNTER)
)

// QueueLossFamilies are the per-queue silent-loss families, names
// drop_metrics may list. warren_unroutable_messages_total is per vhost,
// a handful of series, and cannot be dropped.
var QueueLossFamilies = []*exposition.Family{lengthLimitFamily, lengthLimitRatioFamily, queueDroppedFamily, queueDiscardedFamily}

var (
	outcomeDropped  = exposition.AppendLabel(nil, "outcome", "dropped")
	outcomeReturned = exposition.AppendLabel(nil, "outcome", "returned")
)

// encodeLoss encodes the silent-loss series of st.
func (e *encoder) encodeLoss(b *exposition.Builder, st *TargetState) {
	snap := st.Snapshot
	var (
		unroutable = b.Family(unroutableFamily)
		limit      = b.Family(lengthLimitFamily)
		ratio      = b.Family(lengthLimitRatioFamily)
		dropped    = b.Family(queueDroppedFamily)
		discarded  = b.Family(queueDiscardedFamily)
		l, extra   []byte
	)
	for _, v := range snap.Unroutable {
		l = exposition.AppendLabel(l[:0], "cluster", st.Cluster)
		l = exposition.AppendLabel(l, "vhost", v.Vhost)
		unroutable.AddWith(l, outcomeDropped, float64(v.Dropped))
		unroutable.AddWith(l, outcomeReturned, float64(v.Returned))
	}
	for i := range snap.Queues {
		q, qs := &snap.Queues[i], &st.Queues[i]
		ql := e.labels.Queue(q.Vhost, q.Name)
		if lim := q.Limit; lim.Limited() {
			if lim.HasMaxLength {
				extra = limitLabels(extra[:0], "messages", string(lim.Overflow))
				limit.AddWith(ql, extra, float64(lim.MaxLength))
			}
			if lim.HasMaxLengthBytes {
				extra = limitLabels(extra[:0], "bytes", string(lim.Overflow))
				limit.AddWith(ql, extra, float64(lim.MaxLengthBytes))
			}
		}
		if !q.StatsKnown {
			continue
		}
		if qs.Loss.HasRatio {
			ratio.Add(ql, qs.Loss.Ratio)
		}
		if qs.Loss.CountsDrops {
			dropped.Add(ql, qs.Loss.Dropped)
		}
		if qs.Loss.CountsDiscards {
			discarded.Add(ql, qs.Loss.Discarded)
		}
	}
}

func limitLabels(b []byte, unit, overflow string) []byte {
	b = exposition.AppendLabel(b, "unit", unit)
	return exposition.AppendLabel(b, "overflow", overflow)
}
