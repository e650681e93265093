package conditions

import (
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/pipeline/pipelinetest"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/snapshot"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fakeTarget is one target whose state is what a real pipeline makes of
// the snapshot the test sets, with the consumer statuses and ages the
// test chose: the conditions are pure logic over target states, not over
// the status rules.
type fakeTarget struct {
	snap      *snapshot.Snapshot
	health    collector.Health
	estimates []timeinqueue.QueueEstimate
	routes    []config.DeadLetterRoute

	replay   *pipelinetest.Replay
	observed *snapshot.Snapshot
	state    *pipeline.TargetState
}

// statusOf holds the status each queue() was given, by queue name.
var statusOf = map[string]consumerstatus.Status{}

// observe runs the current snapshot through the pipeline, once.
func (f *fakeTarget) observe() {
	if f.replay == nil {
		// The consumer timeout a loaded configuration defaults to.
		f.replay = pipelinetest.New(config.Target{Name: "prod", DeadLetterQueues: f.routes, ConsumerTimeout: config.Duration(config.DefaultConsumerTimeout)})
	}
	if f.snap != nil && f.snap != f.observed {
		f.observed = f.snap
		st := *f.replay.Observe(f.snap)
		st.Queues = slices.Clone(st.Queues)
		for i := range st.Snapshot.Queues {
			q := &st.Snapshot.Queues[i]
			st.Queues[i].Status = statusOf[q.Name]
			for _, e := range f.estimates {
				if e.Vhost == q.Vhost && e.Name == q.Name {
					st.Queues[i].Age = pipeline.Age{Age: e.OldestAge, Source: pipeline.AgeEstimate}
				}
			}
		}
		f.state = &st
	}
}

func (f *fakeTarget) states() []*pipeline.TargetState {
	f.observe()
	st := &pipeline.TargetState{Cluster: "prod"}
	if f.state != nil {
		copied := *f.state
		st = &copied
	}
	st.Health = f.health
	return []*pipeline.TargetState{st}
}

func queue(name string, status consumerstatus.Status, ready int64, c snapshot.Counters) snapshot.Queue {
	statusOf[name] = status
	return snapshot.Queue{Vhost: "/", Name: name, Type: "classic", StatsKnown: true, Ready: ready, Counters: c}
}

func evaluator(t *testing.T, f *fakeTarget, overrides config.HealthAlertsConfig) (*Evaluator, *HealthAlerts) {
	t.Helper()
	cfg := &config.Config{Alerting: config.Alerting{Health: overrides, Labels: map[string]string{"env": "prod"}}}
	h := NewHealth(cfg.Alerting.Health, f.states)
	return NewEvaluator(cfg, h, nil, "http://warren:9842", slog.New(slog.NewTextHandler(io.Discard, nil))), h
}

func names(as []catalog.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Labels["alertname"]+"/"+a.Labels["queue"]+a.Labels["node"])
	}
	return out
}

