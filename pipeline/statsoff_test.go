package pipeline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/loopback"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/snapshot"
)

// assertSourceSeries checks warren_target_source (1 for source, 0 for
// the other one the target's setting allows, absent for one it does
// not), and that the node partitions are exported only where the source
// sees them (the management API's statistics).
func assertSourceSeries(t *testing.T, reg scrapeGatherer, tg config.Target, source string, node map[string]string) {
	t.Helper()
	for _, s := range []string{config.SourceManagement, config.SourcePrometheus} {
		v, ok := gather(t, reg, "warren_target_source", labelSet("cluster", tg.Name, "source", s))
		allowed := tg.IsAuto() || tg.Source == s
		if ok != allowed || v != boolValue(s == source) {
			t.Errorf("warren_target_source{source=%q} = %v (present %v), want %v (present %v)", s, v, ok, boolValue(s == source), allowed)
		}
	}
	if _, ok := gather(t, reg, "warren_node_partitions", node); ok != (source == config.SourceManagement) {
		t.Errorf("warren_node_partitions present %v reading %s: want it only where the source sees partitions", ok, source)
	}
}

// With no source set (auto, the default), a broker whose management
// statistics are off is read from its Prometheus plugin, exactly.
func TestStatsOffBrokerIsReadFromThePluginByItselfWithExactState(t *testing.T) {
	t.Parallel()
	assertExactBrokerState(t, statsOff, nodeTarget(statsOff, "exact-off", "exact", time.Minute), config.SourcePrometheus)
}

func TestPrometheusSourceReadsAStatsOnBrokerWithExactState(t *testing.T) {
	t.Parallel()
	tg := nodeTarget(broker, "exact-prom", "exact-prom", time.Minute)
	tg.Source = config.SourcePrometheus
	assertExactBrokerState(t, broker, tg, config.SourcePrometheus)
}

func TestStatsOffConsumerStatusesComeFromThePlugin(t *testing.T) {
	t.Parallel()
	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		assertStalledConsumer(t, statsOff, "stall")
	})
	t.Run("no_consumers and idle", func(t *testing.T) {
		t.Parallel()
		assertNoConsumersAndIdle(t, statsOff, "gone")
	})
}

func TestManagementSourceOnAStatsOffBrokerFailsSayingWhy(t *testing.T) {
	t.Parallel()
	tg := nodeTarget(statsOff, "mgmt-only", "", time.Minute)
	tg.Source = config.SourceManagement
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	p.Poll(context.Background())
	if v := mustGather(t, reg, "warren_target_up", nil); v != 0 {
		t.Errorf("up = %v for a broker without statistics read as management only, want 0 (not zeros)", v)
	}
	if v := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": string(snapshot.ReasonStatisticsDisabled)}); v != 1 {
		t.Errorf("statistics_disabled errors = %v, want 1", v)
	}
	if msg := p.State().Health.LastError; !strings.Contains(msg, "disable_metrics_collector") || !strings.Contains(msg, "source to auto or prometheus") {
		t.Errorf("error %q does not say what is wrong and what to do", msg)
	}
}

