package promrules

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/slo"
)

// minute is one step of the recorded scenario: events per outcome.
type minute struct{ good, bad float64 }

// incidentScenario is eight hours of 100 events a minute: all good for
// six hours, then 40 minutes of 50% errors, then good again.
func incidentScenario() []minute {
	out := make([]minute, 8*60)
	for i := range out {
		out[i] = minute{good: 100}
		if i >= 360 && i < 400 {
			out[i] = minute{good: 50, bad: 50}
		}
	}
	return out
}

func testSLO() config.SLO {
	return config.SLO{
		Name: "orders", Target: "prod", Objective: 0.99, Window: config.Duration(slo.ReferenceWindow),
		SLI:    config.SLIConfig{ProbeSuccess: &config.ProbeSuccessSLI{}},
		Labels: map[string]string{"team": "orders"},
	}
}

// margin is how far, relatively, the burn rates of every rule window are
// from their factor at ev: near a threshold, Prometheus's extrapolating
// increase() and the engine's pro-rated buckets may honestly disagree.
func margin(ev slo.Evaluation) float64 {
	m := math.Inf(1)
	for _, tier := range []slo.TierStatus{ev.Page, ev.Ticket} {
		for _, r := range tier.Rules {
			for _, w := range []slo.WindowStat{r.Long, r.Short} {
				m = min(m, math.Abs(w.Burn-r.Factor)/r.Factor)
			}
		}
	}
	return m
}

// TestGeneratedRulesFireExactlyWhenTheAgentDoes replays one recorded
// incident through the agent's engine and, as input series, through
// promtool with the rules `warren rules` generates, and requires the same
// alerts (names, labels, annotations) at every evaluation time where no
// burn rate is within 10% of its threshold.
func TestGeneratedRulesFireExactlyWhenTheAgentDoes(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not installed: run `make deps`")
	}
	s := testSLO()
	engine, err := slo.NewEngine(s.Spec())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	scenario := incidentScenario()
	type expAlert struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	}
	type alertTest struct {
		EvalTime  string     `yaml:"eval_time"`
		Alertname string     `yaml:"alertname"`
		ExpAlerts []expAlert `yaml:"exp_alerts"`
	}
	var tests []alertTest
	firingChecks, quietChecks := 0, 0
	goodSeries, badSeries := []string{"0"}, []string{"0"}
	var good, bad float64
	for i, m := range scenario {
		// The events of minute i happen during it; Prometheus sees them in
		// the sample at its end, and the engine is evaluated then, as the
		// agent would be: never with events from its future.
		if err := engine.Add(s.Name, start.Add(time.Duration(i)*time.Minute+30*time.Second), m.good, m.good+m.bad); err != nil {
			t.Fatal(err)
		}
		good, bad = good+m.good, bad+m.bad
		goodSeries = append(goodSeries, formatFloat(good))
		badSeries = append(badSeries, formatFloat(bad))
		end := i + 1
		if end < 300 || end%5 != 0 {
			continue
		}
		ev := engine.Evaluate(start.Add(time.Duration(end) * time.Minute))[0]
		if margin(ev) < 0.10 {
			continue
		}
		for _, tier := range []slo.TierStatus{ev.Page, ev.Ticket} {
			a := catalog.SLOAlert(s.AlertSpec(), tier.Severity)
			test := alertTest{EvalTime: fmt.Sprintf("%dm", end), Alertname: a.Labels["alertname"]}
			if tier.Active {
				test.ExpAlerts = []expAlert{{ExpLabels: a.Labels, ExpAnnotations: a.Annotations}}
				firingChecks++
			} else {
				quietChecks++
			}
			tests = append(tests, test)
		}
	}
	if firingChecks < 5 || quietChecks < 5 {
		t.Fatalf("the scenario checks %d firing and %d quiet states; it should exercise both", firingChecks, quietChecks)
	}

	dir := t.TempDir()
	rules, err := Marshal(Generate(&config.Config{SLOs: []config.SLO{s}}), "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	unitTests := map[string]any{
		"rule_files":          []string{"rules.yml"},
		"evaluation_interval": "1m",
		"tests": []map[string]any{{
			"interval": "1m",
			"input_series": []map[string]string{
				{"series": `warren_slo_events_total{slo="orders",outcome="good"}`, "values": strings.Join(goodSeries, " ")},
				{"series": `warren_slo_events_total{slo="orders",outcome="bad"}`, "values": strings.Join(badSeries, " ")},
			},
			"alert_rule_test": tests,
		}},
	}
	data, err := yaml.Marshal(unitTests)
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(dir, "agreement_test.yml")
	if err := os.WriteFile(testFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", testFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool disagrees with the agent's engine (%d firing and %d quiet checks):\n%s", firingChecks, quietChecks, out)
	}
	t.Logf("promtool agrees with the engine on %d firing and %d quiet checks", firingChecks, quietChecks)
}

func TestGeneratedRulesPassPromtoolCheck(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not installed: run `make deps`")
	}
	s := testSLO()
	s.Window = config.Duration(28 * 24 * time.Hour)
	s.Alerting.Ticket.Slow = new(bool) // false: a single rule may be disabled
	second := testSLO()
	second.Name, second.Objective = "payments", 0.999
	cfg := &config.Config{SLOs: []config.SLO{s, second}}
	for _, format := range []string{"prometheus", "prometheusrule"} {
		out, err := Marshal(Generate(cfg), format)
		if err != nil {
			t.Fatal(err)
		}
		if format == "prometheusrule" {
			var wrapped struct {
				APIVersion string   `yaml:"apiVersion"`
				Kind       string   `yaml:"kind"`
				Spec       RuleFile `yaml:"spec"`
			}
			if err := yaml.Unmarshal(out, &wrapped); err != nil || wrapped.Kind != "PrometheusRule" || len(wrapped.Spec.Groups) != 2 {
				t.Fatalf("PrometheusRule: %v, %+v", err, wrapped)
			}
			if out, err = yaml.Marshal(wrapped.Spec); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(t.TempDir(), "rules.yml")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		// --lint=all (the default) also reports duplicate rules: two
		// SLOs' recording rules must stay distinct.
		if res, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal", path).CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check rules: %v\n%s", format, err, res)
		}
	}
	rules := Generate(cfg)
	if !strings.Contains(fmt.Sprint(rules.Groups[0].Rules), "ticket_fast") || strings.Contains(fmt.Sprint(rules.Groups[0].Rules), "ticket_slow") {
		t.Errorf("the disabled ticket_slow rule is in the ticket alert, or ticket_fast is missing")
	}
}
