package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
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
	// fragment is the latest snapshot's per-queue series, encoded.
	fragment atomic.Pointer[exposition.Fragment]
	labels   *LabelCache
	drop     func(metric string) bool

	// lastStart is when the previous poll started, the span the next
	// poll's sample history must cover.
	lastStart time.Time
	// interval is the poll interval in force: the configured one, or a
	// stretched one while polls take longer than that.
	interval time.Duration

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
		target:   t,
		client:   client,
		logger:   logger.With("cluster", t.Name),
		status:   NewStatusTracker(t.ConsumerStatus.Window.Std()),
		metrics:  metrics,
		labels:   NewLabelCache(t.Name),
		drop:     t.DropsMetric,
		interval: t.PollInterval.Std(),
	}
	p.health.Store(&Health{})
	return p, nil
}

// Fragment returns the latest snapshot's per-queue series, encoded for
// /metrics (an exposition.Source), or nil before the first snapshot.
func (p *Poller) Fragment() *exposition.Fragment { return p.fragment.Load() }

// Labels returns the target's encoded queue label sets, for producers of
// per-queue series in the poll's goroutine (OnSnapshot observers).
func (p *Poller) Labels() *LabelCache { return p.labels }

// Name is the target's name, the cluster label.
func (p *Poller) Name() string { return p.target.Name }

// Snapshot returns the latest successful poll's snapshot, or nil.
func (p *Poller) Snapshot() *Snapshot { return p.snapshot.Load() }

// Health returns the state of the latest poll.
func (p *Poller) Health() Health { return *p.health.Load() }

// Run polls until ctx is done: the first poll after a short random delay
// (so many targets do not poll in step), then one poll every poll interval,
// start to start, with ±10% jitter. One poll runs at a time: when a poll
// takes longer than the interval, the interval is stretched (see stretch)
// rather than a second poll started.
func (p *Poller) Run(ctx context.Context) {
	configured := p.target.PollInterval.Std()
	next := time.Now().Add(time.Duration(rand.Int64N(int64(configured)/10 + 1)))
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		start := time.Now()
		p.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		next = start.Add(jitter(p.stretch(time.Since(start))))
	}
}

