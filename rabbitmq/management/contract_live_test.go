package management

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// startLiveContractNode starts a private 3.10 node and brings it into the
// contract scenario (see contract_test.go). The quorum queue's consumer
// stays attached until the test ends.
func startLiveContractNode(t *testing.T) (string, string) {
	n := rabbittest.StartT(t, rabbittest.Options{})
	if _, err := n.Ctl("set_policy", "--apply-to", "queues", "contract", `^contract\.classic$`, `{"max-length":1000,"ha-mode":"all"}`); err != nil {
		t.Fatal(err)
	}
	_, ch := n.Channel(t, "/")
	declare(t, ch, "contract.classic", amqp.Table{"x-message-ttl": int32(24 * time.Hour / time.Millisecond)})
	declare(t, ch, "contract.idle", nil)
	declare(t, ch, "contract.quorum", amqp.Table{"x-queue-type": "quorum"})
	declare(t, ch, "contract.stream", amqp.Table{"x-queue-type": "stream"})
	publishConfirmed(t, ch, "contract.classic", 5, time.Unix(contractStamp, 0))
	publishConfirmed(t, ch, "contract.quorum", 4, time.Time{})
	publishConfirmed(t, ch, "contract.stream", 3, time.Time{})
	for range 2 {
		d, ok, err := ch.Get("contract.classic", false)
		if err != nil || !ok {
			t.Fatalf("basic.get on contract.classic: %v (found a message: %v)", err, ok)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	holdQuorumDeliveries(t, n)
	return n.MgmtURL, n.Name
}

func declare(t *testing.T, ch *amqp.Channel, name string, args amqp.Table) {
	t.Helper()
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declare %s: %v", name, err)
	}
}

// publishConfirmed publishes n messages "hello" to queue and waits for
// the broker's confirms.
func publishConfirmed(t *testing.T, ch *amqp.Channel, queue string, n int, stamp time.Time) {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, true, false,
			amqp.Publishing{Body: []byte("hello"), Timestamp: stamp})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(context.Background()); err != nil || !ok {
			t.Fatalf("publish to %s not confirmed: %v", queue, err)
		}
	}
}

// holdQuorumDeliveries attaches the scenario's consumer to
// contract.quorum: it receives all 4 messages, acks the first and holds
// the other 3 unacknowledged.
func holdQuorumDeliveries(t *testing.T, n *rabbittest.Node) {
	t.Helper()
	_, ch := n.Channel(t, "/")
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("contract.quorum", "contract", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for i := range 4 {
		select {
		case d := <-deliveries:
			if i == 0 {
				if err := d.Ack(false); err != nil {
					t.Fatal(err)
				}
			}
		case <-timeout:
			t.Fatalf("contract.quorum delivered %d of 4 messages in 30s", i)
		}
	}
}
