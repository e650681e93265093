package promplugin

import "math"

// cumulative keeps warren's own cumulative counters, per queue (and per
// vhost for the unroutable ones), from counter series that come and go.
//
// Before RabbitMQ 4.0 the plugin counts deliveries, acks and publishes
// per channel and queue, and a channel's series vanish when the channel
// closes (the broker's metrics garbage collector removes them, by default
// within two minutes). Summing the series would make a queue's counters
// drop whenever a consumer or publisher goes away. Instead each poll adds
// every series' increment since the previous poll to its queue's total:
// the whole value for a series not seen before (it was created since, or
// warren just started), the difference for one seen before, and the whole
// value again for one that went down (its channel's pid was reused, or
// its node restarted). A series that is gone leaves its contribution in
// the total and is forgotten, so the state is the live series and one
// total per watched queue. What is lost is a closed channel's increments
// between the last poll that saw its series and its series vanishing.
//
// The per-queue series of 4.0 and later (no channel label) go through the
// same sums: they then never go backwards either, across node restarts
// included.
type cumulative struct {
	last   map[seriesKey]float64
	seen   map[seriesKey]bool
	totals map[totalKey]*[counterKinds]float64
}

// seriesKey identifies one counter series: its endpoint (channel pids are
// local to a node, so two nodes may report the same one), its channel
// ("" for per-queue series), the queue (or, for unroutable counters, only
// the vhost) and exchange it counts, and what it counts.
type seriesKey struct {
	endpoint, channel string
	vhost, queue      string
	exchange          string
	kind              counterKind
}

// totalKey is what a total counts for: a queue, or a vhost (queue "").
type totalKey struct{ vhost, queue string }

func newCumulative() *cumulative {
	return &cumulative{last: map[seriesKey]float64{}, totals: map[totalKey]*[counterKinds]float64{}}
}

// begin starts a poll.
func (c *cumulative) begin() { c.seen = map[seriesKey]bool{} }

// add takes one series' value in the poll begun last.
func (c *cumulative) add(k seriesKey, v float64) {
	if math.IsNaN(v) || v < 0 {
		return
	}
	inc := v
	if prev, ok := c.last[k]; ok && v >= prev {
		inc = v - prev
	}
	c.last[k], c.seen[k] = v, true
	t := totalKey{k.vhost, k.queue}
	sums := c.totals[t]
	if sums == nil {
		sums = new([counterKinds]float64)
		c.totals[t] = sums
	}
	sums[k.kind] += inc
}

// end finishes a poll that succeeded: the series it did not see are
// forgotten, except those of the endpoints in kept (not read this poll,
// whose series may still be alive), and the totals keep reports false for
// (queues deleted or no longer watched) too. A failed poll does not call
// end, so no series is forgotten for not having been read.
func (c *cumulative) end(kept map[string]bool, keep func(totalKey) bool) {
	for k := range c.last {
		if !c.seen[k] && !kept[k.endpoint] {
			delete(c.last, k)
		}
	}
	for t := range c.totals {
		if !keep(t) {
			delete(c.totals, t)
		}
	}
	c.seen = nil
}

// total returns the sums of t; the zero array when nothing was counted.
func (c *cumulative) total(t totalKey) [counterKinds]float64 {
	if sums := c.totals[t]; sums != nil {
		return *sums
	}
	return [counterKinds]float64{}
}
