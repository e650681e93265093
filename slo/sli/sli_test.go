package sli

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/pipeline/pipelinetest"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/snapshot"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func mustRegexp(t *testing.T, s string) *config.Regexp {
	t.Helper()
	re, err := config.NewRegexp(s)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

func feeder(t *testing.T, slos ...config.SLO) (*Feeder, *slo.Engine) {
	t.Helper()
	cfg := &config.Config{SLOs: slos}
	for i := range cfg.SLOs {
		cfg.SLOs[i].Target = "prod"
		cfg.SLOs[i].Objective = 0.95
		cfg.SLOs[i].Window = config.Duration(time.Hour)
	}
	engine, err := slo.NewEngine(cfg.Objectives()...)
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg, engine, slog.New(slog.NewTextHandler(io.Discard, nil))), engine
}

func counts(t *testing.T, e *slo.Engine, name string, at time.Time) (good, total float64) {
	t.Helper()
	s, _ := e.SLO(name)
	w := s.Window(at, time.Hour)
	return w.Good, w.Total
}

// estimate is a queue's estimate whose latest poll counted newWithin of
// newTotal events within 30s (half as many within 10s).
func estimate(queue string, newWithin, newTotal float64) timeinqueue.QueueEstimate {
	return timeinqueue.QueueEstimate{Vhost: "/", Name: queue, Thresholds: []time.Duration{10 * time.Second, 30 * time.Second},
		NewWithin: []float64{newWithin / 2, newWithin}, NewTotal: []float64{newTotal, newTotal}}
}

// estimated is the fresh state of poll number polled of cluster, at, with
// its estimates.
func estimated(cluster string, at time.Time, polled int, estimates ...timeinqueue.QueueEstimate) *pipeline.TargetState {
	return &pipeline.TargetState{Cluster: cluster, Snapshot: &snapshot.Snapshot{Cluster: cluster, Time: at}, Estimates: estimates, Polled: polled, Fresh: true}
}

// withRoutes is the target prod whose queues dead-letter as routes say.
func withRoutes(routes ...config.DeadLetterRoute) *pipelinetest.Replay {
	return pipelinetest.New(config.Target{Name: "prod", DeadLetterQueues: routes})
}

func TestTimeInQueueCountsTheIncreaseOfTheThresholdsEventsOverMatchingQueues(t *testing.T) {
	f, e := feeder(t, config.SLO{Name: "orders", SLI: config.SLIConfig{TimeInQueue: &config.QueueLatencySLI{
		Queue: mustRegexp(t, "orders\\..*"), Threshold: config.Duration(30 * time.Second)}}})
	// The first poll after start is a baseline: its counts come from the
	// broker's history of the seconds before the start.
	f.ObserveState(estimated("prod", t0, 1, estimate("orders.created", 90, 100), estimate("billing", 0, 1000)))
	if good, total := counts(t, e, "orders", t0); good != 0 || total != 0 {
		t.Fatalf("first snapshot after start: %v good of %v counted, want a baseline only", good, total)
	}
	// orders.paid appeared after the start: all its events count.
	f.ObserveState(estimated("prod", t0.Add(30*time.Second), 2, estimate("orders.created", 0, 0), estimate("orders.paid", 10, 10), estimate("billing", 0, 0)))
	if good, total := counts(t, e, "orders", t0.Add(30*time.Second)); good != 10 || total != 10 {
		t.Fatalf("a new queue: %v good of %v, want 10 of 10", good, total)
	}
	// orders.paid was re-created: its estimator history restarted at 4.
	f.ObserveState(estimated("prod", t0.Add(time.Minute), 3, estimate("orders.created", 5, 10), estimate("orders.paid", 4, 4)))
	if good, total := counts(t, e, "orders", t0.Add(time.Minute)); good != 19 || total != 24 {
		t.Errorf("after a reset: %v good of %v, want 10+5+4 of 10+10+4", good, total)
	}
	// Snapshots of another target count nothing.
	f.ObserveState(estimated("staging", t0.Add(2*time.Minute), 2, estimate("orders.created", 1000, 5000)))
	if _, total := counts(t, e, "orders", t0.Add(2*time.Minute)); total != 24 {
		t.Errorf("another target's queue was counted: total %v", total)
	}
}

