package deploy

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "regenerate kubernetes/base/prometheusrule.yaml from alerts/warren-alerts.yml")

const (
	shippedRulesPath   = "../alerts/warren-alerts.yml"
	prometheusRulePath = "kubernetes/base/prometheusrule.yaml"
)

const prometheusRuleHeader = `# Code generated from alerts/warren-alerts.yml by ` + "`go generate ./deploy`" + `. DO NOT EDIT.
# The shipped alerting rules as a Prometheus Operator resource; the
# Prometheus resource's ruleSelector must match its labels.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: warren
  labels:
    app.kubernetes.io/name: warren
spec:
`

// renderPrometheusRule wraps the rule file's groups, from the top-level
// `groups:` key on, into a PrometheusRule's spec. It indents the text rather
// than re-encoding it, so the comments next to each expression survive.
func renderPrometheusRule(rules []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(rules), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "groups:") {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, errors.New("no top-level groups: key")
	}
	var out bytes.Buffer
	out.WriteString(prometheusRuleHeader)
	for _, l := range lines[start:] {
		if strings.TrimSpace(l) != "" {
			out.WriteString("  ")
		}
		out.WriteString(l)
	}
	return out.Bytes(), nil
}

func TestPrometheusRuleMatchesTheShippedAlertRules(t *testing.T) {
	rules, err := os.ReadFile(shippedRulesPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := renderPrometheusRule(rules)
	if err != nil {
		t.Fatalf("%s: %v", shippedRulesPath, err)
	}
	if *update {
		if err := os.WriteFile(prometheusRulePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with %s: run `go generate ./deploy`", prometheusRulePath, shippedRulesPath)
	}

	// The text transformation must keep the rules themselves identical.
	var ruleFile struct {
		Groups any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &ruleFile); err != nil {
		t.Fatalf("%s: %v", shippedRulesPath, err)
	}
	var resource struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(got, &resource); err != nil {
		t.Fatalf("%s: %v", prometheusRulePath, err)
	}
	if resource.APIVersion != "monitoring.coreos.com/v1" || resource.Kind != "PrometheusRule" {
		t.Errorf("%s is a %s %s", prometheusRulePath, resource.APIVersion, resource.Kind)
	}
	if ruleFile.Groups == nil || !reflect.DeepEqual(resource.Spec.Groups, ruleFile.Groups) {
		t.Errorf("spec.groups of %s differ from the groups of %s", prometheusRulePath, shippedRulesPath)
	}
}
