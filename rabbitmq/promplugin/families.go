package promplugin

import (
	"github.com/warrenhq/warren/rabbitmq/management"
)

// The families of /metrics/detailed warren asks for (family=), by what
// they carry. Their metrics and labels are in metrics below; the sources
// they were read from are in the fixtures' headers (testdata/).
const (
	familyQueueCoarse      = "queue_coarse_metrics"           // ready, unacked
	familyQueue            = "queue_metrics"                  // consumers, capacity, head timestamp, bytes
	familyChannelQueue     = "channel_queue_metrics"          // deliveries and acks per channel and queue
	familyChannelQueueExch = "channel_queue_exchange_metrics" // publishes per channel, queue and exchange
	familyChannelExchange  = "channel_exchange_metrics"       // unroutable per channel and exchange
	familyQueueDelivery    = "queue_delivery_metrics"         // deliveries and acks per queue (4.0 and later)
	familyQueueExchange    = "queue_exchange_metrics"         // publishes per queue and exchange (4.0 and later)
	familyExchange         = "exchange_metrics"               // unroutable per exchange (4.0 and later)
	familyNodeCoarse       = "node_coarse_metrics"            // open file descriptors
	familyNode             = "node_metrics"                   // file descriptor limit
)

// familiesFor lists the families to ask a broker of the given version
// for. From 4.0 the broker keeps per-queue counters without the channel
// (queue_delivery_metrics, queue_exchange_metrics, exchange_metrics):
// cheaper, and they survive channels closing. 4.0.0 to 4.0.2 label
// queue_exchange_metrics with vhost twice (the queue's and the
// exchange's), which no Prometheus parser accepts, so on those the
// publishes still come per channel.
func familiesFor(version string) []string {
	families := []string{familyQueueCoarse, familyQueue}
	switch {
	case !management.VersionAtLeast(version, 4, 0):
		families = append(families, familyChannelQueue, familyChannelQueueExch, familyChannelExchange)
	case !management.VersionAtLeast(version, 4, 0, 3):
		families = append(families, familyQueueDelivery, familyChannelQueueExch, familyExchange)
	default:
		families = append(families, familyQueueDelivery, familyQueueExchange, familyExchange)
	}
	return append(families, familyNodeCoarse, familyNode)
}

// counterKind is one of the cumulative counters warren keeps per queue
// (or, for the unroutable ones, per vhost).
type counterKind uint8

const (
	published counterKind = iota
	getManual
	getNoAck
	deliverManual
	deliverNoAck
	redelivered
	acked
	unroutableDropped
	unroutableReturned
	counterKinds
)

// queueGauge is one of the per-queue values the plugin reports as they
// are now.
type queueGauge uint8

const (
	gaugeReady queueGauge = iota
	gaugeUnacked
	gaugeConsumers
	gaugeConsumerCapacity
	gaugeHeadTimestamp
	gaugeMessageBytes
	queueGauges
)

// metric says what one metric of the plugin is to warren: a per-queue
// gauge, or a counter series, and which labels name its vhost and queue.
type metric struct {
	family    string
	isCounter bool
	gauge     queueGauge
	counter   counterKind
	// vhostLabel names the vhost; queueLabel the queue, "" for the
	// unroutable counters, which count per vhost.
	vhostLabel, queueLabel string
}

const detailedPrefix = "rabbitmq_detailed_"

// identityMetric names the node that served the response; it comes with
// every response.
const identityMetric = "rabbitmq_identity_info"

// Node metrics, without labels.
const (
	metricOpenFDs = detailedPrefix + "process_open_fds"
	metricMaxFDs  = detailedPrefix + "process_max_fds"
)

func queueGaugeMetric(family string, g queueGauge) metric {
	return metric{family: family, gauge: g, vhostLabel: "vhost", queueLabel: "queue"}
}

func counterMetric(family string, c counterKind, vhostLabel, queueLabel string) metric {
	return metric{family: family, isCounter: true, counter: c, vhostLabel: vhostLabel, queueLabel: queueLabel}
}

