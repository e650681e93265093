package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/testenv/amtest"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/statusapi"
)

// alertingConfig is a configuration for end-to-end alerting tests: one
// target polled every second, a time_in_queue SLO on queue "orders"
// (95% within 2s over a 6h window, so the page rule's windows are 30s and
// 2.5s), built-in alerts with short `for`, and the given Alertmanagers.
func alertingConfig(node *rabbittest.Node, vhost string, alertmanagers ...string) string {
	var ams strings.Builder
	for _, u := range alertmanagers {
		fmt.Fprintf(&ams, "    - url: %s\n", u)
	}
	return fmt.Sprintf(`targets:
  - name: local
    management_url: %s
    username: guest
    password: guest
    poll_interval: 1s
    stats_interval: 1s
    amqp_url: %s
    vhosts:
      include: %q
    probes:
      enabled: false
    consumer_status:
      window: 10s
slos:
  - name: orders-within-2s
    description: order events processed within 2 seconds
    objective: 95%%
    window: 6h
    sli:
      time_in_queue:
        vhost: %q
        queue: orders
        threshold: 2s
    labels:
      team: orders
alerting:
  evaluation_interval: 1s
  resend_interval: 1s
  external_url: http://warren.test:9842
  labels:
    env: test
  alertmanagers:
%s  health:
    RabbitMQQueueNoConsumers:
      for: 2s
`, node.MgmtURL, strings.TrimSuffix(node.AMQPURL, "/")+"/"+vhost, vhost, vhost, ams.String())
}

// trafficClient publishes to and consumes from one queue of a vhost.
type trafficClient struct {
	t     *testing.T
	url   string
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string

	mu           sync.Mutex
	stopConsumer func()
}

func newTrafficClient(t *testing.T, node *rabbittest.Node, vhost, queue string, args amqp.Table) *trafficClient {
	t.Helper()
	url := strings.TrimSuffix(node.AMQPURL, "/") + "/" + vhost
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	return &trafficClient{t: t, url: url, conn: conn, ch: ch, queue: queue}
}

// publish sends perSecond messages a second until ctx is done.
func (c *trafficClient) publish(ctx context.Context, perSecond int) {
	ticker := time.NewTicker(time.Second / time.Duration(perSecond))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := c.ch.PublishWithContext(ctx, "", c.queue, false, false, amqp.Publishing{Body: []byte("order")}); err != nil && ctx.Err() == nil {
				c.t.Errorf("publish: %v", err)
				return
			}
		}
	}
}

// consume attaches an acking consumer on a connection of its own, as
// publishers and consumers should have: stopping it closes that
// connection, and an ack racing the close can then cost the broker's
// connection-level error only there, never the publisher's connection.
func (c *trafficClient) consume() {
	conn, err := amqp.Dial(c.url)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		c.t.Fatal(err)
	}
	deliveries, err := ch.Consume(c.queue, "", false, false, false, false, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			d.Ack(false)
		}
	}()
	c.mu.Lock()
	c.stopConsumer = func() { conn.Close(); <-done }
	c.mu.Unlock()
}

func (c *trafficClient) stopConsuming() {
	c.mu.Lock()
	stop := c.stopConsumer
	c.stopConsumer = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func notifiedAlert(n amtest.Notification, status, alertname string) *amtest.NotifiedAlert {
	for i, a := range n.Alerts {
		if a.Status == status && a.Labels["alertname"] == alertname {
			return &n.Alerts[i]
		}
	}
	return nil
}

func fetchStatus(t *testing.T, base string) statusapi.Document {
	t.Helper()
	_, body := get(t, base+"/api/v1/status")
	var doc statusapi.Document
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, body)
	}
	return doc
}

