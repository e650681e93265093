package config

import (
	"maps"
	"math"
	"slices"

	"github.com/warrenhq/warren/alerting/catalog"
	"gopkg.in/yaml.v3"
)

// Alerting configures where alerts go and the built-in health alerts.
type Alerting struct {
	Alertmanagers []AlertmanagerConfig `yaml:"alertmanagers"`
	// EvaluationInterval is how often SLOs and health alerts are
	// evaluated (default 15s).
	EvaluationInterval Duration `yaml:"evaluation_interval"`
	// ResendInterval is how often firing alerts are re-sent (default 1m).
	ResendInterval Duration `yaml:"resend_interval"`
	// ExternalURL is where warren is reached from outside, the base of
	// every alert's generatorURL (default http://<hostname>:<port>).
	ExternalURL string `yaml:"external_url"`
	// Labels are added to every alert.
	Labels map[string]string  `yaml:"labels"`
	Health HealthAlertsConfig `yaml:"health"`
}

// AlertmanagerConfig is one Alertmanager warren sends alerts to.
type AlertmanagerConfig struct {
	URL          string    `yaml:"url"`
	Username     string    `yaml:"username"`
	Password     Secret    `yaml:"password"`
	PasswordFile string    `yaml:"password_file"`
	TLS          TLSConfig `yaml:"tls_config"`
	Timeout      Duration  `yaml:"timeout"`
}

// HealthAlertsConfig tunes the built-in health alerts; the keys are the
// alert names of alerting/catalog.
type HealthAlertsConfig map[string]HealthAlert

// HealthAlert overrides one built-in alert's defaults. What Threshold
// means depends on the alert (docs/alerts.md).
type HealthAlert struct {
	Disabled  bool     `yaml:"disabled"`
	For       Duration `yaml:"for"`
	Severity  string   `yaml:"severity"`
	Threshold *float64 `yaml:"threshold"`
}

func (p *parser) validateAlerting(root *yaml.Node, a *Alerting) {
	fail := func(format string, args []any, path ...any) {
		full := append([]any{"alerting"}, path...)
		p.add(lineOf(root, full...), pathString(full), format, args...)
	}
	for i := range a.Alertmanagers {
		am := &a.Alertmanagers[i]
		if am.URL == "" {
			fail("is required, e.g. http://alertmanager:9093", nil, "alertmanagers", i, "url")
		} else if err := checkHTTPURL(am.URL); err != nil {
			fail("%v", []any{err}, "alertmanagers", i, "url")
		}
		p.validatePassword(root, []any{"alerting", "alertmanagers", i}, am.Password, &am.PasswordFile, false)
		if (am.Password != "" || am.PasswordFile != "") && am.Username == "" {
			fail("is required with a password", nil, "alertmanagers", i, "username")
		}
		p.validateTLS(root, []any{"alerting", "alertmanagers", i, "tls_config"}, &am.TLS)
		if am.Timeout == 0 {
			am.Timeout = Duration(DefaultTimeout)
		}
	}
	if a.ExternalURL != "" {
		if err := checkHTTPURL(a.ExternalURL); err != nil {
			fail("%v", []any{err}, "external_url")
		}
	}
	for k := range a.Labels {
		if !labelNameRE.MatchString(k) {
			fail("%q is not a valid label name", []any{k}, "labels")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(a.Health)) {
		h := a.Health[name]
		if !catalog.IsHealthAlert(name) {
			fail("%q is not a built-in health alert (see docs/alerts.md)", []any{name}, "health", name)
			continue
		}
		if h.Severity != "" && h.Severity != "page" && h.Severity != "ticket" {
			fail("%q is not a severity: use page or ticket", []any{h.Severity}, "health", name, "severity")
		}
		switch th := h.Threshold; {
		case th != nil && (*th < 0 || math.IsNaN(*th)):
			fail("must not be negative", nil, "health", name, "threshold")
		case th != nil && name == catalog.ConsumerTimeoutImminent && (*th == 0 || *th >= 1):
			// At 0 it would page for every queue, even one with nothing
			// unacknowledged; from 1 on the broker closes the channel
			// before the alert can warn.
			fail("is the share of the consumer timeout a delivery may wait unacknowledged: above 0 and below 1, not %g", []any{*th}, "health", name, "threshold")
		case th != nil && name == catalog.QuorumLeadersImbalanced && *th < 1:
			// Below 1 a node within its fair share would count as
			// overloaded.
			fail("is how many times its fair share of the quorum leaders a node may lead: at least 1, not %g", []any{*th}, "health", name, "threshold")
		}
	}
	a.applyDefaults()
}

func (a *Alerting) applyDefaults() {
	if a.EvaluationInterval == 0 {
		a.EvaluationInterval = Duration(catalog.DefaultEvaluationInterval)
	}
	if a.ResendInterval == 0 {
		a.ResendInterval = Duration(catalog.DefaultResendInterval)
	}
}

// Override returns the configured override of the built-in alert name.
func (h HealthAlertsConfig) Override(name string) HealthAlert {
	return h[name]
}