func TestUnreachablePluginOnAStatsOffBrokerIsAPollErrorWithItsReason(t *testing.T) {
	t.Parallel()
	ports, err := loopback.FreePorts(1)
	must(t, err)
	tg := nodeTarget(statsOff, "no-plugin", "", time.Minute)
	tg.Prometheus.URLs = []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])} // nothing listens there
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	p.Poll(context.Background())
	if v := mustGather(t, reg, "warren_target_up", nil); v != 0 {
		t.Errorf("up = %v with the plugin unreachable, want 0", v)
	}
	if v := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": string(snapshot.ReasonConnection)}); v != 1 {
		t.Errorf("connection errors = %v, want 1", v)
	}
	msg := p.State().Health.LastError
	for _, want := range []string{"collects no statistics", "Prometheus plugin", fmt.Sprintf("127.0.0.1:%d/metrics/detailed", ports[0]), "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// Time in queue from the plugin's counters, on poll times: a message
// acked at once is processed within every threshold, one that waited
// 2.5 s is bad for 1s and good for 30s.
func TestStatsOffTimeInQueueCountsEveryProcessedMessage(t *testing.T) {
	t.Parallel()
	const vhost = "tiq"
	addVhost(t, statsOff, vhost)
	_, ch := statsOff.Channel(t, vhost)
	for _, q := range []string{"fast", "slow"} {
		_, err := ch.QueueDeclare(q, true, false, false, false, nil)
		must(t, err)
	}
	tg := nodeTarget(statsOff, "tiq", vhost, time.Minute)
	tg.StatsInterval = config.Duration(time.Second) // rabbittest's collect_statistics_interval
	tg.TimeInQueue.Thresholds = []config.Duration{config.Duration(time.Second), config.Duration(30 * time.Second)}
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	events := func(queue, metric, threshold string) float64 {
		v, _ := gather(t, reg, metric, labelSet("vhost", vhost, "queue", queue, "threshold", threshold))
		return v
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		p.Poll(context.Background())
		_, ok := gather(t, reg, "warren_queue_processed_total", labelSet("queue", "slow", "threshold", "1s"))
		return ok, "no time-in-queue series yet: " + p.State().Health.LastError
	})
	// Poll every 250ms while the traffic runs, as the estimate has one
	// point per poll.
	ctx, stop := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			p.Poll(ctx)
			time.Sleep(250 * time.Millisecond)
		}
	}()
	publish(t, ch, "", "fast", 4, time.Time{})
	getAndAck(t, ch, "fast", 4)
	publish(t, ch, "", "slow", 3, time.Time{})
	time.Sleep(2500 * time.Millisecond)
	getAndAck(t, ch, "slow", 3)
	eventually(t, 20*time.Second, func() (bool, string) {
		fast := [2]float64{events("fast", "warren_queue_processed_within_total", "1s"), events("fast", "warren_queue_processed_total", "1s")}
		slow := [4]float64{events("slow", "warren_queue_processed_within_total", "1s"), events("slow", "warren_queue_processed_total", "1s"),
			events("slow", "warren_queue_processed_within_total", "30s"), events("slow", "warren_queue_processed_total", "30s")}
		return fast == [2]float64{4, 4} && slow == [4]float64{0, 3, 3, 3},
			fmt.Sprintf("fast within/total 1s %v (want 4 of 4); slow within/total 1s, 30s %v (want 0 of 3, 3 of 3)", fast, slow)
	})
	stop()
	<-polled
}

func getAndAck(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	for range n {
		d, ok, err := ch.Get(queue, false)
		must(t, err)
		if !ok {
			t.Fatalf("basic.get found %s empty", queue)
		}
		must(t, d.Ack(false))
	}
}

// Per-queue counters exist only per channel on 3.10, and a channel's
// series vanish when it closes (within a second on this node): warren's
// counters must carry on across consumers and publishers that come and
// go.
func TestClosingAndReopeningChannelsNeverMovesACounterBack(t *testing.T) {
	t.Parallel()
	const vhost, queue = "churn", "work"
	addVhost(t, statsOff, vhost)
	_, ch := statsOff.Channel(t, vhost)
	_, err := ch.QueueDeclare(queue, true, false, false, false, nil)
	must(t, err)
	tg := nodeTarget(statsOff, "churn", vhost, time.Minute)
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	names := []string{"warren_queue_published_total", "warren_queue_delivered_total", "warren_queue_acked_total"}
	var last [3]float64
	read := func() [3]float64 {
		p.Poll(context.Background())
		var now [3]float64
		for i, name := range names {
			now[i], _ = gather(t, reg, name, labelSet("vhost", vhost, "queue", queue))
			if now[i] < last[i] {
				t.Fatalf("%s went back from %v to %v", name, last[i], now[i])
			}
		}
		last = now
		return now
	}
	total := 0
	for round := 1; round <= 3; round++ {
		// A publisher and a consumer on channels of their own, each
		// closed once its messages are counted.
		pubConn, pub := statsOff.Channel(t, vhost)
		publish(t, pub, "", queue, 5, time.Time{})
		conn, cons := statsOff.Channel(t, vhost)
		consumeAndAck(t, cons, queue, 5)
		total += 5
		eventually(t, 20*time.Second, func() (bool, string) {
			now := read()
			return now == [3]float64{float64(total), float64(total), float64(total)}, fmt.Sprintf("round %d: published, delivered, acked %v, want %d each", round, now, total)
		})
		pubConn.Close()
		conn.Close()
		// Until the broker has removed the closed channels' series, and a
		// poll after: the counters stay where they were.
		eventually(t, 20*time.Second, func() (bool, string) {
			n := channelSeries(t, statsOff, vhost, queue)
			read()
			return n == 0, fmt.Sprintf("round %d: %d channel series of %s left", round, n, queue)
		})
		if now := read(); now != [3]float64{float64(total), float64(total), float64(total)} {
			t.Fatalf("round %d: after the channels closed published, delivered, acked %v, want %d each", round, now, total)
		}
	}
}

