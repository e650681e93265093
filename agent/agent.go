// Package agent owns warren's lifecycle: from a configuration it builds
// one pipeline per target, the probers, the SLO engine and its SLIs, the
// alert evaluator and the notifier; it runs them under one context,
// serves HTTP, persists the SLO state, and reloads the configuration the
// way Prometheus does (SIGHUP, or POST /-/reload behind
// --web.enable-lifecycle): a bad file is rejected and the old
// configuration keeps running; targets added or removed start or stop
// their pipelines, unchanged ones keep their history; SLO budgets carry
// over.
//
// Import rule: it is the wiring, so it may import every stage; nothing
// but cmd/warren imports it.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/alerting/conditions"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/outbox"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/slo/sli"
)

// shutdownGrace bounds how long in-flight HTTP requests may finish after
// SIGINT or SIGTERM: nothing ignores a shutdown for longer than a second.
const shutdownGrace = time.Second

// Options are the agent's command-line settings.
type Options struct {
	Web          *web.FlagConfig
	StoragePath  string
	SaveInterval time.Duration
	// ExternalURL is the base of alerts' generatorURL and its path the
	// base of the web pages' links.
	ExternalURL string
	// RoutePrefix is the path everything is served under ("" or "/" for
	// the root).
	RoutePrefix string
	// EnableLifecycle serves POST /-/reload.
	EnableLifecycle bool
	// Load reads the configuration afresh, for a reload.
	Load   func() (*config.Config, error)
	Logger *slog.Logger
}

// Agent is one running warren.
type Agent struct {
	opts     Options
	logger   *slog.Logger
	set      *pipeline.Set
	probes   *probes.Metrics
	engine   *slo.Engine
	feeder   *sli.Feeder
	health   *conditions.HealthAlerts
	eval     *conditions.Evaluator
	state    *stateStore
	registry *prometheus.Registry
	reloads  *reloadMetrics
	outboxes *outbox.Metrics

	// mu guards what a reload changes.
	mu      sync.Mutex
	cfg     *config.Config
	targets map[string]*targetRun
	// outboxRuns are the outboxes polled, by name; empty until Run.
	outboxRuns map[string]*outboxRun
	delivery   *delivery
	// stopEvaluation stops the evaluation loop in force.
	stopEvaluation context.CancelFunc
	// ctx is Run's context once Run started: what a reload starts runs
	// under it.
	ctx      context.Context
	stopping bool
	workers  sync.WaitGroup
}

// New builds the agent for cfg; nothing runs until Run.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	engine, err := slo.NewEngine(cfg.Objectives()...)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		opts:     opts,
		logger:   opts.Logger,
		set:      pipeline.NewSet(collector.NewMetrics()),
		probes:   probes.NewMetrics(),
		engine:   engine,
		feeder:   sli.New(cfg, engine, opts.Logger),
		registry: prometheus.NewRegistry(),
		reloads:  newReloadMetrics(),
		outboxes: outbox.NewMetrics(),
		cfg:      cfg,
		targets:  map[string]*targetRun{},

		outboxRuns: map[string]*outboxRun{},
	}
	a.health = conditions.NewHealth(cfg.Alerting.Health, a.set.States)
	a.health.SetOutboxes(a.outboxes.Statuses)
	a.eval = conditions.NewEvaluator(cfg, a.health, engine, opts.ExternalURL, opts.Logger)
	a.state = newStateStore(engine, opts.StoragePath, opts.SaveInterval, len(cfg.SLOs) > 0, opts.Logger)
	if err := a.state.load(); err != nil {
		return nil, err
	}
	plan, err := a.planTargets(cfg)
	if err != nil {
		return nil, err
	}
	a.commitTargets(plan)
	if a.delivery, err = newDelivery(cfg.Alerting, opts.Logger); err != nil {
		return nil, err
	}
	a.registry.MustRegister(
		a.set,
		versioncollector.NewCollector("warren"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		slo.NewCollector(engine),
		a.feeder.Collector(),
		a.reloads,
		deliveryCollector{a},
		a.outboxes,
	)
	a.registry.MustRegister(a.probes.Collectors()...)
	a.reloads.succeeded(time.Now())
	return a, nil
}

// Run runs the agent until ctx is done, then stops everything within
// shutdownGrace and saves the SLO state.
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	server := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second}

	a.mu.Lock()
	a.ctx = ctx
	for _, r := range a.targets {
		a.startTarget(r)
	}
	a.reconcileOutboxes(a.cfg)
	a.startDelivery(a.delivery)
	a.startEvaluation(a.cfg.Alerting.EvaluationInterval.Std())
	a.mu.Unlock()
	a.workers.Go(func() { a.state.run(ctx) })
	workersDone := make(chan struct{})
	go func() {
		<-ctx.Done()
		a.mu.Lock()
		a.stopping = true // no reload starts anything from here on
		a.mu.Unlock()
		a.workers.Wait()
		close(workersDone)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, a.opts.Web, a.logger) }()
	select {
	case <-ctx.Done():
		a.logger.Info("shutting down")
	case err := <-serveErr:
		stop()
		<-workersDone
		a.state.save()
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		server.Close()
	}
	select {
	case <-workersDone:
	case <-shutdownCtx.Done():
		a.logger.Warn("pollers and probes did not stop within the shutdown grace; exiting anyway")
	}
	a.state.save()
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startEvaluation (re)starts the evaluation loop at interval. a.mu is held.
func (a *Agent) startEvaluation(interval time.Duration) {
	if a.stopEvaluation != nil {
		a.stopEvaluation()
	}
	ctx, cancel := context.WithCancel(a.ctx)
	a.stopEvaluation = cancel
	a.workers.Go(func() { a.eval.Run(ctx, interval, a.deliver) })
}

// deliver hands an evaluation's firing alerts to the notifier in force.
func (a *Agent) deliver(at time.Time, firing []catalog.Alert) {
	a.mu.Lock()
	d := a.delivery
	a.mu.Unlock()
	if d != nil {
		d.notifier.Update(at, firing)
	}
}

// config returns the configuration in force.
func (a *Agent) config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}
