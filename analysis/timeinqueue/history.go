package timeinqueue

import (
	"math"
	"sort"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// point is the queue's cumulative arrivals a and departures d at t.
type point struct {
	t    time.Time
	a, d float64
}

// drainWindow is how far back the net departure rate is measured.
const drainWindow = time.Minute

// queueState is one queue's history and cumulative outputs.
type queueState struct {
	thresholds []time.Duration
	bounds     []float64
	maxPoints  int

	points []point
	// offset counts messages that were in the queue before its arrival
	// counter says anything arrived (stats reset by a node restart while
	// messages survived): they are arrivals of unknown time.
	offset float64
	// prev is the previous broker sample, as the broker gave it.
	prev    snapshot.Sample
	hasPrev bool
	// other counts departures the completion counters do not see
	// (expiry, dead-lettering, rejects without requeue, purges), from
	// the depth; backlogs holds the recent arrivals minus completions it
	// is measured against (see otherDepartures).
	other    float64
	backlogs []backlogAt
	// crossed[i] is the arrival index up to which waiting messages have
	// been counted bad for thresholds[i] because they crossed it.
	crossed []float64

	buckets       []float64
	sum, count    float64
	within, total []float64

	oldest     time.Duration
	drain      float64
	sampleTime time.Time
	headStamp  bool
	// spacing is the interval of the broker's sample history.
	spacing time.Duration
	// before is the point made from the sample before the newest (the
	// newest is the last of points), as it was made, and beforeRate the
	// arrival rate of the interval that ended there (0 when unknown):
	// what placing events within an interval looks at (see placeBurst
	// and drainKink).
	before     point
	hasBefore  bool
	beforeRate float64
	// busyDeparted messages left in busySeconds of intervals through
	// which the queue's consumers were busy, both decayed with age
	// (capacityMemory): their ratio is the consumers' capacity.
	busyDeparted, busySeconds float64
}

func newQueueState(thresholds []time.Duration, bounds []float64, maxPoints int) *queueState {
	return &queueState{
		thresholds: thresholds,
		bounds:     bounds,
		maxPoints:  maxPoints,
		crossed:    make([]float64, len(thresholds)),
		buckets:    make([]float64, len(bounds)+1),
		within:     make([]float64, len(thresholds)),
		total:      make([]float64, len(thresholds)),
	}
}

// backlogAt is, at broker time t, arrivals minus completions: what the
// queue would hold if nothing left it any other way.
type backlogAt struct {
	t time.Time
	v float64
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
// otherDepartures).
func (q *queueState) observe(samples []snapshot.Sample, al alignment, otherWindow time.Duration, emit func(Piece)) {
	for _, s := range samples {
		if q.hasPrev && !s.Time.After(q.prev.Time) {
			continue // already seen: polls overlap on purpose
		}
		if q.hasPrev && (s.Published < q.prev.Published || s.Completed < q.prev.Completed) {
			// A counter went back: the queue was re-created or its node
			// restarted. The history says nothing about the new counters;
			// the cumulative outputs carry on.
			q.points, q.offset, q.hasPrev, q.backlogs, q.other = q.points[:0], 0, false, q.backlogs[:0], 0
			q.hasBefore, q.beforeRate = false, 0
			q.busyDeparted, q.busySeconds = 0, 0
			clear(q.crossed)
		}
		published, completed := float64(s.Published), float64(s.Completed)
		if q.hasPrev && al.skew != 0 {
			// Read both counters at the same moment: interpolate the one
			// read later back to when the other was read.
			back := max(-1, min(1, float64(al.skew)/float64(s.Time.Sub(q.prev.Time))))
			if back > 0 {
				completed -= back * (completed - float64(q.prev.Completed))
			} else {
				published += back * (published - float64(q.prev.Published))
			}
		}
		q.prev, q.hasPrev = s, true
		messages := float64(max(s.Messages, 0))
		t := s.Time.Add(-al.lag)
		if len(q.points) == 0 {
			q.offset = max(0, messages-published)
			a := published + q.offset
			q.other = max(0, a-messages-completed)
			q.backlogs = append(q.backlogs[:0], backlogAt{t: s.Time, v: a - completed})
			q.points = append(q.points, point{t: t, a: a, d: min(a, completed+q.other)})
			continue
		}
		prev := q.points[len(q.points)-1]
		a := published + q.offset
		q.otherDepartures(s.Time, a-completed, messages, otherWindow)
		// Departures never go back, and never pass arrivals.
		d := min(max(prev.d, completed+q.other), a)
		p := point{t: t, a: a, d: d}
		q.learnCapacity(p)
		q.placeBurst(p)
		if kink, ok := q.drainKink(p); ok {
			q.points = append(q.points, kink)
			q.departures(prev, kink, emit)
			prev = kink
		}
		q.points = append(q.points, p)
		q.departures(prev, p, emit)
		q.crossings(p)
		q.remember(prev)
	}
	if n := len(q.points); n > 0 {
		last := q.points[n-1]
		q.sampleTime = last.t
		q.oldest = q.oldestAge(last)
		q.drain = q.drainSeconds(last)
		q.prune(last)
	}
}

// otherDepartures sets the count of departures the completion counters
// do not see from the depth read at t: what arrivals minus completions
// say the queue holds, less what it holds. The broker reads the depth at
// another moment than the counters, up to window earlier (a stats
// interval or two for a classic queue, a 5 s tick for a quorum queue),
// and in a growing queue a depth read earlier is smaller: taken against
// the counters at t, it would show departures that never happened. So
// the depth is held against the smallest backlog the counters showed
// within window before t: a lower bound whenever the depth was read
// within that window. When the count goes down again, departures do not:
// the next completions pay it back.
func (q *queueState) otherDepartures(t time.Time, backlog, messages float64, window time.Duration) {
	q.backlogs = append(q.backlogs, backlogAt{t: t, v: backlog})
	drop := 0
	for drop < len(q.backlogs)-1 && t.Sub(q.backlogs[drop].t) > window {
		drop++
	}
	q.backlogs = append(q.backlogs[:0], q.backlogs[drop:]...)
	least := backlog
	for _, b := range q.backlogs {
		least = min(least, b.v)
	}
	q.other = max(0, least-messages)
}

// arrivalTime is when the n-th message arrived (linear between points);
// approximate when it arrived before the history began.
func (q *queueState) arrivalTime(n float64) (time.Time, bool) {
	k := sort.Search(len(q.points), func(i int) bool { return q.points[i].a >= n })
	if k == 0 {
		return q.points[0].t, n < q.points[0].a
	}
	if k == len(q.points) {
		return q.points[k-1].t, false
	}
	lo, hi := q.points[k-1], q.points[k]
	return interpolate(lo.t, hi.t, (n-lo.a)/(hi.a-lo.a)), false
}

// arrivalsAt is how many messages had arrived by t, or -1 when t is
// before the history (unknown).
func (q *queueState) arrivalsAt(t time.Time) float64 {
	k := sort.Search(len(q.points), func(i int) bool { return !q.points[i].t.Before(t) })
	if k == 0 {
		if t.Equal(q.points[0].t) {
			return q.points[0].a
		}
		return -1
	}
	if k == len(q.points) {
		return q.points[k-1].a
	}
	lo, hi := q.points[k-1], q.points[k]
	f := float64(t.Sub(lo.t)) / float64(hi.t.Sub(lo.t))
	return lo.a + f*(hi.a-lo.a)
}

func interpolate(from, to time.Time, f float64) time.Time {
	return from.Add(time.Duration(f * float64(to.Sub(from))))
}

// departures splits the messages that left between prev and p at the
// arrival curve's breakpoints: within each part both the arrival and the
// departure time are linear in the message index, so the wait is too.
func (q *queueState) departures(prev, p point, emit func(Piece)) {
	if p.d <= prev.d {
		return
	}
	departAt := func(n float64) time.Time { return interpolate(prev.t, p.t, (n-prev.d)/(p.d-prev.d)) }
	cuts := []float64{prev.d}
	for _, pt := range q.points {
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
		aLo, approxLo := q.arrivalTime(math.Nextafter(lo, math.Inf(1)))
		aHi, _ := q.arrivalTime(hi)
		wLo := max(0, departAt(lo).Sub(aLo))
		wHi := max(0, departAt(hi).Sub(aHi))
		piece := Piece{Count: hi - lo, WaitFrom: wLo, WaitTo: wHi, DepartedAt: departAt(hi), Approximate: approxLo}
		q.fold(piece)
		q.countThresholds(lo, hi, wLo, wHi)
		emit(piece)
	}
}

// fold adds a piece to the histogram, its messages spread evenly over
// its wait range.
func (q *queueState) fold(p Piece) {
	w1, w2 := p.WaitFrom.Seconds(), p.WaitTo.Seconds()
	if w1 > w2 {
		w1, w2 = w2, w1
	}
	below := 0.0
	for i, b := range q.bounds {
		f := shareAtMost(w1, w2, b)
		q.buckets[i] += p.Count * (f - below)
		below = f
	}
	q.buckets[len(q.bounds)] += p.Count * (1 - below)
	q.sum += p.Count * (w1 + w2) / 2
	q.count += p.Count
}

// shareAtMost is the share of a uniform distribution on [w1, w2] that is
// at most b.
func shareAtMost(w1, w2, b float64) float64 {
	switch {
	case b >= w2:
		return 1
	case b < w1:
		return 0
	default:
		return (b - w1) / (w2 - w1)
	}
}

// countThresholds counts the departures with indices (lo, hi], waits
// linear from wLo to wHi, against every threshold, skipping those already
// counted when they crossed it while waiting.
func (q *queueState) countThresholds(lo, hi float64, wLo, wHi time.Duration) {
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
		good := (hi - from) * shareAtMost(min(w1, w2), max(w1, w2), th.Seconds())
		q.within[i] += good
		q.total[i] += hi - from
	}
}

// crossings counts, at p, the waiting messages that have now waited
// longer than each threshold: bad at once, and never again.
func (q *queueState) crossings(p point) {
	for i, th := range q.thresholds {
		arrived := q.arrivalsAt(p.t.Add(-th))
		if arrived < 0 {
			continue
		}
		from := max(q.crossed[i], p.d)
		if arrived > from {
			q.total[i] += arrived - from
		}
		q.crossed[i] = max(q.crossed[i], arrived)
	}
}

// oldestAge is the age at p of the next message to leave.
func (q *queueState) oldestAge(p point) time.Duration {
	if p.a-p.d < 0.5 {
		return 0
	}
	arrived, _ := q.arrivalTime(min(p.d+1, p.a))
	return max(0, p.t.Sub(arrived))
}

// drainSeconds is the backlog over the net departure rate of the last
// drainWindow: 0 when empty, +Inf when not shrinking.
func (q *queueState) drainSeconds(last point) float64 {
	backlog := last.a - last.d
	if backlog < 0.5 {
		return 0
	}
	first := last
	for i := len(q.points) - 1; i >= 0 && last.t.Sub(q.points[i].t) <= drainWindow; i-- {
		first = q.points[i]
	}
	elapsed := last.t.Sub(first.t).Seconds()
	shrink := (first.a - first.d) - backlog
	if elapsed <= 0 || shrink <= 0 {
		return Inf
	}
	return backlog / (shrink / elapsed)
}

// dropCollinear removes the points that interpolation between their
// neighbours reproduces: a flat stretch of an idle or stuck queue, or a
// steady rate, needs only its ends.
func (q *queueState) dropCollinear() {
	if len(q.points) < 3 {
		return
	}
	kept := q.points[:1]
	for i := 1; i+1 < len(q.points); i++ {
		prev, cur, next := kept[len(kept)-1], q.points[i], q.points[i+1]
		f := float64(cur.t.Sub(prev.t)) / float64(next.t.Sub(prev.t))
		if math.Abs(prev.a+f*(next.a-prev.a)-cur.a) < 1e-6 && math.Abs(prev.d+f*(next.d-prev.d)-cur.d) < 1e-6 {
			continue
		}
		kept = append(kept, cur)
	}
	q.points = append(kept, q.points[len(q.points)-1])
}

// prune drops points no longer needed: before the arrival of the oldest
// waiting message, and older than the longest threshold and the drain
// window need. Past maxPoints, the older half is thinned.
func (q *queueState) prune(last point) {
	keep := drainWindow
	for _, th := range q.thresholds {
		keep = max(keep, th)
	}
	drop := 0
	for drop+1 < len(q.points) && q.points[drop+1].a <= last.d && !q.points[drop+1].t.After(last.t.Add(-keep)) {
		drop++
	}
	if drop > 0 {
		q.points = append(q.points[:0], q.points[drop:]...)
	}
	if q.maxPoints > 0 && len(q.points) > q.maxPoints {
		q.dropCollinear()
	}
	if q.maxPoints > 0 && len(q.points) > q.maxPoints {
		// Lossy: a long backlog under changing traffic. Halve the
		// resolution of the older half.
		half := len(q.points) / 2
		thinned := q.points[:1]
		for i := 2; i < half; i += 2 {
			thinned = append(thinned, q.points[i])
		}
		thinned = append(thinned, q.points[half:]...)
		q.points = thinned
	}
}
