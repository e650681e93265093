package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// broker is the private node these tests start for themselves.
var broker *rabbittest.Node

func TestMain(m *testing.M) {
	rabbittest.Main(m, rabbittest.Options{}, func(n *rabbittest.Node) { broker = n })
}

func probeTarget(name, vhost string) config.Target {
	t := config.Target{
		Name: name, ManagementURL: broker.MgmtURL, Username: "guest", Password: "guest",
		AMQPURL: config.Secret(broker.AMQPURL),
		Probes: config.ProbesConfig{
			Interval:    config.Duration(time.Second),
			Timeout:     config.Duration(3 * time.Second),
			Vhost:       vhost,
			QueueTypes:  []string{"classic", "quorum"},
			MessageSize: 64,
		},
	}
	return t
}

type harness struct {
	prober  *Prober
	metrics *Metrics
	reg     *prometheus.Registry
	logs    *logbuf.Buffer
}

func newHarness(t testing.TB, target config.Target, nodes func() []string) *harness {
	t.Helper()
	h := &harness{metrics: NewMetrics(), reg: prometheus.NewRegistry(), logs: &logbuf.Buffer{}}
	h.reg.MustRegister(h.metrics.Collectors()...)
	logger := h.logs.Logger()
	p, err := NewProber(target, nodes, h.metrics, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	h.prober = p
	return h
}

// outcomes runs one round and returns outcome by queue type.
func (h *harness) outcomes(t *testing.T) map[string]Result {
	t.Helper()
	out := map[string]Result{}
	for _, r := range h.prober.RunOnce(context.Background()) {
		out[r.QueueType] = r
	}
	return out
}

// metricsText renders the registry as the exposition format.
func (h *harness) metricsText(t *testing.T) string {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range families {
		expfmt.MetricFamilyToText(&b, mf)
	}
	return b.String()
}

func addVhost(t *testing.T, vhost string) {
	t.Helper()
	if err := broker.AddVhost(vhost); err != nil {
		t.Fatal(err)
	}
	if err := broker.SetPermissions(vhost, "guest", ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
}

func TestProbeRoundsSucceedWithPlausibleLatencies(t *testing.T) {
	addVhost(t, "plausible")
	h := newHarness(t, probeTarget("plausible", "plausible"), nil)
	for range 3 {
		for qt, r := range h.outcomes(t) {
			if r.Outcome != OutcomeOK {
				t.Fatalf("%s: outcome %s: %v", qt, r.Outcome, r.Err)
			}
			if r.ConfirmLatency <= 0 || r.ConfirmLatency >= 3*time.Second {
				t.Errorf("%s: confirm latency %v, want in (0, timeout)", qt, r.ConfirmLatency)
			}
			// Both are measured from the publish on one monotonic clock;
			// the confirm starts a hair later, never after the delivery.
			if r.E2ELatency+time.Millisecond < r.ConfirmLatency {
				t.Errorf("%s: end-to-end %v shorter than confirm %v", qt, r.E2ELatency, r.ConfirmLatency)
			}
		}
	}
	text := h.metricsText(t)
	node := strings.TrimPrefix(broker.AMQPURL, "amqp://guest:guest@")
	node = strings.TrimSuffix(node, "/")
	for _, qt := range []string{"classic", "quorum"} {
		for _, want := range []string{
			fmt.Sprintf(`warren_probe_runs_total{cluster="plausible",node=%q,outcome="ok",queue_type=%q} 3`, node, qt),
			fmt.Sprintf(`warren_probe_runs_total{cluster="plausible",node=%q,outcome="lost",queue_type=%q} 0`, node, qt),
			fmt.Sprintf(`warren_probe_confirm_latency_seconds_count{cluster="plausible",node=%q,queue_type=%q} 3`, node, qt),
			fmt.Sprintf(`warren_probe_e2e_latency_seconds_count{cluster="plausible",node=%q,queue_type=%q} 3`, node, qt),
			fmt.Sprintf(`warren_probe_connection_up{cluster="plausible",node=%q,role="publisher"} 1`, node),
			fmt.Sprintf(`warren_probe_connection_up{cluster="plausible",node=%q,role="consumer"} 1`, node),
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	}
	if !strings.Contains(text, "warren_probe_last_success_timestamp_seconds{") {
		t.Error("no last success timestamp")
	}
}

// mgmt calls the test broker's management API as guest.
func mgmt(t *testing.T, method, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, broker.MgmtURL+"/api/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnroutablePublishIsReturnedNotOK(t *testing.T) {
	addVhost(t, "unroutable")
	target := probeTarget("unroutable", "unroutable")
	target.Probes.QueueTypes = []string{"classic"}
	h := newHarness(t, target, nil)
	if r := h.outcomes(t)["classic"]; r.Outcome != OutcomeOK {
		t.Fatalf("first round: %s %v", r.Outcome, r.Err)
	}
	// Remove the probe binding behind warren's back.
	var bindings []struct {
		S string `json:"source"`
		D string `json:"destination"`
		P string `json:"properties_key"`
	}
	mgmt(t, http.MethodGet, "bindings/unroutable", &bindings)
	removed := 0
	for _, b := range bindings {
		if b.S == ExchangeName {
			mgmt(t, http.MethodDelete, "bindings/unroutable/e/"+url.PathEscape(b.S)+"/q/"+url.PathEscape(b.D)+"/"+url.PathEscape(b.P), nil)
			removed++
		}
	}
	if removed != 1 {
		t.Fatalf("removed %d probe bindings, want 1", removed)
	}
	if r := h.outcomes(t)["classic"]; r.Outcome != OutcomeReturned {
		t.Errorf("after unbinding: %s %v, want returned", r.Outcome, r.Err)
	}
	if r := h.outcomes(t)["classic"]; r.Outcome != OutcomeOK {
		t.Errorf("the round after a return redeclares the binding: got %s %v", r.Outcome, r.Err)
	}
}

func TestWrongPasswordIsAnAuthErrorAndNeverLogged(t *testing.T) {
	target := probeTarget("badpw", "")
	target.AMQPURL = config.Secret(strings.Replace(broker.AMQPURL, "guest:guest", "guest:wrong-secret-pw", 1))
	target.Probes.QueueTypes = []string{"classic"}
	// RabbitMQ holds a refused login for about 3s before it closes the
	// connection, to slow down password guessing: the timeout must cover it.
	target.Probes.Timeout = config.Duration(6 * time.Second)
	h := newHarness(t, target, nil)
	for range 2 {
		if r := h.outcomes(t)["classic"]; r.Outcome != OutcomeAuthError {
			t.Fatalf("outcome %s (%v), want auth_error", r.Outcome, r.Err)
		} else if strings.Contains(r.Err.Error(), "wrong-secret-pw") {
			t.Errorf("error leaks the password: %v", r.Err)
		}
	}
	if strings.Contains(h.logs.String(), "wrong-secret-pw") {
		t.Errorf("logs leak the password:\n%s", h.logs)
	}
	if strings.Contains(h.metricsText(t), "wrong-secret-pw") {
		t.Error("metrics leak the password")
	}
}

func TestMemoryAlarmIsReportedBlockedThenRecovers(t *testing.T) {
	addVhost(t, "alarm")
	target := probeTarget("alarm", "alarm")
	target.Probes.QueueTypes = []string{"classic"}
	h := newHarness(t, target, nil)
	if r := h.outcomes(t)["classic"]; r.Outcome != OutcomeOK {
		t.Fatalf("before the alarm: %s %v", r.Outcome, r.Err)
	}
	if _, err := broker.Ctl("set_vm_memory_high_watermark", "0.000001"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Ctl("set_vm_memory_high_watermark", "0.4") })

	blocked := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !blocked; {
		blocked = h.outcomes(t)["classic"].Outcome == OutcomeBlocked
	}
	if !blocked {
		t.Fatal("no blocked outcome within 30s of the memory alarm")
	}
	if _, err := broker.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
		t.Fatal(err)
	}
	recovered := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !recovered; {
		recovered = h.outcomes(t)["classic"].Outcome == OutcomeOK
	}
	if !recovered {
		t.Fatal("probes did not recover within 30s of clearing the alarm")
	}
}

func TestProbeUserLimitedToProbePrefixWorks(t *testing.T) {
	addVhost(t, "limited")
	if err := broker.AddUser("warren-probe", "probe-pw"); err != nil {
		t.Fatal(err)
	}
	const prefix = `^warren\.probe\.`
	if err := broker.SetPermissions("limited", "warren-probe", prefix, prefix, prefix); err != nil {
		t.Fatal(err)
	}
	target := probeTarget("limited", "limited")
	target.Probes.Username, target.Probes.Password = "warren-probe", "probe-pw"
	h := newHarness(t, target, nil)
	for qt, r := range h.outcomes(t) {
		if r.Outcome != OutcomeOK {
			t.Errorf("%s with a prefix-limited user: %s %v", qt, r.Outcome, r.Err)
		}
	}
	var queues, exchanges []struct {
		Name string `json:"name"`
	}
	mgmt(t, http.MethodGet, "queues/limited", &queues)
	mgmt(t, http.MethodGet, "exchanges/limited", &exchanges)
	if len(queues) != 2 {
		t.Errorf("queues in the probe vhost: %v, want the classic and the quorum probe queue", queues)
	}
	for _, o := range append(queues, exchanges...) {
		if o.Name != "" && !strings.HasPrefix(o.Name, ObjectPrefix) && !strings.HasPrefix(o.Name, "amq.") {
			t.Errorf("warren declared %q outside %s", o.Name, ObjectPrefix)
		}
	}
}

func TestPerNodeProbesLabelTheNodeName(t *testing.T) {
	addVhost(t, "pernode")
	target := probeTarget("pernode", "pernode")
	target.Probes.PerNode = true
	target.Probes.QueueTypes = []string{"quorum"}
	// The test node is named warren-test-…@localhost: its host is where
	// the per-node address points, on the URL's port.
	h := newHarness(t, target, func() []string { return []string{broker.Name} })
	r := h.outcomes(t)["quorum"]
	if r.Outcome != OutcomeOK || r.Node != broker.Name {
		t.Fatalf("per-node probe: node %q outcome %s %v", r.Node, r.Outcome, r.Err)
	}
	// Operators see who it is: the management API lists the connections
	// by name once its statistics catch up.
	want := fmt.Sprintf("warren-probe/pernode/%s/publisher", broker.Name)
	var names []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var conns []struct {
			ClientProperties struct {
				ConnectionName string `json:"connection_name"`
			} `json:"client_properties"`
		}
		mgmt(t, http.MethodGet, "connections", &conns)
		names = names[:0]
		for _, c := range conns {
			names = append(names, c.ClientProperties.ConnectionName)
			if c.ClientProperties.ConnectionName == want {
				return
			}
		}
	}
	t.Errorf("no connection named %q in the management API; connections: %q", want, names)
}

