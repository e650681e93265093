package conditions

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/probes"
	"github.com/warrenhq/warren/slo"
)

// Built-in health alert names.
const (
	QueueNoConsumers = "RabbitMQQueueNoConsumers"
	QueueStalled     = "RabbitMQQueueStalled"
	QueueOldMessages = "RabbitMQQueueOldMessages"
	DeadLetterInflow = "RabbitMQDeadLetterInflow"
	RedeliveryStorm  = "RabbitMQRedeliveryStorm"
	NodeAlarm        = "RabbitMQNodeAlarm"
	NodeDown         = "RabbitMQNodeDown"
	Partition        = "RabbitMQPartition"
	ProbeFailing     = "RabbitMQProbeFailing"
	TargetDown       = "WarrenTargetDown"
)

// Rule is a built-in health alert's settings in force.
type Rule struct {
	Name     string
	Severity string
	For      time.Duration
	// Threshold: RabbitMQQueueOldMessages, seconds of age; RabbitMQDeadLetterInflow,
	// messages into a DLQ within CounterWindow (fires above it);
	// RabbitMQRedeliveryStorm, the share of deliveries that are
	// redeliveries within CounterWindow. Unused by the others.
	Threshold float64
	Disabled  bool
}

// DefaultRules are the built-in alerts' defaults, the same as those of the
// shipped Prometheus rules (alerts/warren-alerts.yml).
var DefaultRules = []Rule{
	{Name: QueueNoConsumers, Severity: "page", For: 5 * time.Minute},
	{Name: QueueStalled, Severity: "page", For: time.Minute},
	{Name: QueueOldMessages, Severity: "ticket", For: 5 * time.Minute, Threshold: 300},
	{Name: DeadLetterInflow, Severity: "ticket", For: time.Minute, Threshold: 0},
	{Name: RedeliveryStorm, Severity: "ticket", For: 5 * time.Minute, Threshold: 0.2},
	{Name: NodeAlarm, Severity: "page", For: time.Minute},
	{Name: NodeDown, Severity: "page", For: time.Minute},
	{Name: Partition, Severity: "page", For: time.Minute},
	{Name: ProbeFailing, Severity: "page", For: 2 * time.Minute},
	{Name: TargetDown, Severity: "page", For: 2 * time.Minute},
}

// CounterWindow is the window of the counter-based conditions (dead-letter
// inflow, redelivery storm) and of the probe failure condition.
const CounterWindow = 5 * time.Minute

// minRedeliveryRate keeps a redelivery storm from firing on a trickle: at
// least one redelivery per second over the window.
const minRedeliveryRate = 1.0

// counterSpacing is the least time between two kept counter points:
// eleven points cover the window, whatever the poll interval.
const counterSpacing = CounterWindow / 10

// Target is how the health conditions see one target.
type Target struct {
	Name      string
	Health    func() collector.Health
	Snapshot  func() *collector.Snapshot
	Estimates func() []timeinqueue.QueueEstimate // nil without an estimator
}

// Health evaluates the built-in health conditions. Observe methods are
// safe for concurrent use with each other and with evaluation.
type Health struct {
	rules   map[string]Rule
	targets []Target

	mu       sync.Mutex
	counters map[string]map[collector.QueueKey][]counterPoint // by target
	probes   map[probeKey]*probeState
}

type counterPoint struct {
	t                      time.Time
	tally                  collector.Tally
	delivered, redelivered uint64
}

type probeKey struct{ cluster, node, queueType string }

type probeState struct{ lastOK, lastFailure time.Time }

// NewHealth returns the health conditions of targets with the rules of
// cfg (defaults overridden by alerting.health).
func NewHealth(cfg config.HealthAlertsConfig, targets []Target) *Health {
	h := &Health{rules: map[string]Rule{}, targets: targets, counters: map[string]map[collector.QueueKey][]counterPoint{}, probes: map[probeKey]*probeState{}}
	for _, r := range EffectiveRules(cfg) {
		h.rules[r.Name] = r
	}
	return h
}

// EffectiveRules returns the default rules with cfg's overrides applied.
func EffectiveRules(cfg config.HealthAlertsConfig) []Rule {
	out := make([]Rule, len(DefaultRules))
	for i, r := range DefaultRules {
		o := cfg.Override(r.Name)
		r.Disabled = o.Disabled
		if o.For != 0 {
			r.For = o.For.Std()
		}
		if o.Severity != "" {
			r.Severity = o.Severity
		}
		if o.Threshold != nil {
			r.Threshold = *o.Threshold
		}
		out[i] = r
	}
	return out
}

