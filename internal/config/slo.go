package config

import (
	"net/url"
	"regexp"
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
	TimeInQueue *QueueLatencySLI `yaml:"time_in_queue"`
	// ProcessingLatency measures from delivery to ack instead: the share
	// of deliveries a queue's consumers acked within Threshold.
	ProcessingLatency *QueueLatencySLI    `yaml:"processing_latency"`
	ProbeLatency      *ProbeLatencySLI    `yaml:"probe_latency"`
	ProbeSuccess      *ProbeSuccessSLI    `yaml:"probe_success"`
	DeadLetterRatio   *DeadLetterRatioSLI `yaml:"dead_letter_ratio"`
	// OutboxDispatch is the share of an outbox's rows dispatched within
	// Threshold of being written.
	OutboxDispatch *OutboxDispatchSLI `yaml:"outbox_dispatch"`
}

// Kind names the SLI kind that is set ("" when none is).
func (s SLIConfig) Kind() string {
	switch {
	case s.TimeInQueue != nil:
		return "time_in_queue"
	case s.ProcessingLatency != nil:
		return "processing_latency"
	case s.ProbeLatency != nil:
		return "probe_latency"
	case s.ProbeSuccess != nil:
		return "probe_success"
	case s.DeadLetterRatio != nil:
		return "dead_letter_ratio"
	case s.OutboxDispatch != nil:
		return "outbox_dispatch"
	}
	return ""
}

// QueueLatencySLI: for time_in_queue, the share of a queue's messages
// that left within Threshold of arriving; for processing_latency, the
// share of its deliveries that were acked within Threshold of being
// delivered. Messages still waiting past it count as bad the moment they
// cross it. Vhost and Queue are anchored regular expressions; all
// matching queues count together.
//
// With Outbox (time_in_queue only), the SLI measures from the commit of
// the event's outbox row instead: outbox wait plus time in queue, the two
// combined as docs/outbox.md#end-to-end-slos explains.
type QueueLatencySLI struct {
	Vhost     *Regexp  `yaml:"vhost"`
	Queue     *Regexp  `yaml:"queue"`
	Threshold Duration `yaml:"threshold"`
	// Outbox names the outbox whose events flow into the queues.
	Outbox string `yaml:"outbox"`
	// EventType limits the outbox's rows to those whose event type
	// matches (an anchored regular expression); default all.
	EventType *Regexp `yaml:"event_type"`
}

// OutboxDispatchSLI: the share of an outbox's rows dispatched within
// Threshold of being written. Rows still pending past it count as bad
// the moment they cross it.
type OutboxDispatchSLI struct {
	Outbox    string   `yaml:"outbox"`
	EventType *Regexp  `yaml:"event_type"`
	Threshold Duration `yaml:"threshold"`
}

// OutboxSplits are the fractions of an end-to-end threshold at which the
// outbox wait is cut into bins (docs/outbox.md#end-to-end-slos): a row
// whose wait falls in (f[k-1]·θ, f[k]·θ] is good when its message waited
// at most (1−f[k])·θ in the queue.
var OutboxSplits = []float64{0.1, 0.25, 0.5, 0.75, 1}

