// Package deploy holds warren's deployment files; its tests keep them valid.
//
// The files: kubernetes/ (a kustomize base and an HA overlay, with the
// PrometheusRule generated from alerts/warren-alerts.yml), systemd/ (a
// hardened unit), Dockerfile, and warren.example.yml (the configuration the
// systemd unit expects). docs/deployment.md says how to use each.
//
// Import rule: its tests may import the test harnesses; it has no code of
// its own.
//
// After editing alerts/warren-alerts.yml, regenerate the PrometheusRule:
//
//go:generate go test . -run TestPrometheusRuleMatchesTheShippedAlertRules -update
package deploy
