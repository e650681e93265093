package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/management"
)

// sizingQueues is how many busy queues the sizing test measures.
const sizingQueues = 20

// TestDefaultMaxResponseSizeHoldsTheListingOf100kBusyQueues measures the
// bytes one queue takes in warren's own listing, as a target with the
// default settings asks for it (every column, the sample history of a
// 15 s poll at a 5 s stats interval, the processing series), for a queue
// where everything happens: publishes, acks, nacks that redeliver,
// deliveries and gets without ack, a length limit and a TTL in its
// arguments, a policy. The default max_response_size must hold 100,000
// such queues.
func TestDefaultMaxResponseSizeHoldsTheListingOf100kBusyQueues(t *testing.T) {
	t.Parallel()
	const vhost = "sizing"
	addVhost(t, broker, vhost)
	if _, err := broker.Ctl("set_policy", "-p", vhost, "--apply-to", "queues", "sizing", ".*", `{"max-length-bytes":1073741824}`); err != nil {
		t.Fatal(err)
	}
	names := make([]string, sizingQueues)
	for i := range names {
		names[i] = fmt.Sprintf("orders.payment-service.events-%03d", i)
	}
	stop := busyQueues(t, vhost, names)
	defer stop()

	cfg, err := config.Parse("sizing.yml", []byte(fmt.Sprintf("targets:\n  - name: sizing\n    management_url: %s\n    username: guest\n    password: guest\n    vhosts: {include: %s}\n    probes: {enabled: false}\n", broker.MgmtURL, vhost)))
	must(t, err)
	target := cfg.Targets[0]
	src, err := management.New(target)
	must(t, err)
	span := target.PollInterval.Std()
	// Every series of every queue with the samples of a whole span.
	want := int((span + 3*target.StatsInterval.Std()) / target.StatsInterval.Std())
	var version string
	eventually(t, 2*time.Minute, func() (bool, string) {
		snap, err := src.Read(context.Background(), time.Now(), span)
		if err != nil {
			return false, err.Error()
		}
		version = snap.RabbitMQVersion
		for _, q := range snap.Queues {
			c := q.Counters
			if len(q.Samples) < want-1 || len(q.DeliverySamples) < want-1 || c.Redelivered == 0 || c.Completed <= c.Acked || c.DeliveredManual == c.Delivered {
				return false, fmt.Sprintf("%s: %d samples, %d delivery samples, counters %+v", q.Name, len(q.Samples), len(q.DeliverySamples), c)
			}
		}
		return len(snap.Queues) == sizingQueues, fmt.Sprintf("%d queues", len(snap.Queues))
	})
	// The listing with every queue's history: what a poll asks where many queues need theirs.
	listing := src.RequestsOf(version, span).PollWithEveryHistory[2]
	_, query, _ := strings.Cut(listing, "?")
	n, err := src.Fetch(context.Background(), []string{"queues/" + vhost + "?" + query})
	must(t, err)
	perQueue := float64(n-2) / sizingQueues
	t.Logf("warren's listing: %d bytes for %d busy queues, %.0f bytes a queue; 100,000 queues: %.0f MB; default max_response_size %d bytes",
		n, sizingQueues, perQueue, perQueue*100000/1e6, config.DefaultMaxResponseSize)
	if need := config.Size(perQueue * 100000); config.DefaultMaxResponseSize < need {
		t.Errorf("the default max_response_size, %d bytes, does not hold 100,000 queues of %.0f bytes (%d bytes)", config.DefaultMaxResponseSize, perQueue, need)
	}
}

// busyQueues declares the queues and keeps everything happening on them
// until the returned stop: publishes, gets without ack, deliveries to a
// consumer without ack, and to one that acks, nacking every fifth
// delivery back into the queue.
func busyQueues(t *testing.T, vhost string, names []string) (stop func()) {
	t.Helper()
	_, pub := broker.Channel(t, vhost)
	_, manual := broker.Channel(t, vhost)
	_, auto := broker.Channel(t, vhost)
	must(t, manual.Qos(1, 0, false))
	for _, name := range names {
		_, err := pub.QueueDeclare(name, true, false, false, false, amqp.Table{"x-max-length": int32(100000), "x-message-ttl": int32(3600000)})
		must(t, err)
		for range 3 {
			must(t, pub.PublishWithContext(context.Background(), "", name, false, false, amqp.Publishing{Body: []byte("order")}))
		}
		for range 2 {
			_, _, err := pub.Get(name, true)
			must(t, err)
		}
		deliveries, err := manual.Consume(name, "", false, false, false, false, nil)
		must(t, err)
		go func() {
			i := 0
			for d := range deliveries {
				i++
				if i%5 == 0 {
					d.Nack(false, true)
				} else {
					d.Ack(false)
				}
			}
		}()
		_, err = auto.Consume(name, "", true, false, false, false, nil)
		must(t, err)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for _, name := range names {
				if pub.PublishWithContext(context.Background(), "", name, false, false, amqp.Publishing{Body: []byte("order")}) != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
