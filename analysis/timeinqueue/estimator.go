// Package timeinqueue estimates how long messages wait in a queue from
// the broker's own counters, with no help from publishers, for every
// queue type.
//
// Per queue it keeps a short history of arrivals A(t) (the cumulative
// message_stats.publish) and departures D(t) = A(t) − messages(t), on the
// broker's own sample timestamps where the management API gives them.
// Queues are FIFO, so the n-th message to leave is the n-th that arrived:
// it arrived at A⁻¹(n) and left at D⁻¹(n). Interpolating both curves
// linearly between samples gives the wait of every message that left and
// the age of the oldest one still waiting.
//
// From that it derives, per queue: the estimated age of the oldest
// message; a histogram of the waits of departed messages; for each
// threshold, good and total events, where a message still waiting past
// the threshold counts as bad the moment it crosses it (so a stopped
// consumer burns an SLO at once) and never again when it finally leaves.
// (The time to drain the backlog is the queue history's: it needs only
// the depth.)
//
// FIFO does not hold for priority queues, nor for queues whose
// redeliveries are a large share of their deliveries; for those the
// estimate is marked Withheld unless the configuration asks for it
// anyway (see fifo.go).
//
// The same method measures processing: applied to deliveries instead of
// arrivals (Config.Measure = Processing), the n-th delivery that waits
// for an ack is acked as the n-th ack, which holds for one consumer and,
// for several competing ones, only as far as they take about as long as
// each other (of consumers of differing speeds only the mean processing
// time is right; docs/time-in-queue.md has the measurements). Its curves
// are the manual-acknowledgement deliveries and the acks, its depth the
// unacknowledged messages; the oldest age is then the age of the oldest
// unacknowledged delivery, and a delivery rejected, nacked or returned
// by a closed channel left without being processed.
//
// Import rule: it imports snapshot and internal/config only.
package timeinqueue

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Config tunes the estimator of one target.
type Config struct {
	// Thresholds for the processed-within counters.
	Thresholds []time.Duration
	// Buckets are the upper bounds, in seconds, of the time-in-queue
	// histogram.
	Buckets []float64
	// MaxPoints bounds the history kept per queue (memory); when a long
	// backlog needs more, older points are thinned.
	MaxPoints int
	// Overrides set thresholds or buckets for the queues they match; the
	// first match wins.
	Overrides []Override
	// Extra thresholds are counted, in addition, for every queue an
	// Override with Thresholds matches (all matches, not the first): the
	// thresholds SLOs are measured against.
	Extra []Override
	// EstimateNonFIFO publishes the estimate also for queues that break
	// FIFO (see QueueEstimate.NonFIFO); by default it is withheld.
	EstimateNonFIFO bool
	// Measure is what the estimator times: Waiting (arrival to
	// departure, the default) or Processing (delivery to ack).
	Measure Measure
	// StatsInterval is the broker's stats interval. Where a queue comes
	// without sample history (one point per poll, as from the Prometheus
	// plugin, whose counters are live while the depth is the queue's last
	// report, up to a stats interval old), the depth is held against the
	// counters over the window a stats interval makes, as for the sample
	// history (see otherDepartures.update).
	StatsInterval time.Duration
	// Native counts the waits in native histogram buckets too
	// (QueueEstimate.Native), for a scrape in protobuf.
	Native bool
}

// Measure is the span of a message's life an Estimator times.
type Measure int

const (
	// Waiting is time in queue: from arriving in the queue to leaving it.
	Waiting Measure = iota
	// Processing is from being delivered to a consumer in
	// manual-acknowledgement mode to being acked. Priorities and
	// redeliveries do not break its order (a redelivery is a new
	// delivery), so it is never withheld.
	Processing
)

// curvesOf returns what m reads of a queue: its sample history, and the
// arrivals, depth and completions at the poll.
func (m Measure) curvesOf(q *snapshot.Queue) (samples []snapshot.Sample, now snapshot.Sample) {
	if m == Processing {
		return q.DeliverySamples, q.LatestDelivery()
	}
	return q.Samples, q.Latest()
}

