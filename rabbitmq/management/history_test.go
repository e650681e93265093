package management

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// trackedQueue is a queue of a listing without history: known statistics,
// the given depth and counters.
func trackedQueue(name string, ready, unacked int64, c snapshot.Counters) snapshot.Queue {
	return snapshot.Queue{Vhost: "v", Name: name, StatsKnown: true, Ready: ready, Unacked: unacked, Counters: c}
}

// withNewestSamples gives q samples whose newest holds its listing's
// values, as the broker's history of a queue that has settled.
func withNewestSamples(q snapshot.Queue, at time.Time) snapshot.Queue {
	w, d := q.Latest(), q.LatestDelivery()
	w.Time, d.Time = at, at
	q.Samples = []snapshot.Sample{{Time: at.Add(-5 * time.Second)}, w}
	q.DeliverySamples = []snapshot.Sample{{Time: at.Add(-5 * time.Second)}, d}
	return q
}

func newTestTracker(slos ...config.SLOThreshold) historyTracker {
	var t config.Target
	t.TimeInQueue.SLOThresholds = slos
	return newHistoryTracker(t)
}

func TestFirstReadListsEveryQueuesHistory(t *testing.T) {
	h := newTestTracker()
	if !h.listsAll() {
		t.Fatal("before any read, the tracker knows no queue: the first read must list every queue's history")
	}
	h.commit([]snapshot.Queue{withNewestSamples(trackedQueue("a", 0, 0, snapshot.Counters{Published: 3, Completed: 3}), time.Unix(100, 0))}, time.Unix(100, 0), historyPlan{listing: sampleHistory{age: 4 * time.Second, incr: time.Second}})
	if h.wanted != 1 {
		t.Errorf("at the first read every queue is new, so it needed its history: wanted %d, want 1", h.wanted)
	}
}

