package management

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
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
}

// New returns the source of one target.
func New(t config.Target) (*Source, error) {
	c, err := targetClient(t)
	if err != nil {
		return nil, err
	}
	return &Source{target: t, client: c}, nil
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
	return &Overview{RabbitMQVersion: ov.RabbitMQVersion, ErlangVersion: ov.ErlangVersion, ManagementVersion: ov.ManagementVersion,
		ClusterName: ov.ClusterName, StatisticsDisabled: ov.DisableStats, ResponseBytes: n}, nil
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
// name, each with the broker's sample history over about the last span
// where the target asks for it), the stream-protocol consumers when some
// queue is a stream, and, when some queue has a dead-letter exchange, the
// topology.
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
	listing, err := s.listQueues(ctx, queuesPath(ov.RabbitMQVersion), vhosts, s.statsQuery(span), nil, runningNodes(apiNodes))
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
	return snap, nil
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

// statsQuery is the query of the queue listing with statistics: the
// columns warren reads, and the sample history after span.
func (s *Source) statsQuery(span time.Duration) listingQuery {
	return historyQuery(s.sampleHistory(span))
}

// historyQuery is the query of the queue listing with statistics and the
// sample history h.
func historyQuery(h sampleHistory) listingQuery {
	q := url.Values{"columns": {queueColumns}}
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
	if !s.target.TimeInQueue.WantsSampleHistory() {
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
		var l queueListing
		_, err := s.client.queues(ctx, path, q, s.collectQueue(&l, pols, running))
		return l, err
	}
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
			_, err := s.client.queues(ctx, "queues/"+url.PathEscape(v), q, s.collectQueue(&listings[i], pols, running))
			if isNotFound(err) {
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
		l.add(listings[i])
	}
	return l, nil
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
