package promtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// exporter serves a fixed exposition on 127.0.0.1.
func exporter(t *testing.T, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String()
}

// waitForValue queries expr until it returns one sample with value want.
func waitForValue(t *testing.T, p *Prometheus, expr string, want float64) model.Vector {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, _, err := p.Query(context.Background(), expr, time.Now())
		if err != nil {
			t.Fatalf("query %s: %v", expr, err)
		}
		if vec, ok := v.(model.Vector); ok && len(vec) == 1 && float64(vec[0].Value) == want {
			return vec
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %s: got %v, want one sample of value %v within 30s\nlog:\n%s", expr, v, want, p.LogTail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestStartScrapesEveryTargetUnderItsJobAndAnswersQueries(t *testing.T) {
	a := exporter(t, "promtest_answer 42\n")
	b := exporter(t, "promtest_answer 43\n")
	p := Start(t, Options{Targets: []Scrape{{Address: a}, {Address: b, Job: "other"}}})
	p.WaitForTargetsUp(t, 30*time.Second)

	vec := waitForValue(t, p, `promtest_answer{job="warren"}`, 42)
	if got := string(vec[0].Metric["instance"]); got != a {
		t.Errorf("instance label %q, want %q", got, a)
	}
	waitForValue(t, p, `promtest_answer{job="other"}`, 43)

	end := time.Now()
	v, _, err := p.QueryRange(context.Background(), `promtest_answer{job="warren"}`, end.Add(-5*time.Second), end, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := v.(model.Matrix); !ok || len(m) != 1 || len(m[0].Values) == 0 {
		t.Errorf("range query: got %v, want one series with samples", v)
	}
}

func TestCheckExprReturnsPrometheusOwnParseError(t *testing.T) {
	p := Start(t, Options{})
	err := p.CheckExpr(context.Background(), `sum(rate(x[5m])`)
	if !IsBadData(err) || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("CheckExpr of an unclosed paren: %v, want a bad_data parse error", err)
	}
	if err := p.CheckExpr(context.Background(), `histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m])))`); err != nil {
		t.Errorf("CheckExpr of a valid expression: %v", err)
	}
}

func TestRuleFilesAreEvaluatedAtTheEvaluationInterval(t *testing.T) {
	addr := exporter(t, "promtest_answer 42\n")
	rules := filepath.Join(t.TempDir(), "rules.yml")
	err := os.WriteFile(rules, []byte(`groups:
  - name: test
    rules:
      - record: job:promtest_answer:double
        expr: 2 * promtest_answer
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, Options{Targets: []Scrape{{Address: addr}}, RuleFiles: []string{rules}})
	waitForValue(t, p, `job:promtest_answer:double`, 84)
}

func TestGeneratedConfigPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not installed: run `make deps` (%v)", err)
	}
	cfg, err := configYAML(Options{
		Targets: []Scrape{
			{Address: "127.0.0.1:9842"},
			{Address: "127.0.0.1:9843"},
			{Address: "127.0.0.1:9100", Job: "node", MetricsPath: "/other"},
		},
		ScrapeInterval:  5 * time.Second,
		AlertmanagerURL: "http://127.0.0.1:9093/am/",
	})
	if err != nil {
		t.Fatal(err)
	}
	text := string(cfg)
	for _, want := range []string{
		"scrape_interval: 5s", "evaluation_interval: 1s",
		"job_name: warren", "- 127.0.0.1:9842\n", "- 127.0.0.1:9843\n",
		"job_name: node", "metrics_path: /other",
		"path_prefix: /am", "- 127.0.0.1:9093\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s\n%s", err, out, text)
	}
}

func TestConfigRejectsTargetsWithoutPortAndBadAlertmanagerURL(t *testing.T) {
	for name, opts := range map[string]Options{
		"target without port":       {Targets: []Scrape{{Address: "127.0.0.1"}}},
		"alertmanager without host": {AlertmanagerURL: "127.0.0.1:9093"},
		"one job, two paths":        {Targets: []Scrape{{Address: "h:1"}, {Address: "h:2", MetricsPath: "/x"}}},
	} {
		if _, err := configYAML(opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartFailsWithAnInstallHintWhenPrometheusIsMissing(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec, Options{Binary: filepath.Join(t.TempDir(), "no-prometheus-here")})
	}()
	<-done
	if !strings.Contains(rec.msg, "prometheus not installed: run `make deps`") {
		t.Errorf("Start with a missing binary failed with %q", rec.msg)
	}
}

func TestStopKillsTheServer(t *testing.T) {
	p := Start(t, Options{})
	p.Stop()
	if _, err := http.Get(p.URL() + "/-/ready"); err == nil {
		t.Errorf("%s still answers after Stop", p.URL())
	}
	p.Stop() // idempotent
}

func TestMetricNamesListsSampleNamesOfAnExposition(t *testing.T) {
	addr := exporter(t, `# HELP h A histogram.
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 1
h_sum 0.5
h_count 1
g{a="b c"} 2
plain 3
`)
	names, err := MetricNames(context.Background(), "http://"+addr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"h_bucket", "h_sum", "h_count", "g", "plain"} {
		if !names[want] {
			t.Errorf("names lack %q: %v", want, names)
		}
	}
	if len(names) != 5 {
		t.Errorf("names %v, want exactly 5", names)
	}
}

func TestNewServesOnTheGivenAddressUntilCloseRemovesEverything(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := New(Options{ListenAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.URL() != "http://"+addr {
		t.Errorf("URL %s, want http://%s", p.URL(), addr)
	}
	resp, err := http.Get(p.URL() + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/-/ready: %s", resp.Status)
	}
	p.Close()
	if _, err := os.Stat(p.Dir()); !os.IsNotExist(err) {
		t.Errorf("directory %s still there after Close (%v)", p.Dir(), err)
	}
	if _, err := http.Get(p.URL() + "/-/ready"); err == nil {
		t.Errorf("%s still answers after Close", p.URL())
	}
}
