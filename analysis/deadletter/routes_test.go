package deadletter

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// dlqTopology builds a snapshot.Topology from exchange types keyed by (vhost,
// exchange) and a list of bindings.
func dlqTopology(types map[snapshot.QueueKey]string, bindings ...snapshot.Binding) snapshot.Topology {
	return snapshot.Topology{ExchangeTypes: types, Bindings: bindings}
}

// toQueue is a binding from exchange src to queue dst in vhost v.
func toQueue(v, src, key, dst string) snapshot.Binding {
	return snapshot.Binding{Vhost: v, Source: src, Destination: dst, DestinationType: "queue", RoutingKey: key}
}

// toExchange is a binding from exchange src to exchange dst in vhost v.
func toExchange(v, src, key, dst string) snapshot.Binding {
	return snapshot.Binding{Vhost: v, Source: src, Destination: dst, DestinationType: "exchange", RoutingKey: key}
}

// withDLX is a queue whose dead letters go to exchange dlx, with the
// dead-letter routing key key, or none if key is nil.
func withDLX(vhost, name, dlx string, key *string) snapshot.Queue {
	q := snapshot.Queue{Vhost: vhost, Name: name, DeadLetterExchange: dlx, HasDeadLetterExchange: true}
	if key != nil {
		q.DeadLetterRoutingKey, q.HasDeadLetterRouting = *key, true
	}
	return q
}

func key(s string) *string { return &s }

// discover runs Discover and fails the test instead of
// hanging if routing does not terminate.
func discover(t *testing.T, queues []snapshot.Queue, topo snapshot.Topology, existing map[snapshot.QueueKey]bool) []Route {
	t.Helper()
	done := make(chan []Route, 1)
	go func() { done <- Discover(queues, topo, existing) }()
	select {
	case routes := <-done:
		return routes
	case <-time.After(5 * time.Second):
		t.Fatal("Discover did not return: routing loops")
		return nil
	}
}

func routesString(routes []Route) string {
	s := "["
	for i, r := range routes {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s:%s→%s", r.Vhost, r.Queue, r.DeadLetterQueue)
	}
	return s + "]"
}

func assertRoutes(t *testing.T, got []Route, want ...Route) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("routes = %s, want %s", routesString(got), routesString(want))
	}
}

func route(vhost, queue, dlq string) Route {
	return Route{Vhost: vhost, Queue: queue, DeadLetterQueue: dlq}
}

func TestTopicBindingMatchesAMQPWildcards(t *testing.T) {
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.b", "a", false},
		{"a.b", "a.b.c", false},
		{"a", "ab", false},

		// "*" is exactly one word.
		{"*", "a", true},
		{"*", "a.b", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"*.b", "a.b", true},
		{"*.b", "b", false},
		{"*.*", "a", false},
		{"*.*", "a.b", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.c", false},
		{"a.*.b", "a..b", true}, // an empty word is still a word

		// "#" is zero or more words.
		{"#", "a", true},
		{"#", "a.b.c", true},
		{"#", "", true},
		{"a.#", "a", true},
		{"a.#", "a.b", true},
		{"a.#", "a.b.c", true},
		{"a.#", "b.a", false},
		{"#.c", "c", true},
		{"#.c", "a.b.c", true},
		{"#.c", "a.b.d", false},
		{"#.c", "c.d", false},
		{"a.#.c", "a.c", true},
		{"a.#.c", "a.b.c", true},
		{"a.#.c", "a.b.b.c", true},
		{"a.#.c", "a.b.b.d", false},
		{"#.#", "a", true},
		{"#.b.#", "b", true},
		{"#.b.#", "a.b.c", true},
		{"#.b.#", "a.c", false},
		{"a.*.#", "a", false},
		{"a.*.#", "a.b", true},
		{"a.*.#", "a.b.c.d", true},
		{"#.*", "a", true},
		{"#.*", "a.b", true},

		// Empty binding and routing keys.
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q~%q", tt.pattern, tt.key), func(t *testing.T) {
			if got := bindingMatches("topic", tt.pattern, tt.key); got != tt.want {
				t.Errorf("topic binding %q matches routing key %q = %v, want %v", tt.pattern, tt.key, got, tt.want)
			}
		})
	}
}

