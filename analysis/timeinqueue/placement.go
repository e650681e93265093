package timeinqueue

import (
	"math"
	"time"
)

// Placing events within a sample interval.
//
// Between two samples the broker says only how many messages arrived and
// how many left, not when. Spreading both evenly over the interval is
// right for steady traffic and wrong by up to an interval for a burst:
// 200 messages published at one instant are spread over the whole
// interval, and every one of them is placed too late by the part of the
// interval it is spread over.
//
// The departures tell more than that, because consumers do not wait: a
// consumer with messages to take works at its capacity, and one without
// takes a message the moment it arrives. So where the backlog shows the
// consumers were busy through an interval, its departure rate is their
// capacity, and from that capacity:
//
//   - In an interval that began with an empty queue and ended with a
//     backlog, the consumers worked at capacity from the moment the
//     backlog formed until the end: the departures of the interval say
//     how long that was, and so when the backlog formed (placeBurst). The
//     arrivals the next interval's rate does not explain arrived at that
//     moment, at once: a burst.
//   - In an interval that began with a backlog and ended with an empty
//     queue, the consumers worked at capacity until the backlog was gone,
//     and then took each arrival as it came (drainKink).
//
// The capacity is the departure rate of the recent intervals through which
// the consumers were busy, the newest included: for a burst, the interval
// after it. Where none shows it, or the counts contradict the model
// (capacity changed, a consumer stopped), events stay spread evenly.
// Everything here looks at the newest three sample points, two of them
// in the history and one kept as a rate, so the cost per queue and poll
// does not grow with the history, and the memory by a point and three
// numbers.

// busyBacklog is how many messages a queue must hold at both ends of an
// interval for its consumers to count as busy through it. Interpolated
// linearly, the backlog is smallest at an end.
const busyBacklog = 1

// capacityMemory is how fast what the consumers' capacity was counts less:
// an interval this much older weighs 1/e as much.
const capacityMemory = 30 * time.Second

// placement is what placing events within an interval looks at, besides
// the curves (see placeBurst and drainKink).
type placement struct {
	// before is the point made from the sample before the newest (the
	// newest is the last of the curves' points), as it was made, and
	// beforeRate the arrival rate of the interval that ended there (0
	// when unknown).
	before     point
	hasBefore  bool
	beforeRate float64
	// busyDeparted messages left in busySeconds of intervals through
	// which the queue's consumers were busy, both decayed with age
	// (capacityMemory): their ratio is the consumers' capacity.
	busyDeparted, busySeconds float64
}

// reset forgets the sample point before and the capacity learnt: the
// counters they were learnt from went back.
func (pl *placement) reset() { *pl = placement{} }

// learnCapacity adds the interval from the newest sample point (from) to
// p to what the consumers' capacity is learnt from, if they were busy
// through it. One interval's departures are whole messages, which at a
// second's interval is a few percent of the rate; the decayed sum over
// the busy intervals of the last half minute or so is steadier.
func (pl *placement) learnCapacity(from, p point) {
	if !busyThrough(from, p) {
		return
	}
	span := seconds(from.t, p.t)
	w := math.Exp(-span / capacityMemory.Seconds())
	pl.busyDeparted = pl.busyDeparted*w + (p.d - from.d)
	pl.busySeconds = pl.busySeconds*w + span
}

// capacity is the consumers' capacity in messages per second, or 0 when
// unknown.
func (pl *placement) capacity() float64 {
	if pl.busySeconds <= 0 {
		return 0
	}
	return pl.busyDeparted / pl.busySeconds
}

// remember records newest, the point of the sample before the one just
// added, and the arrival rate of the interval that ended there.
func (pl *placement) remember(newest point) {
	pl.beforeRate = 0
	if pl.hasBefore && newest.t.After(pl.before.t) {
		pl.beforeRate = (newest.a - pl.before.a) / seconds(pl.before.t, newest.t)
	}
	pl.before, pl.hasBefore = newest, true
}

func backlog(p point) float64 { return p.a - p.d }