func TestDeadLetterRatioAttributesDLQInflowToSourcesByTheirDepartures(t *testing.T) {
	f, e := feeder(t, config.SLO{Name: "dl", SLI: config.SLIConfig{DeadLetterRatio: &config.DeadLetterRatioSLI{Queue: mustRegexp(t, "a")}}})
	target := withRoutes(config.DeadLetterRoute{Vhost: "/", Queue: "a", DeadLetterQueue: "dlq"}, config.DeadLetterRoute{Vhost: "/", Queue: "b", DeadLetterQueue: "dlq"})
	q := func(name string, published uint64, depth int64) snapshot.Queue {
		return snapshot.Queue{Vhost: "/", Name: name, StatsKnown: true, Ready: depth, Counters: snapshot.Counters{Published: published}}
	}
	f.ObserveState(target.Observe(&snapshot.Snapshot{Time: t0,
		Queues: []snapshot.Queue{q("a", 100, 0), q("b", 100, 0), q("dlq", 0, 0)}}))
	// a: 300 departures, b: 100; the DLQ got 40, 30 of them attributed to a.
	f.ObserveState(target.Observe(&snapshot.Snapshot{Time: t0.Add(time.Minute),
		Queues: []snapshot.Queue{q("a", 410, 10), q("b", 200, 0), q("dlq", 40, 40)}}))
	if good, total := counts(t, e, "dl", t0.Add(time.Minute)); good != 270 || total != 300 {
		t.Errorf("%v good of %v, want 270 of 300", good, total)
	}
}

func TestProbeSLIsCountRoundsOfTheirSelection(t *testing.T) {
	f, e := feeder(t,
		config.SLO{Name: "success", SLI: config.SLIConfig{ProbeSuccess: &config.ProbeSuccessSLI{QueueType: "quorum"}}},
		config.SLO{Name: "confirm", SLI: config.SLIConfig{ProbeLatency: &config.ProbeLatencySLI{Kind: "confirm", Threshold: config.Duration(50 * time.Millisecond)}}},
		config.SLO{Name: "e2e", SLI: config.SLIConfig{ProbeLatency: &config.ProbeLatencySLI{Kind: "e2e", Threshold: config.Duration(50 * time.Millisecond), Node: mustRegexp(t, "rabbit@a")}}},
	)
	rounds := []probes.Result{
		{Node: "rabbit@a", QueueType: "quorum", Outcome: probes.OutcomeOK, ConfirmLatency: 10 * time.Millisecond, E2ELatency: 20 * time.Millisecond},
		{Node: "rabbit@a", QueueType: "classic", Outcome: probes.OutcomeOK, ConfirmLatency: 10 * time.Millisecond, E2ELatency: 80 * time.Millisecond},
		{Node: "rabbit@b", QueueType: "quorum", Outcome: probes.OutcomeLost, ConfirmLatency: 30 * time.Millisecond},
		{Node: "rabbit@b", QueueType: "classic", Outcome: probes.OutcomeConfirmTimeout},
	}
	for _, r := range rounds {
		r.Cluster, r.Time = "prod", t0
		f.ObserveProbe(r)
	}
	for _, c := range []struct {
		slo         string
		good, total float64
	}{
		{"success", 1, 2}, // quorum rounds only; lost is not ok
		{"confirm", 3, 4}, // lost was confirmed in time; a timeout never is
		{"e2e", 1, 2},     // rabbit@a only; 80ms is too slow
	} {
		if good, total := counts(t, e, c.slo, t0); good != c.good || total != c.total {
			t.Errorf("%s: %v good of %v, want %v of %v", c.slo, good, total, c.good, c.total)
		}
	}
}

