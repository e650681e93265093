// Command workload is the demo's order-events application: a producer and a
// consumer on one RabbitMQ queue, misbehaving on a schedule so that warren
// has something to see.
//
// It declares the classic queue `orders`, whose dead letters go through the
// fanout exchange `orders.dlx` to the queue `orders.dlq`. The producer
// publishes --rate order events a second (persistent, with the AMQP
// timestamp set). Every --poison-every-th event is a poison message, which
// the consumer rejects without requeue, so it is dead-lettered into
// `orders.dlq`. The consumer cycles: --fast of processing at full speed, then
// --slow of spending --slow-delay on each message (prefetch 1), which is
// slower than the producer, so the backlog and the oldest message's age grow
// past ten seconds; then it is fast again and drains the backlog.
//
// One log line per phase change, and one every --report with the counts.
// With --outbox-dsn it also runs an outbox flow (outbox.go): invoices
// written to a PostgreSQL outbox table, published to the queue `invoices`
// by a dispatcher that dies for --dispatch-down of every cycle.
//
// It stops on SIGINT or SIGTERM, and exits non-zero if the broker goes away.
//
//	go run ./deploy/demo/workload --amqp-url amqp://guest:guest@127.0.0.1:36672/
//
// Import rule: it imports nothing of warren: it is a RabbitMQ and
// PostgreSQL client like any other.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	queueName         = "orders"
	deadLetterXchg    = "orders.dlx"
	deadLetterQueue   = "orders.dlq"
	poisonHeader      = "x-demo-poison"
	consumerTag       = "demo-order-processor"
	producerConnName  = "demo-workload/producer"
	consumerConnName  = "demo-workload/consumer"
	declareConnName   = "demo-workload/setup"
	maxConnectAttempt = 30
)

type options struct {
	outbox      outboxOptions
	amqpURL     string
	rate        float64
	poisonEvery int
	fast, slow  time.Duration
	slowDelay   time.Duration
	report      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.amqpURL, "amqp-url", "amqp://guest:guest@127.0.0.1:36672/", "AMQP URL of the demo broker")
	flag.Float64Var(&o.rate, "rate", 20, "order events published per second")
	flag.IntVar(&o.poisonEvery, "poison-every", 50, "every n-th event is a poison message (0: none)")
	flag.DurationVar(&o.fast, "fast", 90*time.Second, "length of each phase in which the consumer keeps up")
	flag.DurationVar(&o.slow, "slow", 90*time.Second, "length of each phase in which the consumer is slow")
	flag.DurationVar(&o.slowDelay, "slow-delay", 100*time.Millisecond, "time spent on each message in the slow phase")
	flag.DurationVar(&o.report, "report", 30*time.Second, "how often to log the counts")
	flag.StringVar(&o.outbox.dsn, "outbox-dsn", "", "PostgreSQL connection string of the outbox database (table outbox); empty: no outbox flow")
	flag.Float64Var(&o.outbox.rate, "outbox-rate", 10, "invoices written to the outbox per second")
	flag.DurationVar(&o.outbox.up, "dispatch-up", 90*time.Second, "length of each phase in which the outbox dispatcher works")
	flag.DurationVar(&o.outbox.down, "dispatch-down", 90*time.Second, "length of each phase in which the outbox dispatcher is dead")
	flag.Parse()
	o.outbox.amqpURL, o.outbox.eventTypes = o.amqpURL, []string{"invoice.created", "invoice.paid"}
	log.SetFlags(log.Ltime)
	log.SetPrefix("workload: ")
	if o.rate <= 0 || o.fast <= 0 || o.slow <= 0 || o.slowDelay <= 0 || o.poisonEvery < 0 {
		log.Fatal("--rate, --fast, --slow and --slow-delay must be positive, --poison-every not negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Printf("stopped: %v", err)
		os.Exit(1)
	}
	log.Print("stopped")
}

// counts are shared between the producer, the consumer and the reporter.
type counts struct {
	published, poison, acked, rejected atomic.Int64
}

func run(ctx context.Context, o options) error {
	if err := declare(ctx, o.amqpURL); err != nil {
		return err
	}
	log.Printf("declared queue %s (dead letters via %s to %s); publishing %g events/s, every %dth poison",
		queueName, deadLetterXchg, deadLetterQueue, o.rate, o.poisonEvery)

	var c counts
	errs := make(chan error, 3)
	go func() { errs <- produce(ctx, o, &c) }()
	go func() { errs <- consume(ctx, o, &c) }()
	if o.outbox.dsn != "" {
		go func() { errs <- runOutbox(ctx, &o.outbox) }()
	}
	ticker := time.NewTicker(o.report)
	defer ticker.Stop()
	for {
		select {
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-ticker.C:
			log.Printf("published %d (%d poison), acked %d, rejected %d",
				c.published.Load(), c.poison.Load(), c.acked.Load(), c.rejected.Load())
		case <-ctx.Done():
			return nil
		}
	}
}