// RabbitMQ splits the empty routing key into zero words
// (rabbit_db_topic_exchange:split_topic_key_binary(<<>>) -> []), so "*",
// which needs exactly one word, never matches it, and neither does any
// pattern that needs a "*" word.
func TestTopicEmptyRoutingKeyHasNoWords(t *testing.T) {
	for _, pattern := range []string{"*", "#.*", "*.#", "#.*.#"} {
		if bindingMatches("topic", pattern, "") {
			t.Errorf("topic binding %q matches the empty routing key; RabbitMQ does not route it", pattern)
		}
	}
	for _, pattern := range []string{"#", "#.#", ""} {
		if !bindingMatches("topic", pattern, "") {
			t.Errorf("topic binding %q does not match the empty routing key; RabbitMQ routes it", pattern)
		}
	}
}

func TestDirectBindingMatchesExactKeyOnly(t *testing.T) {
	tests := []struct {
		binding, key string
		want         bool
	}{
		{"dead", "dead", true},
		{"dead", "Dead", false},
		{"dead", "dead.letter", false},
		{"", "", true},
		{"", "dead", false},
		{"*", "dead", false}, // no wildcards on direct exchanges
		{"#", "dead", false},
	}
	for _, tt := range tests {
		if got := bindingMatches("direct", tt.binding, tt.key); got != tt.want {
			t.Errorf("direct binding %q matches %q = %v, want %v", tt.binding, tt.key, got, tt.want)
		}
	}
}

func TestBindingOfUnevaluableExchangeTypeMatchesEveryKey(t *testing.T) {
	for _, typ := range []string{"fanout", "headers", "x-consistent-hash", "x-delayed-message", ""} {
		for _, pair := range [][2]string{{"a", "b"}, {"", "x"}, {"a.b", "c"}} {
			if !bindingMatches(typ, pair[0], pair[1]) {
				t.Errorf("%q exchange: binding %q does not match %q; want every key to match", typ, pair[0], pair[1])
			}
		}
	}
}

func TestRoutesByExchangeType(t *testing.T) {
	const v = "/"
	// Exchange "dlx" of each type, bound to queues with several keys.
	bindings := []snapshot.Binding{
		toQueue(v, "dlx", "dead", "dlq-dead"),
		toQueue(v, "dlx", "other", "dlq-other"),
		toQueue(v, "dlx", "dead.*", "dlq-dead-star"),
		toQueue(v, "dlx", "#", "dlq-hash"),
	}
	all := []string{"dlq-dead", "dlq-dead-star", "dlq-hash", "dlq-other"}
	tests := []struct {
		name string
		typ  string
		key  *string
		want []string
	}{
		{"direct routes by exact key", "direct", key("dead"), []string{"dlq-dead"}},
		{"direct with a key no binding has routes nowhere", "direct", key("nobody"), nil},
		{"direct without a dead-letter key counts every binding", "direct", nil, all},
		{"topic routes by pattern", "topic", key("dead.x"), []string{"dlq-dead-star", "dlq-hash"}},
		{"topic exact word", "topic", key("dead"), []string{"dlq-dead", "dlq-hash"}},
		{"topic without a dead-letter key counts every binding", "topic", nil, all},
		{"fanout routes to every binding whatever the key", "fanout", key("nobody"), all},
		{"headers counts every binding", "headers", key("nobody"), all},
		{"plugin type counts every binding", "x-consistent-hash", key("nobody"), all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: v, Name: "dlx"}: tt.typ}, bindings...)
			got := discover(t, []snapshot.Queue{withDLX(v, "work", "dlx", tt.key)}, topo, nil)
			var want []Route
			for _, dlq := range tt.want {
				want = append(want, route(v, "work", dlq))
			}
			assertRoutes(t, got, want...)
		})
	}
}

