// Package collector polls the RabbitMQ management API of each target and
// turns what it returns into immutable Snapshots: queues with their depths,
// counters, dead-letter routes and consumer status, nodes, and the cluster
// overview. It also renders the latest snapshot of every target as
// Prometheus metrics, so a scrape never calls the broker.
package collector

import (
	"time"
)

// Snapshot is what one successful poll of one target saw. It is never
// modified after the poll that made it returns, so readers need no lock.
type Snapshot struct {
	Cluster  string    // the target's name, the cluster label
	Time     time.Time // when the poll started
	Duration time.Duration

	RabbitMQVersion   string
	ErlangVersion     string
	ManagementVersion string
	ClusterName       string // the broker's own cluster_name

	Nodes []Node
	// Queues are the queues that pass the target's filters, sorted by
	// vhost then name, at most max_queues of them.
	Queues []Queue
	// QueuesDropped counts queues that passed the filters but were left
	// out by the max_queues cardinality guard.
	QueuesDropped int
	// DeadLetterRoutes are the source→DLQ pairs for exported queues,
	// sorted, discovered or configured.
	DeadLetterRoutes []DeadLetterRoute
}

// Node is one RabbitMQ node as the management API reports it.
type Node struct {
	Name       string
	Running    bool
	MemAlarm   bool
	DiskAlarm  bool
	Partitions int // nodes this node is partitioned from
	FDUsed     int64
	FDLimit    int64
}

// Queue is one queue at the time of the poll.
type Queue struct {
	Vhost string
	Name  string
	Type  string // classic, quorum, stream
	Node  string // the node hosting the queue (the leader for quorum queues)

	// DeadLetterExchange is the effective dead-letter exchange (argument
	// over policy); HasDeadLetterExchange distinguishes "" (the default
	// exchange) from none.
	DeadLetterExchange    string
	DeadLetterRoutingKey  string
	HasDeadLetterExchange bool
	HasDeadLetterRouting  bool

	// StatsKnown is false for a queue the broker has not yet emitted
	// statistics for (just declared, or its node just restarted): its
	// depth and counters are unknown, not zero, and are not exported.
	StatsKnown bool
	Ready      int64
	Unacked    int64
	Consumers  int64
	// ConsumerCapacity is the share of time consumers could take
	// deliveries (0..1); HasConsumerCapacity is false where the broker
	// does not report it.
	ConsumerCapacity    float64
	HasConsumerCapacity bool
	// HeadTimestamp is the AMQP timestamp of the oldest message, where the
	// broker reports one (classic queues whose publishers set it); zero
	// otherwise.
	HeadTimestamp time.Time

	Counters Counters
	// Samples is the broker's sample history of the queue since about the
	// previous poll, oldest first, on the broker's own clock: the points
	// where the publish counter, the depth and the completion counters
	// were all sampled. Empty where the broker gave none.
	Samples []Sample
	// Status is the consumer status; empty while StatsKnown is false.
	Status ConsumerStatus
}

// Messages is the depth: ready plus unacknowledged.
func (q *Queue) Messages() int64 { return q.Ready + q.Unacked }

// Key identifies a queue within a target.
func (q *Queue) Key() QueueKey { return QueueKey{Vhost: q.Vhost, Name: q.Name} }

// QueueKey identifies a queue within a target.
type QueueKey struct{ Vhost, Name string }

// Counters are the broker's cumulative per-queue message counters. They
// restart from zero when the queue is re-created or, for some queue types,
// when its node restarts.
type Counters struct {
	Published   uint64 // messages routed into the queue
	Delivered   uint64 // deliveries and gets, acked or not
	Acked       uint64 // acknowledgements
	Redelivered uint64 // deliveries of messages delivered before
	// Completed counts messages consumers are done with: acks plus
	// deliveries and gets in automatic-acknowledgement mode.
	Completed uint64
}

// Sample is the queue's cumulative publish count, depth (ready plus
// unacknowledged) and cumulative completions (like Counters.Completed) as
// the broker sampled them at Time.
type Sample struct {
	Time      time.Time
	Published uint64
	Messages  int64
	Completed uint64
}

// DeadLetterRoute says that dead letters of Queue can reach
// DeadLetterQueue, both in Vhost.
type DeadLetterRoute struct {
	Vhost           string
	Queue           string
	DeadLetterQueue string
}

// Tally is what an inflow estimate needs of a queue at one poll.
type Tally struct {
	Published, Completed uint64
	Messages             int64
}

// Tally returns the queue's cumulative counts and depth.
func (q *Queue) Tally() Tally {
	return Tally{Published: q.Counters.Published, Completed: q.Counters.Completed, Messages: q.Messages()}
}

// Inflow estimates how many messages entered a queue between two polls:
// the increase of its publish counter or, where larger, the growth of its
// depth plus the messages consumers completed meanwhile. The second is
// needed for dead-letter queues: RabbitMQ routes dead letters into them
// without counting a publish (a DLQ's message_stats.publish stays 0), so
// only its depth and acks show them arriving. Messages that expire or are
// dead-lettered out of the queue in the same interval are not seen. A
// counter that went backwards (the queue was re-created) counts from zero.
func Inflow(from, to Tally) float64 {
	grown := func(cur, base uint64) float64 {
		if cur < base {
			return float64(cur)
		}
		return float64(cur - base)
	}
	byDepth := float64(to.Messages-from.Messages) + grown(to.Completed, from.Completed)
	return max(grown(to.Published, from.Published), byDepth, 0)
}
