// Package conditions decides which alerts fire: the built-in health
// alerts, evaluated on the targets' published states (pipeline), the
// probe results and the outboxes' statuses, and the SLO burn-rate alerts of the slo.Engine. It keeps each condition's pending time (`for`) and a stable
// start time, and hands the complete set of firing alerts to a sink (the
// Alertmanager notifier) at every evaluation.
//
// Names, labels and annotations come from alerting/catalog.
//
// Import rule: it imports alerting/catalog, pipeline and what pipeline
// exports (snapshot, analyses), probes, outbox, slo and internal/config; never the
// notifier, which it hands alerts to through a function.
package conditions

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/slo"
)

// candidate is a condition that holds now, before its `for` is applied.
type candidate struct {
	labels      map[string]string
	annotations map[string]string
	hold        time.Duration // the `for` duration
	path        string        // the web UI page of the object (internal/webpath), the generator URL
}

// pendingState is a condition seen holding since activeAt; it fires once
// it has held for its `for` duration, and keeps its firing time while it
// holds.
type pendingState struct {
	activeAt, firedAt time.Time
}

// Evaluator evaluates every condition on each tick.
type Evaluator struct {
	health      *HealthAlerts
	engine      *slo.Engine
	slos        map[string]catalog.SLOSpec
	extraLabels map[string]string
	externalURL string
	logger      *slog.Logger

	mu      sync.Mutex
	pending map[string]*pendingState
	firing  []catalog.Alert
}

// NewEvaluator returns an evaluator of the health conditions of h (may be
// nil) and the SLOs of engine (may be nil), configured by cfg.
func NewEvaluator(cfg *config.Config, h *HealthAlerts, engine *slo.Engine, externalURL string, logger *slog.Logger) *Evaluator {
	e := &Evaluator{
		health:      h,
		engine:      engine,
		slos:        map[string]catalog.SLOSpec{},
		extraLabels: cfg.Alerting.Labels,
		externalURL: strings.TrimRight(externalURL, "/"),
		logger:      logger,
		pending:     map[string]*pendingState{},
	}
	e.Reconfigure(cfg)
	return e
}

// Reconfigure puts a new configuration's SLO alerts, extra labels and
// health rules in force. Conditions that still hold keep their pending
// and firing times, so a reload neither resolves nor re-delays an alert.
func (e *Evaluator) Reconfigure(cfg *config.Config) {
	slos := make(map[string]catalog.SLOSpec, len(cfg.SLOs))
	for _, s := range cfg.SLOs {
		slos[s.Name] = s.AlertSpec()
	}
	if e.health != nil {
		e.health.SetRules(cfg.Alerting.Health)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.slos, e.extraLabels = slos, cfg.Alerting.Labels
}

// Evaluate returns the alerts firing at now, sorted by labels.
func (e *Evaluator) Evaluate(now time.Time) []catalog.Alert {
	var cands []candidate
	if e.health != nil {
		cands = append(cands, e.health.candidates(now)...)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.engine != nil {
		for _, ev := range e.engine.Evaluate(now) {
			cands = append(cands, e.sloCandidates(ev)...)
		}
	}
	seen := make(map[string]bool, len(cands))
	var firing []catalog.Alert
	for _, c := range cands {
		for k, v := range e.extraLabels {
			if _, set := c.labels[k]; !set {
				c.labels[k] = v
			}
		}
		key := catalog.Key(c.labels)
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
		firing = append(firing, catalog.Alert{
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
	slices.SortFunc(firing, func(a, b catalog.Alert) int { return catalog.CompareLabels(a.Labels, b.Labels) })
	e.firing = firing
	return firing
}

// Firing returns the alerts of the latest evaluation.
func (e *Evaluator) Firing() []catalog.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firing
}

// Run evaluates every interval until ctx is done and hands each result to
// sink.
func (e *Evaluator) Run(ctx context.Context, interval time.Duration, sink func(time.Time, []catalog.Alert)) {
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

func (e *Evaluator) sloCandidates(ev slo.Evaluation) []candidate {
	s, ok := e.slos[ev.Objective.Name]
	if !ok {
		return nil
	}
	var out []candidate
	for _, tier := range []slo.TierStatus{ev.Page, ev.Ticket} {
		if tier.Active {
			a := catalog.SLOAlert(s, tier.Severity)
			out = append(out, candidate{labels: a.Labels, annotations: a.Annotations, path: webpath.SLO(s.Name)})
		}
	}
	return out
}
