// Package catalog is warren's alert vocabulary, in one place: every
// alert's name, default severity, `for` and threshold; the labels and
// annotations each carries; the Alert type the evaluator hands to the
// notifier; and the identity of a label set. The evaluator
// (alerting/conditions), the rule generator (slo/promrules), the
// configuration's validation and the notifier all read it, so an alert is
// named and described once.
//
// Labels come only from the configuration and the broker's objects, never
// from the process, so two warren replicas with one configuration produce
// identical alerts and Alertmanager de-duplicates them.
//
// Import rule: it imports slo (for the burn-rate rules of the SLO alerts)
// and nothing else of warren.
package catalog

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/warrenhq/warren/slo"
)

// RunbookBase is where the runbook of every built-in alert lives; the
// anchor is the lower-cased alert name.
const RunbookBase = "https://github.com/warrenhq/warren/blob/main/alerts/RUNBOOK.md#"

// RunbookURL is the runbook section of a built-in alert.
func RunbookURL(alertname string) string { return RunbookBase + strings.ToLower(alertname) }

// Evaluation and delivery defaults, as in Prometheus.
const (
	DefaultEvaluationInterval = 15 * time.Second
	DefaultResendInterval     = time.Minute
)

// Names of the built-in health alerts.
const (
	QueueNoConsumers = "RabbitMQQueueNoConsumers"
	QueueStalled     = "RabbitMQQueueStalled"
	QueueOldMessages = "RabbitMQQueueOldMessages"
	DeadLetterInflow = "RabbitMQDeadLetterInflow"
	RedeliveryStorm  = "RabbitMQRedeliveryStorm"
	RetryStorm       = "RabbitMQRetryStorm"
	DelayNotExpiring = "RabbitMQDelayQueueNotExpiring"
	StreamBehind     = "RabbitMQStreamConsumerFallingBehind"
	NodeAlarm        = "RabbitMQNodeAlarm"
	NodeDown         = "RabbitMQNodeDown"
	Partition        = "RabbitMQPartition"
	ProbeFailing     = "RabbitMQProbeFailing"
	TargetDown       = "WarrenTargetDown"
)

// ConsumerTimeoutImminent warns before the broker closes a channel whose
// delivery stays unacknowledged past the queue's consumer timeout.
const ConsumerTimeoutImminent = "RabbitMQConsumerTimeoutImminent"

// Names of the SLO burn-rate alerts.
const (
	SLOPage   = "WarrenSLOBurnRatePage"
	SLOTicket = "WarrenSLOBurnRateTicket"
)

// HealthRule is a built-in health alert's settings: its defaults in
// HealthRules, or those in force once the configuration's overrides are
// applied.
type HealthRule struct {
	Name     string
	Severity string
	For      time.Duration
	// Threshold: RabbitMQQueueOldMessages, seconds of age;
	// RabbitMQDeadLetterInflow, messages into a DLQ within CounterWindow
	// (fires above it); RabbitMQRedeliveryStorm, the share of deliveries
	// that are redeliveries within CounterWindow; RabbitMQRetryStorm, the
	// share of a work queue's deliveries that are retries within
	// CounterWindow; RabbitMQDelayQueueNotExpiring, how many times its
	// message TTL a delay queue's oldest message may be;
	// RabbitMQConsumerTimeoutImminent, the share of its queue's consumer
	// timeout the age of the oldest unacknowledged delivery may reach
	// (fires at it; above 0 and below 1); RabbitMQQuorumLeadersImbalanced,
	// how many times its fair share of the quorum leaders a node may lead
	// (fires above it; at least 1); WarrenOutboxStuck, seconds of age of
	// the oldest pending row. Unused by the others.
	Threshold float64
	Disabled  bool
}

