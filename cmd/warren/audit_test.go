package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/cmdtest"
	"github.com/warrenhq/warren/statusapi"
)

// badFindings are the findings of the bad workload: every check, once,
// on the object that breaks its practice.
var badFindings = map[string][]string{
	catalog.CheckPublisherWithoutConfirms: {"/no-confirms-publisher (1)"},
	catalog.CheckUnroutableDrops:          {"/no-confirms-publisher"},
	catalog.CheckAutoAckConsumers:         {"/orders.auto/auto-ack-consumer"},
	catalog.CheckUnboundedPrefetch:        {"/orders.hoarded/prefetch-0-consumer"},
	catalog.CheckHeartbeatsDisabled:       {"/no-heartbeat"},
	catalog.CheckTransientMessages:        {"/orders.transient"},
	catalog.CheckRejectsWithoutDLX:        {"/orders.rejected"},
	catalog.CheckEndlessRetryCycle:        {"/jobs"},
	catalog.CheckSharedCredentials:        {"/guest-app"},
	catalog.CheckOverPrivilegedUsers:      {"guest"},
	catalog.CheckPlainTextConnections:     {"/plain-text-app"},
	catalog.CheckDeprecatedFeatures:       {"/mirrored"},
	catalog.CheckConsumerTimeout:          {"/orders.slow"},
}

