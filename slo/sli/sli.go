// Package sli turns what warren observes into the good and total events
// of each configured SLO, and adds them to the slo.Engine: the
// time-in-queue and dead-letter events of every fresh target state
// (pipeline), and every probe round.
//
// Every SLI is occurrence based: one event per message (time_in_queue,
// dead_letter_ratio) or per probe round (probe_latency, probe_success).
// The target state already holds each poll's new events — the
// estimators' per-poll counts (time in queue, processing), the departures and dead letters of the
// dead-letter analysis — so this package keeps no per-queue state.
//
// The outbox SLIs count the outbox samples (outbox.go): outbox_dispatch
// from the outbox's own per-threshold counts, and a time_in_queue SLI
// that names an outbox by combining the outbox wait with the time in
// queue (docs/outbox.md#end-to-end-slos); that combination is the one
// per-SLO state kept here, the wait distribution between two target polls.
//
// Import rule: it imports pipeline and what it exports (analyses,
// snapshot), probes, outbox, slo and internal/config.
package sli

import (
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/snapshot"
)

// Feeder adds events to the engine's SLOs. Its methods are safe for
// concurrent use: states of different targets and probe results arrive
// from different goroutines.
type Feeder struct {
	engine *slo.Engine
	logger *slog.Logger
	events *prometheus.CounterVec
	// withheld counts, per time_in_queue SLO, the queues it matches whose
	// estimate is withheld (they break FIFO).
	withheld *prometheus.GaugeVec

	mu   sync.Mutex
	slos []*measured
}

// measured is one SLO and whether its queue expression ever matched, to
// warn once about an SLO that measures nothing.
type measured struct {
	cfg                config.SLO
	matchedAny, warned bool
	// warnedWithheld are the queues whose withheld estimate was warned
	// about: once each, while the SLO is configured.
	warnedWithheld map[snapshot.QueueKey]bool
	// wait is an end-to-end SLO's outbox wait distribution since its
	// target's previous poll (outbox.go).
	wait *outboxWait
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
		withheld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_slo_queues_withheld",
			Help: "Queues a time_in_queue SLO matches whose time-in-queue estimate is withheld because they do not deliver in arrival order (priority queues, many redeliveries); their events are not counted.",
		}, []string{"slo"}),
	}
	f.Reconfigure(cfg)
	return f
}

// Reconfigure counts the SLOs of cfg from now on; the engine must have
// been reconfigured with their objectives. The event series of SLOs no
// longer configured are deleted.
func (f *Feeder) Reconfigure(cfg *config.Config) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := map[string]*measured{}
	for _, m := range f.slos {
		old[m.cfg.Name] = m
	}
	f.slos = nil
	for _, s := range cfg.SLOs {
		m := &measured{cfg: s, warnedWithheld: map[snapshot.QueueKey]bool{}}
		if prev := old[s.Name]; prev != nil {
			m.matchedAny, m.warned, m.warnedWithheld = prev.matchedAny, prev.warned, prev.warnedWithheld
			if reflect.DeepEqual(prev.cfg.SLI, s.SLI) {
				m.wait = prev.wait
			}
			delete(old, s.Name)
		}
		f.slos = append(f.slos, m)
		f.events.WithLabelValues(s.Name, "good")
		f.events.WithLabelValues(s.Name, "bad")
		if s.SLI.TimeInQueue != nil {
			f.withheld.WithLabelValues(s.Name)
		} else {
			f.withheld.DeleteLabelValues(s.Name)
		}
	}
	for name := range old {
		f.events.DeletePartialMatch(prometheus.Labels{"slo": name})
		f.withheld.DeleteLabelValues(name)
	}
}

// Collector returns warren_slo_events_total and
// warren_slo_queues_withheld.
func (f *Feeder) Collector() prometheus.Collector { return collectors{f.events, f.withheld} }

// collectors is several collectors registered as one.
type collectors []prometheus.Collector

func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

func (f *Feeder) add(m *measured, at time.Time, good, total float64) {
	if total <= 0 {
		return
	}
	good = min(max(good, 0), total)
	if err := f.engine.Add(m.cfg.Name, at, good, total); err != nil {
		f.logger.Warn("SLO events not counted", "slo", m.cfg.Name, "err", err)
		return
	}
	f.events.WithLabelValues(m.cfg.Name, "good").Add(good)
	f.events.WithLabelValues(m.cfg.Name, "bad").Add(total - good)
}

