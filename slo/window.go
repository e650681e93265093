package slo

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

const (
	// fineDivisor: the fine bucket is Window/43200, one fifth of the
	// scaled 5m window (30d/5m = 8640 windows, × 5 buckets).
	fineDivisor = 43200
	// fineSpanRef is the longest reference window the fine ring serves.
	fineSpanRef = 6 * time.Hour
	// coarseDivisor: the coarse bucket is Window/4320 (10 minutes for 30
	// days).
	coarseDivisor = 4320
)

// BytesPerSLO bounds the memory of one SLO's event history on a 64-bit
// platform: at most 4684 buckets of 16 bytes (74,944 bytes) plus 136 bytes
// of headers. A test checks the bound for windows from 1m to 365d.
const BytesPerSLO = 75_080

// Counts are good and total events. Counts may be fractional (a pro-rated
// bucket, an estimator's interpolation).
type Counts struct {
	Good, Total float64
}

// Bad is Total − Good, never negative.
func (c Counts) Bad() float64 {
	return max(c.Total-c.Good, 0)
}

// SLI returns the ratio of good events and ok=true, or 0 and ok=false when
// there are no events ("no data": neither NaN nor 1).
func (c Counts) SLI() (ratio float64, ok bool) {
	if !(c.Total > 0) {
		return 0, false
	}
	return min(c.Good/c.Total, 1), true
}

// BurnRate is how fast c consumes an error budget: the error ratio divided
// by the allowed error ratio, (1 − SLI)/(1 − target). 1 consumes exactly
// the budget over the SLO window. No events burn nothing: 0.
func (c Counts) BurnRate(target float64) float64 {
	if !(c.Total > 0) {
		return 0
	}
	return c.Bad() / c.Total / (1 - target)
}

// Layout describes the bucket rings of a series.
type Layout struct {
	// Fine and Coarse bucket widths.
	FineWidth, CoarseWidth time.Duration
	// FineBuckets and CoarseBuckets are the ring sizes.
	FineBuckets, CoarseBuckets int
}

// FineSpan is the longest window the fine ring serves.
func (l Layout) FineSpan() time.Duration { return time.Duration(l.FineBuckets-1) * l.FineWidth }

// CoarseSpan is the longest window the coarse ring serves: at least the
// SLO window.
func (l Layout) CoarseSpan() time.Duration { return time.Duration(l.CoarseBuckets-1) * l.CoarseWidth }

// Buckets is the total number of buckets.
func (l Layout) Buckets() int { return l.FineBuckets + l.CoarseBuckets }

// LayoutFor returns the bucket layout of an SLO window (at least
// MinWindow).
func LayoutFor(window time.Duration) Layout {
	fw := window / fineDivisor
	cw := window / coarseDivisor
	return Layout{
		FineWidth:     fw,
		CoarseWidth:   cw,
		FineBuckets:   ringSize(scale(window, fineSpanRef), fw),
		CoarseBuckets: ringSize(window, cw),
	}
}

// ringSize is the number of buckets of width w that any window of length
// span overlaps at most: ⌈span/w⌉ + 1.
func ringSize(span, w time.Duration) int {
	n := span / w
	if span%w != 0 {
		n++
	}
	return int(n) + 1
}

type bucket struct{ good, total float64 }

// ring is a circular array of buckets of equal width, aligned on the Unix
// epoch: bucket e covers [e×width, (e+1)×width) in Unix nanoseconds. It
// holds the buckets (newest−len, newest].
type ring struct {
	width   int64
	newest  int64
	started bool
	buckets []bucket
}

