package timeinqueue

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// feedDeliveries runs a Processing estimator over per-second delivery
// samples of one queue (five to a poll, like feedDepartures): delivered(s)
// manual-ack deliveries and acked(s) acks by second s, all of them
// acknowledgements. The queue's own arrival curves say the opposite of
// the delivery curves (nothing published, a deep backlog), so a test
// passes only if the estimator reads the delivery curves.
func feedDeliveries(e *Estimator, seconds int, delivered, acked func(s int) int, q snapshot.Queue) {
	for s := 0; s <= seconds; s += 5 {
		q.Vhost, q.Name, q.StatsKnown = "/", "q", true
		q.Ready, q.Unacked = 5000, int64(delivered(s)-acked(s))
		q.Counters = snapshot.Counters{DeliveredManual: uint64(delivered(s)), Acked: uint64(acked(s)), Delivered: uint64(delivered(s))}
		q.DeliverySamples = secondSamples(s, delivered, acked, acked)
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{q}})
	}
}

func TestProcessingOfAConsumerTwoSecondsBehindItsDeliveriesIsTwoSeconds(t *testing.T) {
	e := New(Config{Measure: Processing, Thresholds: []time.Duration{time.Second, 5 * time.Second}})
	feedDeliveries(e, 120, func(s int) int { return 10 * s }, func(s int) int { return 10 * max(0, s-2) }, snapshot.Queue{})
	est := e.Estimates()[0]
	if absDiff(est.OldestAge, 2*time.Second) > 100*time.Millisecond {
		t.Errorf("oldest unacknowledged delivery %v old, want about 2s", est.OldestAge)
	}
	if est.Count < 1000 || absDiff(time.Duration(est.Sum/est.Count*float64(time.Second)), 2*time.Second) > 50*time.Millisecond {
		t.Errorf("%v deliveries acked after %vs on average, want about 1180 after 2s", est.Count, est.Sum/est.Count)
	}
	if est.Within[0] != 0 || est.Within[1] != est.Total[1] {
		t.Errorf("within 1s and 5s: %v of %v, want none within 1s and all within 5s", est.Within, est.Total)
	}
}

func TestProcessingOfAHeldDeliveryAgesUntilItIsAcked(t *testing.T) {
	e := New(Config{Measure: Processing, Thresholds: []time.Duration{10 * time.Second}})
	// One delivery between seconds 0 and 1, held unacknowledged.
	feedDeliveries(e, 60, func(s int) int { return min(s, 1) }, func(int) int { return 0 }, snapshot.Queue{})
	est := e.Estimates()[0]
	if absDiff(est.OldestAge, 60*time.Second) > time.Second {
		t.Errorf("after 60s: oldest unacknowledged delivery %v old, want about 60s", est.OldestAge)
	}
	if est.Total[0] != 1 || est.Within[0] != 0 {
		t.Errorf("after 60s held: within %v of %v, want the held delivery counted bad once it passed 10s", est.Within[0], est.Total[0])
	}
}

func TestProcessingIsNeverWithheldForPriorities(t *testing.T) {
	e := New(Config{Measure: Processing})
	feedDeliveries(e, 30, func(s int) int { return 10 * s }, func(s int) int { return 10 * max(0, s-1) }, snapshot.Queue{MaxPriority: 9})
	if est := e.Estimates()[0]; est.Withheld || est.NonFIFO != "" {
		t.Errorf("priority queue: Withheld %v, NonFIFO %q; want the processing estimate published (acks follow deliveries whatever the priorities)", est.Withheld, est.NonFIFO)
	}
}

func TestProcessingWithoutSampleHistoryReadsTheCountersAtThePoll(t *testing.T) {
	e := New(Config{Measure: Processing})
	for s := 0; s <= 60; s += 5 {
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
			Vhost: "/", Name: "q", StatsKnown: true, Ready: 100, Unacked: 30,
			Counters: snapshot.Counters{DeliveredManual: uint64(30 + 10*s), Acked: uint64(10 * s), Published: 0},
		}}})
	}
	if est := e.Estimates()[0]; absDiff(est.OldestAge, 3*time.Second) > 100*time.Millisecond {
		t.Errorf("30 unacknowledged at 10 acks a second: oldest %v old, want about 3s", est.OldestAge)
	}
}
