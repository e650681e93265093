package promplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// Source reads one target's statistics from its nodes' Prometheus plugin
// and its definitions from the management API. Read is not safe for
// concurrent use: the target's poller makes one read at a time.
type Source struct {
	target     config.Target
	management *management.Source
	endpoints  []*endpoint
	counters   *cumulative
	logger     *slog.Logger
	// uncovered are the running nodes no endpoint answered for at the
	// latest read, logged when they change.
	uncovered []string
}

// endpoint is one node's plugin.
type endpoint struct {
	url    string // as configured: config refuses credentials in it
	client *brokerhttp.Client
	// node is the node it answered for last (rabbitmq_identity_info).
	node string
}

// New returns the plugin source of t, reading the definitions through
// mgmt (the target's management source).
func New(t config.Target, mgmt *management.Source, logger *slog.Logger) (*Source, error) {
	tlsConfig, err := t.PrometheusTLS().Build()
	if err != nil {
		return nil, err
	}
	urls := t.PrometheusURLs()
	if len(urls) == 0 {
		return nil, errors.New("no Prometheus plugin URL")
	}
	s := &Source{target: t, management: mgmt, counters: newCumulative(), logger: logger.With("cluster", t.Name)}
	for _, u := range urls {
		c, err := brokerhttp.New(brokerhttp.Endpoint{
			What: "Prometheus plugin URL", BaseURL: u, Prefix: "/metrics/",
			Username: t.Prometheus.Username, Password: t.PrometheusPassword, TLS: tlsConfig, Timeout: t.Timeout.Std(),
			MaxResponseBytes: t.MaxResponseBytes(),
			AuthHint:         "check prometheus.username and its password (the plugin's authentication, RabbitMQ 3.13 and later)",
		})
		if err != nil {
			return nil, err
		}
		s.endpoints = append(s.endpoints, &endpoint{url: strings.TrimSuffix(u, "/"), client: c})
	}
	return s, nil
}

// Read reads the broker once: the management API's overview and
// definitions, then every node's plugin. start is the snapshot's time;
// the plugin keeps no sample history, so span is not used.
func (s *Source) Read(ctx context.Context, start time.Time, _ time.Duration) (*snapshot.Snapshot, error) {
	ov, err := s.management.Overview(ctx)
	if err != nil {
		return nil, err
	}
	return s.ReadAfter(ctx, ov, start)
}

// ReadAfter reads the broker after its overview ov.
func (s *Source) ReadAfter(ctx context.Context, ov *management.Overview, start time.Time) (*snapshot.Snapshot, error) {
	mgmt0, plugin0 := s.management.BytesRead(), s.pluginBytes()
	defs, err := s.management.Definitions(ctx, ov)
	if err != nil {
		return nil, err
	}
	watched := watchedQueues(defs)
	scrapes, err := s.scrapeAll(ctx, ov.RabbitMQVersion, defs, watched)
	if err != nil {
		return nil, err
	}
	snap := &snapshot.Snapshot{
		Cluster: s.target.Name, Time: start, Source: config.SourcePrometheus,
		RabbitMQVersion: ov.RabbitMQVersion, ErlangVersion: ov.ErlangVersion,
		ManagementVersion: ov.ManagementVersion, ClusterName: ov.ClusterName,
		Nodes: defs.Nodes, Queues: defs.Queues, Topology: defs.Topology,
	}
	s.fill(snap, scrapes)
	snap.Unroutable = s.unroutable(defs.Vhosts)
	management.SortSnapshot(snap)
	snap.ResponseBytes = ov.ResponseBytes + s.management.BytesRead() - mgmt0 + s.pluginBytes() - plugin0
	return snap, nil
}

func (s *Source) pluginBytes() int64 {
	var n int64
	for _, e := range s.endpoints {
		n += e.client.BytesRead()
	}
	return n
}

// watchedQueues are the keys of the queues the definitions list.
func watchedQueues(defs *management.Definitions) map[snapshot.QueueKey]bool {
	out := make(map[snapshot.QueueKey]bool, len(defs.Queues))
	for i := range defs.Queues {
		out[defs.Queues[i].Key()] = true
	}
	return out
}

// scrapeAll reads every endpoint, one at a time (their counters go into
// one set of sums), and returns the scrapes by node. An endpoint that
// fails fails the read, unless the node it last answered for is not
// running: then its series are kept as they were for when it is back.
func (s *Source) scrapeAll(ctx context.Context, version string, defs *management.Definitions, watched map[snapshot.QueueKey]bool) (map[string]*nodeScrape, error) {
	families := familiesFor(version)
	query := url.Values{"family": families}
	if defs.VhostsFiltered && len(defs.Vhosts) > 0 {
		// The plugin filters only the per-queue families by vhost;
		// warren filters the others itself.
		query["vhost"] = defs.Vhosts
	}
	watch, watchScraped, unknown := s.queueWatch(defs, watched)
	defer func() {
		if *unknown {
			s.management.ForgetDefinitions()
		}
	}()
	want := expectedMetrics(families)
	scrapes := map[string]*nodeScrape{}
	skipped := map[string]bool{}
	s.counters.begin()
	for _, e := range s.endpoints {
		scrape, err := e.scrape(ctx, query, watchScraped, s.counters, want)
		if err != nil && e.node != "" && !nodeRunning(defs.Nodes, e.node) {
			skipped[e.url] = true
			continue
		}
		if err != nil {
			return nil, err
		}
		if other := scrapes[scrape.node]; other != nil {
			// Its channels' counters would count twice.
			return nil, &snapshot.ReadError{Reason: snapshot.ReasonInvalidResponse, Op: "GET " + e.url + "/metrics/detailed",
				Err: fmt.Errorf("answers for node %s, as %s does: list each node's plugin once in prometheus.urls", scrape.node, other.endpoint)}
		}
		scrapes[scrape.node] = scrape
	}
	s.counters.end(skipped, func(t totalKey) bool { return watch(t.vhost, t.queue) })
	return scrapes, nil
}