func newRing(width time.Duration, n int) ring {
	return ring{width: int64(width), buckets: make([]bucket, n)}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (r *ring) epoch(ns int64) int64 { return floorDiv(ns, r.width) }

func (r *ring) slot(e int64) *bucket {
	n := int64(len(r.buckets))
	return &r.buckets[((e%n)+n)%n]
}

func (r *ring) oldest() int64 { return r.newest - int64(len(r.buckets)) + 1 }

// advance makes e the newest bucket, clearing the buckets it passes.
func (r *ring) advance(e int64) {
	if !r.started {
		r.started, r.newest = true, e
		clear(r.buckets)
		return
	}
	if e <= r.newest {
		return
	}
	if e-r.newest >= int64(len(r.buckets)) {
		clear(r.buckets)
	} else {
		for x := r.newest + 1; x <= e; x++ {
			*r.slot(x) = bucket{}
		}
	}
	r.newest = e
}

// add adds counts to bucket e; it reports false when e is older than the
// ring holds.
func (r *ring) add(e int64, good, total float64) bool {
	r.advance(e)
	if e < r.oldest() {
		return false
	}
	b := r.slot(e)
	b.good += good
	b.total += total
	return true
}

func (r *ring) get(e int64) bucket {
	if !r.started || e > r.newest || e < r.oldest() {
		return bucket{}
	}
	return *r.slot(e)
}

// sum adds up the window (from, to] in Unix nanoseconds. The oldest bucket
// is pro-rated by the share of its elapsed part inside the window; the
// newest is counted whole (its events happened up to now).
func (r *ring) sum(from, to int64) Counts {
	if !r.started || to <= from {
		return Counts{}
	}
	e0, e1 := r.epoch(from), r.epoch(to)
	var c Counts
	lo, hi := max(e0, r.oldest()), min(e1, r.newest)
	for e := lo; e <= hi; e++ {
		b := *r.slot(e)
		if b.total == 0 && b.good == 0 {
			continue
		}
		if e == e0 {
			bs := e * r.width
			end := min(bs+r.width, to)
			if elapsed := end - bs; elapsed > 0 {
				f := float64(end-from) / float64(elapsed)
				b.good *= f
				b.total *= f
			}
		}
		c.Good += b.good
		c.Total += b.total
	}
	return c
}

// EventHistory is the event history of one SLO: good and total counts in time
// buckets, in two rings (see the package documentation). It is not safe for
// concurrent use.
type EventHistory struct {
	layout       Layout
	fine, coarse ring
	dropped      float64
}

// NewSeries returns an empty series for an SLO window of at least
// MinWindow.
func NewSeries(window time.Duration) (*EventHistory, error) {
	if window < MinWindow {
		return nil, fmt.Errorf("slo: window %v is shorter than %v", window, MinWindow)
	}
	l := LayoutFor(window)
	return &EventHistory{
		layout: l,
		fine:   newRing(l.FineWidth, l.FineBuckets),
		coarse: newRing(l.CoarseWidth, l.CoarseBuckets),
	}, nil
}

// Layout returns the bucket layout.
func (s *EventHistory) Layout() Layout { return s.layout }

// Add counts good of total events at time t. Events older than the SLO
// window (relative to the newest event) are dropped and counted in
// Dropped; a time in the past within the window goes to its bucket. It
// returns an error, and adds nothing, when a count is negative or not
// finite or good exceeds total.
func (s *EventHistory) Add(t time.Time, good, total float64) error {
	good = clampGood(good, total)
	if err := checkCounts(good, total); err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	ns := t.UnixNano()
	s.fine.add(s.fine.epoch(ns), good, total)
	if !s.coarse.add(s.coarse.epoch(ns), good, total) {
		s.dropped += total
	}
	return nil
}

func checkCounts(good, total float64) error {
	if !(good >= 0) || !(total >= 0) || math.IsInf(good, 0) || math.IsInf(total, 0) {
		return fmt.Errorf("slo: counts good=%v total=%v must be finite and not negative", good, total)
	}
	if good > total {
		return fmt.Errorf("slo: good=%v exceeds total=%v", good, total)
	}
	return nil
}

// clampGood forgives floating-point noise: good a few ulps above total
// (from sums of fractional counts) counts as total.
func clampGood(good, total float64) float64 {
	if good > total && good <= total*(1+1e-9) {
		return total
	}
	return good
}

// Dropped is the number of events Add dropped because they were older than
// the SLO window.
func (s *EventHistory) Dropped() float64 { return s.dropped }

// Window returns the good and total events in the window (now−w, now]. The
// fine ring serves windows up to its span, the coarse ring longer ones; a
// window longer than the coarse span is cut to it. The bucket holding now
// counts whole and later buckets not at all, so evaluate at or after the
// time of the latest event: events later than now in now's own bucket are
// counted.
func (s *EventHistory) Window(now time.Time, w time.Duration) Counts {
	if w <= 0 {
		return Counts{}
	}
	to := now.UnixNano()
	r := &s.coarse
	if w <= s.layout.FineSpan() {
		r = &s.fine
	}
	w = min(w, s.layout.CoarseSpan())
	return r.sum(to-int64(w), to)
}

// Bytes is the memory the series holds: headers and buckets.
func (s *EventHistory) Bytes() int {
	b := int(unsafe.Sizeof(bucket{}))
	return int(unsafe.Sizeof(*s)) + (len(s.fine.buckets)+len(s.coarse.buckets))*b
}
