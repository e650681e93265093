package management

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// The contract suite: one broker state (the scenario), decoded by the
// real Source, checked by the same assertions on every RabbitMQ version
// warren supports. Versions that cannot run here answer from fixtures
// built from their own sources (testdata/contract/<version>, each with a
// SOURCES.md saying where every field comes from); 3.10 answers from a
// live node set up into the same state, so fixtures and reality are held
// to one test.
//
// The scenario, all in vhost "/" on one node:
//   - contract.classic: classic, x-message-ttl 1 day, a policy with
//     max-length 1000 (and ha-mode all where mirroring exists, before
//     4.0); 5 messages of 5 bytes stamped 1767225600 published, 2 taken
//     by basic.get and acked.
//   - contract.idle: classic, nothing ever happened to it.
//   - contract.quorum: quorum; 4 published, delivered to one consumer
//     (prefetch 10, manual ack) that acked the first and holds 3.
//   - contract.stream: stream; 3 published, no consumer.
const (
	contractStamp    = 1767225600 // the AMQP timestamp of contract.classic's messages
	fixtureNode      = "rabbit@contract-1"
	contractSettling = 60 * time.Second // how long a live broker gets to report the scenario
)

// contractRow is one broker version of the suite.
type contractRow struct {
	version string
	// start serves the version's management API at the returned base URL,
	// from a node named node; settle is how long its statistics may take
	// to show the scenario (0: they already do).
	start  func(t *testing.T) (baseURL, node string)
	settle time.Duration
}

func contractRows() []contractRow {
	rows := []contractRow{{version: "3.10.8", start: startLiveContractNode, settle: contractSettling}}
	for _, v := range []string{"3.13.7", "4.0.9", "4.1.8", "4.2.9", "4.3.5"} {
		rows = append(rows, contractRow{version: v, start: func(t *testing.T) (string, string) {
			return servePerQueueFixtures(t, v), fixtureNode
		}})
	}
	return rows
}

