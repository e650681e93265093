package promplugin

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// fakeBroker answers as a management API with statistics off and a
// plugin serving a fixture, and records the plugin's requests.
type fakeBroker struct {
	version, fixture, node string
	mu                     sync.Mutex
	pluginRequests         []*http.Request
}

func (f *fakeBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	json := func(body string) { w.Header().Set("Content-Type", "application/json"); io.WriteString(w, body) }
	switch r.URL.EscapedPath() {
	case "/metrics/detailed":
		f.mu.Lock()
		f.pluginRequests = append(f.pluginRequests, r)
		f.mu.Unlock()
		body, err := os.ReadFile("testdata/" + f.fixture)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(body)
	case "/api/overview":
		json(fmt.Sprintf(`{"rabbitmq_version":%q,"management_version":%q,"cluster_name":"c","erlang_version":"25.2.3","disable_stats":true}`, f.version, f.version))
	case "/api/nodes":
		json(fmt.Sprintf(`[{"name":%q,"type":"disc","running":true}]`, f.node))
	case "/api/health/checks/alarms":
		w.WriteHeader(http.StatusServiceUnavailable)
		json(fmt.Sprintf(`{"status":"failed","reason":"There are alarms in effect in the cluster","alarms":[{"node":%q,"resource":"memory"}]}`, f.node))
	case "/api/policies":
		json(`[{"vhost":"/","name":"ttl","pattern":"^q2$","apply-to":"queues","definition":{"message-ttl":60000},"priority":0}]`)
	case "/api/operator-policies":
		json(`[]`)
	case "/api/vhosts":
		json(`[{"name":"/"},{"name":"other"}]`)
	case "/api/queues/%2F":
		json(fmt.Sprintf(`[{"arguments":{},"name":"q1","node":%[1]q,"type":"classic","vhost":"/"},
			{"arguments":{},"name":"q1.dlq","node":%[1]q,"type":"classic","vhost":"/"},
			{"arguments":{"x-dead-letter-exchange":"dlx"},"name":"q2","node":%[1]q,"type":"classic","vhost":"/","policy":"ttl"},
			{"arguments":{"x-queue-type":"quorum"},"leader":%[1]q,"members":[%[1]q],"online":[%[1]q],"name":"qq","type":"quorum","vhost":"/"}]`, f.node))
	case "/api/exchanges":
		json(`[{"name":"dlx","vhost":"/","type":"fanout"}]`)
	case "/api/bindings":
		json(`[{"source":"dlx","vhost":"/","destination":"q1.dlq","destination_type":"queue","routing_key":""}]`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeBroker) start(t *testing.T) config.Target {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	include, err := config.NewRegexp("/")
	if err != nil {
		t.Fatal(err)
	}
	return config.Target{
		Name: "t", ManagementURL: srv.URL, Username: "monitoring", Password: "hunter2", Timeout: config.Duration(5 * time.Second),
		Source: config.SourceAuto, Prometheus: config.PrometheusConfig{URLs: []string{srv.URL}}, Vhosts: config.Filter{Include: include},
	}
}

func readAuto(t *testing.T, tg config.Target) *snapshot.Snapshot {
	t.Helper()
	mgmt, err := management.New(tg)
	if err != nil {
		t.Fatal(err)
	}
	plugin, err := New(tg, mgmt, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := NewAuto(mgmt, plugin).Read(context.Background(), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestAutoReadsAStatsOffBrokerFromThePluginWithItsDefinitions(t *testing.T) {
	for _, c := range []struct{ version, fixture, node string }{
		{"3.10.8", "detailed-3.10.8.txt", "warren-test-5664-1@localhost"},
		{"3.13.7", "detailed-3.13.7.txt", "rabbit@rmq-0"},
		{"4.3.5", "detailed-4.3.5.txt", "rabbit@rmq-0"},
	} {
		t.Run(c.version, func(t *testing.T) {
			f := &fakeBroker{version: c.version, fixture: c.fixture, node: c.node}
			snap := readAuto(t, f.start(t))
			if snap.Source != config.SourcePrometheus || snap.RabbitMQVersion != c.version {
				t.Errorf("source %q, version %q", snap.Source, snap.RabbitMQVersion)
			}
			names := make([]string, len(snap.Queues))
			for i, q := range snap.Queues {
				names[i] = q.Name
				if !q.StatsKnown {
					t.Errorf("%s: statistics unknown", q.Name)
				}
			}
			if !slices.Equal(names, []string{"q1", "q1.dlq", "q2", "qq"}) {
				t.Fatalf("queues %v", names)
			}
			q1, q2, qq := snap.Queues[0], snap.Queues[2], snap.Queues[3]
			if q1.Ready != 2 || q1.Counters != (snapshot.Counters{Published: 3, Delivered: 1, Acked: 1, DeliveredManual: 1, Completed: 1}) || q1.HeadTimestamp.Unix() != 1796134340 {
				t.Errorf("q1: ready %d, counters %+v, head %v", q1.Ready, q1.Counters, q1.HeadTimestamp)
			}
			if qq.Node != c.node || qq.Ready != 1 || qq.Unacked != 1 || qq.Consumers != 1 || !qq.HasConsumerCapacity || qq.Counters.DeliveredManual != 1 {
				t.Errorf("qq: %+v", qq)
			}
			if !q2.HasMessageTTL || q2.MessageTTL != time.Minute || !q2.HasDeadLetterExchange || q2.DeadLetterExchange != "dlx" {
				t.Errorf("q2's policy and arguments: TTL %v %v, DLX %q %v", q2.MessageTTL, q2.HasMessageTTL, q2.DeadLetterExchange, q2.HasDeadLetterExchange)
			}
			if snap.Topology == nil || len(snap.Topology.Bindings) != 1 {
				t.Errorf("topology %+v, want the DLX's binding", snap.Topology)
			}
			n := snap.Nodes[0]
			if !n.Running || !n.MemAlarm || n.DiskAlarm || n.FDUsed != 41 || n.FDLimit != 20000 || n.FDUnknown || !n.PartitionsUnknown {
				t.Errorf("node %+v", n)
			}
			if len(snap.Unroutable) != 1 || snap.Unroutable[0] != (snapshot.VhostUnroutable{Vhost: "/"}) {
				t.Errorf("unroutable %+v, want vhost / at zero", snap.Unroutable)
			}
			r := f.pluginRequests[0]
			if got := r.URL.Query(); !slices.Equal(got["family"], familiesFor(c.version)) || !slices.Equal(got["vhost"], []string{"/"}) {
				t.Errorf("plugin asked for %v, want families %v and vhost /", got, familiesFor(c.version))
			}
			if r.Header.Get("Authorization") != "" {
				t.Error("credentials sent to a plugin without a prometheus username")
			}
			if !strings.Contains(r.Header.Get("Accept"), "text/plain") {
				t.Errorf("Accept %q", r.Header.Get("Accept"))
			}
		})
	}
}

func TestPluginCredentialsAreSentOnlyWhenConfigured(t *testing.T) {
	f := &fakeBroker{version: "4.3.5", fixture: "detailed-4.3.5.txt", node: "rabbit@rmq-0"}
	tg := f.start(t)
	tg.Prometheus.Username, tg.Prometheus.Password = "scraper", "s3cret"
	readAuto(t, tg)
	user, pw, ok := f.pluginRequests[0].BasicAuth()
	if !ok || user != "scraper" || pw != "s3cret" {
		t.Errorf("plugin basic auth %q %q %v, want scraper", user, pw, ok)
	}
}

func TestAPluginURLThatAnswersGarbageFailsThePollNamingIt(t *testing.T) {
	f := &fakeBroker{version: "3.10.8", fixture: "detailed-4.0.0-queue_exchange_metrics.txt", node: "rabbit@rmq-0"}
	tg := f.start(t)
	mgmt, _ := management.New(tg)
	plugin, _ := New(tg, mgmt, slog.New(slog.DiscardHandler))
	_, err := NewAuto(mgmt, plugin).Read(context.Background(), time.Now(), time.Minute)
	u, _ := url.Parse(tg.Prometheus.URLs[0])
	if err == nil || !strings.Contains(err.Error(), "invalid_response") || !strings.Contains(err.Error(), u.Host+"/metrics/detailed") {
		t.Errorf("err = %v, want an invalid_response naming the plugin URL", err)
	}
}

func TestTwoURLsOfOneNodeFailThePollRatherThanCountItsChannelsTwice(t *testing.T) {
	f := &fakeBroker{version: "3.10.8", fixture: "detailed-3.10.8.txt", node: "warren-test-5664-1@localhost"}
	tg := f.start(t)
	tg.Prometheus.URLs = append(tg.Prometheus.URLs, strings.Replace(tg.Prometheus.URLs[0], "127.0.0.1", "localhost", 1))
	mgmt, _ := management.New(tg)
	plugin, _ := New(tg, mgmt, slog.New(slog.DiscardHandler))
	_, err := NewAuto(mgmt, plugin).Read(context.Background(), time.Now(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "list each node's plugin once") {
		t.Errorf("err = %v, want the duplicate named", err)
	}
}

// The plugin over TLS: a plain management API, and the plugin's own
// tls_config trusting its CA; without it the poll is a tls error.
func TestPluginOverTLSTrustsItsOwnConfiguredCA(t *testing.T) {
	f := &fakeBroker{version: "3.10.8", fixture: "detailed-3.10.8.txt", node: "warren-test-5664-1@localhost"}
	tg := f.start(t)
	tlsServer := httptest.NewTLSServer(f)
	t.Cleanup(tlsServer.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsServer.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tg.Prometheus.URLs = []string{tlsServer.URL}
	mgmt, _ := management.New(tg)
	plugin, _ := New(tg, mgmt, slog.New(slog.DiscardHandler))
	var re *snapshot.ReadError
	if _, err := NewAuto(mgmt, plugin).Read(context.Background(), time.Now(), time.Minute); !errors.As(err, &re) || re.Reason != snapshot.ReasonTLS {
		t.Errorf("without the CA: err = %v, want a tls error", err)
	}
	tg.Prometheus.TLS = &config.TLSConfig{CAFile: caFile, ServerName: "example.com"}
	if snap := readAuto(t, tg); snap.Source != config.SourcePrometheus || !snap.Queues[0].StatsKnown {
		t.Errorf("with the CA: source %q, statistics known %v", snap.Source, snap.Queues[0].StatsKnown)
	}
}
