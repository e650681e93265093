// Package pipeline runs one target's stages in order — its source, read
// by the collector's poller, then the analyses (queue history, consumer
// status, dead-letter routes and inflow, queue roles, time in queue, stream
// consumer lag, quorum leaders and members per node) — and publishes
// what they made as one immutable TargetState through one atomic
// pointer. On its own schedule (audit.interval) it also audits the
// target (its object reader, then analysis/audit) and publishes the
// state again with the new audit. /metrics, the status API, the health conditions and the SLIs
// all read that state, so nothing pairs targets by position and no
// reader sees the snapshot of one poll with the analyses of another. The
// per-queue series are encoded once per poll, here, so a scrape only
// writes bytes.
//
// Import rule: it imports snapshot, collector, the analyses
// (analysis/...), the management source (rabbitmq/management),
// internal/config and internal/exposition; nothing that comes after it
// (SLOs, alerting, status API, agent).
package pipeline

import (
	"time"

	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/analysis/loss"
	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/analysis/streamlag"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/snapshot"
)

// TargetState is everything warren knows about one target after its
// latest poll. It is never modified once published.
type TargetState struct {
	Cluster string
	Health  collector.Health
	// Snapshot is the latest successful poll's; nil before the first. A
	// failed poll publishes a new state with the previous snapshot and
	// analyses, which then go stale.
	Snapshot *snapshot.Snapshot
	// Queues holds the analyses of each queue, parallel to
	// Snapshot.Queues.
	Queues []QueueState
	// Routes are the dead-letter routes of the snapshot's queues, sorted.
	Routes []deadletter.Route
	// Departures are, per queue, the departures since the previous poll
	// and the dead letters attributed to them (dead_letter_ratio).
	Departures map[snapshot.QueueKey]deadletter.Departures
	// Estimates are the time-in-queue estimates, in snapshot order, of
	// the queues with known statistics. Those marked Withheld (queues
	// that break FIFO) are not to be published: not encoded, no oldest
	// age, no SLO events.
	Estimates []timeinqueue.QueueEstimate
	// Processing are the processing-latency estimates (delivery to ack),
	// in snapshot order, of the queues with known statistics; never
	// withheld; nil where processing.enabled is false.
	Processing []timeinqueue.QueueEstimate
	// QuorumNodes are, per node of the snapshot in its order, the watched
	// quorum queues it leads and the online members it hosts; nil where
	// the snapshot holds no quorum queue with replicas.
	QuorumNodes []NodeQuorum
	// Unroutable are the watched vhosts' unroutable publishes, in
	// snapshot order; Recent values cover HealthWindow.
	Unroutable []loss.Vhost
	// Polled counts the successful polls since the pipeline started: 1
	// on the first, whose time-in-queue events stem from the broker's
	// sample history of before the start (see slo/sli).
	Polled int
	// Fresh is set on the state a successful poll publishes, and unset on
	// the one a failed poll publishes.
	Fresh bool
	// Audit is the target's latest audit, which runs on its own schedule
	// (audit.interval); nil while the audit is off or before it first ran.
	Audit *AuditState

	fragment *exposition.Fragment
}

