package timeinqueue

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// observeDeliveries feeds polls every 5 s for seconds of one queue with
// 10 deliveries a second, redelivered of them redeliveries.
func observeDeliveries(e *Estimator, seconds int, maxPriority int, redelivered float64) QueueEstimate {
	for s := 0; s <= seconds; s += 5 {
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
			Vhost: "/", Name: "q", StatsKnown: true, MaxPriority: maxPriority,
			Counters: snapshot.Counters{Published: uint64(10 * s), Delivered: uint64(10 * s), Completed: uint64(10 * s),
				Redelivered: uint64(redelivered * float64(10*s))},
		}}})
	}
	return e.Estimates()[0]
}

func TestNonFIFOQueuesHaveTheirEstimateWithheld(t *testing.T) {
	for _, tc := range []struct {
		name         string
		maxPriority  int
		redelivered  float64
		optIn        bool
		wantNonFIFO  string
		wantWithheld bool
	}{
		{"fifo", 0, 0, false, "", false},
		{"5% redelivered", 0, 0.05, false, "", false},
		{"priority queue", 10, 0, false, NonFIFOPriority, true},
		{"30% redelivered", 0, 0.3, false, NonFIFORedeliveries, true},
		{"priority queue, opted in", 10, 0, true, NonFIFOPriority, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Config{Thresholds: []time.Duration{10 * time.Second}, EstimateNonFIFO: tc.optIn})
			est := observeDeliveries(e, 120, tc.maxPriority, tc.redelivered)
			if est.NonFIFO != tc.wantNonFIFO || est.Withheld != tc.wantWithheld {
				t.Errorf("NonFIFO %q, Withheld %v; want %q, %v", est.NonFIFO, est.Withheld, tc.wantNonFIFO, tc.wantWithheld)
			}
		})
	}
}

func TestRedeliveriesAreJudgedOverTheRecentWindowOnly(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	// Half the deliveries redelivered for a minute, then none for longer
	// than the window.
	for s := 0; s <= 60+int(RedeliveryWindow/time.Second)+10; s += 5 {
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
			Vhost: "/", Name: "q", StatsKnown: true,
			Counters: snapshot.Counters{Published: uint64(10 * s), Delivered: uint64(10 * s), Completed: uint64(10 * s),
				Redelivered: uint64(5 * min(s, 60))},
		}}})
		if s == 60 {
			if got := e.Estimates()[0].NonFIFO; got != NonFIFORedeliveries {
				t.Fatalf("after a minute of half redeliveries: NonFIFO %q, want %q", got, NonFIFORedeliveries)
			}
		}
	}
	if got := e.Estimates()[0].NonFIFO; got != "" {
		t.Errorf("a window after the redeliveries stopped: NonFIFO %q, want FIFO again", got)
	}
}

func TestAFewDeliveriesDoNotJudgeRedeliveries(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	for s := 0; s <= 60; s += 5 {
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
			Vhost: "/", Name: "q", StatsKnown: true,
			Counters: snapshot.Counters{Published: 10, Delivered: 10, Completed: 9, Redelivered: 5},
		}}})
	}
	if got := e.Estimates()[0].NonFIFO; got != "" {
		t.Errorf("5 redeliveries of 10 deliveries: NonFIFO %q, want too few to tell", got)
	}
}
