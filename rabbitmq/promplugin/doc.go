// Package promplugin reads a RabbitMQ target's queue statistics from the
// rabbitmq_prometheus plugin's /metrics/detailed instead of the
// management API's statistics, which large installations turn off
// (management_agent.disable_metrics_collector = true): the definitions
// (queues and their arguments, policies, the dead-letter topology,
// nodes, alarms) still come from the management API, which answers them
// with statistics off; depths, consumers and counters come from the
// plugin, decoded with expfmt's text parser one family chunk at a time
// (textformat.go). Its Source fills the same snapshot.Snapshot as
// rabbitmq/management's, and Auto reads either, whichever the broker
// serves.
//
// On RabbitMQ before 4.0 the per-queue counters exist only per channel,
// and a channel's series vanish when it closes; the source keeps its own
// cumulative per-queue counters from the increments of every series it
// has seen (cumulative.go), so they never go backwards.
//
// Import rule: it imports snapshot, internal/config, rabbitmq/brokerhttp
// and rabbitmq/management, nothing else of warren.
package promplugin
