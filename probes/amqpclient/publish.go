package amqpclient

import (
	"bytes"
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Confirmation is the broker's answer to one Publish.
type Confirmation struct {
	Acked    bool          // broker acked (false: nacked)
	Returned bool          // broker returned it as unroutable (basic.return arrives before the ack)
	Latency  time.Duration // from just before the publish frame was written to the confirm
}

// returnBuffer is the capacity of the basic.return listener. Publish empties
// it on every call; amqp091 delivers returns from the connection's reader
// goroutine and would stall it (for up to 5s) on a full listener.
const returnBuffer = 64

// publisherChannel is the confirm-mode channel Publish uses, with its
// listeners. It is reused across publishes until it or its connection
// closes.
type publisherChannel struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	returns  <-chan amqp.Return
	closes   <-chan *amqp.Error
	closeErr *amqp.Error // cached once received from closes
}

func (pc *publisherChannel) usable() bool {
	return !pc.conn.IsClosed() && !pc.ch.IsClosed()
}

// closeReason returns why the channel closed, if the broker or the
// connection said so.
func (pc *publisherChannel) closeReason() *amqp.Error {
	if pc.closeErr == nil {
		pc.closeErr = receiveNow(pc.closes)
	}
	return pc.closeErr
}

// discardReturns empties the return buffer. Whatever is in it belongs to
// earlier publishes whose callers stopped waiting.
func (pc *publisherChannel) discardReturns() {
	for {
		select {
		case _, ok := <-pc.returns:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// takeReturn reports whether the broker returned msg. It must be called
// after msg's confirm arrived: RabbitMQ sends a mandatory message's
// basic.return before its basic.ack, and amqp091 hands both over from the
// same reader goroutine in that order, so a return for msg is buffered by
// then. Returns carry no delivery tag; a return is taken as msg's when
// exchange, routing key, message ID, correlation ID and body all match.
// Returns for earlier messages (whose callers gave up) are discarded.
func (pc *publisherChannel) takeReturn(exchange, key string, msg amqp.Publishing) bool {
	for {
		select {
		case r, ok := <-pc.returns:
			if !ok {
				return false
			}
			if r.Exchange == exchange && r.RoutingKey == key && r.MessageId == msg.MessageId &&
				r.CorrelationId == msg.CorrelationId && bytes.Equal(r.Body, msg.Body) {
				return true
			}
		default:
			return false
		}
	}
}

// Publish publishes msg to exchange with routing key, mandatory, on the
// confirm-mode publisher channel (connecting and reopening the channel as
// needed), and waits for its confirm until ctx is done.
//
// A nil error means the broker answered: Confirmation says whether it acked
// or nacked and whether it returned the message as unroutable. Publish
// returns ErrBlocked, without publishing, when the publisher connection is
// blocked at call time; if the connection becomes blocked while Publish
// waits for the confirm and ctx ends, it returns ErrBlocked too (wrapping
// the ctx error), otherwise ErrConfirmTimeout. A message to a missing
// exchange yields a *ChannelError (404); the next Publish opens a new
// channel. A lost or unobtainable connection yields a *ConnectError, also
// when ctx ends while waiting for a reconnect or a dial; if ctx ends while
// the channel is being opened, the error wraps ctx's error. See the
// package's error variables for the order in which to classify errors.
//
// The publish itself is a socket write that takes no context; it cannot
// block for long with probe-sized messages, which fit the socket buffer
// even when the broker has stopped reading.
//
// Returns are matched to messages by content (see takeReturn): give each
// message a distinct MessageId or body, as probes do.
func (c *Client) Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) (Confirmation, error) {
	ctx, release := c.bind(ctx)
	defer release()
	if err := c.publishLock.lock(ctx); err != nil {
		return Confirmation{}, ctxErr(ctx)
	}
	defer c.publishLock.unlock()

	if blocked, reason := c.publisher.blockedState(); blocked {
		return Confirmation{}, fmt.Errorf("%w: %s", ErrBlocked, reason)
	}
	pc, err := c.publisherChannel(ctx)
	if err != nil {
		return Confirmation{}, err
	}
	pc.discardReturns()

	start := time.Now()
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	if err != nil {
		if ctx.Err() != nil {
			return Confirmation{}, ctxErr(ctx)
		}
		return Confirmation{}, channelFailure(ctx, RolePublisher, c.redact, pc.conn, pc.closeReason(), err)
	}

	select {
	case <-dc.Done():
		latency := time.Since(start)
		acked := dc.Acked()
		if !acked && pc.ch.IsClosed() {
			// amqp091 nacks every outstanding confirm when the channel
			// closes; that is not the broker's nack. (IsClosed is set before
			// the confirms are released, so this check is reliable.)
			return Confirmation{}, channelFailure(ctx, RolePublisher, c.redact, pc.conn, pc.closeReason(), amqp.ErrClosed)
		}
		return Confirmation{
			Acked:    acked,
			Returned: pc.takeReturn(exchange, key, msg),
			Latency:  latency,
		}, nil
	case <-ctx.Done():
		if err := closedErr(ctx); err != nil {
			return Confirmation{}, err
		}
		if blocked, reason := c.publisher.blockedState(); blocked {
			return Confirmation{}, fmt.Errorf("%w (%s), no confirm: %w", ErrBlocked, reason, ctx.Err())
		}
		return Confirmation{}, fmt.Errorf("%w: %w", ErrConfirmTimeout, ctx.Err())
	}
}

// publisherChannel returns the open confirm-mode channel, opening the
// connection and the channel if needed. Called with publishLock held.
func (c *Client) publisherChannel(ctx context.Context) (*publisherChannel, error) {
	if pc := c.publishCh; pc != nil && pc.usable() {
		return pc, nil
	}
	c.publishCh = nil
	conn, err := c.publisher.connection(ctx)
	if err != nil {
		return nil, err
	}
	var returns <-chan amqp.Return
	ch, closes, _, closeErr, err := openChannel(ctx, conn, func(ch *amqp.Channel) (struct{}, error) {
		// Listen for returns before any publish, then enter confirm mode.
		returns = ch.NotifyReturn(make(chan amqp.Return, returnBuffer))
		return struct{}{}, ch.Confirm(false)
	})
	if err != nil {
		if ctx.Err() != nil {
			if e := closedErr(ctx); e != nil {
				return nil, e
			}
			if blocked, reason := c.publisher.blockedState(); blocked {
				return nil, fmt.Errorf("%w (%s), opening the channel: %w", ErrBlocked, reason, ctx.Err())
			}
			return nil, fmt.Errorf("amqpclient: opening the publisher channel: %w", ctx.Err())
		}
		return nil, channelFailure(ctx, RolePublisher, c.redact, conn, closeErr, err)
	}
	c.publishCh = &publisherChannel{conn: conn, ch: ch, returns: returns, closes: closes}
	return c.publishCh, nil
}

// Declare runs fn on a fresh channel of the publisher connection
// (connecting if needed) and closes the channel afterwards; it is meant for
// declaring exchanges, queues and bindings. A channel exception raised by
// the broker (a redeclare with other arguments, a missing queue, no
// permission) is returned as *ChannelError; a lost connection as
// *ConnectError; other errors of fn as they are.
//
// fn runs on a goroutine of its own because amqp091's channel methods take
// no context: if ctx ends first, Declare returns and the channel is closed
// when fn returns. Declare returns ErrBlocked at once when the publisher
// connection is blocked, since the broker would not read the declarations.
func (c *Client) Declare(ctx context.Context, fn func(ch *amqp.Channel) error) error {
	ctx, release := c.bind(ctx)
	defer release()
	if blocked, reason := c.publisher.blockedState(); blocked {
		return fmt.Errorf("%w: %s", ErrBlocked, reason)
	}
	conn, err := c.publisher.connection(ctx)
	if err != nil {
		return err
	}
	// The channel is closed inside the setup function, on openChannel's
	// goroutine, because channel.close waits for the broker too.
	_, _, _, closeErr, err := openChannel(ctx, conn, func(ch *amqp.Channel) (struct{}, error) {
		if err := fn(ch); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, ch.Close()
	})
	if err != nil {
		if ctx.Err() != nil {
			if e := closedErr(ctx); e != nil {
				return e
			}
			if blocked, reason := c.publisher.blockedState(); blocked {
				return fmt.Errorf("%w (%s), declaring: %w", ErrBlocked, reason, ctx.Err())
			}
			return fmt.Errorf("amqpclient: declare: %w", ctx.Err())
		}
		return channelFailure(ctx, RolePublisher, c.redact, conn, closeErr, err)
	}
	return nil
}
