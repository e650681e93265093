package queuehistory

import (
	"math"
	"time"
)

// Change is how a queue's counters and depth changed over Span.
type Change struct {
	Span                                         time.Duration
	Published, Completed, Delivered, Redelivered float64
	// Messages is the growth of the depth (negative when it shrank).
	Messages int64
	// Ready is the growth of the ready part of the depth.
	Ready int64
}

// Over returns the change from the newest point at or before now−window
// (or, where the history is shorter, its oldest point, or its Origin
// after a reset) to the newest point. ok is false when the history holds
// a single point and no Origin: nothing to compare.
func (s *Polls) Over(window time.Duration) (c Change, ok bool) {
	last := s.Last()
	since := last.Time.Add(-window)
	var base *Point
	switch {
	case !s.Points[0].Time.After(since) || s.Origin == nil:
		base = &s.Points[0]
		for i := range s.Points {
			if !s.Points[i].Time.After(since) {
				base = &s.Points[i]
			}
		}
	default:
		base = s.Origin
	}
	if base.Time.Equal(last.Time) {
		return Change{}, false
	}
	return between(*base, last), true
}

// SincePrevious returns the change since the poll before the newest (or
// the Origin, right after a reset). ok is false on a queue's first poll.
func (s *Polls) SincePrevious() (Change, bool) {
	n := len(s.Points)
	switch {
	case n >= 2:
		return between(s.Points[n-2], s.Points[n-1]), true
	case s.Origin != nil:
		return between(*s.Origin, s.Points[0]), true
	}
	return Change{}, false
}

// between is the change from a to b; b's counters are not below a's (the
// reset rule guarantees it).
func between(a, b Point) Change {
	return Change{
		Span:        b.Time.Sub(a.Time),
		Published:   float64(b.Counters.Published - a.Counters.Published),
		Completed:   float64(b.Counters.Completed - a.Counters.Completed),
		Delivered:   float64(b.Counters.Delivered - a.Counters.Delivered),
		Redelivered: float64(b.Counters.Redelivered - a.Counters.Redelivered),
		Messages:    b.Messages - a.Messages,
		Ready:       b.Ready - a.Ready,
	}
}

// DrainWindow is how far back DrainSeconds measures the net departure
// rate.
const DrainWindow = time.Minute

// NotDraining is the DrainSeconds of a backlog that is not shrinking.
var NotDraining = math.Inf(1)

// DrainSeconds is the time to empty the backlog at the net departure rate
// of the last DrainWindow (how fast the depth fell): 0 when the queue is
// empty, NotDraining when its backlog is not shrinking.
func (p *Polls) DrainSeconds() float64 {
	last := p.Last()
	if last.Messages <= 0 {
		return 0
	}
	first := last
	for i := len(p.Points) - 1; i >= 0 && last.Time.Sub(p.Points[i].Time) <= DrainWindow; i-- {
		first = p.Points[i]
	}
	elapsed := last.Time.Sub(first.Time).Seconds()
	shrink := float64(first.Messages - last.Messages)
	if elapsed <= 0 || shrink <= 0 {
		return NotDraining
	}
	return float64(last.Messages) / (shrink / elapsed)
}