func TestAlertingEndToEnd(t *testing.T) {
	node := rabbittest.StartT(t, rabbittest.Options{})

	t.Run("a stopped consumer pages through Alertmanager and resolves when it resumes", func(t *testing.T) {
		const vhost = "alerting-slo"
		if err := node.AddVhost(vhost); err != nil {
			t.Fatal(err)
		}
		if err := node.SetPermissions(vhost, "guest", ".*", ".*", ".*"); err != nil {
			t.Fatal(err)
		}
		am := amtest.Start(t, amtest.Options{})
		path := writeFile(t, t.TempDir(), "w.yml", alertingConfig(node, vhost, am.URL()))
		_, base, logs := startAgent(t, "--config", path, "--storage.path", t.TempDir())

		traffic := newTrafficClient(t, node, vhost, "orders", nil)
		ctx, stopPublishing := context.WithCancel(context.Background())
		defer stopPublishing()
		traffic.consume()
		go traffic.publish(ctx, 10)
		// A healthy minute would be better; 15 seconds give the 30s page
		// window enough good events to be past the low-traffic guard.
		time.Sleep(15 * time.Second)
		traffic.stopConsuming()

		page := am.WaitFor(t, 90*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "firing", "WarrenSLOBurnRatePage") != nil
		})
		a := notifiedAlert(page, "firing", "WarrenSLOBurnRatePage")
		wantLabels := map[string]string{"alertname": "WarrenSLOBurnRatePage", "severity": "page", "slo": "orders-within-2s", "cluster": "local", "team": "orders", "env": "test"}
		for k, v := range wantLabels {
			if a.Labels[k] != v {
				t.Errorf("page alert label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
			}
		}
		if len(a.Labels) != len(wantLabels) {
			t.Errorf("page alert labels %v, want exactly %v", a.Labels, wantLabels)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if a.Annotations[k] == "" {
				t.Errorf("page alert lacks annotation %s: %v", k, a.Annotations)
			}
		}
		if a.GeneratorURL != "http://warren.test:9842/slo/orders-within-2s" {
			t.Errorf("generatorURL %q", a.GeneratorURL)
		}
		noConsumers := am.WaitFor(t, 30*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "firing", "RabbitMQQueueNoConsumers") != nil
		})
		nc := notifiedAlert(noConsumers, "firing", "RabbitMQQueueNoConsumers")
		if nc.Labels["queue"] != "orders" || nc.Labels["vhost"] != vhost || nc.Labels["severity"] != "page" ||
			!strings.HasSuffix(nc.Annotations["runbook_url"], "RUNBOOK.md#rabbitmqqueuenoconsumers") {
			t.Errorf("no-consumers alert: labels %v annotations %v", nc.Labels, nc.Annotations)
		}

		doc := fetchStatus(t, base)
		if len(doc.SLOs) != 1 || !doc.SLOs[0].Page.Active || doc.SLOs[0].BudgetRemaining >= 1 {
			t.Errorf("status shows no burning SLO: %+v", doc.SLOs)
		}
		if len(doc.Alerts) < 2 {
			t.Errorf("status lists %d alerts, want the page and the no-consumers alert", len(doc.Alerts))
		}

		traffic.consume()
		am.WaitFor(t, 90*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "resolved", "WarrenSLOBurnRatePage") != nil
		})
		am.WaitFor(t, 60*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "resolved", "RabbitMQQueueNoConsumers") != nil
		})
		if t.Failed() {
			t.Logf("warren logs:\n%s", logs)
		}
	})

	t.Run("alerts fired while Alertmanager is down are delivered when it returns", func(t *testing.T) {
		const vhost = "alerting-outage"
		backlogVhost(t, node, vhost, "orders")
		am := amtest.Start(t, amtest.Options{})
		am.Stop()
		path := writeFile(t, t.TempDir(), "w.yml", alertingConfig(node, vhost, am.URL()))
		_, base, logs := startAgent(t, "--config", path, "--storage.path", t.TempDir())

		queuedSeen := false
		for deadline := time.Now().Add(60 * time.Second); !queuedSeen; time.Sleep(500 * time.Millisecond) {
			_, metrics := get(t, base+"/metrics")
			queuedSeen = hasSeries(metrics, "warren_alerts_queued", nil, func(v float64) bool { return v >= 1 })
			if time.Now().After(deadline) {
				t.Fatalf("no alert queued while Alertmanager is down; metrics:\n%s\nlogs:\n%s", grepLines(metrics, "warren_alert"), logs)
			}
		}
		am.Start()
		n := am.WaitFor(t, 60*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "firing", "RabbitMQQueueNoConsumers") != nil
		})
		if a := notifiedAlert(n, "firing", "RabbitMQQueueNoConsumers"); a.Labels["vhost"] != vhost {
			t.Errorf("delivered alert labels %v", a.Labels)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			_, metrics := get(t, base+"/metrics")
			if hasSeries(metrics, "warren_alerts_queued", nil, func(v float64) bool { return v == 0 }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alerts still queued after Alertmanager came back:\n%s", grepLines(metrics, "warren_alert"))
			}
		}
	})

	t.Run("two replicas with one configuration produce one notification", func(t *testing.T) {
		const vhost = "alerting-ha"
		backlogVhost(t, node, vhost, "orders")
		am := amtest.Start(t, amtest.Options{GroupWait: 3 * time.Second})
		path := writeFile(t, t.TempDir(), "w.yml", alertingConfig(node, vhost, am.URL()))
		startAgent(t, "--config", path, "--storage.path", t.TempDir())
		startAgent(t, "--config", path, "--storage.path", t.TempDir())
		am.WaitFor(t, 60*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "firing", "RabbitMQQueueNoConsumers") != nil
		})
		// Both replicas keep re-sending every second; give Alertmanager
		// several group intervals to notify again if it saw two alerts.
		time.Sleep(6 * time.Second)
		var firing []amtest.Notification
		for _, n := range am.Notifications() {
			if a := notifiedAlert(n, "firing", "RabbitMQQueueNoConsumers"); a != nil {
				firing = append(firing, n)
				if len(n.Alerts) != 1 {
					t.Errorf("notification holds %d alerts, want the replicas' one alert: %+v", len(n.Alerts), n.Alerts)
				}
			}
		}
		if len(firing) != 1 {
			t.Errorf("%d firing notifications for one alert group from two replicas, want 1: %+v", len(firing), firing)
		}
	})

	t.Run("rejected messages alert as dead-letter inflow and burn a dead_letter_ratio SLO", func(t *testing.T) {
		const vhost = "alerting-dlq"
		if err := node.AddVhost(vhost); err != nil {
			t.Fatal(err)
		}
		if err := node.SetPermissions(vhost, "guest", ".*", ".*", ".*"); err != nil {
			t.Fatal(err)
		}
		am := amtest.Start(t, amtest.Options{})
		config := strings.Replace(alertingConfig(node, vhost, am.URL()), `slos:
  - name: orders-within-2s`, `slos:
  - name: orders-not-dead-lettered
    objective: 99%
    window: 6h
    sli:
      dead_letter_ratio: {vhost: "`+vhost+`", queue: refunds}
  - name: orders-within-2s`, 1)
		config = strings.Replace(config, "    RabbitMQQueueNoConsumers:\n      for: 2s\n", "    RabbitMQQueueNoConsumers:\n      for: 2s\n    RabbitMQDeadLetterInflow:\n      for: 1s\n", 1)
		path := writeFile(t, t.TempDir(), "w.yml", config)
		_, base, logs := startAgent(t, "--config", path, "--storage.path", t.TempDir())

		c := newTrafficClient(t, node, vhost, "refunds.dlq", nil)
		if err := c.ch.ExchangeDeclare("refunds.dlx", "fanout", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.ch.QueueBind("refunds.dlq", "", "refunds.dlx", false, nil); err != nil {
			t.Fatal(err)
		}
		publisher := newTrafficClient(t, node, vhost, "refunds", amqp.Table{"x-dead-letter-exchange": "refunds.dlx"})
		// Queues live long before their traffic: let warren see both with
		// statistics first, so that the DLQ's depth has a baseline.
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			known := 0
			for _, q := range fetchStatus(t, base).Queues {
				if q.Vhost == vhost && q.Status != "unknown" {
					known++
				}
			}
			if known == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("warren never listed refunds and refunds.dlq with statistics\nlogs:\n%s", logs)
			}
		}
		deliveries, err := c.ch.Consume("refunds", "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Every tenth message is poison: rejected without requeue, so
		// RabbitMQ dead-letters it into refunds.dlq (without counting a
		// publish there).
		go func() {
			n := 0
			for d := range deliveries {
				n++
				if n%10 == 0 {
					d.Reject(false)
				} else {
					d.Ack(false)
				}
			}
		}()
		ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
		defer stop()
		publisher.publish(ctx, 20)

		n := am.WaitFor(t, 60*time.Second, func(n amtest.Notification) bool {
			return notifiedAlert(n, "firing", "RabbitMQDeadLetterInflow") != nil
		})
		if a := notifiedAlert(n, "firing", "RabbitMQDeadLetterInflow"); a.Labels["queue"] != "refunds.dlq" {
			t.Errorf("dead-letter inflow alert for %v, want refunds.dlq", a.Labels)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			doc := fetchStatus(t, base)
			var s statusapi.SLOStatus
			for _, x := range doc.SLOs {
				if x.Name == "orders-not-dead-lettered" {
					s = x
				}
			}
			// About one in ten departures was dead-lettered; the broker's
			// counters are sampled, so allow for messages in flight.
			if bad := s.Total - s.Good; s.Total >= 100 && bad >= 0.05*s.Total && bad <= 0.15*s.Total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dead_letter_ratio SLO: %v good of %v, want about 90%%\nlogs:\n%s", s.Good, s.Total, logs)
			}
		}
	})

	t.Run("kill -9 and restart keep the error budget", func(t *testing.T) {
		const vhost = "alerting-state"
		backlogVhost(t, node, vhost, "orders")
		storage := t.TempDir()
		path := writeFile(t, t.TempDir(), "w.yml", alertingConfig(node, vhost))
		cmd, base, logs := startAgent(t, "--config", path, "--storage.path", storage, "--storage.save-interval", "1s")
		// Messages published now wait past the 2s threshold: bad events.
		traffic := newTrafficClient(t, node, vhost, "orders", nil)
		ctx, stop := context.WithTimeout(context.Background(), 6*time.Second)
		traffic.publish(ctx, 20)
		stop()
		var before statusapi.SLOStatus
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			doc := fetchStatus(t, base)
			if len(doc.SLOs) == 1 && doc.SLOs[0].Total >= 100 {
				before = doc.SLOs[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("SLO never counted the waiting messages: %+v\nlogs:\n%s", doc.SLOs, logs)
			}
		}
		// Every waiting message has been counted bad once it crossed the
		// threshold; purge them so the restarted estimator (which cannot
		// know their arrival times) has nothing to count, then let a save
		// happen.
		if _, err := node.Ctl("purge_queue", "-p", vhost, "orders"); err != nil {
			t.Fatal(err)
		}
		// The purge reaches the estimator a stats interval and a poll
		// later: wait until the count has been still for 3s, then for a
		// save (every second here) to hold it.
		stillSince, last := time.Now(), -1.0
		for deadline := time.Now().Add(60 * time.Second); time.Since(stillSince) < 3*time.Second; time.Sleep(250 * time.Millisecond) {
			if total := fetchStatus(t, base).SLOs[0].Total; total != last {
				stillSince, last = time.Now(), total
			}
			if time.Now().After(deadline) {
				t.Fatal("the SLO's events never settled after the purge")
			}
		}
		// A late event (the estimator sees the purge a stats interval and
		// a poll late, later still on a busy machine) must be saved too:
		// take the count once it held across two saves.
		for deadline := time.Now().Add(60 * time.Second); ; {
			first := fetchStatus(t, base).SLOs[0]
			time.Sleep(2500 * time.Millisecond)
			before = fetchStatus(t, base).SLOs[0]
			if before.Total == first.Total && before.Good == first.Good {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the SLO's events never held still across two saves")
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if _, err := filepath.Glob(filepath.Join(storage, "slo-state.json")); err != nil {
			t.Fatal(err)
		}
		_, base, logs = startAgent(t, "--config", path, "--storage.path", storage)
		after := fetchStatus(t, base).SLOs[0]
		if after.Total != before.Total || after.Good != before.Good {
			t.Errorf("after kill -9: %v good of %v events, before %v of %v\nlogs:\n%s", after.Good, after.Total, before.Good, before.Total, logs)
		}
		if d := after.BudgetRemaining - before.BudgetRemaining; d > 1e-9 || d < -1e-9 {
			t.Errorf("budget remaining %v after restart, %v before", after.BudgetRemaining, before.BudgetRemaining)
		}
		if before.BudgetRemaining >= 0 {
			t.Errorf("budget remaining %v: the waiting messages should have overspent it", before.BudgetRemaining)
		}
	})
}

// backlogVhost creates vhost with a queue holding messages and no
// consumer.
func backlogVhost(t *testing.T, node *rabbittest.Node, vhost, queue string) {
	t.Helper()
	if err := node.AddVhost(vhost); err != nil {
		t.Fatal(err)
	}
	if err := node.SetPermissions(vhost, "guest", ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	c := newTrafficClient(t, node, vhost, queue, nil)
	for range 5 {
		if err := c.ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{Body: []byte("waiting")}); err != nil {
			t.Fatal(err)
		}
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestCheckRejectsBadSLOSpecsNamingLineAndField(t *testing.T) {
	head := "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\nslos:\n  - name: s\n"
	expectCheckRejects(t, map[string]badConfig{
		"unknown SLI kind":     {head + "    objective: 95%\n    sli:\n      queue_latency: {queue: q}\n", ":10: slos[0].sli.queue_latency: unknown field"},
		"objective of 100%":    {head + "    objective: 100%\n    sli:\n      probe_success: {}\n", ":8: slos[0].objective: 100% must be above 0% and below 100%"},
		"objective of zero":    {head + "    objective: 0\n    sli:\n      probe_success: {}\n", ":8: slos[0].objective: is required and must be above 0%"},
		"window too short":     {head + "    objective: 99%\n    window: 30s\n    sli:\n      probe_success: {}\n", ":9: slos[0].window: 30s is shorter than 1m"},
		"bad queue regex":      {head + "    objective: 99%\n    sli:\n      time_in_queue: {queue: \"(\", threshold: 30s}\n", ":10: slos[0].sli.time_in_queue.queue: invalid regular expression"},
		"unknown target":       {head + "    target: b\n    objective: 99%\n    sli:\n      probe_success: {}\n", ":8: slos[0].target: \"b\" is not the name of a configured target"},
		"bad duration":         {head + "    objective: 99%\n    window: a month\n    sli:\n      probe_success: {}\n", ":9: slos[0].window: \"a month\" is not a duration"},
		"two SLI kinds":        {head + "    objective: 99%\n    sli:\n      probe_success: {}\n      dead_letter_ratio: {queue: q}\n", ":9: slos[0].sli: needs exactly one"},
		"latency without kind": {head + "    objective: 99%\n    sli:\n      probe_latency: {threshold: 1s}\n", ":10: slos[0].sli.probe_latency.kind"},
	})
}

func TestCheckWarnsAboutBurnRateRulesThatCanNeverFire(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\nslos:\n  - name: loose\n    objective: 90%\n    sli:\n      probe_success: {}\n")
	stdout, stderr, code := runWarren(t, "check", "--config", path)
	if code != exitOK || !strings.Contains(stdout, "1 SLO(s)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "config warning") || !strings.Contains(stderr, "page_fast") || !strings.Contains(stderr, "can never fire") {
		t.Errorf("no warning about the 14.4× rule of a 90%% objective: %q", stderr)
	}
	if strings.Contains(stderr, "ticket_fast") {
		t.Errorf("the 3× rule can fire at 90%% (30%% errors) but was reported: %q", stderr)
	}
}
