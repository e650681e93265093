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
// Import rule: config imports nothing of warren (only the standard library,
// yaml.v3 and prometheus/common/model). Every other package may import it;
// it is the bottom of the import graph, so it can never form a cycle.
package config
