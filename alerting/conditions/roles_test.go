package conditions

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// immediate makes every queue alert fire on its first evaluation.
func immediate() config.HealthAlertsConfig {
	zero := config.Duration(time.Nanosecond)
	out := config.HealthAlertsConfig{}
	for _, r := range catalog.HealthRules {
		out[r.Name] = config.HealthAlert{For: zero}
	}
	return out
}

// retryTopology is issue 11's: billing.worker dead-letters into
// billing.worker.retry (TTL 5s), which dead-letters back; a parking lot
// the application publishes into; email dead-letters into email.dlq.
// Routes are configured, as discovery would find them.
func retryTopology(f *fakeTarget) {
	f.routes = []config.DeadLetterRoute{
		{Vhost: "/", Queue: "billing.worker", DeadLetterQueue: "billing.worker.retry"},
		{Vhost: "/", Queue: "billing.worker.retry", DeadLetterQueue: "billing.worker"},
		{Vhost: "/", Queue: "email", DeadLetterQueue: "email.dlq"},
	}
}

func delayQueue(name string, ready int64, headAge time.Duration, at time.Time) snapshot.Queue {
	q := queue(name, consumerstatus.OK, ready, snapshot.Counters{})
	q.MessageTTL, q.HasMessageTTL = 5*time.Second, true
	if headAge > 0 {
		q.HeadTimestamp = at.Add(-headAge)
	}
	return q
}

func firing(t *testing.T, e *Evaluator, at time.Time) []string {
	t.Helper()
	e.Evaluate(at)
	got := names(e.Evaluate(at.Add(time.Millisecond)))
	slices.Sort(got)
	return got
}

func TestTheRetryTopologyPagesOnlyForItsWorkQueue(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	retryTopology(f)
	e, _ := evaluator(t, f, immediate())
	// Nobody consumes anything: a backlog everywhere, old messages.
	observe := func(at time.Time, parked uint64) []string {
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("billing.parking-lot", consumerstatus.NoConsumers, int64(parked), snapshot.Counters{Published: parked}),
			queue("billing.worker", consumerstatus.NoConsumers, 100, snapshot.Counters{Published: 100}),
			delayQueue("billing.worker.retry", 10, 4*time.Second, at),
			queue("email", consumerstatus.NoConsumers, 5, snapshot.Counters{Published: 5}),
			queue("email.dlq", consumerstatus.NoConsumers, 3, snapshot.Counters{}),
		}}
		f.observe()
		return firing(t, e, at)
	}
	observe(t0, 0)
	got := observe(t0.Add(time.Minute), 4)
	want := []string{
		catalog.DeadLetterInflow + "/billing.parking-lot",
		catalog.QueueNoConsumers + "/billing.worker",
		catalog.QueueNoConsumers + "/email",
	}
	if !slices.Equal(got, want) {
		t.Errorf("firing %v, want %v: no page for the delay queue and the dead-letter queues, the parking lot's publishes are dead-letter inflow", got, want)
	}
}

func TestADelayQueueWhoseMessagesOutliveTwiceItsTTLIsNotExpiring(t *testing.T) {
	// The delayed-delivery pattern: the application publishes into a TTL'd
	// queue whose dead letters go on to the work queue.
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	f.routes = []config.DeadLetterRoute{{Vhost: "/", Queue: "orders.delay", DeadLetterQueue: "orders"}}
	e, _ := evaluator(t, f, immediate())
	observe := func(at time.Time, age time.Duration) []string {
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("orders", consumerstatus.OK, 0, snapshot.Counters{}),
			delayQueue("orders.delay", 10, age, at),
		}}
		f.observe()
		return firing(t, e, at)
	}
	if got := observe(t0, 10*time.Second); len(got) != 0 {
		t.Errorf("oldest at 2× the TTL (within a head timestamp's second): %v", got)
	}
	if got := observe(t0.Add(time.Minute), 12*time.Second); strings.Join(got, ",") != catalog.DelayNotExpiring+"/orders.delay" {
		t.Errorf("oldest at 12s with a 5s TTL: %v, want the delay queue not expiring", got)
	}
	// An hour-long delay is old, by design: no old-messages ticket.
	if got := observe(t0.Add(2*time.Minute), 0); len(got) != 0 {
		t.Errorf("no head timestamp (dead letters give no estimate): %v", got)
	}
}

