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
	k := newClassification(queues, routes)
	k.configuredAndStreams(c) // rules 1 and 2
	k.cycleDelays()           // rule 3a
	k.namedDelays()           // rule 4, delay names
	k.deadLetters()           // rules 3b and 4, dead-letter names
	k.retryQueues()
	for key, n := range c.names {
		if n.seen != c.generation {
			delete(c.names, key)
		}
	}
	return k.out
}

// edge is a dead-letter route between two queues.
type edge struct{ from, to snapshot.QueueKey }

// classification is one Classify call's work: the queues, the
// dead-letter graph, and the roles decided so far.
type classification struct {
	queues  []snapshot.Queue
	routes  []deadletter.Route
	index   map[snapshot.QueueKey]int
	has     map[edge]bool
	into    map[snapshot.QueueKey][]snapshot.QueueKey
	names   []*byName
	decided []bool
	out     []Assigned
}

func newClassification(queues []snapshot.Queue, routes []deadletter.Route) *classification {
	k := &classification{
		queues: queues, routes: routes,
		index:   make(map[snapshot.QueueKey]int, len(queues)),
		has:     make(map[edge]bool, len(routes)),
		into:    map[snapshot.QueueKey][]snapshot.QueueKey{},
		names:   make([]*byName, len(queues)),
		decided: make([]bool, len(queues)),
		out:     make([]Assigned, len(queues)),
	}
	for i := range queues {
		k.index[queues[i].Key()] = i
	}
	for _, r := range routes {
		from, to := routeEnds(r)
		k.has[edge{from, to}] = true
		k.into[to] = append(k.into[to], from)
	}
	return k
}

func routeEnds(r deadletter.Route) (from, to snapshot.QueueKey) {
	return snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}, snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}
}

func (k *classification) hasTTL(q snapshot.QueueKey) bool {
	i, ok := k.index[q]
	return ok && k.queues[i].HasMessageTTL
}

func (k *classification) isDelay(q snapshot.QueueKey) bool {
	i, ok := k.index[q]
	return ok && k.out[i].Role == Delay
}

func (k *classification) decidedDelay(q snapshot.QueueKey) bool {
	i, ok := k.index[q]
	return ok && k.decided[i] && k.out[i].Role == Delay
}

// configuredAndStreams applies rules 1 and 2: the configuration, and the
// queue type.
func (k *classification) configuredAndStreams(c *Classifier) {
	for i := range k.queues {
		q := &k.queues[i]
		n := c.byName(q.Key())
		k.names[i] = n
		switch {
		case n.hasConfigured:
			k.out[i] = Assigned{Role: n.configured, Source: Configured}
		case q.Type == "stream":
			k.out[i] = Assigned{Role: Stream, Source: QueueType}
		default:
			continue
		}
		k.decided[i] = true
	}
}

// cycleDelays applies rule 3a: of two queues that dead-letter into each
// other, the one with a TTL (when the other has none) is the delay queue.
func (k *classification) cycleDelays() {
	for _, r := range k.routes {
		from, to := routeEnds(r)
		i, ok := k.index[from]
		if !ok || k.decided[i] || from == to || !k.has[edge{to, from}] {
			continue
		}
		if k.queues[i].HasMessageTTL && !k.hasTTL(to) {
			k.out[i], k.decided[i] = Assigned{Role: Delay, Source: Topology}, true
		}
	}
}

// sink reports whether some queue other than a delay queue dead-letters
// into to without to dead-lettering back (rule 3b).
func (k *classification) sink(to snapshot.QueueKey, delay func(snapshot.QueueKey) bool) bool {
	for _, from := range k.into[to] {
		if from != to && !delay(from) && !k.has[edge{to, from}] {
			return true
		}
	}
	return false
}

// namedDelays applies rule 4 for delay names first, on queues the graph
// does not make dead-letter queues, so that their dead letters count as
// delays.
func (k *classification) namedDelays() {
	for i := range k.queues {
		n := k.names[i]
		if !k.decided[i] && n.hasNamed && n.named == Delay && !k.sink(k.queues[i].Key(), k.decidedDelay) {
			k.out[i] = Assigned{Role: Delay, Source: Name}
		}
	}
}

// deadLetters applies rule 3b (a queue fed dead letters it does not send
// back) and rule 4 for dead-letter names.
func (k *classification) deadLetters() {
	for i := range k.queues {
		if k.decided[i] || k.out[i].Role == Delay {
			continue
		}
		switch n := k.names[i]; {
		case k.sink(k.queues[i].Key(), k.isDelay):
			k.out[i] = Assigned{Role: DeadLetter, Source: Topology}
		case n.hasNamed && n.named == DeadLetter:
			k.out[i] = Assigned{Role: DeadLetter, Source: Name}
		}
	}
}

// retryQueues lists, for every work queue, the delay queues it is in a
// cycle with: its retry queues.
func (k *classification) retryQueues() {
	for _, r := range k.routes {
		from, to := routeEnds(r)
		i, ok := k.index[from]
		j, ok2 := k.index[to]
		if ok && ok2 && from != to && k.out[i].Role == Work && k.out[j].Role == Delay && k.has[edge{to, from}] {
			k.out[i].RetryQueues = append(k.out[i].RetryQueues, to.Name)
		}
	}
}
