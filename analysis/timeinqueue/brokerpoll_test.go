package timeinqueue

// The ground-truth harness reads a real broker through warren's own
// poller, as in production. The poller still hands out the collector's
// Snapshot type while the Estimator reads snapshot.Snapshot, so this
// file, the package's only import of collector, polls and converts.
// When the poller (or its successor, a rabbitmq/management source)
// yields snapshot.Snapshot, brokerPoller shrinks to a call of it.

import (
	"context"
	"log/slog"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// brokerPoller polls one target and converts what it saw.
type brokerPoller struct {
	poller *collector.Poller
	// seen is the poller's latest snapshot, converted as converted: the
	// same poller snapshot yields the same *snapshot.Snapshot.
	seen      *collector.Snapshot
	converted *snapshot.Snapshot
}

func newBrokerPoller(tg config.Target) (*brokerPoller, error) {
	c, err := collector.New(&config.Config{Targets: []config.Target{tg}}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return &brokerPoller{poller: c.Pollers()[0]}, nil
}

// poll polls once. It returns the latest successful poll's snapshot (nil
// before the first; the same pointer again when this poll failed) and
// whether this poll succeeded, with its error when it did not.
func (b *brokerPoller) poll(ctx context.Context) (snap *snapshot.Snapshot, up bool, lastErr string) {
	b.poller.Poll(ctx)
	if s := b.poller.Snapshot(); s != b.seen {
		b.seen, b.converted = s, convertSnapshot(s)
	}
	h := b.poller.Health()
	return b.converted, h.Up, h.LastError
}

// convertSnapshot copies what the estimator and the harness read of a
// collector snapshot. Dead-letter routes are not copied (a
// snapshot.Snapshot has a Topology instead, which nothing here reads).
func convertSnapshot(c *collector.Snapshot) *snapshot.Snapshot {
	if c == nil {
		return nil
	}
	s := &snapshot.Snapshot{
		Cluster: c.Cluster, Time: c.Time, Duration: c.Duration,
		RabbitMQVersion: c.RabbitMQVersion, ErlangVersion: c.ErlangVersion,
		ManagementVersion: c.ManagementVersion, ClusterName: c.ClusterName,
		QueuesDropped: c.QueuesDropped,
	}
	for _, n := range c.Nodes {
		s.Nodes = append(s.Nodes, snapshot.Node(n))
	}
	for _, q := range c.Queues {
		s.Queues = append(s.Queues, snapshot.Queue{
			Vhost: q.Vhost, Name: q.Name, Type: q.Type, Node: q.Node,
			DeadLetterExchange: q.DeadLetterExchange, DeadLetterRoutingKey: q.DeadLetterRoutingKey,
			HasDeadLetterExchange: q.HasDeadLetterExchange, HasDeadLetterRouting: q.HasDeadLetterRouting,
			StatsKnown: q.StatsKnown, Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers,
			ConsumerCapacity: q.ConsumerCapacity, HasConsumerCapacity: q.HasConsumerCapacity,
			HeadTimestamp: q.HeadTimestamp,
			Counters:      snapshot.Counters(q.Counters),
			Samples:       convertSamples(q.Samples),
		})
	}
	return s
}

func convertSamples(c []collector.Sample) []snapshot.Sample {
	if c == nil {
		return nil
	}
	s := make([]snapshot.Sample, len(c))
	for i, x := range c {
		s[i] = snapshot.Sample(x)
	}
	return s
}
