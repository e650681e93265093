package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
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

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo/timeinqueue"
)

// shutdownGrace bounds how long in-flight HTTP requests may finish after
// SIGINT or SIGTERM: nothing ignores a shutdown for longer than a second.
const shutdownGrace = time.Second

// runAgent polls the targets and serves HTTP until SIGINT or SIGTERM.
func runAgent(cfg *config.Config, webFlags *web.FlagConfig, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger.Info("starting warren", "version", version.Info(), "build_context", version.BuildContext(), "config", describeSource(cfg), "targets", len(cfg.Targets))
	coll, err := collector.New(cfg, logger)
	if err != nil {
		return err
	}
	probeMetrics := probes.NewMetrics()
	probers, err := newProbers(cfg, coll, probeMetrics, logger)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		coll,
		versioncollector.NewCollector("warren"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	registry.MustRegister(probeMetrics.Collectors()...)
	estimators := newEstimators(cfg, coll)

	// The per-queue series are encoded once per poll and served as bytes;
	// they are not in the registry.
	queueSeries := append(coll.Sources(), timeinqueue.Sources(estimators, coll.Pollers())...)
	mux, err := newMux(registry, queueSeries, coll, logger)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	pollersDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { coll.Run(ctx) })
		for _, p := range probers {
			wg.Go(func() { p.Run(ctx) })
		}
		wg.Wait()
		close(pollersDone)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, webFlags, logger) }()

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		stop()
		<-pollersDone
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		server.Close()
	}
	select {
	case <-pollersDone:
	case <-shutdownCtx.Done():
		logger.Warn("pollers and probes did not stop within the shutdown grace; exiting anyway")
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newEstimators attaches a time-in-queue estimator to every target's
// poller.
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
func newMux(registry *prometheus.Registry, queueSeries []exposition.Source, coll *collector.Collector, logger *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
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
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	return mux, nil
}
