package timeinqueue

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// feed runs an estimator over per-second samples of one queue, where
// arrived(s) and departed(s) give the cumulative counts at second s (all
// departures are completions: acks).
func feed(e *Estimator, seconds int, arrived, departed func(s int) int) []Piece {
	return feedDepartures(e, seconds, arrived, departed, departed)
}

func TestSteadyConsumerFiveSecondsBehindEstimatesFiveSecondWaits(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{3 * time.Second, 10 * time.Second}})
	pieces := feed(e, 120, func(s int) int { return 10 * s }, func(s int) int { return 10 * max(0, s-5) })
	var n float64
	for _, p := range pieces {
		n += p.Count
		if !p.Approximate && (absDiff(p.WaitFrom, 5*time.Second) > 10*time.Millisecond || absDiff(p.WaitTo, 5*time.Second) > 10*time.Millisecond) {
			t.Fatalf("piece %+v: want waits of 5s", p)
		}
	}
	if n != 1150 {
		t.Errorf("departed %v messages, want 1150", n)
	}
	est := e.Estimates()[0]
	if absDiff(est.OldestAge, 5*time.Second) > 100*time.Millisecond {
		t.Errorf("oldest age %v, want about 5s", est.OldestAge)
	}
	// Nothing waits 10s; everything waits more than 3s.
	if est.Within[1] != est.Total[1] || est.Within[0] != 0 {
		t.Errorf("within %v of total %v", est.Within, est.Total)
	}
}

func TestStoppedConsumerCountsWaitingMessagesBadOnceAsTheyCrossTheThreshold(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	// One message a second; nothing leaves for 60s, then all leave at once.
	feed(e, 60, func(s int) int { return s }, func(int) int { return 0 })
	est := e.Estimates()[0]
	if est.Total[0] != 50 || est.Within[0] != 0 {
		t.Fatalf("after 60s stopped: within %v total %v, want 0 of 50 (the messages older than 10s)", est.Within[0], est.Total[0])
	}
	if absDiff(est.OldestAge, 60*time.Second) > time.Second {
		t.Errorf("oldest age %v, want about 60s", est.OldestAge)
	}
	e2 := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	feed(e2, 70, func(s int) int { return min(s, 60) }, func(s int) int {
		if s >= 65 {
			return 60
		}
		return 0
	})
	est = e2.Estimates()[0]
	// All 60 counted exactly once: the 55 that arrived before second 55
	// crossed 10s while waiting; those that arrived after second 55 left
	// at second 65 within 10s.
	if est.Total[0] != 60 || math.Abs(est.Within[0]-5) > 0.5 {
		t.Errorf("after resuming: within %v total %v, want 5 of 60", est.Within[0], est.Total[0])
	}
}

func TestIdleEmptyQueueHasAgeZeroNoEventsAndNoNaN(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	feed(e, 60, func(int) int { return 7 }, func(int) int { return 7 })
	est := e.Estimates()[0]
	if est.OldestAge != 0 || est.Total[0] != 0 || est.Count != 0 {
		t.Errorf("idle queue estimate %+v", est)
	}
	for _, v := range append(append([]float64{est.Sum}, est.BucketCounts...), est.Within...) {
		if math.IsNaN(v) {
			t.Fatalf("NaN in %+v", est)
		}
	}
}

func TestOneMessageStuckForAnHourShowsAnHour(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{30 * time.Second}})
	feed(e, 3600, func(s int) int { return min(s, 1) }, func(int) int { return 0 })
	if est := e.Estimates()[0]; absDiff(est.OldestAge, time.Hour) > 2*time.Second {
		t.Errorf("oldest age %v, want about an hour", est.OldestAge)
	}
}

func TestCounterResetProducesNoNegativeStepsOrFalseAges(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	var pieces []Piece
	pieces = append(pieces, feed(e, 60, func(s int) int { return 10 * s }, func(s int) int { return 10 * s })...)
	before := e.Estimates()[0]
	// The queue is re-created: counters start again from zero.
	pieces = append(pieces, feed(e, 60, func(s int) int { return 1000 + s }, func(s int) int { return 1000 + s })...)
	_ = pieces
	e3 := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	feed(e3, 30, func(s int) int { return 100 + 10*s }, func(s int) int { return 100 + 10*s })
	feed(e3, 30, func(s int) int { return s }, func(s int) int { return s })
	after := e3.Estimates()[0]
	if after.OldestAge != 0 {
		t.Errorf("after a reset of an empty, flowing queue the oldest age is %v, want 0", after.OldestAge)
	}
	if after.Count < 0 || after.Total[0] < 0 || before.Count > e.Estimates()[0].Count {
		t.Errorf("cumulative outputs went back: %+v", after)
	}
}

func TestPerQueueOverridesPickThresholdsAndBuckets(t *testing.T) {
	cfg := Config{Thresholds: []time.Duration{time.Second}, Overrides: []Override{{
		Match:      func(_, q string) bool { return q == "special" },
		Thresholds: []time.Duration{time.Minute},
		Buckets:    []float64{1, 60},
	}}}
	th, b := cfg.forQueue("/", "special")
	if len(th) != 1 || th[0] != time.Minute || len(b) != 2 {
		t.Errorf("override not applied: %v %v", th, b)
	}
	th, b = cfg.forQueue("/", "plain")
	if th[0] != time.Second || len(b) != len(DefaultBuckets) {
		t.Errorf("default not applied: %v %v", th, b)
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}
