// Package statusapi answers "what is wrong right now?" in one place: it
// builds the JSON document of GET /api/v1/status (targets with their
// latest audit, queues with their consumer status and message age, SLOs
// with budgets and burn rates, outboxes, firing alerts) from warren's in-memory
// state, and renders that document as the terminal tables of `warren
// status`; and the audit report of `warren audit`, as JSON or text.
//
// Import rule: it imports pipeline and what it exports, alerting/catalog,
// slo, outbox and internal/config; it never calls the broker or a
// database.
package statusapi

import (
	"cmp"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/streamlag"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/outbox"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/slo"
)

// Document is the status API's answer.
type Document struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Targets     []TargetStatus `json:"targets"`
	// Queues are the matching queues, worst first (see queueRank), at
	// most the requested limit; QueuesTotal counts all that matched.
	Queues      []QueueStatus `json:"queues"`
	QueuesTotal int           `json:"queues_total"`
	SLOs        []SLOStatus   `json:"slos"`
	// Outboxes are the outbox tables polled at least once (statusapi/outbox.go).
	Outboxes []OutboxStatus `json:"outboxes"`
	Alerts   []FiringAlert  `json:"alerts"`
}

// TargetStatus is one watched cluster.
type TargetStatus struct {
	Name            string   `json:"name"`
	Up              bool     `json:"up"`
	LastPoll        string   `json:"last_poll,omitempty"`
	LastError       string   `json:"last_error,omitempty"`
	SnapshotAge     *float64 `json:"snapshot_age_seconds,omitempty"`
	RabbitMQVersion string   `json:"rabbitmq_version,omitempty"`
	// Source is what the snapshot's statistics were read from:
	// management or prometheus (docs/sources.md).
	Source        string       `json:"source,omitempty"`
	Queues        int          `json:"queues"`
	QueuesDropped int          `json:"queues_dropped"`
	Nodes         []NodeStatus `json:"nodes"`
	// Unroutable are the vhosts with unroutable publishes (statusapi/loss.go).
	Unroutable []UnroutableStatus `json:"unroutable,omitempty"`
	// Audit is the target's latest audit (statusapi/audit.go), at most the
	// document's limit of findings per check; absent while the audit is
	// off.
	Audit *AuditTarget `json:"audit,omitempty"`
}

// NodeStatus is one RabbitMQ node.
type NodeStatus struct {
	Name    string   `json:"name"`
	Running bool     `json:"running"`
	Alarms  []string `json:"alarms"`
	// Partitions is null where the source cannot see them (the
	// management API with its statistics off).
	Partitions *int `json:"partitions"`
}

