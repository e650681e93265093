package timeinqueue

import (
	"fmt"
	"math"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// idleScenario is a target of queues polled every 5 s, most of them
// untouched for a while or for good, fed to an estimator; it is what the
// idle queues' tests compare against the full state.
type idleScenario struct {
	// pollPoints leaves out the sample history, as the Prometheus
	// plugin does: each poll is one point.
	pollPoints bool
	polls      int
	queues     []scenarioQueue
}

// scenarioQueue is one queue of an idleScenario. Messages arrive at rate
// a second from second start (never when start < 0), plus burst of them
// at second burstAt; each is delivered wait seconds after it arrived and
// acked process seconds after that.
type scenarioQueue struct {
	name                 string
	start, rate          float64
	burst, burstAt       float64
	wait, process        float64
	spacing              int  // seconds between the broker's samples
	priority             bool // x-max-priority set
	redelivered          float64
	zeroHistory          int // while untouched: 0 no samples (the broker has none), 1 zero samples at its first poll, 2 at every poll
	absentFrom, absentTo int // polls it is missing from the snapshot
	unknownAt            int // a poll where its statistics are not known (0: none)
}

// Skew and steps the broker's collectors put into the samples: the
// completion counters are read 0.3 s before the publish counter, and the
// publish counter's read moment crosses the sample times twice every
// scenarioCycle seconds, so that its samples lag it by a second from
// second 50 of the cycle to second 147 (a flat step, then a double one).
const (
	scenarioSkew  = 0.3
	scenarioCycle = 194
)

func (q scenarioQueue) published(x float64) float64 {
	if q.start < 0 || x < q.start {
		return 0
	}
	n := math.Floor(q.rate * (x - q.start))
	if q.burst > 0 && x >= q.burstAt {
		n += q.burst
	}
	return n
}

// counts are the queue's cumulative published, delivered and acked
// messages at second x as the broker's samples (or counters) hold them,
// and how many of the delivered are not acked, and how many it holds, as
// its depth says.
func (q scenarioQueue) counts(x float64, sample bool) (published, delivered, acked uint64, unacked, depth int64) {
	px := x
	if c := int(x) % scenarioCycle; sample && c >= 50 && c < 147 {
		px = x - 1
	}
	p := q.published(px)
	d := min(p, q.published(px-q.wait))
	a := min(d, q.published(x-scenarioSkew-q.wait-q.process))
	trueP, trueA := q.published(x), q.published(x-q.wait-q.process)
	trueD := q.published(x - q.wait)
	return uint64(p), uint64(d), uint64(a), int64(trueD - trueA), int64(trueP - trueA)
}

// snapshot is the target at poll i (1, 2, ...), at second 5i; given holds,
// per queue, whether a sample history was given before, and the newest.
func (sc *idleScenario) snapshot(i int, given []bool, newest []snapshot.Sample) *snapshot.Snapshot {
	s := 5 * i
	snap := &snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second)}
	for k, sq := range sc.queues {
		if i >= sq.absentFrom && i < sq.absentTo {
			given[k] = false
			continue
		}
		q := snapshot.Queue{Vhost: "/", Name: sq.name, Type: "classic", StatsKnown: i != sq.unknownAt}
		if sq.spacing == 5 {
			q.Type = "quorum"
		}
		if sq.priority {
			q.MaxPriority = 5
		}
		if !q.StatsKnown {
			given[k] = false
			snap.Queues = append(snap.Queues, q)
			continue
		}
		p, d, a, unacked, depth := sq.counts(float64(s), false)
		q.Counters = snapshot.Counters{Published: p, Delivered: d, DeliveredManual: d, Acked: a, Completed: a,
			Redelivered: uint64(sq.redelivered * float64(d))}
		q.Ready, q.Unacked = depth-unacked, unacked
		untouchedNow := p == 0 && depth == 0
		switch {
		case sc.pollPoints:
		case untouchedNow && sq.zeroHistory == 0:
			// The broker has no history of a queue that never had a
			// message; the management source marks it Unchanged once it
			// has read it.
			q.Unchanged = given[k]
			given[k] = true
		case untouchedNow && sq.zeroHistory == 2:
			// Its history is read at every poll (an SLO names it).
			q.Samples = zeroSamples(s, sq.spacing)
			q.DeliverySamples = zeroSamples(s, sq.spacing)
			newest[k], given[k] = q.Samples[len(q.Samples)-1], true
		case given[k] && q.Messages() == 0 && q.Latest().SameValues(newest[k]):
			q.Unchanged = true
		default:
			for _, at := range sampleSeconds(s, sq.spacing) {
				p, d, a, unacked, depth := sq.counts(float64(at), true)
				t := t0.Add(time.Duration(at) * time.Second)
				q.Samples = append(q.Samples, snapshot.Sample{Time: t, Published: p, Messages: depth, Completed: a})
				q.DeliverySamples = append(q.DeliverySamples, snapshot.Sample{Time: t, Published: d, Messages: unacked, Completed: a})
			}
			newest[k], given[k] = q.Samples[len(q.Samples)-1], true
		}
		snap.Queues = append(snap.Queues, q)
	}
	return snap
}

