package collector

import (
	"slices"
	"strings"
)

// Topology is what dead-letter discovery needs to know about a vhost's
// routing: exchange types and bindings.
type Topology struct {
	// ExchangeTypes maps (vhost, exchange) to its type (direct, fanout,
	// topic, headers, or a plugin's type).
	ExchangeTypes map[QueueKey]string
	Bindings      []Binding
}

// Binding routes from an exchange to a queue or to another exchange.
type Binding struct {
	Vhost           string
	Source          string // exchange
	Destination     string
	DestinationType string // queue or exchange
	RoutingKey      string
}

// DiscoverDeadLetterRoutes finds, for every queue with a dead-letter
// exchange, the queues that exchange routes dead letters to, following
// exchange-to-exchange bindings. Where the route depends on something
// warren cannot see (no dead-letter routing key, so dead letters keep
// their original keys; a headers exchange), every queue the exchange could
// route to counts: a possible DLQ is better shown than missed. existing
// names the queues that exist, for the default exchange.
func DiscoverDeadLetterRoutes(queues []Queue, topo Topology, existing map[QueueKey]bool) []DeadLetterRoute {
	bySource := map[QueueKey][]Binding{}
	for _, b := range topo.Bindings {
		k := QueueKey{b.Vhost, b.Source}
		bySource[k] = append(bySource[k], b)
	}
	var routes []DeadLetterRoute
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
			routes = append(routes, DeadLetterRoute{Vhost: q.Vhost, Queue: q.Name, DeadLetterQueue: dlq})
		}
	}
	return SortRoutes(routes)
}

// SortRoutes orders routes by vhost, queue, DLQ and drops duplicates.
func SortRoutes(routes []DeadLetterRoute) []DeadLetterRoute {
	slices.SortFunc(routes, func(a, b DeadLetterRoute) int {
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
	topo     Topology
	bySource map[QueueKey][]Binding
	existing map[QueueKey]bool
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
		if key != nil && r.existing[QueueKey{r.vhost, *key}] {
			r.found[*key] = true
		}
		return
	}
	kind := r.topo.ExchangeTypes[QueueKey{r.vhost, exchange}]
	for _, b := range r.bySource[QueueKey{r.vhost, exchange}] {
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

// deadLetterSettings reads a queue's dead-letter exchange and routing key:
// the x-arguments win over the policy, as in RabbitMQ.
func deadLetterSettings(arguments, policy map[string]any) (exchange string, hasExchange bool, key string, hasKey bool) {
	exchange, hasExchange = stringSetting(arguments, "x-dead-letter-exchange")
	if !hasExchange {
		exchange, hasExchange = stringSetting(policy, "dead-letter-exchange")
	}
	key, hasKey = stringSetting(arguments, "x-dead-letter-routing-key")
	if !hasKey {
		key, hasKey = stringSetting(policy, "dead-letter-routing-key")
	}
	return
}

func stringSetting(m map[string]any, name string) (string, bool) {
	v, ok := m[name].(string)
	return v, ok
}
