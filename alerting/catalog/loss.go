package catalog

import (
	"fmt"

	"github.com/warrenhq/warren/slo"
)

// Names of the silent-loss alerts.
const (
	MessagesUnroutable    = "RabbitMQMessagesUnroutable"
	QueueNearLengthLimit  = "RabbitMQQueueNearLengthLimit"
	QueueDroppingMessages = "RabbitMQQueueDroppingMessages"
)

// Their thresholds (defaults in HealthRules): RabbitMQMessagesUnroutable,
// messages dropped as unroutable within CounterWindow (fires above it);
// RabbitMQQueueNearLengthLimit, the depth over the length limit (fires
// above it); RabbitMQQueueDroppingMessages, messages dropped by a
// drop-head limit within CounterWindow (fires above it).

// VhostRef identifies the vhost a vhost alert is about.
type VhostRef struct{ Cluster, Vhost string }

// Unroutable is RabbitMQMessagesUnroutable's labels and annotations.
func Unroutable(v VhostRef) (labels, annotations map[string]string) {
	return map[string]string{"cluster": v.Cluster, "vhost": v.Vhost}, describe(MessagesUnroutable,
		fmt.Sprintf("Messages published to vhost %s are dropped as unroutable", v.Vhost),
		fmt.Sprintf("Publishers in vhost %s of cluster %s published messages without mandatory in the last %s that no queue was bound to take: they are gone. The status API (`warren status`) names the publishing connections and users.", v.Vhost, v.Cluster, slo.FormatDuration(CounterWindow)))
}

// NearLengthLimit is RabbitMQQueueNearLengthLimit's labels and
// annotations, for a queue fuller than ratio with the given overflow mode.
func NearLengthLimit(q QueueRef, ratio float64, overflow string) (labels, annotations map[string]string) {
	return q.labels(), describe(QueueNearLengthLimit,
		fmt.Sprintf("Queue %s is near its length limit", q.Name),
		fmt.Sprintf("Queue %s in vhost %s of cluster %s is more than %g%% full of its length limit; at the limit it will %s.", q.Name, q.Vhost, q.Cluster, 100*ratio, overflowEffect(overflow)))
}

// DroppingMessages is RabbitMQQueueDroppingMessages's labels and
// annotations.
func DroppingMessages(q QueueRef) (labels, annotations map[string]string) {
	return q.labels(), describe(QueueDroppingMessages,
		fmt.Sprintf("Queue %s drops messages at its length limit", q.Name),
		fmt.Sprintf("Queue %s in vhost %s of cluster %s is at its length limit with overflow drop-head and no dead-letter exchange: in the last %s it dropped its oldest messages, which are lost.", q.Name, q.Vhost, q.Cluster, slo.FormatDuration(CounterWindow)))
}

func overflowEffect(overflow string) string {
	switch overflow {
	case "reject-publish":
		return "refuse new publishes (publishers with confirms see nacks; others lose them)"
	case "reject-publish-dlx":
		return "refuse new publishes and dead-letter them"
	}
	return "drop its oldest messages (dead-lettered if it has a dead-letter exchange, else lost)"
}
