// Package alerts holds the Prometheus alerting rules warren ships
// (warren-alerts.yml, evaluated by Prometheus on warren's metrics), their
// promtool unit tests (warren-alerts_test.yml) and RUNBOOK.md, which every
// alert's runbook_url points into. Its Go tests run promtool and keep the
// rules, their tests and the runbook in step; alerting/conditions' tests
// check the rules against alerting/catalog.
//
// Import rule: it has no code of its own; its tests may import the test
// harnesses.
package alerts