// QueueState is what the analyses say of one queue of the snapshot.
type QueueState struct {
	// Role is what the queue is for and which rule said so
	// (analysis/queuerole); the statuses and alerts depend on it.
	Role queuerole.Assigned
	// Status is the consumer status. A stream has none (Unknown): its
	// depth is its retained log, not a backlog. A delay queue is never
	// NoConsumers: nobody consumes it by design.
	Status consumerstatus.Status
	// StatusReason says which rule gave Status, with its numbers
	// (consumerstatus.Explain), or why the queue has none.
	StatusReason string
	// Age is the age of the oldest waiting message.
	Age Age
	// Estimate is the queue's time-in-queue estimate; nil for a queue
	// without known statistics. When it is Withheld, its NonFIFO says
	// why, and nothing else of it may be shown.
	Estimate *timeinqueue.QueueEstimate
	// Processing is the queue's processing-latency estimate: its
	// OldestAge is the age of the oldest unacknowledged delivery. Nil
	// for a queue without known statistics, for a stream (its deliveries
	// are reads of a retained log), and where processing.enabled is
	// false.
	Processing *timeinqueue.QueueEstimate
	// ConsumerTimeout is how long the broker lets a delivery of this
	// queue stay unacknowledged before it closes the channel: the queue's
	// own setting, else the target's consumer_timeout.
	ConsumerTimeout time.Duration
	// Drain is the time to empty the backlog at the net departure rate of
	// the last minute (queuehistory.Polls.DrainSeconds); HasDrain is false
	// for a queue without known statistics.
	Drain    float64
	HasDrain bool
	// Recent is the change of the queue's counters and depth over the
	// health window (see HealthWindow); HasRecent is false until there
	// are two polls to compare.
	Recent    queuehistory.Change
	HasRecent bool
	// IsDeadLetterQueue is set for a queue some route leads to, whatever
	// its role (a work queue fed by its delay queue is one too); the
	// alerts read Role.
	IsDeadLetterQueue bool
	// DeadLetterQueues are the queues this queue's dead letters can reach.
	DeadLetterQueues []string
	// Loss is the queue's length-limit headroom and the messages it lost
	// (analysis/loss); Recent values cover HealthWindow.
	Loss loss.Queue
	// Retried counts, for a work queue with retry queues
	// (Role.RetryQueues), the messages that came back from them since the
	// pipeline first saw the queue (see retryCounter); HasRetried is false
	// for the other queues.
	Retried    float64
	HasRetried bool
	// RecentRetried is the same count over Recent's span.
	RecentRetried float64
	// Stream is, for a stream whose consumers the broker lists
	// (HasStream), what its stream-protocol consumers' offsets and its
	// AMQP consumers' counters say (analysis/streamlag): a stream without
	// consumers has zero Consumers and no lag.
	Stream    streamlag.Stream
	HasStream bool
}

// retriesOver is how many messages entered a work queue other than by a
// publish over a change: its first deliveries (deliveries minus
// redeliveries) plus the growth of its ready messages, minus its
// publishes. A work queue's only other arrivals are the dead letters that
// come back from its delay queues (the broker counts no publish for them),
// so this is its retries. It is exact over a span where the queue has no
// requeued message waiting for redelivery at either end and drops nothing
// itself by TTL or length limit; requeued messages waiting at an end, or a
// ready message expiring, err by that many messages.
func retriesOver(c queuehistory.Change) float64 {
	return float64(c.Ready) + c.Delivered - c.Redelivered - c.Published
}

// HealthWindow is the span of the counter-based health conditions
// (dead-letter inflow, redelivery ratio): TargetState's QueueState.Recent
// covers it.
const HealthWindow = 5 * time.Minute

// AgeSource says where a queue's oldest-message age comes from.
type AgeSource uint8

// The age sources.
const (
	AgeUnknown       AgeSource = iota // statistics not known yet
	AgeHeadTimestamp                  // the broker's head_message_timestamp
	AgeEstimate                       // warren's time-in-queue estimate
)

// String is the source label's value.
func (s AgeSource) String() string {
	switch s {
	case AgeHeadTimestamp:
		return "head_timestamp"
	case AgeEstimate:
		return "estimate"
	}
	return ""
}

// Age is a queue's oldest-message age and where it comes from.
type Age struct {
	Age    time.Duration
	Source AgeSource
}

// oldestAge is the one computation of a queue's oldest-message age: the
// head timestamp where the broker gives one (publisher-set, exact to the
// second), otherwise the estimate, unless it is withheld.
func oldestAge(snapTime time.Time, q *snapshot.Queue, e *timeinqueue.QueueEstimate) Age {
	switch {
	case !q.HeadTimestamp.IsZero():
		return Age{Age: max(0, snapTime.Sub(q.HeadTimestamp)), Source: AgeHeadTimestamp}
	case e != nil && !e.Withheld:
		return Age{Age: e.OldestAge, Source: AgeEstimate}
	}
	return Age{}
}

// Fragment returns the state's per-queue series, encoded for /metrics.
func (s *TargetState) Fragment() *exposition.Fragment { return s.fragment }

// NodeNames are the names of the target's nodes in its latest snapshot,
// for probes that probe every node; nil before the first snapshot.
func (s *TargetState) NodeNames() []string {
	if s.Snapshot == nil {
		return nil
	}
	names := make([]string, 0, len(s.Snapshot.Nodes))
	for _, n := range s.Snapshot.Nodes {
		names = append(names, n.Name)
	}
	return names
}
