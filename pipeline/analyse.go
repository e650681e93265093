package pipeline

import (
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/snapshot"
)

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
	window := p.target.ConsumerStatus.Window.Std()
	e := 0 // estimates are in snapshot order, for the queues with known statistics
	for i := range snap.Queues {
		q := &snap.Queues[i]
		k := q.Key()
		qs := &st.Queues[i]
		qs.IsDeadLetterQueue = isDLQ[k]
		qs.DeadLetterQueues = routesOut[k]
		if e < len(st.Estimates) && st.Estimates[e].Vhost == q.Vhost && st.Estimates[e].Name == q.Name {
			qs.Estimate = &st.Estimates[e]
			e++
		}
		qs.Age = oldestAge(snap.Time, q, qs.Estimate)
		series := p.history.Of(k)
		if series == nil {
			qs.Status = consumerstatus.Unknown
			continue
		}
		qs.Status = consumerstatus.Evaluate(series, window)
		qs.Recent, qs.HasRecent = series.Over(HealthWindow)
		qs.Drain, qs.HasDrain = series.DrainSeconds(), true
	}
}