// ObserveSnapshot keeps the counter points the windowed conditions need.
func (h *Health) ObserveSnapshot(snap *collector.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.counters[snap.Cluster]
	next := make(map[collector.QueueKey][]counterPoint, len(snap.Queues))
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if !q.StatsKnown {
			continue
		}
		p := counterPoint{t: snap.Time, tally: q.Tally(), delivered: q.Counters.Delivered, redelivered: q.Counters.Redelivered}
		points := old[q.Key()]
		// Keep points at least counterSpacing apart, over one window.
		for len(points) > 1 && snap.Time.Sub(points[1].t) >= CounterWindow {
			points = points[1:]
		}
		if n := len(points); n == 0 || snap.Time.Sub(points[n-1].t) >= counterSpacing {
			points = append(points, p)
		}
		next[q.Key()] = points
	}
	h.counters[snap.Cluster] = next
}

// ObserveProbe remembers a probe round's outcome.
func (h *Health) ObserveProbe(r probes.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := probeKey{r.Cluster, r.Node, r.QueueType}
	st := h.probes[k]
	if st == nil {
		st = &probeState{}
		h.probes[k] = st
	}
	if r.Outcome == probes.OutcomeOK {
		st.lastOK = r.Time
	} else {
		st.lastFailure = r.Time
	}
}

// increase is the growth of a counter from the oldest kept point to cur,
// reading a counter that went backwards (a reset) as growth from zero.
func increase(cur, base uint64) float64 {
	if cur < base {
		return float64(cur)
	}
	return float64(cur - base)
}

func (h *Health) candidates(now time.Time) []candidate {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []candidate
	add := func(name string, labels map[string]string, summary, description, path string) {
		r := h.rules[name]
		if r.Disabled {
			return
		}
		labels["alertname"] = name
		labels["severity"] = r.Severity
		out = append(out, candidate{
			labels: labels,
			annotations: map[string]string{
				"summary":     summary,
				"description": description,
				"runbook_url": RunbookBase + strings.ToLower(name),
			},
			hold: r.For,
			path: path,
		})
	}
	for _, t := range h.targets {
		health := t.Health()
		if health.Attempted && !health.Up {
			add(TargetDown, map[string]string{"cluster": t.Name},
				fmt.Sprintf("warren cannot poll RabbitMQ cluster %s", t.Name),
				fmt.Sprintf("The management API of %s does not answer as it should (%s); queue and node alerts of this cluster go on from the last good snapshot.", t.Name, health.LastReason),
				statusPath("cluster", t.Name))
		}
		snap := t.Snapshot()
		if snap == nil {
			continue
		}
		h.nodeCandidates(snap, add)
		h.queueCandidates(snap, t, add)
	}
	for k, st := range h.probes {
		recentFailure := now.Sub(st.lastFailure) <= CounterWindow && !st.lastFailure.IsZero()
		noRecentOK := st.lastOK.IsZero() || now.Sub(st.lastOK) > CounterWindow
		if recentFailure && noRecentOK {
			add(ProbeFailing, map[string]string{"cluster": k.cluster, "node": k.node, "queue_type": k.queueType},
				fmt.Sprintf("Synthetic probes to %s on %s fail", k.queueType, k.node),
				fmt.Sprintf("No probe round to a %s queue on node %s of cluster %s succeeded in the last %s: publishers and consumers there are likely failing too. `warren probe` shows the outcome.", k.queueType, k.node, k.cluster, slo.FormatDuration(CounterWindow)),
				statusPath("cluster", k.cluster))
		}
	}
	return out
}

type addFunc func(name string, labels map[string]string, summary, description, path string)

func (h *Health) nodeCandidates(snap *collector.Snapshot, add addFunc) {
	c := snap.Cluster
	for _, n := range snap.Nodes {
		path := statusPath("cluster", c)
		if !n.Running {
			add(NodeDown, map[string]string{"cluster": c, "node": n.Name},
				fmt.Sprintf("RabbitMQ node %s is down", n.Name),
				fmt.Sprintf("Node %s of cluster %s is not running: its queue leaders and connections moved or are unavailable.", n.Name, c), path)
			continue
		}
		for alarm, set := range map[string]bool{"memory": n.MemAlarm, "disk": n.DiskAlarm} {
			if set {
				add(NodeAlarm, map[string]string{"cluster": c, "node": n.Name, "alarm": alarm},
					fmt.Sprintf("RabbitMQ %s alarm on %s: publishers are blocked", alarm, n.Name),
					fmt.Sprintf("Node %s of cluster %s raised its %s alarm; the whole cluster blocks publishing connections until it clears.", n.Name, c, alarm), path)
			}
		}
		if n.Partitions > 0 {
			add(Partition, map[string]string{"cluster": c, "node": n.Name},
				fmt.Sprintf("RabbitMQ node %s sees a network partition", n.Name),
				fmt.Sprintf("Node %s of cluster %s is partitioned from %d node(s).", n.Name, c, n.Partitions), path)
		}
	}
}

