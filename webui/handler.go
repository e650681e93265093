package webui

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/statusapi"
)

//go:embed assets
var assets embed.FS

// Sources are what the pages are built from.
type Sources struct {
	// Status is what the status API reads.
	Status statusapi.Sources
	// Config is the configuration in force, for the PromQL of `warren
	// rules` on an SLO's page.
	Config func() *config.Config
	// Base is the path under which a browser reaches the pages (the path
	// of --web.external-url): every link starts with it.
	Base   string
	Logger *slog.Logger
}

// refreshSeconds is how often the script re-fetches a page.
const refreshSeconds = 5

// Handler serves the pages and their static files, from the root of
// whatever route prefix it is mounted under — GET /, /slo/{name},
// /queue/{cluster}/{vhost}/{name} and /static/ — and hands every other
// path to next (404 when next is nil).
//
// It routes on the escaped path, not through an http.ServeMux: the vhost
// "/" is the segment %2F, which a ServeMux would decode and clean away.
func Handler(src Sources, next http.Handler) http.Handler {
	pages := template.Must(template.New("").Funcs(funcs(src.Base)).ParseFS(assets, "assets/*.html"))
	static, _ := fs.Sub(assets, "assets/static")
	h := &handler{src: src, pages: pages, static: http.StripPrefix("/static/", http.FileServerFS(static)), next: next}
	if h.next == nil {
		h.next = http.NotFoundHandler()
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	var serve func(http.ResponseWriter, *http.Request, []string)
	var parts []string // the path's parts a page names its object by
	switch {
	case path == "/":
		serve = h.overview
	case strings.HasPrefix(path, "/static/"):
		serve = func(w http.ResponseWriter, r *http.Request, _ []string) { h.static.ServeHTTP(w, r) }
	case strings.HasPrefix(path, "/slo/"):
		if parts = segments(strings.TrimPrefix(path, "/slo/"), 1); parts != nil {
			serve = h.slo
		}
	case strings.HasPrefix(path, "/queue/"):
		if parts = segments(strings.TrimPrefix(path, "/queue/"), 3); parts != nil {
			serve = h.queue
		}
	default:
		h.next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if serve == nil {
		notFound(w, "page")
		return
	}
	serve(w, r, parts)
}

// segments splits an escaped path into exactly n unescaped, non-empty
// segments, or returns nil.
func segments(escaped string, n int) []string {
	raw := strings.Split(escaped, "/")
	if len(raw) != n {
		return nil
	}
	out := make([]string, n)
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return nil
		}
		out[i] = u
	}
	return out
}

type handler struct {
	src          Sources
	pages        *template.Template
	static, next http.Handler
}

// page is what every page template receives.
type page struct {
	Title   string
	Refresh int
	// AsOf is when the data was taken: the status document's time.
	AsOf any
	Data any
}

// render executes the template into a buffer first, so a failure is a
// clean 500 and not half a page.
func (h *handler) render(w http.ResponseWriter, name string, p page) {
	p.Refresh = refreshSeconds
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, p); err != nil {
		if h.src.Logger != nil {
			h.src.Logger.Error("web page failed", "page", name, "err", err)
		}
		http.Error(w, "the page failed to render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func notFound(w http.ResponseWriter, what string) {
	http.Error(w, what+" not found", http.StatusNotFound)
}