// Override sets thresholds or buckets (whichever is non-empty) for the
// queues Match accepts.
type Override struct {
	Match      func(vhost, queue string) bool
	Thresholds []time.Duration
	Buckets    []float64
}

// forQueue resolves the thresholds and buckets of one queue.
func (c Config) forQueue(vhost, queue string) ([]time.Duration, []float64) {
	thresholds, buckets := c.Thresholds, c.Buckets
	for _, o := range c.Overrides {
		if o.Match(vhost, queue) {
			if len(o.Thresholds) > 0 {
				thresholds = o.Thresholds
			}
			if len(o.Buckets) > 0 {
				buckets = o.Buckets
			}
			break
		}
	}
	for _, x := range c.Extra {
		if !x.Match(vhost, queue) {
			continue
		}
		for _, th := range x.Thresholds {
			if !slices.Contains(thresholds, th) {
				thresholds = append(slices.Clip(thresholds), th)
			}
		}
	}
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	return thresholds, buckets
}

// DefaultBuckets cover 100 ms to 1 h: the buckets unless configured, with
// exposition.profile: full.
var DefaultBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// StandardBuckets are the buckets unless configured, with the minimal and
// standard profiles: the default thresholds (config's
// DefaultTimeInQueueThresholds), so that the share of a queue's messages
// processed within each is read from a bucket exactly, in five series a
// queue rather than seventeen (docs/exposition.md).
var StandardBuckets = []float64{10, 30}

// DefaultMaxPoints keeps a queue's history within a few kilobytes.
const DefaultMaxPoints = 256

// Piece is a group of departed messages whose estimated waits are spread
// evenly from WaitFrom to WaitTo: the estimator's exact output, before
// it is folded into histogram buckets.
type Piece struct {
	Count float64
	// Unprocessed of Count left without being completed (expired,
	// dead-lettered, dropped, rejected without requeue): never processed
	// within any threshold.
	Unprocessed      float64
	WaitFrom, WaitTo time.Duration
	// DepartedAt is when the last message of the piece left (broker time).
	DepartedAt time.Time
	// Approximate is set when the messages arrived before the queue's
	// history began, so their waits are lower bounds.
	Approximate bool
}

// QueueEstimate is the estimator's view of one queue after a poll.
type QueueEstimate struct {
	Vhost, Name string
	// HasHeadTimestamp is set when the broker reports a head timestamp
	// for the queue, which then is the primary age signal.
	HasHeadTimestamp bool
	// NonFIFO says why the queue does not deliver in arrival order
	// (NonFIFOPriority, NonFIFORedeliveries), "" when it does. The
	// estimate assumes FIFO, so for such a queue it is wrong, by tens of
	// percentage points for a priority queue.
	NonFIFO string
	// Withheld is set when NonFIFO is and the configuration does not ask
	// for the estimate anyway: then nothing of it may be published, not
	// its series, its oldest age or its events. The estimator keeps
	// counting, so the counters carry on if the queue becomes FIFO again.
	Withheld bool
	// Thresholds and Buckets are what this queue is measured against.
	Thresholds []time.Duration
	Buckets    []float64
	// SampleTime is the broker time of the newest sample behind the
	// estimate.
	SampleTime time.Time
	// OldestAge is the estimated age of the oldest waiting message at
	// SampleTime; 0 when the queue is empty.
	OldestAge time.Duration
	// Histogram of the waits of departed messages, cumulative since the
	// estimator started tracking the queue: counts per bucket (not
	// cumulative across buckets; the last is +Inf), sum of waits, count.
	BucketCounts []float64
	Sum, Count   float64
	// Native is the same histogram in native buckets, with Config.Native.
	Native *NativeHistogram
	// Within and Total are, per threshold (same order as Thresholds),
	// the good and all events counted so far.
	Within, Total []float64
	// NewWithin and NewTotal are, per threshold (same order as
	// Thresholds), the good and all events the Observe call that produced
	// this estimate counted: its part of Within and Total, so an SLI adds
	// exactly this poll's events without keeping the cumulative counts
	// of the previous one. They are never negative, a counter reset
	// included. A queue seen for the first time, or again after it was
	// absent from a snapshot (which forgets it), reports as new
	// everything its first Observe counted: the whole of its Within and
	// Total.
	NewWithin, NewTotal []float64
}

