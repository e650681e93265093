package pipeline

import (
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
)

// encoder encodes a target's per-queue series once per poll. It keeps
// what does not change from poll to poll — each queue's encoded labels,
// the threshold labels — so a steady cluster re-encodes no label strings.
// It is owned by the poll goroutine.
type encoder struct {
	labels     *labelCache
	thresholds map[time.Duration][]byte
	drop       func(metric string) bool
	// estimateAll exports the estimated oldest age also for queues with a
	// head timestamp.
	estimateAll bool
	// classicBuckets sends the classic time-in-queue buckets beside the
	// native ones in protobuf.
	classicBuckets bool
	native         exposition.Native // reused for every queue
}

func newEncoder(t config.Target) *encoder {
	return &encoder{labels: newLabelCache(t.Name), thresholds: map[time.Duration][]byte{}, drop: t.DropsMetric, estimateAll: t.TimeInQueue.EstimateAll,
		classicBuckets: t.TimeInQueue.ClassicBuckets}
}

// encode encodes st's series; prev, the previous fragment, sizes the
// buffers.
func (e *encoder) encode(st *TargetState, prev *exposition.Fragment) *exposition.Fragment {
	b := exposition.NewBuilder(prev)
	b.Drop(e.drop)
	e.encodeQueues(b, st)
	e.encodeReplication(b, st)
	e.encodeEstimates(b, st)
	e.encodeProcessing(b, st)
	e.encodeLoss(b, st)
	e.labels.Sweep()
	return b.Fragment()
}

// encodeQueues encodes the series read from the snapshot, and the
// consumer status and drain time of the queue history.
func (e *encoder) encodeQueues(b *exposition.Builder, st *TargetState) {
	snap := st.Snapshot
	var (
		info        = b.Family(queueInfoFamily)
		messages    = b.Family(queueMessagesFamily)
		consumers   = b.Family(queueConsumersFamily)
		capacity    = b.Family(queueCapacityFamily)
		oldest      = b.Family(oldestMessageAgeFamily)
		published   = b.Family(queuePublishedFamily)
		delivered   = b.Family(queueDeliveredFamily)
		acked       = b.Family(queueAckedFamily)
		redelivered = b.Family(queueRedeliveredFamily)
		status      = b.Family(queueStatusFamily)
		drain       = b.Family(drainFamily)
		routes      = b.Family(deadLetterRouteFamily)
		retried     = b.Family(queueRetriedFamily)
		ttl         = b.Family(messageTTLFamily)
		streamCons  = b.Family(streamConsumersFamily)
		streamLag   = b.Family(streamLagFamily)
		streamLagS  = b.Family(streamLagSecondsFamily)
	)
	var extra []byte
	for i := range snap.Queues {
		q := &snap.Queues[i]
		l := e.labels.Queue(q.Vhost, q.Name)
		dlx := ""
		if q.HasDeadLetterExchange {
			dlx = q.DeadLetterExchange
		}
		extra = exposition.AppendLabel(extra[:0], "type", q.Type)
		extra = exposition.AppendLabel(extra, "node", q.Node)
		extra = exposition.AppendLabel(extra, "dead_letter_exchange", dlx)
		extra = exposition.AppendLabel(extra, "role", st.Queues[i].Role.Role.String())
		info.AddWith(l, extra, 1)
		if q.HasMessageTTL {
			ttl.Add(l, q.MessageTTL.Seconds())
		}
		if !q.StatsKnown {
			continue // depth and counters unknown: absent, not zero
		}
		messages.AddWith(l, stateReady, float64(q.Ready))
		messages.AddWith(l, stateUnacked, float64(q.Unacked))
		consumers.Add(l, float64(q.Consumers))
		if q.HasConsumerCapacity {
			capacity.Add(l, q.ConsumerCapacity)
		}
		if !q.HeadTimestamp.IsZero() {
			oldest.AddWith(l, sourceHeadTimestamp, max(0, snap.Time.Sub(q.HeadTimestamp).Seconds()))
		}
		published.Add(l, float64(q.Counters.Published))
		delivered.Add(l, float64(q.Counters.Delivered))
		acked.Add(l, float64(q.Counters.Acked))
		redelivered.Add(l, float64(q.Counters.Redelivered))
		qs := &st.Queues[i]
		if sl, ok := statusLabels[qs.Status]; ok {
			status.AddWith(l, sl, 1) // a stream has no status
		}
		if qs.HasDrain {
			drain.Add(l, qs.Drain)
		}
		if qs.HasRetried {
			retried.Add(l, qs.Retried)
		}
		if qs.HasStream {
			streamCons.Add(l, float64(qs.Stream.Consumers))
			if qs.Stream.HasLag {
				streamLag.Add(l, float64(qs.Stream.MaxLag))
			}
			if qs.Stream.HasLagSeconds {
				streamLagS.Add(l, qs.Stream.LagSeconds)
			}
		}
	}
	for _, r := range st.Routes {
		extra = exposition.AppendLabel(extra[:0], "dead_letter_queue", r.DeadLetterQueue)
		routes.AddWith(e.labels.Queue(r.Vhost, r.Queue), extra, 1)
	}
}

// encodeEstimates encodes the time-in-queue series; a withheld estimate
// has none (absent, not zero).
func (e *encoder) encodeEstimates(b *exposition.Builder, st *TargetState) {
	var (
		oldest    = b.Family(oldestMessageAgeFamily)
		histogram = b.Family(timeInQueueFamily)
		within    = b.Family(processedWithinFamily)
		total     = b.Family(processedFamily)
		counts    []uint64
	)
	for i := range st.Estimates {
		q := &st.Estimates[i]
		if q.Withheld {
			continue
		}
		l := e.labels.Queue(q.Vhost, q.Name)
		if !q.HasHeadTimestamp || e.estimateAll {
			oldest.AddWith(l, sourceEstimate, q.OldestAge.Seconds())
		}
		counts = e.encodeTimeInQueue(histogram, l, q, counts)
		for j, th := range q.Thresholds {
			tl := e.thresholdLabel(th)
			within.AddWith(l, tl, q.Within[j])
			total.AddWith(l, tl, q.Total[j])
		}
	}
}

// encodeProcessing encodes the processing-latency series of every queue
// with a processing estimate (QueueState.Processing): the histogram once
// some delivery was settled.
func (e *encoder) encodeProcessing(b *exposition.Builder, st *TargetState) {
	var (
		histogram = b.Family(processingFamily)
		oldest    = b.Family(oldestUnackedFamily)
		timeout   = b.Family(consumerTimeoutFamily)
		counts    []uint64
	)
	for i := range st.Queues {
		qs := &st.Queues[i]
		p := qs.Processing
		if p == nil {
			continue
		}
		l := e.labels.Queue(p.Vhost, p.Name)
		oldest.Add(l, p.OldestAge.Seconds())
		timeout.Add(l, qs.ConsumerTimeout.Seconds())
		if p.Count > 0 {
			counts = encodeHistogram(histogram, l, p, counts)
		}
	}
}

func (e *encoder) thresholdLabel(th time.Duration) []byte {
	l, ok := e.thresholds[th]
	if !ok {
		l = exposition.AppendLabel(nil, "threshold", exposition.FormatThreshold(th))
		e.thresholds[th] = l
	}
	return l
}
