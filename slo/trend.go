package slo

import "time"

// TrendPoint is an SLO's state at one past instant, for the web UI's
// charts: the same Budget and windows that Evaluate and Windows give at
// now, computed at At from the buckets still held.
type TrendPoint struct {
	At time.Time
	// Budget is the error budget over the events the history holds up to
	// At. The history forgets events older than the SLO window before the
	// newest one, so for an At in the past it counts the events since the
	// window's start: over the window, the points are a burn-down.
	Budget Budget
	// Windows are the export windows and the SLO window, shortest first,
	// as Windows labels them; Held[i] is false where the ring serving
	// Windows[i] no longer holds the whole of it at At (its events would
	// be undercounted), and that point is not to be drawn.
	Windows []WindowStat
	Held    []bool
}

// Trend returns n points evenly spaced over (now−span, now], oldest first,
// the last at now.
func (s *SLO) Trend(now time.Time, span time.Duration, n int) []TrendPoint {
	if n < 1 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TrendPoint, n)
	for i := range out {
		at := now.Add(-span * time.Duration(n-1-i) / time.Duration(n))
		p := TrendPoint{At: at, Budget: budgetOf(s.series.Window(at, s.obj.Window), s.obj.Target)}
		for _, w := range exportWindows {
			p.add(s, at, s.obj.Scale(w.Ref), w.Label)
		}
		p.add(s, at, s.obj.Window, "slo")
		out[i] = p
	}
	return out
}

func (p *TrendPoint) add(s *SLO, at time.Time, w time.Duration, label string) {
	p.Windows = append(p.Windows, s.window(at, w, label))
	p.Held = append(p.Held, s.series.holds(at, w))
}

// holds reports whether the ring that serves the window (at−w, at] still
// holds all of it.
func (s *EventHistory) holds(at time.Time, w time.Duration) bool {
	r := &s.coarse
	if w <= s.layout.FineSpan() {
		r = &s.fine
	}
	return r.started && r.epoch(at.Add(-w).UnixNano()) >= r.oldest()
}
