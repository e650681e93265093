package rabbittest

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Channel opens a connection to vhost on the node, as guest, and a
// channel on it; the connection is closed when the test ends.
func (n *Node) Channel(t testing.TB, vhost string) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(strings.TrimSuffix(n.AMQPURL, "/") + "/" + strings.ReplaceAll(vhost, "/", "%2F"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	return conn, ch
}
