// Package config loads and validates warren's YAML configuration.
//
// Loading is strict, in the manner of Prometheus and blackbox_exporter: an
// unknown key, a value of the wrong type, a bad regular expression, URL or
// duration, or a password file that cannot be read is an error, and every
// error names the file, the line and the field it is about, so an operator
// can fix all of them in one pass.
package config