func TestARetryQueuesHeadTimestampDoesNotReadAsExpiryNotWorking(t *testing.T) {
	// In a retry queue the head timestamp is a message's first publish: on
	// its third pass with a 5s TTL it is 12s old while expiry works.
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	retryTopology(f)
	e, _ := evaluator(t, f, immediate())
	for i, age := range []time.Duration{6 * time.Second, 12 * time.Second, 18 * time.Second} {
		at := t0.Add(time.Duration(i) * time.Minute)
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("billing.worker", consumerstatus.OK, 0, snapshot.Counters{}),
			delayQueue("billing.worker.retry", 10, age, at),
		}}
		f.observe()
		if got := firing(t, e, at); len(got) != 0 {
			t.Errorf("retry queue whose head is %v old: %v", age, got)
		}
	}
}

func TestARetryStormNeedsAHighShareOfRetriesAndARate(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	retryTopology(f)
	e, _ := evaluator(t, f, immediate())
	// Per minute: published p, first deliveries of p+r, where r came
	// back from the retry queue.
	var pub, del uint64
	observe := func(at time.Time, p, r uint64) []string {
		pub, del = pub+p, del+p+r
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("billing.worker", consumerstatus.OK, 0, snapshot.Counters{Published: pub, Delivered: del, Acked: del}),
			delayQueue("billing.worker.retry", 0, 0, at),
		}}
		f.observe()
		return firing(t, e, at)
	}
	observe(t0, 0, 0)
	if got := observe(t0.Add(time.Minute), 600, 60); len(got) != 0 {
		t.Errorf("1/s of retries, 9%% of deliveries: %v", got)
	}
	if got := observe(t0.Add(2*time.Minute), 600, 600); strings.Join(got, ",") != catalog.RetryStorm+"/billing.worker" {
		t.Errorf("660 retries of 1860 deliveries over 2m: %v, want a retry storm", got)
	}
	observe(t0.Add(3*time.Minute), 0, 0) // the counter takes a poll's retries once the next confirms them
	if st := f.state.Queues[0]; !st.HasRetried || st.Retried != 660 {
		t.Errorf("billing.worker retried %v (has %v), want 660", st.Retried, st.HasRetried)
	}
	// A trickle: half the deliveries retried, but far below 1/s.
	f2 := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	retryTopology(f2)
	e2, _ := evaluator(t, f2, immediate())
	for i, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)} {
		n := uint64(10 * i)
		f2.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("billing.worker", consumerstatus.OK, 0, snapshot.Counters{Published: n, Delivered: 2 * n, Acked: 2 * n}),
			delayQueue("billing.worker.retry", 0, 0, at),
		}}
		f2.observe()
		if got := firing(t, e2, at); len(got) != 0 {
			t.Errorf("a trickle of retries at %v: %v", at.Sub(t0), got)
		}
	}
}

func TestAStreamNeverRaisesAQueueAlert(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, immediate())
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Minute)
		s := queue("audit.log", consumerstatus.NoConsumers, int64(1000*(i+1)), snapshot.Counters{Published: uint64(1000 * (i + 1)), Delivered: 10, Redelivered: 9})
		s.Type = "stream"
		s.HeadTimestamp = t0.Add(-time.Hour)
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{s}}
		f.observe()
		if got := firing(t, e, at); len(got) != 0 {
			t.Errorf("a stream's retained log at %v: %v", at.Sub(t0), got)
		}
	}
}
