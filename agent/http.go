package agent

import (
	"net/http"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/statusapi"
)

// mux serves /metrics (the registry gathered per scrape, then every
// pipeline's pre-encoded per-queue series), the status API, the health
// and readiness endpoints, /-/reload with --web.enable-lifecycle, and the
// landing page.
func (a *Agent) mux() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	status := statusapi.Sources{
		Targets: a.set.States,
		Engine:  a.engine,
		SLOs:    func() []config.SLO { return a.config().SLOs },
		Alerts:  a.eval.Firing,
	}
	mux.Handle("/api/v1/status", statusapi.Handler(status))
	mux.Handle("/metrics", exposition.NewHandler(a.registry, a.set.Sources, a.logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("Healthy.\n"))
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.set.Ready() {
			http.Error(w, "Not ready: waiting for the first poll of every target.", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("Ready.\n"))
	})
	mux.HandleFunc("/-/reload", a.serveReload)
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

// serveReload reloads the configuration on POST /-/reload, as Prometheus
// does: only with --web.enable-lifecycle, 200 when the new configuration
// is in force, 500 with the reason when it was rejected.
func (a *Agent) serveReload(w http.ResponseWriter, r *http.Request) {
	if !a.opts.EnableLifecycle {
		http.Error(w, "Lifecycle API is not enabled.", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "Only POST or PUT requests allowed.", http.StatusMethodNotAllowed)
		return
	}
	if err := a.Reload(); err != nil {
		http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write([]byte("Reloaded.\n"))
}