// Estimator estimates time in queue for every queue of one target. Observe
// is called from the target's poll loop, one snapshot at a time;
// Estimates may be called concurrently.
type Estimator struct {
	cfg    Config
	queues map[snapshot.QueueKey]*queueState
	// idle are the queues that have been untouched in every poll so
	// far, which keep no queueState (idle.go); a queue is in one map or
	// the other.
	idle   map[snapshot.QueueKey]*idleQueue
	shapes map[string]*shape
	// fullStateOnly gives every queue a queueState, untouched or not:
	// the reference the idle queues are tested against.
	fullStateOnly bool
	recorder      func(snapshot.QueueKey, Piece)
	latest        atomic.Pointer[[]QueueEstimate]
	skew          skewEstimator
}

// New returns an estimator with no history.
func New(cfg Config) *Estimator {
	if cfg.MaxPoints == 0 {
		cfg.MaxPoints = DefaultMaxPoints
	}
	e := &Estimator{cfg: cfg, queues: map[snapshot.QueueKey]*queueState{}, idle: map[snapshot.QueueKey]*idleQueue{}}
	e.latest.Store(&[]QueueEstimate{})
	return e
}

// SetRecorder makes the estimator report every group of departed
// messages, for accuracy measurements. Call it before the first Observe.
func (e *Estimator) SetRecorder(f func(key snapshot.QueueKey, p Piece)) { e.recorder = f }

// Observe feeds one poll's snapshot. Queues absent from it are forgotten.
func (e *Estimator) Observe(snap *snapshot.Snapshot) {
	present := make(map[snapshot.QueueKey]bool, len(snap.Queues))
	estimates := make([]QueueEstimate, 0, len(snap.Queues))
	// First every queue's new samples teach the skew, so that every queue
	// is aligned with the same evidence, the whole poll's.
	polled := make([]observed, 0, len(snap.Queues))
	for i := range snap.Queues {
		cq := &snap.Queues[i]
		if !cq.StatsKnown {
			continue
		}
		present[cq.Key()] = true
		polled = append(polled, e.take(cq, snap.Time))
	}
	e.skew.settle()
	for _, o := range polled {
		if o.idle != nil {
			estimates = append(estimates, o.idle.estimate(e, o, snap.Time))
			continue
		}
		estimates = append(estimates, e.estimateOf(o, snap.Time))
	}
	for key := range e.queues {
		if !present[key] {
			delete(e.queues, key)
		}
	}
	for key := range e.idle {
		if !present[key] {
			delete(e.idle, key)
		}
	}
	e.latest.Store(&estimates)
}

// observed is one queue of a poll and the points it brings.
type observed struct {
	cq *snapshot.Queue
	// q is the queue's state, or idle where it is untouched so far.
	q       *queueState
	idle    *idleQueue
	samples []snapshot.Sample
	history bool // samples are the broker's history, not the poll's one point
}

