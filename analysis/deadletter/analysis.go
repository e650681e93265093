package deadletter

import (
	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// Route says that dead letters of Queue can reach DeadLetterQueue, both
// in Vhost.
type Route struct {
	Vhost           string
	Queue           string
	DeadLetterQueue string
}

// Routes returns the routes of a snapshot's queues, sorted: the ones
// discovery finds in its topology, and the configured ones, for source
// queues the snapshot holds.
func Routes(snap *snapshot.Snapshot, configured []config.DeadLetterRoute) []Route {
	var routes []Route
	if snap.Topology != nil {
		existing := make(map[snapshot.QueueKey]bool, len(snap.Queues)+len(snap.Topology.OtherQueues))
		for i := range snap.Queues {
			existing[snap.Queues[i].Key()] = true
		}
		for _, k := range snap.Topology.OtherQueues {
			existing[k] = true
		}
		routes = Discover(snap.Queues, *snap.Topology, existing)
	}
	if len(configured) > 0 {
		exported := make(map[snapshot.QueueKey]bool, len(snap.Queues))
		for i := range snap.Queues {
			exported[snap.Queues[i].Key()] = true
		}
		for _, r := range configured {
			if exported[snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}] {
				routes = append(routes, Route{Vhost: r.Vhost, Queue: r.Queue, DeadLetterQueue: r.DeadLetterQueue})
			}
		}
	}
	return SortRoutes(routes)
}

// Departures are a source queue's departures between two polls and how
// many of them went to a dead-letter queue.
type Departures struct {
	Departed, DeadLettered float64
}

// carry is how many polls a DLQ's inflow waits for the departures it came
// from (see Attributor).
const carry = 3

// Attributor attributes each dead-letter queue's inflow to its source
// queues, poll by poll. RabbitMQ does not say which source a dead letter
// came from, so a DLQ's inflow goes to the sources that route to it in
// proportion to their departures. The broker reports a DLQ's depth sooner
// than its sources' publish counters, so dead letters often show before
// the departures they came from: inflow that finds no departures waits,
// for at most carry polls, instead of being lost. It is not safe for
// concurrent use: the target's pipeline owns it.
type Attributor struct {
	pending map[snapshot.QueueKey]*[carry]float64
}

// NewAttributor returns an attributor with nothing pending.
func NewAttributor() *Attributor {
	return &Attributor{pending: map[snapshot.QueueKey]*[carry]float64{}}
}

// Observe returns, for every queue of snap that departed messages since
// the previous poll, its departures and the dead letters attributed to
// them. history must already hold snap.
func (a *Attributor) Observe(snap *snapshot.Snapshot, history *queuehistory.History, routes []Route) map[snapshot.QueueKey]Departures {
	out := map[snapshot.QueueKey]Departures{}
	inflow := map[snapshot.QueueKey]float64{}
	for i := range snap.Queues {
		k := snap.Queues[i].Key()
		s := history.Of(k)
		if s == nil {
			continue
		}
		c, ok := s.SincePrevious()
		if !ok {
			continue // first sight: no interval to count
		}
		// A source's departures: what arrived minus the growth of its
		// depth (acks, expiry, dead-lettering, rejects).
		out[k] = Departures{Departed: max(0, c.Published-float64(c.Messages))}
		inflow[k] = Inflow(c)
	}
	sourcesOf := map[snapshot.QueueKey][]snapshot.QueueKey{}
	for _, r := range routes {
		dlq := snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}
		sourcesOf[dlq] = append(sourcesOf[dlq], snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue})
	}
	pending := make(map[snapshot.QueueKey]*[carry]float64, len(sourcesOf))
	for dlq, sources := range sourcesOf {
		p := a.pending[dlq]
		if p == nil {
			p = new([carry]float64)
		}
		copy(p[1:], p[:carry-1]) // age; the oldest falls off
		p[0] = inflow[dlq]
		pending[dlq] = p
		a.attribute(p, sources, out)
	}
	a.pending = pending
	return out
}

// attribute hands at most the sources' departures of the pending inflow
// to them, oldest inflow first.
func (a *Attributor) attribute(p *[carry]float64, sources []snapshot.QueueKey, out map[snapshot.QueueKey]Departures) {
	var all float64
	for _, src := range sources {
		all += out[src].Departed
	}
	budget := all
	for k := carry - 1; k >= 0 && budget > 0; k-- {
		take := min(p[k], budget)
		p[k] -= take
		budget -= take
		for _, src := range sources {
			d := out[src]
			d.DeadLettered = min(d.Departed, d.DeadLettered+take*d.Departed/all)
			out[src] = d
		}
	}
}