// busyThrough reports whether the consumers were busy from p0 to p1.
func busyThrough(p0, p1 point) bool {
	return min(backlog(p0), backlog(p1)) >= busyBacklog && p1.t.After(p0.t)
}

func seconds(from, to time.Time) float64 { return to.Sub(from).Seconds() }

// placeBurst places, once the interval after it (p1 to p2) is known, the
// arrivals of the newest interval (p0 to p1) when it began with an empty
// queue and ended with a backlog, so the consumers were busy at its end,
// and their capacity r is known.
//
// Model: until some moment ts the queue stayed empty and the consumers
// took arrivals as they came, at the previous interval's arrival rate
// (pass-through); at ts a burst arrived; from ts arrivals went on at the
// next interval's rate and the consumers worked at capacity. The
// departures of the interval fix ts: pass-through until ts plus r after
// it add up to them. The arrivals the two rates do not explain are the
// burst.
//
// The departures of the interval were emitted when p1 came; only the
// messages still waiting at p1, which leave later, see the new arrival
// times. Those are the ones the placement matters for: the first
// departures of a burst wait a fraction of an interval either way.
func (pl *placement) placeBurst(c *curves, p2 point) {
	m := len(c.points)
	if !pl.hasBefore || m < 2 {
		return
	}
	p0, p1 := pl.before, c.points[m-1]
	if c.points[m-2] != p0 {
		return // the interval was already split, or pruned
	}
	if backlog(p0) >= busyBacklog || backlog(p1) < busyBacklog || !p2.t.After(p1.t) {
		return
	}
	span, next := seconds(p0.t, p1.t), seconds(p1.t, p2.t)
	if span <= 0 {
		return
	}
	capacity := pl.capacity()
	if capacity <= 0 {
		return
	}
	arrived, departed := p1.a-p0.a, p1.d-p0.d
	passRate := pl.beforeRate
	if capacity <= passRate {
		return
	}
	// Seconds into the interval before the consumers got busy; at the
	// start when the interval's departures exceed what the capacity,
	// learnt from whole messages, allows.
	idle := max(0, (capacity*span-departed)/(capacity-passRate))
	if idle >= span {
		return // the counts contradict the model
	}
	pass := min(passRate*idle, departed, arrived)
	after := min((p2.a-p1.a)/next*(span-idle), arrived-pass)
	burst := arrived - pass - after
	ts := p0.t.Add(time.Duration(idle * float64(time.Second)))
	at := point{t: ts, a: p0.a + pass, d: p0.d + pass}
	c.points = append(c.points[:m-1], at)
	if burst > 0 {
		c.points = append(c.points, point{t: ts, a: at.a + burst, d: at.d})
	}
	c.points = append(c.points, p1)
}

// drainKink splits the interval from the newest point p1 to p when the
// queue was drained in it: it began with a backlog, ended (nearly)
// empty, and the consumers were busy through the interval before. They
// worked at capacity until the backlog was down to what is left at p,
// and from then on took the arrivals (spread evenly) as they came; the
// kink is where the two meet. ok is false when the interval is not such
// a drain or the counts contradict the model.
func (pl *placement) drainKink(p1, p point) (kink point, ok bool) {
	if !pl.hasBefore {
		return point{}, false
	}
	p0 := pl.before
	if !busyThrough(p0, p1) || backlog(p) >= busyBacklog {
		return point{}, false
	}
	span := seconds(p1.t, p.t)
	if span <= 0 {
		return point{}, false
	}
	capacity := pl.capacity()
	// Once the backlog is down to what is still waiting at p, departures
	// follow the arrivals, which rise at this rate.
	flow := (p.a - p1.a) / span
	if capacity <= flow || backlog(p1) <= backlog(p) {
		return point{}, false
	}
	x := (backlog(p1) - backlog(p)) / (capacity - flow)
	if x >= span {
		return point{}, false
	}
	f := x / span
	return point{
		t: p1.t.Add(time.Duration(x * float64(time.Second))),
		a: p1.a + f*(p.a-p1.a),
		d: p1.d + capacity*x,
	}, true
}