// HealthRules are the built-in alerts' defaults, the same as those of the
// shipped Prometheus rules (alerts/warren-alerts.yml).
var HealthRules = []HealthRule{
	{Name: QueueNoConsumers, Severity: "page", For: 5 * time.Minute},
	{Name: QueueStalled, Severity: "page", For: time.Minute},
	{Name: QueueOldMessages, Severity: "ticket", For: 5 * time.Minute, Threshold: 300},
	{Name: DeadLetterInflow, Severity: "ticket", For: time.Minute, Threshold: 0},
	{Name: RedeliveryStorm, Severity: "ticket", For: 5 * time.Minute, Threshold: 0.2},
	{Name: RetryStorm, Severity: "ticket", For: 5 * time.Minute, Threshold: 0.2},
	{Name: DelayNotExpiring, Severity: "ticket", For: 5 * time.Minute, Threshold: 2},
	{Name: StreamBehind, Severity: "ticket", For: 5 * time.Minute},
	// No `for`: what is left of the timeout (6m of the default 30m) is
	// the warning, and waiting would spend it.
	{Name: ConsumerTimeoutImminent, Severity: "page", For: 0, Threshold: 0.8},
	{Name: NodeAlarm, Severity: "page", For: time.Minute},
	{Name: NodeDown, Severity: "page", For: time.Minute},
	{Name: Partition, Severity: "page", For: time.Minute},
	{Name: ProbeFailing, Severity: "page", For: 2 * time.Minute},
	{Name: TargetDown, Severity: "page", For: 2 * time.Minute},
	{Name: MessagesUnroutable, Severity: "ticket", For: time.Minute, Threshold: 0},
	{Name: QueueNearLengthLimit, Severity: "ticket", For: 5 * time.Minute, Threshold: 0.9},
	{Name: QueueDroppingMessages, Severity: "ticket", For: time.Minute, Threshold: 0},
	// Long enough for a node's restart to pass without a ticket or a page;
	// RabbitMQNodeDown pages for the node itself after a minute.
	{Name: QuorumUnderReplicated, Severity: "ticket", For: 10 * time.Minute},
	{Name: QuorumCritical, Severity: "page", For: 5 * time.Minute},
	// An imbalance lasts until someone rebalances: waiting costs nothing.
	{Name: QuorumLeadersImbalanced, Severity: "ticket", For: 30 * time.Minute, Threshold: 1.5},
	// Longer than two audits at the default interval: a finding must
	// hold across audits before it tickets.
	{Name: AuditFinding, Severity: "ticket", For: 10 * time.Minute},
	// Threshold: seconds of age of the oldest pending row, and of the
	// time without a dispatch. The `for` comes on top.
	{Name: OutboxStuck, Severity: "page", For: 2 * time.Minute, Threshold: 300},
	{Name: OutboxDatabaseDown, Severity: "page", For: 2 * time.Minute},
}

// IsHealthAlert reports whether name is a built-in health alert.
func IsHealthAlert(name string) bool {
	for _, r := range HealthRules {
		if r.Name == name {
			return true
		}
	}
	return false
}

// CounterWindow is the window of the counter-based conditions (dead-letter
// inflow, redelivery storm) and of the probe failure condition.
const CounterWindow = 5 * time.Minute

// MinRedeliveryRate keeps a redelivery storm from firing on a trickle: at
// least one redelivery per second over the window.
const MinRedeliveryRate = 1.0

// MinRetryRate keeps a retry storm from firing on a trickle: at least one
// retry per second over the window.
const MinRetryRate = 1.0

// Alert is one alert as the evaluator hands it to the notifier. Labels
// identify it (alertname, severity, cluster, vhost, queue, slo … as
// applicable; no empty values).
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string // summary, description, runbook_url
	StartsAt     time.Time         // when it started firing (stable across evaluations)
	GeneratorURL string
}

// describe returns the annotations of a built-in alert.
func describe(alertname, summary, description string) map[string]string {
	return map[string]string{"summary": summary, "description": description, "runbook_url": RunbookURL(alertname)}
}

// QueueRef identifies the queue a queue alert is about.
type QueueRef struct{ Cluster, Vhost, Name string }

func (q QueueRef) labels() map[string]string {
	return map[string]string{"cluster": q.Cluster, "vhost": q.Vhost, "queue": q.Name}
}

// NoConsumers is RabbitMQQueueNoConsumers's labels and annotations.
func NoConsumers(q QueueRef) (labels, annotations map[string]string) {
	return q.labels(), describe(QueueNoConsumers,
		fmt.Sprintf("Queue %s has messages and no consumer", q.Name),
		fmt.Sprintf("Queue %s in vhost %s of cluster %s holds messages and no consumer is attached: nothing is being processed.", q.Name, q.Vhost, q.Cluster))
}

// Stalled is RabbitMQQueueStalled's labels and annotations.
func Stalled(q QueueRef) (labels, annotations map[string]string) {
	return q.labels(), describe(QueueStalled,
		fmt.Sprintf("Consumers of queue %s are stalled", q.Name),
		fmt.Sprintf("Queue %s in vhost %s of cluster %s has consumers and a backlog, but no message completed during the whole consumer-status window.", q.Name, q.Vhost, q.Cluster))
}

// OldMessages is RabbitMQQueueOldMessages's labels and annotations, for
// messages older than threshold.
func OldMessages(q QueueRef, threshold time.Duration) (labels, annotations map[string]string) {
	return q.labels(), describe(QueueOldMessages,
		fmt.Sprintf("Messages in queue %s wait longer than %s", q.Name, slo.FormatDuration(threshold)),
		fmt.Sprintf("The oldest message in queue %s (vhost %s, cluster %s) has waited longer than %s.", q.Name, q.Vhost, q.Cluster, slo.FormatDuration(threshold)))
}