// stretch returns the interval until the next poll after one that took
// took. While polls fit in the configured interval it is that interval;
// a longer poll stretches it to the smallest multiple of the configured
// interval that leaves the broker idle for at least a quarter of the
// poll's time (jitter included), so a slow management API is not kept
// busy back to back. Every change is logged and exported as
// warren_poll_interval_seconds.
func (p *Poller) stretch(took time.Duration) time.Duration {
	configured := p.target.PollInterval.Std()
	interval := configured
	if took > configured*9/10 {
		need := took * 5 / 4 * 10 / 9 // a quarter idle, even with -10% jitter
		interval = configured * time.Duration((need+configured-1)/configured)
	}
	if interval != p.interval {
		if interval > configured {
			p.logger.Warn("poll took longer than the poll interval: stretching the interval so polls never overlap",
				"poll_duration", took.Round(time.Millisecond), "poll_interval", configured, "stretched_interval", interval)
		} else {
			p.logger.Info("polls fit in the poll interval again", "poll_duration", took.Round(time.Millisecond), "poll_interval", configured)
		}
		p.interval = interval
	}
	p.metrics.interval.WithLabelValues(p.target.Name).Set(interval.Seconds())
	return interval
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
	read0 := p.client.bytesRead.Load()
	snap, err := p.poll(ctx, start)
	elapsed := time.Since(start)
	p.lastStart = start
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
		p.metrics.responseBytes.WithLabelValues(p.target.Name).Set(float64(p.client.bytesRead.Load() - read0))
		for _, observe := range p.observers {
			observe(snap)
		}
		p.fragment.Store(encodeQueues(snap, p.labels, p.drop, p.fragment.Load()))
		p.labels.Sweep()
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
	listing, err := p.listQueues(ctx, ov.RabbitMQVersion)
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

	all := listing.queues
	slices.SortFunc(all, func(a, b Queue) int {
		if c := strings.Compare(a.Vhost, b.Vhost); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})

	var routes []DeadLetterRoute
	if listing.anyDLX {
		topo, err := p.topology(ctx)
		if err != nil {
			return nil, err
		}
		existing := make(map[QueueKey]bool, len(all)+len(listing.filteredOut))
		for i := range all {
			existing[all[i].Key()] = true
		}
		for _, k := range listing.filteredOut {
			existing[k] = true
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

// queueListing is what a poll took from the queue listing.
type queueListing struct {
	queues      []Queue    // the queues that pass the filters
	filteredOut []QueueKey // the others, which can still be dead-letter targets
	anyDLX      bool       // some queue has a dead-letter exchange
}

// maxConcurrentListings bounds the per-vhost listings in flight, so that
// a poll of many vhosts does not occupy every scheduler of the broker.
const maxConcurrentListings = 2

// listQueues reads the queue listing in the cheapest way the broker
// offers: one request for every queue, or, for a target with a vhost
// filter on a broker that lists per vhost, one request per watched vhost,
// at most maxConcurrentListings at a time.
func (p *Poller) listQueues(ctx context.Context, version string) (queueListing, error) {
	history := p.sampleHistory()
	filtered := p.target.Vhosts.Include != nil || p.target.Vhosts.Exclude != nil
	if !filtered || !perVhostListing(version) {
		var l queueListing
		_, err := p.client.queues(ctx, queuesPath(version), history, p.collectQueue(&l))
		return l, err
	}
	vhosts, _, err := p.client.vhosts(ctx)
	if err != nil {
		return queueListing{}, err
	}
	vhosts = slices.DeleteFunc(vhosts, func(v string) bool { return !p.target.Vhosts.Match(v) })
	listings := make([]queueListing, len(vhosts))
	errs := make([]error, len(vhosts))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, maxConcurrentListings)
	var wg sync.WaitGroup
	for i, v := range vhosts {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := p.client.queues(ctx, "queues/"+url.PathEscape(v), history, p.collectQueue(&listings[i]))
			var pe *PollError
			if errors.As(err, &pe) && pe.Reason == ReasonHTTPStatus && strings.HasPrefix(pe.Err.Error(), "404") {
				err = nil // the vhost was deleted since it was listed
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	var l queueListing
	for i := range listings {
		if errs[i] != nil {
			return queueListing{}, errs[i]
		}
		l.queues = append(l.queues, listings[i].queues...)
		l.filteredOut = append(l.filteredOut, listings[i].filteredOut...)
		l.anyDLX = l.anyDLX || listings[i].anyDLX
	}
	return l, nil
}

// collectQueue returns the function that takes each decoded queue of a
// listing into l.
func (p *Poller) collectQueue(l *queueListing) func(*apiQueue) {
	return func(a *apiQueue) {
		if !p.target.Vhosts.Match(a.Vhost) || !p.target.Queues.Match(a.Name) {
			l.filteredOut = append(l.filteredOut, QueueKey{Vhost: intern(a.Vhost), Name: intern(a.Name)})
			return
		}
		q := queueFromAPI(a)
		l.anyDLX = l.anyDLX || q.HasDeadLetterExchange
		l.queues = append(l.queues, q)
	}
}

// intern returns the canonical copy of s: a snapshot holds the same
// vhost, queue, node and type strings as the previous one, so the copies
// decoded by this poll die young instead of being retained poll after poll.
func intern(s string) string { return unique.Make(s).Value() }

// applyCardinalityGuard keeps, of queues sorted by (vhost, name), the
// first max_queues_per_vhost of each vhost, then the first max_queues of
// those, and says so in a log line whenever the numbers dropped change.
func (p *Poller) applyCardinalityGuard(all []Queue) []Queue {
	perVhost, limit := p.target.MaxQueuesPerVhost, p.target.MaxQueues
	kept := all
	var cappedVhosts []string
	if perVhost > 0 {
		kept = make([]Queue, 0, len(all))
		for i := 0; i < len(all); {
			j := i
			for j < len(all) && all[j].Vhost == all[i].Vhost {
				j++
			}
			if j-i > perVhost && len(cappedVhosts) < 10 { // a log line, not a list of thousands
				cappedVhosts = append(cappedVhosts, all[i].Vhost)
			}
			kept = append(kept, all[i:min(j, i+perVhost)]...)
			i = j
		}
	}
	if limit > 0 && len(kept) > limit {
		kept = kept[:limit:limit]
	}
	dropped := len(all) - len(kept)
	if dropped != p.droppedLogged {
		if dropped > 0 {
			p.logger.Warn("more queues than max_queues or max_queues_per_vhost: per-queue series exported for the first queues by vhost and name only",
				"max_queues", limit, "max_queues_per_vhost", perVhost, "dropped", dropped, "capped_vhosts_first_10", cappedVhosts)
		} else {
			p.logger.Info("queue count back under max_queues and max_queues_per_vhost: all queues exported")
		}
		p.droppedLogged = dropped
	}
	return kept
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
	span := max(p.target.PollInterval.Std(), p.interval)
	if !p.lastStart.IsZero() {
		span = max(span, time.Since(p.lastStart))
	}
	age := span + 2*incr
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
		Vhost: intern(a.Vhost), Name: intern(a.Name), Type: intern(a.Type), Node: intern(a.Node), StatsKnown: a.Messages != nil,
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
		q.Node = intern(a.Leader) // quorum queues before their first stats emission
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
	q.DeadLetterExchange = intern(q.DeadLetterExchange)
	ms := &a.MessageStats
	q.Samples = joinSamples(ms.PublishDetails.Samples, a.MessagesDetails.Samples,
		ms.AckDetails.Samples, ms.DeliverNoAckDetails.Samples, ms.GetNoAckDetails.Samples)
	return q
}

// joinSamples pairs the publish, depth and completion samples the broker
// reports at the same timestamp, oldest first. The broker reads them in
// different processes; the newest depth sample often has no publish
// sample yet, and a timestamp that some reported series lacks is left
// out. A completion series the broker does not report at all (nothing
// ever completed that way) counts as zero.
func joinSamples(published, messages []apiSample, completions ...[]apiSample) []Sample {
	if len(published) == 0 || len(messages) == 0 {
		return nil
	}
	type joined struct {
		messages, completed float64
		series              int // series with a sample at this timestamp
	}
	at := make(map[int64]*joined, len(messages))
	for _, m := range messages {
		at[m.Timestamp] = &joined{messages: m.Sample, series: 1}
	}
	want := 1
	for _, series := range completions {
		if len(series) == 0 {
			continue
		}
		want++
		for _, c := range series {
			if j := at[c.Timestamp]; j != nil {
				j.completed += c.Sample
				j.series++
			}
		}
	}
	out := make([]Sample, 0, len(published))
	for _, pub := range published {
		if j := at[pub.Timestamp]; j != nil && j.series == want {
			out = append(out, Sample{Time: time.UnixMilli(pub.Timestamp), Published: uint64(pub.Sample),
				Messages: int64(j.messages), Completed: uint64(j.completed)})
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
	if s := bytes.TrimSpace(b); len(s) == 0 || bytes.Equal(s, []byte("[]")) || bytes.Equal(s, []byte("null")) {
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
