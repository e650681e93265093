// Package sli turns what warren observes — time-in-queue estimates,
// queue counters and probe results — into the good and total events of
// each configured SLO, and adds them to the slo.Engine.
//
// Every SLI is occurrence based: one event per message (time_in_queue,
// dead_letter_ratio) or per probe round (probe_latency, probe_success).
// Events are counted from cumulative sources as differences between
// observations, so a source that restarts (a queue re-created, a counter
// reset) never produces a negative step: after a reset the new value is
// the increase.
package sli

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
)

// Objective turns a configured SLO into the engine's Objective.
func Objective(s config.SLO) slo.Objective {
	o := slo.Objective{
		Name:   s.Name,
		Target: float64(s.Objective),
		Window: s.Window.Std(),
		Page:   slo.TierSwitch{DisableFast: !s.Alerting.Page.FastEnabled(), DisableSlow: !s.Alerting.Page.SlowEnabled()},
		Ticket: slo.TierSwitch{DisableFast: !s.Alerting.Ticket.FastEnabled(), DisableSlow: !s.Alerting.Ticket.SlowEnabled()},
	}
	if s.Alerting.MinEvents != nil {
		o.MinEvents = *s.Alerting.MinEvents
		if o.MinEvents == 0 {
			o.MinEvents = -1 // an explicit 0 means no guard; the engine reads 0 as the default
		}
	}
	return o
}

// Objectives returns the engine's objectives for every configured SLO.
func Objectives(cfg *config.Config) []slo.Objective {
	out := make([]slo.Objective, len(cfg.SLOs))
	for i, s := range cfg.SLOs {
		out[i] = Objective(s)
	}
	return out
}

// Feeder adds events to the engine's SLOs. Its Observe methods are safe
// for concurrent use: snapshots of different targets and probe results
// arrive from different goroutines.
type Feeder struct {
	engine *slo.Engine
	logger *slog.Logger
	events *prometheus.CounterVec

	mu      sync.Mutex
	sources []*source
}

// source is one SLO's SLI with the state its differences need.
type source struct {
	cfg config.SLO
	// last cumulative (within, total) per queue, for time_in_queue.
	lastTIQ map[collector.QueueKey][2]float64
	// last counts per queue, and each DLQ's inflow not yet attributed to
	// departures of its sources (newest first), for dead_letter_ratio.
	lastCounters map[collector.QueueKey]collector.Tally
	pendingDLQ   map[collector.QueueKey]*[deadLetterCarry]float64
	// matchedAny remembers whether the queue expression ever matched, to
	// warn once about an SLO that measures nothing.
	matchedAny, warned bool
	// baselined is set once the first snapshot of the target has been
	// seen: its time-in-queue counts are a baseline, not events (see
	// timeInQueue).
	baselined bool
}

// New returns a feeder for the SLOs of cfg, which must be the objectives
// the engine was built from.
func New(cfg *config.Config, engine *slo.Engine, logger *slog.Logger) *Feeder {
	f := &Feeder{
		engine: engine,
		logger: logger,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_slo_events_total",
			Help: "Events counted for the SLO since warren started, by outcome (good or bad).",
		}, []string{"slo", "outcome"}),
	}
	for _, s := range cfg.SLOs {
		f.sources = append(f.sources, &source{cfg: s, lastTIQ: map[collector.QueueKey][2]float64{}, lastCounters: map[collector.QueueKey]collector.Tally{}})
		f.events.WithLabelValues(s.Name, "good")
		f.events.WithLabelValues(s.Name, "bad")
	}
	return f
}

// Collector returns warren_slo_events_total.
func (f *Feeder) Collector() prometheus.Collector { return f.events }

func (f *Feeder) add(s *source, at time.Time, good, total float64) {
	if total <= 0 {
		return
	}
	good = min(max(good, 0), total)
	if err := f.engine.Add(s.cfg.Name, at, good, total); err != nil {
		f.logger.Warn("SLO events not counted", "slo", s.cfg.Name, "err", err)
		return
	}
	f.events.WithLabelValues(s.cfg.Name, "good").Add(good)
	f.events.WithLabelValues(s.cfg.Name, "bad").Add(total - good)
}

// ObserveSnapshot counts the events of the time_in_queue SLIs (from the
// target's latest estimates, which must already include snap) and of the
// dead_letter_ratio SLIs (from snap's counters) of snap's target.
func (f *Feeder) ObserveSnapshot(snap *collector.Snapshot, estimates []timeinqueue.QueueEstimate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sources {
		if s.cfg.Target != snap.Cluster {
			continue
		}
		switch {
		case s.cfg.SLI.TimeInQueue != nil:
			f.timeInQueue(s, snap.Time, estimates, !s.baselined)
			s.baselined = true
		case s.cfg.SLI.DeadLetterRatio != nil:
			f.deadLetterRatio(s, snap)
		default:
			continue
		}
		if !s.matchedAny && !s.warned {
			s.warned = true
			f.logger.Warn("SLO measures no queue yet: its queue expression matches no queue of the target", "slo", s.cfg.Name, "target", s.cfg.Target)
		}
	}
}

