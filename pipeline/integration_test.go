package pipeline

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/snapshot"
)

// broker and statsOff are the private RabbitMQ nodes these tests start
// for themselves: statsOff runs with management_agent.
// disable_metrics_collector = true, as the official image without the
// management UI does, and removes a closed channel's metrics within a
// second (core_metrics_gc_interval; two minutes by default).
var broker, statsOff *rabbittest.Node

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchTrafficEnv); spec != "" {
		os.Exit(runBenchTraffic(spec)) // a helper process of BenchmarkScale
	}
	rabbittest.MainNodes(m, []rabbittest.Options{{}, {
		ExtraConfig:    "management_agent.disable_metrics_collector = true",
		AdvancedConfig: "[{rabbit, [{core_metrics_gc_interval, 1000}]}].",
	}}, func(n []*rabbittest.Node) { broker, statsOff = n[0], n[1] })
}

// brokerTarget is a target for the test node, with a short consumer
// status window so that scenarios finish in seconds.
func brokerTarget(name string, vhost string, window time.Duration) config.Target {
	return nodeTarget(broker, name, vhost, window)
}

// nodeTarget is brokerTarget for node n, with no source set (auto, the
// default). The plugin's URL is set only because test nodes cannot use
// its default port, 15692.
func nodeTarget(n *rabbittest.Node, name string, vhost string, window time.Duration) config.Target {
	t := testTarget(n.MgmtURL)
	t.Name, t.Username, t.Password = name, "guest", "guest"
	t.Timeout = config.Duration(10 * time.Second)
	t.ConsumerStatus.Window = config.Duration(window)
	t.Prometheus.URLs = []string{fmt.Sprintf("http://127.0.0.1:%d", n.PromPort)}
	if vhost != "" {
		t.Vhosts.Include = mustRegexp(vhost)
	}
	return t
}

func mustRegexp(s string) *config.Regexp {
	r, err := config.NewRegexp(s)
	if err != nil {
		panic(err)
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, ch *amqp.Channel, exchange, key string, n int, timestamp time.Time) {
	t.Helper()
	must(t, ch.Confirm(false))
	for range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), exchange, key, true, false,
			amqp.Publishing{Body: []byte("m"), Timestamp: timestamp, DeliveryMode: amqp.Persistent})
		must(t, err)
		if ok, err := dc.WaitContext(context.Background()); err != nil || !ok {
			t.Fatalf("publish to %q/%q not confirmed: %v", exchange, key, err)
		}
	}
}

// eventually polls until cond holds, failing after timeout with the last
// explanation cond gave.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v: %s", timeout, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func addVhost(t *testing.T, n *rabbittest.Node, vhost string) {
	t.Helper()
	must(t, n.AddVhost(vhost))
	must(t, n.SetPermissions(vhost, "guest", ".*", ".*", ".*"))
}

func TestMetricsReportExactBrokerState(t *testing.T) {
	assertExactBrokerState(t, broker, brokerTarget("exact", "exact", time.Minute), config.SourceManagement)
}