// badWorkload runs, on a node whose server side proposes no heartbeat (so
// that a client asking for none gets none), one client per bad practice.
func badWorkload(t *testing.T) *auditBroker {
	b := startAuditBroker(t, "heartbeat = 0\n")
	b.setup(func(ch *amqp.Channel) error {
		if err := ch.ExchangeDeclare("orders.unbound", "direct", true, false, false, false, nil); err != nil {
			return err
		}
		return queues(ch, map[string]amqp.Table{
			"orders.auto": nil, "orders.hoarded": nil, "orders.transient": nil, "orders.rejected": nil,
			"orders.slow": {"x-consumer-timeout": int64(48 * time.Hour / time.Millisecond)},
			// A retry cycle with no exit: no parking lot in the vhost.
			"jobs":       {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.retry"},
			"jobs.retry": {"x-message-ttl": int64(60000), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs"},
		})
	})
	b.api("PUT", "policies/%2F/mirrored", map[string]any{"pattern": `^mirrored\.`, "definition": map[string]any{"ha-mode": "all"}, "apply-to": "queues"}, nil)

	// A publisher without confirms or mandatory, into an exchange no
	// queue is bound to.
	noConfirms := b.channel(b.app("no-confirms-publisher", appOptions{}), false)
	for range 5 {
		if err := noConfirms.Publish("orders.unbound", "nowhere", false, false, amqp.Publishing{Body: []byte("lost"), DeliveryMode: amqp.Persistent}); err != nil {
			t.Fatal(err)
		}
	}
	autoAck := b.channel(b.app("auto-ack-consumer", appOptions{}), false)
	if _, err := autoAck.Consume("orders.auto", "", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	hoarder := b.channel(b.app("prefetch-0-consumer", appOptions{}), false)
	if _, err := hoarder.Consume("orders.hoarded", "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	b.app("no-heartbeat", appOptions{heartbeat: 500 * time.Millisecond}) // below 1 s: the server's, here none
	publisher := b.channel(b.app("orders-publisher", appOptions{}), true)
	b.publish(publisher, "orders.transient", 3, amqp.Transient)
	b.consume(b.app("rejecting-consumer", appOptions{}), "orders.rejected", func(d amqp.Delivery) { d.Nack(false, false) })
	b.publish(publisher, "orders.rejected", 4, amqp.Persistent)
	b.app("guest-app", appOptions{user: "guest"})
	b.app("plain-text-app", appOptions{plainText: true})
	b.consume(b.app("slow-consumer", appOptions{}), "orders.slow", func(d amqp.Delivery) { d.Ack(false) })
	return b
}

// auditJSON runs `warren audit --format json` (the binary) with args
// and decodes its report.
func auditJSON(t *testing.T, args ...string) (statusapi.AuditDocument, int, string) {
	t.Helper()
	stdout, stderr, code := runBuiltWarren(t, append([]string{"audit", "--format", "json"}, args...)...)
	var doc statusapi.AuditDocument
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("exit %d, not a report: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	return doc, code, stderr
}

// findingIDs maps each check of a report's first target to its finding
// ids.
func findingIDs(doc statusapi.AuditDocument) map[string][]string {
	out := map[string][]string{}
	for _, c := range doc.Targets[0].Checks {
		for _, f := range c.Findings {
			out[c.Check] = append(out[c.Check], f.ID)
		}
	}
	return out
}

func auditConfig(t *testing.T, b *auditBroker, user, password, extra string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "audit.yml", fmt.Sprintf(`targets:
  - name: shop
    management_url: %s
    username: %s
    password: %s
    probes: {enabled: false}
audit:
  interval: 1m
%s`, b.MgmtURL, user, password, extra))
}

// auditUntilFound audits until the report holds every finding of want
// (the broker's statistics of new channels and consumers take up to a
// statistics interval to show), then returns it.
func auditUntilFound(t *testing.T, path string, want map[string][]string) (statusapi.AuditDocument, int) {
	t.Helper()
	var doc statusapi.AuditDocument
	var code int
	waitUntil(t, 60*time.Second, func() string {
		doc, code, _ = auditJSON(t, "--config", path)
		got := findingIDs(doc)
		for check, ids := range want {
			for _, id := range ids {
				if !slices.Contains(got[check], id) {
					return fmt.Sprintf("%s %s in %v", check, id, got)
				}
			}
		}
		return ""
	})
	return doc, code
}

func TestTheBadWorkloadTripsEveryCheckOnceOnItsObject(t *testing.T) {
	t.Parallel()
	b := badWorkload(t)
	ignore := `  ignore:
    - check: auto_ack_consumers
      object: "/orders[.]auto/.*"
      reason: the consumer replays from its own log
`
	t.Run("warren audit exits 1 and names every object", func(t *testing.T) {
		doc, code := auditUntilFound(t, auditConfig(t, b, "guest", "guest", ""), badFindings)
		if got := findingIDs(doc); !maps.EqualFunc(got, badFindings, slices.Equal) {
			t.Errorf("findings\n %v\nwant\n %v", got, badFindings)
		}
		if code != exitFailure || doc.Findings != len(badFindings) || doc.SchemaVersion != 1 {
			t.Errorf("exit %d, %d findings, schema %d; want 1, %d, 1", code, doc.Findings, doc.SchemaVersion, len(badFindings))
		}
		for _, c := range doc.Targets[0].Checks {
			if c.Status != "failed" || c.Fix == "" || len(c.Findings) != 1 || len(c.Findings[0].Evidence) == 0 {
				t.Errorf("%s: status %s, %d findings, fix %q", c.Check, c.Status, len(c.Findings), c.Fix)
			}
		}
	})
	t.Run("an ignore entry removes its finding and the report shows it", func(t *testing.T) {
		path := auditConfig(t, b, "guest", "guest", ignore)
		want := maps.Clone(badFindings)
		delete(want, catalog.CheckAutoAckConsumers)
		doc, code := auditUntilFound(t, path, want)
		if got := findingIDs(doc); !maps.EqualFunc(got, want, slices.Equal) || code != exitFailure {
			t.Errorf("exit %d, findings %v", code, got)
		}
		c := checkOf(doc, catalog.CheckAutoAckConsumers)
		if c.Status != "passed" || len(c.Ignored) != 1 || c.Ignored[0].ID != "/orders.auto/auto-ack-consumer" || c.Ignored[0].Reason != "the consumer replays from its own log" {
			t.Errorf("auto_ack_consumers: %+v", c)
		}
		text, _, _ := runBuiltWarren(t, "audit", "--config", path)
		if !strings.Contains(text, "ignored: auto_ack_consumers /orders.auto/auto-ack-consumer: the consumer replays from its own log") {
			t.Errorf("the text report does not show the ignore:\n%s", text)
		}
	})
	t.Run("the agent exports the findings per check", func(t *testing.T) {
		agentExportsTheFindings(t, auditConfig(t, b, "guest", "guest", ignore))
	})
	t.Run("min-severity keeps the checks at or above it", func(t *testing.T) {
		doc, code, _ := auditJSON(t, "--config", auditConfig(t, b, "guest", "guest", ""), "--min-severity", "critical")
		var checks []string
		for _, c := range doc.Targets[0].Checks {
			checks = append(checks, c.Check)
		}
		want := []string{catalog.CheckUnroutableDrops, catalog.CheckRejectsWithoutDLX, catalog.CheckEndlessRetryCycle}
		if !slices.Equal(checks, want) || code != exitFailure || doc.Findings != 3 {
			t.Errorf("exit %d, %d findings in %v; want 1, 3 in %v", code, doc.Findings, checks, want)
		}
	})
	t.Run("a monitoring user is told what it cannot check", func(t *testing.T) {
		b.api("PUT", "users/watcher", map[string]string{"password": "pw", "tags": "monitoring"}, nil)
		b.api("PUT", "permissions/%2F/watcher", map[string]string{"configure": "^$", "write": "^$", "read": "^$"}, nil)
		doc, _, _ := auditJSON(t, "--config", auditConfig(t, b, "watcher", "pw", ""))
		for _, c := range doc.Targets[0].Checks {
			notRun := c.Check == catalog.CheckOverPrivilegedUsers
			if (c.Status == "not_run") != notRun || notRun && !strings.Contains(c.Reason, "administrator tag") {
				t.Errorf("%s as a monitoring user: %s %q", c.Check, c.Status, c.Reason)
			}
		}
	})
}

func checkOf(doc statusapi.AuditDocument, check string) statusapi.AuditCheck {
	for _, c := range doc.Targets[0].Checks {
		if c.Check == check {
			return c
		}
	}
	return statusapi.AuditCheck{}
}

// agentExportsTheFindings runs the agent on path (the bad workload, the
// auto-ack finding ignored) until its first audit, and reads
// warren_audit_findings off /metrics.
func agentExportsTheFindings(t *testing.T, path string) {
	_, base, logs := startAgent(t, "--config", path)
	var metrics string
	waitUntil(t, 60*time.Second, func() string {
		_, metrics = get(t, base+"/metrics")
		if !strings.Contains(metrics, `warren_audit_last_run_timestamp_seconds{cluster="shop"}`) {
			return "the agent's first audit; logs:\n" + logs.String()
		}
		return ""
	})
	for _, check := range catalog.AuditChecks {
		want := 1.0
		if check == catalog.CheckAutoAckConsumers {
			want = 0 // ignored
		}
		if !hasSeries(metrics, "warren_audit_findings", map[string]string{"cluster": "shop", "check": check}, func(v float64) bool { return v == want }) {
			t.Errorf("warren_audit_findings{check=%q} is not %v:\n%s", check, want, grepLines(metrics, "warren_audit_"))
		}
		if !hasSeries(metrics, "warren_audit_check_ran", map[string]string{"cluster": "shop", "check": check}, func(v float64) bool { return v == 1 }) {
			t.Errorf("warren_audit_check_ran{check=%q} is not 1", check)
		}
	}
	if !hasSeries(metrics, "warren_audit_duration_seconds", map[string]string{"cluster": "shop"}, func(v float64) bool { return v > 0 }) {
		t.Errorf("no audit duration:\n%s", grepLines(metrics, "warren_audit_"))
	}
}

// goodWorkload runs the same kinds of clients, each doing it right: a
// confirming publisher with mandatory and persistent messages, consumers
// with manual acks and a prefetch, rejects into a dead-letter exchange, a
// retry cycle that ends in a parking lot, and a quorum queue whose
// consumer requeues under a delivery limit.
func goodWorkload(t *testing.T) *auditBroker {
	b := startAuditBroker(t, "")
	b.setup(func(ch *amqp.Channel) error {
		if err := ch.ExchangeDeclare("orders.dlx", "fanout", true, false, false, false, nil); err != nil {
			return err
		}
		if err := queues(ch, map[string]amqp.Table{
			"orders": {"x-dead-letter-exchange": "orders.dlx"}, "orders.dlq": nil,
			"jobs":             {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs.retry"},
			"jobs.retry":       {"x-message-ttl": int64(60000), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs"},
			"jobs.parking-lot": nil,
			"payments":         {"x-queue-type": "quorum", "x-delivery-limit": int64(5)},
		}); err != nil {
			return err
		}
		return ch.QueueBind("orders.dlq", "", "orders.dlx", false, nil)
	})
	publisher := b.channel(b.app("orders-publisher", appOptions{}), true)
	rejected := 0
	b.consume(b.app("orders-consumer", appOptions{}), "orders", func(d amqp.Delivery) {
		if rejected < 2 { // a poison message: into the dead-letter queue
			rejected++
			d.Nack(false, false)
			return
		}
		d.Ack(false)
	})
	b.consume(b.app("payments-consumer", appOptions{}), "payments", func(d amqp.Delivery) {
		if !d.Redelivered { // fails once, then succeeds
			d.Nack(false, true)
			return
		}
		d.Ack(false)
	})
	b.publish(publisher, "orders", 6, amqp.Persistent)
	b.publish(publisher, "payments", 3, amqp.Persistent)
	return b
}

// settled reports what the good workload still waits for in the broker's
// statistics, "" once they show all of it.
func (b *auditBroker) settled() string {
	orders, dlq, payments := b.queue("orders"), b.queue("orders.dlq"), b.queue("payments")
	switch {
	case b.connections() != 3:
		return fmt.Sprintf("3 connections, not %d", b.connections())
	case orders.Messages != 0 || orders.MessageStats.Ack != 4 || orders.MessageStats.DeliverGet != 6 || orders.Consumers != 1:
		return statsSay("orders", orders)
	case dlq.Messages != 2 || dlq.MessagesPersistent != 2:
		return statsSay("orders.dlq", dlq)
	case payments.Messages != 0 || payments.MessageStats.Ack != 3 || payments.MessageStats.Redeliver != 3 || payments.MessageStats.DeliverGet != 6 || payments.Consumers != 1:
		return statsSay("payments", payments)
	}
	return ""
}

func TestTheGoodWorkloadHasNoFinding(t *testing.T) {
	t.Parallel()
	b := goodWorkload(t)
	waitUntil(t, 60*time.Second, b.settled)
	doc, code, stderr := auditJSON(t, "--config", auditConfig(t, b, "guest", "guest", ""))
	if got := findingIDs(doc); len(got) != 0 || doc.Findings != 0 {
		t.Errorf("false positives: %v", got)
	}
	if code != exitOK {
		t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
	}
	for _, c := range doc.Targets[0].Checks {
		if c.Status != "passed" {
			t.Errorf("%s: %s (%s)", c.Check, c.Status, c.Reason)
		}
	}
	if len(doc.Targets[0].Checks) != len(catalog.AuditChecks) {
		t.Errorf("%d checks reported, want %d", len(doc.Targets[0].Checks), len(catalog.AuditChecks))
	}
}

func TestAuditOfATargetNoneIsNamedExitsTwo(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", deadTargetConfig(cmdtest.FreeAddr(t)))
	_, stderr, code := runBuiltWarren(t, "audit", "--config", path, "--target", "nope")
	if code != exitConfigError || !strings.Contains(stderr, `no target is named "nope"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestAuditOfABrokerThatIsDownExitsOneSayingWhy(t *testing.T) {
	path := writeFile(t, t.TempDir(), "w.yml", deadTargetConfig(cmdtest.FreeAddr(t)))
	stdout, stderr, code := runBuiltWarren(t, "audit", "--config", path)
	if code != exitFailure || !strings.Contains(stderr, "target gone could not be audited") || !strings.Contains(stderr, "connection") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "hunter2") {
		t.Error("the output leaks the password")
	}
}
