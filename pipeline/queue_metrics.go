package pipeline

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/internal/exposition"
)

// The per-queue families. At thousands of queues they are almost all of
// /metrics, so they are encoded once per poll (encodeQueues) and served as
// bytes; see internal/exposition.
var (
	queueInfoFamily = exposition.NewFamily("warren_queue_info",
		"Queue attributes; always 1. dead_letter_exchange is empty where none is set (and for the default exchange, see warren_dead_letter_route). role is what the queue is for: work, delay, dead_letter or stream (docs/queue-roles.md).",
		dto.MetricType_GAUGE)
	queueMessagesFamily = exposition.NewFamily("warren_queue_messages",
		"Messages in the queue: ready for delivery, or delivered and not yet acknowledged.",
		dto.MetricType_GAUGE)
	queueConsumersFamily = exposition.NewFamily("warren_queue_consumers",
		"Consumers attached to the queue.",
		dto.MetricType_GAUGE)
	queueCapacityFamily = exposition.NewFamily("warren_queue_consumer_capacity",
		"Share of time (0 to 1) the queue could deliver to its consumers at once; below 1 consumers are the bottleneck (prefetch full, slow, or busy network).",
		dto.MetricType_GAUGE)
	oldestMessageAgeFamily = exposition.NewFamily("warren_queue_oldest_message_age_seconds",
		"Age of the oldest message waiting in the queue. source=head_timestamp: from the broker's head_message_timestamp (publisher-set AMQP timestamp, whole seconds), at poll time; source=estimate: estimated from the broker's counters, at the broker's newest sample.",
		dto.MetricType_GAUGE)
	queuePublishedFamily = exposition.NewFamily("warren_queue_published_total",
		"Messages routed into the queue (the broker's message_stats.publish).",
		dto.MetricType_COUNTER)
	queueDeliveredFamily = exposition.NewFamily("warren_queue_delivered_total",
		"Messages delivered to consumers or fetched with basic.get, in either acknowledgement mode (the broker's message_stats.deliver_get).",
		dto.MetricType_COUNTER)
	queueAckedFamily = exposition.NewFamily("warren_queue_acked_total",
		"Messages acknowledged by consumers (the broker's message_stats.ack).",
		dto.MetricType_COUNTER)
	queueRedeliveredFamily = exposition.NewFamily("warren_queue_redelivered_total",
		"Deliveries of messages that had been delivered before (the broker's message_stats.redeliver).",
		dto.MetricType_COUNTER)
	queueStatusFamily = exposition.NewFamily("warren_queue_status",
		"Consumer status of the queue, 1 for the current one: ok, idle, no_consumers, stalled or lagging.",
		dto.MetricType_GAUGE)
	drainFamily = exposition.NewFamily("warren_queue_drain_seconds",
		"Time to empty the backlog at the net departure rate of the last minute: 0 when empty, +Inf when the backlog is not shrinking.",
		dto.MetricType_GAUGE)
	queueRetriedFamily = exposition.NewFamily("warren_queue_retried_total",
		"Messages that came back into this work queue from its delay (retry) queues: retries of its messages, estimated from its counters (docs/queue-roles.md). Only for work queues with a delay queue.",
		dto.MetricType_COUNTER)
	messageTTLFamily = exposition.NewFamily("warren_queue_message_ttl_seconds",
		"The queue's message TTL (x-message-ttl argument or message-ttl policy, the lower of the two), for queues that have one.",
		dto.MetricType_GAUGE)
	streamConsumersFamily = exposition.NewFamily("warren_stream_consumers",
		"Consumers of the stream: the stream-protocol ones that report an offset (the stream plugin's /api/stream/consumers) and the AMQP 0-9-1 ones. Only for streams, where the broker lists stream consumers.",
		dto.MetricType_GAUGE)
	streamLagFamily = exposition.NewFamily("warren_stream_consumer_lag_messages",
		"The largest offset lag among the stream's stream-protocol consumers (messages between a consumer's offset and the stream's committed end), or the lag of its AMQP 0-9-1 consumers inferred from its publish and delivery counters if larger. Only for streams with consumers.",
		dto.MetricType_GAUGE)
	streamLagSecondsFamily = exposition.NewFamily("warren_stream_consumer_lag_seconds",
		"warren_stream_consumer_lag_messages at the stream's publish rate over the consumer-status window (the growth of its end offset): how far behind in time the furthest consumer is. 0 without lag; absent for a lag on a stream nothing is published to.",
		dto.MetricType_GAUGE)
	deadLetterRouteFamily = exposition.NewFamily("warren_dead_letter_route",
		"1 for each queue whose dead letters can reach dead_letter_queue, discovered from arguments, policies and bindings, or configured.",
		dto.MetricType_GAUGE)
)

// QueueFamilies are the per-queue families a pipeline encodes from its
// snapshot, the names drop_metrics may list along with TimeInQueueFamilies.
var QueueFamilies = []*exposition.Family{
	queueInfoFamily, queueMessagesFamily, queueConsumersFamily, queueCapacityFamily,
	oldestMessageAgeFamily, queuePublishedFamily, queueDeliveredFamily, queueAckedFamily,
	queueRedeliveredFamily, queueStatusFamily, drainFamily, deadLetterRouteFamily,
	queueRetriedFamily, messageTTLFamily, streamConsumersFamily, streamLagFamily, streamLagSecondsFamily,
	quorumMembersFamily, quorumLeaderFamily,
}

// Label sets that are the same for every queue, encoded once.
var (
	stateReady          = exposition.AppendLabel(nil, "state", "ready")
	stateUnacked        = exposition.AppendLabel(nil, "state", "unacked")
	sourceHeadTimestamp = exposition.AppendLabel(nil, "source", "head_timestamp")
	sourceEstimate      = exposition.AppendLabel(nil, "source", "estimate")
	statusLabels        = func() map[consumerstatus.Status][]byte {
		m := map[consumerstatus.Status][]byte{}
		for _, s := range consumerstatus.All {
			m[s] = exposition.AppendLabel(nil, "status", s.String())
		}
		return m
	}()
)
