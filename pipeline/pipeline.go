package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/analysis/loss"
	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/analysis/streamlag"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/rabbitmq/promplugin"
	"github.com/warrenhq/warren/snapshot"
)

// Pipeline is one target's stages. Its state is read concurrently; Poll
// and Run are its only writers, one at a time.
type Pipeline struct {
	target config.Target
	poller *collector.Poller
	logger *slog.Logger

	// The analyses' own state, owned by the poll goroutine.
	history    *queuehistory.History
	estimator  *timeinqueue.Estimator
	processing *timeinqueue.Estimator // nil where processing.enabled is false
	attributor *deadletter.Attributor
	loss       *loss.Tracker
	streams    *streamlag.Tracker
	roles      *queuerole.Classifier
	retries    map[snapshot.QueueKey]*retryCounter
	encoder    *encoder
	polled     int
	auditor    *auditor // nil where the pipeline has no object reader

	state atomic.Pointer[TargetState]
	// published, when set, sees every state right after it is published,
	// in the poll's goroutine (the SLIs count events from it).
	published func(*TargetState)
	// pollMu makes Poll safe to call from tests while Run is not running.
	pollMu sync.Mutex
}

// Options are what a pipeline shares with the others.
type Options struct {
	Metrics *collector.Metrics
	Logger  *slog.Logger
	// Published, when set, sees every state right after it is
	// published, in the poll's goroutine.
	Published func(*TargetState)
	// Objects reads the target for the audit, on Audit's schedule; nil
	// (NewWithSource's tests) audits nothing.
	Objects ObjectReader
	Audit   config.Audit
}

// New builds the pipeline of one target, reading the source its
// configuration names.
func New(t config.Target, opts Options) (*Pipeline, error) {
	src, err := newSource(t, opts.Logger)
	if err != nil {
		return nil, err
	}
	if opts.Objects, err = management.NewObjectReader(t); err != nil {
		return nil, err
	}
	return NewWithSource(t, src, opts), nil
}

// newSource builds the source t.Source names: the management API, the
// Prometheus plugin (with the definitions from the management API), or
// auto, which reads either (the default).
func newSource(t config.Target, logger *slog.Logger) (collector.Source, error) {
	mgmt, err := management.New(t)
	if err != nil || !t.UsesPrometheus() {
		return mgmt, err
	}
	plugin, err := promplugin.New(t, mgmt, logger)
	if err != nil {
		return nil, err
	}
	if t.Source == config.SourcePrometheus {
		return plugin, nil
	}
	return promplugin.NewAuto(mgmt, plugin), nil
}

// NewWithSource builds the pipeline of one target reading from src.
func NewWithSource(t config.Target, src collector.Source, opts Options) *Pipeline {
	p := &Pipeline{
		target:     t,
		poller:     collector.NewPoller(t, src, opts.Metrics, opts.Logger),
		logger:     opts.Logger.With("cluster", t.Name),
		history:    queuehistory.New(max(t.ConsumerStatus.Window.Std(), HealthWindow)),
		estimator:  timeinqueue.New(timeinqueue.ConfigFor(t, timeinqueue.Waiting)),
		attributor: deadletter.NewAttributor(),
		loss:       loss.NewTracker(HealthWindow),
		streams:    streamlag.NewTracker(t.ConsumerStatus.Window.Std()),
		roles:      queuerole.New(t),
		retries:    map[snapshot.QueueKey]*retryCounter{},
		encoder:    newEncoder(t),
		published:  opts.Published,
	}
	if t.Processing.IsEnabled() {
		p.processing = timeinqueue.New(timeinqueue.ConfigFor(t, timeinqueue.Processing))
	}
	if opts.Objects != nil {
		p.auditor = newAuditor(t, opts.Objects, opts.Audit, p.logger)
	}
	p.state.Store(&TargetState{Cluster: t.Name})
	return p
}

// Name is the target's name, the cluster label.
func (p *Pipeline) Name() string { return p.target.Name }

// Target is the target's configuration.
func (p *Pipeline) Target() config.Target { return p.target }

// State returns the latest published state; never nil.
func (p *Pipeline) State() *TargetState { return p.state.Load() }

// Fragment returns the latest state's per-queue series (an
// exposition.Producer), or nil before the first snapshot.
func (p *Pipeline) Fragment() *exposition.Fragment { return p.State().fragment }