// sampleSeconds are the seconds of the samples a poll at second s
// brings: since the previous poll and two sample intervals more.
func sampleSeconds(s, spacing int) []int {
	var at []int
	for x := max(0, (s-5-2*spacing)/spacing*spacing); x <= s; x += spacing {
		at = append(at, x)
	}
	return at
}

func zeroSamples(s, spacing int) []snapshot.Sample {
	var samples []snapshot.Sample
	for _, at := range sampleSeconds(s, spacing) {
		samples = append(samples, snapshot.Sample{Time: t0.Add(time.Duration(at) * time.Second)})
	}
	return samples
}

// run feeds the scenario to e, calling each after every poll with the
// pieces the poll emitted.
func (sc *idleScenario) run(e *Estimator, each func(poll int, pieces []string)) {
	var pieces []string
	e.SetRecorder(func(key snapshot.QueueKey, p Piece) { pieces = append(pieces, fmt.Sprintf("%s %+v", key.Name, p)) })
	given := make([]bool, len(sc.queues))
	newest := make([]snapshot.Sample, len(sc.queues))
	for i := 1; i <= sc.polls; i++ {
		pieces = pieces[:0]
		e.Observe(sc.snapshot(i, given, newest))
		each(i, pieces)
	}
}

// mixedScenario has queues of every kind: never used, with every way of
// bringing no or zero history; starting to carry messages at different
// polls, steadily, in a burst, with redeliveries; a priority queue; one
// that vanishes for a while, one whose statistics are unknown for a
// poll; classic queues sampled every second and quorum ones every 5 s.
// Eight steady queues from the start teach the skew and the read moments.
func mixedScenario(pollPoints bool) *idleScenario {
	sc := &idleScenario{pollPoints: pollPoints, polls: 120}
	for k := range 8 {
		sc.queues = append(sc.queues, scenarioQueue{name: fmt.Sprintf("steady-%d", k), start: 0, rate: float64(10 + k), wait: 0.5, process: 1, spacing: 1})
	}
	for k := range 24 {
		q := scenarioQueue{name: fmt.Sprintf("q-%02d", k), start: -1, spacing: 1, zeroHistory: k % 3}
		if k%4 == 3 {
			q.spacing = 5
		}
		switch k % 8 {
		case 1, 2, 5:
			// Starts at a poll of its own, or between two.
			q.start, q.rate, q.wait, q.process = float64(7+k*13), float64(1+k%5), float64(k%3), 0.7
		case 3:
			q.start, q.rate, q.burst, q.burstAt, q.wait, q.process = float64(40+k*11), 2, 200, float64(60+k*11), 1, 2
		case 6:
			q.start, q.rate, q.wait, q.process, q.redelivered = float64(100+k), 8, 0.2, 0.5, 0.4
		case 7:
			q.priority = true
		}
		if k == 9 {
			q.absentFrom, q.absentTo = 20, 30
		}
		if k == 10 {
			q.unknownAt = 15
		}
		if k == 13 {
			q.absentFrom, q.absentTo = 3, 60
		}
		sc.queues = append(sc.queues, q)
	}
	return sc
}
