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
// second 64 its publish counters too, for good: the collectors' read
// moments had drifted across the sample times. Four queues take 10
// messages a second, each acked a fixed time after it arrived.
//
// Seconds 61 to 63 look, by the recent median of the skew, like an
// interval without departures and then late ones; the queues' own
// agreement at those sample times says the collectors slipped. From
// second 64 on, both counters are an interval stale, which no skew shows:
// the flat steps at 60 and 64 say where the read moments are. Taken for
// the middle of the interval, as before the steps, every message that
// arrived before them and left after would wait an interval longer:
// with waits of 9.3 s against a threshold of 10 s, nine intervals of
// messages past the threshold. Only the messages of the two intervals
// before the first step, whose read moment was not known yet, may be.
func TestACollectorSlipOnEveryQueueDoesNotLengthenTheWaits(t *testing.T) {
	for _, c := range []struct {
		wait, threshold time.Duration
	}{
		{time.Second, 1500 * time.Millisecond},
		{9300 * time.Millisecond, 10 * time.Second},
	} {
		t.Run(c.wait.String(), func(t *testing.T) {
			pieces, estimates := replaySlip(c.wait, c.threshold)
			late := 0.0
			for _, p := range pieces {
				if !p.Approximate && (p.WaitFrom > c.threshold || p.WaitTo > c.threshold) {
					late += p.Count
				}
			}
			if late > 4*2*10 {
				t.Errorf("%v messages estimated to wait more than %v; want at most two intervals of each queue (80)", late, c.threshold)
			}
			for _, est := range estimates {
				if est.Within[0] < est.Total[0]-2*10 {
					t.Errorf("%s: %v of %v within %v, want all but two intervals' 20", est.Name, est.Within[0], est.Total[0], c.threshold)
				}
			}
		})
	}
}

// replaySlip runs the broker of TestACollectorSlipOnEveryQueueDoesNotLengthenTheWaits
// with messages acked wait after they arrived, and returns the pieces and
// the final estimates.
func replaySlip(wait, threshold time.Duration) ([]Piece, []QueueEstimate) {
	e := New(Config{Thresholds: []time.Duration{threshold}})
	var pieces []Piece
	e.SetRecorder(func(_ snapshot.QueueKey, p Piece) { pieces = append(pieces, p) })
	arrived := func(s float64) float64 { return 10 * max(0, s) }
	acked := func(s float64) float64 { return arrived(s - wait.Seconds()) }
	for poll := 0; poll <= 120; poll += 5 {
		var queues []snapshot.Queue
		for qi := range 4 {
			var samples []snapshot.Sample
			for s := max(0, poll-4); s <= poll; s++ {
				pubAt, doneAt := float64(s), float64(s)
				if s >= 60 {
					doneAt-- // the completion collector slipped
				}
				if s >= 64 {
					pubAt-- // and then the publish collector
				}
				samples = append(samples, snapshot.Sample{Time: t0.Add(time.Duration(s) * time.Second),
					Published: uint64(arrived(pubAt)), Messages: int64(arrived(float64(s)) - acked(float64(s))), Completed: uint64(acked(doneAt))})
			}
			last := samples[len(samples)-1]
			queues = append(queues, snapshot.Queue{Vhost: "/", Name: fmt.Sprintf("q%d", qi), StatsKnown: true, Samples: samples,
				Ready: last.Messages, Counters: snapshot.Counters{Published: last.Published, Completed: last.Completed}})
		}
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(poll) * time.Second), Queues: queues})
	}
	return pieces, e.Estimates()
}