// ObserveState counts the events of the time_in_queue and
// dead_letter_ratio SLIs of st's target in st, a state a successful poll
// published.
func (f *Feeder) ObserveState(st *pipeline.TargetState) {
	if !st.Fresh {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.slos {
		if m.cfg.Target != st.Cluster {
			continue
		}
		switch {
		case m.cfg.SLI.TimeInQueue != nil && m.cfg.SLI.TimeInQueue.Outbox != "":
			f.endToEnd(m, m.cfg.SLI.TimeInQueue, st)
			f.withheld.WithLabelValues(m.cfg.Name).Set(float64(f.countWithheld(m, st)))
		case m.cfg.SLI.TimeInQueue != nil:
			f.queueLatency(m, m.cfg.SLI.TimeInQueue, st, st.Estimates)
			f.withheld.WithLabelValues(m.cfg.Name).Set(float64(f.countWithheld(m, st)))
		case m.cfg.SLI.ProcessingLatency != nil:
			f.queueLatency(m, m.cfg.SLI.ProcessingLatency, st, st.Processing)
		case m.cfg.SLI.DeadLetterRatio != nil:
			f.deadLetterRatio(m, st)
		default:
			continue
		}
		if !m.matchedAny && !m.warned {
			m.warned = true
			f.logger.Warn("SLO measures no queue yet: its queue expression matches no queue of the target", "slo", m.cfg.Name, "target", m.cfg.Target)
		}
	}
}

// queueLatency counts an estimator's new events for the SLO's threshold
// over the matching queues: the time-in-queue estimates for a
// time_in_queue SLI, the processing estimates for a processing_latency
// one. The first state after the pipeline starts is only a baseline: the
// estimator builds it from the broker's sample history of the seconds
// before the start, whose events the SLO state saved before a restart may
// already hold; counting them would count them twice. Queues that appear
// later count from their first poll.
//
// A queue whose estimate is withheld (it breaks FIFO, so the estimate is
// wrong) adds no events: the SLO measures the other queues (see
// countWithheld).
func (f *Feeder) queueLatency(m *measured, sli *config.QueueLatencySLI, st *pipeline.TargetState, estimates []timeinqueue.QueueEstimate) {
	threshold := sli.Threshold.Std()
	var good, total float64
	m.forMeasured(sli, estimates, func(e *timeinqueue.QueueEstimate) {
		for j, th := range e.Thresholds {
			if th == threshold {
				good += e.NewWithin[j]
				total += e.NewTotal[j]
			}
		}
	})
	if st.Polled > 1 {
		f.add(m, st.Snapshot.Time, good, total)
	}
}

// forMeasured calls fn for the estimates of the queues the SLI matches,
// but those whose estimate is withheld (noting that the SLO matched a
// queue either way).
func (m *measured) forMeasured(sli *config.QueueLatencySLI, estimates []timeinqueue.QueueEstimate, fn func(*timeinqueue.QueueEstimate)) {
	for i := range estimates {
		e := &estimates[i]
		if !config.MatchQueue(sli.Vhost, sli.Queue, e.Vhost, e.Name) {
			continue
		}
		m.matchedAny = true
		if !e.Withheld {
			fn(e)
		}
	}
}

// countWithheld counts the queues a time_in_queue SLO matches whose
// estimate is withheld, and warns once per SLO and queue.
func (f *Feeder) countWithheld(m *measured, st *pipeline.TargetState) int {
	sli := m.cfg.SLI.TimeInQueue
	withheld := 0
	for i := range st.Estimates {
		e := &st.Estimates[i]
		if !e.Withheld || !config.MatchQueue(sli.Vhost, sli.Queue, e.Vhost, e.Name) {
			continue
		}
		withheld++
		if key := (snapshot.QueueKey{Vhost: e.Vhost, Name: e.Name}); !m.warnedWithheld[key] {
			m.warnedWithheld[key] = true
			f.logger.Warn("SLO does not count a queue: its time-in-queue estimate is withheld because the queue does not deliver in arrival order (time_in_queue.non_fifo: estimate counts it anyway)",
				"slo", m.cfg.Name, "target", m.cfg.Target, "vhost", e.Vhost, "queue", e.Name, "reason", e.NonFIFO)
		}
	}
	return withheld
}

// deadLetterRatio counts, per matching source queue, its departures since
// the previous poll as events, bad for those that went to a dead-letter
// queue (see deadletter.Attributor).
func (f *Feeder) deadLetterRatio(m *measured, st *pipeline.TargetState) {
	sli := m.cfg.SLI.DeadLetterRatio
	var good, total float64
	for key, d := range st.Departures {
		if !config.MatchQueue(sli.Vhost, sli.Queue, key.Vhost, key.Name) {
			continue
		}
		m.matchedAny = true
		good += d.Departed - d.DeadLettered
		total += d.Departed
	}
	f.add(m, st.Snapshot.Time, good, total)
}

// ObserveProbe counts one probe round for the probe SLIs of its target
// that select it.
func (f *Feeder) ObserveProbe(r probes.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.slos {
		if m.cfg.Target != r.Cluster {
			continue
		}
		switch {
		case m.cfg.SLI.ProbeSuccess != nil:
			if !m.cfg.SLI.ProbeSuccess.Selector().Match(r.Node, r.QueueType) {
				continue
			}
			f.add(m, r.Time, boolEvent(r.Outcome == probes.OutcomeOK), 1)
		case m.cfg.SLI.ProbeLatency != nil:
			pl := m.cfg.SLI.ProbeLatency
			if !pl.Selector().Match(r.Node, r.QueueType) {
				continue
			}
			f.add(m, r.Time, boolEvent(probeWithin(r, pl.Kind, pl.Threshold.Std())), 1)
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
