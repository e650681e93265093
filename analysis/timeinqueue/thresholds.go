package timeinqueue

import "time"

// crossings are, per threshold, the arrival index up to which waiting
// messages have been counted bad because they waited longer than it.
type crossings []float64

// reset forgets the crossings: the arrival indices they are taken on
// went back with the counters.
func (c crossings) reset() { clear(c) }

// countThresholds counts the departures with indices (lo, hi], waits
// linear from wLo to wHi, against every threshold, skipping those already
// counted when they crossed it while waiting. The unprocessed share of
// them left without being completed: bad, whatever their wait.
func (q *queueState) countThresholds(lo, hi float64, wLo, wHi time.Duration, unprocessed float64) {
	for i, th := range q.thresholds {
		from := max(lo, q.crossed[i])
		if from >= hi {
			continue
		}
		// The wait at index n, and the share of (from, hi] within th.
		waitAt := func(n float64) float64 {
			return wLo.Seconds() + (wHi.Seconds()-wLo.Seconds())*(n-lo)/(hi-lo)
		}
		w1, w2 := waitAt(from), waitAt(hi)
		good := (hi - from) * shareAtMost(min(w1, w2), max(w1, w2), th.Seconds()) * (1 - unprocessed)
		q.out.addEvents(i, good, hi-from)
	}
}

// countCrossings counts, at p, the waiting messages that have now waited
// longer than each threshold: bad at once, and never again.
func (q *queueState) countCrossings(p point) {
	for i, th := range q.thresholds {
		arrived := q.curves.arrivalsAt(p.t.Add(-th))
		if arrived < 0 {
			continue
		}
		from := max(q.crossed[i], p.d)
		if arrived > from {
			q.out.addEvents(i, 0, arrived-from)
		}
		q.crossed[i] = max(q.crossed[i], arrived)
	}
}