func (h *Health) queueCandidates(snap *collector.Snapshot, t Target, add addFunc) {
	c := snap.Cluster
	dlqs := map[collector.QueueKey]bool{}
	for _, r := range snap.DeadLetterRoutes {
		dlqs[collector.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}] = true
	}
	ages := map[collector.QueueKey]time.Duration{}
	if t.Estimates != nil {
		for _, e := range t.Estimates() {
			ages[collector.QueueKey{Vhost: e.Vhost, Name: e.Name}] = e.OldestAge
		}
	}
	points := h.counters[c]
	oldAfter := h.rules[QueueOldMessages].Threshold
	inflowAbove := h.rules[DeadLetterInflow].Threshold
	stormRatio := h.rules[RedeliveryStorm].Threshold
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if !q.StatsKnown {
			continue
		}
		key := q.Key()
		labels := func() map[string]string { return map[string]string{"cluster": c, "vhost": q.Vhost, "queue": q.Name} }
		path := statusPath("cluster", c, "vhost", q.Vhost, "queue", q.Name)
		switch q.Status {
		case collector.StatusNoConsumers:
			if !dlqs[key] {
				add(QueueNoConsumers, labels(),
					fmt.Sprintf("Queue %s has messages and no consumer", q.Name),
					fmt.Sprintf("Queue %s in vhost %s of cluster %s holds messages and no consumer is attached: nothing is being processed.", q.Name, q.Vhost, c), path)
			}
		case collector.StatusStalled:
			add(QueueStalled, labels(),
				fmt.Sprintf("Consumers of queue %s are stalled", q.Name),
				fmt.Sprintf("Queue %s in vhost %s of cluster %s has consumers and a backlog, but no message completed during the whole consumer-status window.", q.Name, q.Vhost, c), path)
		}
		age := ages[key]
		if !q.HeadTimestamp.IsZero() {
			age = max(age, snap.Time.Sub(q.HeadTimestamp))
		}
		// A dead-letter queue holds old messages by design; its inflow is
		// RabbitMQDeadLetterInflow's business.
		if age.Seconds() > oldAfter && !dlqs[key] {
			add(QueueOldMessages, labels(),
				fmt.Sprintf("Messages in queue %s wait longer than %s", q.Name, slo.FormatDuration(time.Duration(oldAfter*float64(time.Second)))),
				fmt.Sprintf("The oldest message in queue %s (vhost %s, cluster %s) has waited longer than %s.", q.Name, q.Vhost, c, slo.FormatDuration(time.Duration(oldAfter*float64(time.Second)))), path)
		}
		pts := points[key]
		if len(pts) == 0 {
			continue
		}
		base := pts[0]
		elapsed := snap.Time.Sub(base.t)
		if elapsed < counterSpacing {
			continue // not enough history for a windowed condition
		}
		if dlqs[key] && collector.Inflow(base.tally, q.Tally()) > inflowAbove {
			add(DeadLetterInflow, labels(),
				fmt.Sprintf("Dead-letter queue %s is receiving messages", q.Name),
				fmt.Sprintf("Dead-letter queue %s in vhost %s of cluster %s received messages in the last %s: messages of its source queues are being rejected, expiring or overflowing.", q.Name, q.Vhost, c, slo.FormatDuration(CounterWindow)), path)
		}
		redelivered := increase(q.Counters.Redelivered, base.redelivered)
		delivered := increase(q.Counters.Delivered, base.delivered)
		if delivered > 0 && redelivered/delivered > stormRatio && redelivered/elapsed.Seconds() > minRedeliveryRate {
			add(RedeliveryStorm, labels(),
				fmt.Sprintf("Queue %s redelivers many messages", q.Name),
				fmt.Sprintf("More than %g%% of deliveries from queue %s (vhost %s, cluster %s) in the last %s were redeliveries: consumers reject with requeue or crash before acking.", 100*stormRatio, q.Name, q.Vhost, c, slo.FormatDuration(CounterWindow)), path)
		}
	}
}
