// Package probes runs warren's synthetic probes: small persistent messages
// published with confirms and consumed back on a separate connection, per
// target, node and queue type, measuring what a real publisher and
// consumer experience and classifying every failure. They are the signal
// that still works when management statistics are off or stale.
//
// A Prober owns one amqpclient.Client per probed node and its probe
// objects, all named warren.probe.*: a durable direct exchange and, per
// warren instance, node and queue type, a durable queue with x-expires and
// a message TTL, so nothing accumulates when warren goes away.
//
// Import rule: it imports probes/amqpclient and internal/config only; the
// nodes to probe come in as a function, so it needs no snapshot or
// pipeline.
package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/probes/amqpclient"
)

// Outcome classifies one probe round.
type Outcome string

// The outcomes, the values of warren_probe_runs_total's outcome label.
const (
	OutcomeOK              Outcome = "ok"
	OutcomeNack            Outcome = "nack"
	OutcomeConfirmTimeout  Outcome = "confirm_timeout"
	OutcomeReturned        Outcome = "returned"
	OutcomeBlocked         Outcome = "blocked"
	OutcomeLost            Outcome = "lost"
	OutcomeConnectionError Outcome = "connection_error"
	OutcomeAuthError       Outcome = "auth_error"
	OutcomeChannelError    Outcome = "channel_error"
)

// AllOutcomes lists every outcome.
var AllOutcomes = []Outcome{OutcomeOK, OutcomeNack, OutcomeConfirmTimeout, OutcomeReturned, OutcomeBlocked,
	OutcomeLost, OutcomeConnectionError, OutcomeAuthError, OutcomeChannelError}

// ExchangeName is the probe exchange; every probe object's name starts with
// ObjectPrefix, so a probe user needs permissions on ^warren\.probe\. only.
const (
	ObjectPrefix = "warren.probe."
	ExchangeName = ObjectPrefix + "exchange"
)

// Headers of a probe message.
const (
	headerSeq      = "warren-seq"
	headerInstance = "warren-instance"
)

// Result is one probe round.
type Result struct {
	Cluster, Node, QueueType string
	Time                     time.Time // when the round started
	Outcome                  Outcome
	ConfirmLatency           time.Duration // 0 unless confirmed (acked or nacked)
	E2ELatency               time.Duration // 0 unless OutcomeOK
	Err                      error         // why, for anything but ok; never holds secrets
}

// Prober probes one target.
type Prober struct {
	target   config.Target
	instance string
	metrics  *Metrics
	logger   *slog.Logger
	// clusterNodes returns the node names the collector last saw, for
	// per-node probes without configured addresses.
	clusterNodes func() []string

	mu        sync.Mutex
	endpoints map[string]*endpoint // by node label

	// observers see every recorded result.
	observers []func(Result)
}

// OnResult makes f see every result the prober records, from the probing
// goroutines (f must be safe for concurrent use). Call it before Run.
func (p *Prober) OnResult(f func(Result)) { p.observers = append(p.observers, f) }

// NewProber prepares the probes of target t. clusterNodes may be nil when
// the target does not probe per node or names its nodes.
func NewProber(t config.Target, clusterNodes func() []string, metrics *Metrics, logger *slog.Logger) (*Prober, error) {
	if _, err := t.ProbeURL(); err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	return &Prober{
		target:       t,
		instance:     instanceID(),
		metrics:      metrics,
		logger:       logger.With("cluster", t.Name, "component", "probe"),
		clusterNodes: clusterNodes,
		endpoints:    map[string]*endpoint{},
	}, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// instanceID names this warren process in its probe queues, so that two
// replicas probing one cluster never consume each other's messages: the
// host name, which is the pod name on Kubernetes.
func instanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "warren"
	}
	return unsafeName.ReplaceAllString(host, "_")
}

