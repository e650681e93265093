// Package promrules turns the configured SLOs into Prometheus rules: per
// SLO, recording rules for the error ratio over every window (exact
// ratios of event increases, never averages of shorter ratios), the burn
// rates and the error budget left, and the same multiwindow
// multi-burn-rate page and ticket alerts the agent evaluates in process,
// with the same names, labels and thresholds.
//
// The rules read warren_slo_events_total, which warren exports for every
// SLO, so Prometheus and the agent count the very same events.
//
// Import rule: it imports slo, alerting/catalog and internal/config only,
// so `warren rules` links no broker or Alertmanager client.
package promrules

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/slo"
)

// Recorded metric names.
const (
	ErrorRatioMetric      = "warren_slo:error_ratio"
	BurnRateMetric        = "warren_slo:burn_rate"
	BudgetRemainingMetric = "warren_slo:error_budget_remaining:ratio"
)

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []Group `yaml:"groups"`
}

// Group is a rule group.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is a recording or an alerting rule.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Generate returns one rule group per SLO of cfg.
func Generate(cfg *config.Config) RuleFile {
	var f RuleFile
	for _, s := range cfg.SLOs {
		f.Groups = append(f.Groups, group(s))
	}
	return f
}

// windowOf pairs an export window's label with its scaled length.
type windowOf struct {
	label  string
	length string
}

func windows(o slo.Objective) []windowOf {
	var out []windowOf
	for _, w := range slo.ExportWindows() {
		out = append(out, windowOf{w.Label, slo.FormatDuration(o.Scale(w.Ref))})
	}
	return append(out, windowOf{"slo", slo.FormatDuration(o.Window)})
}

func group(s config.SLO) Group {
	o := s.Spec()
	sel := fmt.Sprintf(`slo=%q`, s.Name)
	budget := formatFloat(1 - o.Target)
	g := Group{Name: "warren-slo-" + s.Name}
	for _, w := range windows(o) {
		g.Rules = append(g.Rules, Rule{
			Record: ErrorRatioMetric,
			Expr: fmt.Sprintf("sum by (slo) (increase(warren_slo_events_total{%s,outcome=\"bad\"}[%s]))\n/\nsum by (slo) (increase(warren_slo_events_total{%s}[%s]))",
				sel, w.length, sel, w.length),
			Labels: map[string]string{"slo": s.Name, "window": w.label},
		})
	}
	for _, w := range windows(o) {
		g.Rules = append(g.Rules, Rule{
			Record: BurnRateMetric,
			Expr:   fmt.Sprintf("%s{%s,window=%q} / %s", ErrorRatioMetric, sel, w.label, budget),
			Labels: map[string]string{"slo": s.Name, "window": w.label},
		})
	}
	g.Rules = append(g.Rules, Rule{
		Record: BudgetRemainingMetric,
		Expr:   fmt.Sprintf("1 - %s{%s,window=\"slo\"} / %s", ErrorRatioMetric, sel, budget),
		// The slo label is what the expression yields already; spelling it
		// out keeps two SLOs' rules distinct for promtool's duplicate check.
		Labels: map[string]string{"slo": s.Name},
	})
	for _, sev := range []slo.Severity{slo.Page, slo.Ticket} {
		if r, ok := alertRule(s, o, sev); ok {
			g.Rules = append(g.Rules, r)
		}
	}
	return g
}

// alertRule is the tier's alert: any of its enabled rules burning over
// both windows with enough events in the long one, as slo.SLO.Evaluate
// decides it.
func alertRule(s config.SLO, o slo.Objective, sev slo.Severity) (Rule, bool) {
	sel := fmt.Sprintf(`slo=%q`, s.Name)
	var terms []string
	for _, r := range o.Rules() {
		if r.Severity != sev || !r.Enabled {
			continue
		}
		threshold := formatFloat(r.Factor * (1 - o.Target))
		term := fmt.Sprintf("(\n  %s{%s,window=%q} >= %s\n  and on (slo)\n  %s{%s,window=%q} >= %s\n",
			ErrorRatioMetric, sel, label(r.Long), threshold, ErrorRatioMetric, sel, label(r.Short), threshold)
		if min := o.EffectiveMinEvents(); min > 0 {
			term += fmt.Sprintf("  and on (slo)\n  sum by (slo) (increase(warren_slo_events_total{%s}[%s])) >= %s\n",
				sel, slo.FormatDuration(r.LongWindow), formatFloat(min))
		}
		terms = append(terms, term+")")
	}
	if len(terms) == 0 {
		return Rule{}, false
	}
	a := catalog.SLOAlert(s.AlertSpec(), sev)
	return Rule{
		Alert:       a.Labels["alertname"],
		Expr:        "max by (slo) (\n" + strings.Join(terms, "\nor\n") + "\n)",
		Labels:      withoutName(a.Labels),
		Annotations: a.Annotations,
	}, true
}

func withoutName(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	delete(out, "alertname")
	return out
}

// label returns the export window label of a rule's reference window
// (every rule window is an export window).
func label(ref time.Duration) string {
	for _, w := range slo.ExportWindows() {
		if w.Ref == ref {
			return w.Label
		}
	}
	panic("promrules: a rule window that is not an export window: " + ref.String())
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', 10, 64) }

// Marshal renders f as YAML, in the format Prometheus loads
// ("prometheus") or wrapped in a Kubernetes PrometheusRule
// ("prometheusrule").
func Marshal(f RuleFile, format string) ([]byte, error) {
	var doc any = f
	switch format {
	case "prometheus":
	case "prometheusrule":
		doc = map[string]any{
			"apiVersion": "monitoring.coreos.com/v1",
			"kind":       "PrometheusRule",
			"metadata":   map[string]any{"name": "warren-slos", "labels": map[string]string{"app.kubernetes.io/name": "warren"}},
			"spec":       f,
		}
	default:
		return nil, fmt.Errorf("unknown format %q: use prometheus or prometheusrule", format)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// AlertNames lists the alert names the rules of cfg can produce.
func AlertNames(cfg *config.Config) []string {
	names := map[string]bool{}
	for _, g := range Generate(cfg).Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names[r.Alert] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(names))
}
