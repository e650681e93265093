package snapshot

import "time"

// Objects is what one audit read of a target saw: the broker's clients
// (connections, channels, consumers), its queues with what the audit
// needs of them beyond what a poll reads, the policies, the listeners
// and, where the monitoring user may list them, the users, their
// permissions and the deprecated features in use. A source
// (rabbitmq/management) fills it; the audit (analysis/audit) only reads
// it. Like a Snapshot, it is never modified once the read returns.
type Objects struct {
	Cluster         string
	Time            time.Time // when the read started
	RabbitMQVersion string
	// QueueConsumerTimeouts is set where the broker applies a queue's own
	// consumer timeout (x-consumer-timeout, the consumer-timeout policy:
	// RabbitMQ 3.12 and later), ConsumerTimeoutArguments where it applies
	// a consumer's x-consumer-timeout argument (4.3 and later).
	QueueConsumerTimeouts, ConsumerTimeoutArguments bool

	Listeners []Listener
	// Connections, Channels and Consumers are those of the watched vhosts,
	// sorted by name (consumers by vhost, queue, tag).
	Connections []Connection
	Channels    []Channel
	Consumers   []Consumer
	// Queues are the queues that pass the target's filters, decoded as a
	// poll decodes them and sorted the same way; QueueDetails holds what
	// else the audit reads of each, parallel to Queues.
	Queues       []Queue
	QueueDetails []QueueDetail
	// Topology is the routing of dead letters, as in a Snapshot; nil when
	// no queue has a dead-letter exchange.
	Topology *Topology
	// Policies are the user and operator policies of the watched vhosts.
	Policies           []Policy
	Users              []User
	Permissions        []Permission
	DeprecatedFeatures []DeprecatedFeature

	// Unread lists the listings that could not be read, and why; the
	// checks that need one of them cannot run.
	Unread []Unread
}

// Listener is one of the broker's listeners (/api/overview).
type Listener struct {
	Node     string
	Protocol string // amqp, amqp/ssl, mqtt, http, https, clustering, …
	Port     int
}

// TLS reports whether the listener takes TLS connections only: RabbitMQ
// names those protocols <protocol>/ssl (https for the management API).
func (l Listener) TLS() bool {
	return l.Protocol == "https" || len(l.Protocol) > 4 && l.Protocol[len(l.Protocol)-4:] == "/ssl"
}

// Connection is one client connection.
type Connection struct {
	Name  string // the broker's name: "peer:port -> node:port"
	Vhost string
	User  string
	// ClientName is the client-provided connection name
	// (client_properties.connection_name); "" where the client gave none.
	ClientName string
	Protocol   string // "AMQP 0-9-1", "AMQP 1.0", "MQTT 3.1.1", …
	// Network is false for direct connections, which plugins (shovel,
	// federation) open inside the node: no socket, no heartbeat, no TLS.
	Network bool
	TLS     bool
	// Heartbeat is the negotiated heartbeat timeout; HasHeartbeat is
	// false where the protocol reports none.
	Heartbeat    time.Duration
	HasHeartbeat bool
	PeerHost     string
}

// DisplayName is the client-provided name where the client gave one,
// else the broker's name.
func (c *Connection) DisplayName() string {
	if c.ClientName != "" {
		return c.ClientName
	}
	return c.Name
}

// Channel is one AMQP 0-9-1 channel.
type Channel struct {
	Name       string // the broker's name: "<connection name> (<number>)"
	Connection string // the broker's name of its connection
	Number     int
	Vhost      string
	User       string
	// Confirm is set once the channel is in publisher-confirm mode;
	// Transactional once it is in transaction mode.
	Confirm, Transactional bool
	// PrefetchCount is the channel's default per-consumer prefetch,
	// GlobalPrefetchCount the one shared by all its consumers (basic.qos
	// global); 0 is unlimited.
	PrefetchCount, GlobalPrefetchCount int64
	// The channel's cumulative counters: messages published, published
	// without mandatory and routed nowhere (dropped), and published with
	// mandatory and returned.
	Published, DroppedUnroutable, ReturnedUnroutable uint64
}

