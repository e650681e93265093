// Package snapshot is the data model every stage of warren shares: what
// one read of one RabbitMQ target saw (nodes, queues with their depths,
// counters and sample history, the dead-letter topology), what one audit
// read of a target saw (Objects: its clients, queues, policies, users),
// and the errors of a read that failed.
//
// A source (rabbitmq/management, rabbitmq/promplugin) fills a Snapshot; the collector
// schedules sources and applies the cardinality guard; the analyses,
// SLIs, alerts and exposition only read it. A Snapshot is never modified
// after the poll that made it returns, so readers need no lock.
//
// Import rule: this package imports nothing of warren.
package snapshot

import (
	"slices"
	"time"
)

// Snapshot is what one successful poll of one target saw.
type Snapshot struct {
	Cluster  string    // the target's name, the cluster label
	Time     time.Time // when the poll started
	Duration time.Duration
	// ResponseBytes counts the bytes the broker returned to this poll.
	ResponseBytes int64
	// Source names what the statistics were read from: "management" (the
	// management API's statistics) or "prometheus" (the rabbitmq_prometheus
	// plugin, with the definitions from the management API), as the
	// target's source setting spells them.
	Source string

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
	// Topology is the routing that dead-letter discovery reads; nil
	// when no queue has a dead-letter exchange (it is then not read).
	Topology *Topology

	// Unroutable holds the watched vhosts' unroutable counters, sorted by
	// vhost; nil where the broker reports none.
	Unroutable []VhostUnroutable
	// UnroutablePublishers are the open channels that published
	// unroutable messages, as read the last time some vhost's unroutable
	// counters moved (the channel listing is read only then); sorted.
	UnroutablePublishers []UnroutablePublisher

	// StreamConsumers are the stream-protocol consumers of the snapshot's
	// streams (the stream management plugin's /api/stream/consumers),
	// sorted by vhost, stream and connection; read only when the snapshot
	// has a stream. StreamConsumersKnown is false where they were not read
	// (no stream, or the plugin is not enabled). AMQP 0-9-1 consumers of a
	// stream are not among them: RabbitMQ reports no offset for those
	// (analysis/streamlag infers their lag from the stream's counters).
	StreamConsumers      []StreamConsumer
	StreamConsumersKnown bool
}

// StreamConsumer is one stream-protocol subscription to a stream.
type StreamConsumer struct {
	Vhost, Stream  string
	Connection     string // the broker's connection name
	SubscriptionID int
	// Offset is the offset the consumer has reached; OffsetLag is how many
	// messages the stream's committed end is ahead of it.
	Offset, OffsetLag int64
	Consumed          uint64 // messages delivered to it
}

// Node is one RabbitMQ node.
type Node struct {
	Name       string
	Running    bool
	MemAlarm   bool
	DiskAlarm  bool
	Partitions int // nodes this node is partitioned from
	FDUsed     int64
	FDLimit    int64
	// PartitionsUnknown and FDUnknown are set where the source cannot see
	// the node's partitions or file descriptors (the management API with
	// its statistics off reports neither; the Prometheus plugin reports the
	// descriptors of the nodes it is read from): then they are not zero
	// but unknown, and not exported.
	PartitionsUnknown bool
	FDUnknown         bool
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
	// MaxPriority is the queue's x-max-priority argument: 0 for a queue
	// without priorities, which delivers in arrival order. RabbitMQ takes
	// it only as an argument, never from a policy.
	MaxPriority int
	// MessageTTL is the queue's effective message TTL (the lower of the
	// x-message-ttl argument and the message-ttl policy, as in RabbitMQ);
	// HasMessageTTL is false where neither is set. Per-message TTLs set
	// by publishers are not visible here.
	MessageTTL    time.Duration
	HasMessageTTL bool
	// ConsumerTimeout is the queue's own consumer timeout (the lower of
	// the x-consumer-timeout argument and the consumer-timeout policy, as
	// in RabbitMQ 3.12 and later); HasConsumerTimeout is false where
	// neither is set, and the node's consumer_timeout applies.
	ConsumerTimeout    time.Duration
	HasConsumerTimeout bool

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
	// DeliverySamples are the same history one step later, for the
	// deliveries that wait for an acknowledgement: in each Sample,
	// Published counts the deliveries and gets in manual-acknowledgement
	// mode (Counters.DeliveredManual), Messages the unacknowledged ones
	// and Completed the acks. Empty where the broker gave none.
	DeliverySamples []Sample

	// Limit is the queue's length limit, if any; MessageBytes is the size
	// of its messages' bodies (ready plus unacknowledged).
	Limit        LengthLimit
	MessageBytes int64

	// Replicas is a quorum queue's Raft group; HasReplicas is false for
	// the other queue types and for a quorum queue whose members the
	// broker did not list.
	Replicas    Replicas
	HasReplicas bool
}

