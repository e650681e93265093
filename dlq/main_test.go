package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// broker is the node the tests share; each test uses queues of its own.
// The kill -9 test starts a node of its own.
var broker *rabbittest.Node

func TestMain(m *testing.M) {
	rabbittest.Main(m, rabbittest.Options{}, func(n *rabbittest.Node) { broker = n })
}

func brokerOf(n *rabbittest.Node) Broker { return Broker{URL: n.AMQPURL, Name: "warren-dlq-test"} }

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// deadLetterSetup is a work queue that dead-letters through a fanout
// exchange into a durable DLQ.
type deadLetterSetup struct {
	dlx, dlq string
}

// declareDLQ declares prefix.dlx and the durable prefix.dlq bound to it,
// with args (its queue type, say).
func declareDLQ(t *testing.T, ch *amqp.Channel, prefix string, args amqp.Table) deadLetterSetup {
	t.Helper()
	s := deadLetterSetup{dlx: prefix + ".dlx", dlq: prefix + ".dlq"}
	must(t, ch.ExchangeDeclare(s.dlx, "fanout", true, false, false, false, nil))
	_, err := ch.QueueDeclare(s.dlq, true, false, false, false, args)
	must(t, err)
	must(t, ch.QueueBind(s.dlq, "", s.dlx, false, nil))
	return s
}

// declareSource declares a durable work queue dead-lettering to s.dlx,
// with extra arguments (a TTL, say).
func declareSource(t *testing.T, ch *amqp.Channel, s deadLetterSetup, name string, extra amqp.Table) {
	t.Helper()
	args := amqp.Table{"x-dead-letter-exchange": s.dlx}
	for k, v := range extra {
		args[k] = v
	}
	_, err := ch.QueueDeclare(name, true, false, false, false, args)
	must(t, err)
}

// publishEvents publishes n persistent JSON events to queue, with message
// ids prefix-0 … prefix-(n-1), confirmed.
func publishEvents(t *testing.T, ch *amqp.Channel, queue, prefix, eventType string, n int) {
	t.Helper()
	must(t, ch.Confirm(false))
	var last *amqp.DeferredConfirmation
	for i := range n {
		body, _ := json.Marshal(map[string]any{"event_type": eventType, "n": i})
		var err error
		last, err = ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, true, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, ContentType: "application/json",
			MessageId: fmt.Sprintf("%s-%d", prefix, i), Body: body,
		})
		must(t, err)
	}
	if ok, err := last.WaitContext(ctxTimeout(t, 30*time.Second)); err != nil || !ok {
		t.Fatalf("publish not confirmed: %v", err)
	}
}

// nackAll consumes queue and rejects (requeue=false) every message until
// the DLQ holds want messages: a consumer whose handler fails.
func nackAll(t *testing.T, conn *amqp.Connection, queue, dlq string, want int) {
	t.Helper()
	ch, err := conn.Channel()
	must(t, err)
	defer ch.Close()
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	must(t, err)
	go func() {
		for d := range deliveries {
			d.Nack(false, false)
		}
	}()
	waitDepth(t, conn, dlq, want)
}

// waitDepth waits until queue holds want messages.
func waitDepth(t *testing.T, conn *amqp.Connection, queue string, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := depth(t, conn, queue)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s holds %d messages, want %d", queue, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func depth(t *testing.T, conn *amqp.Connection, queue string) int {
	t.Helper()
	ch, err := conn.Channel()
	must(t, err)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	must(t, err)
	return q.Messages
}

// drainIDs takes every message of queue (acking it) and counts each
// message id.
func drainIDs(t *testing.T, conn *amqp.Connection, queue string) map[string]int {
	t.Helper()
	ch, err := conn.Channel()
	must(t, err)
	defer ch.Close()
	ids := map[string]int{}
	for {
		d, ok, err := ch.Get(queue, true)
		must(t, err)
		if !ok {
			return ids
		}
		ids[d.MessageId]++
	}
}

// attachConsumer consumes queue, acking, and sends each message to the
// returned channel, until the test ends.
func attachConsumer(t *testing.T, conn *amqp.Connection, queue string) <-chan amqp.Delivery {
	t.Helper()
	ch, err := conn.Channel()
	must(t, err)
	t.Cleanup(func() { ch.Close() })
	deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
	must(t, err)
	return deliveries
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mixedDeadLetters fills prefix.dlq from two sources: messages expired
// by a TTL in prefix.shipping, then messages a failing consumer of
// prefix.billing rejected; it returns the connection, the setup and the
// billing queue.
func mixedDeadLetters(t *testing.T, prefix string, expired, rejected int) (*amqp.Connection, deadLetterSetup, string) {
	t.Helper()
	conn, ch := broker.Channel(t, "/")
	s := declareDLQ(t, ch, prefix, nil)
	billing, shipping := prefix+".billing", prefix+".shipping"
	declareSource(t, ch, s, billing, nil)
	declareSource(t, ch, s, shipping, amqp.Table{"x-message-ttl": int32(1)})
	publishEvents(t, ch, shipping, "ship", "shipment.due", expired)
	waitDepth(t, conn, s.dlq, expired)
	publishEvents(t, ch, billing, "bill", "order.paid", rejected)
	nackAll(t, conn, billing, s.dlq, expired+rejected)
	return conn, s, billing
}
