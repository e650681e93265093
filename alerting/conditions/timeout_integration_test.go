package conditions

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/pipeline"
)

// brokerConsumerTimeout is the private node's consumer_timeout, and the
// target's in warren's configuration: short enough for a test, long
// enough for a two-second poll to see 80% of it pass well before it.
const brokerConsumerTimeout = time.Minute

// timeoutPollEvery is how often the test polls warren's pipeline and
// evaluates the conditions.
const timeoutPollEvery = 2 * time.Second

// TestAHeldDeliveryPagesBeforeTheBrokerClosesItsChannel runs a node whose
// consumer_timeout is a minute. A consumer with manual acks and prefetch
// 1 takes one delivery of jobs and holds it; RabbitMQConsumerTimeoutImminent
// must fire, at an estimated age of 48 s (80% of the minute) or a poll
// more, before the broker closes the consumer's channel, which it does on
// its channel tick, 60 to 120 s after the delivery. After the close, a new
// consumer gets the message again, marked redelivered, warren counts the
// redelivery, and the alert resolves once it is acked. All along, a fast
// consumer of thumbs, acking at once, never raises the alert.
func TestAHeldDeliveryPagesBeforeTheBrokerClosesItsChannel(t *testing.T) {
	t.Parallel() // its own node
	r := newRig(t, "timeouts", rabbittest.Options{StatsIntervalMS: 1000, ExtraConfig: "consumer_timeout = 60000\n"}, time.Minute, func(tg *config.Target) {
		tg.ConsumerTimeout = config.Duration(brokerConsumerTimeout)
		tg.StatsInterval = config.Duration(time.Second)
	})
	metrics := exposition.NewHandler(prometheus.NewRegistry(), func() []exposition.Producer { return []exposition.Producer{r.p} }, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	pub := r.channel()
	for _, q := range []string{"jobs", "thumbs"} {
		if _, err := pub.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		r.waitKnown(q)
	}
	jobs := map[string]string{"cluster": "timeouts", "vhost": "/", "queue": "jobs"}
	thumbs := map[string]string{"cluster": "timeouts", "vhost": "/", "queue": "thumbs"}

	acked := startFastConsumer(t, r, pub)
	if err := pub.PublishWithContext(ctx, "", "jobs", false, false, amqp.Publishing{MessageId: "job-1", Body: []byte("resize")}); err != nil {
		t.Fatal(err)
	}

	holder := r.channel()
	if err := holder.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	closed := holder.NotifyClose(make(chan *amqp.Error, 1))
	deliveries, err := holder.Consume("jobs", "holder", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var held amqp.Delivery
	select {
	case held = <-deliveries:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery of jobs within 10s")
	}
	deliveredAt := time.Now()

	// Poll and evaluate until the broker closes the holder's channel.
	var (
		firedAt, closedAt time.Time
		firedAge          time.Duration // warren's estimate when it fired
		closeErr          *amqp.Error
		ages              []time.Duration
	)
	for closedAt.IsZero() {
		if time.Since(deliveredAt) > 2*brokerConsumerTimeout+10*time.Second {
			t.Fatalf("the broker did not close the holder's channel within %v; ages seen %v", time.Since(deliveredAt).Round(time.Second), ages)
		}
		r.p.Poll(ctx)
		_, qs := queueLoss(r.p.State(), "jobs")
		if qs == nil || qs.Processing == nil {
			t.Fatalf("jobs has no processing estimate: %+v", qs)
		}
		ages = append(ages, qs.Processing.OldestAge.Round(time.Second))
		if firedAt.IsZero() && r.firing(catalog.ConsumerTimeoutImminent, jobs) {
			firedAt, firedAge = time.Now(), qs.Processing.OldestAge
			if exported, ok := scrape(t, metrics, "warren_queue_consumer_timeout_seconds", jobs); !ok || exported != brokerConsumerTimeout.Seconds() {
				t.Errorf("warren_queue_consumer_timeout_seconds of jobs %v (exported %v), want 60: the target's consumer_timeout", exported, ok)
			}
		}
		if r.firing(catalog.ConsumerTimeoutImminent, thumbs) {
			_, fast := queueLoss(r.p.State(), "thumbs")
			t.Fatalf("the fast consumer of thumbs fired, its oldest unacknowledged delivery estimated %v old", fast.Processing.OldestAge)
		}
		select {
		case closeErr = <-closed:
			closedAt = time.Now()
		case <-time.After(timeoutPollEvery):
		}
	}
	t.Logf("delivered at 0s; fired at %v (estimated age %v); the broker closed the channel at %v: %v; ages seen %v",
		firedAt.Sub(deliveredAt).Round(100*time.Millisecond), firedAge.Round(100*time.Millisecond),
		closedAt.Sub(deliveredAt).Round(100*time.Millisecond), closeErr, ages)
	switch {
	case firedAt.IsZero():
		t.Fatalf("%s never fired before the broker closed the channel %v after the delivery", catalog.ConsumerTimeoutImminent, closedAt.Sub(deliveredAt).Round(time.Second))
	case !firedAt.Before(closedAt):
		t.Errorf("%s fired %v after the delivery, not before the broker closed the channel (%v)", catalog.ConsumerTimeoutImminent, firedAt.Sub(deliveredAt), closedAt.Sub(deliveredAt))
	}
	if limit := brokerConsumerTimeout + timeoutPollEvery; firedAge < 48*time.Second || firedAge >= limit {
		t.Errorf("fired at an estimated age of %v; want from 48s (80%% of the 60s timeout) to below %v (one poll past the timeout)", firedAge, limit)
	}
	if closeErr == nil || closeErr.Code != amqp.PreconditionFailed {
		t.Fatalf("the holder's channel closed with %v; want the broker's PRECONDITION_FAILED for the consumer timeout", closeErr)
	}

	// The channel's unacknowledged delivery went back to the queue: a new
	// consumer gets it again, marked redelivered.
	redeliveredBefore := counterOf(r.p.State(), "jobs")
	again := r.channel()
	if err := again.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	redeliveries, err := again.Consume("jobs", "restarted", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var redelivered amqp.Delivery
	select {
	case redelivered = <-redeliveries:
	case <-time.After(10 * time.Second):
		t.Fatal("the message held past the timeout was not delivered again within 10s")
	}
	if !redelivered.Redelivered || redelivered.MessageId != held.MessageId {
		t.Errorf("got message %q redelivered=%v; want %q again with the redelivered flag", redelivered.MessageId, redelivered.Redelivered, held.MessageId)
	}
	r.until(func(st *pipeline.TargetState) (bool, string) {
		n := counterOf(st, "jobs")
		return n > redeliveredBefore, fmt.Sprintf("jobs' redelivered counter stayed at %d", n)
	})
	if n, ok := scrape(t, metrics, "warren_queue_redelivered_total", jobs); !ok || n < 1 {
		t.Errorf("warren_queue_redelivered_total of jobs %v (exported %v), want at least 1", n, ok)
	}

	// Acked: nothing waits for an ack any more, and the alert resolves.
	if err := redelivered.Ack(false); err != nil {
		t.Fatal(err)
	}
	r.until(func(st *pipeline.TargetState) (bool, string) {
		return !r.firing(catalog.ConsumerTimeoutImminent, jobs), "still firing after the redelivery was acked"
	})
	if _, qs := queueLoss(r.p.State(), "thumbs"); qs.Processing.Count == 0 || acked.Load() == 0 {
		t.Errorf("thumbs: %v deliveries acked by its consumer, %v settled by warren's estimate: the quiet case had no traffic", acked.Load(), qs.Processing.Count)
	}
}

// startFastConsumer publishes to thumbs twenty times a second through pub
// and consumes it with manual acks, prefetch 10, acking each delivery at
// once, until the test ends; it returns the count of acks.
func startFastConsumer(t *testing.T, r *lossRig, pub *amqp.Channel) *atomic.Int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	publishEvery(ctx, pub, "thumbs", 50*time.Millisecond)
	ch := r.channel()
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("thumbs", "fast", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	go func() {
		for d := range deliveries { // ends when the connection closes
			if d.Ack(false) == nil {
				acked.Add(1)
			}
		}
	}()
	return &acked
}

// counterOf is the broker's redelivered counter of queue name in st.
func counterOf(st *pipeline.TargetState, name string) uint64 {
	q, _ := queueLoss(st, name)
	if q == nil {
		return 0
	}
	return q.Counters.Redelivered
}
