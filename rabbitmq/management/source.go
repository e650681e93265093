package management

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// Source reads one target through its management API. Read is not safe
// for concurrent use: the target's poller makes one read at a time.
type Source struct {
	target     config.Target
	client     *client
	unroutable unroutable
	history    historyTracker
	// definitions are the queues of the last Definitions, for the next.
	definitions *queueDefinitions
	// listed is how many queues the last listing kept: the next one's
	// slice is made that size, not grown by doubling, which at 50,000
	// queues of 432 bytes each would allocate twice the snapshot.
	listed atomic.Int64
}

// New returns the source of one target.
func New(t config.Target) (*Source, error) {
	c, err := targetClient(t)
	if err != nil {
		return nil, err
	}
	return &Source{target: t, client: c, history: newHistoryTracker(t)}, nil
}

// targetClient is a new client of t's management API.
func targetClient(t config.Target) (*client, error) {
	tlsConfig, err := t.TLS.Build()
	if err != nil {
		return nil, err
	}
	return newClient(t.ManagementURL, t.Username, t.ManagementPassword, tlsConfig, t.Timeout.Std(), t.MaxResponseBytes())
}

// Overview is what the broker's /api/overview says: its versions and
// name, and whether it collects the statistics this source reads.
type Overview struct {
	RabbitMQVersion, ErlangVersion, ManagementVersion string
	ClusterName                                       string // the broker's own cluster_name
	// StatisticsDisabled is set where the management API reports
	// disable_stats: the broker collects no management statistics
	// (management_agent.disable_metrics_collector = true, or
	// management.disable_stats), and its listings carry definitions only.
	StatisticsDisabled bool
	// ResponseBytes is the size of the overview's response.
	ResponseBytes int64
	// Queues is how many queues the broker holds in every vhost the user
	// may see, where QueuesCounted (the overview's object_totals).
	Queues        int
	QueuesCounted bool
}

// queueCountSlack is how many queues a listing may hold beyond twice
// those the overview counted: queues declared between the two requests.
const queueCountSlack = 1000

// bound bounds q's number of queues by what the overview counted: twice
// as many, and queueCountSlack more. The broker counts its queues from
// the same table it lists them from, a moment earlier, so only queues
// declared in between can exceed the count, and a listing that goes far
// past it (an endless one from a proxy, or not the broker's at all)
// fails the poll with the few thousand queues it has decoded, however
// large max_response_size is. Without a count, q is bounded by
// max_response_size alone.
func (ov *Overview) bound(q listingQuery) listingQuery {
	if ov.QueuesCounted {
		q.maxQueues, q.countedQueues = 2*ov.Queues+queueCountSlack, ov.Queues
	}
	return q
}

// errStatisticsDisabled fails a read of a broker without statistics:
// their absence is not an empty broker.
var errStatisticsDisabled = &snapshot.ReadError{Reason: snapshot.ReasonStatisticsDisabled, Op: "GET overview",
	Err: errors.New("the management API collects no statistics (management_agent.disable_metrics_collector = true): no depth, counter or consumer is known; set the target's source to auto or prometheus to read them from the rabbitmq_prometheus plugin")}

// BytesRead is the total of response bytes the source has read.
func (s *Source) BytesRead() int64 { return s.client.BytesRead() }

// Overview reads /api/overview.
func (s *Source) Overview(ctx context.Context) (*Overview, error) {
	ov, n, err := s.client.overview(ctx)
	if err != nil {
		return nil, err
	}
	o := &Overview{RabbitMQVersion: ov.RabbitMQVersion, ErlangVersion: ov.ErlangVersion, ManagementVersion: ov.ManagementVersion,
		ClusterName: ov.ClusterName, StatisticsDisabled: ov.DisableStats, ResponseBytes: n}
	if total := ov.ObjectTotals.Queues; total != nil && *total >= 0 {
		o.Queues, o.QueuesCounted = *total, true
	}
	return o, nil
}