// dial connects, retrying for a while: the demo starts the workload right
// after the broker reports ready, and a busy machine may still refuse the
// first attempts.
func dial(ctx context.Context, amqpURL, name string) (*amqp.Connection, error) {
	cfg := amqp.Config{Properties: amqp.NewConnectionProperties()}
	cfg.Properties.SetClientConnectionName(name)
	var err error
	for attempt := 1; attempt <= maxConnectAttempt; attempt++ {
		var conn *amqp.Connection
		conn, err = amqp.DialConfig(amqpURL, cfg)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil, fmt.Errorf("connect to %s: %w", redact(amqpURL), err)
}

// redact drops the password from an AMQP URL for error messages.
// openChannel dials and opens a channel; the caller closes the
// connection.
func openChannel(ctx context.Context, amqpURL, name string) (*amqp.Connection, *amqp.Channel, error) {
	conn, err := dial(ctx, amqpURL, name)
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, ch, nil
}

// openConsumer consumes queue with manual acks and prefetch; the caller
// closes the connection.
func openConsumer(ctx context.Context, amqpURL, name, queue, tag string, prefetch int) (*amqp.Connection, <-chan amqp.Delivery, error) {
	conn, ch, err := openChannel(ctx, amqpURL, name)
	if err != nil {
		return nil, nil, err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		conn.Close()
		return nil, nil, err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue, tag, false, false, false, false, nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("consume %s: %w", queue, err)
	}
	return conn, deliveries, nil
}

func redact(amqpURL string) string {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return "the AMQP URL"
	}
	return u.Redacted()
}

func declare(ctx context.Context, amqpURL string) error {
	conn, ch, err := openChannel(ctx, amqpURL, declareConnName)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := ch.ExchangeDeclare(deadLetterXchg, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", deadLetterXchg, err)
	}
	if _, err := ch.QueueDeclare(deadLetterQueue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", deadLetterQueue, err)
	}
	if err := ch.QueueBind(deadLetterQueue, "", deadLetterXchg, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", deadLetterQueue, deadLetterXchg, err)
	}
	args := amqp.Table{"x-dead-letter-exchange": deadLetterXchg}
	if _, err := ch.QueueDeclare(queueName, true, false, false, false, args); err != nil {
		return fmt.Errorf("declare queue %s: %w", queueName, err)
	}
	return nil
}

// produce publishes at the configured rate through the default exchange,
// with publisher confirms so that a broker that stops confirming stops the
// producer instead of buffering without bound.
func produce(ctx context.Context, o options, c *counts) error {
	conn, ch, err := openChannel(ctx, o.amqpURL, producerConnName)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ticker := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer ticker.Stop()
	for n := int64(1); ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-closed:
			return fmt.Errorf("producer connection closed: %v", err)
		case <-ticker.C:
		}
		poison := o.poisonEvery > 0 && n%int64(o.poisonEvery) == 0
		msg := amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Timestamp:    time.Now(),
			MessageId:    "order-" + strconv.FormatInt(n, 10),
			Body:         fmt.Appendf(nil, `{"order_id":%d,"event":"order.created"}`, n),
		}
		if poison {
			msg.Headers = amqp.Table{poisonHeader: true}
			msg.Body = []byte(`{"order_id":"not a number"}`)
		}
		confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queueName, false, false, msg)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("publish: %w", err)
		}
		ok, err := confirm.WaitContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait for confirm: %w", err)
		}
		if !ok {
			return errors.New("the broker nacked a publish")
		}
		c.published.Add(1)
		if poison {
			c.poison.Add(1)
		}
	}
}

// consume processes the queue, fast or slow by phase. Prefetch 1 makes the
// slow phase's rate exactly 1/slowDelay, whatever the backlog.
func consume(ctx context.Context, o options, c *counts) error {
	conn, deliveries, err := openConsumer(ctx, o.amqpURL, consumerConnName, queueName, consumerTag, 1)
	if err != nil {
		return err
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	start := time.Now()
	cycle := o.fast + o.slow
	slowAt := func(t time.Time) bool { return t.Sub(start)%cycle >= o.fast }
	slow := false
	log.Printf("phase: fast (processing at full speed for %v)", o.fast)
	phaseCheck := time.NewTicker(time.Second)
	defer phaseCheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-closed:
			return fmt.Errorf("consumer connection closed: %v", err)
		case now := <-phaseCheck.C:
			// Phase changes are logged even while no message arrives.
			if s := slowAt(now); s != slow {
				slow = s
				logPhase(slow, o)
			}
		case d, ok := <-deliveries:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("the broker cancelled the consumer")
			}
			if poison, _ := d.Headers[poisonHeader].(bool); poison {
				// Not requeued: the broker dead-letters it to orders.dlq.
				if err := d.Reject(false); err != nil {
					return fmt.Errorf("reject: %w", err)
				}
				c.rejected.Add(1)
				continue
			}
			if slowAt(time.Now()) {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(o.slowDelay):
				}
			}
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			c.acked.Add(1)
		}
	}
}

func logPhase(slow bool, o options) {
	if slow {
		log.Printf("phase: slow (%v per message, %.0f/s against %g/s published, for %v): the backlog grows",
			o.slowDelay, float64(time.Second)/float64(o.slowDelay), o.rate, o.slow)
		return
	}
	log.Printf("phase: fast (processing at full speed for %v): the backlog drains", o.fast)
}