// DeadLetters is RabbitMQDeadLetterInflow's labels and annotations.
func DeadLetters(q QueueRef) (labels, annotations map[string]string) {
	return q.labels(), describe(DeadLetterInflow,
		fmt.Sprintf("Dead-letter queue %s is receiving messages", q.Name),
		fmt.Sprintf("Dead-letter queue %s in vhost %s of cluster %s received messages in the last %s: messages of its source queues are being rejected, expiring or overflowing.", q.Name, q.Vhost, q.Cluster, slo.FormatDuration(CounterWindow)))
}

// Redeliveries is RabbitMQRedeliveryStorm's labels and annotations, for a
// share of redeliveries above ratio.
func Redeliveries(q QueueRef, ratio float64) (labels, annotations map[string]string) {
	return q.labels(), describe(RedeliveryStorm,
		fmt.Sprintf("Queue %s redelivers many messages", q.Name),
		fmt.Sprintf("More than %g%% of deliveries from queue %s (vhost %s, cluster %s) in the last %s were redeliveries: consumers reject with requeue or crash before acking.", 100*ratio, q.Name, q.Vhost, q.Cluster, slo.FormatDuration(CounterWindow)))
}

// Retries is RabbitMQRetryStorm's labels and annotations, for a share of
// retries above ratio.
func Retries(q QueueRef, ratio float64) (labels, annotations map[string]string) {
	return q.labels(), describe(RetryStorm,
		fmt.Sprintf("Many deliveries of queue %s are retries", q.Name),
		fmt.Sprintf("More than %g%% of deliveries from work queue %s (vhost %s, cluster %s) in the last %s were retries that came back through its delay queue: its consumers are failing messages.", 100*ratio, q.Name, q.Vhost, q.Cluster, slo.FormatDuration(CounterWindow)))
}

// NotExpiring is RabbitMQDelayQueueNotExpiring's labels and annotations,
// for a delay queue with the given message TTL whose oldest message is
// more than factor times older.
func NotExpiring(q QueueRef, ttl time.Duration, factor float64) (labels, annotations map[string]string) {
	return q.labels(), describe(DelayNotExpiring,
		fmt.Sprintf("Messages in delay queue %s do not expire", q.Name),
		fmt.Sprintf("The oldest message of delay queue %s (vhost %s, cluster %s) is more than %g times its message TTL of %s old: expiry is not moving messages back to their work queue (a longer per-message TTL at the head blocks the ones behind it, or the TTL policy changed).", q.Name, q.Vhost, q.Cluster, factor, slo.FormatDuration(ttl)))
}

// FallingBehind is RabbitMQStreamConsumerFallingBehind's labels and
// annotations.
func FallingBehind(q QueueRef) (labels, annotations map[string]string) {
	return q.labels(), describe(StreamBehind,
		fmt.Sprintf("A consumer of stream %s is falling behind", q.Name),
		fmt.Sprintf("The offset lag of a stream-protocol consumer of stream %s (vhost %s, cluster %s) grew over the whole consumer-status window and never shrank: it does not keep up with the publishers (warren_stream_consumer_lag_messages and _seconds show how far behind). Once retention removes segments it has not read, it skips them.", q.Name, q.Vhost, q.Cluster))
}

// NearConsumerTimeout is RabbitMQConsumerTimeoutImminent's labels and
// annotations, for a queue whose oldest unacknowledged delivery is age old
// (an estimate) against its consumer timeout.
func NearConsumerTimeout(q QueueRef, age, timeout time.Duration) (labels, annotations map[string]string) {
	return q.labels(), describe(ConsumerTimeoutImminent,
		fmt.Sprintf("A delivery of queue %s nears its consumer timeout of %s", q.Name, slo.FormatDuration(timeout)),
		fmt.Sprintf("The oldest unacknowledged delivery of queue %s (vhost %s, cluster %s) has waited about %s for its ack; the queue's consumer timeout is %s. When a delivery stays unacknowledged past it, the broker closes the consumer's channel and requeues the delivery, with every other unacknowledged one of that channel: the consumer's next operation on the channel fails, and the message is redelivered.", q.Name, q.Vhost, q.Cluster, slo.FormatDuration(age.Round(time.Second)), slo.FormatDuration(timeout)))
}

// Down is RabbitMQNodeDown's labels and annotations.
func Down(cluster, node string) (labels, annotations map[string]string) {
	return map[string]string{"cluster": cluster, "node": node}, describe(NodeDown,
		fmt.Sprintf("RabbitMQ node %s is down", node),
		fmt.Sprintf("Node %s of cluster %s is not running: its queue leaders and connections moved or are unavailable.", node, cluster))
}