func TestAConditionFiresOnlyAfterHoldingForItsForDurationAndKeepsItsStartTime(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	f.snap = &snapshot.Snapshot{Time: t0, Queues: []snapshot.Queue{queue("orders", consumerstatus.NoConsumers, 10, snapshot.Counters{})}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{})
	if got := e.Evaluate(t0); len(got) != 0 {
		t.Fatalf("fired at once, before its 5m for: %v", names(got))
	}
	if got := e.Evaluate(t0.Add(4 * time.Minute)); len(got) != 0 {
		t.Fatalf("fired after 4m of a 5m for: %v", names(got))
	}
	got := e.Evaluate(t0.Add(5 * time.Minute))
	if len(got) != 1 || got[0].Labels["alertname"] != catalog.QueueNoConsumers {
		t.Fatalf("after 5m: %v, want RabbitMQQueueNoConsumers", names(got))
	}
	a := got[0]
	want := map[string]string{"alertname": catalog.QueueNoConsumers, "severity": "page", "cluster": "prod", "vhost": "/", "queue": "orders", "env": "prod"}
	if len(a.Labels) != len(want) {
		t.Errorf("labels %v, want %v", a.Labels, want)
	}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.GeneratorURL != "http://warren:9842/queue/prod/%2F/orders" {
		t.Errorf("generator URL %q", a.GeneratorURL)
	}
	if !strings.HasSuffix(a.Annotations["runbook_url"], "#rabbitmqqueuenoconsumers") || a.Annotations["summary"] == "" || a.Annotations["description"] == "" {
		t.Errorf("annotations %v", a.Annotations)
	}
	later := e.Evaluate(t0.Add(9 * time.Minute))
	if len(later) != 1 || !later[0].StartsAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("start time moved: %v", later)
	}
	// The condition clears: the alert is gone, and a new occurrence
	// waits for its full `for` again.
	f.snap = &snapshot.Snapshot{Time: t0, Queues: []snapshot.Queue{queue("orders", consumerstatus.OK, 0, snapshot.Counters{})}}
	if got := e.Evaluate(t0.Add(10 * time.Minute)); len(got) != 0 {
		t.Errorf("still firing after the condition cleared: %v", names(got))
	}
	f.snap = &snapshot.Snapshot{Time: t0, Queues: []snapshot.Queue{queue("orders", consumerstatus.NoConsumers, 3, snapshot.Counters{})}}
	if got := e.Evaluate(t0.Add(11 * time.Minute)); len(got) != 0 {
		t.Errorf("a new occurrence fired without waiting its for: %v", names(got))
	}
}

func TestDeadLetterQueuesWithBacklogAndNoConsumerDoNotPage(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	f.routes = []config.DeadLetterRoute{{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"}}
	f.snap = &snapshot.Snapshot{Time: t0, Queues: []snapshot.Queue{
		queue("orders", consumerstatus.Idle, 0, snapshot.Counters{}),
		queue("orders.dlq", consumerstatus.NoConsumers, 10, snapshot.Counters{}),
	}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{catalog.QueueNoConsumers: {For: config.Duration(time.Second)}})
	e.Evaluate(t0)
	if got := e.Evaluate(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("a DLQ holding dead letters alerted: %v", names(got))
	}
}

func TestIdleAndSlowButProgressingQueuesRaiseNoAlert(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{})
	// A slow consumer: a backlog that moves, one redelivery now and then,
	// messages a minute old.
	for i := range 12 {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("idle", consumerstatus.Idle, 0, snapshot.Counters{}),
			queue("slow", consumerstatus.OK, 50, snapshot.Counters{Published: uint64(100 * i), Delivered: uint64(100 * i), Redelivered: uint64(i)}),
		}}
		f.estimates = []timeinqueue.QueueEstimate{{Vhost: "/", Name: "slow", OldestAge: time.Minute}}
		f.observe()
		if got := e.Evaluate(at); len(got) != 0 {
			t.Fatalf("at %v: %v", at.Sub(t0), names(got))
		}
	}
}

func TestCounterConditionsUseTheWindowIncrease(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	zero := config.Duration(time.Nanosecond)
	e, _ := evaluator(t, f, config.HealthAlertsConfig{
		catalog.DeadLetterInflow: {For: zero},
		catalog.RedeliveryStorm:  config.HealthAlert{For: zero},
	})
	f.routes = []config.DeadLetterRoute{{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"}}
	observe := func(at time.Time, dlqPublished, delivered, redelivered uint64) []string {
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("orders", consumerstatus.OK, 0, snapshot.Counters{Published: delivered, Delivered: delivered, Redelivered: redelivered}),
			queue("orders.dlq", consumerstatus.Idle, 0, snapshot.Counters{Published: dlqPublished}),
		}}
		f.observe()
		e.Evaluate(at)
		return names(e.Evaluate(at.Add(time.Millisecond)))
	}
	if got := observe(t0, 7, 1000, 10); len(got) != 0 {
		t.Fatalf("first sight: %v", got)
	}
	if got := observe(t0.Add(time.Minute), 7, 1600, 20); len(got) != 0 {
		t.Fatalf("no dead letters, 10 of 600 redelivered: %v", got)
	}
	got := observe(t0.Add(2*time.Minute), 9, 2200, 500)
	if strings.Join(got, ",") != catalog.DeadLetterInflow+"/orders.dlq,"+catalog.RedeliveryStorm+"/orders" {
		t.Errorf("2 dead letters and 490 of 1200 deliveries redelivered (4/s) over 2m: %v", got)
	}
	// Six minutes on, the dead letters of minute two are out of the
	// 5-minute window.
	if got := observe(t0.Add(8*time.Minute), 9, 9000, 500); len(got) != 0 {
		t.Errorf("after the window passed: %v", got)
	}
	// A counter reset (queue re-created) reads as growth from zero, never
	// as a negative step.
	if got := observe(t0.Add(9*time.Minute), 3, 9100, 500); strings.Join(got, ",") != catalog.DeadLetterInflow+"/orders.dlq" {
		t.Errorf("after the DLQ was re-created with 3 messages: %v", got)
	}
}

