package pipeline

import (
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/snapshot"
)

// retryCounter is one work queue's retry count. Its polls' retries
// (retriesOver) telescope: their sum over any span is that span's count,
// so errors at the ends do not accumulate. A single interval can come out
// negative (a requeued message waiting at its end), so the running sum is
// kept signed, and the counter, which never goes back, rises only to
// what the sum held at two polls in a row: one poll's counters read at
// another moment than its depth (a busy broker's collectors run late)
// put that poll's sum off by the messages in between, and the next poll
// takes the error back; a highest value taken at once would keep it (14
// retries too many of 162 on a machine running 16 processes a core).
type retryCounter struct {
	sum, prevSum, exported float64
	seen                   int // the poll that last updated it
}

// add takes one poll's retries.
func (rc *retryCounter) add(retries float64) {
	rc.prevSum, rc.sum = rc.sum, rc.sum+retries
	rc.exported = max(rc.exported, min(rc.sum, rc.prevSum))
}

// queueStates fills st.Queues from the analyses' outputs.
func (p *Pipeline) queueStates(st *TargetState) {
	snap := st.Snapshot
	isDLQ := make(map[snapshot.QueueKey]bool, len(st.Routes))
	routesOut := map[snapshot.QueueKey][]string{}
	for _, r := range st.Routes {
		isDLQ[snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}] = true
		k := snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}
		routesOut[k] = append(routesOut[k], r.DeadLetterQueue)
	}
	roles := p.roles.Classify(snap.Queues, st.Routes)
	window := p.target.ConsumerStatus.Window.Std()
	e := 0 // estimates are in snapshot order, for the queues with known statistics
	for i := range snap.Queues {
		q := &snap.Queues[i]
		k := q.Key()
		qs := &st.Queues[i]
		qs.Role = roles[i]
		qs.IsDeadLetterQueue = isDLQ[k]
		qs.DeadLetterQueues = routesOut[k]
		if e < len(st.Estimates) && st.Estimates[e].Vhost == q.Vhost && st.Estimates[e].Name == q.Name {
			// Both estimators take the same queues, in the same order.
			qs.Estimate = &st.Estimates[e]
			if st.Processing != nil && qs.Role.Role != queuerole.Stream {
				// A stream's deliveries are reads of its retained log.
				qs.Processing = &st.Processing[e]
			}
			e++
		}
		qs.ConsumerTimeout = p.target.ConsumerTimeout.Std()
		if q.HasConsumerTimeout {
			qs.ConsumerTimeout = q.ConsumerTimeout
		}
		qs.Age = oldestAge(snap.Time, q, qs.Estimate)
		series := p.history.Of(k)
		if series == nil {
			qs.Status, qs.StatusReason = consumerstatus.Unknown, "unknown: the broker has no statistics for the queue yet"
			continue
		}
		qs.Recent, qs.HasRecent = series.Over(HealthWindow)
		if qs.Role.Role == queuerole.Stream {
			// A stream's depth is its retained log, which consumers
			// read without removing: no backlog, no drain time, no
			// work-queue status.
			qs.Status, qs.StatusReason = consumerstatus.Unknown, "unknown: a stream has no consumer status; its depth is its retained log"
			continue
		}
		v := consumerstatus.Explain(series, window)
		qs.Status, qs.StatusReason = v.Status, v.Reason
		if qs.Role.Role == queuerole.Delay && qs.Status == consumerstatus.NoConsumers {
			// Nobody consumes a delay queue by design.
			qs.Status, qs.StatusReason = consumerstatus.OK, "ok: a delay queue, which nobody consumes by design ("+v.Reason+")"
		}
		qs.Drain, qs.HasDrain = series.DrainSeconds(), true
		if len(qs.Role.RetryQueues) > 0 {
			rc := p.retries[k]
			if rc == nil {
				rc = &retryCounter{}
				p.retries[k] = rc
			} else if c, ok := series.SincePrevious(); ok {
				rc.add(retriesOver(c))
			}
			rc.seen = p.polled
			qs.Retried, qs.HasRetried = rc.exported, true
			if qs.HasRecent {
				qs.RecentRetried = max(0, retriesOver(qs.Recent))
			}
		}
	}
	for k, rc := range p.retries {
		if rc.seen != p.polled {
			delete(p.retries, k) // gone, or no longer a work queue with retries
		}
	}
}

// observeStreams fills the stream state of the streams whose consumers the
// broker listed. A queue of another type that a queue_roles rule calls a
// stream has no offsets to report, so it gets none.
func (p *Pipeline) observeStreams(st *TargetState) {
	streams := p.streams.Observe(st.Snapshot)
	if !st.Snapshot.StreamConsumersKnown {
		return
	}
	for i := range st.Snapshot.Queues {
		if st.Snapshot.Queues[i].Type != "stream" {
			continue
		}
		st.Queues[i].Stream, st.Queues[i].HasStream = streams[st.Snapshot.Queues[i].Key()], true
	}
}
