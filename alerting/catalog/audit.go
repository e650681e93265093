package catalog

import (
	"fmt"
	"slices"
)

// The audit's checks (analysis/audit; docs/audit.md), by the names the
// check label, the JSON report and audit.ignore spell. They are part of
// the alert vocabulary because RabbitMQAuditFinding is raised per check,
// and the configuration validates audit.ignore against them.
const (
	CheckPublisherWithoutConfirms = "publisher_without_confirms"
	CheckUnroutableDrops          = "unroutable_drops"
	CheckAutoAckConsumers         = "auto_ack_consumers"
	CheckUnboundedPrefetch        = "unbounded_prefetch"
	CheckHeartbeatsDisabled       = "heartbeats_disabled"
	CheckTransientMessages        = "transient_messages_in_durable_queues"
	CheckRejectsWithoutDLX        = "rejects_without_dead_letter_exchange"
	CheckEndlessRetryCycle        = "endless_retry_cycle"
	CheckSharedCredentials        = "shared_or_default_credentials"
	CheckOverPrivilegedUsers      = "over_privileged_users"
	CheckPlainTextConnections     = "plain_text_connections"
	CheckDeprecatedFeatures       = "deprecated_features"
	CheckConsumerTimeout          = "consumer_timeout"
)

// AuditChecks lists every check, in the order reports show them.
var AuditChecks = []string{
	CheckPublisherWithoutConfirms, CheckUnroutableDrops, CheckAutoAckConsumers, CheckUnboundedPrefetch,
	CheckHeartbeatsDisabled, CheckTransientMessages, CheckRejectsWithoutDLX, CheckEndlessRetryCycle,
	CheckSharedCredentials, CheckOverPrivilegedUsers, CheckPlainTextConnections, CheckDeprecatedFeatures,
	CheckConsumerTimeout,
}

// IsAuditCheck reports whether name is a check of the audit.
func IsAuditCheck(name string) bool { return slices.Contains(AuditChecks, name) }

// AuditFinding is the ticket raised while a check whose findings mean
// messages are being lost or cycling now has findings.
const AuditFinding = "RabbitMQAuditFinding"

// AuditTicketChecks are the checks RabbitMQAuditFinding is raised for:
// rejected messages discarded, and poison messages cycling without end.
// Unroutable drops are lost too, but RabbitMQMessagesUnroutable already
// tickets them; the other checks are practices to fix, not losses now,
// and stay findings.
var AuditTicketChecks = []string{CheckRejectsWithoutDLX, CheckEndlessRetryCycle}

// RaisesTicket reports whether check's findings raise RabbitMQAuditFinding.
func RaisesTicket(check string) bool { return slices.Contains(AuditTicketChecks, check) }

// AuditFindings is RabbitMQAuditFinding's labels and annotations, for a
// check with n findings on a cluster.
func AuditFindings(cluster, check string, n int) (labels, annotations map[string]string) {
	return map[string]string{"cluster": cluster, "check": check}, describe(AuditFinding,
		fmt.Sprintf("The audit of %s finds %s", cluster, check),
		fmt.Sprintf("The latest audit of cluster %s found %d object(s) failing the check %s, where messages are being lost or cycle forever. `warren audit --target %s` or `warren status` names them, with the evidence and the fix (docs/audit.md).", cluster, n, check, cluster))
}
