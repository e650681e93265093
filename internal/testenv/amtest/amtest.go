// Package amtest runs a private, real Alertmanager for tests and records the
// notifications it sends.
//
// # Recipe
//
// Start launches the Debian package's /usr/bin/prometheus-alertmanager as a
// child of the test process:
//
//   - on a free 127.0.0.1 port, with its own temporary --storage.path, so it
//     never meets the system Alertmanager on 9093 or another test's;
//   - with --cluster.listen-address= (empty), so it does not gossip and needs
//     no peers to settle before it answers;
//   - with a generated configuration whose single route sends every alert to
//     a webhook receiver the harness serves itself (an httptest server on
//     127.0.0.1), with send_resolved: true, short group_wait and
//     group_interval (1s by default) so notifications arrive within seconds,
//     and a long repeat_interval (1h by default) so every notification the
//     test sees is caused by a change, never by a repeat.
//
// Readiness is GET /-/ready answering 200 within ReadyTimeout; if it does not,
// the test fails with the tail of Alertmanager's log. Each received webhook
// payload is decoded into a Notification; Notifications and WaitFor read them.
// Alerts asks Alertmanager's API v2, through Alertmanager's own client
// library, which alerts it currently holds.
//
// Stop kills the process (an outage, not a graceful shutdown); Start brings
// it back on the same port with the same data directory and configuration,
// so a client configured with URL() reaches it again. Alertmanager keeps
// alerts only in memory: after a Stop it has forgotten them, which is what a
// client that queues through outages must cope with.
//
// The process is killed when the test ends (t.Cleanup) and, should the test
// binary itself die, by the kernel (Pdeathsig), so no run leaves an
// Alertmanager behind. A missing binary fails the test with
// "prometheus-alertmanager not installed: run `make deps`"; it never skips.
//
// Import rule: it imports internal/testenv/loopback only; only tests import
// it.
package amtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/warrenhq/warren/internal/testenv/loopback"
)

// Binary is the Alertmanager the harness runs (Debian package
// prometheus-alertmanager).
const Binary = "/usr/bin/prometheus-alertmanager"

// DefaultGroupBy is the grouping used when Options.GroupBy is empty: one
// group per alert name and per object warren alerts about.
var DefaultGroupBy = []string{"alertname", "cluster", "vhost", "queue", "slo"}

// Options configure the Alertmanager and its route. Zero values take the
// defaults noted.
type Options struct {
	GroupWait      time.Duration // default 1s
	GroupInterval  time.Duration // default 1s
	RepeatInterval time.Duration // default 1h
	GroupBy        []string      // default DefaultGroupBy
	ReadyTimeout   time.Duration // how long a start may take to become ready; default 30s
}