// QueueStatus is one queue's state.
type QueueStatus struct {
	Cluster string `json:"cluster"`
	Vhost   string `json:"vhost"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	// Role is what the queue is for (docs/queue-roles.md) and RoleSource
	// the rule that decided it: configured, queue_type, topology, name or
	// default.
	Role       string `json:"role"`
	RoleSource string `json:"role_source"`
	// Status is the consumer status; "unknown" for a stream, which has
	// none.
	Status string `json:"status"`
	// StatusReason is the rule that gave Status, with its numbers
	// (docs/consumer-status.md).
	StatusReason string `json:"status_reason,omitempty"`
	Ready        int64  `json:"ready"`
	Unacked      int64  `json:"unacked"`
	Consumers    int64  `json:"consumers"`
	// OldestAge is the age of the oldest waiting message, from the head
	// timestamp where the broker gives one, else estimated (AgeSource).
	OldestAge float64 `json:"oldest_age_seconds"`
	AgeSource string  `json:"age_source,omitempty"`
	// TimeInQueueWithheld says why the queue's time-in-queue estimate is
	// withheld (priority_queue, redeliveries: it does not deliver in
	// arrival order); empty when it is published.
	TimeInQueueWithheld string `json:"time_in_queue_withheld,omitempty"`
	// Drain is the time to empty the backlog at the recent net departure
	// rate, where statistics are known; NotDraining says the backlog is not
	// shrinking (an infinite drain time, which JSON cannot spell).
	Drain           *float64 `json:"drain_seconds,omitempty"`
	NotDraining     bool     `json:"not_draining,omitempty"`
	DeadLetterQueue []string `json:"dead_letter_queues,omitempty"`
	// OldestUnacked is the estimated age of the queue's oldest delivery
	// still waiting for its ack, and ConsumerTimeout how long the broker
	// lets it wait before it closes the consumer's channel (what
	// RabbitMQConsumerTimeoutImminent compares). Both are absent for a
	// stream, whose deliveries are reads of a retained log, and for a
	// queue without known statistics; pointers, so that an age of 0 is
	// not dropped.
	OldestUnacked   *float64 `json:"oldest_unacked_age_seconds,omitempty"`
	ConsumerTimeout *float64 `json:"consumer_timeout_seconds,omitempty"`
	// Stream is, for a stream whose consumers the broker lists, what its
	// consumers' lag says (docs/queue-roles.md#streams); absent for the
	// other queues.
	Stream *StreamStatus `json:"stream,omitempty"`
}

// StreamStatus is a stream's consumers and how far behind they are.
type StreamStatus struct {
	// Consumers counts them all; AMQPConsumers those of AMQP 0-9-1, whose
	// lag is inferred from the stream's counters.
	Consumers     int `json:"consumers"`
	AMQPConsumers int `json:"amqp_consumers"`
	// Lag is the largest lag in messages, LagSeconds the same at the
	// stream's publish rate (absent where nothing is published, so it has
	// no time value); both absent without consumers.
	Lag        *int64   `json:"lag_messages,omitempty"`
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	// FallingBehind is set when a consumer's lag grew over the whole
	// consumer-status window (RabbitMQStreamConsumerFallingBehind).
	FallingBehind bool `json:"falling_behind"`
}

// SLOStatus is one objective's state.
type SLOStatus struct {
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

// FiringAlert is a firing alert.
type FiringAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"starts_at"`
}

// Sources are what the document is built from.
type Sources struct {
	Targets func() []*pipeline.TargetState
	Engine  *slo.Engine // nil without SLOs
	SLOs    func() []config.SLO
	Alerts  func() []catalog.Alert // nil without alerting
	// Outboxes are the outboxes' statuses; nil without outboxes.
	Outboxes func() []outbox.Status
	Now      func() time.Time
}

// Filter narrows the document; empty fields match everything.
type Filter struct {
	Cluster, Vhost, Queue, SLO string
	// Limit bounds the queues listed (worst first); 0 means DefaultLimit.
	Limit int
	// NoQueues leaves the queues out (and QueuesTotal 0), for a reader
	// that shows only SLOs, alerts or targets: an SLO's web page.
	NoQueues bool
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
	doc := Document{GeneratedAt: now.UTC(), Targets: []TargetStatus{}, Queues: []QueueStatus{}, SLOs: []SLOStatus{}, Outboxes: []OutboxStatus{}, Alerts: []FiringAlert{}}
	if src.Outboxes != nil && f.Cluster == "" && f.SLO == "" {
		doc.Outboxes = outboxes(src.Outboxes())
	}
	for _, st := range src.Targets() {
		if f.Cluster != "" && f.Cluster != st.Cluster {
			continue
		}
		doc.Targets = append(doc.Targets, target(st, now, f.Limit))
		if st.Snapshot == nil || f.NoQueues {
			continue
		}
		doc.Queues = append(doc.Queues, queues(st, f)...)
	}
	doc.QueuesTotal = len(doc.Queues)
	doc.Queues = worst(doc.Queues, f.Limit)
	if src.Engine != nil {
		for _, s := range src.SLOs() {
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
			doc.Alerts = append(doc.Alerts, FiringAlert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt.UTC()})
		}
	}
	return doc
}