// These last tests stop the shared broker; they run last and leave it up.

func TestBrokerDownGivesConnectionErrorsThenRecoversWithoutLeaks(t *testing.T) {
	addVhost(t, "restart")
	target := probeTarget("restart", "restart")
	const interval = 5 * time.Second
	target.Probes.Interval = config.Duration(interval)
	h := newHarness(t, target, nil)
	for qt, r := range h.outcomes(t) {
		if r.Outcome != OutcomeOK {
			t.Fatalf("%s before the restart: %s %v", qt, r.Outcome, r.Err)
		}
	}
	baseline := runtime.NumGoroutine()
	for cycle := range 2 {
		// A clean stop: after a kill -9 a single node's quorum queues took
		// more than 90s to accept consumers again here (RabbitMQ 3.10.8),
		// which the probes report faithfully but no test should wait for.
		if err := broker.Stop(); err != nil {
			t.Fatal(err)
		}
		for qt, r := range h.outcomes(t) {
			if r.Outcome != OutcomeConnectionError {
				t.Errorf("cycle %d, %s with the broker down: %s %v, want connection_error", cycle, qt, r.Outcome, r.Err)
			}
		}
		if err := broker.Restart(); err != nil {
			t.Fatal(err)
		}
		// Probes succeed again within two probe intervals of the broker
		// being back: rounds that start within that time, each bounded by
		// the timeout.
		back := time.Now()
		recovered := false
		var last map[string]Result
		for !recovered && time.Since(back) < 2*interval {
			round := time.Now()
			last = h.outcomes(t)
			recovered = last["classic"].Outcome == OutcomeOK && last["quorum"].Outcome == OutcomeOK
			time.Sleep(time.Until(round.Add(interval)))
		}
		if !recovered {
			t.Errorf("cycle %d: not recovered within two intervals (%v) of the restart; last round %+v", cycle, 2*interval, last)
		}
	}
	// Connections are re-established, not added: the goroutine count
	// settles back near the baseline.
	var now int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= baseline+2 {
			return
		}
	}
	t.Errorf("goroutines: %d before the restarts, %d after: a leak", baseline, now)
}

func TestShutdownDuringReconnectBackoffReturnsWithinASecond(t *testing.T) {
	target := probeTarget("shutdown", "")
	target.AMQPURL = config.Secret(strings.Replace(broker.AMQPURL, fmt.Sprint(broker.AMQPPort), "1", 1))
	target.Probes.Timeout = config.Duration(30 * time.Second)
	target.Probes.Interval = config.Duration(30 * time.Second)
	h := newHarness(t, target, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.prober.Run(ctx); close(done) }()
	time.Sleep(1500 * time.Millisecond) // a few failed dials: now inside a backoff
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run did not return within a second of the shutdown")
	}
}
