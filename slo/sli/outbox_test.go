package sli

import (
	"math"
	"testing"
	"time"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/outbox"
)

// outboxSample is a sample of outbox orders with one event type, whose
// thresholds are ths and whose counts per threshold are given.
func outboxSample(at time.Time, ths []time.Duration, dispatched float64, within, freshLate, crossed []float64) *outbox.Sample {
	return &outbox.Sample{Outbox: "orders", Time: at, HasLatency: true, Thresholds: ths,
		Types: []outbox.TypeSample{{EventType: "order.created", Dispatched: dispatched, Within: within, FreshLate: freshLate, Crossed: crossed}}}
}

func TestOutboxDispatchCountsWithinAsGoodAndCrossingsAndLateRowsAsBad(t *testing.T) {
	f, e := feeder(t, config.SLO{Name: "dispatch", SLI: config.SLIConfig{OutboxDispatch: &config.OutboxDispatchSLI{
		Outbox: "orders", Threshold: config.Duration(5 * time.Second)}}})
	ths := []time.Duration{time.Second, 5 * time.Second}
	f.ObserveOutbox(&outbox.Sample{Outbox: "orders", Time: t0, Baseline: true, HasLatency: true, Thresholds: ths})
	f.ObserveOutbox(outboxSample(t0.Add(time.Second), ths, 100, []float64{50, 90}, []float64{0, 4}, []float64{3, 2}))
	f.ObserveOutbox(&outbox.Sample{Outbox: "other", Time: t0, HasLatency: true, Thresholds: ths,
		Types: []outbox.TypeSample{{Within: []float64{9, 9}, FreshLate: []float64{0, 0}, Crossed: []float64{0, 0}}}})
	if good, total := counts(t, e, "dispatch", t0.Add(time.Second)); good != 90 || total != 96 {
		t.Errorf("good %v of %v, want 90 of 90+4+2", good, total)
	}
}

// e2eFeeder has the end-to-end SLO "e2e": 20 s from commit over the
// queue orders fed by the outbox orders.
func e2eFeeder(t *testing.T) (*Feeder, func(time.Time) (float64, float64)) {
	f, e := feeder(t, config.SLO{Name: "e2e", SLI: config.SLIConfig{TimeInQueue: &config.QueueLatencySLI{
		Queue: mustRegexp(t, "orders"), Threshold: config.Duration(20 * time.Second), Outbox: "orders"}}})
	return f, func(at time.Time) (float64, float64) { return counts(t, e, "e2e", at) }
}

// e2eSample is an outbox sample over the split thresholds of 20 s
// (2, 5, 10, 15, 20 s) with rows dispatched whose waits fall in the
// bins as given, and crossed rows that crossed 20 s while pending.
func e2eSample(at time.Time, bins [5]float64, late, freshLate, crossed float64) *outbox.Sample {
	ths, _ := config.OutboxSplitThresholds(20 * time.Second)
	within, running := make([]float64, 5), 0.0
	for k, b := range bins {
		running += b
		within[k] = running
	}
	fl, cr := make([]float64, 5), make([]float64, 5)
	fl[4], cr[4] = freshLate, crossed
	return outboxSample(at, ths, running+late, within, fl, cr)
}

// queueState is the target's poll number polled, its queue orders with
// total events against 20 s and within[k] within 18, 15, 10, 5 s.
func queueState(at time.Time, polled int, total float64, within [4]float64) timeinqueue.QueueEstimate {
	return timeinqueue.QueueEstimate{Vhost: "/", Name: "orders",
		Thresholds: []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 18 * time.Second, 20 * time.Second},
		NewWithin:  []float64{within[3], within[2], within[1], within[0], total}, NewTotal: []float64{total, total, total, total, total}}
}