// Read reads the broker once: the overview, then what ReadAfter reads. A
// broker that collects no statistics fails the read with
// snapshot.ReasonStatisticsDisabled. start is when the poll started, the
// snapshot's time.
func (s *Source) Read(ctx context.Context, start time.Time, span time.Duration) (*snapshot.Snapshot, error) {
	ov, err := s.Overview(ctx)
	if err != nil {
		return nil, err
	}
	if ov.StatisticsDisabled {
		return nil, errStatisticsDisabled
	}
	return s.ReadAfter(ctx, ov, start, span)
}

// ReadAfter reads the rest of the broker after its overview ov: the
// nodes, the queues that pass the target's filters (sorted by vhost and
// name; where the target asks for it, each queue that holds something
// new with the broker's sample history since about the previous read,
// the others Unchanged), the stream-protocol consumers when some queue is
// a stream, and, when some queue has a dead-letter exchange, the
// topology. span is how far back the history must reach at least.
func (s *Source) ReadAfter(ctx context.Context, ov *Overview, start time.Time, span time.Duration) (*snapshot.Snapshot, error) {
	read0 := s.client.BytesRead()
	apiNodes, err := s.client.nodes(ctx)
	if err != nil {
		return nil, err
	}
	var vhosts []string
	if s.vhostsFiltered() && perVhostListing(ov.RabbitMQVersion) {
		if vhosts, err = s.watchedVhosts(ctx); err != nil {
			return nil, err
		}
	}
	listing, plan, err := s.readQueues(ctx, ov, vhosts, runningNodes(apiNodes), start, span)
	if err != nil {
		return nil, err
	}
	snap := newSnapshot(s.target, ov, start, config.SourceManagement)
	snap.Queues = listing.queues
	for _, n := range apiNodes {
		snap.Nodes = append(snap.Nodes, snapshot.Node{
			Name: n.Name, Running: *n.Running, MemAlarm: n.MemAlarm, DiskAlarm: n.DiskFreeAlarm,
			Partitions: len(n.Partitions), FDUsed: n.FDUsed, FDLimit: n.FDTotal,
		})
	}
	SortSnapshot(snap)
	if snap.Unroutable, snap.UnroutablePublishers, err = s.unroutable.read(ctx, s.client, s.target.Vhosts.Match); err != nil {
		return nil, err
	}
	if snap.StreamConsumers, snap.StreamConsumersKnown, err = s.streamConsumers(ctx, snap.Queues); err != nil {
		return nil, err
	}
	if listing.anyDLX {
		if snap.Topology, err = s.client.topology(ctx); err != nil {
			return nil, err
		}
		snap.Topology.OtherQueues = listing.filteredOut
	}
	snap.ResponseBytes = ov.ResponseBytes + s.client.BytesRead() - read0
	if s.wantsHistory() {
		s.history.commit(snap.Queues, start, plan)
	}
	return snap, nil
}

// readQueues reads the queue listing (see listQueues) and the sample
// history it needs: with every queue's history in the listing where
// historyTracker says so, else the listing without history and then each
// queue that needs it on its own. It returns how it asked.
func (s *Source) readQueues(ctx context.Context, ov *Overview, vhosts []string, running map[string]bool, start time.Time, span time.Duration) (queueListing, historyPlan, error) {
	path := queuesPath(ov.RabbitMQVersion)
	if !s.wantsHistory() {
		l, err := s.listQueues(ctx, path, vhosts, ov.bound(historyQuery(sampleHistory{})), nil, running)
		return l, historyPlan{}, err
	}
	if s.history.listsAll() {
		plan := historyPlan{listing: s.sampleHistory(s.history.span(span, start))}
		l, err := s.listQueues(ctx, path, vhosts, ov.bound(historyQuery(plan.listing)), nil, running)
		return l, plan, err
	}
	l, err := s.listQueues(ctx, path, vhosts, ov.bound(historyQuery(sampleHistory{})), nil, running)
	if err != nil {
		return l, historyPlan{}, err
	}
	wanted := s.history.choose(l.queues)
	plan := historyPlan{each: s.sampleHistory(s.history.span(span, start)), fetched: make([]snapshot.QueueKey, len(wanted))}
	for i, w := range wanted {
		plan.fetched[i] = l.queues[w].Key()
	}
	err = s.readHistories(ctx, &l, wanted, plan.each)
	return l, plan, err
}

