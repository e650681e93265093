package queuerole

import (
	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// byName is what the configuration and the name lists say of one queue
// name: they depend on the name alone, so they are matched once per queue,
// not once per poll.
type byName struct {
	configured, named Role
	hasConfigured     bool
	hasNamed          bool
	seen              uint64 // the generation of the last poll that held the queue
}

// Classifier assigns roles, poll by poll. It is not safe for concurrent
// use: the target's pipeline owns it.
type Classifier struct {
	rules      []config.QueueRoleRule
	delayNames []*config.Regexp
	deadNames  []*config.Regexp
	names      map[snapshot.QueueKey]*byName
	generation uint64
}

// New returns the classifier of a target's configuration.
func New(t config.Target) *Classifier {
	return &Classifier{
		rules:      t.QueueRoles,
		delayNames: t.QueueRoleNames.DelayNames(),
		deadNames:  t.QueueRoleNames.DeadLetterNames(),
		names:      map[snapshot.QueueKey]*byName{},
	}
}

func (c *Classifier) byName(k snapshot.QueueKey) *byName {
	n := c.names[k]
	if n == nil {
		n = &byName{}
		for _, r := range c.rules {
			if r.Match(k.Vhost, k.Name) {
				n.configured, n.hasConfigured = parse(r.Role)
				break
			}
		}
		switch {
		case matchesAny(c.delayNames, k.Name):
			n.named, n.hasNamed = Delay, true
		case matchesAny(c.deadNames, k.Name):
			n.named, n.hasNamed = DeadLetter, true
		}
		c.names[k] = n
	}
	n.seen = c.generation
	return n
}

func matchesAny(res []*config.Regexp, name string) bool {
	for _, re := range res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// Classify returns the role of every queue, parallel to queues. routes
// are the snapshot's dead-letter routes (deadletter.Routes).
func (c *Classifier) Classify(queues []snapshot.Queue, routes []deadletter.Route) []Assigned {
	c.generation++
	out := make([]Assigned, len(queues))
	index := make(map[snapshot.QueueKey]int, len(queues))
	for i := range queues {
		index[queues[i].Key()] = i
	}
	type edge struct{ from, to snapshot.QueueKey }
	has := make(map[edge]bool, len(routes))
	into := map[snapshot.QueueKey][]snapshot.QueueKey{}
	for _, r := range routes {
		from, to := snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}, snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}
		has[edge{from, to}] = true
		into[to] = append(into[to], from)
	}
	hasTTL := func(k snapshot.QueueKey) bool {
		i, ok := index[k]
		return ok && queues[i].HasMessageTTL
	}
	names := make([]*byName, len(queues))
	decided := make([]bool, len(queues))
	// Rules 1 to 3a: configuration, queue type, delay queues of a cycle.
	for i := range queues {
		q := &queues[i]
		k := q.Key()
		n := c.byName(k)
		names[i] = n
		switch {
		case n.hasConfigured:
			out[i] = Assigned{Role: n.configured, Source: Configured}
		case q.Type == "stream":
			out[i] = Assigned{Role: Stream, Source: QueueType}
		default:
			continue
		}
		decided[i] = true
	}
	for _, r := range routes {
		from := snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}
		to := snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}
		i, ok := index[from]
		if !ok || decided[i] || from == to || !has[edge{to, from}] {
			continue
		}
		if queues[i].HasMessageTTL && !hasTTL(to) {
			out[i], decided[i] = Assigned{Role: Delay, Source: Topology}, true
		}
	}
	isDelay := func(k snapshot.QueueKey) bool {
		i, ok := index[k]
		return ok && out[i].Role == Delay
	}
	// sink reports whether some queue other than a delay queue
	// dead-letters into queue i without i dead-lettering back (rule 3b).
	sink := func(to snapshot.QueueKey, delay func(snapshot.QueueKey) bool) bool {
		for _, from := range into[to] {
			if from != to && !delay(from) && !has[edge{to, from}] {
				return true
			}
		}
		return false
	}
	// Rule 4 for delay names first, on queues the graph does not make
	// dead-letter queues, so that their dead letters count as delays.
	decidedDelay := func(k snapshot.QueueKey) bool {
		i, ok := index[k]
		return ok && decided[i] && out[i].Role == Delay
	}
	for i := range queues {
		if !decided[i] && names[i].hasNamed && names[i].named == Delay && !sink(queues[i].Key(), decidedDelay) {
			out[i] = Assigned{Role: Delay, Source: Name}
		}
	}
	for i := range queues {
		if decided[i] || out[i].Role == Delay {
			continue
		}
		switch {
		case sink(queues[i].Key(), isDelay):
			out[i] = Assigned{Role: DeadLetter, Source: Topology}
		case names[i].hasNamed && names[i].named == DeadLetter:
			out[i] = Assigned{Role: DeadLetter, Source: Name}
		}
	}
	// Retry queues: a work queue's delay partners of a cycle.
	for _, r := range routes {
		from := snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}
		to := snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}
		i, ok := index[from]
		j, ok2 := index[to]
		if ok && ok2 && from != to && out[i].Role == Work && out[j].Role == Delay && has[edge{to, from}] {
			out[i].RetryQueues = append(out[i].RetryQueues, to.Name)
		}
	}
	for k, n := range c.names {
		if n.seen != c.generation {
			delete(c.names, k)
		}
	}
	return out
}