// assertExactBrokerState builds a known broker state in the vhost the
// target tg watches on node n (a classic queue with dead letters by
// argument, a quorum one with dead letters by policy, traffic) and
// asserts every series warren exports of it, read from source.
func assertExactBrokerState(t *testing.T, n *rabbittest.Node, tg config.Target, source string) {
	vhost := tg.Vhosts.Include.Source
	addVhost(t, n, vhost)
	_, ch := n.Channel(t, vhost)
	// orders: classic, dead letters by argument to a fanout DLX.
	must(t, ch.ExchangeDeclare("dlx.fanout", "fanout", true, false, false, false, nil))
	_, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("orders.dlq", "", "dlx.fanout", false, nil))
	_, err = ch.QueueDeclare("orders", true, false, false, false, amqp.Table{"x-dead-letter-exchange": "dlx.fanout"})
	must(t, err)

	// payments: quorum, dead letters by policy to a direct DLX with a key.
	must(t, ch.ExchangeDeclare("dlx.direct", "direct", true, false, false, false, nil))
	for _, q := range []string{"payments.dlq", "payments.other"} {
		_, err = ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		must(t, err)
	}
	must(t, ch.QueueBind("payments.dlq", "payments.dead", "dlx.direct", false, nil))
	must(t, ch.QueueBind("payments.other", "something.else", "dlx.direct", false, nil))
	_, err = ch.QueueDeclare("payments", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	must(t, err)
	_, err = n.Ctl("set_policy", "-p", vhost, "--apply-to", "queues", "payments-dlx", "^payments$",
		`{"dead-letter-exchange":"dlx.direct","dead-letter-routing-key":"payments.dead"}`)
	must(t, err)

	// Traffic: 10 into orders stamped a minute ago, 3 of them consumed and
	// acked; 5 into payments.
	stamp := time.Now().Add(-time.Minute).Truncate(time.Second)
	publish(t, ch, "", "orders", 10, stamp)
	publish(t, ch, "", "payments", 5, time.Time{})
	for range 3 {
		d, ok, err := ch.Get("orders", false)
		must(t, err)
		if !ok {
			t.Fatal("basic.get found orders empty")
		}
		must(t, d.Ack(false))
	}

	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	cluster := map[string]string{"cluster": tg.Name}
	node := func(extra ...string) map[string]string {
		return labelSet(append([]string{"cluster", tg.Name, "node", n.Name}, extra...)...)
	}
	q := func(queue string, extra ...string) map[string]string {
		return labelSet(append([]string{"cluster", tg.Name, "vhost", vhost, "queue", queue}, extra...)...)
	}
	exact := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warren_target_up", cluster, 1},
		{"warren_queue_messages", q("orders", "state", "ready"), 7},
		{"warren_queue_messages", q("orders", "state", "unacked"), 0},
		{"warren_queue_consumers", q("orders"), 0},
		{"warren_queue_published_total", q("orders"), 10},
		{"warren_queue_delivered_total", q("orders"), 3},
		{"warren_queue_acked_total", q("orders"), 3},
		{"warren_queue_redelivered_total", q("orders"), 0},
		{"warren_queue_messages", q("payments", "state", "ready"), 5},
		{"warren_queue_published_total", q("payments"), 5},
		{"warren_queue_info", q("orders", "type", "classic", "dead_letter_exchange", "dlx.fanout", "node", n.Name), 1},
		{"warren_queue_info", q("payments", "type", "quorum", "dead_letter_exchange", "dlx.direct", "node", n.Name), 1},
		{"warren_dead_letter_route", q("orders", "dead_letter_queue", "orders.dlq"), 1},
		{"warren_dead_letter_route", q("payments", "dead_letter_queue", "payments.dlq"), 1},
		{"warren_queue_status", q("orders", "status", "no_consumers"), 1},
		{"warren_queue_status", q("orders.dlq", "status", "idle"), 1},
		{"warren_queues_exported", cluster, 5},
		{"warren_queues_dropped", cluster, 0},
		{"warren_node_running", node(), 1},
		{"warren_node_alarm", node("alarm", "memory"), 0},
		{"warren_node_alarm", node("alarm", "disk"), 0},
	}
	// The broker emits each object's statistics on its own timer (every
	// second here, later on a loaded node): one series can show the
	// traffic while another does not yet, so poll until every series
	// reads the state built above, and report the ones that never do.
	eventually(t, 2*time.Minute, func() (bool, string) {
		p.Poll(context.Background())
		var wrong []string
		for _, c := range exact {
			if v, ok := gather(t, reg, c.name, c.labels); !ok || v != c.want {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want))
			}
		}
		if fd, _ := gather(t, reg, "warren_node_file_descriptors", node("state", "used")); fd <= 0 {
			wrong = append(wrong, fmt.Sprintf("file descriptors used = %v, want > 0", fd))
		}
		return len(wrong) == 0, fmt.Sprintf("%s (%s)", strings.Join(wrong, "; "), p.State().Health.LastError)
	})
	if _, ok := gather(t, reg, "warren_dead_letter_route", q("payments", "dead_letter_queue", "payments.other")); ok {
		t.Error("payments.other is bound with another key: the direct DLX cannot route payments' dead letters there")
	}
	// The head timestamp is whole seconds; the age is measured at poll time.
	age := mustGather(t, reg, "warren_queue_oldest_message_age_seconds", q("orders", "source", "head_timestamp"))
	if want := time.Since(stamp).Seconds(); age < 59 || age > want+1 {
		t.Errorf("oldest message age = %v, want about %v", age, want)
	}
	if _, ok := gather(t, reg, "warren_queue_oldest_message_age_seconds", q("payments", "source", "head_timestamp")); ok {
		t.Error("a quorum queue has no head timestamp: no head_timestamp age series expected")
	}
	assertSourceSeries(t, reg, tg, source, node())

	// Two of orders' messages rejected without requeue reach orders.dlq,
	// and are attributed to orders as its dead letters.
	for range 2 {
		d, ok, err := ch.Get("orders", false)
		must(t, err)
		if !ok {
			t.Fatal("basic.get found orders empty")
		}
		must(t, d.Nack(false, false))
	}
	// Polls a stats interval apart: the attribution waits three polls for
	// the source's depth to show the departures (docs/dead-letters.md),
	// which the broker reports once a stats interval.
	deadLettered := 0.0
	eventually(t, 2*time.Minute, func() (bool, string) {
		time.Sleep(time.Second)
		p.Poll(context.Background())
		deadLettered += p.State().Departures[snapshot.QueueKey{Vhost: vhost, Name: "orders"}].DeadLettered
		dlq, _ := gather(t, reg, "warren_queue_messages", q("orders.dlq", "state", "ready"))
		ready, _ := gather(t, reg, "warren_queue_messages", q("orders", "state", "ready"))
		return dlq == 2 && ready == 5 && deadLettered == 2, fmt.Sprintf("orders.dlq ready %v, orders ready %v, dead letters attributed to orders %v", dlq, ready, deadLettered)
	})
}

