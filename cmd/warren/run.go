package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/warrenhq/warren/alerting/conditions"
	"github.com/warrenhq/warren/alerting/notifier"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/slo/sli"
	"github.com/warrenhq/warren/statusapi"
)

// shutdownGrace bounds how long in-flight HTTP requests may finish after
// SIGINT or SIGTERM: nothing ignores a shutdown for longer than a second.
const shutdownGrace = time.Second

// runAgent polls the targets, probes them, evaluates SLOs and alerts,
// and serves HTTP until SIGINT or SIGTERM.
func runAgent(cfg *config.Config, opts agentOptions, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger.Info("starting warren", "version", version.Info(), "build_context", version.BuildContext(), "config", describeSource(cfg), "targets", len(cfg.Targets), "slos", len(cfg.SLOs))
	coll, err := collector.New(cfg, logger)
	if err != nil {
		return err
	}
	probeMetrics := probes.NewMetrics()
	probers, err := newProbers(cfg, coll, probeMetrics, logger)
	if err != nil {
		return err
	}
	estimators := newEstimators(cfg, coll)
	views := targetViews(coll, estimators)

	engine, err := slo.NewEngine(sli.Objectives(cfg)...)
	if err != nil {
		return err
	}
	state := newStateStore(engine, opts.storagePath, opts.saveInterval, len(cfg.SLOs) > 0, logger)
	if err := state.load(); err != nil {
		return err
	}
	feeder := sli.New(cfg, engine, logger)
	health := conditions.NewHealth(cfg.Alerting.Health, views)
	for i, p := range coll.Pollers() {
		estimator := estimators[i].Estimator
		p.OnSnapshot(func(snap *collector.Snapshot) {
			feeder.ObserveSnapshot(snap, estimator.Estimates())
			health.ObserveSnapshot(snap)
		})
	}
	for _, p := range probers {
		p.OnResult(feeder.ObserveProbe)
		p.OnResult(health.ObserveProbe)
	}
	evaluator := conditions.NewEvaluator(cfg, health, engine, opts.externalURL, logger)
	alertNotifier, err := newNotifier(cfg, logger)
	if err != nil {
		return err
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		coll,
		versioncollector.NewCollector("warren"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		slo.NewCollector(engine),
		feeder.Collector(),
	)
	registry.MustRegister(probeMetrics.Collectors()...)
	if alertNotifier != nil {
		registry.MustRegister(alertNotifier.Collectors()...)
	}

	statusSources := statusapi.Sources{Targets: views, Engine: engine, SLOs: cfg.SLOs, Alerts: evaluator.Firing}
	// The per-queue series are encoded once per poll and served as bytes;
	// they are not in the registry.
	queueSeries := append(coll.Sources(), timeinqueue.Sources(estimators, coll.Pollers())...)
	mux, err := newMux(registry, queueSeries, coll, statusapi.Handler(statusSources), logger)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	workersDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { coll.Run(ctx) })
		for _, p := range probers {
			wg.Go(func() { p.Run(ctx) })
		}
		sink := func(time.Time, []notifier.Alert) {}
		if alertNotifier != nil {
			sink = alertNotifier.Update
			wg.Go(func() { alertNotifier.Run(ctx) })
		}
		wg.Go(func() { evaluator.Run(ctx, cfg.Alerting.EvaluationInterval.Std(), sink) })
		wg.Go(func() { state.run(ctx) })
		wg.Wait()
		close(workersDone)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, opts.web, logger) }()

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		stop()
		<-workersDone
		state.save()
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
		logger.Warn("pollers and probes did not stop within the shutdown grace; exiting anyway")
	}
	state.save()
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// agentOptions are the command-line settings of the agent.
type agentOptions struct {
	web          *web.FlagConfig
	storagePath  string
	saveInterval time.Duration
	externalURL  string
}