// RabbitMQ does not count dead letters as published into the DLQ (its
// message_stats.publish stays 0): they show only as depth and acks.
func TestDeadLetterRatioSeesDeadLettersTheBrokerDoesNotCountAsPublished(t *testing.T) {
	f, e := feeder(t, config.SLO{Name: "dl", SLI: config.SLIConfig{DeadLetterRatio: &config.DeadLetterRatioSLI{Queue: mustRegexp(t, "orders")}}})
	target := withRoutes(config.DeadLetterRoute{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"})
	snap := func(at time.Time, published uint64, dlqDepth int64, dlqAcked uint64) *snapshot.Snapshot {
		return &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			{Vhost: "/", Name: "orders", StatsKnown: true, Counters: snapshot.Counters{Published: published, Completed: published}},
			{Vhost: "/", Name: "orders.dlq", StatsKnown: true, Ready: dlqDepth, Counters: snapshot.Counters{Completed: dlqAcked, Acked: dlqAcked}},
		}}
	}
	f.ObserveState(target.Observe(snap(t0, 1000, 5, 0)))
	// 200 departures; the DLQ grew by 3 and a reprocessor acked 4 of it.
	f.ObserveState(target.Observe(snap(t0.Add(time.Minute), 1200, 4, 4)))
	if good, total := counts(t, e, "dl", t0.Add(time.Minute)); good != 197 || total != 200 {
		t.Errorf("%v good of %v, want 197 of 200 (3 dead letters: depth 5→4 plus 4 acked)", good, total)
	}
}