// RabbitMQ does not count dead letters as published into the DLQ: they
// show only as its depth growing (or its consumer's acks).
func TestDeadLetterInflowSeesDeadLettersByTheDLQsDepth(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{catalog.DeadLetterInflow: {For: config.Duration(time.Nanosecond)}})
	f.routes = []config.DeadLetterRoute{{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"}}
	observe := func(at time.Time, dlqDepth int64) []string {
		f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			queue("orders", consumerstatus.Idle, 0, snapshot.Counters{}),
			queue("orders.dlq", consumerstatus.NoConsumers, dlqDepth, snapshot.Counters{}),
		}}
		f.observe()
		e.Evaluate(at)
		return names(e.Evaluate(at.Add(time.Millisecond)))
	}
	observe(t0, 100)
	if got := observe(t0.Add(time.Minute), 100); len(got) != 0 {
		t.Fatalf("an unchanged DLQ alerted: %v", got)
	}
	if got := observe(t0.Add(2*time.Minute), 101); strings.Join(got, ",") != catalog.DeadLetterInflow+"/orders.dlq" {
		t.Errorf("one more dead letter: %v", got)
	}
}

func TestNodeTargetAndProbeConditions(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: false, LastReason: "connection"}}
	f.snap = &snapshot.Snapshot{Time: t0, Nodes: []snapshot.Node{
		{Name: "rabbit@a", Running: true, MemAlarm: true, Partitions: 1},
		{Name: "rabbit@b", Running: false},
	}}
	zero := config.Duration(time.Nanosecond)
	e, h := evaluator(t, f, config.HealthAlertsConfig{
		catalog.NodeAlarm: {For: zero}, catalog.NodeDown: {For: zero}, catalog.Partition: {For: zero},
		catalog.TargetDown: {For: zero}, catalog.ProbeFailing: {For: zero, Severity: "ticket"},
	})
	h.ObserveProbe(probes.Result{Cluster: "prod", Node: "rabbit@a", QueueType: "quorum", Time: t0.Add(-time.Minute), Outcome: probes.OutcomeOK})
	h.ObserveProbe(probes.Result{Cluster: "prod", Node: "rabbit@a", QueueType: "quorum", Time: t0, Outcome: probes.OutcomeConfirmTimeout})
	e.Evaluate(t0)
	got := e.Evaluate(t0.Add(time.Second))
	want := []string{catalog.NodeAlarm + "/rabbit@a", catalog.NodeDown + "/rabbit@b", catalog.Partition + "/rabbit@a", catalog.TargetDown + "/"}
	if strings.Join(names(got), ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v (the probe succeeded a minute ago: not failing yet)", names(got), want)
	}
	h.ObserveProbe(probes.Result{Cluster: "prod", Node: "rabbit@a", QueueType: "quorum", Time: t0.Add(4 * time.Minute), Outcome: probes.OutcomeConnectionError})
	e.Evaluate(t0.Add(5 * time.Minute))
	got = e.Evaluate(t0.Add(5*time.Minute + time.Second))
	var probe *catalog.Alert
	for i := range got {
		if got[i].Labels["alertname"] == catalog.ProbeFailing {
			probe = &got[i]
		}
	}
	if probe == nil || probe.Labels["severity"] != "ticket" || probe.Labels["queue_type"] != "quorum" {
		t.Errorf("no ticket-severity probe alert 6 minutes after the last ok round: %v", names(got))
	}
}