func TestEveryBrokerVersionDecodesTheContractScenario(t *testing.T) {
	for _, row := range contractRows() {
		t.Run(row.version, func(t *testing.T) {
			t.Parallel()
			base, node := row.start(t)
			rec := recordRequests(t, base)
			src, err := New(contractTarget(rec.url))
			if err != nil {
				t.Fatal(err)
			}
			snap, problems := readUntilSettled(src, row.version, node, row.settle)
			for _, p := range problems {
				t.Error(p)
			}
			if snap == nil {
				return
			}
			want := src.RequestsOf(row.version, time.Second).Poll
			want = append(want, "stream/consumers") // the scenario has a stream
			if got := rec.last(len(want)); !slices.Equal(got, want) {
				t.Errorf("the poll asked for\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			readAsALargeTarget(t, src, rec, row.version, node)
			if ov, err := src.Overview(t.Context()); err != nil || !ov.QueuesCounted || ov.Queues != 4 {
				t.Errorf("overview %+v (%v): want the scenario's 4 queues counted (object_totals.queues)", ov, err)
			}
		})
	}
}

// contractTarget is the target of the suite: sample history over a
// one-second stats interval, and nothing that needs the topology.
func contractTarget(baseURL string) config.Target {
	return config.Target{
		Name: "contract", ManagementURL: baseURL, Username: "guest", Password: "guest",
		Timeout: config.Duration(10 * time.Second), StatsInterval: config.Duration(time.Second),
	}
}

// readUntilSettled reads src until the snapshot shows the scenario or
// settle has passed, and returns the last snapshot and what it still
// gets wrong.
func readUntilSettled(src *Source, version, node string, settle time.Duration) (*snapshot.Snapshot, []string) {
	deadline := time.Now().Add(settle)
	for {
		snap, err := src.Read(context.Background(), time.Now(), time.Second)
		var problems []string
		if err != nil {
			problems = []string{fmt.Sprintf("read: %v", err)}
		} else {
			problems = checkContract(snap, version, node)
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			return snap, problems
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkContract lists how snap differs from the scenario on a broker of
// version whose one node is node.
func checkContract(snap *snapshot.Snapshot, version, node string) []string {
	var p problems
	p.expect(snap.RabbitMQVersion == version, "rabbitmq_version %q, want %q", snap.RabbitMQVersion, version)
	p.expect(snap.ManagementVersion == version, "management_version %q, want %q", snap.ManagementVersion, version)
	p.expect(snap.ErlangVersion != "" && snap.ClusterName != "", "erlang_version %q, cluster_name %q: want both", snap.ErlangVersion, snap.ClusterName)
	wantNode := snapshot.Node{Name: node, Running: true}
	if len(snap.Nodes) != 1 {
		p.add("nodes %+v, want one: %s", snap.Nodes, node)
	} else if n := snap.Nodes[0]; n.Name != node || !n.Running || n.MemAlarm || n.DiskAlarm || n.Partitions != 0 || n.FDUsed <= 0 || n.FDLimit < n.FDUsed {
		p.add("node %+v, want %+v with file descriptors used and a limit above them", n, wantNode)
	}
	p.expect(slices.Equal(snap.Unroutable, []snapshot.VhostUnroutable{{Vhost: "/"}}), "unroutable counters %+v, want vhost / at zero", snap.Unroutable)
	p.expect(!snap.StreamConsumersKnown, "stream consumers known: the stream management plugin is not enabled")
	names := make([]string, len(snap.Queues))
	for i, q := range snap.Queues {
		names[i] = q.Name
	}
	if !slices.Equal(names, []string{"contract.classic", "contract.idle", "contract.quorum", "contract.stream"}) {
		p.add("queues %v, want the scenario's four", names)
		return p
	}
	for i, check := range []func(*problems, snapshot.Queue){checkClassic, checkIdle, checkQuorum, checkStream} {
		q := snap.Queues[i]
		p.expect(q.Vhost == "/" && q.Node == node && q.StatsKnown, "%s: vhost %q, node %q, stats known %v; want /, %s, true", q.Name, q.Vhost, q.Node, q.StatsKnown, node)
		p.expect(timesIncrease(q.Samples) && timesIncrease(q.DeliverySamples), "%s: sample times do not increase", q.Name)
		check(&p, q)
	}
	return p
}

func checkClassic(p *problems, q snapshot.Queue) {
	p.depth(q, "classic", 3, 0, 0)
	p.counters(q, snapshot.Counters{Published: 5, Delivered: 2, Acked: 2, Completed: 2, DeliveredManual: 2})
	p.expect(q.HasConsumerCapacity && q.ConsumerCapacity == 0, "%s: consumer capacity (%v, %v), want 0 without consumers", q.Name, q.ConsumerCapacity, q.HasConsumerCapacity)
	p.expect(q.HeadTimestamp.Equal(time.Unix(contractStamp, 0)), "%s: head timestamp %v, want %v", q.Name, q.HeadTimestamp, time.Unix(contractStamp, 0))
	p.expect(q.MessageBytes == 15, "%s: message bytes %d, want 15", q.Name, q.MessageBytes)
	p.expect(q.HasMessageTTL && q.MessageTTL == 24*time.Hour, "%s: message TTL (%v, %v), want 24h from x-message-ttl", q.Name, q.MessageTTL, q.HasMessageTTL)
	p.expect(q.Limit.HasMaxLength && q.Limit.MaxLength == 1000, "%s: limit %+v, want max-length 1000 from the policy", q.Name, q.Limit)
	p.newest(q.Name, "samples", q.Samples, snapshot.Sample{Published: 5, Messages: 3, Completed: 2})
	p.newest(q.Name, "delivery samples", q.DeliverySamples, snapshot.Sample{Published: 2, Messages: 0, Completed: 2})
}

func checkIdle(p *problems, q snapshot.Queue) {
	p.depth(q, "classic", 0, 0, 0)
	p.counters(q, snapshot.Counters{})
	p.expect(q.HasConsumerCapacity && q.ConsumerCapacity == 0, "%s: consumer capacity (%v, %v), want 0", q.Name, q.ConsumerCapacity, q.HasConsumerCapacity)
	p.expect(q.HeadTimestamp.IsZero() && q.MessageBytes == 0, "%s: head timestamp %v, bytes %d; want none", q.Name, q.HeadTimestamp, q.MessageBytes)
	p.expect(q.Samples == nil && q.DeliverySamples == nil, "%s: samples %v %v, want none: nothing was ever published", q.Name, q.Samples, q.DeliverySamples)
}

func checkQuorum(p *problems, q snapshot.Queue) {
	p.depth(q, "quorum", 0, 3, 1)
	p.counters(q, snapshot.Counters{Published: 4, Delivered: 4, Acked: 1, Completed: 1, DeliveredManual: 4})
	p.expect(q.HasConsumerCapacity && q.ConsumerCapacity >= 0 && q.ConsumerCapacity <= 1, "%s: consumer capacity (%v, %v), want one in [0, 1]", q.Name, q.ConsumerCapacity, q.HasConsumerCapacity)
	p.expect(q.HeadTimestamp.IsZero(), "%s: head timestamp %v: quorum queues report none", q.Name, q.HeadTimestamp)
	p.newest(q.Name, "samples", q.Samples, snapshot.Sample{Published: 4, Messages: 3, Completed: 1})
	p.newest(q.Name, "delivery samples", q.DeliverySamples, snapshot.Sample{Published: 4, Messages: 3, Completed: 1})
	one := []string{q.Node}
	p.expect(q.HasReplicas && slices.Equal(q.Replicas.Members, one) && slices.Equal(q.Replicas.Online, one) && q.Replicas.Leader == q.Node,
		"%s: replicas %+v (known %v), want its one node as member, online and leader", q.Name, q.Replicas, q.HasReplicas)
}

func checkStream(p *problems, q snapshot.Queue) {
	p.depth(q, "stream", 3, 0, 0)
	p.counters(q, snapshot.Counters{Published: 3})
	p.expect(!q.HasConsumerCapacity && q.HeadTimestamp.IsZero(), "%s: consumer capacity %v, head timestamp %v: streams report neither", q.Name, q.HasConsumerCapacity, q.HeadTimestamp)
	p.newest(q.Name, "samples", q.Samples, snapshot.Sample{Published: 3, Messages: 3})
	p.expect(q.DeliverySamples == nil, "%s: delivery samples %v, want none: nothing was delivered", q.Name, q.DeliverySamples)
	p.expect(!q.HasReplicas, "%s: replicas %+v: only quorum queues have a Raft group warren reads", q.Name, q.Replicas)
}

// problems collects the differences from the scenario.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p *problems) expect(ok bool, format string, args ...any) {
	if !ok {
		p.add(format, args...)
	}
}

func (p *problems) depth(q snapshot.Queue, typ string, ready, unacked, consumers int64) {
	p.expect(q.Type == typ && q.Ready == ready && q.Unacked == unacked && q.Consumers == consumers,
		"%s: type %s, ready %d, unacked %d, consumers %d; want %s, %d, %d, %d", q.Name, q.Type, q.Ready, q.Unacked, q.Consumers, typ, ready, unacked, consumers)
}

func (p *problems) counters(q snapshot.Queue, want snapshot.Counters) {
	p.expect(q.Counters == want, "%s: counters %+v, want %+v", q.Name, q.Counters, want)
}

// newest checks the newest sample's values; the broker's timestamps vary.
func (p *problems) newest(queue, what string, samples []snapshot.Sample, want snapshot.Sample) {
	if len(samples) == 0 {
		p.add("%s: no %s, want the newest to be %+v", queue, what, want)
		return
	}
	got := samples[len(samples)-1]
	got.Time = time.Time{}
	p.expect(got == want, "%s: newest of %s %+v, want %+v", queue, what, got, want)
}

func timesIncrease(samples []snapshot.Sample) bool {
	for i := 1; i < len(samples); i++ {
		if !samples[i-1].Time.Before(samples[i].Time) {
			return false
		}
	}
	return true
}

// serveFixtures serves the fixture files of version the way the broker
// serves the endpoints; other paths answer as the broker does for a path
// no plugin of it serves. extra maps more paths to files, in pairs.
func serveFixtures(t *testing.T, version string, extra ...string) string {
	return serveBodies(t, fixtureBodies(t, version, extra...))
}

// fixtureBodies returns the body of each endpoint a poll reads from the
// fixture files of version, and of the extra paths (path, file pairs).
func fixtureBodies(t *testing.T, version string, extra ...string) func(path string) ([]byte, bool) {
	files := map[string]string{
		"/api/overview": "overview.json", "/api/nodes": "nodes.json",
		"/api/queues/detailed": "queues-detailed.json", "/api/vhosts": "vhosts.json",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		files[extra[i]] = extra[i+1]
	}
	return func(path string) ([]byte, bool) {
		name, ok := files[path]
		if !ok {
			return nil, false
		}
		return []byte(fixture(t, version, name)), true
	}
}

// fixture returns the contents of a fixture file of version.
func fixture(t *testing.T, version, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "contract", version, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serveBodies serves the JSON body that bodyOf gives each path, and
// answers the paths it has none for as the broker does.
func serveBodies(t *testing.T, bodyOf func(path string) ([]byte, bool)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodyOf(r.URL.Path)
		if !ok {
			brokerNotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// brokerNotFound answers as the management plugin does for a path under
// /api/ that no handler serves (such as /api/stream/consumers without
// rabbitmq_stream_management): the path falls through to its static
// files (rabbit_mgmt_dispatcher's "/[...]" route, cowboy_static), whose
// content negotiation refuses a request that accepts only JSON with an
// empty 406 before it finds no file, and answers any other request 404.
func brokerNotFound(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Accept") == "application/json" {
		w.WriteHeader(http.StatusNotAcceptable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"error":"Object Not Found","reason":"Not Found"}`)
}

// requestRecorder is a reverse proxy that records the requests of a poll,
// path and query under /api/, in order.
type requestRecorder struct {
	url  string
	mu   sync.Mutex
	seen []string
}

func recordRequests(t *testing.T, base string) *requestRecorder {
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rec := &requestRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		req := strings.TrimPrefix(r.URL.EscapedPath(), "/api/")
		if r.URL.RawQuery != "" {
			req += "?" + r.URL.RawQuery
		}
		rec.seen = append(rec.seen, req)
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.url = srv.URL
	return rec
}

// last returns the last n requests.
func (r *requestRecorder) last(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[max(0, len(r.seen)-n):])
}

func TestTheReducedQueueListingOf313KeepsEveryFieldWarrenReadsButTheSampleHistory(t *testing.T) {
	base := serveFixtures(t, "3.13.7", "/api/queues", "queues-reduced.json")
	c, err := newClient(base, "guest", func() (string, error) { return "guest", nil }, nil, 10*time.Second, int64(config.DefaultMaxResponseSize))
	if err != nil {
		t.Fatal(err)
	}
	list := func(path string, history sampleHistory) []snapshot.Queue {
		var qs []snapshot.Queue
		if _, err := c.queues(context.Background(), path, historyQuery(history), func(a *apiQueue) { qs = append(qs, queueFromAPI(a, nil)) }); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return qs
	}
	reduced := list("queues", sampleHistory{})
	detailed := list("queues/detailed", sampleHistory{age: 4 * time.Second, incr: time.Second, deliveries: true})
	if len(detailed) != 4 || detailed[0].Samples == nil {
		t.Fatalf("the detailed listing decodes to %d queues, the first with samples %v: want the scenario's four, with history", len(detailed), detailed[0].Samples)
	}
	for i := range detailed {
		detailed[i].Samples, detailed[i].DeliverySamples = nil, nil
	}
	if !slices.EqualFunc(reduced, detailed, func(a, b snapshot.Queue) bool { return reflect.DeepEqual(a, b) }) {
		t.Errorf("the reduced listing decodes to\n%+v\nthe detailed one (sample history aside) to\n%+v", reduced, detailed)
	}
}