// The broker updates a DLQ's depth sooner than its sources' publish
// counters: dead letters that show before the departures they came from
// are attributed when those departures show.
func TestDeadLettersSeenBeforeTheirDeparturesAreAttributedWhenTheyShow(t *testing.T) {
	f, e := feeder(t, config.SLO{Name: "dl", SLI: config.SLIConfig{DeadLetterRatio: &config.DeadLetterRatioSLI{Queue: mustRegexp(t, "orders")}}})
	target := withRoutes(config.DeadLetterRoute{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"})
	snap := func(at time.Time, published uint64, dlqDepth int64) *snapshot.Snapshot {
		return &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{
			{Vhost: "/", Name: "orders", StatsKnown: true, Counters: snapshot.Counters{Published: published}},
			{Vhost: "/", Name: "orders.dlq", StatsKnown: true, Ready: dlqDepth},
		}}
	}
	f.ObserveState(target.Observe(snap(t0, 1000, 0)))
	f.ObserveState(target.Observe(snap(t0.Add(5*time.Second), 1000, 10)))  // dead letters first
	f.ObserveState(target.Observe(snap(t0.Add(10*time.Second), 1100, 10))) // then the departures
	if good, total := counts(t, e, "dl", t0.Add(10*time.Second)); good != 90 || total != 100 {
		t.Errorf("%v good of %v, want 90 of 100", good, total)
	}
	// Inflow no departure ever claims is dropped after a few snapshots,
	// not charged to unrelated departures much later.
	f.ObserveState(target.Observe(snap(t0.Add(15*time.Second), 1100, 30)))
	for i := range 3 { // deadletter's carry
		f.ObserveState(target.Observe(snap(t0.Add(time.Duration(20+5*i)*time.Second), 1100, 30)))
	}
	f.ObserveState(target.Observe(snap(t0.Add(time.Minute), 1200, 30)))
	if good, total := counts(t, e, "dl", t0.Add(time.Minute)); good != 190 || total != 200 {
		t.Errorf("%v good of %v, want 190 of 200: the stale 20 dead letters must not be charged", good, total)
	}
}

func TestWithheldQueuesAddNoEventsAndAreWarnedAboutInTheLogAndAMetric(t *testing.T) {
	var logs logbuf.Buffer
	cfg := &config.Config{SLOs: []config.SLO{{Name: "jobs", Target: "prod", Objective: 0.95, Window: config.Duration(time.Hour),
		SLI: config.SLIConfig{TimeInQueue: &config.QueueLatencySLI{Queue: mustRegexp(t, "jobs.*"), Threshold: config.Duration(30 * time.Second)}}}}}
	engine, err := slo.NewEngine(cfg.Objectives()...)
	if err != nil {
		t.Fatal(err)
	}
	f := New(cfg, engine, logs.Logger())
	prio := estimate("jobs.prio", 2, 10)
	prio.NonFIFO, prio.Withheld = timeinqueue.NonFIFOPriority, true
	for poll := 1; poll <= 3; poll++ {
		f.ObserveState(estimated("prod", t0.Add(time.Duration(poll)*30*time.Second), poll, estimate("jobs.fifo", 9, 10), prio))
	}
	if good, total := counts(t, engine, "jobs", t0.Add(90*time.Second)); good != 18 || total != 20 {
		t.Errorf("counted %v good of %v; want the FIFO queue's 18 of 20 only", good, total)
	}
	if got := testutil.ToFloat64(f.withheld.WithLabelValues("jobs")); got != 1 {
		t.Errorf("warren_slo_queues_withheld{slo=\"jobs\"} = %v, want 1", got)
	}
	if n := strings.Count(logs.String(), "estimate is withheld"); n != 1 || !strings.Contains(logs.String(), "queue=jobs.prio") || !strings.Contains(logs.String(), "reason=priority_queue") {
		t.Errorf("want one warning naming the queue and the reason; log:\n%s", logs.String())
	}
}

func TestProcessingLatencyCountsDeliveriesAckedWithinTheThresholdOfBeingDelivered(t *testing.T) {
	orders := mustRegexp(t, "orders")
	f, e := feeder(t, config.SLO{Name: "handled-2s", SLI: config.SLIConfig{ProcessingLatency: &config.QueueLatencySLI{
		Queue: orders, Threshold: config.Duration(2 * time.Second)}}})
	// The configuration adds an SLO's threshold to its target's
	// processing estimator, as it does here by hand.
	target := pipelinetest.New(config.Target{Name: "prod", Processing: config.ProcessingConfig{
		SLOThresholds: []config.SLOThreshold{{Queue: orders, Threshold: config.Duration(2 * time.Second)}}}})
	poll := func(s int, delivered, acked uint64) {
		f.ObserveState(target.Observe(&snapshot.Snapshot{Cluster: "prod", Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
			Vhost: "/", Name: "orders", StatsKnown: true, Consumers: 1, Ready: 1000, Unacked: int64(delivered - acked),
			// A backlog of a thousand that never moves: time in queue
			// would count nothing good; processing reads deliveries.
			Counters: snapshot.Counters{Published: 1000, Delivered: delivered, DeliveredManual: delivered, Acked: acked},
		}}}))
	}
	// Ten acks a second, five deliveries always waiting: each handled
	// half a second after its delivery.
	for s := 0; s <= 60; s += 5 {
		poll(s, uint64(5+10*s), uint64(10*s))
	}
	good, total := counts(t, e, "handled-2s", t0.Add(time.Minute))
	if total < 500 || good != total {
		t.Fatalf("a consumer handling deliveries in 0.5s: %v good of %v, want all of about 550 good", good, total)
	}
	// The consumer hangs holding its five deliveries: once they are
	// older than 2s they are bad, each once.
	for s := 65; s <= 120; s += 5 {
		poll(s, 605, 600)
	}
	good2, total2 := counts(t, e, "handled-2s", t0.Add(2*time.Minute))
	if total2-total != 5 || good2 != good {
		t.Errorf("a hung consumer holding 5 deliveries: %v more good of %v more events, want 0 of 5", good2-good, total2-total)
	}
}