// Run polls, and audits, until ctx is done.
func (p *Pipeline) Run(ctx context.Context) {
	var audits sync.WaitGroup
	if p.auditor != nil {
		audits.Go(func() { p.auditor.run(ctx, p.publishAudit) })
	}
	p.poller.Run(ctx, func(snap *snapshot.Snapshot, h collector.Health) {
		p.pollMu.Lock()
		defer p.pollMu.Unlock()
		p.publish(snap, h)
	})
	audits.Wait()
}

// Poll polls once now and publishes the outcome.
func (p *Pipeline) Poll(ctx context.Context) {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if snap, h, ok := p.poller.Poll(ctx); ok {
		p.publish(snap, h)
	}
}

// publish runs the analyses on a new snapshot, or carries the previous
// state over a failed poll, and publishes the result.
func (p *Pipeline) publish(snap *snapshot.Snapshot, h collector.Health) {
	prev := p.State()
	var next *TargetState
	if snap == nil {
		stale := *prev
		stale.Health, stale.Fresh = h, false
		next = &stale
	} else {
		p.logSource(prev.Snapshot, snap)
		p.polled++
		next = p.analyse(snap)
		next.Health, next.Polled, next.Fresh = h, p.polled, true
		next.fragment = p.encoder.encode(next, prev.fragment)
	}
	next.Audit = prev.Audit // audits publish on their own schedule
	p.state.Store(next)
	if p.published != nil {
		p.published(next)
	}
}

// analyse runs every analysis on snap, in order: the history first,
// which the others read.
func (p *Pipeline) analyse(snap *snapshot.Snapshot) *TargetState {
	p.history.Observe(snap)
	routes := deadletter.Routes(snap, p.target.DeadLetterQueues)
	st := &TargetState{
		Cluster:     p.target.Name,
		Snapshot:    snap,
		Queues:      make([]QueueState, len(snap.Queues)),
		Routes:      routes,
		Departures:  p.attributor.Observe(snap, p.history, routes),
		QuorumNodes: nodeQuorums(snap),
	}
	p.estimator.Observe(snap)
	st.Estimates = p.estimator.Estimates()
	if p.processing != nil {
		p.processing.Observe(snap)
		st.Processing = p.processing.Estimates()
	}
	p.queueStates(st)
	p.observeStreams(st)
	p.observeLoss(st)
	return st
}

// logSource says, once, where a target's statistics come from when its
// first snapshot arrives and whenever that changes (under source: auto,
// when the broker turns its management statistics off or on).
func (p *Pipeline) logSource(prev, snap *snapshot.Snapshot) {
	if prev != nil && prev.Source == snap.Source {
		return
	}
	switch {
	case snap.Source == config.SourcePrometheus && p.target.IsAuto():
		p.logger.Info("the management API collects no statistics (management_agent.disable_metrics_collector): reading queue statistics from the rabbitmq_prometheus plugin, definitions from the management API", "source", snap.Source)
	case snap.Source == config.SourcePrometheus:
		p.logger.Info("reading queue statistics from the rabbitmq_prometheus plugin, definitions from the management API", "source", snap.Source)
	default:
		p.logger.Info("reading queue statistics from the management API", "source", snap.Source)
	}
}

// Audit audits the target once now, whatever audit.enabled says, and
// publishes the outcome; it returns the audit state (nil when ctx ended
// the audit, or the pipeline has no object reader).
func (p *Pipeline) Audit(ctx context.Context) *AuditState {
	if p.auditor == nil {
		return nil
	}
	st, ok := p.auditor.auditNow(ctx)
	if !ok {
		return nil
	}
	p.publishAudit(st)
	return st
}

// ReconfigureAudit puts a new audit configuration in force: a new
// interval from the next audit on, new ignores on the latest report at
// once; with the audit off, the state holds no audit any more.
func (p *Pipeline) ReconfigureAudit(cfg config.Audit) {
	if p.auditor != nil {
		p.publishAudit(p.auditor.reconfigure(cfg))
	}
}

// publishAudit publishes the latest state with st as its audit; nil, or
// an audit that finished after a reload turned audits off, clears it.
func (p *Pipeline) publishAudit(st *AuditState) {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if !p.auditor.cfg.Load().IsEnabled() {
		st = nil
	}
	next := *p.State()
	next.Audit = st
	p.state.Store(&next)
}
