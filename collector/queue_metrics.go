package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	queueLabels = []string{"cluster", "vhost", "queue"}

	queueInfoDesc = prometheus.NewDesc("warren_queue_info",
		"Queue attributes; always 1. dead_letter_exchange is empty where none is set (and for the default exchange, see warren_dead_letter_route).",
		append(queueLabels[:3:3], "type", "node", "dead_letter_exchange"), nil)
	queueMessagesDesc = prometheus.NewDesc("warren_queue_messages",
		"Messages in the queue: ready for delivery, or delivered and not yet acknowledged.",
		append(queueLabels[:3:3], "state"), nil)
	queueConsumersDesc = prometheus.NewDesc("warren_queue_consumers",
		"Consumers attached to the queue.",
		queueLabels, nil)
	queueCapacityDesc = prometheus.NewDesc("warren_queue_consumer_capacity",
		"Share of time (0 to 1) the queue could deliver to its consumers at once; below 1 consumers are the bottleneck (prefetch full, slow, or busy network).",
		queueLabels, nil)
	// OldestMessageAgeDesc is shared with the time-in-queue estimate,
	// which adds source="estimate" series to the same metric.
	OldestMessageAgeDesc = prometheus.NewDesc("warren_queue_oldest_message_age_seconds",
		"Age of the oldest message waiting in the queue. source=head_timestamp: from the broker's head_message_timestamp (publisher-set AMQP timestamp, whole seconds), at poll time; source=estimate: from the broker's counters (README: time in queue), at the broker's newest sample.",
		append(queueLabels[:3:3], "source"), nil)
	queuePublishedDesc = prometheus.NewDesc("warren_queue_published_total",
		"Messages routed into the queue (the broker's message_stats.publish).",
		queueLabels, nil)
	queueDeliveredDesc = prometheus.NewDesc("warren_queue_delivered_total",
		"Messages delivered to consumers or fetched with basic.get, in either acknowledgement mode (the broker's message_stats.deliver_get).",
		queueLabels, nil)
	queueAckedDesc = prometheus.NewDesc("warren_queue_acked_total",
		"Messages acknowledged by consumers (the broker's message_stats.ack).",
		queueLabels, nil)
	queueRedeliveredDesc = prometheus.NewDesc("warren_queue_redelivered_total",
		"Deliveries of messages that had been delivered before (the broker's message_stats.redeliver).",
		queueLabels, nil)
	queueStatusDesc = prometheus.NewDesc("warren_queue_status",
		"Consumer status of the queue, 1 for the current one: ok, idle, no_consumers, stalled or lagging (rules in the README).",
		append(queueLabels[:3:3], "status"), nil)
	deadLetterRouteDesc = prometheus.NewDesc("warren_dead_letter_route",
		"1 for each queue whose dead letters can reach dead_letter_queue, discovered from arguments, policies and bindings, or configured.",
		append(queueLabels[:3:3], "dead_letter_queue"), nil)
)

func collectQueues(ch chan<- prometheus.Metric, snap *Snapshot) {
	c := snap.Cluster
	for i := range snap.Queues {
		q := &snap.Queues[i]
		dlx := ""
		if q.HasDeadLetterExchange {
			dlx = q.DeadLetterExchange
		}
		gauge(ch, queueInfoDesc, 1, c, q.Vhost, q.Name, q.Type, q.Node, dlx)
		if !q.StatsKnown {
			continue // depth and counters unknown: absent, not zero
		}
		gauge(ch, queueMessagesDesc, float64(q.Ready), c, q.Vhost, q.Name, "ready")
		gauge(ch, queueMessagesDesc, float64(q.Unacked), c, q.Vhost, q.Name, "unacked")
		gauge(ch, queueConsumersDesc, float64(q.Consumers), c, q.Vhost, q.Name)
		if q.HasConsumerCapacity {
			gauge(ch, queueCapacityDesc, q.ConsumerCapacity, c, q.Vhost, q.Name)
		}
		if !q.HeadTimestamp.IsZero() {
			gauge(ch, OldestMessageAgeDesc, max(0, snap.Time.Sub(q.HeadTimestamp).Seconds()), c, q.Vhost, q.Name, "head_timestamp")
		}
		counter(ch, queuePublishedDesc, float64(q.Counters.Published), c, q.Vhost, q.Name)
		counter(ch, queueDeliveredDesc, float64(q.Counters.Delivered), c, q.Vhost, q.Name)
		counter(ch, queueAckedDesc, float64(q.Counters.Acked), c, q.Vhost, q.Name)
		counter(ch, queueRedeliveredDesc, float64(q.Counters.Redelivered), c, q.Vhost, q.Name)
		gauge(ch, queueStatusDesc, 1, c, q.Vhost, q.Name, string(q.Status))
	}
	for _, r := range snap.DeadLetterRoutes {
		gauge(ch, deadLetterRouteDesc, 1, c, r.Vhost, r.Queue, r.DeadLetterQueue)
	}
}