// Run probes every interval until ctx is done, then closes every
// connection. A round never overlaps the previous one: a slow round
// delays the next instead of piling up.
func (p *Prober) Run(ctx context.Context) {
	defer p.Close()
	interval := p.target.Probes.Interval.Std()
	for {
		started := time.Now()
		p.RunOnce(ctx)
		wait := time.Until(started.Add(interval))
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// RunOnce runs one round on every node, nodes concurrently and queue types
// one after the other, records the results in the metrics and returns
// them. Rounds cut short by ctx (shutdown) are not recorded.
func (p *Prober) RunOnce(ctx context.Context) []Result {
	endpoints := p.currentEndpoints()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []Result
	)
	for _, e := range endpoints {
		wg.Go(func() {
			for _, qt := range p.target.Probes.QueueTypes {
				r := e.probe(ctx, qt, p.target.Probes.Timeout.Std())
				if ctx.Err() != nil {
					return
				}
				p.metrics.record(r)
				for _, f := range p.observers {
					f(r)
				}
				if r.Outcome != OutcomeOK {
					p.logger.Warn("probe failed", "node", r.Node, "queue_type", qt, "outcome", r.Outcome, "err", r.Err)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
			p.metrics.connection(p.target.Name, e.node, string(amqpclient.RolePublisher), e.client.Up(amqpclient.RolePublisher))
			p.metrics.connection(p.target.Name, e.node, string(amqpclient.RoleConsumer), e.client.Up(amqpclient.RoleConsumer))
		})
	}
	wg.Wait()
	slices.SortFunc(results, func(a, b Result) int {
		return strings.Compare(a.Node+"\x00"+a.QueueType, b.Node+"\x00"+b.QueueType)
	})
	return results
}

// Close closes every probe connection.
func (p *Prober) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, e := range p.endpoints {
		e.client.Close()
		delete(p.endpoints, name)
	}
}

// currentEndpoints returns the nodes to probe now, creating clients for
// new ones and closing those of nodes that left the cluster.
func (p *Prober) currentEndpoints() []*endpoint {
	want, err := p.wantedNodes()
	if err != nil {
		p.logger.Error("cannot build the probe URL", "err", err)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, e := range p.endpoints {
		if _, ok := want[name]; !ok {
			e.client.Close()
			delete(p.endpoints, name)
		}
	}
	out := make([]*endpoint, 0, len(want))
	for name, u := range want {
		e, ok := p.endpoints[name]
		if !ok || e.url != u.String() {
			if ok {
				e.client.Close()
			}
			e = p.newEndpoint(name, u)
			p.endpoints[name] = e
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *endpoint) int { return strings.Compare(a.node, b.node) })
	return out
}

// wantedNodes maps each node label to the URL to dial it at. Without
// per_node the single node label is the address of amqp_url.
func (p *Prober) wantedNodes() (map[string]*url.URL, error) {
	base, err := p.target.ProbeURL()
	if err != nil {
		return nil, err
	}
	if !p.target.Probes.PerNode {
		return map[string]*url.URL{base.Host: base}, nil
	}
	at := func(address string) *url.URL {
		u := *base
		u.Host = address
		return &u
	}
	want := map[string]*url.URL{}
	if len(p.target.Probes.Nodes) > 0 {
		for _, n := range p.target.Probes.Nodes {
			want[n.Name] = at(n.Address)
		}
		return want, nil
	}
	port := base.Port()
	if port == "" {
		port = "5672"
		if base.Scheme == "amqps" {
			port = "5671"
		}
	}
	if p.clusterNodes != nil {
		for _, name := range p.clusterNodes() {
			// A node is named rabbit@host: the host is where it listens.
			if _, host, ok := strings.Cut(name, "@"); ok && host != "" {
				want[name] = at(net.JoinHostPort(host, port))
			}
		}
	}
	return want, nil
}

func (p *Prober) newEndpoint(node string, u *url.URL) *endpoint {
	tlsConfig, _ := p.target.TLS.Build() // validated when the configuration loaded
	p.metrics.connection(p.target.Name, node, string(amqpclient.RolePublisher), false)
	p.metrics.connection(p.target.Name, node, string(amqpclient.RoleConsumer), false)
	for _, qt := range p.target.Probes.QueueTypes {
		p.metrics.initialise(p.target.Name, node, qt)
	}
	return &endpoint{
		cluster:     p.target.Name,
		node:        node,
		url:         u.String(),
		instance:    p.instance,
		messageSize: p.target.Probes.MessageSize,
		interval:    p.target.Probes.Interval.Std(),
		declared:    map[string]bool{},
		client: amqpclient.New(amqpclient.Config{
			URL:    u.String(),
			TLS:    tlsConfig,
			Name:   fmt.Sprintf("warren-probe/%s/%s", p.target.Name, node),
			Logger: p.logger.With("node", node),
		}),
	}
}

// endpoint is one probed node: its client and probe state. Only the
// prober's goroutine for this node touches it during a round.
type endpoint struct {
	cluster, node, url, instance string
	messageSize                  int
	interval                     time.Duration
	client                       *amqpclient.Client
	seq                          int64
	// declared records the queue types whose objects exist as far as this
	// endpoint knows; cleared after errors that suggest they may not.
	declared map[string]bool
}

// queueName is the probe queue of this instance, node and queue type.
func (e *endpoint) queueName(queueType string) string {
	return ObjectPrefix + e.instance + "." + unsafeName.ReplaceAllString(e.node, "_") + "." + queueType
}

func (e *endpoint) declare(ctx context.Context, queueType string) error {
	queue := e.queueName(queueType)
	// Expire the queue when no warren has used it for a while, and drop
	// messages nobody consumed, so a dead warren leaves nothing growing.
	args := amqp.Table{
		"x-expires":     max(10*e.interval, time.Minute).Milliseconds(),
		"x-message-ttl": max(2*e.interval, 30*time.Second).Milliseconds(),
	}
	if queueType == "quorum" {
		args["x-queue-type"] = "quorum"
		// Place the leader on the node this connection reached: the node
		// being probed.
		args["x-queue-leader-locator"] = "client-local"
	}
	return e.client.Declare(ctx, func(ch *amqp.Channel) error {
		if err := ch.ExchangeDeclare(ExchangeName, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
			return err
		}
		if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
			return err
		}
		return ch.QueueBind(queue, queue, ExchangeName, false, nil)
	})
}

// probe runs one round: declare if needed, make sure the consumer is
// attached, publish, wait for the confirm, then for the delivery.
func (e *endpoint) probe(parent context.Context, queueType string, timeout time.Duration) Result {
	r := Result{Cluster: e.cluster, Node: e.node, QueueType: queueType, Time: time.Now()}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	fail := func(err error) Result {
		r.Outcome, r.Err = classify(err)
		if r.Outcome != OutcomeBlocked && r.Outcome != OutcomeConfirmTimeout {
			e.declared[queueType] = false
		}
		return r
	}
	queue := e.queueName(queueType)
	if !e.declared[queueType] {
		if err := e.declare(ctx, queueType); err != nil {
			return fail(err)
		}
		e.declared[queueType] = true
	}
	deliveries, err := e.client.Consume(ctx, queue)
	if err != nil {
		return fail(err)
	}

	e.seq++
	seq := e.seq
	msg := amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		Timestamp:    time.Now(),
		MessageId:    fmt.Sprintf("%s-%d", e.instance, seq),
		Headers:      amqp.Table{headerSeq: seq, headerInstance: e.instance},
		Body:         make([]byte, e.messageSize),
	}
	sent := time.Now()
	confirmation, err := e.client.Publish(ctx, ExchangeName, queue, msg)
	if err != nil {
		return fail(err)
	}
	r.ConfirmLatency = confirmation.Latency
	switch {
	case confirmation.Returned:
		// Unroutable: the binding or the queue is gone. Redeclare next time.
		e.declared[queueType] = false
		r.Outcome, r.Err = OutcomeReturned, errors.New("the broker returned the probe message as unroutable")
		return r
	case !confirmation.Acked:
		r.Outcome, r.Err = OutcomeNack, errors.New("the broker nacked the probe message")
		return r
	}

	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				e.declared[queueType] = false
				r.Outcome, r.Err = OutcomeConnectionError, errors.New("the consumer connection closed before the probe message arrived")
				return r
			}
			if got, _ := d.Headers[headerSeq].(int64); got != seq {
				continue // a late message of an earlier round: already counted
			}
			r.E2ELatency = time.Since(sent)
			r.Outcome = OutcomeOK
			return r
		case <-ctx.Done():
			r.Outcome, r.Err = OutcomeLost, fmt.Errorf("confirmed but not consumed within %v", timeout)
			return r
		}
	}
}

// classify maps an error of the AMQP client to an outcome.
func classify(err error) (Outcome, error) {
	var connErr *amqpclient.ConnectError
	var chanErr *amqpclient.ChannelError
	switch {
	case errors.Is(err, amqpclient.ErrBlocked):
		return OutcomeBlocked, err
	case errors.Is(err, amqpclient.ErrConfirmTimeout):
		return OutcomeConfirmTimeout, err
	case errors.As(err, &connErr) && connErr.Auth:
		return OutcomeAuthError, err
	case errors.As(err, &chanErr):
		return OutcomeChannelError, err
	default:
		return OutcomeConnectionError, err
	}
}