// queueWatch returns what a scrape keeps: the series of the watched
// vhosts and queues (watch), and watch for the scrape itself
// (watchScraped), which also sets unknown where it meets a queue the
// filters pass but the definitions lack: one declared since they were
// listed, maybe in place of one deleted, so that the next poll lists
// them again.
func (s *Source) queueWatch(defs *management.Definitions, watched map[snapshot.QueueKey]bool) (watch, watchScraped func(vhost, queue string) bool, unknown *bool) {
	vhosts := make(map[string]bool, len(defs.Vhosts))
	for _, v := range defs.Vhosts {
		vhosts[v] = true
	}
	watch = func(vhost, queue string) bool {
		if queue == "" {
			return vhosts[vhost]
		}
		return watched[snapshot.QueueKey{Vhost: vhost, Name: queue}]
	}
	unknown = new(bool)
	watchScraped = func(vhost, queue string) bool {
		if watch(vhost, queue) {
			return true
		}
		if queue != "" && vhosts[vhost] && s.target.Queues.Match(queue) {
			*unknown = true
		}
		return false
	}
	return watch, watchScraped, unknown
}

func nodeRunning(nodes []snapshot.Node, name string) bool {
	for _, n := range nodes {
		if n.Name == name {
			return n.Running
		}
	}
	return false
}

// scrape reads the endpoint's /metrics/detailed.
func (e *endpoint) scrape(ctx context.Context, query url.Values, watch func(vhost, queue string) bool, counters *cumulative, want []string) (*nodeScrape, error) {
	var scrape *nodeScrape
	_, err := e.client.Get(ctx, "detailed", query, acceptHeader, func(body io.Reader) error {
		var err error
		if scrape, err = decodeScrape(body, e.url, watch, counters); err != nil {
			return err
		}
		return scrape.checkComplete(want)
	})
	if err != nil {
		var re *snapshot.ReadError
		if errors.As(err, &re) {
			named := *re
			named.Op = "GET " + e.url + "/metrics/detailed"
			return nil, &named
		}
		return nil, err
	}
	e.node = scrape.node
	return scrape, nil
}

// fill takes each queue's statistics from the scrape of its node, the
// file descriptors of each node from its own, and the counters from the
// sums; it logs the running nodes no endpoint answered for when they
// change.
func (s *Source) fill(snap *snapshot.Snapshot, scrapes map[string]*nodeScrape) {
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if scrape := scrapes[q.Node]; scrape != nil {
			fillQueue(q, scrape.queues[q.Key()])
		}
		fillCounters(q, s.counters.total(totalKey{q.Vhost, q.Name}))
	}
	var uncovered []string
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		if scrape := scrapes[n.Name]; scrape != nil {
			n.FDUsed, n.FDLimit, n.FDUnknown = int64(scrape.fdUsed), int64(scrape.fdLimit), false
		} else if n.Running {
			uncovered = append(uncovered, n.Name)
		}
	}
	if !slices.Equal(uncovered, s.uncovered) && len(uncovered) > 0 {
		s.logger.Warn("no Prometheus plugin URL answers for these running nodes: their queues have no statistics; list every node in prometheus.urls",
			"nodes", strings.Join(uncovered, ","))
	}
	s.uncovered = uncovered
}

// fillQueue takes a queue's gauges; a queue the plugin has not reported
// yet (just declared) keeps StatsKnown false.
func fillQueue(q *snapshot.Queue, v *queueValues) {
	if v == nil || !v.has[gaugeReady] || !v.has[gaugeUnacked] {
		return
	}
	q.StatsKnown = true
	q.Ready, q.Unacked = int64(v.values[gaugeReady]), int64(v.values[gaugeUnacked])
	q.Consumers = int64(v.values[gaugeConsumers])
	q.ConsumerCapacity, q.HasConsumerCapacity = v.values[gaugeConsumerCapacity], v.has[gaugeConsumerCapacity]
	if ts := v.values[gaugeHeadTimestamp]; v.has[gaugeHeadTimestamp] && ts > 0 {
		// The AMQP timestamp property: whole seconds.
		q.HeadTimestamp = time.Unix(int64(ts), 0)
	}
	q.MessageBytes = int64(v.values[gaugeMessageBytes])
}

// fillCounters turns a queue's sums into the counters the management API
// reports: deliver_get is every delivery and get, with or without ack.
func fillCounters(q *snapshot.Queue, t [counterKinds]float64) {
	c := func(k counterKind) uint64 { return uint64(t[k]) }
	q.Counters = snapshot.Counters{
		Published:       c(published),
		Delivered:       c(getManual) + c(getNoAck) + c(deliverManual) + c(deliverNoAck),
		Acked:           c(acked),
		Redelivered:     c(redelivered),
		DeliveredManual: c(getManual) + c(deliverManual),
		Completed:       c(acked) + c(deliverNoAck) + c(getNoAck),
	}
}

// unroutable is every watched vhost's unroutable counters, sorted.
func (s *Source) unroutable(vhosts []string) []snapshot.VhostUnroutable {
	out := make([]snapshot.VhostUnroutable, 0, len(vhosts))
	for _, v := range vhosts {
		t := s.counters.total(totalKey{vhost: v})
		out = append(out, snapshot.VhostUnroutable{Vhost: v, Dropped: uint64(t[unroutableDropped]), Returned: uint64(t[unroutableReturned])})
	}
	slices.SortFunc(out, func(a, b snapshot.VhostUnroutable) int { return strings.Compare(a.Vhost, b.Vhost) })
	return out
}
