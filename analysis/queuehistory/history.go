// Package queuehistory keeps, for every queue of one target, a short
// history of its polls: depth, consumers, counters and head-message age.
// It is the one place with a rule for counter resets and a rule for
// forgetting queues, and every analysis that looks back in time reads it:
// consumer status, the health windows (dead-letter inflow, redelivery
// ratio), the dead-letter ratio.
//
// The reset rule: when any counter of a queue goes back (the queue was
// re-created, or its node restarted), the points before are dropped and
// the poll before the reset is kept as the Origin of the new history,
// with its counters at zero: increases measured across the reset count
// from zero, never negative, while the depth carries on.
//
// The forget rule: a queue absent from a snapshot, or whose statistics
// the broker does not know (just declared, node just restarted), is
// forgotten; samples from before such a gap never pass for evidence.
//
// Import rule: it imports snapshot only.
package queuehistory

import (
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Point is one poll of one queue.
type Point struct {
	Time     time.Time
	Counters snapshot.Counters
	Messages int64
	// Ready is the part of Messages not yet delivered.
	Ready     int64
	Consumers int64
	// HeadAge is the age of the head message at Time, where the broker
	// gives a head timestamp; 0 otherwise.
	HeadAge time.Duration
}

// Polls is one queue's history.
type Polls struct {
	// Points are the polls since the queue was first seen or its
	// counters last went back, oldest first; the newest is the current
	// poll. They cover the retention span and one point more.
	Points []Point
	// Origin is set after a counter reset: the last poll before it, with
	// its counters at zero.
	Origin *Point
}

// Last is the newest point.
func (s *Polls) Last() Point { return s.Points[len(s.Points)-1] }

// History is the history of every queue of one target. It is not safe
// for concurrent use: the target's pipeline owns it.
type History struct {
	retention time.Duration
	queues    map[snapshot.QueueKey]*Polls
}

// New returns an empty history that keeps, per queue, the points of the
// last retention and the newest one before it, so that a window of
// retention is always spanned.
func New(retention time.Duration) *History {
	return &History{retention: retention, queues: map[snapshot.QueueKey]*Polls{}}
}

// Retention is the span the history covers.
func (h *History) Retention() time.Duration { return h.retention }

// Observe adds a snapshot's queues and applies the reset and forget
// rules.
func (h *History) Observe(snap *snapshot.Snapshot) {
	present := make(map[snapshot.QueueKey]bool, len(snap.Queues))
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if !q.StatsKnown {
			continue // unknown, not zero: forgotten below
		}
		k := q.Key()
		present[k] = true
		p := Point{Time: snap.Time, Counters: q.Counters, Messages: q.Messages(), Ready: q.Ready, Consumers: q.Consumers}
		if !q.HeadTimestamp.IsZero() {
			p.HeadAge = snap.Time.Sub(q.HeadTimestamp)
		}
		s := h.queues[k]
		if s == nil {
			s = &Polls{}
			h.queues[k] = s
		}
		s.add(p, snap.Time.Add(-h.retention))
	}
	for k := range h.queues {
		if !present[k] {
			delete(h.queues, k)
		}
	}
}

func (s *Polls) add(p Point, since time.Time) {
	if n := len(s.Points); n > 0 && p.Counters.WentBack(s.Points[n-1].Counters) {
		origin := s.Points[n-1]
		origin.Counters = snapshot.Counters{}
		s.Origin = &origin
		s.Points = s.Points[:0]
	}
	s.Points = append(s.Points, p)
	// Keep the newest point at or before since, so the points still span
	// the whole retention.
	keepFrom := 0
	for i := range s.Points {
		if !s.Points[i].Time.After(since) {
			keepFrom = i
		}
	}
	if keepFrom > 0 {
		s.Points = append(s.Points[:0], s.Points[keepFrom:]...)
	}
	if s.Origin != nil && s.Points[0].Time.Before(since) {
		s.Origin = nil // the reset is older than the retention
	}
}

// Of returns the queue's history, or nil for a queue the latest snapshot
// did not hold with known statistics. It is valid until the next Observe.
func (h *History) Of(k snapshot.QueueKey) *Polls { return h.queues[k] }
