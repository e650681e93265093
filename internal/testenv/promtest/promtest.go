// Package promtest runs a private Prometheus server for tests, so that
// metric names, dashboard queries and alert rules are checked by the real
// thing scraping the real warren rather than by string comparisons.
//
// # Recipe
//
//	addr := ... // host:port of the warren under test
//	prom := promtest.Start(t, promtest.Options{
//		Targets:   []promtest.Scrape{{Address: addr}}, // job "warren"
//		RuleFiles: []string{"../alerts/warren-alerts.yml"},
//	})
//	prom.WaitForTargetsUp(t, 30*time.Second)
//	v, warnings, err := prom.Query(ctx, `warren_target_up`, time.Now())
//
// Start runs /usr/bin/prometheus (the Debian package, 2.42) as a child of
// the test process with:
//
//   - a free port on 127.0.0.1 for --web.listen-address (retried if another
//     process takes it between picking and binding);
//   - its own --storage.tsdb.path in a temporary directory;
//   - a generated prometheus.yml: global scrape and evaluation intervals
//     (1s unless set), one scrape job per distinct Scrape.Job (default
//     "warren"), the given rule_files, and an optional Alertmanager.
//
// It returns once GET /-/ready answers 200, or fails the test with the tail
// of Prometheus's log. The server is killed and its directory removed when
// the test ends (t.Cleanup), even if the test fails; on Linux it is also
// killed if the test binary itself dies (parent-death signal), so crashed
// runs leave no Prometheus behind.
//
// Outside a test (a demo, a tool), New does the same and returns an error
// instead; the caller Closes the server. Options.ListenAddress then picks
// a fixed address, such as 127.0.0.1:9090.
//
// A missing binary fails the test with "prometheus not installed: run `make
// deps`": tests never skip because a component is missing.
//
// Import rule: it imports internal/testenv/loopback only; only tests (and
// the demo tooling) import it.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/internal/testenv/loopback"
)

// DefaultBinary is where the Debian package installs Prometheus.
const DefaultBinary = "/usr/bin/prometheus"

// ReadyTimeout bounds how long Start and New wait for /-/ready.
var ReadyTimeout = 60 * time.Second

// Scrape is one address Prometheus scrapes.
type Scrape struct {
	Address     string // host:port
	Job         string // job label; Options.JobName when empty
	MetricsPath string // "/metrics" when empty
}

// Options configure a server. The zero value scrapes nothing.
type Options struct {
	// Targets to scrape. Targets sharing a job (and metrics path) are one
	// scrape config; every distinct job is its own.
	Targets []Scrape
	// JobName is the job of targets that name none; default "warren".
	JobName string
	// ScrapeInterval and EvaluationInterval default to 1s.
	ScrapeInterval     time.Duration
	EvaluationInterval time.Duration
	// RuleFiles are loaded as they are; relative paths are made absolute
	// against the test's working directory.
	RuleFiles []string
	// AlertmanagerURL, if set, is the one Alertmanager alerts are sent
	// to, e.g. "http://127.0.0.1:9093".
	AlertmanagerURL string
	// ExtraArgs are appended to the command line (e.g. feature flags).
	ExtraArgs []string
	// Binary defaults to DefaultBinary.
	Binary string
	// ListenAddress is host:port to serve on; by default a free port on
	// 127.0.0.1.
	ListenAddress string
}

// Prometheus is a running private server.
type Prometheus struct {
	url     string
	dir     string
	logPath string
	http    *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// ErrNotInstalled is the error when the Prometheus binary is missing.
var ErrNotInstalled = errors.New("prometheus not installed: run `make deps`")

// Start starts a server for t and waits until it is ready; see the package
// documentation. It fails t on any error, and stops the server and
// removes its directory when t ends.
func Start(t testing.TB, opts Options) *Prometheus {
	t.Helper()
	began := time.Now()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.Close)
	t.Logf("promtest: prometheus ready at %s in %v (dir %s)", p.url, time.Since(began).Round(100*time.Millisecond), p.dir)
	return p
}

// New starts a server outside a test (a demo, a tool) the same way, in a
// new temporary directory. The caller must Close it.
func New(opts Options) (*Prometheus, error) {
	binary := opts.Binary
	if binary == "" {
		binary = DefaultBinary
	}
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	config, err := configYAML(opts)
	if err != nil {
		return nil, fmt.Errorf("promtest: %w", err)
	}
	dir, err := os.MkdirTemp("", "warren-promtest-")
	if err != nil {
		return nil, fmt.Errorf("promtest: %w", err)
	}
	p := &Prometheus{dir: dir, logPath: filepath.Join(dir, "prometheus.log"), http: &http.Client{Timeout: 30 * time.Second}}
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, config, 0o644); err != nil {
		p.Close()
		return nil, fmt.Errorf("promtest: %w", err)
	}

	// A port picked as free can be taken by another process before
	// Prometheus binds it; that shows as an early exit, so try again.
	for attempt := 1; ; attempt++ {
		addr := opts.ListenAddress
		if addr == "" {
			port, err := loopback.FreePort()
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("promtest: %w", err)
			}
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		args := append([]string{
			"--config.file=" + configPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--log.level=info",
		}, opts.ExtraArgs...)
		if err := p.launch(binary, args); err != nil {
			p.Close()
			return nil, fmt.Errorf("promtest: start %s: %w", binary, err)
		}
		p.url = "http://" + addr
		err = p.waitReady(ReadyTimeout)
		if err == nil {
			return p, nil
		}
		p.Stop()
		if attempt < 3 && opts.ListenAddress == "" && strings.Contains(p.LogTail(20), "address already in use") {
			continue
		}
		err = fmt.Errorf("promtest: prometheus did not become ready: %w\n--- %s (last 40 lines) ---\n%s", err, p.logPath, p.LogTail(40))
		p.Close()
		return nil, err
	}
}

