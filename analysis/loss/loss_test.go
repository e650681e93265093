package loss

import (
	"math"
	"testing"
	"time"

	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/snapshot"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// run feeds polls of one queue, built by poll(i), through a history and a
// tracker, one a second, and returns the last poll's loss.
func run(n int, poll func(i int) snapshot.Queue) Queue {
	h := queuehistory.New(5 * time.Minute)
	tr := NewTracker(5 * time.Minute)
	var out []Queue
	for i := range n {
		snap := &snapshot.Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Queues: []snapshot.Queue{poll(i)}}
		h.Observe(snap)
		out = tr.Observe(snap, h)
	}
	return out[0]
}

func q(depth int64, published, completed uint64) snapshot.Queue {
	return snapshot.Queue{Vhost: "/", Name: "q", Type: "classic", StatsKnown: true, Ready: depth,
		Counters: snapshot.Counters{Published: published, Completed: completed}}
}

func limited(x snapshot.Queue, maxLength int64, overflow snapshot.Overflow) snapshot.Queue {
	x.Limit = snapshot.LengthLimit{MaxLength: maxLength, HasMaxLength: true, Overflow: overflow}
	return x
}

func TestADropHeadQueueAtItsLimitCountsArrivalsBeyondTheLimitAsDropped(t *testing.T) {
	// 500 published into an empty queue limited to 100, no consumer.
	polls := []snapshot.Queue{q(0, 0, 0), q(60, 60, 0), q(100, 300, 0), q(100, 500, 0), q(100, 500, 0)}
	got := run(len(polls), func(i int) snapshot.Queue { return limited(polls[i], 100, snapshot.DropHead) })
	if !got.CountsDrops || got.Dropped != 400 || got.Discarded != 0 || !got.AtLimit {
		t.Errorf("loss = %+v; want 400 dropped, none discarded, at the limit", got)
	}
	if got.RecentDropped != 400 || got.Ratio != 1 || !got.HasRatio {
		t.Errorf("recent dropped %v, ratio %v; want 400 and 1", got.RecentDropped, got.Ratio)
	}
}

func TestNacksWithoutRequeueOnAQueueWithoutADeadLetterExchangeAreDiscarded(t *testing.T) {
	// 20 published, all fetched and nacked: none completed, depth back to 0.
	polls := []snapshot.Queue{q(0, 0, 0), q(20, 20, 0), q(0, 20, 0), q(0, 20, 0)}
	got := run(len(polls), func(i int) snapshot.Queue { return polls[i] })
	if !got.CountsDiscards || got.Discarded != 20 || got.Dropped != 0 {
		t.Errorf("loss = %+v; want 20 discarded", got)
	}
}

func TestDeparturesOfAQueueWithADeadLetterExchangeAreNotLoss(t *testing.T) {
	polls := []snapshot.Queue{q(0, 0, 0), q(20, 20, 0), q(0, 20, 0), q(0, 20, 0)}
	got := run(len(polls), func(i int) snapshot.Queue {
		x := polls[i]
		x.HasDeadLetterExchange = true
		return x
	})
	if got.CountsDiscards || got.Discarded != 0 {
		t.Errorf("loss = %+v; want nothing counted", got)
	}
}

func TestASamplingSkewThatCancelsAtTheNextPollIsNeverCounted(t *testing.T) {
	// The depth is sampled a little before the publish counter, then a
	// little after: the differences are +10 and −10.
	polls := []snapshot.Queue{q(0, 0, 0), q(0, 110, 100), q(10, 110, 110), q(0, 200, 200), q(0, 200, 200)}
	got := run(len(polls), func(i int) snapshot.Queue { return polls[i] })
	if got.Discarded != 0 {
		t.Errorf("discarded = %v; want 0", got.Discarded)
	}
}

func TestStreamsNeverCountLoss(t *testing.T) {
	// Retention truncates the log: the depth falls with nothing completed.
	polls := []snapshot.Queue{q(1000, 1000, 0), q(400, 1000, 0), q(400, 1000, 0)}
	got := run(len(polls), func(i int) snapshot.Queue {
		x := polls[i]
		x.Type = "stream"
		return x
	})
	if got.CountsDiscards || got.Discarded != 0 {
		t.Errorf("loss = %+v; want nothing counted", got)
	}
}

func TestTheRatioIsBytesOverTheByteLimitWhereOnlyThatIsSet(t *testing.T) {
	x := q(10, 10, 0)
	x.MessageBytes = 750
	x.Limit = snapshot.LengthLimit{MaxLengthBytes: 1000, HasMaxLengthBytes: true, Overflow: snapshot.RejectPublish}
	if r, ok := Ratio(&x); !ok || math.Abs(r-0.75) > 1e-9 {
		t.Errorf("ratio = %v, %v; want 0.75", r, ok)
	}
	x.Limit.MaxLength, x.Limit.HasMaxLength = 11, true
	if r, _ := Ratio(&x); math.Abs(r-10.0/11) > 1e-9 {
		t.Errorf("ratio with both limits = %v; want the higher, 10/11", r)
	}
	if _, ok := Ratio(&snapshot.Queue{StatsKnown: true}); ok {
		t.Error("a queue without a limit has a ratio")
	}
}

func TestUnroutableIncreasesCountFromZeroAfterACounterReset(t *testing.T) {
	tr := NewTracker(5 * time.Minute)
	var got []Vhost
	for i, d := range []uint64{5, 8, 2, 4} { // node restart after 8
		got = tr.ObserveUnroutable(&snapshot.Snapshot{Time: t0.Add(time.Duration(i) * time.Minute),
			Unroutable: []snapshot.VhostUnroutable{{Vhost: "/", Dropped: d}}})
	}
	if v := got[0]; !v.HasRecent || v.RecentDropped != 3+2+2 || v.Dropped != 4 {
		t.Errorf("vhost = %+v; want 7 recent drops (3, then 2 after the reset, then 2)", v)
	}
}
