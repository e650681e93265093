// Package config loads and validates warren's YAML configuration: the
// targets to watch, the SLOs to evaluate and where alerts go. Every stage
// of warren reads its settings from the Config this package returns.
//
// Loading is strict, in the manner of Prometheus and blackbox_exporter: an
// unknown key, a value of the wrong type, a bad regular expression, URL or
// duration, or a password file that cannot be read is an error, and every
// error names the file, the line and the field it is about, so an operator
// can fix all of them in one pass. Commands that never connect load with
// WithoutSecrets, which checks all of that but opens no password or TLS
// file.
//
// It also turns an SLO into what the engine evaluates (SLO.Spec) and what
// its alerts say (SLO.AlertSpec), and checks health-alert overrides
// against the alert catalog, so that alert names are written once.
//
// Import rule: of warren, config imports only alerting/catalog and slo,
// the vocabularies it validates against, which import nothing that
// imports config. Every other package may import it.
package config