// scrapeConfig and friends are the parts of prometheus.yml promtest writes.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files,omitempty"`
	Alerting      *alerting      `yaml:"alerting,omitempty"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type alerting struct {
	Alertmanagers []alertmanagerConfig `yaml:"alertmanagers"`
}

type alertmanagerConfig struct {
	Scheme        string         `yaml:"scheme"`
	PathPrefix    string         `yaml:"path_prefix,omitempty"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type scrapeConfig struct {
	JobName       string         `yaml:"job_name"`
	MetricsPath   string         `yaml:"metrics_path"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type staticConfig struct {
	Targets []string `yaml:"targets"`
}

// configYAML renders prometheus.yml for opts.
func configYAML(opts Options) ([]byte, error) {
	var c promConfig
	c.Global.ScrapeInterval = model.Duration(orDefault(opts.ScrapeInterval, time.Second)).String()
	c.Global.EvaluationInterval = model.Duration(orDefault(opts.EvaluationInterval, time.Second)).String()
	for _, f := range opts.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		c.RuleFiles = append(c.RuleFiles, abs)
	}
	if opts.AlertmanagerURL != "" {
		u, err := url.Parse(opts.AlertmanagerURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("AlertmanagerURL %q: want http(s)://host:port[/prefix]", opts.AlertmanagerURL)
		}
		c.Alerting = &alerting{Alertmanagers: []alertmanagerConfig{{
			Scheme:        u.Scheme,
			PathPrefix:    strings.TrimSuffix(u.Path, "/"),
			StaticConfigs: []staticConfig{{Targets: []string{u.Host}}},
		}}}
	}
	defaultJob := opts.JobName
	if defaultJob == "" {
		defaultJob = "warren"
	}
	index := map[string]int{} // job name → position in ScrapeConfigs
	for _, tg := range opts.Targets {
		if _, _, err := net.SplitHostPort(tg.Address); err != nil {
			return nil, fmt.Errorf("target %q: want host:port: %v", tg.Address, err)
		}
		job := tg.Job
		if job == "" {
			job = defaultJob
		}
		path := tg.MetricsPath
		if path == "" {
			path = "/metrics"
		}
		i, ok := index[job]
		if !ok {
			i = len(c.ScrapeConfigs)
			index[job] = i
			c.ScrapeConfigs = append(c.ScrapeConfigs, scrapeConfig{JobName: job, MetricsPath: path, StaticConfigs: []staticConfig{{}}})
		}
		if c.ScrapeConfigs[i].MetricsPath != path {
			return nil, fmt.Errorf("job %q: targets with different metrics paths (%s, %s); give them different jobs", job, c.ScrapeConfigs[i].MetricsPath, path)
		}
		c.ScrapeConfigs[i].StaticConfigs[0].Targets = append(c.ScrapeConfigs[i].StaticConfigs[0].Targets, tg.Address)
	}
	if c.ScrapeConfigs == nil {
		c.ScrapeConfigs = []scrapeConfig{}
	}
	return yaml.Marshal(&c)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (p *Prometheus) launch(binary string, args []string) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Dir = p.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// waitReady waits for /-/ready to answer 200, the process to exit, or
// the timeout to pass.
func (p *Prometheus) waitReady(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	err := loopback.WaitReady(p.url+"/-/ready", timeout, done)
	if errors.Is(err, loopback.ErrExited) {
		return fmt.Errorf("prometheus exited during startup (%v)", p.cmd.ProcessState)
	}
	return err
}

// URL is the server's base URL, e.g. http://127.0.0.1:20345.
func (p *Prometheus) URL() string { return p.url }

// Dir is the server's directory: prometheus.yml, prometheus.log, data/.
func (p *Prometheus) Dir() string { return p.dir }

// Stop kills the server and waits for it to exit, keeping its directory
// (the log, the data) for a look. It is idempotent.
func (p *Prometheus) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		fmt.Fprintf(os.Stderr, "promtest: prometheus pid %d did not exit 30s after SIGKILL\n", p.cmd.Process.Pid)
	}
	p.cmd, p.done = nil, nil
}

// Close stops the server and removes its directory. It is idempotent; a
// test's cleanup calls it.
func (p *Prometheus) Close() {
	p.Stop()
	if err := os.RemoveAll(p.dir); err != nil {
		fmt.Fprintf(os.Stderr, "promtest: %v\n", err)
	}
}

// LogTail returns the last n lines Prometheus logged.
func (p *Prometheus) LogTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// MetricNames fetches a text exposition (a scrape target's /metrics) and
// returns the names of its samples: a histogram shows as its _bucket, _sum
// and _count names.
func MetricNames(ctx context.Context, metricsURL string) (map[string]bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, err
	}
	// Text format, so histograms show as _bucket/_sum/_count lines.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", metricsURL, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, line := range bytes.Split(body, []byte("\n")) {
		s := string(line)
		if strings.HasPrefix(s, "#") || strings.TrimSpace(s) == "" {
			continue
		}
		end := strings.IndexAny(s, "{ ")
		if end < 0 {
			continue
		}
		names[s[:end]] = true
	}
	return names, nil
}
