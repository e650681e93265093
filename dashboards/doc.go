// Package dashboards holds warren's Grafana dashboards, as JSON files that
// import as they are (Dashboards → New → Import, or a provisioning
// directory):
//
//   - warren-overview.json: every watched cluster at a glance — targets,
//     brokers, the worst queues, dead letters, probes, alerts, warren's
//     polls, silent loss (unroutable messages per vhost, queues near
//     their length limit, messages dropped and discarded per queue), and
//     quorum-queue replication (members offline, the queues with the
//     fewest spare members, leaders per node);
//   - warren-queue.json: one queue in detail — depth, rates, consumers,
//     time in queue, processing within thresholds, dead-letter routes,
//     the oldest unacknowledged delivery against the consumer timeout
//     and delivery-to-ack percentiles;
//   - warren-slo.json: the SLOs — objective, SLI per window, error budget,
//     burn rates, burn-rate alerts, good and bad events.
//
// Each asks for a Prometheus data source on import (DS_PROMETHEUS) and
// keeps a data source variable, so one copy serves several Prometheus
// servers; clusters, vhosts and queues come from template variables, never
// from the JSON. Queries take the max over warren replicas of what every
// replica reads from the same broker (depths, broker counters, statuses,
// time-in-queue estimates), so an HA pair does not double the numbers,
// and sum what each replica measures for itself (probe rounds, polls).
//
// The tests hold the dashboards to that: their structure is checked
// offline, and every panel query runs against a real Prometheus scraping a
// real warren watching a real RabbitMQ with traffic, and must parse and
// return data; every metric name a dashboard or an alert rule in ../alerts
// uses must be one warren exports.
//
// Import rule: it has no code of its own; its tests may import the test
// harnesses.
package dashboards