// Notification is one webhook payload Alertmanager sent (version 4 of the
// webhook format).
type Notification struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"` // "firing" or "resolved"
	GroupKey          string            `json:"groupKey"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	Alerts            []NotifiedAlert   `json:"alerts"`
}

// NotifiedAlert is one alert of a Notification.
type NotifiedAlert struct {
	Status       string            `json:"status"` // "firing" or "resolved"
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alertmanager is a private Alertmanager process and its webhook receiver.
type Alertmanager struct {
	t       testing.TB
	opts    Options
	dir     string // storage, config and log live here
	port    int
	webhook *httptest.Server

	mu            sync.Mutex
	cmd           *exec.Cmd
	exited        chan struct{} // closed when cmd has been waited for
	notifications []Notification
	arrived       chan struct{} // closed and replaced at each notification
}

// Start starts a private Alertmanager and registers its cleanup with t. It
// fails the test if the binary is missing or the process does not become
// ready within opts.ReadyTimeout.
func Start(t testing.TB, opts Options) *Alertmanager {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("prometheus-alertmanager not installed: run `make deps` (%v)", err)
	}
	if opts.GroupWait == 0 {
		opts.GroupWait = time.Second
	}
	if opts.GroupInterval == 0 {
		opts.GroupInterval = time.Second
	}
	if opts.RepeatInterval == 0 {
		opts.RepeatInterval = time.Hour
	}
	if len(opts.GroupBy) == 0 {
		opts.GroupBy = DefaultGroupBy
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	am := &Alertmanager{t: t, opts: opts, dir: t.TempDir(), arrived: make(chan struct{})}
	am.webhook = httptest.NewServer(http.HandlerFunc(am.receive))
	t.Cleanup(am.webhook.Close)
	t.Cleanup(am.Stop)
	if err := am.writeConfig(); err != nil {
		t.Fatalf("amtest: %v", err)
	}
	// A free port found by binding :0 can be taken by someone else before
	// Alertmanager binds it; a fresh port on a failed first start covers
	// that race.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if am.port, err = loopback.FreePort(); err != nil {
			t.Fatalf("amtest: %v", err)
		}
		if err = am.start(); err == nil {
			return am
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("amtest: %v", err)
	return nil
}

// URL is the base URL of the Alertmanager, e.g. http://127.0.0.1:40123.
func (am *Alertmanager) URL() string {
	return "http://127.0.0.1:" + strconv.Itoa(am.port)
}

// Start starts the Alertmanager again after Stop, on the same port with the
// same data directory. It fails the test if it does not become ready. Start
// on a running Alertmanager does nothing.
func (am *Alertmanager) Start() {
	am.t.Helper()
	if err := am.start(); err != nil {
		am.t.Fatalf("amtest: %v", err)
	}
}

// Stop kills the Alertmanager (SIGKILL) and waits for it to exit, freeing
// its port. Stop on a stopped Alertmanager does nothing.
func (am *Alertmanager) Stop() {
	am.mu.Lock()
	cmd, exited := am.cmd, am.exited
	am.cmd = nil
	am.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Notifications returns a copy of every notification received so far, in
// order of arrival.
func (am *Alertmanager) Notifications() []Notification {
	am.mu.Lock()
	defer am.mu.Unlock()
	return append([]Notification(nil), am.notifications...)
}

// WaitFor returns the first notification, received so far or arriving
// within timeout, for which match returns true. On timeout it fails the test,
// listing what did arrive.
func (am *Alertmanager) WaitFor(t testing.TB, timeout time.Duration, match func(Notification) bool) Notification {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		am.mu.Lock()
		received, arrived := am.notifications, am.arrived
		am.mu.Unlock()
		for ; seen < len(received); seen++ {
			if match(received[seen]) {
				return received[seen]
			}
		}
		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("amtest: no matching notification within %v; received %d:\n%s",
				timeout, len(received), describe(received))
			return Notification{}
		}
	}
}

// Alerts returns the alerts Alertmanager currently holds, from GET
// /api/v2/alerts.
func (am *Alertmanager) Alerts(ctx context.Context) ([]models.GettableAlert, error) {
	cfg := amclient.DefaultTransportConfig().
		WithHost("127.0.0.1:" + strconv.Itoa(am.port)).
		WithSchemes([]string{"http"})
	client := amclient.NewHTTPClientWithConfig(strfmt.Default, cfg)
	resp, err := client.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("amtest: GET /api/v2/alerts: %w", err)
	}
	out := make([]models.GettableAlert, 0, len(resp.Payload))
	for _, a := range resp.Payload {
		out = append(out, *a)
	}
	return out, nil
}

// receive is the webhook receiver.
func (am *Alertmanager) receive(w http.ResponseWriter, r *http.Request) {
	var n Notification
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		// Alertmanager logs the 400, and the test sees no notification.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	am.mu.Lock()
	am.notifications = append(am.notifications, n)
	close(am.arrived)
	am.arrived = make(chan struct{})
	am.mu.Unlock()
}

func (am *Alertmanager) writeConfig() error {
	quoted := make([]string, len(am.opts.GroupBy))
	for i, l := range am.opts.GroupBy {
		quoted[i] = strconv.Quote(l)
	}
	config := fmt.Sprintf(`route:
  receiver: harness
  group_by: [%s]
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
  - name: harness
    webhook_configs:
      - url: %s/
        send_resolved: true
`, strings.Join(quoted, ", "), modelDuration(am.opts.GroupWait), modelDuration(am.opts.GroupInterval),
		modelDuration(am.opts.RepeatInterval), am.webhook.URL)
	return os.WriteFile(filepath.Join(am.dir, "alertmanager.yml"), []byte(config), 0o644)
}

func (am *Alertmanager) logPath() string { return filepath.Join(am.dir, "alertmanager.log") }

// start launches the process and waits until it is ready, or returns an
// error carrying the log's tail.
func (am *Alertmanager) start() error {
	am.mu.Lock()
	if am.cmd != nil {
		am.mu.Unlock()
		return nil
	}
	logFile, err := os.OpenFile(am.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		am.mu.Unlock()
		return err
	}
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	cmd := exec.Command(Binary,
		"--config.file="+filepath.Join(am.dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(am.dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(am.port),
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	cmd.Dir = am.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: if the test binary dies without running its cleanups, the
	// kernel kills Alertmanager too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		am.mu.Unlock()
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	am.cmd, am.exited = cmd, exited
	am.mu.Unlock()

	if err := loopback.WaitReady(am.URL()+"/-/ready", am.opts.ReadyTimeout, exited); err != nil {
		am.Stop()
		return fmt.Errorf("alertmanager on port %d not ready: %w\n--- alertmanager log ---\n%s",
			am.port, err, am.logTail(logStart))
	}
	return nil
}

// logTail returns the end of what the current run wrote to the log.
func (am *Alertmanager) logTail(from int64) string {
	data, err := os.ReadFile(am.logPath())
	if err != nil {
		return err.Error()
	}
	if from <= int64(len(data)) {
		data = data[from:]
	}
	const max = 4000
	if len(data) > max {
		data = data[len(data)-max:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return string(data)
}

func describe(ns []Notification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "  %s %v:", n.Status, n.GroupLabels)
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, " [%s %v]", a.Status, a.Labels)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// modelDuration renders d the way Alertmanager's configuration parses
// durations (whole milliseconds and up, no fractions).
func modelDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
