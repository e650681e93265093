package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The values of a target's source: where its queue statistics come from.
const (
	// SourceAuto reads the management API's statistics while the broker
	// provides them, and the Prometheus plugin when they are off.
	SourceAuto = "auto"
	// SourceManagement reads the management API's statistics only.
	SourceManagement = "management"
	// SourcePrometheus reads the statistics from the rabbitmq_prometheus
	// plugin, and only the definitions from the management API.
	SourcePrometheus = "prometheus"
)

// Sources lists the values of source, in the order they are documented.
var Sources = []string{SourceAuto, SourceManagement, SourcePrometheus}

// The rabbitmq_prometheus plugin's default ports.
const (
	defaultPrometheusPort    = "15692"
	defaultPrometheusTLSPort = "15691"
)

// PrometheusConfig is where a target's rabbitmq_prometheus plugin
// answers. The plugin's metrics are node-local: each node reports the
// queues it hosts and the channels connected to it, so URLs lists every
// node of the cluster.
type PrometheusConfig struct {
	// URLs are the base URLs of each node's plugin (no /metrics suffix);
	// default: the management URL's host on 15692 (15691 for https).
	URLs []string `yaml:"urls"`
	// Username and password (or password_file) authenticate to the
	// plugin where its authentication is enabled (RabbitMQ 3.13 and
	// later); without a username no credentials are sent.
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// TLS applies to https URLs; default: the target's tls_config.
	TLS *TLSConfig `yaml:"tls_config"`
}

// UsesPrometheus reports whether the target may read the plugin: its
// source is prometheus or auto (unset is auto, as after loading).
func (t *Target) UsesPrometheus() bool { return t.Source != SourceManagement }

// IsAuto reports whether the target's source is auto (or unset).
func (t *Target) IsAuto() bool { return t.Source == SourceAuto || t.Source == "" }

// PrometheusPassword returns the plugin's password, reading password_file
// afresh so that a rotated secret is picked up.
func (t *Target) PrometheusPassword() (string, error) {
	if t.Prometheus.PasswordFile != "" {
		return readSecretFile(t.Prometheus.PasswordFile)
	}
	return string(t.Prometheus.Password), nil
}

// PrometheusTLS is the TLS configuration of the plugin's URLs.
func (t *Target) PrometheusTLS() TLSConfig {
	if t.Prometheus.TLS != nil {
		return *t.Prometheus.TLS
	}
	return t.TLS
}

// validateSource checks the target's source and prometheus settings.
func (p *parser) validateSource(root *yaml.Node, i int, t *Target) {
	if t.Source != "" && !slices.Contains(Sources, t.Source) {
		full := []any{"targets", i, "source"}
		p.add(lineOf(root, full...), pathString(full), "must be one of %s, not %q", strings.Join(Sources, ", "), t.Source)
	}
	c := &t.Prometheus
	for j, u := range c.URLs {
		if err := checkHTTPURL(u); err != nil {
			full := []any{"targets", i, "prometheus", "urls", j}
			p.add(lineOf(root, full...), pathString(full), "%v", err)
		}
	}
	base := []any{"targets", i, "prometheus"}
	if c.Username == "" && (c.Password != "" || c.PasswordFile != "") {
		full := append(slices.Clone(base), "username")
		p.add(lineOf(root, full...), pathString(full), "is required with a password (the plugin's credentials)")
	}
	p.validatePassword(root, base, c.Password, &c.PasswordFile, c.Username != "")
	if c.TLS != nil {
		p.validateTLS(root, append(slices.Clone(base), "tls_config"), c.TLS)
	}
}

// applySourceDefaults makes auto the source and derives the plugin's URL
// from the management URL.
func (t *Target) applySourceDefaults() {
	if t.Source == "" {
		t.Source = SourceAuto
	}
	t.Prometheus.URLs = t.PrometheusURLs()
}

// PrometheusURLs are the plugin's URLs: the configured ones, else the
// management URL's host on the plugin's default port.
func (t *Target) PrometheusURLs() []string {
	if len(t.Prometheus.URLs) > 0 {
		return t.Prometheus.URLs
	}
	if u := prometheusURLFromManagement(t.ManagementURL); u != "" {
		return []string{u}
	}
	return nil
}

// prometheusURLFromManagement is the management API's host on the
// plugin's default port (its TLS port for https).
func prometheusURLFromManagement(management string) string {
	u, err := url.Parse(management)
	if err != nil || u.Host == "" {
		return ""
	}
	port := defaultPrometheusPort
	if u.Scheme == "https" {
		port = defaultPrometheusTLSPort
	}
	return fmt.Sprintf("%s://%s", u.Scheme, joinHostPort(u.Hostname(), port))
}
