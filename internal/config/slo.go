package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// SLO is one service level objective, as configured under `slos:`.
type SLO struct {
	// Name identifies the SLO: the slo label, the key of its saved state.
	Name string `yaml:"name"`
	// Target names the configured target the SLI is measured on; it may
	// be left out when there is only one target.
	Target      string            `yaml:"target"`
	Description string            `yaml:"description"`
	Objective   Ratio             `yaml:"objective"`
	Window      Duration          `yaml:"window"`
	SLI         SLIConfig         `yaml:"sli"`
	Labels      map[string]string `yaml:"labels"`
	Alerting    SLOAlerting       `yaml:"alerting"`
}

// DefaultSLOWindow is the SLO window unless configured.
const DefaultSLOWindow = 28 * 24 * time.Hour

// MinSLOWindow is the shortest SLO window accepted.
const MinSLOWindow = time.Minute

// SLIConfig holds exactly one kind of service level indicator.
type SLIConfig struct {
	TimeInQueue     *TimeInQueueSLI     `yaml:"time_in_queue"`
	ProbeLatency    *ProbeLatencySLI    `yaml:"probe_latency"`
	ProbeSuccess    *ProbeSuccessSLI    `yaml:"probe_success"`
	DeadLetterRatio *DeadLetterRatioSLI `yaml:"dead_letter_ratio"`
}

// Kind names the SLI kind that is set ("" when none is).
func (s SLIConfig) Kind() string {
	switch {
	case s.TimeInQueue != nil:
		return "time_in_queue"
	case s.ProbeLatency != nil:
		return "probe_latency"
	case s.ProbeSuccess != nil:
		return "probe_success"
	case s.DeadLetterRatio != nil:
		return "dead_letter_ratio"
	}
	return ""
}

// TimeInQueueSLI: the share of a queue's messages that left within
// Threshold of arriving (messages still waiting past it count as bad the
// moment they cross it). Vhost and Queue are anchored regular expressions;
// all matching queues count together.
type TimeInQueueSLI struct {
	Vhost     *Regexp  `yaml:"vhost"`
	Queue     *Regexp  `yaml:"queue"`
	Threshold Duration `yaml:"threshold"`
}

// ProbeLatencySLI: the share of probe rounds that succeeded within
// Threshold, measured publish→confirm (Kind "confirm") or publish→consume
// ("e2e"). A failed round is a bad event.
type ProbeLatencySLI struct {
	Kind      string   `yaml:"kind"`
	Threshold Duration `yaml:"threshold"`
	Node      *Regexp  `yaml:"node"`
	QueueType string   `yaml:"queue_type"`
}

// Selector returns the probes the SLI counts.
func (s ProbeLatencySLI) Selector() ProbeSelector {
	return ProbeSelector{Node: s.Node, QueueType: s.QueueType}
}

// ProbeSuccessSLI: the share of probe rounds that ended ok.
type ProbeSuccessSLI struct {
	Node      *Regexp `yaml:"node"`
	QueueType string  `yaml:"queue_type"`
}

// Selector returns the probes the SLI counts.
func (s ProbeSuccessSLI) Selector() ProbeSelector {
	return ProbeSelector{Node: s.Node, QueueType: s.QueueType}
}

// ProbeSelector limits a probe SLI to some nodes (an anchored regular
// expression over the node label) or one queue type; empty selects every
// probe of the target.
type ProbeSelector struct {
	Node      *Regexp
	QueueType string
}

// Match reports whether a probe of node and queueType counts.
func (s ProbeSelector) Match(node, queueType string) bool {
	return (s.Node == nil || s.Node.MatchString(node)) && (s.QueueType == "" || s.QueueType == queueType)
}

// SLOThreshold asks the time-in-queue estimator of a target to count
// events against Threshold for the queues an SLO measures, in addition to
// the thresholds configured for them.
type SLOThreshold struct {
	Vhost, Queue *Regexp
	Threshold    Duration
}

// DeadLetterRatioSLI: the share of a queue's departures that were not
// dead-lettered, from the queue's departures and the inflow of the
// dead-letter queues its dead letters reach.
type DeadLetterRatioSLI struct {
	Vhost *Regexp `yaml:"vhost"`
	Queue *Regexp `yaml:"queue"`
}

// MatchQueue reports whether the queue vhost/name is measured by an SLI
// with these vhost and queue expressions (nil matches everything).
func MatchQueue(vhost, queue *Regexp, v, q string) bool {
	return (vhost == nil || vhost.MatchString(v)) && (queue == nil || queue.MatchString(q))
}

