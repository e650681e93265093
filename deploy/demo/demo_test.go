package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/internal/testenv/cmdtest"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// runCheck runs `demo.sh check` with the demo directory dir.
func runCheck(t *testing.T, warren, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command("./demo.sh", "check")
	cmd.Env = append(os.Environ(), "DEMO_DIR="+dir, "WARREN="+warren)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestDemoConfigurationsRenderAndPassWarrenPromtoolAndAmtool(t *testing.T) {
	warren := cmdtest.Build(t, "github.com/warrenhq/warren/cmd/warren")
	dir := filepath.Join(t.TempDir(), "demo")
	out, err := runCheck(t, warren, dir)
	if err != nil {
		t.Fatalf("demo.sh check: %v\n%s", err, out)
	}

	placeholder := regexp.MustCompile(`@[A-Z_]+@`)
	for _, f := range []string{"warren.yml", "prometheus.yml", "alertmanager.yml", "rabbitmq/rabbitmq.conf"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if left := placeholder.FindAllString(string(data), -1); len(left) > 0 {
			t.Errorf("%s still holds placeholders %v", f, left)
		}
	}

	// Prometheus must load both the shipped rules and the SLO rules.
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &prom); err != nil {
		t.Fatal(err)
	}
	if len(prom.RuleFiles) != 2 {
		t.Fatalf("prometheus.yml loads %v, want the shipped alerts and the SLO rules", prom.RuleFiles)
	}
	for _, f := range prom.RuleFiles {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("prometheus.yml loads %s: %v", f, err)
		}
	}
	rules, err := os.ReadFile(filepath.Join(dir, "warren-slo-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, slo := range []string{"orders-processed-10s", "probe-success", "orders-dead-letter-ratio"} {
		if !bytes.Contains(rules, []byte("slo: "+slo)) {
			t.Errorf("warren-slo-rules.yml has no alert for SLO %s", slo)
		}
	}
}

func TestDemoRefusesToDeleteADirectoryItDidNotMake(t *testing.T) {
	warren := cmdtest.Build(t, "github.com/warrenhq/warren/cmd/warren")
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious")
	if err := os.WriteFile(precious, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCheck(t, warren, dir)
	if err == nil {
		t.Fatalf("demo.sh check accepted %s, a directory it did not make:\n%s", dir, out)
	}
	if !strings.Contains(out, "was not made by the demo") {
		t.Errorf("demo.sh check failed without saying why:\n%s", out)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Errorf("the directory's file is gone: %v", err)
	}
}

// queueDepth reads a queue's message count from the management API.
func queueDepth(t *testing.T, node *rabbittest.Node, queue string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, node.MgmtURL+"/api/queues/%2F/"+queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET queue %s: %s", queue, resp.Status)
	}
	var q struct {
		Messages int `json:"messages"`
	}
	return q.Messages, json.NewDecoder(resp.Body).Decode(&q)
}

func TestWorkloadDeadLettersPoisonMessagesAndFallsBehindInItsSlowPhase(t *testing.T) {
	node := rabbittest.StartT(t, rabbittest.Options{})
	workload := cmdtest.Build(t, "github.com/warrenhq/warren/deploy/demo/workload")

	// 40 events/s against 4/s in the slow phase: the backlog grows by
	// about 36 a second once the short fast phase is over.
	logs := &logbuf.Buffer{}
	cmd := exec.Command(workload, "--amqp-url", node.AMQPURL, "--rate", "40", "--poison-every", "10",
		"--fast", "3s", "--slow", "10m", "--slow-delay", "250ms", "--report", "1h")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	waitFor := func(what string, ok func() (bool, error)) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		var lastErr error
		for {
			done, err := ok()
			if done {
				return
			}
			lastErr = err
			select {
			case err := <-exited:
				t.Fatalf("the workload exited (%v) while waiting for %s:\n%s", err, what, logs)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 90s (last error: %v); workload log:\n%s", what, lastErr, logs)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitFor("poison messages in orders.dlq", func() (bool, error) {
		n, err := queueDepth(t, node, "orders.dlq")
		return n >= 3, err
	})
	waitFor("slow phase logged", func() (bool, error) {
		return strings.Contains(logs.String(), "phase: slow"), nil
	})
	waitFor("backlog of 100 in orders", func() (bool, error) {
		n, err := queueDepth(t, node, "orders")
		return n >= 100, err
	})

	// SIGTERM is how demo.sh stops it: a clean exit, not an error.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the workload exited with %v after SIGTERM:\n%s", err, logs)
		}
		exited <- nil // for the cleanup
	case <-ctx.Done():
		t.Fatalf("the workload did not stop within 30s of SIGTERM:\n%s", logs)
	}
}