// targetViews pairs each target's poller with its estimator, as the
// alert conditions and the status API see them.
func targetViews(coll *collector.Collector, estimators []timeinqueue.Target) []conditions.Target {
	views := make([]conditions.Target, len(estimators))
	for i, p := range coll.Pollers() {
		views[i] = conditions.Target{Name: p.Name(), Health: p.Health, Snapshot: p.Snapshot, Estimates: estimators[i].Estimator.Estimates}
	}
	return views
}

// newNotifier builds the Alertmanager notifier, or nil when no
// Alertmanager is configured.
func newNotifier(cfg *config.Config, logger *slog.Logger) (*notifier.Notifier, error) {
	a := cfg.Alerting
	if len(a.Alertmanagers) == 0 {
		return nil, nil
	}
	opts := notifier.Options{
		EvaluationInterval: a.EvaluationInterval.Std(),
		ResendInterval:     a.ResendInterval.Std(),
		Logger:             logger.With("component", "notifier"),
	}
	for _, am := range a.Alertmanagers {
		u, err := url.Parse(am.URL)
		if err != nil {
			return nil, fmt.Errorf("alertmanager URL: %w", err)
		}
		tlsConfig, err := am.TLS.Build()
		if err != nil {
			return nil, err
		}
		c := notifier.AlertmanagerConfig{URL: u, Username: am.Username, TLSConfig: tlsConfig, Timeout: am.Timeout.Std()}
		if am.Username != "" {
			c.Password = am.AlertmanagerPassword
		}
		opts.Alertmanagers = append(opts.Alertmanagers, c)
	}
	return notifier.NewNotifier(opts)
}

// newEstimators attaches a time-in-queue estimator to every target's
// poller, first among its observers: the SLIs read its estimates.
func newEstimators(cfg *config.Config, coll *collector.Collector) []timeinqueue.Target {
	targets := make([]timeinqueue.Target, len(cfg.Targets))
	for i, t := range cfg.Targets {
		e := timeinqueue.New(timeinqueue.ConfigFor(t))
		coll.Pollers()[i].OnSnapshot(e.Observe)
		targets[i] = timeinqueue.Target{Cluster: t.Name, Estimator: e, EstimateAll: t.TimeInQueue.EstimateAll, Drop: t.DropsMetric}
	}
	return targets
}

// newProbers builds a prober for every target with probes enabled; per-node
// probes learn the cluster's nodes from the target's latest snapshot.
func newProbers(cfg *config.Config, coll *collector.Collector, metrics *probes.Metrics, logger *slog.Logger) ([]*probes.Prober, error) {
	var probers []*probes.Prober
	for i, t := range cfg.Targets {
		if !t.Probes.IsEnabled() {
			continue
		}
		poller := coll.Pollers()[i]
		nodes := func() []string {
			snap := poller.Snapshot()
			if snap == nil {
				return nil
			}
			names := make([]string, 0, len(snap.Nodes))
			for _, n := range snap.Nodes {
				names = append(names, n.Name)
			}
			return names
		}
		p, err := probes.NewProber(t, nodes, metrics, logger)
		if err != nil {
			return nil, err
		}
		probers = append(probers, p)
	}
	return probers, nil
}

// newMux serves /metrics from the registry, gathered per scrape, and the
// pre-encoded per-queue series (exposition.Handler: text format from bytes,
// gzip pre-compressed; protobuf as a full render).
func newMux(registry *prometheus.Registry, queueSeries []exposition.Source, coll *collector.Collector, statusHandler http.Handler, logger *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/status", statusHandler)
	mux.Handle("/metrics", exposition.NewHandler(registry, queueSeries, logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("Healthy.\n"))
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !coll.Ready() {
			http.Error(w, "Not ready: waiting for the first poll of every target.", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("Ready.\n"))
	})
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "warren",
		Description: "RabbitMQ queue and consumer SLO monitoring",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
			{Address: "/api/v1/status", Text: "Status"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	return mux, nil
}