// Replicas is a quorum queue's Raft group, from the management API's
// members, online and leader fields, checked against the node listing
// of the same poll.
type Replicas struct {
	// Members are the group's configured membership, sorted: every node
	// that holds a replica, whether it runs or not. It changes only when
	// an operator adds or removes members (rabbitmq-queues add_member,
	// delete_member, grow, shrink), never because a node stopped. The
	// queue's x-quorum-initial-group-size sized it only at declaration,
	// capped at the nodes running then.
	Members []string
	// Online are the members that run their replica now, sorted: those
	// the broker reports online (whose Raft server answers; from 3.13, for
	// a queue not in state running, whose node runs) and that are on a
	// node the poll's node listing reports running.
	Online []string
	// Leader is the member that leads the group, or "": where the broker
	// names no leader, names one that is not online, names two (a stale
	// statistics emission beside the live answer), or the group has lost
	// its majority (RabbitMQ 3.10 still names the last leader then, but
	// without a majority it commits nothing).
	Leader string
}

// Majority is how many members must be online for the group to elect a
// leader and accept messages: more than half of them.
func (r Replicas) Majority() int { return len(r.Members)/2 + 1 }

// Offline is how many members do not run their replica.
func (r Replicas) Offline() int { return len(r.Members) - len(r.Online) }

// OfflineMembers are the members that do not run their replica, sorted.
func (r Replicas) OfflineMembers() []string {
	var out []string
	for _, m := range r.Members {
		if _, online := slices.BinarySearch(r.Online, m); !online {
			out = append(out, m)
		}
	}
	return out
}

// Available reports whether a majority of the members is online: without
// one the queue accepts no message and delivers none.
func (r Replicas) Available() bool { return len(r.Online) >= r.Majority() }

// Messages is the depth: ready plus unacknowledged.
func (q *Queue) Messages() int64 { return q.Ready + q.Unacked }

// Key identifies the queue within its target.
func (q *Queue) Key() QueueKey { return QueueKey{Vhost: q.Vhost, Name: q.Name} }

// QueueKey identifies a queue (or, in Topology, an exchange) within a
// target.
type QueueKey struct{ Vhost, Name string }

// Counters are the broker's cumulative per-queue message counters. They
// restart from zero when the queue is re-created or, for some queue types,
// when its node restarts.
type Counters struct {
	Published   uint64 // messages routed into the queue
	Delivered   uint64 // deliveries and gets, acked or not
	Acked       uint64 // acknowledgements
	Redelivered uint64 // deliveries of messages delivered before
	// DeliveredManual counts the deliveries and gets in
	// manual-acknowledgement mode: each waits for an ack (or a reject).
	DeliveredManual uint64
	// Completed counts messages consumers are done with: acks plus
	// deliveries and gets in automatic-acknowledgement mode.
	Completed uint64
}

// WentBack reports whether any counter of c is below its value in
// before: the queue was re-created or its node restarted, and what was
// learnt from the earlier counters says nothing about the new ones.
func (c Counters) WentBack(before Counters) bool {
	return c.Published < before.Published || c.Completed < before.Completed ||
		c.Delivered < before.Delivered || c.Acked < before.Acked || c.Redelivered < before.Redelivered ||
		c.DeliveredManual < before.DeliveredManual
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

// Topology is what dead-letter discovery needs to know about a target's
// routing: exchange types, bindings, and the queues that exist but are
// not in Snapshot.Queues (filtered out, or dropped by the cardinality
// guard), which the default exchange can still route to.
type Topology struct {
	// ExchangeTypes maps (vhost, exchange) to its type (direct, fanout,
	// topic, headers, or a plugin's type).
	ExchangeTypes map[QueueKey]string
	Bindings      []Binding
	OtherQueues   []QueueKey
}

// Binding routes from an exchange to a queue or to another exchange.
type Binding struct {
	Vhost           string
	Source          string // exchange
	Destination     string
	DestinationType string // queue or exchange
	RoutingKey      string
}

// Overflow is what a queue with a length limit does when a message
// arrives at the limit (x-overflow, or the overflow policy key).
type Overflow string

// The overflow modes; DropHead is RabbitMQ's default.
const (
	DropHead         Overflow = "drop-head"
	RejectPublish    Overflow = "reject-publish"
	RejectPublishDLX Overflow = "reject-publish-dlx"
)

// LengthLimit is a queue's effective length limit: x-max-length and
// x-max-length-bytes (argument, or the max-length and max-length-bytes
// policy keys; the lower of the two wins where both are set, as in
// RabbitMQ) and its overflow mode.
type LengthLimit struct {
	MaxLength, MaxLengthBytes       int64
	HasMaxLength, HasMaxLengthBytes bool
	Overflow                        Overflow
}

// Limited reports whether any limit is set.
func (l LengthLimit) Limited() bool { return l.HasMaxLength || l.HasMaxLengthBytes }

// VhostUnroutable is one virtual host's cumulative unroutable publishes
// (the vhost's message_stats.drop_unroutable and return_unroutable): a
// message published without mandatory that no queue took is dropped; one
// published with mandatory is returned to the publisher.
type VhostUnroutable struct {
	Vhost             string
	Dropped, Returned uint64
}

// UnroutablePublisher is one open channel that published unroutable
// messages, with its connection's name and user: the channel's own
// cumulative drop_unroutable and return_unroutable counters.
type UnroutablePublisher struct {
	Vhost      string
	Connection string // the client-provided connection name, else the broker's
	Channel    string
	User       string
	Dropped    uint64
	Returned   uint64
}
