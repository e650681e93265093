package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The outbox flow: invoices written to a PostgreSQL outbox table in their
// own transaction, and a dispatcher (relay) that publishes them to the
// queue `invoices`, whose consumer keeps up. The dispatcher dies on a
// schedule (--dispatch-down of every --dispatch-up + --dispatch-down),
// while every broker metric stays quiet: only the outbox shows it.
const (
	outboxQueue        = "invoices"
	outboxConsumerTag  = "demo-invoice-processor"
	dispatcherConnName = "demo-workload/dispatcher"
	invoiceConnName    = "demo-workload/invoices"
	dispatchBatch      = 200
	dispatchEvery      = 200 * time.Millisecond
)

type outboxOptions struct {
	dsn           string
	rate          float64
	up, down      time.Duration
	amqpURL       string
	writer, relay *pgx.Conn
	eventTypes    []string
}

// runOutbox runs the writer, the dispatcher and the invoice consumer
// until ctx is done or one fails.
func runOutbox(ctx context.Context, o *outboxOptions) error {
	var err error
	if o.writer, err = pgx.Connect(ctx, o.dsn); err != nil {
		return errors.New("connect to the outbox database: check --outbox-dsn")
	}
	defer o.writer.Close(context.Background())
	if o.relay, err = pgx.Connect(ctx, o.dsn); err != nil {
		return errors.New("connect to the outbox database: check --outbox-dsn")
	}
	defer o.relay.Close(context.Background())
	conn, ch, err := openChannel(ctx, o.amqpURL, dispatcherConnName)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := ch.QueueDeclare(outboxQueue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", outboxQueue, err)
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	log.Printf("outbox: writing %g invoices/s into the outbox; the dispatcher publishes them to %s, and dies for %v of every %v",
		o.rate, outboxQueue, o.down, o.up+o.down)
	errs := make(chan error, 3)
	go func() { errs <- o.write(ctx) }()
	go func() { errs <- o.dispatch(ctx, ch) }()
	go func() { errs <- consumeInvoices(ctx, o.amqpURL) }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	}
}

// write inserts one invoice event per tick, each its own transaction, as
// the business change it stands for would commit it.
func (o *outboxOptions) write(ctx context.Context) error {
	ticker := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer ticker.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		eventType := o.eventTypes[n%len(o.eventTypes)]
		if _, err := o.writer.Exec(ctx, "INSERT INTO outbox (event_type, payload) VALUES ($1, $2)", eventType, fmt.Sprintf(`{"invoice": %d}`, n)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("outbox write: %w", err)
		}
	}
}

// dispatch publishes the pending rows oldest first, marking each batch
// dispatched in the transaction that locked it, once the broker has
// confirmed the batch; during its down phase it does nothing.
func (o *outboxOptions) dispatch(ctx context.Context, ch *amqp.Channel) error {
	start := time.Now()
	down := false
	ticker := time.NewTicker(dispatchEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if d := time.Since(start)%(o.up+o.down) >= o.up; d != down {
			down = d
			if down {
				log.Printf("outbox: phase: the dispatcher is dead for %v; rows pile up in the outbox, the queue %s goes quiet", o.down, outboxQueue)
			} else {
				log.Printf("outbox: phase: the dispatcher is back for %v and drains the outbox", o.up)
			}
		}
		if down {
			continue
		}
		if err := o.dispatchBatch(ctx, ch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (o *outboxOptions) dispatchBatch(ctx context.Context, ch *amqp.Channel) error {
	tx, err := o.relay.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox dispatch: %w", err)
	}
	defer tx.Rollback(context.Background())
	rows, err := tx.Query(ctx, `SELECT id, event_type, payload FROM outbox WHERE dispatched_at IS NULL
		ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, dispatchBatch)
	if err != nil {
		return fmt.Errorf("outbox dispatch: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		var eventType, payload string
		if err := rows.Scan(&id, &eventType, &payload); err != nil {
			return err
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", outboxQueue, false, false,
			amqp.Publishing{Type: eventType, Body: []byte(payload), DeliveryMode: amqp.Persistent, Timestamp: time.Now()})
		if err != nil {
			return fmt.Errorf("outbox publish: %w", err)
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("outbox publish of row %d not confirmed", id)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE outbox SET dispatched_at = now() WHERE id = ANY($1)", ids); err != nil {
		return fmt.Errorf("outbox mark dispatched: %w", err)
	}
	return tx.Commit(ctx)
}

// consumeInvoices acks every invoice as it arrives: the consumer is never
// the problem in this flow.
func consumeInvoices(ctx context.Context, amqpURL string) error {
	conn, deliveries, err := openConsumer(ctx, amqpURL, invoiceConnName, outboxQueue, outboxConsumerTag, 50)
	if err != nil {
		return err
	}
	defer conn.Close()
	for d := range deliveries {
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the broker cancelled the invoice consumer")
}
