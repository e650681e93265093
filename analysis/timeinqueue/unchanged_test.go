package timeinqueue

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// feedSkippingUnchanged polls every 5 s for seconds. With skip set, a poll
// that finds the queue empty and its counters those of the newest sample
// given before brings no samples and marks the queue Unchanged, as the
// management source does; without, every poll brings its samples.
func feedSkippingUnchanged(e *Estimator, seconds int, arrived, departed func(int) int, skip bool) (pieces []Piece, skipped int) {
	e.SetRecorder(func(_ snapshot.QueueKey, p Piece) { pieces = append(pieces, p) })
	var newest snapshot.Sample
	given := false
	for s := 0; s <= seconds; s += 5 {
		q := snapshot.Queue{Vhost: "/", Name: "q", StatsKnown: true,
			Counters: snapshot.Counters{Published: uint64(arrived(s)), Completed: uint64(departed(s))}, Ready: int64(arrived(s) - departed(s))}
		if skip && given && q.Messages() == 0 && q.Latest().SameValues(newest) {
			q.Unchanged = true
			skipped++
		} else {
			// The history since the previous poll, 5 s before, and two
			// stats intervals more, as the management source asks.
			q.Samples = secondSamplesFrom(s-7, s, arrived, departed, departed)
			newest, given = q.Samples[len(q.Samples)-1], true
		}
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{q}})
	}
	return pieces, skipped
}

func TestUnchangedPollsEstimateAsTheFlatSamplesTheyStandFor(t *testing.T) {
	// 10 messages a second for a minute, each acked 3 s after it arrived;
	// then two minutes of nothing, the queue empty; then the same again,
	// starting between two polls.
	arrived := func(s int) int {
		switch {
		case s < 60:
			return 10 * s
		case s < 182:
			return 600
		}
		return 600 + 10*(s-182)
	}
	departed := func(s int) int { return arrived(max(0, s-3)) }
	cfg := Config{Thresholds: []time.Duration{2 * time.Second, 4 * time.Second}}
	every, skipping := New(cfg), New(cfg)
	want, _ := feedSkippingUnchanged(every, 300, arrived, departed, false)
	got, skipped := feedSkippingUnchanged(skipping, 300, arrived, departed, true)
	if skipped < 20 {
		t.Fatalf("only %d polls were skipped: the quiet two minutes should skip about 22", skipped)
	}
	a, b := every.Estimates()[0], skipping.Estimates()[0]
	if !slices.Equal(a.Within, b.Within) || !slices.Equal(a.Total, b.Total) || a.Count != b.Count || math.Abs(a.Sum-b.Sum) > 1e-9 || !slices.Equal(a.BucketCounts, b.BucketCounts) {
		t.Errorf("skipping the unchanged polls changed the estimate:\nevery poll's samples: within %v total %v count %v sum %v\nskipping unchanged:   within %v total %v count %v sum %v",
			a.Within, a.Total, a.Count, a.Sum, b.Within, b.Total, b.Count, b.Sum)
	}
	if a.Count != 1750 || math.Abs(a.Sum-3*1750) > 1 {
		t.Errorf("every poll's samples: %v departures waiting %v s in all, want 1750 waiting 3 s each", a.Count, a.Sum)
	}
	var n float64
	for _, p := range got {
		n += p.Count
	}
	if len(want) == 0 || n != a.Count {
		t.Errorf("the skipping estimator's pieces count %v departures, want %v", n, a.Count)
	}
}

func TestUnchangedQueueSeenFirstAddsNoPoint(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	never := snapshot.Queue{Vhost: "/", Name: "q", StatsKnown: true, Unchanged: true}
	e.Observe(&snapshot.Snapshot{Time: t0, Queues: []snapshot.Queue{never}})
	// Never used, it is idle (idle.go): no full state, and no point.
	if iq := e.idle[never.Key()]; iq == nil || iq.hist != nil || e.queues[never.Key()] != nil {
		t.Fatalf("an Unchanged queue gets an estimate and no point of the poll's time, which is on warren's clock, not the broker's")
	}
	est := e.Estimates()[0]
	if est.Name != "q" || est.OldestAge != 0 || est.Total[0] != 0 {
		t.Errorf("estimate of an unchanged, never used queue: %+v", est)
	}
}
