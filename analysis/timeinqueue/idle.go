package timeinqueue

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Queues that have never seen a message.
//
// Most queues of a large installation never carry a message: at 50,000
// queues, all but a few dozen in the scale benchmark. Their estimate is
// all zeros, and a full queueState (curves, placement, outputs, native
// buckets, deliveries, recent samples), with a fresh copy of every slice
// in each poll's estimate, cost two estimators about 3.8 KB a queue. So
// such a queue keeps only an idleQueue, what its first message needs
// to start exactly where the full state would have been, and publishes
// an estimate made of its shape's shared zero slices.
//
// What the full state of an untouched queue holds, and why so little of
// it matters (every sample of it is zero in every count):
//   - Its curves' points are (t, 0, 0). Arrival times are only asked of
//     messages that arrived, past every such point, so of them only the
//     newest matters there; but all are kept, as pruning (maxPoints)
//     counts them.
//   - Its previous sample, for reading the next and skipping the seen:
//     zero counts, so only its time is kept.
//   - Its other departures: none, and the least backlog it has seen in
//     a window is 0 while its newest sample is within it; so only that
//     one, at the previous sample's time, is needed.
//   - Its placement: the newest point has no backlog, so neither a burst
//     nor a drain is placed against the point before, and the rate
//     remembered at the first message is 0 either way: none is needed.
//   - Its crossings and outputs: all zero.
//   - Its recent samples (phase.go): a window with two zero samples at
//     its start says nothing of steps or steady traffic (the counters'
//     first increment is 0, the last is not, or both are 0), so only the
//     newest is kept, by its time.
//   - Its deliveries (fifo.go): points of zero counters, one per poll;
//     the share of redeliveries reads only the oldest point kept (zero
//     whichever it is) and the newest, so one point at the newest poll's
//     time stands for them all.
//   - Its skew evidence: none (measureSkew and observeSteps need
//     messages), but aligning its samples forgets stale read moments, so
//     that is still done, in the snapshot's order.

// untouched reports whether nothing either estimator reads of q has ever
// moved: no message published, delivered, acked or otherwise completed,
// none in the queue, and every sample it brings all zero. Counters never
// go back, so a queue that is not untouched once keeps its full state
// for good.
func untouched(q *snapshot.Queue) bool {
	if q.Counters != (snapshot.Counters{}) || q.Ready != 0 || q.Unacked != 0 {
		return false
	}
	for _, samples := range [2][]snapshot.Sample{q.Samples, q.DeliverySamples} {
		for _, s := range samples {
			if !s.SameValues(snapshot.Sample{}) {
				return false
			}
		}
	}
	return true
}

// shape is what a queue is measured against, with the zero estimate
// parts every untouched queue of that shape shares: the estimates'
// contents are never modified (Estimates).
type shape struct {
	thresholds []time.Duration
	bounds     []float64
	// keep is how far back the curves reach (queueState.keep).
	keep time.Duration
	// zeroBuckets has a count per bucket and +Inf, zeroEvents one per
	// threshold (nil without thresholds, as a copy of none is), and
	// zeroNative is the native histogram of no waits, nil where none is
	// kept.
	zeroBuckets []float64
	zeroEvents  []float64
	zeroNative  *NativeHistogram
}

// shapeOf returns the shape of the queue vhost/name, one per distinct
// thresholds and buckets.
func (e *Estimator) shapeOf(vhost, name string) *shape {
	thresholds, bounds := e.cfg.forQueue(vhost, name)
	key := make([]byte, 0, 8*(1+len(thresholds)+len(bounds)))
	key = binary.LittleEndian.AppendUint64(key, uint64(len(thresholds)))
	for _, th := range thresholds {
		key = binary.LittleEndian.AppendUint64(key, uint64(th))
	}
	for _, b := range bounds {
		key = binary.LittleEndian.AppendUint64(key, math.Float64bits(b))
	}
	if sh := e.shapes[string(key)]; sh != nil {
		return sh
	}
	sh := &shape{thresholds: thresholds, bounds: bounds, zeroBuckets: make([]float64, len(bounds)+1)}
	sh.keep = (&queueState{thresholds: thresholds}).keep()
	if len(thresholds) > 0 {
		sh.zeroEvents = make([]float64, len(thresholds))
	}
	if e.cfg.Native {
		sh.zeroNative = (&outputs{native: &nativeBuckets{}}).nativeSnapshot()
	}
	if e.shapes == nil {
		e.shapes = map[string]*shape{}
	}
	e.shapes[string(key)] = sh
	return sh
}