// labelSet makes a label set of name, value pairs.
func labelSet(pairs ...string) map[string]string {
	l := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		l[pairs[i]] = pairs[i+1]
	}
	return l
}

// statusWindow is the consumer status window of the scenarios: the broker
// publishes queue statistics in steps of up to 5s here, whatever
// collect_statistics_interval says, so the window spans several steps.
const statusWindow = 12 * time.Second

// statusOf polls and returns the queue's current status label.
func statusOf(t *testing.T, p *Pipeline, vhost, queue string) consumerstatus.Status {
	t.Helper()
	p.Poll(context.Background())
	st := p.State()
	if st.Snapshot == nil {
		t.Fatalf("no snapshot: %s", st.Health.LastError)
	}
	for i := range st.Snapshot.Queues {
		if st.Snapshot.Queues[i].Vhost == vhost && st.Snapshot.Queues[i].Name == queue {
			return st.Queues[i].Status
		}
	}
	t.Fatalf("queue %s/%s not in the snapshot", vhost, queue)
	return consumerstatus.Unknown
}

func TestConsumerHoldingMessagesWithoutAckingIsStalled(t *testing.T) {
	assertStalledConsumer(t, broker, "stall")
}

// assertStalledConsumer shows a consumer that holds its prefetch without
// acking stalled, in vhost on node n.
func assertStalledConsumer(t *testing.T, n *rabbittest.Node, vhost string) {
	const queue = "work"
	addVhost(t, n, vhost)
	_, ch := n.Channel(t, vhost)
	_, err := ch.QueueDeclare(queue, true, false, false, false, nil)
	must(t, err)
	publish(t, ch, "", queue, 20, time.Time{})

	// A consumer that takes its prefetch of 5 and never acks.
	_, cch := n.Channel(t, vhost)
	must(t, cch.Qos(5, 0, false))
	_, err = cch.Consume(queue, "stuck", false, false, false, false, nil)
	must(t, err)

	coll, _ := newTestCollector(t, nodeTarget(n, vhost, vhost, statusWindow))
	p := coll.Pipelines()[0]
	eventually(t, 3*statusWindow, func() (bool, string) {
		s := statusOf(t, p, vhost, queue)
		return s == consumerstatus.Stalled, fmt.Sprintf("status %s", s)
	})
}

func TestSlowButProgressingConsumerIsNeverStalled(t *testing.T) {
	const vhost, queue = "slow", "work"
	addVhost(t, broker, vhost)
	_, ch := broker.Channel(t, vhost)
	_, err := ch.QueueDeclare(queue, true, false, false, false, nil)
	must(t, err)
	publish(t, ch, "", queue, 200, time.Time{})

	// One message every 700ms: far slower than the backlog, never stuck.
	_, cch := broker.Channel(t, vhost)
	must(t, cch.Qos(1, 0, false))
	deliveries, err := cch.Consume(queue, "slow", false, false, false, false, nil)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for d := range deliveries {
			select {
			case <-time.After(700 * time.Millisecond):
				d.Ack(false)
			case <-ctx.Done():
				return
			}
		}
	}()

	coll, _ := newTestCollector(t, brokerTarget("slow", vhost, statusWindow))
	p := coll.Pipelines()[0]
	seen := map[consumerstatus.Status]int{}
	for deadline := time.Now().Add(2 * statusWindow); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		s := statusOf(t, p, vhost, queue)
		seen[s]++
		if s == consumerstatus.Stalled {
			t.Fatalf("a consumer acking every 700ms was reported stalled (statuses so far %v)", seen)
		}
	}
	if seen[consumerstatus.OK] == 0 {
		t.Errorf("statuses %v: want ok at least once", seen)
	}
}

func TestStoppedConsumerWithBacklogIsNoConsumersAndEmptyQueueIsIdle(t *testing.T) {
	assertNoConsumersAndIdle(t, broker, "gone")
}

