package timeinqueue

import (
	"math"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// observePoll feeds the estimator one poll at second s: the queues named,
// each with the five samples up to s of arrived and departed (as in
// feed; before second 0 the queue stood as at second 0), and returns the
// estimates by queue name.
func observePoll(e *Estimator, s int, arrived, departed func(s int) int, names ...string) map[string]QueueEstimate {
	snap := &snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second)}
	for _, name := range names {
		var samples []snapshot.Sample
		for i := s - 4; i <= s; i++ {
			at := max(i, 0)
			samples = append(samples, snapshot.Sample{Time: t0.Add(time.Duration(i) * time.Second), Published: uint64(arrived(at)),
				Messages: int64(arrived(at) - departed(at)), Completed: uint64(departed(at))})
		}
		snap.Queues = append(snap.Queues, snapshot.Queue{
			Vhost: "/", Name: name, StatsKnown: true, Samples: samples,
			Counters: snapshot.Counters{Published: uint64(arrived(s)), Completed: uint64(departed(s))}, Ready: int64(arrived(s) - departed(s)),
		})
	}
	e.Observe(snap)
	out := map[string]QueueEstimate{}
	for _, est := range e.Estimates() {
		out[est.Name] = est
	}
	return out
}

// stopAndResume is a queue with a message a second whose consumer keeps
// up, stops from second 30 to 90 (the waiting messages cross every
// threshold of the tests) and then catches up at four a second.
func stopAndResume() (arrived, departed func(s int) int) {
	arrived = func(s int) int { return s }
	departed = func(s int) int {
		switch {
		case s < 30:
			return s
		case s < 90:
			return 30
		default:
			return min(s, 30+4*(s-90))
		}
	}
	return arrived, departed
}

var deltaThresholds = []time.Duration{3 * time.Second, 10 * time.Second, 30 * time.Second}

// sameCount reports whether two sums of the same events, added up in a
// different order, agree to rounding.
func sameCount(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

func TestNewEventsSummedOverPollsEqualTheCumulativeCounts(t *testing.T) {
	e := New(Config{Thresholds: deltaThresholds})
	arrived, departed := stopAndResume()
	sumWithin, sumTotal := make([]float64, len(deltaThresholds)), make([]float64, len(deltaThresholds))
	var est QueueEstimate
	for s := 0; s <= 150; s += 5 {
		est = observePoll(e, s, arrived, departed, "q")["q"]
		if len(est.NewWithin) != len(est.Thresholds) || len(est.NewTotal) != len(est.Thresholds) {
			t.Fatalf("second %d: %d new good and %d new total counts for %d thresholds", s, len(est.NewWithin), len(est.NewTotal), len(est.Thresholds))
		}
		for i := range est.Thresholds {
			sumWithin[i] += est.NewWithin[i]
			sumTotal[i] += est.NewTotal[i]
		}
	}
	for i, th := range est.Thresholds {
		if est.Total[i] == 0 || est.Within[i] == est.Total[i] {
			t.Fatalf("threshold %v: within %v of %v; the scenario should count good and bad events", th, est.Within[i], est.Total[i])
		}
		if !sameCount(sumWithin[i], est.Within[i]) || !sameCount(sumTotal[i], est.Total[i]) {
			t.Errorf("threshold %v: new events add up to %v within of %v, the cumulative counts are %v of %v",
				th, sumWithin[i], sumTotal[i], est.Within[i], est.Total[i])
		}
	}
}

func TestQueueSeenFirstOrAgainAfterVanishingReportsItsFirstPollsEventsAsNew(t *testing.T) {
	e := New(Config{Thresholds: deltaThresholds})
	// A consumer five seconds behind: every poll counts departures.
	arrived := func(s int) int { return 10 * s }
	departed := func(s int) int { return 10 * max(0, s-5) }
	check := func(when string, est QueueEstimate) {
		t.Helper()
		for i, th := range est.Thresholds {
			if est.Total[i] == 0 {
				t.Fatalf("%s, threshold %v: nothing counted; the scenario should count events in the first poll", when, th)
			}
			if est.NewWithin[i] != est.Within[i] || est.NewTotal[i] != est.Total[i] {
				t.Errorf("%s, threshold %v: new events %v within of %v, want all the cumulative %v of %v",
					when, th, est.NewWithin[i], est.NewTotal[i], est.Within[i], est.Total[i])
			}
		}
	}
	check("first poll", observePoll(e, 10, arrived, departed, "q")["q"])
	var before QueueEstimate
	for s := 15; s <= 60; s += 5 {
		before = observePoll(e, s, arrived, departed, "q")["q"]
	}
	// One poll without the queue forgets it; it comes back with its
	// counters carried on.
	observePoll(e, 65, arrived, departed, "other")
	again := observePoll(e, 70, arrived, departed, "q", "other")["q"]
	if again.Total[0] >= before.Total[0] {
		t.Fatalf("after vanishing, total %v, want counting from zero again (it was %v)", again.Total[0], before.Total[0])
	}
	check("first poll after vanishing", again)
}

func TestCounterResetReportsNoNegativeNewEvents(t *testing.T) {
	e := New(Config{Thresholds: deltaThresholds})
	arrived, departed := stopAndResume()
	var total []float64
	sumTotal := make([]float64, len(deltaThresholds))
	// The queue is re-created at second 60, while messages wait past every
	// threshold: its counters start again from zero, 25 messages behind.
	for s := 0; s <= 150; s += 5 {
		a, d := arrived, departed
		if s >= 60 {
			a = func(s int) int { return max(0, arrived(s)-35) }
			d = func(s int) int { return max(0, departed(s)-35) }
		}
		est := observePoll(e, s, a, d, "q")["q"]
		for i, th := range est.Thresholds {
			if est.NewWithin[i] < 0 || est.NewTotal[i] < 0 {
				t.Errorf("second %d, threshold %v: new events %v within of %v, want none negative", s, th, est.NewWithin[i], est.NewTotal[i])
			}
			sumTotal[i] += est.NewTotal[i]
		}
		total = est.Total
	}
	for i, th := range deltaThresholds {
		if !sameCount(sumTotal[i], total[i]) {
			t.Errorf("threshold %v: new events add up to a total of %v across the reset, the cumulative total is %v", th, sumTotal[i], total[i])
		}
	}
}
