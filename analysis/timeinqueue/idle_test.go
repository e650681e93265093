package timeinqueue

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// idleConfigs are the configurations the idle queues are checked in:
// time in queue with native buckets, overrides, SLO thresholds, a long
// threshold and so few points that the curves of an untouched queue are
// pruned and thinned; time in queue as a default target has it; and
// processing without thresholds.
func idleConfigs() map[string]Config {
	special := func(_, q string) bool { return strings.HasSuffix(q, "1") }
	return map[string]Config{
		"waiting, overrides, 8 points": {Thresholds: []time.Duration{2 * time.Second, 10 * time.Second}, Native: true, MaxPoints: 8,
			StatsInterval: 5 * time.Second,
			Overrides:     []Override{{Match: special, Thresholds: []time.Duration{5 * time.Minute}, Buckets: []float64{1, 60}}},
			Extra:         []Override{{Match: func(_, q string) bool { return strings.HasPrefix(q, "q-") }, Thresholds: []time.Duration{20 * time.Second}}}},
		"waiting, standard": {Thresholds: []time.Duration{10 * time.Second, 30 * time.Second}, Buckets: StandardBuckets, Native: true,
			StatsInterval: 5 * time.Second},
		"processing": {Measure: Processing, Buckets: DefaultProcessingBuckets, StatsInterval: 5 * time.Second},
	}
}

func TestQueuesUntouchedSoFarEstimateExactlyAsWithAFullState(t *testing.T) {
	for name, cfg := range idleConfigs() {
		for _, pollPoints := range []bool{false, true} {
			t.Run(name+map[bool]string{false: ", sample history", true: ", poll points"}[pollPoints], func(t *testing.T) {
				sc := mixedScenario(pollPoints)
				ref := New(cfg)
				ref.fullStateOnly = true
				var want [][]QueueEstimate
				var wantPieces [][]string
				learnt := false
				sc.run(ref, func(_ int, pieces []string) {
					learnt = learnt || ref.skew.moments[publishSeries].known
					want = append(want, ref.Estimates())
					wantPieces = append(wantPieces, slices.Clone(pieces))
				})
				got := New(cfg)
				wasIdle := map[snapshot.QueueKey]bool{}
				started, withPoints := 0, 0
				sc.run(got, func(poll int, pieces []string) {
					for key := range got.queues {
						if wasIdle[key] {
							started++
							delete(wasIdle, key)
						}
					}
					for key, iq := range got.idle {
						wasIdle[key] = true
						if iq.hist != nil && poll == sc.polls {
							withPoints++
						}
					}
					if !reflect.DeepEqual(got.Estimates(), want[poll-1]) {
						for i, est := range got.Estimates() {
							if i >= len(want[poll-1]) || !reflect.DeepEqual(est, want[poll-1][i]) {
								t.Fatalf("poll %d, queue %s: estimate\n%+v\nwith a full state all along\n%+v", poll, est.Name, est, want[poll-1][min(i, len(want[poll-1])-1)])
							}
						}
						t.Fatalf("poll %d: %d estimates, with a full state all along %d", poll, len(got.Estimates()), len(want[poll-1]))
					}
					if !slices.Equal(pieces, wantPieces[poll-1]) {
						t.Fatalf("poll %d: pieces\n%v\nwith a full state all along\n%v", poll, pieces, wantPieces[poll-1])
					}
				})
				if !reflect.DeepEqual(got.skew, ref.skew) {
					t.Errorf("the skew learnt differs from the full state's:\n%+v\n%+v", got.skew, ref.skew)
				}
				// The scenario must exercise what it is about.
				if started < 4 || len(got.idle) < 8 || withPoints == 0 {
					t.Errorf("%d queues started after being idle, %d are idle at the end (%d with points): the scenario does not exercise the idle queues", started, len(got.idle), withPoints)
				}
				if !pollPoints && (ref.skew.current == 0 || !learnt) {
					t.Errorf("skew %v, publish read moment learnt %v: the idle queues' samples are not aligned against both", ref.skew.current, learnt)
				}
			})
		}
	}
}

func TestAnUntouchedQueueEstimatesZerosInSlicesSharedAcrossQueuesAndPolls(t *testing.T) {
	cfg := Config{Thresholds: []time.Duration{10 * time.Second, 30 * time.Second}, Buckets: StandardBuckets, Native: true}
	e, ref := New(cfg), New(cfg)
	ref.fullStateOnly = true
	queues := []snapshot.Queue{
		{Vhost: "/", Name: "a", StatsKnown: true},
		{Vhost: "/", Name: "b", StatsKnown: true, MaxPriority: 3},
	}
	var first []QueueEstimate
	for i := range 3 {
		snap := &snapshot.Snapshot{Time: t0.Add(time.Duration(i) * 15 * time.Second), Queues: queues}
		e.Observe(snap)
		ref.Observe(snap)
		got := e.Estimates()
		if !reflect.DeepEqual(got, ref.Estimates()) {
			t.Fatalf("poll %d: estimates\n%+v\nwith a full state\n%+v", i, got, ref.Estimates())
		}
		a := got[0]
		if a.Count != 0 || a.Sum != 0 || a.OldestAge != 0 || slices.ContainsFunc(slices.Concat(a.BucketCounts, a.Within, a.Total, a.NewWithin, a.NewTotal), func(v float64) bool { return v != 0 }) ||
			len(a.BucketCounts) != len(StandardBuckets)+1 || len(a.Within) != 2 || a.Native == nil || a.Native.ZeroCount != 0 || len(a.Native.Counts) != 0 {
			t.Fatalf("untouched queue's estimate: %+v, want all zeros", a)
		}
		if b := got[1]; b.NonFIFO != NonFIFOPriority || !b.Withheld {
			t.Errorf("untouched priority queue: NonFIFO %q, Withheld %v; want it withheld as a priority queue", b.NonFIFO, b.Withheld)
		}
		if first == nil {
			first = got
		}
		for _, est := range got {
			if &est.BucketCounts[0] != &first[0].BucketCounts[0] || &est.Within[0] != &first[0].Within[0] || &est.NewTotal[0] != &first[0].Within[0] || est.Native != first[0].Native {
				t.Fatalf("poll %d, queue %s: the zero slices are copies, want the ones every untouched queue shares", i, est.Name)
			}
		}
	}
}

func TestUntouchedQueuesAllocateNothingPerPoll(t *testing.T) {
	const n = 5000
	queues := make([]snapshot.Queue, n)
	for i := range queues {
		queues[i] = snapshot.Queue{Vhost: "/", Name: fmt.Sprintf("queue-%05d", i), StatsKnown: true}
	}
	for name, cfg := range idleConfigs() {
		e := New(cfg)
		poll := 0
		observe := func() {
			poll++
			for i := range queues {
				queues[i].Unchanged = poll > 1
			}
			e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(poll) * 15 * time.Second), Queues: queues})
		}
		observe()
		// The poll's own bookkeeping (the estimates, the queues present)
		// is a few allocations whatever the number of queues; each
		// untouched queue adds none.
		if allocs := testing.AllocsPerRun(5, observe); allocs > 50 {
			t.Errorf("%s: %v allocations per poll of %d untouched queues, want a few for the poll and none for the queues", name, allocs, n)
		}
	}
}