// assertNoConsumersAndIdle shows, in vhost on node n, a queue whose
// consumer went away while messages arrived as no_consumers, and an
// empty queue as idle for longer than a stall window.
func assertNoConsumersAndIdle(t *testing.T, n *rabbittest.Node, vhost string) {
	addVhost(t, n, vhost)
	_, ch := n.Channel(t, vhost)
	for _, q := range []string{"backlog", "empty"} {
		_, err := ch.QueueDeclare(q, true, false, false, false, nil)
		must(t, err)
	}
	conn, cch := n.Channel(t, vhost)
	_, err := cch.Consume("backlog", "c", false, false, false, false, nil)
	must(t, err)

	coll, _ := newTestCollector(t, nodeTarget(n, vhost, vhost, statusWindow))
	p := coll.Pipelines()[0]
	eventually(t, 20*time.Second, func() (bool, string) {
		s := statusOf(t, p, vhost, "backlog")
		return s == consumerstatus.Idle, fmt.Sprintf("backlog queue with a consumer and no messages: %s", s)
	})

	conn.Close() // the consumer goes away
	publish(t, ch, "", "backlog", 5, time.Time{})
	eventually(t, 20*time.Second, func() (bool, string) {
		s := statusOf(t, p, vhost, "backlog")
		return s == consumerstatus.NoConsumers, fmt.Sprintf("backlog without consumers: %s", s)
	})
	// An empty queue stays idle for longer than a stall window.
	for range 2 * statusWindow / (500 * time.Millisecond) {
		if s := statusOf(t, p, vhost, "empty"); s != consumerstatus.Idle {
			t.Fatalf("empty queue status %s, want idle", s)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestCardinalityGuardExportsFirstQueuesByName(t *testing.T) {
	const vhost = "many"
	addVhost(t, broker, vhost)
	_, ch := broker.Channel(t, vhost)
	for i := range 5 {
		_, err := ch.QueueDeclare(fmt.Sprintf("q%d", i), true, false, false, false, nil)
		must(t, err)
	}
	tg := brokerTarget("many", vhost, time.Minute)
	tg.MaxQueues = 3
	coll, reg := newTestCollector(t, tg)
	coll.Pipelines()[0].Poll(context.Background())
	if v := mustGather(t, reg, "warren_queues_exported", nil); v != 3 {
		t.Errorf("exported = %v, want 3", v)
	}
	if v := mustGather(t, reg, "warren_queues_dropped", nil); v != 2 {
		t.Errorf("dropped = %v, want 2", v)
	}
	for i := range 5 {
		_, ok := gather(t, reg, "warren_queue_info", map[string]string{"queue": fmt.Sprintf("q%d", i)})
		if want := i < 3; ok != want {
			t.Errorf("q%d exported = %v, want %v", i, ok, want)
		}
	}
}

func TestWrongManagementCredentialsAreAnAuthError(t *testing.T) {
	tg := brokerTarget("badauth", "", time.Minute)
	tg.Password = "not-the-password"
	coll, reg := newTestCollector(t, tg)
	coll.Pipelines()[0].Poll(context.Background())
	if v := mustGather(t, reg, "warren_target_up", nil); v != 0 {
		t.Errorf("up = %v, want 0", v)
	}
	if v := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": string(snapshot.ReasonAuth)}); v != 1 {
		t.Errorf("auth errors = %v, want 1", v)
	}
	if strings.Contains(coll.Pipelines()[0].State().Health.LastError, "not-the-password") {
		t.Error("the error leaks the password")
	}
}

func TestMonitoringTaggedUserIsEnough(t *testing.T) {
	must(t, broker.AddUser("warren-monitor", "pw", "monitoring"))
	tg := brokerTarget("monitoring", "", time.Minute)
	tg.Username, tg.Password = "warren-monitor", "pw"
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	p.Poll(context.Background())
	if v := mustGather(t, reg, "warren_target_up", nil); v != 1 {
		t.Fatalf("up = %v for a monitoring user: %s", v, p.State().Health.LastError)
	}
}

func TestRestartedBrokerIsReportedThenRecovered(t *testing.T) {
	coll, reg := newTestCollector(t, brokerTarget("restart", "", time.Minute))
	p := coll.Pipelines()[0]
	p.Poll(context.Background())
	if v := mustGather(t, reg, "warren_target_up", nil); v != 1 {
		t.Fatalf("up before the restart = %v: %s", v, p.State().Health.LastError)
	}
	must(t, broker.Kill())
	p.Poll(context.Background())
	if v := mustGather(t, reg, "warren_target_up", nil); v != 0 {
		t.Errorf("up while the broker is down = %v", v)
	}
	must(t, broker.Restart())
	eventually(t, 60*time.Second, func() (bool, string) {
		p.Poll(context.Background())
		v, _ := gather(t, reg, "warren_target_up", nil)
		return v == 1, p.State().Health.LastError
	})
}