// Consumer is one AMQP consumer of a queue.
type Consumer struct {
	Vhost, Queue string
	Tag          string
	Channel      string // the broker's name of its channel
	Connection   string // the broker's name of its connection
	User         string
	// AckRequired is false for a consumer in automatic-acknowledgement
	// mode: the broker forgets each message once sent.
	AckRequired bool
	// PrefetchCount is the consumer's prefetch limit; 0 is unlimited.
	PrefetchCount int64
	Exclusive     bool
	// Timeout is the consumer's own x-consumer-timeout argument (applied
	// from RabbitMQ 4.3); HasTimeout is false without one.
	Timeout    time.Duration
	HasTimeout bool
}

// QueueDetail is what the audit reads of a queue beyond a poll's Queue.
type QueueDetail struct {
	Durable, AutoDelete, Exclusive bool
	Policy                         string // the policy in force, "" without
	// Persistent is how many of the queue's messages are persistent;
	// PersistentKnown is false where the broker does not say (quorum
	// queues and streams store every message, and report none).
	Persistent      int64
	PersistentKnown bool
	// DeliveryLimit is the quorum queue's delivery limit in force: the
	// number of deliveries after which the broker dead-letters or drops a
	// message that keeps being returned; HasDeliveryLimit is false where
	// none applies (unlimited, or a queue type without one).
	DeliveryLimit    int64
	HasDeliveryLimit bool
}

// Policy is one user or operator policy.
type Policy struct {
	Vhost, Name string
	Pattern     string
	ApplyTo     string // queues, exchanges, all, classic_queues, …
	Operator    bool   // an operator policy
	Definition  map[string]any
}

// User is one broker user: its name and tags (never its password hash).
type User struct {
	Name string
	Tags []string
}

// Permission is one user's permissions on one vhost: regular expressions
// of the resources it may configure, write to and read from.
type Permission struct {
	User, Vhost            string
	Configure, Write, Read string
}

// DeprecatedFeature is a deprecated feature the broker reports in use
// (/api/deprecated-features/used, RabbitMQ 3.13 and later).
type DeprecatedFeature struct {
	Name        string
	Phase       string // permitted_by_default, denied_by_default, disconnected, removed
	Description string
	DocURL      string
}

// Listing names a listing an audit reads.
type Listing string

// The listings of an audit read.
const (
	ListConnections        Listing = "connections"
	ListChannels           Listing = "channels"
	ListConsumers          Listing = "consumers"
	ListQueues             Listing = "queues"
	ListTopology           Listing = "exchanges and bindings"
	ListPolicies           Listing = "policies"
	ListOperatorPolicies   Listing = "operator policies"
	ListUsers              Listing = "users"
	ListPermissions        Listing = "permissions"
	ListDeprecatedFeatures Listing = "deprecated features"
)

// UnreadReason says why a listing was not read.
type UnreadReason string

// The reasons a listing is not read: the monitoring user may not list it
// (a 401 or 403), or this broker does not report it (an older version).
const (
	UnreadPermission  UnreadReason = "permission"
	UnreadNotReported UnreadReason = "not_reported"
)

// Unread is a listing an audit read could not take, or took only in
// part, and why.
type Unread struct {
	Listing Listing
	Reason  UnreadReason
	// Partial is set where the listing was read but the user sees only
	// some of it (the vhosts it has permissions on, its own connections):
	// what it holds is true, but it is not everything.
	Partial bool
	// Detail says it in a sentence, such as "the management API answered
	// 401: listing users needs the administrator tag".
	Detail string
}

// UnreadListing returns why l was not read; ok is false when it was.
func (o *Objects) UnreadListing(l Listing) (Unread, bool) {
	for _, u := range o.Unread {
		if u.Listing == l {
			return u, true
		}
	}
	return Unread{}, false
}
