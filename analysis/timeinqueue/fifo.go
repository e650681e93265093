package timeinqueue

import (
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Why a queue's estimate is not FIFO's: the values of
// QueueEstimate.NonFIFO.
const (
	// NonFIFOPriority is a priority queue (x-max-priority): a message of
	// a higher priority overtakes those waiting before it.
	NonFIFOPriority = "priority_queue"
	// NonFIFORedeliveries is a queue whose redeliveries were more than
	// RedeliveryLimit of its deliveries over the last RedeliveryWindow: a
	// requeued message goes back near the head, ahead of younger ones,
	// and is counted as departing only once, at its final completion.
	NonFIFORedeliveries = "redeliveries"
)

// RedeliveryLimit and RedeliveryWindow: a queue whose redeliveries are
// more than RedeliveryLimit of its deliveries over the last
// RedeliveryWindow breaks FIFO. 5% of deliveries requeued onto a mostly
// empty queue keeps the estimate within a percentage point of the
// truth (the ground-truth harness's requeue scenario); a fifth is far
// past that. At least redeliveryMinDeliveries deliveries in the window
// are needed to judge: a handful of deliveries says nothing.
const (
	RedeliveryLimit         = 0.2
	RedeliveryWindow        = 5 * time.Minute
	redeliveryMinDeliveries = 20
)

// deliveries are a queue's recent delivery and redelivery counters, one
// point per poll, oldest first, reaching just past RedeliveryWindow.
type deliveries struct {
	points []deliveryPoint
}

type deliveryPoint struct {
	t                      time.Time
	delivered, redelivered uint64
}

// add records the counters of one poll at t; a counter going back
// forgets what came before.
func (d *deliveries) add(t time.Time, c snapshot.Counters) {
	if n := len(d.points); n > 0 {
		last := d.points[n-1]
		if !t.After(last.t) {
			return
		}
		if c.Delivered < last.delivered || c.Redelivered < last.redelivered {
			d.points = d.points[:0]
		}
	}
	d.points = append(d.points, deliveryPoint{t: t, delivered: c.Delivered, redelivered: c.Redelivered})
	// Keep one point at or before the window's start.
	drop := 0
	for drop+1 < len(d.points) && !d.points[drop+1].t.After(t.Add(-RedeliveryWindow)) {
		drop++
	}
	if drop > 0 {
		d.points = append(d.points[:0], d.points[drop:]...)
	}
}

// share is the redeliveries' share of the deliveries over the window, and
// whether there were enough deliveries to tell.
func (d *deliveries) share() (float64, bool) {
	if len(d.points) < 2 {
		return 0, false
	}
	first, last := d.points[0], d.points[len(d.points)-1]
	delivered := float64(last.delivered - first.delivered)
	if delivered < redeliveryMinDeliveries {
		return 0, false
	}
	return float64(last.redelivered-first.redelivered) / delivered, true
}

// nonFIFO is why q does not deliver in arrival order, "" when it does.
func (d *deliveries) nonFIFO(q *snapshot.Queue) string {
	if q.MaxPriority > 0 {
		return NonFIFOPriority
	}
	if share, ok := d.share(); ok && share > RedeliveryLimit {
		return NonFIFORedeliveries
	}
	return ""
}
