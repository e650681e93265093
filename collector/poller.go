package collector

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/internal/config"
)

// Health is a target's poll state as of its latest poll attempt.
type Health struct {
	Attempted   bool      // at least one poll has finished, well or not
	Up          bool      // the latest poll succeeded
	LastAttempt time.Time // when the latest poll started
	LastError   string    // why the latest poll failed; never holds secrets
	LastReason  string    // its class, the reason label
}

// Poller polls one target's management API on its interval and keeps the
// latest Snapshot. One poll is in flight at a time: the loop waits for a
// poll to return before it schedules the next.
type Poller struct {
	target  config.Target
	client  *mgmtClient
	logger  *slog.Logger
	status  *StatusTracker
	metrics *pollMetrics

	snapshot atomic.Pointer[Snapshot]
	health   atomic.Pointer[Health]

	// droppedLogged remembers the last dropped count logged, so the
	// cardinality guard speaks when the count changes, not every poll.
	droppedLogged int
	// pollMu makes Poll safe to call from tests while Run is not running.
	pollMu sync.Mutex
	// observers see every new snapshot, in the poll's goroutine.
	observers []func(*Snapshot)
}

// OnSnapshot makes f see every snapshot a successful poll produces, in
// the poll's goroutine, before the next poll starts. Call it before Run.
func (p *Poller) OnSnapshot(f func(*Snapshot)) { p.observers = append(p.observers, f) }

// NewPoller builds the poller for one target.
func NewPoller(t config.Target, logger *slog.Logger, metrics *pollMetrics) (*Poller, error) {
	tlsConfig, err := t.TLS.Build()
	if err != nil {
		return nil, err
	}
	client, err := newMgmtClient(t.ManagementURL, t.Username, t.ManagementPassword, tlsConfig, t.Timeout.Std())
	if err != nil {
		return nil, err
	}
	p := &Poller{
		target:  t,
		client:  client,
		logger:  logger.With("cluster", t.Name),
		status:  NewStatusTracker(t.ConsumerStatus.Window.Std()),
		metrics: metrics,
	}
	p.health.Store(&Health{})
	return p, nil
}

// Name is the target's name, the cluster label.
func (p *Poller) Name() string { return p.target.Name }

// Snapshot returns the latest successful poll's snapshot, or nil.
func (p *Poller) Snapshot() *Snapshot { return p.snapshot.Load() }

// Health returns the state of the latest poll.
func (p *Poller) Health() Health { return *p.health.Load() }

// Run polls until ctx is done: the first poll after a short random delay
// (so many targets do not poll in step), then every poll interval with
// ±10% jitter.
func (p *Poller) Run(ctx context.Context) {
	interval := p.target.PollInterval.Std()
	delay := time.Duration(rand.Int64N(int64(interval)/10 + 1))
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		p.Poll(ctx)
		delay = jitter(interval)
	}
}

func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d)/5+1))
}

// Poll runs one poll now and records its outcome. A failed poll keeps the
// previous snapshot, which then goes stale.
func (p *Poller) Poll(ctx context.Context) {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	start := time.Now()
	snap, err := p.poll(ctx, start)
	elapsed := time.Since(start)
	if ctx.Err() != nil && err != nil {
		return // shutting down: not the target's fault
	}
	p.metrics.duration.WithLabelValues(p.target.Name).Observe(elapsed.Seconds())
	h := &Health{Attempted: true, LastAttempt: start}
	if err != nil {
		h.LastError = err.Error()
		h.LastReason = reasonOf(err)
		p.metrics.errors.WithLabelValues(p.target.Name, h.LastReason).Inc()
		p.logger.Warn("poll failed", "reason", h.LastReason, "err", err, "duration", elapsed)
	} else {
		h.Up = true
		snap.Duration = elapsed
		for _, observe := range p.observers {
			observe(snap)
		}
		p.snapshot.Store(snap)
		p.logger.Debug("poll done", "queues", len(snap.Queues), "duration", elapsed)
	}
	p.health.Store(h)
}