// OutboxSplitThresholds returns, for an end-to-end threshold, the outbox
// thresholds f[k]·θ and the queue thresholds (1−f[k])·θ (0 for the last).
func OutboxSplitThresholds(threshold time.Duration) (outbox, queue []time.Duration) {
	for _, f := range OutboxSplits {
		o := time.Duration(float64(threshold) * f)
		outbox = append(outbox, o)
		queue = append(queue, threshold-o)
	}
	return outbox, queue
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
		case s.Target == "" && s.SLI.OutboxDispatch != nil:
			// An outbox SLI measures a database, not a target.
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
		// The estimators count events per threshold: make sure they
		// count this one for the queues the SLO measures.
		if tiq := s.SLI.TimeInQueue; tiq != nil && target != nil && tiq.Threshold > 0 {
			target.TimeInQueue.SLOThresholds = append(target.TimeInQueue.SLOThresholds, tiq.sloThreshold())
		}
		p.registerOutboxThresholds(s, cfg, target, fail)
		if pl := s.SLI.ProcessingLatency; pl != nil && target != nil && pl.Threshold > 0 {
			target.Processing.SLOThresholds = append(target.Processing.SLOThresholds, pl.sloThreshold())
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

func (p *parser) validateSLI(s *SLO, target *Target, fail func(string, []any, ...any)) {
	sli := s.SLI
	set := 0
	for _, isSet := range []bool{sli.TimeInQueue != nil, sli.ProcessingLatency != nil, sli.ProbeLatency != nil, sli.ProbeSuccess != nil, sli.DeadLetterRatio != nil, sli.OutboxDispatch != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		fail("needs exactly one of time_in_queue, processing_latency, probe_latency, probe_success, dead_letter_ratio, outbox_dispatch (found %d)", []any{set}, "sli")
		return
	}
	probesOff := target != nil && !target.Probes.IsEnabled()
	switch {
	case sli.TimeInQueue != nil:
		sli.TimeInQueue.validate(fail, "time_in_queue", "30s")
	case sli.ProcessingLatency != nil:
		sli.ProcessingLatency.validate(fail, "processing_latency", "2s")
		if sli.ProcessingLatency.Outbox != "" || sli.ProcessingLatency.EventType != nil {
			fail("outbox and event_type belong to time_in_queue only", nil, "sli", "processing_latency", "outbox")
		}
		if target != nil && !target.Processing.IsEnabled() {
			fail("target %q has the processing estimate disabled (processing.enabled: false)", []any{s.Target}, "sli", "processing_latency")
		}
	case sli.OutboxDispatch != nil:
		if sli.OutboxDispatch.Threshold == 0 {
			fail("is required, e.g. 5s", nil, "sli", "outbox_dispatch", "threshold")
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

func (s *QueueLatencySLI) validate(fail func(string, []any, ...any), kind, example string) {
	if s.Queue == nil {
		fail("is required: the queue (a regular expression) whose messages are measured", nil, "sli", kind, "queue")
	}
	if s.Threshold == 0 {
		fail("is required, e.g. "+example, nil, "sli", kind, "threshold")
	}
}

func (s *QueueLatencySLI) sloThreshold() SLOThreshold {
	return SLOThreshold{Vhost: s.Vhost, Queue: s.Queue, Threshold: s.Threshold}
}

// registerOutboxThresholds checks the outbox an SLO names and makes the
// outbox (and, end to end, the target's time-in-queue estimate) count the
// thresholds the SLO is measured against.
func (p *parser) registerOutboxThresholds(s *SLO, cfg *Config, target *Target, failAt func(string, []any, ...any)) {
	var name string
	var field []any
	switch {
	case s.SLI.OutboxDispatch != nil:
		name, field = s.SLI.OutboxDispatch.Outbox, []any{"sli", "outbox_dispatch", "outbox"}
	case s.SLI.TimeInQueue != nil && (s.SLI.TimeInQueue.Outbox != "" || s.SLI.TimeInQueue.EventType != nil):
		name, field = s.SLI.TimeInQueue.Outbox, []any{"sli", "time_in_queue", "outbox"}
	default:
		return
	}
	fail := func(format string, args ...any) { failAt(format, args, field...) }
	var o *Outbox
	for j := range cfg.Outboxes {
		if cfg.Outboxes[j].Name == name {
			o = &cfg.Outboxes[j]
		}
	}
	switch {
	case name == "":
		fail("is required: the name of a configured outbox")
		return
	case o == nil:
		fail("%q is not the name of a configured outbox", name)
		return
	case !o.HasDispatchTime():
		fail("outbox %q has no dispatched_at column: the dispatch latency needs one", name)
		return
	}
	if tiq := s.SLI.TimeInQueue; tiq != nil {
		if tiq.Threshold == 0 {
			return
		}
		outboxTh, queueTh := OutboxSplitThresholds(tiq.Threshold.Std())
		o.SLOThresholds = append(o.SLOThresholds, outboxTh...)
		if target != nil {
			for _, q := range queueTh[:len(queueTh)-1] {
				target.TimeInQueue.SLOThresholds = append(target.TimeInQueue.SLOThresholds, SLOThreshold{Vhost: tiq.Vhost, Queue: tiq.Queue, Threshold: Duration(q)})
			}
		}
		return
	}
	if th := s.SLI.OutboxDispatch.Threshold; th > 0 {
		o.SLOThresholds = append(o.SLOThresholds, th.Std())
	}
}
