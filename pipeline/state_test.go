package pipeline

import (
	"log/slog"
	"testing"
	"time"

	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/snapshot"
)

func TestOldestAgeIsTheHeadTimestampWhereTheBrokerGivesOneElseTheEstimate(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	estimate := &timeinqueue.QueueEstimate{OldestAge: 5 * time.Minute}
	stamped := &snapshot.Queue{HeadTimestamp: now.Add(-90 * time.Second)}
	if got := oldestAge(now, stamped, estimate); got != (Age{Age: 90 * time.Second, Source: AgeHeadTimestamp}) {
		t.Errorf("with a head timestamp and an estimate: %+v, want the head timestamp's 90s", got)
	}
	if got := oldestAge(now, &snapshot.Queue{}, estimate); got != (Age{Age: 5 * time.Minute, Source: AgeEstimate}) {
		t.Errorf("without a head timestamp: %+v, want the estimate's 5m", got)
	}
	if got := oldestAge(now, &snapshot.Queue{}, nil); got != (Age{}) {
		t.Errorf("with neither: %+v, want no age", got)
	}
	future := &snapshot.Queue{HeadTimestamp: now.Add(time.Second)} // a publisher's clock ahead of ours
	if got := oldestAge(now, future, nil); got.Age != 0 || got.Source != AgeHeadTimestamp {
		t.Errorf("a head timestamp in the future: %+v, want 0", got)
	}
}

func TestEveryQueueStateHoldsItsOwnQueuesEstimate(t *testing.T) {
	p := NewWithSource(testTarget("http://127.0.0.1:1"), nil, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	snap := &snapshot.Snapshot{Time: time.Now(), Queues: []snapshot.Queue{
		{Vhost: "/", Name: "a", StatsKnown: true, Ready: 1, Counters: snapshot.Counters{Published: 1}},
		{Vhost: "/", Name: "new", StatsKnown: false},
		{Vhost: "/", Name: "b", StatsKnown: true},
	}}
	p.publish(snap, collector.Health{Attempted: true, Up: true})
	st := p.State()
	if len(st.Estimates) != 2 {
		t.Fatalf("%d estimates, want 2 (the queues with known statistics)", len(st.Estimates))
	}
	for i, want := range []string{"a", "", "b"} {
		e := st.Queues[i].Estimate
		switch {
		case want == "" && e != nil:
			t.Errorf("queue %d (no statistics) has the estimate of %s", i, e.Name)
		case want != "" && (e == nil || e.Name != want):
			t.Errorf("queue %d (%s) has estimate %+v", i, want, e)
		}
	}
	if st.Queues[1].Status != consumerstatus.Unknown || st.Queues[0].Status == consumerstatus.Unknown {
		t.Errorf("statuses %v, %v: want unknown only without statistics", st.Queues[0].Status, st.Queues[1].Status)
	}
}
