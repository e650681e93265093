package agent

import (
	"context"
	"fmt"
	"reflect"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/probes"
)

// targetRun is one target's pipeline and prober, and what stops them.
type targetRun struct {
	cfg      config.Target
	pipeline *pipeline.Pipeline
	prober   *probes.Prober // nil with probes off
	stop     context.CancelFunc
	done     chan struct{}
}

// newTargetRun builds a target's pipeline, audited as audit says, and
// prober.
func (a *Agent) newTargetRun(t config.Target, audit config.Audit) (*targetRun, error) {
	p, err := pipeline.New(t, pipeline.Options{Metrics: a.set.Metrics(), Logger: a.logger, Published: a.feeder.ObserveState, Audit: audit})
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	r := &targetRun{cfg: t, pipeline: p}
	if t.Probes.IsEnabled() {
		nodes := func() []string { return p.State().NodeNames() }
		if r.prober, err = probes.NewProber(t, nodes, a.probes, a.logger); err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		r.prober.OnResult(a.feeder.ObserveProbe)
		r.prober.OnResult(a.health.ObserveProbe)
	}
	return r, nil
}

// startTarget runs r under the agent's context. a.mu is held.
func (a *Agent) startTarget(r *targetRun) {
	ctx, cancel := context.WithCancel(a.ctx)
	r.stop, r.done = cancel, make(chan struct{})
	a.workers.Go(func() {
		defer close(r.done)
		if r.prober == nil {
			r.pipeline.Run(ctx)
			return
		}
		done := make(chan struct{})
		go func() { defer close(done); r.prober.Run(ctx) }()
		r.pipeline.Run(ctx)
		<-done
	})
}

// stopTarget stops r and forgets its series. a.mu is held.
func (a *Agent) stopTarget(r *targetRun) {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	if r.prober != nil {
		r.prober.Close()
	}
	a.set.Metrics().Forget(r.cfg.Name)
	a.probes.Forget(r.cfg.Name)
}

// targetPlan is the target runs a configuration wants: the ones kept,
// the ones to start, the ones to stop.
type targetPlan struct {
	targets []string // names, in configuration order
	next    map[string]*targetRun
	fresh   []*targetRun
	removed []*targetRun
}

// planTargets builds what cfg's targets need that is not running yet: a
// target whose settings did not change keeps its pipeline (and with it
// its history, time-in-queue state and audits) and prober; a new or
// changed one gets new ones. Nothing runs or stops until commitTargets.
// a.mu is held, or the agent is not running yet.
func (a *Agent) planTargets(cfg *config.Config) (*targetPlan, error) {
	targets := cfg.Targets
	plan := &targetPlan{next: make(map[string]*targetRun, len(targets))}
	for _, t := range targets {
		plan.targets = append(plan.targets, t.Name)
		if r := a.targets[t.Name]; r != nil && sameTarget(r.cfg, t) {
			plan.next[t.Name] = r
			continue
		}
		r, err := a.newTargetRun(t, cfg.Audit)
		if err != nil {
			plan.discard()
			return nil, err
		}
		plan.next[t.Name], plan.fresh = r, append(plan.fresh, r)
	}
	for name, r := range a.targets {
		if plan.next[name] != r {
			plan.removed = append(plan.removed, r)
		}
	}
	return plan, nil
}

// discard releases what a plan built and will not run.
func (p *targetPlan) discard() {
	for _, r := range p.fresh {
		if r.prober != nil {
			r.prober.Close()
		}
	}
}

// commitTargets stops what the plan removes, puts its pipelines in force
// and starts the new ones. a.mu is held, or the agent is not running yet.
func (a *Agent) commitTargets(plan *targetPlan) {
	for _, r := range plan.removed {
		a.stopTarget(r)
	}
	a.health.ForgetProbes(func(cluster string) bool { _, ok := plan.next[cluster]; return ok })
	ordered := make([]*pipeline.Pipeline, len(plan.targets))
	for i, name := range plan.targets {
		ordered[i] = plan.next[name].pipeline
	}
	a.targets = plan.next
	a.set.Replace(ordered)
	if a.ctx != nil {
		for _, r := range plan.fresh {
			a.startTarget(r)
		}
	}
}

// sameTarget reports whether two configurations of a target are the
// same, so its pipeline can carry on.
func sameTarget(a, b config.Target) bool { return reflect.DeepEqual(a, b) }