// SLOAlerting configures an SLO's burn-rate alerts.
type SLOAlerting struct {
	Page   AlertTier `yaml:"page"`
	Ticket AlertTier `yaml:"ticket"`
	// MinEvents is the low-traffic guard: a burn-rate rule fires only when
	// its long window holds at least this many events (default 10; -1
	// turns the guard off).
	MinEvents   *float64          `yaml:"min_events"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	RunbookURL  string            `yaml:"runbook_url"`
}

// AlertTier switches a tier, or one of its two rules, off.
type AlertTier struct {
	// Enabled defaults to true; false disables both rules of the tier.
	Enabled *bool `yaml:"enabled"`
	// Fast and Slow default to true; false disables that rule alone
	// (page: 14.4× over 1h&5m / 6× over 6h&30m; ticket: 3× over 1d&2h /
	// 1× over 3d&6h).
	Fast *bool `yaml:"fast"`
	Slow *bool `yaml:"slow"`
}

// FastEnabled reports whether the tier's fast rule is on.
func (a AlertTier) FastEnabled() bool { return isTrue(a.Enabled) && isTrue(a.Fast) }

// SlowEnabled reports whether the tier's slow rule is on.
func (a AlertTier) SlowEnabled() bool { return isTrue(a.Enabled) && isTrue(a.Slow) }

func isTrue(b *bool) bool { return b == nil || *b }

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

// AlertmanagerPassword returns the basic-auth password, reading
// password_file afresh so that a rotated secret is picked up.
func (a AlertmanagerConfig) AlertmanagerPassword() (string, error) {
	if a.PasswordFile != "" {
		return readSecretFile(a.PasswordFile)
	}
	return string(a.Password), nil
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

// Ratio is an objective, written as a percentage ("95%", "99.9%") or a
// fraction (0.95).
type Ratio float64

// UnmarshalYAML parses "95%" or 0.95.
func (r *Ratio) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return scalarError(node, errors.New("must be a ratio such as 95% or 0.95"))
	}
	s = strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(s, "%") {
		s, scale = strings.TrimSpace(strings.TrimSuffix(s, "%")), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return scalarError(node, fmt.Errorf("%q is not a ratio such as 95%% or 0.95", node.Value))
	}
	*r = Ratio(v / scale)
	return nil
}

// sloNameRE keeps SLO names usable as label values, file keys and in URLs.
var sloNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

func (p *parser) validateSLOs(root *yaml.Node, cfg *Config) {
	names := map[string]int{}
	targets := map[string]*Target{}
	for i := range cfg.Targets {
		targets[cfg.Targets[i].Name] = &cfg.Targets[i]
	}
	for i := range cfg.SLOs {
		s := &cfg.SLOs[i]
		fail := func(format string, args []any, path ...any) {
			full := append([]any{"slos", i}, path...)
			p.add(lineOf(root, full...), pathString(full), format, args...)
		}
		switch {
		case s.Name == "":
			fail("is required", nil, "name")
		case !sloNameRE.MatchString(s.Name):
			fail("%q may hold only letters, digits and _ . : - (it is a label value and a state key)", []any{s.Name}, "name")
		default:
			if prev, dup := names[s.Name]; dup {
				fail("%q is already the name of slos[%d]", []any{s.Name, prev}, "name")
			}
			names[s.Name] = i
		}
		if s.Target == "" && len(cfg.Targets) == 1 {
			s.Target = cfg.Targets[0].Name
		}
		target := targets[s.Target]
		switch {
		case s.Target == "":
			fail("is required when there is more than one target", nil, "target")
		case target == nil:
			fail("%q is not the name of a configured target", []any{s.Target}, "target")
		}
		if s.Objective == 0 {
			fail("is required and must be above 0%%, e.g. 95%% or 0.99", nil, "objective")
		} else if !(s.Objective > 0 && s.Objective < 1) {
			fail("%v%% must be above 0%% and below 100%%", []any{float64(s.Objective) * 100}, "objective")
		}
		if s.Window == 0 {
			s.Window = Duration(DefaultSLOWindow)
		} else if s.Window.Std() < MinSLOWindow {
			fail("%v is shorter than %v: the alert windows scale with it (the 5m page window of a 30d SLO becomes window/8640)", []any{s.Window.Std(), MinSLOWindow}, "window")
		}
		p.validateSLI(s, target, fail)
		if tiq := s.SLI.TimeInQueue; tiq != nil && target != nil && tiq.Threshold > 0 {
			// The estimator counts events per threshold: make sure it
			// counts this one for the queues the SLO measures.
			target.TimeInQueue.SLOThresholds = append(target.TimeInQueue.SLOThresholds,
				SLOThreshold{Vhost: tiq.Vhost, Queue: tiq.Queue, Threshold: tiq.Threshold})
		}
		if s.Alerting.MinEvents != nil && *s.Alerting.MinEvents < 0 && *s.Alerting.MinEvents != -1 {
			fail("must be 0 or more, or -1 to turn the guard off", nil, "alerting", "min_events")
		}
		if u := s.Alerting.RunbookURL; u != "" {
			if parsed, err := url.Parse(u); err != nil || parsed.Scheme == "" {
				fail("%q is not an absolute URL", []any{u}, "alerting", "runbook_url")
			}
		}
		for k := range s.Labels {
			if !labelNameRE.MatchString(k) {
				fail("%q is not a valid label name", []any{k}, "labels")
			}
		}
		for k := range s.Alerting.Labels {
			if !labelNameRE.MatchString(k) {
				fail("%q is not a valid label name", []any{k}, "alerting", "labels")
			}
		}
	}
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (p *parser) validateSLI(s *SLO, target *Target, fail func(string, []any, ...any)) {
	sli := s.SLI
	set := 0
	for _, isSet := range []bool{sli.TimeInQueue != nil, sli.ProbeLatency != nil, sli.ProbeSuccess != nil, sli.DeadLetterRatio != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		fail("needs exactly one of time_in_queue, probe_latency, probe_success, dead_letter_ratio (found %d)", []any{set}, "sli")
		return
	}
	probesOff := target != nil && !target.Probes.IsEnabled()
	switch {
	case sli.TimeInQueue != nil:
		if sli.TimeInQueue.Queue == nil {
			fail("is required: the queue (a regular expression) whose messages are measured", nil, "sli", "time_in_queue", "queue")
		}
		if sli.TimeInQueue.Threshold == 0 {
			fail("is required, e.g. 30s", nil, "sli", "time_in_queue", "threshold")
		}
	case sli.DeadLetterRatio != nil:
		if sli.DeadLetterRatio.Queue == nil {
			fail("is required: the source queue (a regular expression)", nil, "sli", "dead_letter_ratio", "queue")
		}
	case sli.ProbeLatency != nil:
		pl := sli.ProbeLatency
		if pl.Kind != "confirm" && pl.Kind != "e2e" {
			fail("%q is not a probe latency: use confirm or e2e", []any{pl.Kind}, "sli", "probe_latency", "kind")
		}
		if pl.Threshold == 0 {
			fail("is required, e.g. 100ms", nil, "sli", "probe_latency", "threshold")
		}
		p.validateProbeSelector(pl.Selector(), fail, "probe_latency")
		if probesOff {
			fail("target %q has probes disabled", []any{s.Target}, "sli", "probe_latency")
		}
	case sli.ProbeSuccess != nil:
		p.validateProbeSelector(sli.ProbeSuccess.Selector(), fail, "probe_success")
		if probesOff {
			fail("target %q has probes disabled", []any{s.Target}, "sli", "probe_success")
		}
	}
}

func (p *parser) validateProbeSelector(sel ProbeSelector, fail func(string, []any, ...any), kind string) {
	if sel.QueueType != "" && sel.QueueType != "classic" && sel.QueueType != "quorum" {
		fail("%q is not a probed queue type: use classic or quorum", []any{sel.QueueType}, "sli", kind, "queue_type")
	}
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
		am.PasswordFile = p.resolve(am.PasswordFile)
		switch {
		case am.Password != "" && am.PasswordFile != "":
			fail("set password or password_file, not both", nil, "alertmanagers", i, "password_file")
		case am.PasswordFile != "":
			if _, err := readSecretFile(am.PasswordFile); err != nil {
				fail("%v", []any{err}, "alertmanagers", i, "password_file")
			}
		}
		if (am.Password != "" || am.PasswordFile != "") && am.Username == "" {
			fail("is required with a password", nil, "alertmanagers", i, "username")
		}
		am.TLS.CAFile, am.TLS.CertFile, am.TLS.KeyFile = p.resolve(am.TLS.CAFile), p.resolve(am.TLS.CertFile), p.resolve(am.TLS.KeyFile)
		if _, err := am.TLS.Build(); err != nil {
			fail("%v", []any{err}, "alertmanagers", i, "tls_config")
		}
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
