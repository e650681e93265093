package queuerole

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

func queue(name string) snapshot.Queue {
	return snapshot.Queue{Vhost: "/", Name: name, Type: "classic"}
}

func withTTL(q snapshot.Queue, ttl time.Duration) snapshot.Queue {
	q.MessageTTL, q.HasMessageTTL = ttl, true
	return q
}

func route(from, to string) deadletter.Route {
	return deadletter.Route{Vhost: "/", Queue: from, DeadLetterQueue: to}
}

// roles classifies and returns name → role/source, and the retry queues.
func roles(t *testing.T, cfg config.Target, queues []snapshot.Queue, routes ...deadletter.Route) map[string]Assigned {
	t.Helper()
	got := New(cfg).Classify(queues, deadletter.SortRoutes(routes))
	out := map[string]Assigned{}
	for i, a := range got {
		out[queues[i].Name] = a
	}
	return out
}

func want(t *testing.T, got map[string]Assigned, name string, role Role, source Source) {
	t.Helper()
	if a := got[name]; a.Role != role || a.Source != source {
		t.Errorf("%s: role %s from %s, want %s from %s", name, a.Role, a.Source, role, source)
	}
}

// The retry topology of issue 11: billing.worker dead-letters into
// billing.worker.retry (TTL 5s), which dead-letters back; a parking lot
// fed by the application; email dead-letters into email.dlq.
func retryTopology() ([]snapshot.Queue, []deadletter.Route) {
	return []snapshot.Queue{
			queue("billing.parking-lot"),
			queue("billing.worker"),
			withTTL(queue("billing.worker.retry"), 5*time.Second),
			queue("email"),
			queue("email.dlq"),
		}, []deadletter.Route{
			route("billing.worker", "billing.worker.retry"),
			route("billing.worker.retry", "billing.worker"),
			route("email", "email.dlq"),
		}
}

func TestTheRetryTopologyHasAWorkQueueItsDelayQueueAndTwoDeadLetterQueues(t *testing.T) {
	queues, routes := retryTopology()
	got := roles(t, config.Target{}, queues, routes...)
	want(t, got, "billing.worker", Work, Default)
	want(t, got, "billing.worker.retry", Delay, Topology)
	want(t, got, "billing.parking-lot", DeadLetter, Name)
	want(t, got, "email", Work, Default)
	want(t, got, "email.dlq", DeadLetter, Topology)
	if r := got["billing.worker"].RetryQueues; len(r) != 1 || r[0] != "billing.worker.retry" {
		t.Errorf("billing.worker's retry queues = %v, want [billing.worker.retry]", r)
	}
	for _, name := range []string{"billing.worker.retry", "email", "email.dlq", "billing.parking-lot"} {
		if r := got[name].RetryQueues; len(r) != 0 {
			t.Errorf("%s has retry queues %v, want none", name, r)
		}
	}
}

func TestAWorkQueueFedByItsDelayQueueIsNotADeadLetterQueueEvenWithoutNames(t *testing.T) {
	got := roles(t, config.Target{},
		[]snapshot.Queue{queue("a"), withTTL(queue("b"), time.Second)},
		route("a", "b"), route("b", "a"))
	want(t, got, "a", Work, Default)
	want(t, got, "b", Delay, Topology)
}

func TestACycleWithoutATTLIsDecidedByNamesAndNeverMakesDeadLetterQueues(t *testing.T) {
	// Per-message TTLs are invisible: only the name tells the delay queue.
	got := roles(t, config.Target{},
		[]snapshot.Queue{queue("orders"), queue("orders.retry")},
		route("orders", "orders.retry"), route("orders.retry", "orders"))
	want(t, got, "orders", Work, Default)
	want(t, got, "orders.retry", Delay, Name)
	// Neither name says anything: both stay work queues, never DLQs
	// (which would silence a dead consumer's page).
	got = roles(t, config.Target{},
		[]snapshot.Queue{queue("p"), queue("q")},
		route("p", "q"), route("q", "p"))
	want(t, got, "p", Work, Default)
	want(t, got, "q", Work, Default)
}

func TestACycleWhereBothHaveATTLIsDecidedByNames(t *testing.T) {
	got := roles(t, config.Target{},
		[]snapshot.Queue{withTTL(queue("jobs"), time.Hour), withTTL(queue("jobs.delay"), time.Minute)},
		route("jobs", "jobs.delay"), route("jobs.delay", "jobs"))
	want(t, got, "jobs", Work, Default)
	want(t, got, "jobs.delay", Delay, Name)
}

func TestATTLdWorkQueueExpiringIntoADLQIsStillWork(t *testing.T) {
	got := roles(t, config.Target{},
		[]snapshot.Queue{withTTL(queue("email"), time.Hour), queue("email.expired")},
		route("email", "email.expired"))
	want(t, got, "email", Work, Default)
	want(t, got, "email.expired", DeadLetter, Topology)
}

