package agent

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/pgtest"
)

// outboxYAML is an outboxes entry polled every second.
func outboxYAML(name, dsnFile string) string {
	return fmt.Sprintf("  - {name: %s, dsn_file: %s, table: outbox, event_type: event_type, dispatched_at: dispatched_at, poll_interval: 1s, timeout: 1s, commit_delay: 200ms}\n", name, dsnFile)
}

func (r *runningAgent) firing(name string) bool {
	for _, a := range r.eval.Firing() {
		if a.Labels["alertname"] == name {
			return true
		}
	}
	return false
}

func TestAStoppedDispatcherPagesAndAStoppedDatabaseIsReportedWhileWarrenKeepsServing(t *testing.T) {
	c := pgtest.StartT(t)
	dsn := c.OutboxDB(t, "orders")
	d := c.NewDispatcher(t, "orders", pgtest.Flow{EventType: "order.created", Every: 50 * time.Millisecond, Delay: 100 * time.Millisecond})
	d.Start()
	yaml := fmt.Sprintf(`targets:
  - {name: prod, management_url: %s, username: guest, password: guest, poll_interval: 1s, probes: {enabled: false}}
outboxes:
%salerting:
  evaluation_interval: 200ms
  health:
    WarrenOutboxStuck: {threshold: 2, for: 1s}
    WarrenOutboxDatabaseDown: {for: 1s}
`, broker.MgmtURL, outboxYAML("orders", dsn))
	r := startAgent(t, yaml, false)
	eventually(t, "rows counted dispatched", func() bool {
		v, ok := r.metric(t, `warren_outbox_dispatch_latency_seconds_count{event_type="order.created",outbox="orders"}`)
		return ok && v != "0"
	})
	time.Sleep(3 * time.Second)
	if r.firing(catalog.OutboxStuck) {
		t.Fatal("WarrenOutboxStuck fires for a working dispatcher")
	}

	d.StopDispatching()
	eventually(t, "WarrenOutboxStuck firing", func() bool { return r.firing(catalog.OutboxStuck) })
	d.StartDispatching()
	eventually(t, "WarrenOutboxStuck resolved", func() bool { return !r.firing(catalog.OutboxStuck) })

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "WarrenOutboxDatabaseDown firing", func() bool { return r.firing(catalog.OutboxDatabaseDown) })
	if v, _ := r.metric(t, `warren_outbox_up{outbox="orders"}`); v != "0" {
		t.Errorf("warren_outbox_up = %q with the database stopped", v)
	}
	if v, ok := r.metric(t, `warren_outbox_poll_errors_total{outbox="orders",reason="connect"}`); !ok || v == "0" {
		t.Errorf("no connect error counted: %q", v)
	}
	// The rest of warren goes on: the target is still polled and served.
	for range 3 {
		resp, err := http.Get(r.url + "/metrics")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics with the database down: %v %v", resp, err)
		}
		resp.Body.Close()
		time.Sleep(300 * time.Millisecond)
	}
	if v, _ := r.metric(t, `warren_target_up{cluster="prod"}`); v != "1" {
		t.Errorf("warren_target_up = %q: the outbox outage disturbed the target", v)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the outbox up again", func() bool {
		v, _ := r.metric(t, `warren_outbox_up{outbox="orders"}`)
		return v == "1"
	})
}

// relay publishes each dispatched row to queue on the test broker.
type relay struct {
	mu sync.Mutex
	ch *amqp.Channel
}

func (p *relay) publish(queue string) func(int64, string, time.Time) {
	return func(id int64, _ string, _ time.Time) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{Body: []byte(fmt.Sprint(id))})
	}
}

// consume acks every message of queue hold after its delivery.
func consume(t *testing.T, queue string, hold time.Duration) {
	t.Helper()
	_, ch := broker.Channel(t, "/")
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range deliveries {
			time.AfterFunc(hold, func() { d.Ack(false) })
		}
	}()
}

