package dlq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// consumerCheck answers, once per queue, whether a destination queue has
// consumers. Replaying into a queue nobody consumes only fills it again
// (or, for a work queue whose consumer still fails, the DLQ).
type consumerCheck struct {
	conn  *amqp.Connection
	known map[string]verdict
}

// verdict is what a check found: a reason to refuse ("" when none), and
// whether --force may override it (no consumer: yes; no queue: never).
type verdict struct {
	reason    string
	forceable bool
}

func newConsumerCheck(conn *amqp.Connection) *consumerCheck {
	return &consumerCheck{conn: conn, known: map[string]verdict{}}
}

// refuses returns why replaying into queue is refused ("" when it is not):
// it does not exist, or has no consumer and force is not set. An empty
// queue name (a destination exchange) is not checked: AMQP cannot tell
// where an exchange routes.
func (c *consumerCheck) refuses(queue string, force bool) (string, error) {
	if queue == "" {
		return "", nil
	}
	v, ok := c.known[queue]
	if !ok {
		// A passive declare of a missing queue closes its channel: each
		// check has a channel of its own.
		ch, err := c.conn.Channel()
		if err != nil {
			return "", fmt.Errorf("opening a channel: %w", err)
		}
		q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
		switch {
		case err != nil:
			v = verdict{reason: fmt.Sprintf("destination queue %s: %v", queue, err)}
		case q.Consumers == 0:
			v = verdict{reason: fmt.Sprintf("destination queue %s has no consumer (--force replays anyway)", queue), forceable: true}
		default:
			ch.Close()
		}
		c.known[queue] = v
	}
	if force && v.forceable {
		return "", nil
	}
	return v.reason, nil
}
