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
	return newClient(t.ManagementURL, t.Username, t.ManagementPassword, tlsConfig, t.Timeout.Std())
}

// Read reads the broker once: the overview, the nodes, the queues that
// pass the target's filters (sorted by vhost and name, each with the
// broker's sample history over about the last span where the target asks
// for it), the stream-protocol consumers when some queue is a stream,
// and, when some queue has a dead-letter exchange, the topology.
// start is when the poll started, the snapshot's time.
func (s *Source) Read(ctx context.Context, start time.Time, span time.Duration) (*snapshot.Snapshot, error) {
	read0 := s.client.BytesRead()
	ov, err := s.client.overview(ctx)
	if err != nil {
		return nil, err
	}
	apiNodes, err := s.client.nodes(ctx)
	if err != nil {
		return nil, err
	}
	listing, err := s.listQueues(ctx, ov.RabbitMQVersion, s.sampleHistory(span))
	if err != nil {
		return nil, err
	}
	snap := &snapshot.Snapshot{
		Cluster:           s.target.Name,
		Time:              start,
		RabbitMQVersion:   ov.RabbitMQVersion,
		ErlangVersion:     ov.ErlangVersion,
		ManagementVersion: ov.ManagementVersion,
		ClusterName:       ov.ClusterName,
		Queues:            listing.queues,
	}
	for _, n := range apiNodes {
		snap.Nodes = append(snap.Nodes, snapshot.Node{
			Name: n.Name, Running: *n.Running, MemAlarm: n.MemAlarm, DiskAlarm: n.DiskFreeAlarm,
			Partitions: len(n.Partitions), FDUsed: n.FDUsed, FDLimit: n.FDTotal,
		})
	}
	slices.SortFunc(snap.Nodes, func(a, b snapshot.Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(snap.Queues, func(a, b snapshot.Queue) int {
		if c := strings.Compare(a.Vhost, b.Vhost); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
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
	snap.ResponseBytes = s.client.BytesRead() - read0
	return snap, nil
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

// listQueues reads the queue listing in the cheapest way the broker
// offers: one request for every queue, or, for a target with a vhost
// filter on a broker that lists per vhost, one request per watched vhost,
// at most maxConcurrentListings at a time.
func (s *Source) listQueues(ctx context.Context, version string, history sampleHistory) (queueListing, error) {
	filtered := s.target.Vhosts.Include != nil || s.target.Vhosts.Exclude != nil
	if !filtered || !perVhostListing(version) {
		var l queueListing
		_, err := s.client.queues(ctx, queuesPath(version), history, s.collectQueue(&l))
		return l, err
	}
	vhosts, _, err := s.client.vhosts(ctx)
	if err != nil {
		return queueListing{}, err
	}
	vhosts = slices.DeleteFunc(vhosts, func(v string) bool { return !s.target.Vhosts.Match(v) })
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
			_, err := s.client.queues(ctx, "queues/"+url.PathEscape(v), history, s.collectQueue(&listings[i]))
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

// isNotFound reports whether err is the broker's 404.
func isNotFound(err error) bool {
	var re *snapshot.ReadError
	return errors.As(err, &re) && re.Reason == snapshot.ReasonHTTPStatus && re.StatusCode == http.StatusNotFound
}

// collectQueue returns the function that takes each decoded queue of a
// listing into l.
func (s *Source) collectQueue(l *queueListing) func(*apiQueue) {
	return func(a *apiQueue) {
		if !s.target.Vhosts.Match(a.Vhost) || !s.target.Queues.Match(a.Name) {
			l.filteredOut = append(l.filteredOut, snapshot.QueueKey{Vhost: intern(a.Vhost), Name: intern(a.Name)})
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

// topology reads the exchanges and bindings dead-letter discovery
// follows.
func (c *client) topology(ctx context.Context) (*snapshot.Topology, error) {
	xs, err := c.exchanges(ctx)
	if err != nil {
		return nil, err
	}
	bs, err := c.bindings(ctx)
	if err != nil {
		return nil, err
	}
	topo := &snapshot.Topology{ExchangeTypes: make(map[snapshot.QueueKey]string, len(xs)), Bindings: make([]snapshot.Binding, 0, len(bs))}
	for _, x := range xs {
		topo.ExchangeTypes[snapshot.QueueKey{Vhost: x.Vhost, Name: x.Name}] = x.Type
	}
	for _, b := range bs {
		topo.Bindings = append(topo.Bindings, snapshot.Binding{Vhost: b.Vhost, Source: b.Source, Destination: b.Destination, DestinationType: b.DestinationType, RoutingKey: b.RoutingKey})
	}
	return topo, nil
}