func TestDeadLetterExchangeOfUnknownTypeCountsEveryBinding(t *testing.T) {
	// The exchange is missing from ExchangeTypes (deleted between the
	// listings, say): its routing cannot be evaluated.
	topo := dlqTopology(nil, toQueue("/", "dlx", "a", "q1"), toQueue("/", "dlx", "b", "q2"))
	got := discover(t, []snapshot.Queue{withDLX("/", "work", "dlx", key("zzz"))}, topo, nil)
	assertRoutes(t, got, route("/", "work", "q1"), route("/", "work", "q2"))
}

func TestRoutesFollowExchangeToExchangeBindings(t *testing.T) {
	const v = "/"
	topo := dlqTopology(map[snapshot.QueueKey]string{
		{Vhost: v, Name: "dlx"}:    "direct",
		{Vhost: v, Name: "topics"}: "topic",
		{Vhost: v, Name: "fan"}:    "fanout",
	},
		toExchange(v, "dlx", "failed.orders", "topics"),
		toExchange(v, "dlx", "other", "fan"),
		toQueue(v, "topics", "failed.*", "failed-all"),
		toQueue(v, "topics", "*.payments", "failed-payments"),
		toQueue(v, "fan", "", "fanned"),
	)
	t.Run("key applies at every hop", func(t *testing.T) {
		got := discover(t, []snapshot.Queue{withDLX(v, "orders", "dlx", key("failed.orders"))}, topo, nil)
		assertRoutes(t, got, route(v, "orders", "failed-all"))
	})
	t.Run("no key reaches everything downstream", func(t *testing.T) {
		got := discover(t, []snapshot.Queue{withDLX(v, "orders", "dlx", nil)}, topo, nil)
		assertRoutes(t, got,
			route(v, "orders", "failed-all"),
			route(v, "orders", "failed-payments"),
			route(v, "orders", "fanned"))
	})
}

func TestDeadLetterRoutingTerminatesOnExchangeBindingCycles(t *testing.T) {
	const v = "/"
	tests := []struct {
		name string
		topo snapshot.Topology
		want []string
	}{
		{
			name: "two exchanges bound to each other",
			topo: dlqTopology(map[snapshot.QueueKey]string{{Vhost: v, Name: "a"}: "fanout", {Vhost: v, Name: "b"}: "fanout"},
				toExchange(v, "a", "", "b"),
				toExchange(v, "b", "", "a"),
				toQueue(v, "b", "", "dlq")),
			want: []string{"dlq"},
		},
		{
			name: "exchange bound to itself",
			topo: dlqTopology(map[snapshot.QueueKey]string{{Vhost: v, Name: "a"}: "topic"},
				toExchange(v, "a", "#", "a"),
				toQueue(v, "a", "#", "dlq")),
			want: []string{"dlq"},
		},
		{
			name: "three-exchange ring",
			topo: dlqTopology(map[snapshot.QueueKey]string{{Vhost: v, Name: "a"}: "direct", {Vhost: v, Name: "b"}: "direct", {Vhost: v, Name: "c"}: "direct"},
				toExchange(v, "a", "k", "b"),
				toExchange(v, "b", "k", "c"),
				toExchange(v, "c", "k", "a"),
				toQueue(v, "c", "k", "dlq")),
			want: []string{"dlq"},
		},
		{
			name: "diamond reaches the shared queue once",
			topo: dlqTopology(map[snapshot.QueueKey]string{{Vhost: v, Name: "a"}: "fanout", {Vhost: v, Name: "b"}: "fanout", {Vhost: v, Name: "c"}: "fanout", {Vhost: v, Name: "d"}: "fanout"},
				toExchange(v, "a", "", "b"),
				toExchange(v, "a", "", "c"),
				toExchange(v, "b", "", "d"),
				toExchange(v, "c", "", "d"),
				toQueue(v, "d", "", "dlq")),
			want: []string{"dlq"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := discover(t, []snapshot.Queue{withDLX(v, "work", "a", key("k"))}, tt.topo, nil)
			var want []Route
			for _, dlq := range tt.want {
				want = append(want, route(v, "work", dlq))
			}
			assertRoutes(t, got, want...)
		})
	}
}

