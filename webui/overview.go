package webui

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/warrenhq/warren/statusapi"
)

// overviewQueues is how many of the worst queues the overview lists.
const overviewQueues = 20

// overview is what the overview page shows.
type overview struct {
	Doc statusapi.Document
	// Cluster and Vhost narrow the page (?cluster=, ?vhost=); "" for all.
	Cluster, Vhost string
	// Windows are the burn-rate columns of the SLO table.
	Windows []string
}

// title says what is firing, for a browser tab among many.
func (o overview) title() string {
	if len(o.Doc.Alerts) == 0 {
		return "warren: nothing firing"
	}
	var names []string
	for _, a := range o.Doc.Alerts {
		if n := a.Labels["alertname"]; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return "warren: " + plural(len(o.Doc.Alerts), "alert") + " firing: " + strings.Join(names, ", ")
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request, _ []string) {
	q := r.URL.Query()
	o := overview{Cluster: q.Get("cluster"), Vhost: q.Get("vhost"), Windows: []string{"5m", "1h", "6h", "3d"}}
	o.Doc = statusapi.Build(h.src.Status, statusapi.Filter{Cluster: o.Cluster, Vhost: o.Vhost, Limit: overviewQueues})
	h.render(w, "overview.html", page{Title: o.title(), AsOf: o.Doc.GeneratedAt, Data: o})
}
