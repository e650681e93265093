package timeinqueue

import (
	"math"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// queueState is one queue's estimator: its measuring configuration, and
// its state in parts that each own their fields. When a counter goes
// back, the parts learnt from the counters reset themselves (see
// observe); the outputs and the latest derived values carry on.
type queueState struct {
	thresholds []time.Duration
	bounds     []float64
	maxPoints  int

	curves    curves
	other     otherDepartures
	placement placement
	crossed   crossings
	out       outputs
	latest    latest
	// deliveries tell whether the queue's redeliveries break FIFO.
	deliveries deliveries
	// recent are the queue's latest samples, for learning when the
	// broker reads its counters (phase.go).
	recent []snapshot.Sample
}

// latest are the values derived from the newest sample, and what the
// estimator learnt about the queue's samples.
type latest struct {
	oldest     time.Duration
	sampleTime time.Time
	// spacing is the interval of the broker's sample history.
	spacing time.Duration
}

func newQueueState(thresholds []time.Duration, bounds []float64, maxPoints int, native bool) *queueState {
	return &queueState{
		thresholds: thresholds,
		bounds:     bounds,
		maxPoints:  maxPoints,
		crossed:    make(crossings, len(thresholds)),
		out:        newOutputs(len(thresholds), len(bounds), native),
	}
}

// alignment says how to put one poll's samples on a common time axis.
//
// The broker reads each series at its own moment: the publish and the
// completion counters when its per-table metrics collectors run (each on
// its own timer, node-wide), the depth when the queue process last
// reported it (every stats interval for classic queues, every 5 s tick
// for quorum queues). The sample history then files every value under
// the next multiple of the sample interval. So a sample stamped T holds
// values read during the interval before T, each series at its own fixed
// phase. skew is how much later than the publish counter the completion
// counters were read (negative: earlier); the one read later is
// interpolated back to when the other was read, and lag is how long
// before T that was: the time a point stands for is T − lag.
type alignment struct {
	lag, skew time.Duration
}

// observe adds the samples of one poll, oldest first, and emits the
// pieces of messages that departed since the previous sample.
//
// Departures are the completion counters (acks, and deliveries and gets
// without ack), read at the arrival counter's moment (alignment.skew),
// plus the departures they do not see, taken from the depth (see
// otherDepartures). The events it counts are the poll's new events
// (outputs.newWithin, newTotal); a departure that was not a completion
// is a bad event when it leaves, unless it already was one when it
// crossed a threshold (otherDepartures.unprocessed).
func (q *queueState) observe(samples []snapshot.Sample, alignAt func(time.Time) alignment, otherWindow time.Duration, emit func(Piece)) {
	q.out.startPoll()
	for _, s := range samples {
		if q.curves.seen(s) {
			continue // already seen: polls overlap on purpose
		}
		if q.curves.wentBack(s) {
			// A counter went back: the queue was re-created or its node
			// restarted. The history says nothing about the new counters;
			// the cumulative outputs carry on.
			q.curves.reset()
			q.other.reset()
			q.placement.reset()
			q.crossed.reset()
		}
		al := alignAt(s.Time)
		published, completed := q.curves.read(s, al)
		messages := float64(max(s.Messages, 0))
		t := s.Time.Add(-al.lag)
		if len(q.curves.points) == 0 {
			q.curves.offset = max(0, messages-published)
			a := published + q.curves.offset
			q.other.start(s.Time, a-completed, max(0, a-messages-completed))
			q.curves.points = append(q.curves.points, point{t: t, a: a, d: min(a, completed+q.other.count)})
			continue
		}
		prev := q.curves.last()
		a := published + q.curves.offset
		q.other.update(s.Time, a-completed, messages, otherWindow)
		// Departures never go back, and never pass arrivals.
		d := min(max(prev.d, completed+q.other.count), a)
		p := point{t: t, a: a, d: d}
		unprocessed := q.other.unprocessed(prev.d, d)
		q.placement.learnCapacity(prev, p)
		q.placement.placeBurst(&q.curves, p)
		if kink, ok := q.placement.drainKink(q.curves.last(), p); ok {
			q.curves.points = append(q.curves.points, kink)
			q.departures(prev, kink, unprocessed, emit)
			prev = kink
		}
		q.curves.points = append(q.curves.points, p)
		q.departures(prev, p, unprocessed, emit)
		q.countCrossings(p)
		q.placement.remember(prev)
	}
	if len(q.curves.points) > 0 {
		last := q.curves.last()
		q.latest.sampleTime = last.t
		q.latest.oldest = q.curves.oldestAge(last)
		q.curves.prune(last, q.keep(), q.maxPoints)
	}
}

// keep is how far back the curves must reach: the longest threshold, and
// minHistory.
func (q *queueState) keep() time.Duration {
	keep := minHistory
	for _, th := range q.thresholds {
		keep = max(keep, th)
	}
	return keep
}

// departures splits the messages that left between prev and p at the
// arrival curve's breakpoints: within each part both the arrival and the
// departure time are linear in the message index, so the wait is too.
// The unprocessed share of them left without being completed.
func (q *queueState) departures(prev, p point, unprocessed float64, emit func(Piece)) {
	if p.d <= prev.d {
		return
	}
	departAt := func(n float64) time.Time { return interpolate(prev.t, p.t, (n-prev.d)/(p.d-prev.d)) }
	cuts := []float64{prev.d}
	for _, pt := range q.curves.points {
		if pt.a > prev.d && pt.a < p.d {
			cuts = append(cuts, pt.a)
		}
	}
	cuts = append(cuts, p.d)
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		if hi <= lo {
			continue
		}
		aLo, approxLo := q.curves.arrivalTime(math.Nextafter(lo, math.Inf(1)))
		aHi, _ := q.curves.arrivalTime(hi)
		wLo := max(0, departAt(lo).Sub(aLo))
		wHi := max(0, departAt(hi).Sub(aHi))
		piece := Piece{Count: hi - lo, Unprocessed: unprocessed * (hi - lo), WaitFrom: wLo, WaitTo: wHi, DepartedAt: departAt(hi), Approximate: approxLo}
		q.out.fold(piece, q.bounds)
		q.countThresholds(lo, hi, wLo, wHi, unprocessed)
		emit(piece)
	}
}