// timeInQueue counts the increase of the estimator's events for the SLO's
// threshold over the matching queues. The first snapshot after warren
// starts is only a baseline: the estimator builds it from the broker's
// sample history of the seconds before the start, whose events the SLO
// state saved before a restart may already hold; counting them would
// count them twice. Queues that appear later count from their first
// snapshot.
func (f *Feeder) timeInQueue(s *source, at time.Time, estimates []timeinqueue.QueueEstimate, baseline bool) {
	sli := s.cfg.SLI.TimeInQueue
	threshold := sli.Threshold.Std()
	var good, total float64
	seen := make(map[collector.QueueKey]bool, len(s.lastTIQ))
	for i := range estimates {
		e := &estimates[i]
		if !config.MatchQueue(sli.Vhost, sli.Queue, e.Vhost, e.Name) {
			continue
		}
		idx := -1
		for j, th := range e.Thresholds {
			if th == threshold {
				idx = j
			}
		}
		if idx < 0 {
			continue // the estimator does not count this threshold (cannot happen with config-built estimators)
		}
		s.matchedAny = true
		key := collector.QueueKey{Vhost: e.Vhost, Name: e.Name}
		seen[key] = true
		cur := [2]float64{e.Within[idx], e.Total[idx]}
		prev := s.lastTIQ[key]
		if cur[1] < prev[1] || cur[0] < prev[0] {
			prev = [2]float64{} // the estimator's history restarted
		}
		good += cur[0] - prev[0]
		total += cur[1] - prev[1]
		s.lastTIQ[key] = cur
	}
	for key := range s.lastTIQ {
		if !seen[key] {
			delete(s.lastTIQ, key)
		}
	}
	if !baseline {
		f.add(s, at, good, total)
	}
}

// deadLetterRatio counts, per matching source queue, its departures since
// the previous snapshot as events, bad for those that went to a
// dead-letter queue. A DLQ's inflow is attributed to the sources that
// route to it in proportion to their departures, since RabbitMQ does not
// say which source a dead letter came from.
func (f *Feeder) deadLetterRatio(s *source, snap *collector.Snapshot) {
	sli := s.cfg.SLI.DeadLetterRatio
	current := make(map[collector.QueueKey]collector.Tally, len(snap.Queues))
	departed := map[collector.QueueKey]float64{}
	inflow := map[collector.QueueKey]float64{}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if !q.StatsKnown {
			continue
		}
		c := q.Tally()
		current[q.Key()] = c
		prev, ok := s.lastCounters[q.Key()]
		if !ok || c.Published < prev.Published || c.Completed < prev.Completed {
			continue // first sight or a reset: no interval to count
		}
		// A source's departures: what arrived minus the growth of its
		// depth (acks, expiry, dead-lettering, rejects).
		departed[q.Key()] = max(0, float64(c.Published-prev.Published)-float64(c.Messages-prev.Messages))
		inflow[q.Key()] = collector.Inflow(prev, c)
	}
	s.lastCounters = current
	sourcesOf := map[collector.QueueKey][]collector.QueueKey{}
	for _, r := range snap.DeadLetterRoutes {
		dlq := collector.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}
		sourcesOf[dlq] = append(sourcesOf[dlq], collector.QueueKey{Vhost: r.Vhost, Name: r.Queue})
	}
	// Each DLQ's inflow goes to its sources in proportion to their
	// departures. The broker reports a DLQ's depth sooner than its
	// sources' publish counters, so dead letters often show before the
	// departures they came from: inflow that finds no departures waits,
	// for at most deadLetterCarry snapshots, instead of being lost.
	bad := map[collector.QueueKey]float64{}
	pending := make(map[collector.QueueKey]*[deadLetterCarry]float64, len(sourcesOf))
	for dlq, sources := range sourcesOf {
		p := s.pendingDLQ[dlq]
		if p == nil {
			p = new([deadLetterCarry]float64)
		}
		copy(p[1:], p[:deadLetterCarry-1]) // age; the oldest falls off
		p[0] = inflow[dlq]
		pending[dlq] = p
		var all float64
		for _, src := range sources {
			all += departed[src]
		}
		// Attribute at most the sources' departures, oldest inflow first.
		budget := all
		for k := deadLetterCarry - 1; k >= 0 && budget > 0; k-- {
			take := min(p[k], budget)
			p[k] -= take
			budget -= take
			for _, src := range sources {
				bad[src] += take * departed[src] / all
			}
		}
	}
	s.pendingDLQ = pending
	var good, total float64
	for key, d := range departed {
		if !config.MatchQueue(sli.Vhost, sli.Queue, key.Vhost, key.Name) {
			continue
		}
		s.matchedAny = true
		b := min(bad[key], d)
		good += d - b
		total += d
	}
	f.add(s, snap.Time, good, total)
}

// deadLetterCarry is how many snapshots a DLQ's inflow waits for the
// departures it came from (see deadLetterRatio).
const deadLetterCarry = 3

// ObserveProbe counts one probe round for the probe SLIs of its target
// that select it.
func (f *Feeder) ObserveProbe(r probes.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sources {
		if s.cfg.Target != r.Cluster {
			continue
		}
		switch {
		case s.cfg.SLI.ProbeSuccess != nil:
			if !s.cfg.SLI.ProbeSuccess.Selector().Match(r.Node, r.QueueType) {
				continue
			}
			f.add(s, r.Time, boolEvent(r.Outcome == probes.OutcomeOK), 1)
		case s.cfg.SLI.ProbeLatency != nil:
			pl := s.cfg.SLI.ProbeLatency
			if !pl.Selector().Match(r.Node, r.QueueType) {
				continue
			}
			f.add(s, r.Time, boolEvent(probeWithin(r, pl.Kind, pl.Threshold.Std())), 1)
		}
	}
}

// probeWithin reports whether a round was fast enough: confirmed (acked)
// within threshold for "confirm", consumed within it for "e2e". A failed
// round is never within.
func probeWithin(r probes.Result, kind string, threshold time.Duration) bool {
	if kind == "confirm" {
		confirmed := r.Outcome == probes.OutcomeOK || r.Outcome == probes.OutcomeLost
		return confirmed && r.ConfirmLatency <= threshold
	}
	return r.Outcome == probes.OutcomeOK && r.E2ELatency <= threshold
}

func boolEvent(good bool) float64 {
	if good {
		return 1
	}
	return 0
}
