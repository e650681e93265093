package collector

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/internal/exposition"
)

// The per-queue families. At thousands of queues they are almost all of
// /metrics, so they are encoded once per poll (encodeQueues) and served as
// bytes; see internal/exposition.
var (
	queueInfoFamily = exposition.NewFamily("warren_queue_info",
		"Queue attributes; always 1. dead_letter_exchange is empty where none is set (and for the default exchange, see warren_dead_letter_route).",
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
	// OldestMessageAgeFamily is shared with the time-in-queue estimate,
	// which adds source="estimate" series to the same family.
	OldestMessageAgeFamily = exposition.NewFamily("warren_queue_oldest_message_age_seconds",
		"Age of the oldest message waiting in the queue. source=head_timestamp: from the broker's head_message_timestamp (publisher-set AMQP timestamp, whole seconds), at poll time; source=estimate: from the broker's counters (README: time in queue), at the broker's newest sample.",
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
		"Consumer status of the queue, 1 for the current one: ok, idle, no_consumers, stalled or lagging (rules in the README).",
		dto.MetricType_GAUGE)
	deadLetterRouteFamily = exposition.NewFamily("warren_dead_letter_route",
		"1 for each queue whose dead letters can reach dead_letter_queue, discovered from arguments, policies and bindings, or configured.",
		dto.MetricType_GAUGE)
)

// QueueFamilies are the per-queue families the collector encodes, the
// names drop_metrics may list along with the time-in-queue ones.
var QueueFamilies = []*exposition.Family{
	queueInfoFamily, queueMessagesFamily, queueConsumersFamily, queueCapacityFamily,
	OldestMessageAgeFamily, queuePublishedFamily, queueDeliveredFamily, queueAckedFamily,
	queueRedeliveredFamily, queueStatusFamily, deadLetterRouteFamily,
}

// Label sets that are the same for every queue, encoded once.
var (
	stateReady          = exposition.AppendLabel(nil, "state", "ready")
	stateUnacked        = exposition.AppendLabel(nil, "state", "unacked")
	sourceHeadTimestamp = exposition.AppendLabel(nil, "source", "head_timestamp")
	statusLabels        = func() map[ConsumerStatus][]byte {
		m := map[ConsumerStatus][]byte{}
		for _, s := range AllStatuses {
			m[s] = exposition.AppendLabel(nil, "status", string(s))
		}
		return m
	}()
)

// encodeQueues encodes the per-queue series of a snapshot. labels holds
// each queue's encoded cluster, vhost and queue labels, carried across
// polls so that a steady cluster re-encodes no label strings; prev sizes
// the buffers.
func encodeQueues(snap *Snapshot, labels *LabelCache, drop func(string) bool, prev *exposition.Fragment) *exposition.Fragment {
	b := exposition.NewBuilder(prev)
	b.Drop(drop)
	var (
		info        = b.Family(queueInfoFamily)
		messages    = b.Family(queueMessagesFamily)
		consumers   = b.Family(queueConsumersFamily)
		capacity    = b.Family(queueCapacityFamily)
		oldest      = b.Family(OldestMessageAgeFamily)
		published   = b.Family(queuePublishedFamily)
		delivered   = b.Family(queueDeliveredFamily)
		acked       = b.Family(queueAckedFamily)
		redelivered = b.Family(queueRedeliveredFamily)
		status      = b.Family(queueStatusFamily)
		routes      = b.Family(deadLetterRouteFamily)
	)
	var extra []byte
	for i := range snap.Queues {
		q := &snap.Queues[i]
		l := labels.Queue(q.Vhost, q.Name)
		dlx := ""
		if q.HasDeadLetterExchange {
			dlx = q.DeadLetterExchange
		}
		extra = exposition.AppendLabel(extra[:0], "type", q.Type)
		extra = exposition.AppendLabel(extra, "node", q.Node)
		extra = exposition.AppendLabel(extra, "dead_letter_exchange", dlx)
		info.AddWith(l, extra, 1)
		if !q.StatsKnown {
			continue // depth and counters unknown: absent, not zero
		}
		messages.AddWith(l, stateReady, float64(q.Ready))
		messages.AddWith(l, stateUnacked, float64(q.Unacked))
		consumers.Add(l, float64(q.Consumers))
		if q.HasConsumerCapacity {
			capacity.Add(l, q.ConsumerCapacity)
		}
		if !q.HeadTimestamp.IsZero() {
			oldest.AddWith(l, sourceHeadTimestamp, max(0, snap.Time.Sub(q.HeadTimestamp).Seconds()))
		}
		published.Add(l, float64(q.Counters.Published))
		delivered.Add(l, float64(q.Counters.Delivered))
		acked.Add(l, float64(q.Counters.Acked))
		redelivered.Add(l, float64(q.Counters.Redelivered))
		if s, ok := statusLabels[q.Status]; ok {
			status.AddWith(l, s, 1)
		} else {
			status.AddWith(l, exposition.AppendLabel(nil, "status", string(q.Status)), 1)
		}
	}
	for _, r := range snap.DeadLetterRoutes {
		extra = exposition.AppendLabel(extra[:0], "dead_letter_queue", r.DeadLetterQueue)
		routes.AddWith(labels.Queue(r.Vhost, r.Queue), extra, 1)
	}
	return b.Fragment()
}