func consumeAndAck(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	must(t, err)
	for range n {
		select {
		case d := <-deliveries:
			must(t, d.Ack(false))
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery from %s", queue)
		}
	}
}

// channelSeries counts the plugin's per-channel series of a queue.
func channelSeries(t *testing.T, n *rabbittest.Node, vhost, queue string) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics/detailed?family=channel_queue_metrics&family=channel_queue_exchange_metrics", n.PromPort))
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	count := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.Contains(line, `channel="`) && strings.Contains(line, `queue="`+queue+`"`) && strings.Contains(line, `vhost="`+vhost+`"`) {
			count++
		}
	}
	return count
}

// What the Prometheus source relies on, checked on the real node: with
// statistics off the management API answers definitions only (docs/sources.md).
func TestStatsOffManagementAPIAnswersDefinitionsOnly(t *testing.T) {
	t.Parallel()
	const vhost = "defs"
	addVhost(t, statsOff, vhost)
	_, ch := statsOff.Channel(t, vhost)
	_, err := ch.QueueDeclare("q", true, false, false, false, nil)
	must(t, err)
	publish(t, ch, "", "q", 1, time.Time{})
	_, err = statsOff.Ctl("set_policy", "-p", vhost, "--apply-to", "queues", "ttl", "^q$", `{"message-ttl":60000}`)
	must(t, err)
	get := func(path string) string {
		req, err := http.NewRequest(http.MethodGet, statsOff.MgmtURL+"/api/"+path, nil)
		must(t, err)
		req.SetBasicAuth("guest", "guest")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		must(t, err)
		return string(body)
	}
	checks := []struct {
		path          string
		want, notWant []string
	}{
		{"overview", []string{`"disable_stats":true`}, []string{`"queue_totals"`}},
		{"nodes", []string{`"running":true`}, []string{`"fd_used"`, `"mem_alarm"`, `"partitions"`}},
		{"queues/" + vhost, []string{`"name":"q"`, `"arguments":{}`}, []string{`"messages"`, `"consumers"`, `"message_stats"`, `"effective_policy_definition"`}},
		{"health/checks/alarms", []string{`"status":"ok"`}, nil},
	}
	for _, c := range checks {
		body := get(c.path)
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("/api/%s has no %s: %s", c.path, w, body)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(body, w) {
				t.Errorf("/api/%s has %s with statistics off: %s", c.path, w, body)
			}
		}
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		body := get("queues/" + vhost)
		return strings.Contains(body, `"policy":"ttl"`), "the queue does not name its policy: " + body
	})
}

// With the statistics off, the management API still lists a quorum
// queue's members, online members and leader (checked on RabbitMQ
// 3.10.8; from 3.13 on rabbit_quorum_queue:format/2 answers them without
// statistics too), so replication health is read from the queue listing
// whichever source reads the statistics.
func TestStatsOffQuorumReplicationComesFromTheDefinitionListing(t *testing.T) {
	t.Parallel()
	const vhost = "quorum-off"
	addVhost(t, statsOff, vhost)
	_, ch := statsOff.Channel(t, vhost)
	_, err := ch.QueueDeclare("replicated", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	must(t, err)
	tg := nodeTarget(statsOff, "quorum-off", vhost, time.Minute)
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	queue := labelSet("vhost", vhost, "queue", "replicated")
	eventually(t, 20*time.Second, func() (bool, string) {
		p.Poll(context.Background())
		_, ok := gather(t, reg, "warren_queue_messages", queue)
		return ok, "no statistics for the quorum queue yet: " + p.State().Health.LastError
	})
	if s := p.State().Snapshot.Source; s != config.SourcePrometheus {
		t.Fatalf("read from %q, want the plugin", s)
	}
	node := labelSet("node", statsOff.Name)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warren_quorum_queue_members", labelSet("vhost", vhost, "queue", "replicated", "state", "online"), 1},
		{"warren_quorum_queue_members", labelSet("vhost", vhost, "queue", "replicated", "state", "offline"), 0},
		{"warren_quorum_queue_leader", labelSet("vhost", vhost, "queue", "replicated", "node", statsOff.Name), 1},
		{"warren_node_quorum_leaders", node, 1},
		{"warren_node_quorum_members", node, 1},
	} {
		if v := mustGather(t, reg, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}