// worst returns the limit queues most in need of a look, in that order:
// by status, then the oldest message's age, then the backlog; ties keep
// their order. It sorts indices, not the queues: at 10,000 queues,
// moving the structs cost most of a status document.
func worst(qs []QueueStatus, limit int) []QueueStatus {
	order := make([]int32, len(qs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(i, j int32) int {
		a, b := &qs[i], &qs[j]
		if c := consumerstatus.Compare(consumerstatus.Parse(b.Status), consumerstatus.Parse(a.Status)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.OldestAge, a.OldestAge); c != 0 {
			return c
		}
		return cmp.Compare(b.Ready+b.Unacked, a.Ready+a.Unacked)
	})
	out := make([]QueueStatus, 0, min(limit, len(qs)))
	for _, i := range order[:min(limit, len(order))] {
		out = append(out, qs[i])
	}
	return out
}

// target is a target's status, with its audit's findings, at most limit
// per check.
func target(st *pipeline.TargetState, now time.Time, limit int) TargetStatus {
	h := st.Health
	out := TargetStatus{Name: st.Cluster, Up: h.Up, LastError: h.LastError, Nodes: []NodeStatus{}}
	if st.Audit != nil {
		a := auditTarget(st.Cluster, st.Audit, audit.Info, limit)
		out.Audit = &a
	}
	if !h.LastAttempt.IsZero() {
		out.LastPoll = h.LastAttempt.UTC().Format(time.RFC3339)
	}
	snap := st.Snapshot
	if snap == nil {
		return out
	}
	age := now.Sub(snap.Time).Seconds()
	out.SnapshotAge = &age
	out.RabbitMQVersion, out.Source = snap.RabbitMQVersion, snap.Source
	out.Queues, out.QueuesDropped = len(snap.Queues), snap.QueuesDropped
	out.Unroutable = unroutable(st)
	for _, n := range snap.Nodes {
		node := NodeStatus{Name: n.Name, Running: n.Running, Alarms: []string{}}
		if !n.PartitionsUnknown {
			node.Partitions = &n.Partitions
		}
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

func queues(st *pipeline.TargetState, f Filter) []QueueStatus {
	snap := st.Snapshot
	var out []QueueStatus
	if f.Vhost == "" && f.Queue == "" {
		out = make([]QueueStatus, 0, len(snap.Queues))
	}
	for i := range snap.Queues {
		q, qs := &snap.Queues[i], &st.Queues[i]
		if (f.Vhost != "" && f.Vhost != q.Vhost) || (f.Queue != "" && f.Queue != q.Name) {
			continue
		}
		s := QueueStatus{Cluster: snap.Cluster, Vhost: q.Vhost, Name: q.Name, Type: q.Type, Role: qs.Role.Role.String(), RoleSource: qs.Role.Source.String(), Status: qs.Status.String(), StatusReason: qs.StatusReason,
			Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers, DeadLetterQueue: qs.DeadLetterQueues,
			OldestAge: qs.Age.Age.Seconds(), AgeSource: qs.Age.Source.String()}
		if e := qs.Estimate; e != nil && e.Withheld {
			s.TimeInQueueWithheld = e.NonFIFO
		}
		if p := qs.Processing; p != nil {
			age, timeout := p.OldestAge.Seconds(), qs.ConsumerTimeout.Seconds()
			s.OldestUnacked, s.ConsumerTimeout = &age, &timeout
		}
		if qs.HasStream {
			s.Stream = streamStatus(qs.Stream)
		}
		if qs.HasDrain {
			if d := qs.Drain; math.IsInf(d, 1) {
				s.NotDraining = true
			} else {
				s.Drain = &d
			}
		}
		out = append(out, s)
	}
	return out
}

func streamStatus(st streamlag.Stream) *StreamStatus {
	out := &StreamStatus{Consumers: st.Consumers, AMQPConsumers: st.AMQPConsumers, FallingBehind: st.FallingBehind}
	if st.HasLag {
		lag := st.MaxLag
		out.Lag = &lag
	}
	if st.HasLag && st.HasLagSeconds {
		secs := st.LagSeconds
		out.LagSeconds = &secs
	}
	return out
}

func sloState(cfg config.SLO, s *slo.SLO, now time.Time) SLOStatus {
	o := s.Objective()
	ev := s.Evaluate(now)
	out := SLOStatus{
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
