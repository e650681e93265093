package statusapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/snapshot"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func sources(t *testing.T) Sources {
	t.Helper()
	snap := &snapshot.Snapshot{
		Cluster: "prod", Time: now.Add(-2 * time.Second), RabbitMQVersion: "3.10.8",
		Nodes: []snapshot.Node{{Name: "rabbit@a", Running: true, MemAlarm: true}},
		Queues: []snapshot.Queue{
			{Vhost: "/", Name: "idle", Type: "classic", StatsKnown: true},
			{Vhost: "/", Name: "busy", Type: "quorum", StatsKnown: true, Ready: 5},
			{Vhost: "/", Name: "stuck", Type: "classic", StatsKnown: true, Ready: 100, Unacked: 10, Consumers: 1, HeadTimestamp: now.Add(-time.Hour)},
			{Vhost: "shop", Name: "orders", Type: "quorum", StatsKnown: true, Ready: 7},
		},
	}
	estimates := []timeinqueue.QueueEstimate{
		{Vhost: "/", Name: "busy", OldestAge: 3 * time.Second},
		{Vhost: "shop", Name: "orders", OldestAge: 90 * time.Second},
	}
	state := &pipeline.TargetState{
		Cluster: "prod", Snapshot: snap, Fresh: true,
		Health: collector.Health{Attempted: true, Up: true, LastAttempt: snap.Time},
		Queues: []pipeline.QueueState{
			{Status: consumerstatus.Idle},
			{Status: consumerstatus.OK, Estimate: &estimates[0], Age: pipeline.Age{Age: 3 * time.Second, Source: pipeline.AgeEstimate}, Drain: 12, HasDrain: true},
			{Status: consumerstatus.Stalled, Age: pipeline.Age{Age: 3598 * time.Second, Source: pipeline.AgeHeadTimestamp}, DeadLetterQueues: []string{"stuck.dlq"}},
			{Status: consumerstatus.NoConsumers, Estimate: &estimates[1], Age: pipeline.Age{Age: 90 * time.Second, Source: pipeline.AgeEstimate}, Drain: queuehistory.NotDraining, HasDrain: true},
		},
		Estimates: estimates,
	}
	engine, err := slo.NewEngine(slo.Objective{Name: "orders-30s", Target: 0.95, Window: 28 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Add("orders-30s", now.Add(-time.Minute), 90, 100); err != nil {
		t.Fatal(err)
	}
	return Sources{
		Targets: func() []*pipeline.TargetState { return []*pipeline.TargetState{state} },
		Engine:  engine,
		SLOs: func() []config.SLO {
			return []config.SLO{{Name: "orders-30s", Target: "prod", SLI: config.SLIConfig{ProbeSuccess: &config.ProbeSuccessSLI{}}}}
		},
		Alerts: func() []catalog.Alert {
			return []catalog.Alert{{Labels: map[string]string{"alertname": "RabbitMQQueueStalled", "severity": "page", "cluster": "prod", "vhost": "/", "queue": "stuck"},
				Annotations: map[string]string{"summary": "Consumers of queue stuck are stalled"}, StartsAt: now.Add(-5 * time.Minute)}}
		},
		Now: func() time.Time { return now },
	}
}

func TestQueuesAreListedWorstFirstWithTheirBestAgeSource(t *testing.T) {
	doc := Build(sources(t), Filter{})
	var order []string
	for _, q := range doc.Queues {
		order = append(order, q.Name)
	}
	if got := strings.Join(order, ","); got != "stuck,orders,busy,idle" {
		t.Errorf("order %s, want stalled, no consumers, ok, idle", got)
	}
	stuck, orders := doc.Queues[0], doc.Queues[1]
	if stuck.AgeSource != "head_timestamp" || stuck.OldestAge != 3598 || stuck.DeadLetterQueue[0] != "stuck.dlq" {
		t.Errorf("stuck: %+v", stuck)
	}
	if orders.AgeSource != "estimate" || orders.OldestAge != 90 || orders.Drain != nil || !orders.NotDraining {
		t.Errorf("orders (not draining): %+v", orders)
	}
	if doc.QueuesTotal != 4 || len(doc.SLOs) != 1 || len(doc.Alerts) != 1 || len(doc.Targets) != 1 {
		t.Errorf("document: %d queues, %d SLOs, %d alerts, %d targets", doc.QueuesTotal, len(doc.SLOs), len(doc.Alerts), len(doc.Targets))
	}
	if s := doc.SLOs[0]; s.Total != 100 || s.Good != 90 || s.BudgetRemaining > -0.99 || s.BudgetRemaining < -1.01 {
		t.Errorf("SLO: %+v (10%% errors on a 5%% budget leaves -100%%)", s)
	}
}

func TestHandlerFiltersAndLimits(t *testing.T) {
	h := Handler(sources(t))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status?vhost=%2F&limit=2", nil))
	var doc Document
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Queues) != 2 || doc.QueuesTotal != 3 || doc.Queues[0].Name != "stuck" {
		t.Errorf("vhost / with limit 2: %d of %d queues, first %q", len(doc.Queues), doc.QueuesTotal, doc.Queues[0].Name)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status?limit=zero", nil))
	if rec.Code != 400 {
		t.Errorf("a bad limit answered %d", rec.Code)
	}
}

func TestRenderShowsAlertsSLOsTargetsAndQueues(t *testing.T) {
	var plain, coloured bytes.Buffer
	doc := Build(sources(t), Filter{})
	if err := Render(&plain, doc, false); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	for _, want := range []string{
		"ALERTS (1 firing)", "RabbitMQQueueStalled", "prod///stuck", "5m00s",
		"orders-30s", "95%", "-100%",
		"rabbit@a memory alarm", "3.10.8",
		"QUEUES (worst 4 of 4)", "59m58s", "1m30s~", "∞", "12s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour without a terminal")
	}
	Render(&coloured, doc, true)
	if !strings.Contains(coloured.String(), red+"stalled"+reset) {
		t.Errorf("a stalled queue is not red:\n%q", coloured.String())
	}
}

func TestWithheldEstimateSaysWhyAndShowsNoAge(t *testing.T) {
	src := sources(t)
	snap := &snapshot.Snapshot{Cluster: "prod", Time: now, Queues: []snapshot.Queue{
		{Vhost: "/", Name: "jobs", Type: "classic", StatsKnown: true, Ready: 40, MaxPriority: 10},
	}}
	estimates := []timeinqueue.QueueEstimate{{Vhost: "/", Name: "jobs", OldestAge: time.Minute, NonFIFO: timeinqueue.NonFIFOPriority, Withheld: true}}
	state := &pipeline.TargetState{Cluster: "prod", Snapshot: snap, Fresh: true,
		Health:    collector.Health{Attempted: true, Up: true, LastAttempt: now},
		Queues:    []pipeline.QueueState{{Status: consumerstatus.NoConsumers, Estimate: &estimates[0]}},
		Estimates: estimates}
	src.Targets = func() []*pipeline.TargetState { return []*pipeline.TargetState{state} }
	doc := Build(src, Filter{})
	q := doc.Queues[0]
	if q.TimeInQueueWithheld != "priority_queue" || q.AgeSource != "" || q.OldestAge != 0 {
		t.Errorf("priority queue: %+v; want time_in_queue_withheld priority_queue and no age", q)
	}
	var out bytes.Buffer
	if err := Render(&out, doc, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "withheld") {
		t.Errorf("output does not say the estimate is withheld:\n%s", out.String())
	}
}
