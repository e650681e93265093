package amqpclient

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
)

// openChannel opens a channel on conn and runs setup on it (confirm.select,
// basic.consume, ...), giving up when ctx ends. amqp091's channel methods
// take no context and block until the broker answers, which a blocked
// connection never does; so the work runs on a goroutine of its own. If the
// caller gives up, that goroutine closes the channel once the broker
// answers, or ends when the connection closes, whichever comes first.
//
// The returned closes channel is the channel's NotifyClose listener
// (buffered), registered before setup runs so that no exception is missed.
// On error, closeErr is what that listener had received, if anything.
func openChannel[T any](ctx context.Context, conn *amqp.Connection, setup func(ch *amqp.Channel) (T, error)) (
	ch *amqp.Channel, closes <-chan *amqp.Error, value T, closeErr *amqp.Error, err error,
) {
	type result struct {
		ch       *amqp.Channel
		closes   <-chan *amqp.Error
		value    T
		closeErr *amqp.Error
		err      error
	}
	done := make(chan result) // unbuffered: a send succeeds only if the caller still waits
	go func() {
		var r result
		r.ch, r.err = conn.Channel()
		if r.err == nil {
			r.closes = r.ch.NotifyClose(make(chan *amqp.Error, 1))
			if r.value, r.err = setup(r.ch); r.err != nil {
				r.closeErr = receiveNow(r.closes)
				r.ch.Close() // returns at once if the broker already closed it
				r.ch, r.closes = nil, nil
			}
		}
		select {
		case done <- r:
		case <-ctx.Done():
			if r.ch != nil {
				r.ch.Close()
			}
		}
	}()
	select {
	case r := <-done:
		return r.ch, r.closes, r.value, r.closeErr, r.err
	case <-ctx.Done():
		var zero T
		return nil, nil, zero, nil, ctx.Err()
	}
}

// receiveNow returns what a NotifyClose listener holds, without waiting:
// the close reason if one was sent, nil if none was sent yet or the
// listener was closed after a graceful close.
func receiveNow(closes <-chan *amqp.Error) *amqp.Error {
	select {
	case e := <-closes:
		return e
	default:
		return nil
	}
}
