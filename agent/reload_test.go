package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/cmdtest"
	"github.com/warrenhq/warren/internal/testenv/loopback"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/pipeline"
)

var broker *rabbittest.Node

func TestMain(m *testing.M) {
	rabbittest.Main(m, rabbittest.Options{}, func(n *rabbittest.Node) { broker = n })
}

// configYAML is a configuration of the test broker under the given target
// names, with one SLO on the first at the given objective.
func configYAML(objective string, targets ...string) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, name := range targets {
		fmt.Fprintf(&b, "  - name: %s\n    management_url: %s\n    username: guest\n    password: guest\n    poll_interval: 200ms\n    probes: {enabled: false}\n", name, broker.MgmtURL)
	}
	fmt.Fprintf(&b, "slos:\n  - name: deliveries\n    target: %s\n    objective: %s\n    window: 1h\n    sli:\n      dead_letter_ratio: {queue: \".*\"}\n", targets[0], objective)
	return b.String()
}

// runningAgent is an agent serving on loopback, reloading from file.
type runningAgent struct {
	*Agent
	file, url string
}

func startAgent(t *testing.T, yaml string, lifecycle bool) *runningAgent {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "warren.yml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	addr := cmdtest.FreeAddr(t)
	listen := []string{addr}
	systemd := false
	opts := Options{
		Web:         &web.FlagConfig{WebListenAddresses: &listen, WebSystemdSocket: &systemd, WebConfigFile: new(string)},
		StoragePath: filepath.Join(dir, "data"), SaveInterval: time.Minute, ExternalURL: "http://" + addr,
		EnableLifecycle: lifecycle, Load: func() (*config.Config, error) { return config.Load(file) },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	r := &runningAgent{Agent: a, file: file, url: "http://" + addr}
	if err := loopback.WaitReady(r.url+"/-/ready", 30*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// rewrite replaces the configuration file and asks for a reload over
// HTTP; it returns the status code.
func (r *runningAgent) rewrite(t *testing.T, yaml string) int {
	t.Helper()
	if err := os.WriteFile(r.file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(r.url+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// metric returns the value of the series whose line starts with prefix
// in /metrics, and whether there is one.
func (r *runningAgent) metric(t *testing.T, prefix string) (string, bool) {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:], true
		}
	}
	return "", false
}

// pipelineOf is the pipeline in force of the target name, or nil.
func (r *runningAgent) pipelineOf(name string) *pipeline.Pipeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.targets[name]; t != nil {
		return t.pipeline
	}
	return nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReloadAddsAndRemovesTargetsKeepsUnchangedOnesAndRejectsABrokenFile(t *testing.T) {
	r := startAgent(t, configYAML("95%", "a"), true)
	a := r.pipelineOf("a")
	if err := r.engine.Add("deliveries", time.Now(), 9, 10); err != nil {
		t.Fatal(err)
	}
	eventually(t, "target a polled twice", func() bool { return a.State().Polled >= 2 })

	// Add a target and change the SLO's objective.
	if code := r.rewrite(t, configYAML("99%", "a", "b")); code != http.StatusOK {
		t.Fatalf("reload with a new target: %d", code)
	}
	eventually(t, "target b up", func() bool { v, _ := r.metric(t, `warren_target_up{cluster="b"}`); return v == "1" })
	if r.pipelineOf("a") != a {
		t.Error("an unchanged target got a new pipeline: its history is lost")
	}
	if polled := a.State().Polled; polled < 2 {
		t.Errorf("target a restarted counting its polls (%d)", polled)
	}
	slo, _ := r.engine.SLO("deliveries")
	if o := slo.Objective(); o.Target != 0.99 {
		t.Errorf("objective after the reload = %v, want 0.99", o.Target)
	}
	if w := slo.Window(time.Now(), time.Hour); w.Total < 10 {
		t.Errorf("the SLO's budget did not carry over: %v events, want at least 10", w.Total)
	}
	if v, _ := r.metric(t, "warren_config_last_reload_successful "); v != "1" {
		t.Errorf("warren_config_last_reload_successful = %q after a good reload", v)
	}
	ok1, _ := r.metric(t, "warren_config_last_reload_success_timestamp_seconds ")

	// A broken file is rejected; what ran keeps running.
	if code := r.rewrite(t, configYAML("99%", "a", "b")+"bogus_key: 1\n"); code != http.StatusInternalServerError {
		t.Fatalf("reload of a broken file: %d, want 500", code)
	}
	if v, _ := r.metric(t, "warren_config_last_reload_successful "); v != "0" {
		t.Errorf("warren_config_last_reload_successful = %q after a rejected reload, want 0", v)
	}
	polledB := r.pipelineOf("b").State().Polled
	eventually(t, "target b still polled", func() bool { return r.pipelineOf("b").State().Polled > polledB })

	// Fixed, and b removed: b stops and its series go.
	time.Sleep(10 * time.Millisecond) // a distinct success timestamp
	if code := r.rewrite(t, configYAML("99%", "a")); code != http.StatusOK {
		t.Fatalf("reload of the fixed file: %d", code)
	}
	if v, _ := r.metric(t, "warren_config_last_reload_successful "); v != "1" {
		t.Errorf("warren_config_last_reload_successful = %q after the fix", v)
	}
	if ok2, _ := r.metric(t, "warren_config_last_reload_success_timestamp_seconds "); ok2 == ok1 {
		t.Errorf("the success timestamp did not move: %s", ok2)
	}
	for _, series := range []string{`warren_target_up{cluster="b"}`, `warren_poll_errors_total{cluster="b"`, `warren_queue_info{cluster="b"`} {
		if _, ok := r.metric(t, series); ok {
			t.Errorf("%s is still exported after b was removed", series)
		}
	}
	if r.pipelineOf("a") != a {
		t.Error("target a got a new pipeline when b was removed")
	}
}

func TestReloadIsRefusedWithoutTheLifecycleFlag(t *testing.T) {
	r := startAgent(t, configYAML("95%", "a"), false)
	if code := r.rewrite(t, configYAML("95%", "a", "b")); code != http.StatusForbidden {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d, want 403", code)
	}
	if r.pipelineOf("b") != nil {
		t.Error("the configuration was reloaded anyway")
	}
}

func TestAChangedTargetGetsANewPipeline(t *testing.T) {
	r := startAgent(t, configYAML("95%", "a"), true)
	before := r.pipelineOf("a")
	changed := strings.Replace(configYAML("95%", "a"), "poll_interval: 200ms", "poll_interval: 300ms", 1)
	if code := r.rewrite(t, changed); code != http.StatusOK {
		t.Fatalf("reload: %d", code)
	}
	if r.pipelineOf("a") == before {
		t.Error("a target whose settings changed kept its old pipeline")
	}
	eventually(t, "the new pipeline polls", func() bool { return r.pipelineOf("a").State().Polled >= 1 })
}
