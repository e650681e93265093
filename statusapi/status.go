// Package status answers "what is wrong right now?" in one place: it
// builds the JSON document of GET /api/v1/status (targets, queues with
// their consumer status and message age, SLOs with budgets and burn rates,
// firing alerts) from warren's in-memory state, and renders that document
// as the terminal tables of `warren status`.
package statusapi

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/warrenhq/warren/alerting/conditions"
	"github.com/warrenhq/warren/alerting/notifier"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/slo"
)

// Document is the status API's answer.
type Document struct {
	GeneratedAt time.Time `json:"generated_at"`
	Targets     []Target  `json:"targets"`
	// Queues are the matching queues, worst first (see queueRank), at
	// most the requested limit; QueuesTotal counts all that matched.
	Queues      []Queue `json:"queues"`
	QueuesTotal int     `json:"queues_total"`
	SLOs        []SLO   `json:"slos"`
	Alerts      []Alert `json:"alerts"`
}

// Target is one watched cluster.
type Target struct {
	Name            string   `json:"name"`
	Up              bool     `json:"up"`
	LastPoll        string   `json:"last_poll,omitempty"`
	LastError       string   `json:"last_error,omitempty"`
	SnapshotAge     *float64 `json:"snapshot_age_seconds,omitempty"`
	RabbitMQVersion string   `json:"rabbitmq_version,omitempty"`
	Queues          int      `json:"queues"`
	QueuesDropped   int      `json:"queues_dropped"`
	Nodes           []Node   `json:"nodes"`
}

// Node is one RabbitMQ node.
type Node struct {
	Name       string   `json:"name"`
	Running    bool     `json:"running"`
	Alarms     []string `json:"alarms"`
	Partitions int      `json:"partitions"`
}

// Queue is one queue's state.
type Queue struct {
	Cluster   string `json:"cluster"`
	Vhost     string `json:"vhost"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Ready     int64  `json:"ready"`
	Unacked   int64  `json:"unacked"`
	Consumers int64  `json:"consumers"`
	// OldestAge is the age of the oldest waiting message, from the head
	// timestamp where the broker gives one, else estimated (AgeSource).
	OldestAge float64 `json:"oldest_age_seconds"`
	AgeSource string  `json:"age_source,omitempty"`
	// Drain is the time to empty the backlog at the recent net departure
	// rate, where estimated; NotDraining says the backlog is not
	// shrinking (an infinite drain time, which JSON cannot spell).
	Drain           *float64 `json:"drain_seconds,omitempty"`
	NotDraining     bool     `json:"not_draining,omitempty"`
	DeadLetterQueue []string `json:"dead_letter_queues,omitempty"`
}

// SLO is one objective's state.
type SLO struct {
	Name            string   `json:"name"`
	Target          string   `json:"target"`
	Description     string   `json:"description,omitempty"`
	SLI             string   `json:"sli"`
	Objective       float64  `json:"objective"`
	Window          string   `json:"window"`
	BudgetRemaining float64  `json:"error_budget_remaining"`
	Good            float64  `json:"good_events"`
	Total           float64  `json:"total_events"`
	Windows         []Window `json:"windows"`
	Page            Tier     `json:"page"`
	Ticket          Tier     `json:"ticket"`
}

// Window is an SLO's SLI and burn rate over one window.
type Window struct {
	Window string   `json:"window"` // reference label: 5m … 3d, slo
	Length string   `json:"length"` // actual (scaled) length
	SLI    *float64 `json:"sli"`    // null without events
	Burn   float64  `json:"burn_rate"`
	Total  float64  `json:"total_events"`
}

// Tier is an SLO alert tier's state.
type Tier struct {
	Active bool     `json:"active"`
	Fired  []string `json:"fired,omitempty"`
}

// Alert is a firing alert.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"starts_at"`
}

// Sources are what the document is built from.
type Sources struct {
	Targets []conditions.Target
	Engine  *slo.Engine // nil without SLOs
	SLOs    []config.SLO
	Alerts  func() []notifier.Alert // nil without alerting
	Now     func() time.Time
}

// Filter narrows the document; empty fields match everything.
type Filter struct {
	Cluster, Vhost, Queue, SLO string
	// Limit bounds the queues listed (worst first); 0 means DefaultLimit.
	Limit int
}

// DefaultLimit is how many queues a status document lists unless asked.
const DefaultLimit = 50

// Build assembles the document.
func Build(src Sources, f Filter) Document {
	now := time.Now()
	if src.Now != nil {
		now = src.Now()
	}
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	doc := Document{GeneratedAt: now.UTC(), Targets: []Target{}, Queues: []Queue{}, SLOs: []SLO{}, Alerts: []Alert{}}
	for _, t := range src.Targets {
		if f.Cluster != "" && f.Cluster != t.Name {
			continue
		}
		snap := t.Snapshot()
		doc.Targets = append(doc.Targets, target(t, snap, now))
		if snap == nil {
			continue
		}
		var estimates []timeinqueue.QueueEstimate
		if t.Estimates != nil {
			estimates = t.Estimates()
		}
		doc.Queues = append(doc.Queues, queues(snap, estimates, f)...)
	}
	slices.SortStableFunc(doc.Queues, func(a, b Queue) int {
		if c := cmp.Compare(queueRank(a.Status), queueRank(b.Status)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.OldestAge, a.OldestAge); c != 0 {
			return c
		}
		return cmp.Compare(b.Ready+b.Unacked, a.Ready+a.Unacked)
	})
	doc.QueuesTotal = len(doc.Queues)
	if len(doc.Queues) > f.Limit {
		doc.Queues = doc.Queues[:f.Limit]
	}
	if src.Engine != nil {
		for _, s := range src.SLOs {
			if (f.SLO != "" && f.SLO != s.Name) || (f.Cluster != "" && f.Cluster != s.Target) {
				continue
			}
			if live, ok := src.Engine.SLO(s.Name); ok {
				doc.SLOs = append(doc.SLOs, sloState(s, live, now))
			}
		}
	}
	if src.Alerts != nil {
		for _, a := range src.Alerts() {
			if f.Cluster != "" && a.Labels["cluster"] != "" && a.Labels["cluster"] != f.Cluster {
				continue
			}
			doc.Alerts = append(doc.Alerts, Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt.UTC()})
		}
	}
	return doc
}

