// Package conditions decides which alerts fire: the built-in health
// alerts, evaluated on the collector's snapshots, the time-in-queue
// estimates and the probe results, and the SLO burn-rate alerts of the
// slo.Engine. It keeps each condition's pending time (`for`) and a stable
// start time, and hands the complete set of firing alerts to a sink (the
// Alertmanager notifier) at every evaluation.
//
// Labels are derived only from the configuration and the broker's
// objects, never from the process, so two warren replicas with one
// configuration produce identical alerts and Alertmanager de-duplicates
// them.
package conditions

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/warrenhq/warren/alerting/notifier"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/slo/sli"
)

// RunbookBase is where the runbook of every built-in alert lives; the
// anchor is the lower-cased alert name.
const RunbookBase = "https://github.com/warrenhq/warren/blob/main/alerts/RUNBOOK.md#"

// Names of the SLO burn-rate alerts.
const (
	SLOPageAlert   = "WarrenSLOBurnRatePage"
	SLOTicketAlert = "WarrenSLOBurnRateTicket"
)

// candidate is a condition that holds now, before its `for` is applied.
type candidate struct {
	labels      map[string]string
	annotations map[string]string
	hold        time.Duration // the `for` duration
	path        string        // status API query for the generator URL
}

// pendingState is a condition seen holding since activeAt; it fires once
// it has held for its `for` duration, and keeps its firing time while it
// holds.
type pendingState struct {
	activeAt, firedAt time.Time
}

// Evaluator evaluates every condition on each tick.
type Evaluator struct {
	health      *Health
	engine      *slo.Engine
	slos        map[string]config.SLO
	extraLabels map[string]string
	externalURL string
	logger      *slog.Logger

	mu      sync.Mutex
	pending map[string]*pendingState
	firing  []notifier.Alert
}

// NewEvaluator returns an evaluator of the health conditions of h (may be
// nil) and the SLOs of engine (may be nil), configured by cfg.
func NewEvaluator(cfg *config.Config, h *Health, engine *slo.Engine, externalURL string, logger *slog.Logger) *Evaluator {
	e := &Evaluator{
		health:      h,
		engine:      engine,
		slos:        map[string]config.SLO{},
		extraLabels: cfg.Alerting.Labels,
		externalURL: strings.TrimRight(externalURL, "/"),
		logger:      logger,
		pending:     map[string]*pendingState{},
	}
	for _, s := range cfg.SLOs {
		e.slos[s.Name] = s
	}
	return e
}

// Evaluate returns the alerts firing at now, sorted by labels.
func (e *Evaluator) Evaluate(now time.Time) []notifier.Alert {
	var cands []candidate
	if e.health != nil {
		cands = append(cands, e.health.candidates(now)...)
	}
	if e.engine != nil {
		for _, ev := range e.engine.Evaluate(now) {
			cands = append(cands, e.sloCandidates(ev)...)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := make(map[string]bool, len(cands))
	var firing []notifier.Alert
	for _, c := range cands {
		for k, v := range e.extraLabels {
			if _, set := c.labels[k]; !set {
				c.labels[k] = v
			}
		}
		key := labelKey(c.labels)
		if seen[key] {
			continue
		}
		seen[key] = true
		st := e.pending[key]
		if st == nil {
			st = &pendingState{activeAt: now}
			e.pending[key] = st
		}
		if st.firedAt.IsZero() && now.Sub(st.activeAt) >= c.hold {
			st.firedAt = now
		}
		if st.firedAt.IsZero() {
			continue
		}
		firing = append(firing, notifier.Alert{
			Labels:       c.labels,
			Annotations:  c.annotations,
			StartsAt:     st.firedAt,
			GeneratorURL: e.externalURL + c.path,
		})
	}
	for key := range e.pending {
		if !seen[key] {
			delete(e.pending, key)
		}
	}
	sort.Slice(firing, func(i, j int) bool { return labelKey(firing[i].Labels) < labelKey(firing[j].Labels) })
	e.firing = firing
	return firing
}

// Firing returns the alerts of the latest evaluation.
func (e *Evaluator) Firing() []notifier.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firing
}

// Run evaluates every interval until ctx is done and hands each result to
// sink.
func (e *Evaluator) Run(ctx context.Context, interval time.Duration, sink func(time.Time, []notifier.Alert)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		now := time.Now()
		sink(now, e.Evaluate(now))
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// labelKey is a label set's identity: sorted name=value pairs.
func labelKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte('\x00')
		b.WriteString(labels[k])
		b.WriteByte('\x01')
	}
	return b.String()
}

// statusPath is the status API query for an object, the generator URL of
// its alerts.
func statusPath(params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		if params[i+1] != "" {
			q.Set(params[i], params[i+1])
		}
	}
	if len(q) == 0 {
		return "/api/v1/status"
	}
	return "/api/v1/status?" + q.Encode()
}

func (e *Evaluator) sloCandidates(ev slo.Evaluation) []candidate {
	s, ok := e.slos[ev.Objective.Name]
	if !ok {
		return nil
	}
	var out []candidate
	for _, tier := range []slo.TierStatus{ev.Page, ev.Ticket} {
		if tier.Active {
			a := SLOAlert(s, tier.Severity)
			out = append(out, candidate{labels: a.Labels, annotations: a.Annotations, path: statusPath("slo", s.Name)})
		}
	}
	return out
}

// SLOAlert is the alert of an SLO's tier, as the agent sends it and as
// `warren rules` writes it for Prometheus: labels and annotations depend
// only on the configuration, never on live values, so replicas and
// Prometheus produce the same alert.
func SLOAlert(s config.SLO, sev slo.Severity) notifier.Alert {
	o := sli.Objective(s)
	alertname := SLOPageAlert
	if sev == slo.Ticket {
		alertname = SLOTicketAlert
	}
	labels := map[string]string{}
	maps.Copy(labels, s.Labels)
	maps.Copy(labels, s.Alerting.Labels)
	labels["alertname"] = alertname
	labels["severity"] = sev.String()
	labels["slo"] = s.Name
	labels["cluster"] = s.Target
	var rules []string
	for _, r := range o.Rules() {
		if r.Severity == sev && r.Enabled {
			rules = append(rules, fmt.Sprintf("≥ %g× over %s and %s (%s)", r.Factor, slo.FormatDuration(r.LongWindow), slo.FormatDuration(r.ShortWindow), r.ID))
		}
	}
	objective := fmt.Sprintf("%g%%", 100*o.Target)
	what := s.Description
	if what == "" {
		what = fmt.Sprintf("%s of events good", objective)
	}
	runbook := s.Alerting.RunbookURL
	if runbook == "" {
		runbook = RunbookBase + strings.ToLower(alertname)
	}
	annotations := map[string]string{
		"summary": fmt.Sprintf("SLO %s is burning its error budget too fast", s.Name),
		"description": fmt.Sprintf("SLO %s (%s; objective %s over %s) burns its error budget at %s. `warren status` and the SLO dashboard show the burn rates per window.",
			s.Name, what, objective, slo.FormatDuration(o.Window), strings.Join(rules, " or ")),
		"runbook_url": runbook,
	}
	maps.Copy(annotations, s.Alerting.Annotations)
	return notifier.Alert{Labels: labels, Annotations: annotations}
}
