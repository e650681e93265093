package sli

import (
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/outbox"
	"github.com/warrenhq/warren/pipeline"
)

// outboxWait is what an end-to-end SLO keeps of its outbox between two
// polls of its target: the outbox wait distribution of the rows
// dispatched since, in the bins of config.OutboxSplits.
type outboxWait struct {
	// bins[k] counts the rows whose wait fell in bin k; late the rows
	// dispatched later than the threshold, counted already the late
	// ones that had been counted bad when they crossed it.
	bins          []float64
	late, counted float64
	last          *outboxWait // the latest non-empty distribution
}

func (w *outboxWait) rows() float64 {
	sum := w.late
	for _, b := range w.bins {
		sum += b
	}
	return sum
}

// ObserveOutbox counts the events of an outbox sample: the
// outbox_dispatch SLIs that name the outbox, and the outbox half of the
// end-to-end time_in_queue SLIs (rows that crossed the threshold while
// pending are bad at once; the wait distribution waits for the target's
// next poll).
func (f *Feeder) ObserveOutbox(s *outbox.Sample) {
	if s.Baseline || !s.HasLatency {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.slos {
		switch sli := m.cfg.SLI; {
		case sli.OutboxDispatch != nil && sli.OutboxDispatch.Outbox == s.Outbox:
			m.matchedAny = true
			i := s.ThresholdIndex(sli.OutboxDispatch.Threshold.Std())
			var good, total float64
			forTypes(s, sli.OutboxDispatch.EventType, func(t *outbox.TypeSample) {
				good += t.Within[i]
				total += t.Total(i)
			})
			f.add(m, s.Time, good, total)
		case sli.TimeInQueue != nil && sli.TimeInQueue.Outbox == s.Outbox:
			f.outboxHalf(m, sli.TimeInQueue, s)
		}
	}
}

// forTypes calls fn for the event types of s that match eventType (nil
// matches all).
func forTypes(s *outbox.Sample, eventType *config.Regexp, fn func(*outbox.TypeSample)) {
	for i := range s.Types {
		if eventType == nil || eventType.MatchString(s.Types[i].EventType) {
			fn(&s.Types[i])
		}
	}
}

// outboxHalf adds a sample's rows to the SLO's wait distribution and
// counts the rows that crossed the threshold while pending as bad.
func (f *Feeder) outboxHalf(m *measured, sli *config.QueueLatencySLI, s *outbox.Sample) {
	outboxTh, _ := config.OutboxSplitThresholds(sli.Threshold.Std())
	if m.wait == nil {
		m.wait = &outboxWait{bins: make([]float64, len(outboxTh))}
	}
	w := m.wait
	top := s.ThresholdIndex(sli.Threshold.Std())
	var crossed float64
	forTypes(s, sli.EventType, func(t *outbox.TypeSample) {
		below := 0.0
		for k, th := range outboxTh {
			within := t.Within[s.ThresholdIndex(th)]
			w.bins[k] += within - below
			below = within
		}
		w.late += t.Dispatched - t.Within[top]
		w.counted += t.Dispatched - t.Within[top] - t.FreshLate[top]
		crossed += t.Crossed[top]
	})
	f.add(m, s.Time, 0, crossed)
}

// endToEnd counts a target poll's events of an end-to-end SLO: the
// queues' events, each good with the probability that outbox wait plus
// time in queue stayed within the threshold (docs/outbox.md#end-to-end-slos).
func (f *Feeder) endToEnd(m *measured, sli *config.QueueLatencySLI, st *pipeline.TargetState) {
	threshold := sli.Threshold.Std()
	_, queueTh := config.OutboxSplitThresholds(threshold)
	within := make([]float64, len(queueTh))
	var total float64
	m.forMeasured(sli, st.Estimates, func(e *timeinqueue.QueueEstimate) {
		for j, th := range e.Thresholds {
			if th == threshold {
				total += e.NewTotal[j]
			}
			for k, q := range queueTh {
				if th == q && q > 0 {
					within[k] += e.NewWithin[j]
				}
			}
		}
	})
	w := m.takeWait(len(queueTh))
	if st.Polled <= 1 {
		return // a baseline, as for time_in_queue
	}
	rows := w.rows()
	var good float64
	for k, b := range w.bins {
		good += b / rows * within[k]
	}
	f.add(m, st.Snapshot.Time, good, total*(1-w.counted/rows))
}

// takeWait returns the wait distribution since the target's previous
// poll and starts a new one; when no row was dispatched since, the latest
// non-empty one, and before any, all rows in the first bin.
func (m *measured) takeWait(bins int) *outboxWait {
	w := m.wait
	m.wait = &outboxWait{bins: make([]float64, bins)}
	if w != nil && w.rows() > 0 {
		w.last = nil
		m.wait.last = w
		return w
	}
	if w != nil && w.last != nil {
		m.wait.last = w.last
		return w.last
	}
	first := &outboxWait{bins: make([]float64, bins)}
	first.bins[0] = 1
	return first
}