// metrics maps the names warren reads to what they are. The names are
// the collector's (prometheus_rabbitmq_core_metrics_collector.erl, with
// the rabbitmq_detailed_ prefix of /metrics/detailed).
var metrics = map[string]metric{
	detailedPrefix + "queue_messages_ready":         queueGaugeMetric(familyQueueCoarse, gaugeReady),
	detailedPrefix + "queue_messages_unacked":       queueGaugeMetric(familyQueueCoarse, gaugeUnacked),
	detailedPrefix + "queue_consumers":              queueGaugeMetric(familyQueue, gaugeConsumers),
	detailedPrefix + "queue_consumer_capacity":      queueGaugeMetric(familyQueue, gaugeConsumerCapacity),
	detailedPrefix + "queue_head_message_timestamp": queueGaugeMetric(familyQueue, gaugeHeadTimestamp),
	detailedPrefix + "queue_messages_bytes":         queueGaugeMetric(familyQueue, gaugeMessageBytes),

	detailedPrefix + "channel_get_ack_total":                      counterMetric(familyChannelQueue, getManual, "vhost", "queue"),
	detailedPrefix + "channel_get_total":                          counterMetric(familyChannelQueue, getNoAck, "vhost", "queue"),
	detailedPrefix + "channel_messages_delivered_ack_total":       counterMetric(familyChannelQueue, deliverManual, "vhost", "queue"),
	detailedPrefix + "channel_messages_delivered_total":           counterMetric(familyChannelQueue, deliverNoAck, "vhost", "queue"),
	detailedPrefix + "channel_messages_redelivered_total":         counterMetric(familyChannelQueue, redelivered, "vhost", "queue"),
	detailedPrefix + "channel_messages_acked_total":               counterMetric(familyChannelQueue, acked, "vhost", "queue"),
	detailedPrefix + "queue_messages_published_total":             counterMetric(familyChannelQueueExch, published, "queue_vhost", "queue"),
	detailedPrefix + "channel_messages_unroutable_dropped_total":  counterMetric(familyChannelExchange, unroutableDropped, "vhost", ""),
	detailedPrefix + "channel_messages_unroutable_returned_total": counterMetric(familyChannelExchange, unroutableReturned, "vhost", ""),

	detailedPrefix + "queue_get_ack_total":                         counterMetric(familyQueueDelivery, getManual, "vhost", "queue"),
	detailedPrefix + "queue_get_total":                             counterMetric(familyQueueDelivery, getNoAck, "vhost", "queue"),
	detailedPrefix + "queue_messages_delivered_ack_total":          counterMetric(familyQueueDelivery, deliverManual, "vhost", "queue"),
	detailedPrefix + "queue_messages_delivered_total":              counterMetric(familyQueueDelivery, deliverNoAck, "vhost", "queue"),
	detailedPrefix + "queue_messages_redelivered_total":            counterMetric(familyQueueDelivery, redelivered, "vhost", "queue"),
	detailedPrefix + "queue_messages_acked_total":                  counterMetric(familyQueueDelivery, acked, "vhost", "queue"),
	detailedPrefix + "queue_exchange_messages_published_total":     counterMetric(familyQueueExchange, published, "vhost", "queue"),
	detailedPrefix + "exchange_messages_unroutable_dropped_total":  counterMetric(familyExchange, unroutableDropped, "vhost", ""),
	detailedPrefix + "exchange_messages_unroutable_returned_total": counterMetric(familyExchange, unroutableReturned, "vhost", ""),
}

// expectedMetrics lists the metrics a response to families must carry
// (with samples or not): one missing means the endpoint is not the
// plugin warren knows, and the poll fails rather than report zeros.
func expectedMetrics(families []string) []string {
	want := map[string]bool{}
	for _, f := range families {
		want[f] = true
	}
	out := []string{identityMetric}
	if want[familyNodeCoarse] {
		out = append(out, metricOpenFDs)
	}
	if want[familyNode] {
		out = append(out, metricMaxFDs)
	}
	for name, m := range metrics {
		if want[m.family] {
			out = append(out, name)
		}
	}
	return out
}