func reasonOf(err error) string {
	var pe *PollError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonInvalidResponse
}

func (p *Poller) poll(ctx context.Context, start time.Time) (*Snapshot, error) {
	ov, err := p.client.overview(ctx)
	if err != nil {
		return nil, err
	}
	apiNodes, err := p.client.nodes(ctx)
	if err != nil {
		return nil, err
	}
	apiQueues, err := p.client.queues(ctx, ov.RabbitMQVersion, p.sampleHistory())
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{
		Cluster:           p.target.Name,
		Time:              start,
		RabbitMQVersion:   ov.RabbitMQVersion,
		ErlangVersion:     ov.ErlangVersion,
		ManagementVersion: ov.ManagementVersion,
		ClusterName:       ov.ClusterName,
	}
	for _, n := range apiNodes {
		snap.Nodes = append(snap.Nodes, Node{
			Name: n.Name, Running: n.IsRunning, MemAlarm: n.MemAlarm, DiskAlarm: n.DiskFreeAlarm,
			Partitions: len(n.Partitions), FDUsed: int64(n.FdUsed), FDLimit: int64(n.FdTotal),
		})
	}
	slices.SortFunc(snap.Nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })

	all := make([]Queue, 0, len(apiQueues))
	anyDLX := false
	for i := range apiQueues {
		a := &apiQueues[i]
		if !p.target.Vhosts.Match(a.Vhost) || !p.target.Queues.Match(a.Name) {
			continue
		}
		q := queueFromAPI(a)
		anyDLX = anyDLX || q.HasDeadLetterExchange
		all = append(all, q)
	}
	slices.SortFunc(all, func(a, b Queue) int {
		if c := strings.Compare(a.Vhost, b.Vhost); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})

	var routes []DeadLetterRoute
	if anyDLX {
		topo, err := p.topology(ctx)
		if err != nil {
			return nil, err
		}
		existing := make(map[QueueKey]bool, len(apiQueues))
		for i := range apiQueues {
			existing[QueueKey{apiQueues[i].Vhost, apiQueues[i].Name}] = true
		}
		routes = DiscoverDeadLetterRoutes(all, topo, existing)
	}
	for _, r := range p.target.DeadLetterQueues {
		routes = append(routes, DeadLetterRoute{Vhost: r.Vhost, Queue: r.Queue, DeadLetterQueue: r.DeadLetterQueue})
	}

	snap.Queues = p.applyCardinalityGuard(all)
	snap.QueuesDropped = len(all) - len(snap.Queues)
	snap.DeadLetterRoutes = routesOf(SortRoutes(routes), snap.Queues)
	p.status.Observe(start, snap.Queues)
	return snap, nil
}

// applyCardinalityGuard keeps the first max_queues queues (by vhost, name)
// and says so in a log line whenever the number dropped changes.
func (p *Poller) applyCardinalityGuard(all []Queue) []Queue {
	limit := p.target.MaxQueues
	dropped := 0
	if limit > 0 && len(all) > limit {
		dropped = len(all) - limit
		all = all[:limit:limit]
	}
	if dropped != p.droppedLogged {
		if dropped > 0 {
			p.logger.Warn("more queues than max_queues: per-queue series exported for the first max_queues by vhost and name only",
				"max_queues", limit, "dropped", dropped)
		} else {
			p.logger.Info("queue count back under max_queues: all queues exported", "max_queues", limit)
		}
		p.droppedLogged = dropped
	}
	return all
}

// routesOf keeps the routes whose source queue is exported.
func routesOf(routes []DeadLetterRoute, exported []Queue) []DeadLetterRoute {
	keep := make(map[QueueKey]bool, len(exported))
	for i := range exported {
		keep[exported[i].Key()] = true
	}
	out := routes[:0]
	for _, r := range routes {
		if keep[QueueKey{r.Vhost, r.Queue}] {
			out = append(out, r)
		}
	}
	return out
}

