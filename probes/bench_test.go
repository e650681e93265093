package probes

import (
	"context"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// BenchmarkProbeFidelity compares warren's confirm latency with what a
// minimal amqp091-go publisher measures for the same thing on the same
// broker: a persistent 64-byte message to a durable classic queue with a
// consumer on another connection, waiting for its confirm. The two alternate, so drift in the broker's load hits
// both alike. Reported: each median and their ratio (warren / minimal).
func BenchmarkProbeFidelity(b *testing.B) {
	const samples = 200
	if err := broker.AddVhost("fidelity"); err != nil {
		b.Fatal(err)
	}
	if err := broker.SetPermissions("fidelity", "guest", ".*", ".*", ".*"); err != nil {
		b.Fatal(err)
	}
	target := probeTarget("fidelity", "fidelity")
	target.Probes.QueueTypes = []string{"classic"}
	h := newHarness(b, target, nil)

	conn, err := amqp.Dial(broker.AMQPURL + "fidelity")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	// The same path as the probe's: a durable direct exchange, a mandatory
	// publish with a header, a durable queue.
	if err := ch.ExchangeDeclare("fidelity.exchange", amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare("fidelity.minimal", true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := ch.QueueBind("fidelity.minimal", "fidelity.minimal", "fidelity.exchange", false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueuePurge("fidelity.minimal", false); err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	// Like the probe, consume on a second connection: a classic queue
	// confirms a persistent message early when a consumer takes it before
	// it reaches the disk, so an unconsumed queue would measure fsyncs.
	consumerConn, err := amqp.Dial(broker.AMQPURL + "fidelity")
	if err != nil {
		b.Fatal(err)
	}
	defer consumerConn.Close()
	cch, err := consumerConn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	deliveries, err := cch.Consume("fidelity.minimal", "", true, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range deliveries {
		}
	}()
	minimal := func() time.Duration {
		start := time.Now()
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "fidelity.exchange", "fidelity.minimal", true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Headers: amqp.Table{"seq": int64(1)}, Body: make([]byte, 64)})
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := dc.WaitContext(context.Background()); err != nil || !ok {
			b.Fatalf("minimal publisher: not confirmed: %v", err)
		}
		return time.Since(start)
	}

	for range b.N {
		var ours, theirs []time.Duration
		for range samples {
			r := h.prober.RunOnce(context.Background())
			if len(r) != 1 || r[0].Outcome != OutcomeOK {
				b.Fatalf("probe round: %+v", r)
			}
			ours = append(ours, r[0].ConfirmLatency)
			theirs = append(theirs, minimal())
		}
		warrenMedian, minimalMedian := median(ours), median(theirs)
		b.ReportMetric(warrenMedian.Seconds()*1000, "warren-confirm-p50-ms")
		b.ReportMetric(minimalMedian.Seconds()*1000, "minimal-confirm-p50-ms")
		b.ReportMetric(float64(warrenMedian)/float64(minimalMedian), "ratio")
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