// Alarm is RabbitMQNodeAlarm's labels and annotations, for the memory or
// disk alarm.
func Alarm(cluster, node, alarm string) (labels, annotations map[string]string) {
	return map[string]string{"cluster": cluster, "node": node, "alarm": alarm}, describe(NodeAlarm,
		fmt.Sprintf("RabbitMQ %s alarm on %s: publishers are blocked", alarm, node),
		fmt.Sprintf("Node %s of cluster %s raised its %s alarm; the whole cluster blocks publishing connections until it clears.", node, cluster, alarm))
}

// Partitioned is RabbitMQPartition's labels and annotations.
func Partitioned(cluster, node string, partitions int) (labels, annotations map[string]string) {
	return map[string]string{"cluster": cluster, "node": node}, describe(Partition,
		fmt.Sprintf("RabbitMQ node %s sees a network partition", node),
		fmt.Sprintf("Node %s of cluster %s is partitioned from %d node(s).", node, cluster, partitions))
}

// ProbeKey identifies a probed node and queue type within a cluster: what
// RabbitMQProbeFailing is about.
type ProbeKey struct{ Cluster, Node, QueueType string }

// ProbesFailing is RabbitMQProbeFailing's labels and annotations.
func ProbesFailing(k ProbeKey) (labels, annotations map[string]string) {
	return map[string]string{"cluster": k.Cluster, "node": k.Node, "queue_type": k.QueueType}, describe(ProbeFailing,
		fmt.Sprintf("Synthetic probes to %s on %s fail", k.QueueType, k.Node),
		fmt.Sprintf("No probe round to a %s queue on node %s of cluster %s succeeded in the last %s: publishers and consumers there are likely failing too. `warren probe` shows the outcome.", k.QueueType, k.Node, k.Cluster, slo.FormatDuration(CounterWindow)))
}

// Unreachable is WarrenTargetDown's labels and annotations, with the
// reason of the failed poll.
func Unreachable(cluster, reason string) (labels, annotations map[string]string) {
	return map[string]string{"cluster": cluster}, describe(TargetDown,
		fmt.Sprintf("warren cannot poll RabbitMQ cluster %s", cluster),
		fmt.Sprintf("The management API of %s does not answer as it should (%s); queue and node alerts of this cluster go on from the last good snapshot.", cluster, reason))
}

// SLOSpec is what an SLO's burn-rate alerts are made of.
type SLOSpec struct {
	Name        string
	Cluster     string // the SLO's target
	Description string
	// Labels are added to both alerts (the SLO's labels, then its
	// alerting labels); Annotations likewise, over the built-in ones.
	Labels      map[string]string
	Annotations map[string]string
	RunbookURL  string // empty: the alert's section of the runbook
	Objective   slo.Objective
}

// SLOAlert is the alert of an SLO's tier, as the agent sends it and as
// `warren rules` writes it for Prometheus: labels and annotations depend
// only on the configuration, never on live values, so replicas and
// Prometheus produce the same alert.
func SLOAlert(s SLOSpec, sev slo.Severity) Alert {
	o := s.Objective
	alertname := SLOPage
	if sev == slo.Ticket {
		alertname = SLOTicket
	}
	labels := map[string]string{}
	maps.Copy(labels, s.Labels)
	labels["alertname"] = alertname
	labels["severity"] = sev.String()
	labels["slo"] = s.Name
	labels["cluster"] = s.Cluster
	var rules []string
	for _, r := range o.Rules() {
		if r.Severity == sev && r.Enabled {
			rules = append(rules, fmt.Sprintf("≥ %g× over %s and %s (%s)", r.Factor, slo.FormatDuration(r.LongWindow), slo.FormatDuration(r.ShortWindow), r.ID))
		}
	}
	objective := fmt.Sprintf("%g%%", 100*o.Target)
	what := s.Description
	if what == "" {
		what = fmt.Sprintf("%s of events good", objective)
	}
	runbook := s.RunbookURL
	if runbook == "" {
		runbook = RunbookURL(alertname)
	}
	annotations := map[string]string{
		"summary": fmt.Sprintf("SLO %s is burning its error budget too fast", s.Name),
		"description": fmt.Sprintf("SLO %s (%s; objective %s over %s) burns its error budget at %s. `warren status` and the SLO dashboard show the burn rates per window.",
			s.Name, what, objective, slo.FormatDuration(o.Window), strings.Join(rules, " or ")),
		"runbook_url": runbook,
	}
	maps.Copy(annotations, s.Annotations)
	return Alert{Labels: labels, Annotations: annotations}
}
