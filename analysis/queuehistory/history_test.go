package queuehistory

import (
	"math"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func observe(h *History, at time.Duration, queues ...snapshot.Queue) {
	h.Observe(&snapshot.Snapshot{Time: t0.Add(at), Queues: queues})
}

func queue(name string, messages int64, published, completed uint64) snapshot.Queue {
	return snapshot.Queue{Vhost: "/", Name: name, StatsKnown: true, Ready: messages,
		Counters: snapshot.Counters{Published: published, Completed: completed}}
}

var key = snapshot.QueueKey{Vhost: "/", Name: "q"}

func TestChangeOverAWindowStartsAtTheNewestPointBeforeIt(t *testing.T) {
	h := New(5 * time.Minute)
	for i, published := range []uint64{10, 20, 40, 80} {
		observe(h, time.Duration(i)*time.Minute, queue("q", 0, published, published))
	}
	c, ok := h.Of(key).Over(2 * time.Minute)
	if !ok || c.Span != 2*time.Minute || c.Published != 60 {
		t.Errorf("change over 2m = %+v, %v; want 60 published over 2m", c, ok)
	}
	c, ok = h.Of(key).Over(time.Hour)
	if !ok || c.Span != 3*time.Minute || c.Published != 70 {
		t.Errorf("change over more than the history = %+v, %v; want all of it (70 over 3m)", c, ok)
	}
}

func TestAFirstPollHasNoChange(t *testing.T) {
	h := New(time.Minute)
	observe(h, 0, queue("q", 5, 5, 0))
	if _, ok := h.Of(key).Over(time.Minute); ok {
		t.Error("one point has no change over a window")
	}
	if _, ok := h.Of(key).SincePrevious(); ok {
		t.Error("one point has no change since a previous poll")
	}
}

func TestCountersThatGoBackCountFromZeroWhileTheDepthCarriesOn(t *testing.T) {
	h := New(5 * time.Minute)
	observe(h, 0, queue("q", 100, 500, 400))
	observe(h, time.Minute, queue("q", 100, 900, 800))
	observe(h, 2*time.Minute, queue("q", 103, 7, 4)) // re-created, or its node restarted
	s := h.Of(key)
	if len(s.Points) != 1 || s.Origin == nil {
		t.Fatalf("after a reset: %d points, origin %v; want the new point and an origin", len(s.Points), s.Origin)
	}
	c, ok := s.SincePrevious()
	if !ok || c.Published != 7 || c.Completed != 4 || c.Messages != 3 || c.Span != time.Minute {
		t.Errorf("change across the reset = %+v, %v; want 7 published, 4 completed, depth +3 over 1m", c, ok)
	}
	if c, _ := s.Over(5 * time.Minute); c.Published != 7 {
		t.Errorf("window change across the reset = %+v; want the counters from zero", c)
	}
}

func TestAQueueMissingFromAPollOrWithUnknownStatisticsIsForgotten(t *testing.T) {
	h := New(time.Minute)
	observe(h, 0, queue("q", 1, 1, 0), queue("r", 1, 1, 0))
	unknown := queue("r", 0, 0, 0)
	unknown.StatsKnown = false
	observe(h, time.Second, unknown)
	if h.Of(key) != nil || h.Of(snapshot.QueueKey{Vhost: "/", Name: "r"}) != nil {
		t.Error("a queue absent from the poll, or with unknown statistics, is still remembered")
	}
}

func TestHistoryKeepsTheRetentionAndOnePointBeforeIt(t *testing.T) {
	h := New(time.Minute)
	for i := range 100 {
		observe(h, time.Duration(i)*10*time.Second, queue("q", 0, uint64(i), uint64(i)))
		pts := h.Of(key).Points
		if len(pts) > 7 {
			t.Fatalf("poll %d: %d points kept, want at most 7 (a minute at 10s, and one before)", i, len(pts))
		}
		if i >= 6 && pts[len(pts)-1].Time.Sub(pts[0].Time) < time.Minute {
			t.Fatalf("poll %d: the points no longer span the retention", i)
		}
	}
}

func TestDrainTimeIsTheBacklogOverTheDepthsFallInTheLastMinute(t *testing.T) {
	h := New(5 * time.Minute)
	// 600 messages, falling by 5 a second: 120 s to go at the end.
	for i := range 7 {
		observe(h, time.Duration(i)*10*time.Second, queue("q", int64(900-50*i), 1000, uint64(100+50*i)))
	}
	if got := h.Of(key).DrainSeconds(); got != 120 {
		t.Errorf("drain = %v s, want 120", got)
	}
}

func TestABacklogThatDoesNotShrinkNeverDrainsAndAnEmptyQueueIsDrained(t *testing.T) {
	h := New(5 * time.Minute)
	for i := range 7 {
		observe(h, time.Duration(i)*10*time.Second, queue("stuck", 100, uint64(100+i), uint64(i)), queue("q", 0, uint64(i), uint64(i)))
	}
	if got := h.Of(snapshot.QueueKey{Vhost: "/", Name: "stuck"}).DrainSeconds(); got != NotDraining {
		t.Errorf("a backlog that is not shrinking drains in %v s, want +Inf", got)
	}
	if got := h.Of(key).DrainSeconds(); got != 0 || math.IsNaN(got) {
		t.Errorf("an empty queue drains in %v s, want 0", got)
	}
}