// idleQueue is an untouched queue's state: what its full state would
// hold that is not zero (see the top of this file).
type idleQueue struct {
	shape *shape
	// polled is the newest poll its deliveries would have a point of
	// (Waiting only), where hasPolled.
	polled    time.Time
	hasPolled bool
	// hist is set once the queue brought a sample or a poll point.
	hist *idleHistory
}

// idleHistory is what an untouched queue's samples left.
type idleHistory struct {
	// points are the curves' points, all of zero counts.
	points []point
	// prev is the time of the newest sample read; its counts are zero.
	prev time.Time
	// recent is the time of the newest sample of the broker's history,
	// where hasRecent.
	recent    time.Time
	hasRecent bool
	// spacing is the interval of the sample history (latest.spacing).
	spacing time.Duration
}

// take is Estimator.take for an untouched queue: the points its poll
// brings, and what learning the skew from them would have kept.
func (iq *idleQueue) take(e *Estimator, cq *snapshot.Queue, pollTime time.Time) observed {
	samples, history := e.pointsOf(cq, pollTime)
	if !history {
		return observed{cq: cq, idle: iq, samples: samples}
	}
	if iq.hist == nil {
		iq.hist = &idleHistory{}
	}
	h := iq.hist
	h.spacing = sampleSpacing(samples, h.spacing)
	prev, hasPrev := h.prev, len(h.points) > 0
	for _, s := range samples {
		if hasPrev && !s.Time.After(prev) {
			continue
		}
		h.recent, h.hasRecent = s.Time, true
		prev, hasPrev = s.Time, true
	}
	return observed{cq: cq, idle: iq, samples: samples, history: true}
}

// estimate is Estimator.estimateOf for an untouched queue: it adds the
// points of o, aligned as a full state's would be, and returns the
// estimate of no messages.
func (iq *idleQueue) estimate(e *Estimator, o observed, pollTime time.Time) QueueEstimate {
	cq, sh := o.cq, iq.shape
	if len(o.samples) > 0 && iq.hist == nil {
		iq.hist = &idleHistory{}
	}
	est := QueueEstimate{
		Vhost: cq.Vhost, Name: cq.Name,
		Thresholds:   sh.thresholds,
		Buckets:      sh.bounds,
		BucketCounts: sh.zeroBuckets,
		Native:       sh.zeroNative,
		Within:       sh.zeroEvents,
		Total:        sh.zeroEvents,
		NewWithin:    sh.zeroEvents,
		NewTotal:     sh.zeroEvents,
	}
	if h := iq.hist; h != nil {
		spacing := h.spacing
		for _, s := range o.samples {
			if len(h.points) > 0 && !s.Time.After(h.prev) {
				continue
			}
			var al alignment
			if o.history {
				al = e.skew.alignmentAt(s.Time, spacing)
			}
			h.prev = s.Time
			h.points = append(h.points, point{t: s.Time.Add(-al.lag)})
		}
		if len(h.points) > 0 {
			c := curves{points: h.points}
			last := c.last()
			c.prune(last, sh.keep, e.cfg.MaxPoints)
			h.points = c.points
			est.SampleTime = last.t
		}
	}
	if e.cfg.Measure == Waiting {
		est.HasHeadTimestamp = !cq.HeadTimestamp.IsZero()
		if !iq.hasPolled || pollTime.After(iq.polled) {
			iq.polled, iq.hasPolled = pollTime, true
		}
		// Of zero counters no share of redeliveries can be told.
		var none deliveries
		est.NonFIFO = none.nonFIFO(cq)
		est.Withheld = est.NonFIFO != "" && !e.cfg.EstimateNonFIFO
	}
	return est
}

// state is the full state the queue would have now, had it had one all
// along, for its first poll that is not untouched.
func (iq *idleQueue) state(maxPoints int, native bool) *queueState {
	sh := iq.shape
	q := newQueueState(sh.thresholds, sh.bounds, maxPoints, native)
	if h := iq.hist; h != nil {
		q.latest.spacing = h.spacing
		if len(h.points) > 0 {
			q.curves.points = h.points
			q.curves.prev, q.curves.hasPrev = snapshot.Sample{Time: h.prev}, true
			q.latest.sampleTime = q.curves.last().t
			q.other.backlogs = []backlogAt{{t: h.prev}}
			if h.hasRecent {
				q.recent = []snapshot.Sample{{Time: h.recent}}
			}
		}
	}
	if iq.hasPolled {
		q.deliveries.points = []deliveryPoint{{t: iq.polled}}
	}
	return q
}