// take finds or makes cq's state and the points the poll at pollTime
// brings of it, and learns the skew from its samples.
func (e *Estimator) take(cq *snapshot.Queue, pollTime time.Time) observed {
	key := cq.Key()
	q := e.queues[key]
	if q == nil {
		iq := e.idle[key]
		if iq == nil {
			iq = &idleQueue{shape: e.shapeOf(cq.Vhost, cq.Name)}
		}
		if untouched(cq) && !e.fullStateOnly {
			e.idle[key] = iq
			return iq.take(e, cq, pollTime)
		}
		// Its first message: from here on the full state, as it would
		// be had the queue had one all along.
		delete(e.idle, key)
		q = iq.state(e.cfg.MaxPoints, e.cfg.Native)
		e.queues[key] = q
	}
	samples, history := e.pointsOf(cq, pollTime)
	if !history {
		return observed{cq: cq, q: q, samples: samples}
	}
	q.latest.spacing = sampleSpacing(samples, q.latest.spacing)
	e.skew.learn(q, samples)
	return observed{cq: cq, q: q, samples: samples, history: true}
}

// pointsOf returns the points the poll at pollTime brings of cq: the
// broker's samples (history), or without them one point at the poll's
// time, or none when nothing happened since the newest sample.
func (e *Estimator) pointsOf(cq *snapshot.Queue, pollTime time.Time) (samples []snapshot.Sample, history bool) {
	samples, now := e.cfg.Measure.curvesOf(cq)
	switch {
	case len(samples) == 0 && cq.Unchanged:
		// No point to add: one at the poll's time would put poll times
		// among the broker's, on another clock and without the
		// samples' lag.
		return nil, false
	case len(samples) == 0:
		now.Time = pollTime
		return []snapshot.Sample{now}, false
	}
	return samples, true
}

// estimateOf adds o's points to its queue's curves and returns the
// queue's estimate after the poll at pollTime.
func (e *Estimator) estimateOf(o observed, pollTime time.Time) QueueEstimate {
	cq, q := o.cq, o.q
	key := cq.Key()
	alignAt := func(time.Time) alignment { return alignment{} }
	if o.history {
		spacing := q.latest.spacing
		alignAt = func(t time.Time) alignment { return e.skew.alignmentAt(t, spacing) }
	}
	emit := func(Piece) {}
	if e.recorder != nil {
		emit = func(p Piece) { e.recorder(key, p) }
	}
	q.observe(o.samples, alignAt, otherWindow(cq.Type, e.depthSpacing(q, o.history)), emit)
	est := q.estimate(cq.Vhost, cq.Name)
	if e.cfg.Measure == Waiting {
		est.HasHeadTimestamp = !cq.HeadTimestamp.IsZero()
		q.deliveries.add(pollTime, cq.Counters)
		est.NonFIFO = q.deliveries.nonFIFO(cq)
		est.Withheld = est.NonFIFO != "" && !e.cfg.EstimateNonFIFO
	}
	return est
}

// depthSpacing is the interval the depth of q's points may lag the
// counters by: its sample history's spacing, and for a poll point
// (history false) at least the broker's stats interval.
func (e *Estimator) depthSpacing(q *queueState, history bool) time.Duration {
	if history {
		return q.latest.spacing
	}
	return max(q.latest.spacing, e.cfg.StatsInterval)
}

// Estimates returns the estimates after the latest Observe, in the
// snapshot's queue order. The slice and its contents are not modified
// afterwards, and must not be by the caller: the estimates of untouched
// queues share their zero slices and native histogram with each other
// and with later polls' (idle.go).
func (e *Estimator) Estimates() []QueueEstimate { return *e.latest.Load() }

func (q *queueState) estimate(vhost, name string) QueueEstimate {
	return QueueEstimate{
		Vhost: vhost, Name: name,
		Thresholds:   q.thresholds,
		Buckets:      q.bounds,
		SampleTime:   q.latest.sampleTime,
		OldestAge:    q.latest.oldest,
		BucketCounts: append([]float64(nil), q.out.buckets...),
		Native:       q.out.nativeSnapshot(),
		Sum:          q.out.sum,
		Count:        q.out.count,
		Within:       append([]float64(nil), q.out.within...),
		Total:        append([]float64(nil), q.out.total...),
		NewWithin:    append([]float64(nil), q.out.newWithin...),
		NewTotal:     append([]float64(nil), q.out.newTotal...),
	}
}