func TestDeadLetterToDefaultExchangeRoutesToQueueNamedByKey(t *testing.T) {
	existing := map[snapshot.QueueKey]bool{{Vhost: "/", Name: "work"}: true, {Vhost: "/", Name: "work.dlq"}: true, {Vhost: "other", Name: "only-there"}: true}
	tests := []struct {
		name string
		q    snapshot.Queue
		want []Route
	}{
		{"key names an existing queue", withDLX("/", "work", "", key("work.dlq")), []Route{route("/", "work", "work.dlq")}},
		{"key names no queue", withDLX("/", "work", "", key("missing")), nil},
		{"key names a queue of another vhost", withDLX("/", "work", "", key("only-there")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Bindings from the default exchange, as the management
			// API lists them, must not change the answer.
			topo := dlqTopology(nil, toQueue("/", "", "work", "work"), toQueue("/", "", "work.dlq", "work.dlq"))
			got := discover(t, []snapshot.Queue{tt.q}, topo, existing)
			assertRoutes(t, got, tt.want...)
		})
	}
}

func TestRoutesStayWithinTheirVhost(t *testing.T) {
	// Same exchange and queue names in two vhosts, with different types
	// and bindings.
	topo := dlqTopology(map[snapshot.QueueKey]string{
		{Vhost: "a", Name: "dlx"}: "direct",
		{Vhost: "b", Name: "dlx"}: "fanout",
	},
		toQueue("a", "dlx", "dead", "dlq-a"),
		toQueue("a", "dlx", "other", "other-a"),
		toQueue("b", "dlx", "x", "dlq-b1"),
		toQueue("b", "dlx", "y", "dlq-b2"),
		toExchange("b", "dlx", "", "only-in-b"),
		toQueue("b", "only-in-b", "", "deep-b"),
		// Same name as the exchange "only-in-b" of vhost b; must not
		// be reached from vhost a.
		toQueue("c", "only-in-b", "", "deep-c"),
	)
	queues := []snapshot.Queue{
		withDLX("a", "work", "dlx", key("dead")),
		withDLX("b", "work", "dlx", key("dead")),
	}
	got := discover(t, queues, topo, nil)
	assertRoutes(t, got,
		route("a", "work", "dlq-a"),
		route("b", "work", "deep-b"),
		route("b", "work", "dlq-b1"),
		route("b", "work", "dlq-b2"),
	)
}

func TestDeadLetterExchangeMissingFromVhostRoutesNowhere(t *testing.T) {
	// "dlx" exists only in vhost a; a queue of vhost b naming it finds
	// nothing.
	topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: "a", Name: "dlx"}: "fanout"}, toQueue("a", "dlx", "", "dlq"))
	got := discover(t, []snapshot.Queue{withDLX("b", "work", "dlx", nil)}, topo, nil)
	assertRoutes(t, got)
}

func TestQueueWithoutDeadLetterExchangeHasNoRoutes(t *testing.T) {
	topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: "/", Name: "dlx"}: "fanout"}, toQueue("/", "dlx", "", "dlq"))
	queues := []snapshot.Queue{
		{Vhost: "/", Name: "plain"},
		// A name without HasDeadLetterExchange is not a setting.
		{Vhost: "/", Name: "stale", DeadLetterExchange: "dlx"},
	}
	got := discover(t, queues, topo, map[snapshot.QueueKey]bool{{Vhost: "/", Name: "dlq"}: true})
	assertRoutes(t, got)
}