func TestADelayQueueFedByPublishersIsADelayByNameAndItsTargetStaysWork(t *testing.T) {
	// The delayed-message pattern: publishers publish to reminders.wait
	// (TTL), which dead-letters into reminders; no cycle.
	got := roles(t, config.Target{},
		[]snapshot.Queue{queue("reminders"), withTTL(queue("reminders.wait"), time.Minute)},
		route("reminders.wait", "reminders"))
	want(t, got, "reminders.wait", Delay, Name)
	want(t, got, "reminders", Work, Default)
	if r := got["reminders"].RetryQueues; len(r) != 0 {
		t.Errorf("a delayed delivery is not a retry: retry queues %v", r)
	}
}

func TestTheGraphWinsOverTheName(t *testing.T) {
	// Named like a retry queue, but an end of the line: nothing goes back.
	got := roles(t, config.Target{},
		[]snapshot.Queue{queue("a"), queue("a.retry")},
		route("a", "a.retry"))
	want(t, got, "a.retry", DeadLetter, Topology)
}

func TestStreamsAreStreamsWhateverTheirName(t *testing.T) {
	s := queue("audit.dlq")
	s.Type = "stream"
	got := roles(t, config.Target{}, []snapshot.Queue{s})
	want(t, got, "audit.dlq", Stream, QueueType)
}

func TestConfiguredRolesOverrideEverything(t *testing.T) {
	re := func(s string) *config.Regexp {
		r, err := config.NewRegexp(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	s := queue("log")
	s.Type = "stream"
	cfg := config.Target{QueueRoles: []config.QueueRoleRule{
		{Queue: re("billing\\.worker\\.retry"), Role: config.RoleWork},
		{Queue: re("email\\..*"), Role: config.RoleDelay},
		{Vhost: re("/"), Queue: re("log"), Role: config.RoleWork},
		{Queue: re("email\\..*"), Role: config.RoleDeadLetter}, // the first match wins
	}}
	queues, routes := retryTopology()
	got := roles(t, cfg, append(queues, s), routes...)
	want(t, got, "billing.worker.retry", Work, Configured)
	want(t, got, "email.dlq", Delay, Configured)
	want(t, got, "log", Work, Configured)
	want(t, got, "billing.worker", Work, Default)
}

func TestNameListsAreConfigurable(t *testing.T) {
	re, _ := config.NewRegexp(".*\\.graveyard")
	cfg := config.Target{QueueRoleNames: config.QueueRoleNames{DeadLetter: []*config.Regexp{re}, Delay: []*config.Regexp{}}}
	got := roles(t, cfg, []snapshot.Queue{queue("x.graveyard"), queue("x.dlq"), queue("x.retry")})
	want(t, got, "x.graveyard", DeadLetter, Name)
	want(t, got, "x.dlq", Work, Default)
	want(t, got, "x.retry", Work, Default)
}

func TestDefaultNames(t *testing.T) {
	for name, role := range map[string]Role{
		"orders.dlq": DeadLetter, "orders-dlq": DeadLetter, "orders.dead-letter": DeadLetter, "orders_deadletters": DeadLetter,
		"billing.parking-lot": DeadLetter, "parking-lot": DeadLetter, "orders.parking": DeadLetter, "parkinglot.billing": DeadLetter,
		"orders.retry": Delay, "orders.retry.30s": Delay, "orders-delay": Delay, "orders.wait.5": Delay,
		"orders": Work, "retry": Work, "orders.retry.handler": Work, "dlq.consumer.events": Work, "parking.spots": Work,
	} {
		got := roles(t, config.Target{}, []snapshot.Queue{queue(name)})
		if got[name].Role != role {
			t.Errorf("%q: %s, want %s", name, got[name].Role, role)
		}
	}
}

func TestRolesStayWithinTheirVhost(t *testing.T) {
	a := withTTL(queue("r"), time.Second)
	b := queue("w")
	b.Vhost = "other"
	got := New(config.Target{}).Classify([]snapshot.Queue{a, b}, []deadletter.Route{
		{Vhost: "/", Queue: "r", DeadLetterQueue: "w"}, {Vhost: "other", Queue: "w", DeadLetterQueue: "r"},
	})
	if got[0].Role != Work || got[1].Role != Work {
		t.Errorf("routes of two vhosts made a cycle: %s, %s", got[0].Role, got[1].Role)
	}
}

func TestTheNameCacheForgetsDeletedQueues(t *testing.T) {
	c := New(config.Target{})
	c.Classify([]snapshot.Queue{queue("a.dlq"), queue("b")}, nil)
	c.Classify([]snapshot.Queue{queue("b")}, nil)
	if len(c.names) != 1 {
		t.Errorf("cache holds %d names, want 1", len(c.names))
	}
}
