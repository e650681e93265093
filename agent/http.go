package agent

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/statusapi"
	"github.com/warrenhq/warren/webui"
)

// handler serves, under the route prefix, the web pages (webui: /,
// /slo/, /queue/, /static/), /metrics (the registry gathered per scrape,
// then every pipeline's pre-encoded per-queue series), the status API,
// the health and readiness endpoints and /-/reload with
// --web.enable-lifecycle.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	status := statusapi.Sources{
		Targets:  a.set.States,
		Engine:   a.engine,
		SLOs:     func() []config.SLO { return a.config().SLOs },
		Alerts:   a.eval.Firing,
		Outboxes: a.outboxes.Statuses,
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
	pages := webui.Handler(webui.Sources{Status: status, Config: a.config, Base: linkBase(a.opts.ExternalURL), Logger: a.logger}, mux)
	prefix := strings.TrimRight(a.opts.RoutePrefix, "/")
	if prefix == "" {
		return pages
	}
	return underPrefix(prefix, pages)
}

// underPrefix serves h under prefix (no trailing slash), as
// --web.route-prefix asks: the prefix itself redirects to prefix/, and a
// path outside it is not found.
func underPrefix(prefix string, h http.Handler) http.Handler {
	strip := http.StripPrefix(prefix, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.EscapedPath(); {
		case p == prefix:
			http.Redirect(w, r, prefix+"/", http.StatusFound)
		case strings.HasPrefix(p, prefix+"/"):
			strip.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// linkBase is the path the pages' links start with: the external URL's,
// where a browser reaches warren (behind a proxy that strips a prefix,
// it differs from the route prefix).
func linkBase(externalURL string) string {
	u, err := url.Parse(externalURL)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.EscapedPath(), "/")
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