func TestQueueNeedsHistoryWhenItHoldsMessagesMovedOrIsNamedByAnSLO(t *testing.T) {
	at := time.Unix(1000, 0)
	settledCounters := snapshot.Counters{Published: 10, Delivered: 10, Acked: 10, DeliveredManual: 10, Completed: 10}
	h := newTestTracker(config.SLOThreshold{Queue: mustRegexp(t, "slo-.*"), Threshold: config.Duration(time.Second)})
	h.commit([]snapshot.Queue{
		withNewestSamples(trackedQueue("quiet", 0, 0, settledCounters), at),
		withNewestSamples(trackedQueue("slo-quiet", 0, 0, settledCounters), at),
		withNewestSamples(trackedQueue("backlog", 4, 0, snapshot.Counters{Published: 4}), at),
		trackedQueue("never-used", 0, 0, snapshot.Counters{}),
		trackedQueue("busy-no-samples", 0, 0, settledCounters),
	}, at, historyPlan{listing: sampleHistory{age: 4 * time.Second, incr: time.Second}})

	moved := settledCounters
	moved.Published, moved.Completed, moved.Acked, moved.Delivered, moved.DeliveredManual = 12, 12, 12, 12, 12
	requeued := settledCounters
	requeued.Delivered, requeued.DeliveredManual = 11, 11 // delivered, then rejected with requeue
	tests := []struct {
		name string
		q    snapshot.Queue
		want bool
	}{
		{"empty, same counters as its newest samples", trackedQueue("quiet", 0, 0, settledCounters), false},
		{"never used: every counter zero, the broker keeps no samples", trackedQueue("never-used", 0, 0, snapshot.Counters{}), false},
		{"counters moved since its newest samples", trackedQueue("quiet", 0, 0, moved), true},
		{"deliveries moved though arrivals and departures did not", trackedQueue("quiet", 0, 0, requeued), true},
		{"holds messages: their ages grow with nothing moving", trackedQueue("backlog", 4, 0, snapshot.Counters{Published: 4}), true},
		{"holds unacknowledged messages", trackedQueue("quiet", 0, 1, settledCounters), true},
		{"named by an SLO, though quiet", trackedQueue("slo-quiet", 0, 0, settledCounters), true},
		{"not seen at the previous read", trackedQueue("new", 0, 0, snapshot.Counters{}), true},
		{"its history gave no samples though counters moved", trackedQueue("busy-no-samples", 0, 0, settledCounters), true},
		{"statistics not known yet: nothing to give", snapshot.Queue{Vhost: "v", Name: "quiet"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.needs(&tt.q); got != tt.want {
				t.Errorf("needs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChooseMarksTheQueuesItSkipsUnchanged(t *testing.T) {
	at := time.Unix(1000, 0)
	c := snapshot.Counters{Published: 5, Completed: 5, Acked: 5, Delivered: 5, DeliveredManual: 5}
	h := newTestTracker()
	h.commit([]snapshot.Queue{withNewestSamples(trackedQueue("quiet", 0, 0, c), at), withNewestSamples(trackedQueue("busy", 0, 0, c), at)}, at, historyPlan{listing: sampleHistory{age: 4 * time.Second, incr: time.Second}})

	busier := c
	busier.Published, busier.Completed, busier.Acked, busier.Delivered, busier.DeliveredManual = 9, 9, 9, 9, 9
	listing := []snapshot.Queue{trackedQueue("busy", 0, 0, busier), {Vhost: "v", Name: "unknown"}, trackedQueue("quiet", 0, 0, c)}
	wanted := h.choose(listing)
	if len(wanted) != 1 || listing[wanted[0]].Name != "busy" {
		t.Fatalf("wanted %v, want only the busy queue", wanted)
	}
	if listing[0].Unchanged || listing[1].Unchanged || !listing[2].Unchanged {
		t.Errorf("Unchanged busy=%v unknown=%v quiet=%v, want only the quiet queue (a queue without statistics is not Unchanged, it is unknown)",
			listing[0].Unchanged, listing[1].Unchanged, listing[2].Unchanged)
	}
}

func TestCommitKeepsTheNewestSamplesOfUnchangedQueuesAndForgetsAbsentOnes(t *testing.T) {
	at := time.Unix(1000, 0)
	c := snapshot.Counters{Published: 5, Completed: 5, Acked: 5, Delivered: 5, DeliveredManual: 5}
	h := newTestTracker()
	h.commit([]snapshot.Queue{withNewestSamples(trackedQueue("quiet", 0, 0, c), at), withNewestSamples(trackedQueue("gone", 0, 0, c), at)}, at, historyPlan{listing: sampleHistory{age: 4 * time.Second, incr: time.Second}})

	quiet := trackedQueue("quiet", 0, 0, c)
	quiet.Unchanged = true
	h.commit([]snapshot.Queue{quiet}, at.Add(15*time.Second), historyPlan{})
	if h.needs(&quiet) {
		t.Error("a queue Unchanged at one read keeps its newest samples: it needs no history at the next while nothing moves")
	}
	if gone := trackedQueue("gone", 0, 0, c); !h.needs(&gone) {
		t.Error("a queue absent from a read is forgotten: when it is back, it is new")
	}
}

func TestReadsListEveryQueuesHistoryWhenManyQueuesNeedIt(t *testing.T) {
	at := time.Unix(1000, 0)
	busy := func(n int) []snapshot.Queue {
		var qs []snapshot.Queue
		for i := range 60 {
			q := trackedQueue(string(rune('a'+i%26))+string(rune('a'+i/26)), 0, 0, snapshot.Counters{})
			if i < n {
				q.Ready = 1 // holds a message: needs its history at every read
			}
			qs = append(qs, withNewestSamples(q, at))
		}
		return qs
	}
	h := newTestTracker()
	h.commit(busy(5), at, historyPlan{listing: sampleHistory{age: 4 * time.Second, incr: time.Second}})
	h.commit(busy(5), at.Add(15*time.Second), historyPlan{})
	if h.listsAll() {
		t.Errorf("5 of 60 queues needed their history: one GET each is cheaper than every queue's history in the listing")
	}
	h.commit(busy(20), at.Add(30*time.Second), historyPlan{})
	if !h.listsAll() {
		t.Errorf("20 of 60 queues needed their history, more than one in %d: one listing with every queue's is cheaper", historyAloneCost)
	}
}

func TestHistoryReachesBackToTheLastSuccessfulRead(t *testing.T) {
	h := newTestTracker()
	first := time.Now().Add(-time.Minute)
	h.commit(nil, first, historyPlan{listing: sampleHistory{age: 4 * time.Second, incr: time.Second}})
	// The poller's span counts from the previous attempt; it failed 15 s ago.
	start := time.Now()
	if got := h.span(15*time.Second, start); got < time.Minute {
		t.Errorf("span %v: it must reach back to the last successful read, a minute ago", got)
	}
}

func TestSampleHistoryNeverAsksMoreSamplesThanTheBrokerServes(t *testing.T) {
	q := make(map[string][]string)
	sampleHistory{age: 10 * time.Hour, incr: 5 * time.Second}.params(q)
	if got, want := q["lengths_age"][0], "2500"; got != want {
		t.Errorf("lengths_age = %s, want %s: the broker refuses more than %d samples a series", got, want, maxRangeSamples)
	}
}

func mustRegexp(t *testing.T, s string) *config.Regexp {
	t.Helper()
	r, err := config.NewRegexp(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
