package timeinqueue

import "time"

// otherDepartures tracks the departures the completion counters do not
// see (expiry, dead-lettering, rejects without requeue, purges), from the
// depth.
type otherDepartures struct {
	// count is how many there were so far.
	count float64
	// backlogs holds the recent arrivals minus completions it is
	// measured against (see update).
	backlogs []backlogAt
	// flagged is how many departures since the curves began were
	// counted as leaving without being completed (see unprocessed).
	flagged float64
}

// backlogAt is, at broker time t, arrivals minus completions: what the
// queue would hold if nothing left it any other way.
type backlogAt struct {
	t time.Time
	v float64
}

// reset forgets the count and the backlogs: the counters they were taken
// from went back.
func (o *otherDepartures) reset() { o.count, o.backlogs, o.flagged = 0, o.backlogs[:0], 0 }

// start begins tracking at t, the first point of the curves, with
// backlog the arrivals minus completions there and count the other
// departures they imply.
func (o *otherDepartures) start(t time.Time, backlog, count float64) {
	o.count, o.flagged = count, count
	o.backlogs = append(o.backlogs[:0], backlogAt{t: t, v: backlog})
}

// update sets the count of other departures from the depth (messages)
// read at t: what arrivals minus completions (backlog) say the queue
// holds, less what it holds. The broker reads the depth at another
// moment than the counters, up to window earlier (a stats interval or two
// for a classic queue, a 5 s tick for a quorum queue), and in a growing
// queue a depth read earlier is smaller: taken against the counters at
// t, it would show departures that never happened. So the depth is held
// against the smallest backlog the counters showed within window before
// t: a lower bound whenever the depth was read within that window. When
// the count goes down again, departures do not: the next completions pay
// it back.
func (o *otherDepartures) update(t time.Time, backlog, messages float64, window time.Duration) {
	o.backlogs = append(o.backlogs, backlogAt{t: t, v: backlog})
	drop := 0
	for drop < len(o.backlogs)-1 && t.Sub(o.backlogs[drop].t) > window {
		drop++
	}
	o.backlogs = append(o.backlogs[:0], o.backlogs[drop:]...)
	least := backlog
	for _, b := range o.backlogs {
		least = min(least, b.v)
	}
	o.count = max(0, least-messages)
}

// unprocessed is the share of the departures from prevD to d (the
// departure curve at two consecutive points) that left without being completed: expired,
// dropped by a length limit, dead-lettered, rejected without requeue,
// purged. Those are not processed, so they are never good events.
//
// The count of other departures (update) says how many of the
// departures were not completions; what of it was not yet flagged is
// flagged now, at most the interval's departures, and the rest of the
// interval's departures were completions. (Not d − completed: d never
// goes back, so where the completions read at the arrival counter's
// moment fall behind an earlier d, that difference is no departure.)
// When the count of other departures goes down again (the depth was read
// late, and completions pay it back), nothing is taken back: the next
// intervals flag nothing until the count is above what was flagged. The
// counters do not say which of an interval's departures were which, so
// the share applies evenly to all of them.
func (o *otherDepartures) unprocessed(prevD, d float64) float64 {
	departed := d - prevD
	if departed <= 0 {
		return 0
	}
	flag := min(max(0, o.count-o.flagged), departed)
	o.flagged += flag
	return flag / departed
}
