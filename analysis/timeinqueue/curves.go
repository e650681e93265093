package timeinqueue

import (
	"math"
	"sort"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// point is the queue's cumulative arrivals a and departures d at t.
type point struct {
	t    time.Time
	a, d float64
}

// minHistory is the least the curves keep, whatever the thresholds: a
// minute of arrivals to place the departures of the next polls against.
const minHistory = time.Minute

// curves are a queue's arrival and departure curves: the recent points,
// oldest first, between which both are linear, and what reading the next
// broker sample needs.
type curves struct {
	points []point
	// offset counts messages that were in the queue before its arrival
	// counter says anything arrived (stats reset by a node restart while
	// messages survived): they are arrivals of unknown time.
	offset float64
	// prev is the previous broker sample, as the broker gave it.
	prev    snapshot.Sample
	hasPrev bool
}

// reset forgets the curves: what they say of the counters before they
// went back says nothing about the new ones.
func (c *curves) reset() {
	c.points, c.offset, c.prev, c.hasPrev = c.points[:0], 0, snapshot.Sample{}, false
}

// seen reports whether s is no newer than the previous sample: polls
// overlap on purpose.
func (c *curves) seen(s snapshot.Sample) bool { return c.hasPrev && !s.Time.After(c.prev.Time) }

// wentBack reports whether a counter of s is below the previous sample's.
func (c *curves) wentBack(s snapshot.Sample) bool {
	return c.hasPrev && (s.Published < c.prev.Published || s.Completed < c.prev.Completed)
}

// read takes s as the newest sample and returns its publish and
// completion counts read at the same moment (alignment.skew).
func (c *curves) read(s snapshot.Sample, al alignment) (published, completed float64) {
	published, completed = float64(s.Published), float64(s.Completed)
	if c.hasPrev && al.skew != 0 {
		// Read both counters at the same moment: interpolate the one
		// read later back to when the other was read.
		back := max(-1, min(1, float64(al.skew)/float64(s.Time.Sub(c.prev.Time))))
		if back > 0 {
			completed -= back * (completed - float64(c.prev.Completed))
		} else {
			published += back * (published - float64(c.prev.Published))
		}
	}
	c.prev, c.hasPrev = s, true
	return published, completed
}

// last is the newest point; there must be one.
func (c *curves) last() point { return c.points[len(c.points)-1] }

// arrivalTime is when the n-th message arrived (linear between points);
// approximate when it arrived before the history began.
func (c *curves) arrivalTime(n float64) (time.Time, bool) {
	k := sort.Search(len(c.points), func(i int) bool { return c.points[i].a >= n })
	if k == 0 {
		return c.points[0].t, n < c.points[0].a
	}
	if k == len(c.points) {
		return c.points[k-1].t, false
	}
	lo, hi := c.points[k-1], c.points[k]
	return interpolate(lo.t, hi.t, (n-lo.a)/(hi.a-lo.a)), false
}

// arrivalsAt is how many messages had arrived by t, or -1 when t is
// before the history (unknown).
func (c *curves) arrivalsAt(t time.Time) float64 {
	k := sort.Search(len(c.points), func(i int) bool { return !c.points[i].t.Before(t) })
	if k == 0 {
		if t.Equal(c.points[0].t) {
			return c.points[0].a
		}
		return -1
	}
	if k == len(c.points) {
		return c.points[k-1].a
	}
	lo, hi := c.points[k-1], c.points[k]
	f := float64(t.Sub(lo.t)) / float64(hi.t.Sub(lo.t))
	return lo.a + f*(hi.a-lo.a)
}

func interpolate(from, to time.Time, f float64) time.Time {
	return from.Add(time.Duration(f * float64(to.Sub(from))))
}

// oldestAge is the age at p of the next message to leave.
func (c *curves) oldestAge(p point) time.Duration {
	if p.a-p.d < 0.5 {
		return 0
	}
	arrived, _ := c.arrivalTime(min(p.d+1, p.a))
	return max(0, p.t.Sub(arrived))
}

// dropCollinear removes the points that interpolation between their
// neighbours reproduces: a flat stretch of an idle or stuck queue, or a
// steady rate, needs only its ends.
func (c *curves) dropCollinear() {
	if len(c.points) < 3 {
		return
	}
	kept := c.points[:1]
	for i := 1; i+1 < len(c.points); i++ {
		prev, cur, next := kept[len(kept)-1], c.points[i], c.points[i+1]
		f := float64(cur.t.Sub(prev.t)) / float64(next.t.Sub(prev.t))
		if math.Abs(prev.a+f*(next.a-prev.a)-cur.a) < 1e-6 && math.Abs(prev.d+f*(next.d-prev.d)-cur.d) < 1e-6 {
			continue
		}
		kept = append(kept, cur)
	}
	c.points = append(kept, c.points[len(c.points)-1])
}

// prune drops points no longer needed: before the arrival of the oldest
// waiting message, and older than keep (what the longest threshold and
// minHistory needs). Past maxPoints, the older half is thinned.
func (c *curves) prune(last point, keep time.Duration, maxPoints int) {
	drop := 0
	for drop+1 < len(c.points) && c.points[drop+1].a <= last.d && !c.points[drop+1].t.After(last.t.Add(-keep)) {
		drop++
	}
	if drop > 0 {
		c.points = append(c.points[:0], c.points[drop:]...)
	}
	if maxPoints > 0 && len(c.points) > maxPoints {
		c.dropCollinear()
	}
	if maxPoints > 0 && len(c.points) > maxPoints {
		// Lossy: a long backlog under changing traffic. Halve the
		// resolution of the older half.
		half := len(c.points) / 2
		thinned := c.points[:1]
		for i := 2; i < half; i += 2 {
			thinned = append(thinned, c.points[i])
		}
		thinned = append(thinned, c.points[half:]...)
		c.points = thinned
	}
}
