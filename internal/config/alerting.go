package config

import (
	"math"
	"time"

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

// Alerting defaults.
const (
	DefaultEvaluationInterval = 15 * time.Second
	DefaultResendInterval     = time.Minute
)

// AlertmanagerConfig is one Alertmanager warren sends alerts to.
type AlertmanagerConfig struct {
	URL          string    `yaml:"url"`
	Username     string    `yaml:"username"`
	Password     Secret    `yaml:"password"`
	PasswordFile string    `yaml:"password_file"`
	TLS          TLSConfig `yaml:"tls_config"`
	Timeout      Duration  `yaml:"timeout"`
}

// HealthAlertsConfig tunes the built-in health alerts, one field each; the
// YAML keys are the alert names.
type HealthAlertsConfig struct {
	QueueNoConsumers HealthAlert `yaml:"RabbitMQQueueNoConsumers"`
	QueueStalled     HealthAlert `yaml:"RabbitMQQueueStalled"`
	QueueOldMessages HealthAlert `yaml:"RabbitMQQueueOldMessages"`
	DeadLetterInflow HealthAlert `yaml:"RabbitMQDeadLetterInflow"`
	RedeliveryStorm  HealthAlert `yaml:"RabbitMQRedeliveryStorm"`
	NodeAlarm        HealthAlert `yaml:"RabbitMQNodeAlarm"`
	NodeDown         HealthAlert `yaml:"RabbitMQNodeDown"`
	Partition        HealthAlert `yaml:"RabbitMQPartition"`
	ProbeFailing     HealthAlert `yaml:"RabbitMQProbeFailing"`
	TargetDown       HealthAlert `yaml:"WarrenTargetDown"`
}

// HealthAlert overrides one built-in alert's defaults. What Threshold
// means depends on the alert (README: built-in health alerts).
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
	for name, h := range a.Health.byName() {
		if h.Severity != "" && h.Severity != "page" && h.Severity != "ticket" {
			fail("%q is not a severity: use page or ticket", []any{h.Severity}, "health", name, "severity")
		}
		if h.Threshold != nil && (*h.Threshold < 0 || math.IsNaN(*h.Threshold)) {
			fail("must not be negative", nil, "health", name, "threshold")
		}
	}
	a.applyDefaults()
}

func (a *Alerting) applyDefaults() {
	if a.EvaluationInterval == 0 {
		a.EvaluationInterval = Duration(DefaultEvaluationInterval)
	}
	if a.ResendInterval == 0 {
		a.ResendInterval = Duration(DefaultResendInterval)
	}
}

// byName returns the overrides by alert name.
func (h *HealthAlertsConfig) byName() map[string]*HealthAlert {
	return map[string]*HealthAlert{
		"RabbitMQQueueNoConsumers": &h.QueueNoConsumers,
		"RabbitMQQueueStalled":     &h.QueueStalled,
		"RabbitMQQueueOldMessages": &h.QueueOldMessages,
		"RabbitMQDeadLetterInflow": &h.DeadLetterInflow,
		"RabbitMQRedeliveryStorm":  &h.RedeliveryStorm,
		"RabbitMQNodeAlarm":        &h.NodeAlarm,
		"RabbitMQNodeDown":         &h.NodeDown,
		"RabbitMQPartition":        &h.Partition,
		"RabbitMQProbeFailing":     &h.ProbeFailing,
		"WarrenTargetDown":         &h.TargetDown,
	}
}

// Override returns the configured override of the built-in alert name.
func (h HealthAlertsConfig) Override(name string) HealthAlert {
	if o := h.byName()[name]; o != nil {
		return *o
	}
	return HealthAlert{}
}
