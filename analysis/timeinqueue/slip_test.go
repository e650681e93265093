package timeinqueue

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// TestACollectorSlipOnEveryQueueDoesNotLengthenTheWaits replays what a
// busy broker did in a ground-truth run: from second 60 its completion
// counters were filed one interval late, every queue's at once, and from
// second 64 its publish counters too. Four queues take 10 messages a
// second, each acked a second after it arrived. Seconds 61 to 63 look,
// by the recent median of the skew, like an interval without departures
// and then late ones, and the messages that left then a second too long;
// the queues' own agreement at those sample times says the collectors
// slipped. Only the sample where the slip began, which measures nothing,
// still shows a stall: one interval's messages, not four.
func TestACollectorSlipOnEveryQueueDoesNotLengthenTheWaits(t *testing.T) {
	e := New(Config{Thresholds: []time.Duration{1500 * time.Millisecond}})
	var pieces []Piece
	e.SetRecorder(func(_ snapshot.QueueKey, p Piece) { pieces = append(pieces, p) })
	arrived := func(s int) int { return 10 * s }
	acked := func(s int) int { return 10 * max(0, s-1) }
	for poll := 0; poll <= 120; poll += 5 {
		var queues []snapshot.Queue
		for qi := range 4 {
			var samples []snapshot.Sample
			for s := max(0, poll-4); s <= poll; s++ {
				pub, done := arrived(s), acked(s)
				if s >= 60 {
					done = acked(s - 1) // the completion collector slipped
				}
				if s >= 64 {
					pub = arrived(s - 1) // and then the publish collector
				}
				samples = append(samples, snapshot.Sample{Time: t0.Add(time.Duration(s) * time.Second),
					Published: uint64(pub), Messages: int64(arrived(s) - acked(s)), Completed: uint64(done)})
			}
			last := samples[len(samples)-1]
			queues = append(queues, snapshot.Queue{Vhost: "/", Name: fmt.Sprintf("q%d", qi), StatsKnown: true, Samples: samples,
				Ready: last.Messages, Counters: snapshot.Counters{Published: last.Published, Completed: last.Completed}})
		}
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(poll) * time.Second), Queues: queues})
	}
	late := 0.0
	for _, p := range pieces {
		if !p.Approximate && (p.WaitFrom > 1500*time.Millisecond || p.WaitTo > 1500*time.Millisecond) {
			late += p.Count
		}
	}
	if late > 4*10 {
		t.Errorf("%v messages estimated to wait more than 1.5s; want at most the one interval of each queue where the slip began (40)", late)
	}
	for _, est := range e.Estimates() {
		if est.Within[0] < est.Total[0]-10 {
			t.Errorf("%s: %v of %v within 1.5s, want all but one interval's 10", est.Name, est.Within[0], est.Total[0])
		}
	}
}
