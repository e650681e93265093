package conditions

import (
	"sync"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/outbox"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/probes"
)

// minWindowEvidence is the least span of history a counter-based
// condition needs before it judges a queue.
const minWindowEvidence = catalog.CounterWindow / 10

// HealthAlerts evaluates the built-in health conditions on the targets' latest
// states and the probe results. Its methods are safe for concurrent use.
type HealthAlerts struct {
	states func() []*pipeline.TargetState

	mu     sync.Mutex
	rules  map[string]catalog.HealthRule
	probes map[catalog.ProbeKey]*probeState
	// outboxes returns the outboxes' statuses; nil until SetOutboxes.
	outboxes func() []outbox.Status
}

type probeState struct{ lastOK, lastFailure time.Time }

// NewHealth returns the health conditions of the targets whose states
// states returns, with the rules of cfg (defaults overridden by
// alerting.health).
func NewHealth(cfg config.HealthAlertsConfig, states func() []*pipeline.TargetState) *HealthAlerts {
	h := &HealthAlerts{states: states, probes: map[catalog.ProbeKey]*probeState{}}
	h.SetRules(cfg)
	return h
}

// SetRules puts the rules of cfg in force; what was learnt of the probes
// is kept.
func (h *HealthAlerts) SetRules(cfg config.HealthAlertsConfig) {
	rules := map[string]catalog.HealthRule{}
	for _, r := range EffectiveRules(cfg) {
		rules[r.Name] = r
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rules = rules
}

// EffectiveRules returns the default rules with cfg's overrides applied.
func EffectiveRules(cfg config.HealthAlertsConfig) []catalog.HealthRule {
	out := make([]catalog.HealthRule, len(catalog.HealthRules))
	for i, r := range catalog.HealthRules {
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

// ObserveProbe remembers a probe round's outcome.
func (h *HealthAlerts) ObserveProbe(r probes.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := catalog.ProbeKey{Cluster: r.Cluster, Node: r.Node, QueueType: r.QueueType}
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

// ForgetProbes drops what was learnt of the probes of clusters for which
// keep is false (targets removed by a reload).
func (h *HealthAlerts) ForgetProbes(keep func(cluster string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.probes {
		if !keep(k.Cluster) {
			delete(h.probes, k)
		}
	}
}

// collect gathers the candidates of one evaluation.
type collect struct {
	rules map[string]catalog.HealthRule
	out   []candidate
}

func (c *collect) add(name string, labels, annotations map[string]string, path string) {
	r := c.rules[name]
	if r.Disabled {
		return
	}
	labels["alertname"] = name
	labels["severity"] = r.Severity
	c.out = append(c.out, candidate{labels: labels, annotations: annotations, hold: r.For, path: path})
}

func (h *HealthAlerts) candidates(now time.Time) []candidate {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := &collect{rules: h.rules}
	for _, st := range h.states() {
		if st.Health.Attempted && !st.Health.Up {
			l, a := catalog.Unreachable(st.Cluster, string(st.Health.LastReason))
			c.add(catalog.TargetDown, l, a, webpath.Overview(st.Cluster, ""))
		}
		auditCandidates(st, c)
		if st.Snapshot == nil {
			continue
		}
		nodeCandidates(st, c)
		queueCandidates(st, c)
		lossCandidates(st, c)
		quorumCandidates(st, c)
	}
	for k, st := range h.probes {
		recentFailure := now.Sub(st.lastFailure) <= catalog.CounterWindow && !st.lastFailure.IsZero()
		noRecentOK := st.lastOK.IsZero() || now.Sub(st.lastOK) > catalog.CounterWindow
		if recentFailure && noRecentOK {
			l, a := catalog.ProbesFailing(k)
			c.add(catalog.ProbeFailing, l, a, webpath.Overview(k.Cluster, ""))
		}
	}
	if h.outboxes != nil {
		outboxCandidates(h.outboxes(), now, c)
	}
	return c.out
}

func nodeCandidates(st *pipeline.TargetState, c *collect) {
	cluster := st.Cluster
	path := webpath.Overview(cluster, "")
	for _, n := range st.Snapshot.Nodes {
		if !n.Running {
			l, a := catalog.Down(cluster, n.Name)
			c.add(catalog.NodeDown, l, a, path)
			continue
		}
		for alarm, set := range map[string]bool{"memory": n.MemAlarm, "disk": n.DiskAlarm} {
			if set {
				l, a := catalog.Alarm(cluster, n.Name, alarm)
				c.add(catalog.NodeAlarm, l, a, path)
			}
		}
		if n.Partitions > 0 {
			l, a := catalog.Partitioned(cluster, n.Name, n.Partitions)
			c.add(catalog.Partition, l, a, path)
		}
	}
}

// headTimestampResolution is the precision of a head timestamp (whole
// seconds), which a short TTL must not be compared below.
const headTimestampResolution = time.Second

// delayAgeKnown reports whether a delay queue's oldest-message age can be
// trusted: only from a head timestamp. The estimate reads the publish
// counter, and dead letters arrive without one. The shipped Prometheus
// rule reads the same series.
func delayAgeKnown(qs *pipeline.QueueState) bool {
	// A delay queue fed by dead letters (a retry queue) holds messages
	// whose head timestamp is their first publish, older by a TTL on
	// every pass through it: that age says nothing about expiry there.
	return qs.Age.Source == pipeline.AgeHeadTimestamp && !qs.IsDeadLetterQueue
}

func queueCandidates(st *pipeline.TargetState, c *collect) {
	oldAfter := time.Duration(c.rules[catalog.QueueOldMessages].Threshold * float64(time.Second))
	inflowAbove := c.rules[catalog.DeadLetterInflow].Threshold
	stormRatio := c.rules[catalog.RedeliveryStorm].Threshold
	retryRatio := c.rules[catalog.RetryStorm].Threshold
	expiryFactor := c.rules[catalog.DelayNotExpiring].Threshold
	timeoutShare := c.rules[catalog.ConsumerTimeoutImminent].Threshold
	for i := range st.Snapshot.Queues {
		q, qs := &st.Snapshot.Queues[i], &st.Queues[i]
		if !q.StatsKnown {
			continue
		}
		subject := catalog.QueueRef{Cluster: st.Cluster, Vhost: q.Vhost, Name: q.Name}
		path := webpath.Queue(st.Cluster, q.Vhost, q.Name)
		role := qs.Role.Role
		if role == queuerole.Stream {
			// A stream's depth is its retained log and its consumers
			// remove nothing: no queue condition applies, only its
			// consumers' offset lag.
			if qs.HasStream && qs.Stream.FallingBehind {
				l, a := catalog.FallingBehind(subject)
				c.add(catalog.StreamBehind, l, a, path)
			}
			continue
		}
		switch {
		case qs.Status == consumerstatus.NoConsumers && role == queuerole.Work:
			// Delay and dead-letter queues have no consumer by design.
			l, a := catalog.NoConsumers(subject)
			c.add(catalog.QueueNoConsumers, l, a, path)
		case qs.Status == consumerstatus.Stalled:
			l, a := catalog.Stalled(subject)
			c.add(catalog.QueueStalled, l, a, path)
		}
		// Whatever the queue's role: the broker closes the channel of any
		// consumer that holds a delivery past the timeout.
		if p := qs.Processing; p != nil && qs.ConsumerTimeout > 0 &&
			p.OldestAge >= time.Duration(timeoutShare*float64(qs.ConsumerTimeout)) {
			l, a := catalog.NearConsumerTimeout(subject, p.OldestAge, qs.ConsumerTimeout)
			c.add(catalog.ConsumerTimeoutImminent, l, a, path)
		}
		// A dead-letter queue holds old messages by design, its inflow
		// is RabbitMQDeadLetterInflow's business; a delay queue's are
		// as old as its TTL, RabbitMQDelayQueueNotExpiring's.
		if qs.Age.Age > oldAfter && role == queuerole.Work {
			l, a := catalog.OldMessages(subject, oldAfter)
			c.add(catalog.QueueOldMessages, l, a, path)
		}
		if role == queuerole.Delay && q.HasMessageTTL && delayAgeKnown(qs) &&
			qs.Age.Age > time.Duration(expiryFactor*float64(q.MessageTTL))+headTimestampResolution {
			l, a := catalog.NotExpiring(subject, q.MessageTTL, expiryFactor)
			c.add(catalog.DelayNotExpiring, l, a, path)
		}
		if !qs.HasRecent || qs.Recent.Span < minWindowEvidence {
			continue // not enough history for a windowed condition
		}
		r := qs.Recent
		if role == queuerole.DeadLetter && deadletter.Inflow(r) > inflowAbove {
			// Fed by a dead-letter exchange or, like a parking lot,
			// by publishes: Inflow counts both.
			l, a := catalog.DeadLetters(subject)
			c.add(catalog.DeadLetterInflow, l, a, path)
		}
		if r.Delivered > 0 && r.Redelivered/r.Delivered > stormRatio && r.Redelivered/r.Span.Seconds() > catalog.MinRedeliveryRate {
			l, a := catalog.Redeliveries(subject, stormRatio)
			c.add(catalog.RedeliveryStorm, l, a, path)
		}
		if qs.HasRetried && r.Delivered > 0 && qs.RecentRetried/r.Delivered > retryRatio && qs.RecentRetried/r.Span.Seconds() > catalog.MinRetryRate {
			l, a := catalog.Retries(subject, retryRatio)
			c.add(catalog.RetryStorm, l, a, path)
		}
	}
}
