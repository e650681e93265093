package amqpclient

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// consumer is one auto-ack consumer, on a channel of its own on the
// consumer connection.
type consumer struct {
	conn       *amqp.Connection
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	// cancels receives the consumer tag when the broker cancels the
	// consumer (queue deleted, ...). amqp091 then closes deliveries but
	// keeps the channel open, so the channel's state alone does not tell.
	cancels   <-chan string
	cancelled bool
}

func (cs *consumer) healthy() bool {
	if cs.cancelled || cs.conn.IsClosed() || cs.ch.IsClosed() {
		return false
	}
	select {
	case <-cs.cancels: // a tag, or closed with the channel
		cs.cancelled = true
		return false
	default:
		return true
	}
}

// Consume returns the delivery channel of an auto-ack consumer on queue, on
// the consumer connection. If a healthy consumer for queue exists it returns
// the same channel. If the consumer's connection or channel died, or the
// broker cancelled it, Consume establishes a new one (amqp091 has closed the
// old delivery channel by then), reconnecting with backoff if needed; so a
// caller that sees its delivery channel close just calls Consume again.
//
// A missing queue or missing permission yields a *ChannelError, and a
// connection problem a *ConnectError. Read the delivery channel promptly:
// amqp091 buffers deliveries in memory without bound.
func (c *Client) Consume(ctx context.Context, queue string) (<-chan amqp.Delivery, error) {
	ctx, release := c.bind(ctx)
	defer release()
	if err := c.consumeLock.lock(ctx); err != nil {
		return nil, ctxErr(ctx)
	}
	defer c.consumeLock.unlock()

	if cs := c.consumers[queue]; cs != nil {
		if cs.healthy() {
			return cs.deliveries, nil
		}
		delete(c.consumers, queue)
		if !cs.ch.IsClosed() {
			// Cancelled by the broker: the channel is still open. Close it
			// in the background; closing waits for the broker.
			go cs.ch.Close()
		}
	}

	conn, err := c.consumer.connection(ctx)
	if err != nil {
		return nil, err
	}
	type started struct {
		deliveries <-chan amqp.Delivery
		cancels    <-chan string
	}
	ch, _, s, closeErr, err := openChannel(ctx, conn, func(ch *amqp.Channel) (started, error) {
		cancels := ch.NotifyCancel(make(chan string, 1))
		deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
		return started{deliveries, cancels}, err
	})
	if err != nil {
		if ctx.Err() != nil {
			if e := closedErr(ctx); e != nil {
				return nil, e
			}
			return nil, fmt.Errorf("amqpclient: starting consumer on %q: %w", queue, ctx.Err())
		}
		return nil, channelFailure(ctx, RoleConsumer, c.redact, conn, closeErr, err)
	}
	c.consumers[queue] = &consumer{conn: conn, ch: ch, deliveries: s.deliveries, cancels: s.cancels}
	return s.deliveries, nil
}