func TestDeadLetterRoutingKeyWithoutFlagMeansNoKey(t *testing.T) {
	topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: "/", Name: "dlx"}: "direct"},
		toQueue("/", "dlx", "dead", "dlq1"), toQueue("/", "dlx", "other", "dlq2"))
	q := snapshot.Queue{Vhost: "/", Name: "work", DeadLetterExchange: "dlx", HasDeadLetterExchange: true, DeadLetterRoutingKey: "dead"}
	got := discover(t, []snapshot.Queue{q}, topo, nil)
	assertRoutes(t, got, route("/", "work", "dlq1"), route("/", "work", "dlq2"))
}

func TestRoutesIgnoreUnknownDestinationTypes(t *testing.T) {
	topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: "/", Name: "dlx"}: "fanout"},
		snapshot.Binding{Vhost: "/", Source: "dlx", Destination: "s", DestinationType: "stream?", RoutingKey: ""},
		toQueue("/", "dlx", "", "dlq"))
	got := discover(t, []snapshot.Queue{withDLX("/", "work", "dlx", nil)}, topo, nil)
	assertRoutes(t, got, route("/", "work", "dlq"))
}

func TestRoutesAreSortedAcrossQueues(t *testing.T) {
	topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: "/", Name: "dlx"}: "fanout", {Vhost: "b", Name: "dlx"}: "fanout"},
		toQueue("/", "dlx", "", "z-dlq"),
		toQueue("/", "dlx", "", "a-dlq"),
		toQueue("b", "dlx", "", "dlq"))
	queues := []snapshot.Queue{
		withDLX("b", "m", "dlx", nil),
		withDLX("/", "z", "dlx", nil),
		withDLX("/", "a", "dlx", nil),
	}
	got := discover(t, queues, topo, nil)
	assertRoutes(t, got,
		route("/", "a", "a-dlq"),
		route("/", "a", "z-dlq"),
		route("/", "z", "a-dlq"),
		route("/", "z", "z-dlq"),
		route("b", "m", "dlq"),
	)
}

// The same queue listed twice yields each route once, and nothing else:
// Discover sorts its routes with SortRoutes, which also
// de-duplicates, but only in the slice it returns.
func TestRoutesHaveNoDuplicates(t *testing.T) {
	topo := dlqTopology(map[snapshot.QueueKey]string{{Vhost: "/", Name: "dlx"}: "fanout"},
		toQueue("/", "dlx", "a", "dlq"),
		toQueue("/", "dlx", "b", "dlq"))
	q := withDLX("/", "work", "dlx", nil)
	got := discover(t, []snapshot.Queue{q, q}, topo, nil)
	assertRoutes(t, got, route("/", "work", "dlq"))
}

func TestSortRoutesOrdersByVhostQueueDLQAndDropsDuplicates(t *testing.T) {
	tests := []struct {
		name string
		in   []Route
		want []Route
	}{
		{"nil", nil, nil},
		{"single", []Route{route("/", "q", "d")}, []Route{route("/", "q", "d")}},
		{
			"orders by vhost, then queue, then DLQ",
			[]Route{
				route("b", "a", "a"),
				route("a", "b", "a"),
				route("a", "a", "b"),
				route("a", "a", "a"),
			},
			[]Route{
				route("a", "a", "a"),
				route("a", "a", "b"),
				route("a", "b", "a"),
				route("b", "a", "a"),
			},
		},
		{
			"drops duplicates wherever they are",
			[]Route{
				route("/", "q", "d"),
				route("v", "q", "d"),
				route("/", "q", "d"),
				route("/", "q", "e"),
				route("/", "q", "d"),
			},
			[]Route{
				route("/", "q", "d"),
				route("/", "q", "e"),
				route("v", "q", "d"),
			},
		},
		{
			"same names in two vhosts are distinct",
			[]Route{route("y", "q", "d"), route("x", "q", "d")},
			[]Route{route("x", "q", "d"), route("y", "q", "d")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SortRoutes(slices.Clone(tt.in))
			assertRoutes(t, got, tt.want...)
		})
	}
}