// queueRank orders statuses from most to least in need of a look.
func queueRank(status string) int {
	switch collector.ConsumerStatus(status) {
	case collector.StatusStalled:
		return 0
	case collector.StatusNoConsumers:
		return 1
	case collector.StatusLagging:
		return 2
	case collector.StatusOK:
		return 3
	case collector.StatusIdle:
		return 5
	}
	return 4 // unknown yet
}

func target(t conditions.Target, snap *collector.Snapshot, now time.Time) Target {
	h := t.Health()
	out := Target{Name: t.Name, Up: h.Up, LastError: h.LastError, Nodes: []Node{}}
	if !h.LastAttempt.IsZero() {
		out.LastPoll = h.LastAttempt.UTC().Format(time.RFC3339)
	}
	if snap == nil {
		return out
	}
	age := now.Sub(snap.Time).Seconds()
	out.SnapshotAge = &age
	out.RabbitMQVersion = snap.RabbitMQVersion
	out.Queues, out.QueuesDropped = len(snap.Queues), snap.QueuesDropped
	for _, n := range snap.Nodes {
		node := Node{Name: n.Name, Running: n.Running, Partitions: n.Partitions, Alarms: []string{}}
		if n.MemAlarm {
			node.Alarms = append(node.Alarms, "memory")
		}
		if n.DiskAlarm {
			node.Alarms = append(node.Alarms, "disk")
		}
		out.Nodes = append(out.Nodes, node)
	}
	return out
}

func queues(snap *collector.Snapshot, estimates []timeinqueue.QueueEstimate, f Filter) []Queue {
	byKey := make(map[collector.QueueKey]*timeinqueue.QueueEstimate, len(estimates))
	for i := range estimates {
		byKey[collector.QueueKey{Vhost: estimates[i].Vhost, Name: estimates[i].Name}] = &estimates[i]
	}
	dlqs := map[collector.QueueKey][]string{}
	for _, r := range snap.DeadLetterRoutes {
		k := collector.QueueKey{Vhost: r.Vhost, Name: r.Queue}
		dlqs[k] = append(dlqs[k], r.DeadLetterQueue)
	}
	var out []Queue
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if (f.Vhost != "" && f.Vhost != q.Vhost) || (f.Queue != "" && f.Queue != q.Name) {
			continue
		}
		s := Queue{Cluster: snap.Cluster, Vhost: q.Vhost, Name: q.Name, Type: q.Type, Status: string(q.Status),
			Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers, DeadLetterQueue: dlqs[q.Key()]}
		if s.Status == "" {
			s.Status = "unknown"
		}
		if e := byKey[q.Key()]; e != nil {
			s.OldestAge, s.AgeSource = e.OldestAge.Seconds(), "estimate"
			if d := e.DrainSeconds; d == timeinqueue.Inf {
				s.NotDraining = true
			} else {
				s.Drain = &d
			}
		}
		if !q.HeadTimestamp.IsZero() {
			s.OldestAge, s.AgeSource = max(0, snap.Time.Sub(q.HeadTimestamp).Seconds()), "head_timestamp"
		}
		out = append(out, s)
	}
	return out
}

func sloState(cfg config.SLO, s *slo.SLO, now time.Time) SLO {
	o := s.Objective()
	ev := s.Evaluate(now)
	out := SLO{
		Name: cfg.Name, Target: cfg.Target, Description: cfg.Description, SLI: cfg.SLI.Kind(),
		Objective: o.Target, Window: slo.FormatDuration(o.Window),
		BudgetRemaining: ev.Budget.Remaining, Good: ev.Budget.Good, Total: ev.Budget.Total,
	}
	for _, w := range s.Windows(now) {
		win := Window{Window: w.Label, Length: slo.FormatDuration(w.Window), Burn: w.Burn, Total: w.Total}
		if ratio, ok := w.SLI(); ok {
			win.SLI = &ratio
		}
		out.Windows = append(out.Windows, win)
	}
	tier := func(t slo.TierStatus) Tier {
		out := Tier{Active: t.Active}
		for _, id := range t.Fired {
			out.Fired = append(out.Fired, id.String())
		}
		return out
	}
	out.Page, out.Ticket = tier(ev.Page), tier(ev.Ticket)
	return out
}

// Handler serves GET /api/v1/status; query parameters cluster, vhost,
// queue, slo and limit narrow the document.
func Handler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		f := Filter{Cluster: q.Get("cluster"), Vhost: q.Get("vhost"), Queue: q.Get("queue"), SLO: q.Get("slo")}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 {
				http.Error(w, "limit must be a positive integer", http.StatusBadRequest)
				return
			}
			f.Limit = n
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(Build(src, f))
	})
}
