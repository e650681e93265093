// Package deadletter knows where dead letters go: it discovers, from the
// queues' dead-letter settings and the target's bindings, which queues
// are dead-letter queues and which source queues route to them (plus the
// routes the configuration adds), and it attributes each dead-letter
// queue's inflow to the departures of its sources, for the
// dead_letter_ratio SLI.
//
// Import rule: it imports snapshot, analysis/queuehistory and
// internal/config only.
package deadletter

import (
	"slices"
	"strings"

	"github.com/warrenhq/warren/snapshot"
)

// Discover finds, for every queue with a dead-letter
// exchange, the queues that exchange routes dead letters to, following
// exchange-to-exchange bindings. Where the route depends on something
// warren cannot see (no dead-letter routing key, so dead letters keep
// their original keys; a headers exchange), every queue the exchange could
// route to counts: a possible DLQ is better shown than missed. existing
// names the queues that exist, for the default exchange.
func Discover(queues []snapshot.Queue, topo snapshot.Topology, existing map[snapshot.QueueKey]bool) []Route {
	bySource := map[snapshot.QueueKey][]snapshot.Binding{}
	for _, b := range topo.Bindings {
		k := snapshot.QueueKey{Vhost: b.Vhost, Name: b.Source}
		bySource[k] = append(bySource[k], b)
	}
	var routes []Route
	for i := range queues {
		q := &queues[i]
		if !q.HasDeadLetterExchange {
			continue
		}
		r := router{vhost: q.Vhost, topo: topo, bySource: bySource, existing: existing, seen: map[string]bool{}, found: map[string]bool{}}
		var key *string
		if q.HasDeadLetterRouting {
			key = &q.DeadLetterRoutingKey
		}
		r.route(q.DeadLetterExchange, key)
		for dlq := range r.found {
			routes = append(routes, Route{Vhost: q.Vhost, Queue: q.Name, DeadLetterQueue: dlq})
		}
	}
	return SortRoutes(routes)
}

// SortRoutes orders routes by vhost, queue, DLQ and drops duplicates.
func SortRoutes(routes []Route) []Route {
	slices.SortFunc(routes, func(a, b Route) int {
		if c := strings.Compare(a.Vhost, b.Vhost); c != 0 {
			return c
		}
		if c := strings.Compare(a.Queue, b.Queue); c != 0 {
			return c
		}
		return strings.Compare(a.DeadLetterQueue, b.DeadLetterQueue)
	})
	return slices.Compact(routes)
}

type router struct {
	vhost    string
	topo     snapshot.Topology
	bySource map[snapshot.QueueKey][]snapshot.Binding
	existing map[snapshot.QueueKey]bool
	seen     map[string]bool // exchanges visited, against binding cycles
	found    map[string]bool
}

// route collects the queues that exchange routes a message with key to;
// a nil key means "any key".
func (r *router) route(exchange string, key *string) {
	if r.seen[exchange] {
		return
	}
	r.seen[exchange] = true
	if exchange == "" {
		// The default exchange routes to the queue named by the key.
		if key != nil && r.existing[snapshot.QueueKey{Vhost: r.vhost, Name: *key}] {
			r.found[*key] = true
		}
		return
	}
	kind := r.topo.ExchangeTypes[snapshot.QueueKey{Vhost: r.vhost, Name: exchange}]
	for _, b := range r.bySource[snapshot.QueueKey{Vhost: r.vhost, Name: exchange}] {
		if key != nil && !bindingMatches(kind, b.RoutingKey, *key) {
			continue
		}
		switch b.DestinationType {
		case "queue":
			r.found[b.Destination] = true
		case "exchange":
			r.route(b.Destination, key)
		}
	}
}

// bindingMatches reports whether a binding of an exchange of the given
// type accepts a routing key. Types whose routing warren cannot evaluate
// (headers, consistent hash, plugins) match everything.
func bindingMatches(exchangeType, bindingKey, key string) bool {
	switch exchangeType {
	case "direct":
		return bindingKey == key
	case "topic":
		return topicMatches(topicWords(bindingKey), topicWords(key))
	default:
		return true
	}
}

// topicWords splits a key into words; as in RabbitMQ, the empty key has
// none (so "*" does not match it).
func topicWords(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// topicMatches implements AMQP topic matching: "*" is exactly one word,
// "#" zero or more.
func topicMatches(pattern, words []string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case "#":
			for skip := 0; skip <= len(words); skip++ {
				if topicMatches(pattern[1:], words[skip:]) {
					return true
				}
			}
			return false
		case "*":
			if len(words) == 0 {
				return false
			}
		default:
			if len(words) == 0 || words[0] != pattern[0] {
				return false
			}
		}
		pattern, words = pattern[1:], words[1:]
	}
	return len(words) == 0
}