// sampleHistory covers the time since the previous poll and one stats
// interval more, so consecutive polls overlap and no sample falls between.
func (p *Poller) sampleHistory() sampleHistory {
	if !p.target.TimeInQueue.WantsSampleHistory() {
		return sampleHistory{}
	}
	incr := p.target.StatsInterval.Std()
	age := p.target.PollInterval.Std() + 2*incr
	return sampleHistory{age: age.Truncate(incr) + incr, incr: incr}
}

func (p *Poller) topology(ctx context.Context) (Topology, error) {
	xs, err := p.client.exchanges(ctx)
	if err != nil {
		return Topology{}, err
	}
	bs, err := p.client.bindings(ctx)
	if err != nil {
		return Topology{}, err
	}
	topo := Topology{ExchangeTypes: make(map[QueueKey]string, len(xs)), Bindings: make([]Binding, 0, len(bs))}
	for _, x := range xs {
		topo.ExchangeTypes[QueueKey{x.Vhost, x.Name}] = x.Type
	}
	for _, b := range bs {
		topo.Bindings = append(topo.Bindings, Binding{Vhost: b.Vhost, Source: b.Source, Destination: b.Destination, DestinationType: b.DestinationType, RoutingKey: b.RoutingKey})
	}
	return topo, nil
}

func queueFromAPI(a *apiQueue) Queue {
	q := Queue{
		Vhost: a.Vhost, Name: a.Name, Type: a.Type, Node: a.Node, StatsKnown: a.Messages != nil,
		Ready: a.MessagesReady, Unacked: a.MessagesUnacknowledged, Consumers: a.Consumers,
		Counters: Counters{
			Published:   a.MessageStats.Publish,
			Delivered:   a.MessageStats.DeliverGet,
			Acked:       a.MessageStats.Ack,
			Redelivered: a.MessageStats.Redeliver,
			Completed:   a.MessageStats.Ack + a.MessageStats.DeliverNoAck + a.MessageStats.GetNoAck,
		},
	}
	if q.Node == "" {
		q.Node = a.Leader // quorum queues before their first stats emission
	}
	if q.Type == "" {
		q.Type = "classic" // brokers before 3.8 report no type
	}
	if a.ConsumerCapacity != nil {
		q.ConsumerCapacity, q.HasConsumerCapacity = *a.ConsumerCapacity, true
	}
	if a.HeadMessageTimestamp != nil && *a.HeadMessageTimestamp > 0 {
		// The broker reports the AMQP timestamp property: whole seconds.
		q.HeadTimestamp = time.Unix(int64(*a.HeadMessageTimestamp), 0)
	}
	q.DeadLetterExchange, q.HasDeadLetterExchange, q.DeadLetterRoutingKey, q.HasDeadLetterRouting =
		deadLetterSettings(a.Arguments, a.EffectivePolicyDefinition)
	q.Samples = joinSamples(a.MessageStats.PublishDetails.Samples, a.MessagesDetails.Samples)
	return q
}

// joinSamples pairs the publish and depth samples taken at the same broker
// timestamp, oldest first. The broker samples the two in different
// processes; the newest depth sample often has no publish sample yet.
func joinSamples(published, messages []apiSample) []Sample {
	if len(published) == 0 || len(messages) == 0 {
		return nil
	}
	depth := make(map[int64]float64, len(messages))
	for _, m := range messages {
		depth[m.Timestamp] = m.Sample
	}
	out := make([]Sample, 0, len(published))
	for _, pub := range published {
		if m, ok := depth[pub.Timestamp]; ok {
			out = append(out, Sample{Time: time.UnixMilli(pub.Timestamp), Published: uint64(pub.Sample), Messages: int64(m)})
		}
	}
	slices.SortFunc(out, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	return out
}

// jsonObject is a JSON object that the management API writes as [] when
// empty (an empty Erlang proplist).
type jsonObject map[string]any

// UnmarshalJSON accepts an object, an empty array or null.
func (o *jsonObject) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "[]" || s == "null" || s == "" {
		*o = nil
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*o = m
	return nil
}