func TestDisabledAlertNeverFires(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: false}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{catalog.TargetDown: {Disabled: true}})
	e.Evaluate(t0)
	if got := e.Evaluate(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("disabled alert fired: %v", names(got))
	}
}

func TestSLOAlertFiresAtOnceWithTheSLOsLabels(t *testing.T) {
	cfg := &config.Config{SLOs: []config.SLO{{
		Name: "orders", Target: "prod", Objective: 0.99, Window: config.Duration(30 * 24 * time.Hour),
		Labels:   map[string]string{"team": "orders"},
		Alerting: config.SLOAlerting{RunbookURL: "https://wiki/orders", Annotations: map[string]string{"dashboard": "https://grafana/d/x"}},
	}}}
	engine, err := slo.NewEngine(slo.Objective{Name: "orders", Target: 0.99, Window: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEvaluator(cfg, nil, engine, "http://warren:9842", slog.New(slog.NewTextHandler(io.Discard, nil)))
	// 100% errors for the last hour: every window holds only bad events,
	// so every rule burns at 100×.
	for m := range 60 {
		if err := engine.Add("orders", t0.Add(time.Duration(m)*time.Minute), 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	got := e.Evaluate(t0.Add(time.Hour - time.Second))
	if len(got) != 2 {
		t.Fatalf("got %v, want page and ticket", names(got))
	}
	page := got[0]
	if page.Labels["alertname"] != catalog.SLOPage {
		page = got[1]
	}
	if page.Labels["severity"] != "page" || page.Labels["slo"] != "orders" || page.Labels["team"] != "orders" || page.Labels["cluster"] != "prod" {
		t.Errorf("page labels %v", page.Labels)
	}
	if page.Annotations["runbook_url"] != "https://wiki/orders" || page.Annotations["dashboard"] != "https://grafana/d/x" || !strings.Contains(page.Annotations["description"], "page_fast") {
		t.Errorf("page annotations %v", page.Annotations)
	}
	if !page.StartsAt.Equal(t0.Add(time.Hour - time.Second)) {
		t.Errorf("SLO alerts have no for: started %v", page.StartsAt)
	}
	if page.GeneratorURL != "http://warren:9842/slo/orders" {
		t.Errorf("generator URL %q, want the SLO's page", page.GeneratorURL)
	}
}

// shippedRule is an alerting rule of alerts/warren-alerts.yml.
type shippedRule struct {
	Alert  string            `yaml:"alert"`
	Expr   string            `yaml:"expr"`
	For    string            `yaml:"for"`
	Labels map[string]string `yaml:"labels"`
}

// shippedRules reads the alerting rules of alerts/warren-alerts.yml, by
// alert name.
func shippedRules(t *testing.T) map[string]shippedRule {
	t.Helper()
	data, err := os.ReadFile("../../alerts/warren-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []shippedRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string]shippedRule{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r
		}
	}
	return out
}

// TestBuiltInAlertsMatchTheShippedPrometheusRules keeps the agent's
// built-in alerts and alerts/warren-alerts.yml from drifting apart: every
// built-in alert is a rule there, with the same severity and `for`.
func TestBuiltInAlertsMatchTheShippedPrometheusRules(t *testing.T) {
	type rule struct{ severity, hold string }
	shipped := shippedRules(t)
	for _, r := range catalog.HealthRules {
		s, ok := shipped[r.Name]
		if !ok {
			t.Errorf("%s is evaluated by the agent but not shipped as a Prometheus rule", r.Name)
			continue
		}
		if got, want := (rule{s.Labels["severity"], s.For}), (rule{r.Severity, slo.FormatDuration(r.For)}); got != want {
			t.Errorf("%s: the Prometheus rule has severity %s for %s, the agent %s for %s", r.Name, got.severity, got.hold, want.severity, want.hold)
		}
	}
}