// wantsHistory reports whether reads ask for sample history: the target
// wants it and knows the broker's stats interval, its resolution.
func (s *Source) wantsHistory() bool {
	return s.target.TimeInQueue.WantsSampleHistory() && s.target.StatsInterval > 0
}

// newSnapshot starts the snapshot of a read of the target at start, by
// source, after the overview ov.
func newSnapshot(t config.Target, ov *Overview, start time.Time, source string) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Cluster: t.Name, Time: start, Source: source,
		RabbitMQVersion: ov.RabbitMQVersion, ErlangVersion: ov.ErlangVersion,
		ManagementVersion: ov.ManagementVersion, ClusterName: ov.ClusterName,
	}
}

// SortSnapshot puts the snapshot's nodes in name order and its queues in
// vhost then name order, as snapshot.Snapshot promises.
func SortSnapshot(snap *snapshot.Snapshot) {
	slices.SortFunc(snap.Nodes, func(a, b snapshot.Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(snap.Queues, func(a, b snapshot.Queue) int {
		if c := strings.Compare(a.Vhost, b.Vhost); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// historyQuery is the query of the queue listing with statistics and the
// sample history h.
//
// It always names a range of node statistics, which no queue field
// reads: a listing without any range is served from the broker's
// listing cache (rabbit_mgmt_db:augment_queues with ?NO_RANGES, through
// rabbit_mgmt_db_cache, 3.10 to 4.3), which returns the result of another
// such listing of the same queues made up to five times its computing
// time earlier (management.db_cache_multiplier), a kbudde-style
// exporter's, another warren replica's or warren's own, at tens of
// thousands of queues tens of seconds old. Any range makes the broker
// compute the listing afresh, at the same cost.
//
// It asks for no sort (sort= empty): warren sorts the queues itself, and
// before 3.13 the broker then leaves out sorting the augmented listing
// (rabbit_mgmt_util:sort_list/4), 14% of its cost at 10,000 queues
// (2.20 s of broker CPU against 2.55 s, 3.10.8). From 3.13 an empty sort
// means the default one (get_sorts_param/2), as if none were given.
func historyQuery(h sampleHistory) listingQuery {
	q := url.Values{"columns": {queueColumns}, "node_stats_age": {"5"}, "node_stats_incr": {"5"}, "sort": {""}}
	h.params(q)
	return listingQuery{values: q, valueBytes: queueValueBytes(h)}
}

// runningNodes are the names of the nodes the listing reports running.
func runningNodes(nodes []apiNode) map[string]bool {
	running := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if *n.Running {
			running[n.Name] = true
		}
	}
	return running
}

// sampleHistory covers span and two stats intervals more, so that
// consecutive polls overlap and no sample falls between them.
func (s *Source) sampleHistory(span time.Duration) sampleHistory {
	if !s.wantsHistory() {
		return sampleHistory{}
	}
	incr := s.target.StatsInterval.Std()
	age := span + 2*incr
	return sampleHistory{age: age.Truncate(incr) + incr, incr: incr, deliveries: s.target.Processing.IsEnabled()}
}

// queueListing is what a poll took from the queue listing.
type queueListing struct {
	queues      []snapshot.Queue    // the queues that pass the filters
	filteredOut []snapshot.QueueKey // the others, which can still be dead-letter targets
	anyDLX      bool                // some queue has a dead-letter exchange
}

func (l *queueListing) add(other queueListing) {
	l.queues = append(l.queues, other.queues...)
	l.filteredOut = append(l.filteredOut, other.filteredOut...)
	l.anyDLX = l.anyDLX || other.anyDLX
}

// maxConcurrentListings bounds the per-vhost listings in flight, so that
// a poll of many vhosts does not occupy every scheduler of the broker.
const maxConcurrentListings = 2

// listQueues reads the queue listing with the query q: one request to
// path for every queue where vhosts is nil, else one request per vhost of
// vhosts (a target's watched vhosts, where the broker lists per vhost),
// at most maxConcurrentListings at a time. A listing without statistics
// names each queue's policy, whose definition pols resolves; pols is nil
// for a listing that carries effective_policy_definition. running are
// the nodes the poll's node listing reports running.
func (s *Source) listQueues(ctx context.Context, path string, vhosts []string, q listingQuery, pols *policies, running map[string]bool) (queueListing, error) {
	if vhosts == nil {
		l := queueListing{queues: make([]snapshot.Queue, 0, s.listed.Load())}
		_, err := s.client.queues(ctx, path, q, s.collectQueue(&l, pols, running))
		s.listed.Store(int64(len(l.queues)))
		return l, err
	}
	listings := make([]queueListing, len(vhosts))
	err := forEach(ctx, len(vhosts), func(ctx context.Context, i int) error {
		_, err := s.client.queues(ctx, "queues/"+url.PathEscape(vhosts[i]), q, s.collectQueue(&listings[i], pols, running))
		if isNotFound(err) {
			return nil // the vhost was deleted since it was listed
		}
		return err
	})
	if err != nil {
		return queueListing{}, err
	}
	kept := 0
	for i := range listings {
		kept += len(listings[i].queues)
	}
	l := queueListing{queues: make([]snapshot.Queue, 0, kept)}
	for i := range listings {
		l.add(listings[i])
	}
	return l, nil
}

// forEach calls fn for 0 to n-1, at most maxConcurrentListings at a time,
// and returns the first error; an error cancels the calls under way and
// starts no more.
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, maxConcurrentListings)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err() // the caller's context, not an error of fn
	}
	return first
}

func (s *Source) vhostsFiltered() bool {
	return s.target.Vhosts.Include != nil || s.target.Vhosts.Exclude != nil
}

// watchedVhosts lists the broker's vhosts that pass the target's filter.
func (s *Source) watchedVhosts(ctx context.Context) ([]string, error) {
	vhosts, _, err := s.client.vhosts(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(vhosts, func(v string) bool { return !s.target.Vhosts.Match(v) }), nil
}

// isNotFound reports whether err is the broker's 404.
func isNotFound(err error) bool {
	var re *snapshot.ReadError
	return errors.As(err, &re) && re.Reason == snapshot.ReasonHTTPStatus && re.StatusCode == http.StatusNotFound
}

// collectQueue returns the function that takes each decoded queue of a
// listing into l; pols resolves the policies of a listing without
// statistics (see listQueues), running are the nodes the poll's node
// listing reports running.
func (s *Source) collectQueue(l *queueListing, pols *policies, running map[string]bool) func(*apiQueue) {
	return func(a *apiQueue) {
		if !s.target.Vhosts.Match(a.Vhost) || !s.target.Queues.Match(a.Name) {
			l.filteredOut = append(l.filteredOut, snapshot.QueueKey{Vhost: intern(a.Vhost), Name: intern(a.Name)})
			return
		}
		if pols != nil {
			a.EffectivePolicyDefinition = pols.effective(a)
		}
		q := queueFromAPI(a, running)
		l.anyDLX = l.anyDLX || q.HasDeadLetterExchange
		l.queues = append(l.queues, q)
	}
}

// intern returns the canonical copy of s: a snapshot holds the same
// vhost, queue, node and type strings as the previous one, so the copies
// decoded by this poll die young instead of being retained poll after poll.
func intern(s string) string { return unique.Make(s).Value() }

// topology reads the exchanges and bindings dead-letter discovery
// follows.
func (c *client) topology(ctx context.Context) (*snapshot.Topology, error) {
	topo := &snapshot.Topology{ExchangeTypes: make(map[snapshot.QueueKey]string)}
	if err := c.exchanges(ctx, func(x *rabbithole.ExchangeInfo) {
		topo.ExchangeTypes[snapshot.QueueKey{Vhost: x.Vhost, Name: x.Name}] = x.Type
	}); err != nil {
		return nil, err
	}
	if err := c.bindings(ctx, func(b *rabbithole.BindingInfo) {
		topo.Bindings = append(topo.Bindings, snapshot.Binding{Vhost: b.Vhost, Source: b.Source, Destination: b.Destination, DestinationType: b.DestinationType, RoutingKey: b.RoutingKey})
	}); err != nil {
		return nil, err
	}
	return topo, nil
}