func TestEndToEndWeighsTheQueueEventsByTheOutboxWaitDistribution(t *testing.T) {
	f, counted := e2eFeeder(t)
	f.ObserveState(estimated("prod", t0, 1, queueState(t0, 1, 0, [4]float64{})))
	// Both fast: every row within 2 s, every message within 18 s.
	f.ObserveOutbox(e2eSample(t0.Add(time.Second), [5]float64{100}, 0, 0, 0))
	f.ObserveState(estimated("prod", t0.Add(2*time.Second), 2, queueState(t0, 2, 100, [4]float64{100, 100, 100, 100})))
	if good, total := counted(t0.Add(2 * time.Second)); good != 100 || total != 100 {
		t.Fatalf("both halves fast: good %v of %v, want 100 of 100", good, total)
	}
	// The outbox slow: half the rows waited 10-15 s; the queue takes
	// 6-9 s, within 10 and 15 s but not 5 s: the slow half is bad.
	f.ObserveOutbox(e2eSample(t0.Add(3*time.Second), [5]float64{50, 0, 0, 50}, 0, 0, 0))
	f.ObserveState(estimated("prod", t0.Add(4*time.Second), 3, queueState(t0, 3, 100, [4]float64{100, 100, 100, 0})))
	if good, total := counted(t0.Add(4 * time.Second)); good != 150 || total != 200 {
		t.Errorf("outbox slow: good %v of %v, want 100+50 of 200", good, total)
	}
	// No row dispatched since: the latest distribution stands.
	f.ObserveState(estimated("prod", t0.Add(6*time.Second), 4, queueState(t0, 4, 10, [4]float64{10, 10, 10, 0})))
	if good, total := counted(t0.Add(6 * time.Second)); good != 155 || total != 210 {
		t.Errorf("no rows dispatched in between: good %v of %v, want 150+5 of 210", good, total)
	}
}

func TestEndToEndCountsRowsStuckInTheOutboxBadOnceEvenWhenTheirMessagesArriveLater(t *testing.T) {
	f, counted := e2eFeeder(t)
	f.ObserveState(estimated("prod", t0, 1, queueState(t0, 1, 0, [4]float64{})))
	// A dead dispatcher: 40 rows cross 20 s while pending, nothing moves.
	f.ObserveOutbox(e2eSample(t0.Add(time.Second), [5]float64{}, 0, 0, 40))
	if good, total := counted(t0.Add(time.Second)); good != 0 || total != 40 {
		t.Fatalf("stuck rows: good %v of %v, want 0 of 40 at once", good, total)
	}
	// It restarts: the 40 late rows (already counted) and 60 fast ones
	// go through a fast queue. Only the 60 are new events.
	f.ObserveOutbox(e2eSample(t0.Add(2*time.Second), [5]float64{60}, 40, 0, 0))
	f.ObserveState(estimated("prod", t0.Add(3*time.Second), 2, queueState(t0, 2, 100, [4]float64{100, 100, 100, 100})))
	good, total := counted(t0.Add(3 * time.Second))
	if math.Abs(good-60) > 1e-9 || math.Abs(total-100) > 1e-9 {
		t.Errorf("after the restart: good %v of %v, want 60 of 40+60", good, total)
	}
}

func TestEndToEndBurnsWhenOnlyTheQueueIsSlow(t *testing.T) {
	f, counted := e2eFeeder(t)
	f.ObserveState(estimated("prod", t0, 1, queueState(t0, 1, 0, [4]float64{})))
	f.ObserveOutbox(e2eSample(t0.Add(time.Second), [5]float64{100}, 0, 0, 0))
	// The outbox is fast but the messages wait 19 s: within 20 s of
	// arriving in the queue, not within 20 s of the commit.
	f.ObserveState(estimated("prod", t0.Add(2*time.Second), 2, queueState(t0, 2, 100, [4]float64{0, 0, 0, 0})))
	if good, total := counted(t0.Add(2 * time.Second)); good != 0 || total != 100 {
		t.Errorf("queue slow: good %v of %v, want 0 of 100", good, total)
	}
}
