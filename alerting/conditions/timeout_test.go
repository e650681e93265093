package conditions

import (
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// consumed is a queue whose consumers were given delivered messages with
// manual acknowledgements and acked acked of them.
func consumed(name string, delivered, acked uint64) snapshot.Queue {
	q := queue(name, consumerstatus.OK, 0, snapshot.Counters{Published: delivered, Delivered: delivered, DeliveredManual: delivered, Acked: acked, Completed: acked})
	q.Unacked, q.Consumers = int64(delivered-acked), 1
	return q
}

// held is a queue with one delivery, made between t0 and t0+30s, that
// stays unacknowledged until acked.
func held(name string, at time.Time, acked bool) snapshot.Queue {
	switch {
	case !at.After(t0):
		return consumed(name, 0, 0)
	case acked:
		return consumed(name, 1, 1)
	}
	return consumed(name, 1, 0)
}

// pollEvery30s observes the queues made by at every 30 seconds from t0
// to t0+span and returns, per queue, when RabbitMQConsumerTimeoutImminent
// first fired for it.
func pollEvery30s(t *testing.T, f *fakeTarget, e *Evaluator, span time.Duration, at func(time.Time) []snapshot.Queue) map[string]time.Time {
	t.Helper()
	fired := map[string]time.Time{}
	for d := time.Duration(0); d <= span; d += 30 * time.Second {
		now := t0.Add(d)
		f.snap = &snapshot.Snapshot{Time: now, Queues: at(now)}
		f.observe()
		for _, a := range e.Evaluate(now) {
			if q := a.Labels["queue"]; a.Labels["alertname"] == catalog.ConsumerTimeoutImminent && fired[q].IsZero() {
				fired[q] = now
			}
		}
	}
	return fired
}

func TestADeliveryHeldForFourFifthsOfTheConsumerTimeoutPagesAndAFastConsumerDoesNot(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{})
	queues := func(now time.Time) []snapshot.Queue {
		s := uint64(now.Sub(t0).Seconds())
		// fast acks ten a second, each a second after its delivery.
		return []snapshot.Queue{held("held", now, false), consumed("fast", 10*s+10, 10*s)}
	}
	fired := pollEvery30s(t, f, e, 26*time.Minute, queues)
	// Delivered at t0+30s by the polls' reckoning: 24m old (80% of the
	// default 30m) at t0+24m30s.
	if at := fired["held"]; at.IsZero() || at.Before(t0.Add(24*time.Minute)) || at.After(t0.Add(25*time.Minute)) {
		t.Errorf("a delivery held since t0+30s fired %s; want at 24m30s after t0 (80%% of the 30m default timeout), and no `for`", firedAt(at))
	}
	if at, ok := fired["fast"]; ok {
		t.Errorf("a consumer acking each delivery within a second fired at %v", at.Sub(t0))
	}

	// RabbitMQQueueOldMessages fires too: to time in queue, an
	// unacknowledged message has not left.
	a := alertNamed(t, e.Evaluate(t0.Add(26*time.Minute)), catalog.ConsumerTimeoutImminent)
	want := map[string]string{"alertname": catalog.ConsumerTimeoutImminent, "severity": "page", "cluster": "prod", "vhost": "/", "queue": "held", "env": "prod"}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	for _, text := range []string{"queue held", "vhost /", "cluster prod", "about 25m30s", "consumer timeout is 30m", "closes the consumer's channel and requeues the delivery"} {
		if !strings.Contains(a.Annotations["description"], text) {
			t.Errorf("description lacks %q: %s", text, a.Annotations["description"])
		}
	}
	if !strings.HasSuffix(a.Annotations["runbook_url"], "#rabbitmqconsumertimeoutimminent") {
		t.Errorf("runbook %q", a.Annotations["runbook_url"])
	}

	// The consumer acks it: the alert resolves.
	now := t0.Add(26*time.Minute + 30*time.Second)
	f.snap = &snapshot.Snapshot{Time: now, Queues: []snapshot.Queue{held("held", now, true), consumed("fast", 15910, 15900)}}
	f.observe()
	for _, a := range e.Evaluate(now) {
		if a.Labels["alertname"] == catalog.ConsumerTimeoutImminent {
			t.Errorf("still firing once the delivery was acked: %v", a.Labels)
		}
	}
}

// firedAt says when an alert first fired, as pollEvery30s recorded it.
func firedAt(at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return "at " + at.Sub(t0).String() + " after t0"
}

// alertNamed returns the one firing alert named alertname.
func alertNamed(t *testing.T, firing []catalog.Alert, alertname string) catalog.Alert {
	t.Helper()
	var found []catalog.Alert
	for _, a := range firing {
		if a.Labels["alertname"] == alertname {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("firing %v, want one %s", names(firing), alertname)
	}
	return found[0]
}

func TestAQueuesOwnConsumerTimeoutIsTheOneMeasuredAgainst(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{})
	own := func(q snapshot.Queue, timeout time.Duration) snapshot.Queue {
		q.ConsumerTimeout, q.HasConsumerTimeout = timeout, true
		return q
	}
	fired := pollEvery30s(t, f, e, 30*time.Minute, func(now time.Time) []snapshot.Queue {
		return []snapshot.Queue{own(held("thumbnails", now, false), 5*time.Minute), own(held("reports", now, false), 2*time.Hour)}
	})
	if at := fired["thumbnails"]; at != t0.Add(4*time.Minute+30*time.Second) {
		t.Errorf("held on a queue with a 5m timeout: fired %s, want at 4m30s after t0 (4m held)", firedAt(at))
	}
	if at, ok := fired["reports"]; ok {
		t.Errorf("held 24m on a queue with a 2h timeout: fired at %v after t0, though the target's 30m does not apply to it", at.Sub(t0))
	}
}

func TestADeliveryHeldFromAStreamNeverRaisesTheConsumerTimeoutAlert(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{})
	fired := pollEvery30s(t, f, e, 30*time.Minute, func(now time.Time) []snapshot.Queue {
		s := held("audit.log", now, false)
		s.Type = "stream"
		return []snapshot.Queue{s}
	})
	if at, ok := fired["audit.log"]; ok {
		t.Errorf("a stream's unacknowledged read fired at %v: a stream's deliveries are reads of a retained log", at.Sub(t0))
	}
}

func TestTheConsumerTimeoutAlertCanBeTurnedOffForBrokersWithoutATimeout(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{catalog.ConsumerTimeoutImminent: {Disabled: true}})
	fired := pollEvery30s(t, f, e, 30*time.Minute, func(now time.Time) []snapshot.Queue {
		return []snapshot.Queue{held("held", now, false)}
	})
	if at, ok := fired["held"]; ok {
		t.Errorf("disabled, it fired at %v", at.Sub(t0))
	}
}
