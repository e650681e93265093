package webui

import (
	"net/http"
	"time"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/snapshot"
	"github.com/warrenhq/warren/statusapi"
)

// queuePage is what a queue's page shows.
type queuePage struct {
	Q statusapi.QueueStatus
	// HeadTimestamp is the broker's head timestamp (zero where it gives
	// none) and Estimate the counter-based estimate, shown side by side:
	// Q.OldestAge is the better of the two.
	HeadTimestamp time.Time
	Estimate      *timeinqueue.QueueEstimate
	// Shares are, per time-in-queue threshold, the share of departed
	// messages that waited within it.
	Shares []share
	// In are the queues whose dead letters reach this one; Out are
	// Q.DeadLetterQueue.
	In     []string
	Alerts []statusapi.FiringAlert
}

// share is the time-in-queue share within one threshold.
type share struct {
	Threshold     string
	Within, Total float64
	Ratio         float64
}

func (h *handler) queue(w http.ResponseWriter, _ *http.Request, path []string) {
	cluster, vhost, name := path[0], path[1], path[2]
	doc := statusapi.Build(h.src.Status, statusapi.Filter{Cluster: cluster, Vhost: vhost, Queue: name, Limit: 1})
	if len(doc.Queues) != 1 {
		notFound(w, "queue "+cluster+"/"+vhost+"/"+name)
		return
	}
	p := queuePage{Q: doc.Queues[0]}
	h.fromState(&p, cluster, snapshot.QueueKey{Vhost: vhost, Name: name})
	for _, a := range doc.Alerts {
		if a.Labels["vhost"] == vhost && a.Labels["queue"] == name {
			p.Alerts = append(p.Alerts, a)
		}
	}
	title := "warren: " + name + " " + p.Q.Status
	if len(p.Alerts) > 0 {
		title += ", firing " + p.Alerts[0].Labels["alertname"]
	}
	h.render(w, "queue.html", page{Title: title, AsOf: doc.GeneratedAt, Data: p})
}

// fromState adds what the status document leaves out: both age sources,
// the time-in-queue counts and the routes into the queue.
func (h *handler) fromState(p *queuePage, cluster string, k snapshot.QueueKey) {
	for _, st := range h.src.Status.Targets() {
		if st.Cluster != cluster || st.Snapshot == nil {
			continue
		}
		for _, r := range st.Routes {
			if r.Vhost == k.Vhost && r.DeadLetterQueue == k.Name {
				p.In = append(p.In, r.Queue)
			}
		}
		if i := queueIndex(st, k); i >= 0 {
			p.HeadTimestamp = st.Snapshot.Queues[i].HeadTimestamp
			if e := st.Queues[i].Estimate; e != nil && !e.Withheld {
				p.Estimate = e
				p.Shares = shares(e)
			}
		}
	}
}

func queueIndex(st *pipeline.TargetState, k snapshot.QueueKey) int {
	for i := range st.Snapshot.Queues {
		if st.Snapshot.Queues[i].Key() == k {
			return i
		}
	}
	return -1
}

func shares(e *timeinqueue.QueueEstimate) []share {
	var out []share
	for i, t := range e.Thresholds {
		if i >= len(e.Within) || i >= len(e.Total) {
			break
		}
		s := share{Threshold: statusapi.Ago(t), Within: e.Within[i], Total: e.Total[i]}
		if s.Total > 0 {
			s.Ratio = s.Within / s.Total
		}
		out = append(out, s)
	}
	return out
}