// TestEndToEndSLOBurnsWhenEitherHalfIsSlowAndNotWhenBothAreFast runs
// three outbox → queue flows at once, each with its SLO "processed
// within 3s of commit": both halves fast; the dispatcher 4 s late; the
// consumer holding every message 4 s.
func TestEndToEndSLOBurnsWhenEitherHalfIsSlowAndNotWhenBothAreFast(t *testing.T) {
	c := pgtest.StartT(t)
	_, ch := broker.Channel(t, "/")
	p := &relay{ch: ch}
	flows := []struct {
		name        string
		delay, hold time.Duration
		wantBurn    bool
	}{
		{"fast", 100 * time.Millisecond, 0, false},
		{"slowoutbox", 4 * time.Second, 0, true},
		{"slowqueue", 100 * time.Millisecond, 4 * time.Second, true},
	}
	var outboxes, slos strings.Builder
	var dispatchers []*pgtest.Dispatcher
	for _, f := range flows {
		queue := "e2e." + f.name
		if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		dsn := c.OutboxDB(t, f.name)
		outboxes.WriteString(outboxYAML(f.name, dsn))
		fmt.Fprintf(&slos, "  - {name: e2e-%s, objective: 90%%, window: 1h, sli: {time_in_queue: {queue: %q, threshold: 3s, outbox: %s}}}\n",
			f.name, strings.ReplaceAll(queue, ".", `\.`), f.name)
		consume(t, queue, f.hold)
		d := c.NewDispatcher(t, f.name, pgtest.Flow{EventType: "order.created", Every: 50 * time.Millisecond, Delay: f.delay})
		d.OnDispatch = p.publish(queue)
		dispatchers = append(dispatchers, d)
	}
	yaml := fmt.Sprintf("targets:\n  - {name: prod, management_url: %s, username: guest, password: guest, poll_interval: 500ms, probes: {enabled: false}}\noutboxes:\n%sslos:\n%s",
		broker.MgmtURL, outboxes.String(), slos.String())
	r := startAgent(t, yaml, false)
	time.Sleep(2 * time.Second) // the baselines of the outboxes and the target
	for _, d := range dispatchers {
		d.Start()
	}
	// Each flow's SLO is judged after 15 s of traffic, and once it has
	// counted 100 events (5 s of 20 rows a second): how soon that is
	// depends on the broker's statistics reaching warren, and the held
	// flow's first acks come 4 s after its first deliveries, so a loaded
	// machine takes longer.
	time.Sleep(15 * time.Second)
	for _, f := range flows {
		s, ok := r.engine.SLO("e2e-" + f.name)
		if !ok {
			t.Fatalf("no SLO e2e-%s", f.name)
		}
		deadline := time.Now().Add(90 * time.Second)
		w := s.Window(time.Now(), time.Hour)
		for ; w.Total < 100 && time.Now().Before(deadline); w = s.Window(time.Now(), time.Hour) {
			time.Sleep(250 * time.Millisecond)
		}
		ratio := (w.Total - w.Good) / w.Total
		t.Logf("%s: %.0f good of %.0f events, error ratio %.3f", f.name, w.Good, w.Total, ratio)
		switch {
		case w.Total < 100:
			t.Errorf("%s: only %.0f events in 90 s of 20 rows a second", f.name, w.Total)
		case f.wantBurn && ratio < 0.5:
			t.Errorf("%s: error ratio %.3f, want most events bad", f.name, ratio)
		case !f.wantBurn && ratio > 0.02:
			t.Errorf("%s: error ratio %.3f with both halves fast: a false page", f.name, ratio)
		}
	}
}

func TestReloadStartsAndStopsOutboxesAndKeepsAnUnchangedOne(t *testing.T) {
	c := pgtest.StartT(t)
	orders, billing := c.OutboxDB(t, "orders"), c.OutboxDB(t, "billing")
	target := fmt.Sprintf("targets:\n  - {name: prod, management_url: %s, username: guest, password: guest, poll_interval: 1s, probes: {enabled: false}}\n", broker.MgmtURL)
	r := startAgent(t, target+"outboxes:\n"+outboxYAML("orders", orders), true)
	has := func(outbox string) bool {
		v, _ := r.metric(t, fmt.Sprintf(`warren_outbox_up{outbox=%q}`, outbox))
		return v == "1"
	}
	eventually(t, "orders polled", func() bool { return has("orders") })
	r.mu.Lock()
	kept := r.outboxRuns["orders"]
	r.mu.Unlock()

	if code := r.rewrite(t, target+"outboxes:\n"+outboxYAML("orders", orders)+outboxYAML("billing", billing)); code != http.StatusOK {
		t.Fatalf("reload: %d", code)
	}
	eventually(t, "billing polled", func() bool { return has("billing") })
	r.mu.Lock()
	same := r.outboxRuns["orders"] == kept
	r.mu.Unlock()
	if !same {
		t.Error("the unchanged outbox orders was restarted by the reload")
	}

	if code := r.rewrite(t, target+"outboxes:\n"+outboxYAML("billing", billing)); code != http.StatusOK {
		t.Fatalf("reload: %d", code)
	}
	eventually(t, "orders forgotten", func() bool {
		_, ok := r.metric(t, `warren_outbox_up{outbox="orders"}`)
		return !ok
	})
}
