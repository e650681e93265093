package dlq

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Destination is where replay sends messages: exactly one of Queue,
// Exchange (with RoutingKey) or neither, which is each message's origin.
type Destination struct {
	Queue      string
	Exchange   string
	RoutingKey string
	// OriginExchange, for an origin destination, republishes to the
	// first death's exchange and routing key instead of to the source
	// queue through the default exchange. The exchange may route the copy
	// to other queues too, which then get a message they already
	// processed: that is why it is not the default.
	OriginExchange bool
}

// Origin reports whether messages go back where each one first died.
func (d Destination) Origin() bool { return d.Queue == "" && d.Exchange == "" }

// target is one message's resolved destination: where it is published and
// the queue whose consumers are checked (empty when unknown).
type target struct {
	exchange, key, queue string
}

func (t target) String() string {
	if t.exchange == "" {
		return "queue " + t.key
	}
	return fmt.Sprintf("exchange %s, routing key %q", t.exchange, t.key)
}

// errNoOrigin is a dead letter that says nothing of where it came from
// (no x-death, no x-first-death-queue): it cannot go back to its origin.
var errNoOrigin = errors.New("no x-death header: origin unknown")

// resolve returns where msg goes.
func (d Destination) resolve(msg amqp.Delivery) (target, error) {
	switch {
	case d.Queue != "":
		return target{key: d.Queue, queue: d.Queue}, nil
	case d.Exchange != "":
		return target{exchange: d.Exchange, key: d.RoutingKey}, nil
	}
	first, ok := First(msg.Headers)
	if !ok || first.Queue == "" {
		return target{}, errNoOrigin
	}
	if d.OriginExchange && first.Exchange != "" && len(first.RoutingKeys) > 0 {
		return target{exchange: first.Exchange, key: first.RoutingKeys[0], queue: first.Queue}, nil
	}
	return target{key: first.Queue, queue: first.Queue}, nil
}

// replayHeaders are msg's headers for its copy: all kept, the death
// history dropped if strip, and the replay's own two added.
func replayHeaders(msg amqp.Delivery, strip bool, replayedAt, id string) amqp.Table {
	h := make(amqp.Table, len(msg.Headers)+2)
	for k, v := range msg.Headers {
		if strip && isDeathHeader(k) {
			continue
		}
		h[k] = v
	}
	h[HeaderReplayedAt] = replayedAt
	h[HeaderReplayID] = id
	return h
}

// The headers replay adds to every copy.
const (
	// HeaderReplayedAt is when the copy was published (RFC 3339, UTC).
	HeaderReplayedAt = "x-warren-replayed-at"
	// HeaderReplayID names the copy within its run; a basic.return is
	// matched to its message by it.
	HeaderReplayID = "x-warren-replay-id"
)

func isDeathHeader(k string) bool {
	switch k {
	case "x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange",
		"x-last-death-queue", "x-last-death-reason", "x-last-death-exchange":
		return true
	}
	return false
}

// copyOf is the publishing that replays msg: every property kept but
// user-id, which the broker checks against the publishing user and would
// refuse (closing the channel) when another user set it.
func copyOf(msg amqp.Delivery, headers amqp.Table, user string) amqp.Publishing {
	p := amqp.Publishing{
		Headers: headers, ContentType: msg.ContentType, ContentEncoding: msg.ContentEncoding,
		DeliveryMode: msg.DeliveryMode, Priority: msg.Priority, CorrelationId: msg.CorrelationId,
		ReplyTo: msg.ReplyTo, Expiration: msg.Expiration, MessageId: msg.MessageId,
		Timestamp: msg.Timestamp, Type: msg.Type, AppId: msg.AppId, Body: msg.Body,
	}
	if msg.UserId == user {
		p.UserId = msg.UserId
	}
	return p
}
