package alerts

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The shipped rules, their promtool unit tests and the runbook, relative to
// this package's directory (where go test runs).
const (
	shippedRulesFile     = "warren-alerts.yml"
	shippedRulesTestFile = "warren-alerts_test.yml"
	runbookPath          = "RUNBOOK.md"
	runbookURLBase       = "https://github.com/warrenhq/warren/blob/main/alerts/RUNBOOK.md#"
)

// sloBurnRateAlerts are raised for SLOs (by warren, or by the rules `warren
// rules` generates), not by warren-alerts.yml; the runbook covers them too.
var sloBurnRateAlerts = []string{"WarrenSLOBurnRatePage", "WarrenSLOBurnRateTicket"}

type shippedRuleFile struct {
	Groups []struct {
		Name  string        `yaml:"name"`
		Rules []shippedRule `yaml:"rules"`
	} `yaml:"groups"`
}

type shippedRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadShippedAlerts(t *testing.T) []shippedRule {
	t.Helper()
	data, err := os.ReadFile(shippedRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f shippedRuleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", shippedRulesFile, err)
	}
	var alerts []shippedRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatalf("%s holds no alerting rules", shippedRulesFile)
	}
	return alerts
}

func runPromtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not installed: run `make deps`")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err
}

func TestAlertRulesPassPromtoolCheckWithoutWarnings(t *testing.T) {
	out, err := runPromtool(t, "check", "rules", "--lint=all", "--lint-fatal", shippedRulesFile)
	if err != nil {
		t.Fatalf("promtool check rules failed (%v):\n%s", err, out)
	}
	if !strings.Contains(out, "SUCCESS") || strings.Contains(strings.ToLower(out), "warning") {
		t.Fatalf("promtool check rules is not clean:\n%s", out)
	}
}

func TestAlertRulesPassTheirPromtoolUnitTests(t *testing.T) {
	out, err := runPromtool(t, "test", "rules", shippedRulesTestFile)
	if err != nil {
		t.Fatalf("promtool test rules failed (%v):\n%s", err, out)
	}
}

// Every alert needs at least one unit test in which it is expected to
// fire; quiet cases alone would pass with a rule that never fires.
func TestEveryAlertHasAUnitTestWhereItFires(t *testing.T) {
	data, err := os.ReadFile(shippedRulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatalf("%s: %v", shippedRulesTestFile, err)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, r := range loadShippedAlerts(t) {
		if !fires[r.Alert] {
			t.Errorf("%s: no test in %s expects it to fire", r.Alert, shippedRulesTestFile)
		}
	}
}

func TestEveryAlertHasSeverityAnnotationsAndARunbookSection(t *testing.T) {
	anchors := runbookAnchors(t)
	seen := map[string]bool{}
	for _, r := range loadShippedAlerts(t) {
		if seen[r.Alert] {
			t.Errorf("%s: defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "page" && s != "ticket" {
			t.Errorf("%s: severity %q, want page or ticket", r.Alert, s)
		}
		if r.For == "" {
			t.Errorf("%s: no `for`: a single evaluation would fire it", r.Alert)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: annotation %s missing", r.Alert, a)
			}
		}
		want := runbookURLBase + strings.ToLower(r.Alert)
		if got := r.Annotations["runbook_url"]; got != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, want)
		}
		if !anchors[strings.ToLower(r.Alert)] {
			t.Errorf("%s: %s has no section `## %s`", r.Alert, runbookPath, r.Alert)
		}
	}
}

// The built-in health alerts are a contract shared with warren's
// in-process evaluation: same names, severities and `for`. The last two are
// raised by the Prometheus rules only.
func TestAlertRulesKeepTheHealthAlertContract(t *testing.T) {
	contract := map[string]struct{ severity, hold string }{
		"RabbitMQQueueNoConsumers":            {"page", "5m"},
		"RabbitMQQueueStalled":                {"page", "1m"},
		"RabbitMQQueueOldMessages":            {"ticket", "5m"},
		"RabbitMQDeadLetterInflow":            {"ticket", "1m"},
		"RabbitMQRedeliveryStorm":             {"ticket", "5m"},
		"RabbitMQRetryStorm":                  {"ticket", "5m"},
		"RabbitMQDelayQueueNotExpiring":       {"ticket", "5m"},
		"RabbitMQStreamConsumerFallingBehind": {"ticket", "5m"},
		"RabbitMQNodeAlarm":                   {"page", "1m"},
		"RabbitMQNodeDown":                    {"page", "1m"},
		"RabbitMQPartition":                   {"page", "1m"},
		"RabbitMQProbeFailing":                {"page", "2m"},
		"RabbitMQProbeLatencyHigh":            {"ticket", "10m"},
		"WarrenTargetDown":                    {"page", "2m"},
		"WarrenAbsent":                        {"page", "5m"},
		// Silent loss.
		"RabbitMQMessagesUnroutable":    {"ticket", "1m"},
		"RabbitMQQueueNearLengthLimit":  {"ticket", "5m"},
		"RabbitMQQueueDroppingMessages": {"ticket", "1m"},
		// Quorum-queue replication.
		"RabbitMQQuorumQueueUnderReplicated": {"ticket", "10m"},
		"RabbitMQQuorumQueueQuorumCritical":  {"page", "5m"},
		"RabbitMQQuorumLeadersImbalanced":    {"ticket", "30m"},
		// Processing; no `for`: what is left of the timeout is the warning.
		"RabbitMQConsumerTimeoutImminent": {"page", "0s"},
		// The audit.
		"RabbitMQAuditFinding": {"ticket", "10m"},
		// Outboxes.
		"WarrenOutboxStuck":        {"page", "2m"},
		"WarrenOutboxDatabaseDown": {"page", "2m"},
	}
	rules := loadShippedAlerts(t)
	for _, r := range rules {
		want, ok := contract[r.Alert]
		if !ok {
			t.Errorf("%s is not a contract alert: add it to the contract (and to warren's evaluation) or remove it", r.Alert)
			continue
		}
		if r.Labels["severity"] != want.severity || r.For != want.hold {
			t.Errorf("%s: severity %s for %s, the contract says %s for %s", r.Alert, r.Labels["severity"], r.For, want.severity, want.hold)
		}
		delete(contract, r.Alert)
	}
	for name := range contract {
		t.Errorf("%s: missing from %s", name, shippedRulesFile)
	}
}

func TestEveryRunbookSectionBelongsToAnAlert(t *testing.T) {
	known := map[string]bool{}
	for _, r := range loadShippedAlerts(t) {
		known[r.Alert] = true
	}
	for _, name := range sloBurnRateAlerts {
		known[name] = true
	}
	headings := runbookHeadings(t)
	for _, h := range headings {
		if !known[h] {
			t.Errorf("%s: section `## %s` names no alert of %s nor an SLO burn-rate alert", runbookPath, h, shippedRulesFile)
		}
	}
	for _, name := range sloBurnRateAlerts {
		if !slices.Contains(headings, name) {
			t.Errorf("%s: no section `## %s`", runbookPath, name)
		}
	}
}

// runbookHeadings returns the text of every `## ` heading outside code
// blocks.
func runbookHeadings(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var headings []string
	inCode := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode && strings.HasPrefix(line, "## ") {
			headings = append(headings, strings.TrimSpace(strings.TrimPrefix(line, "## ")))
		}
	}
	return headings
}

func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	for _, h := range runbookHeadings(t) {
		anchors[githubAnchor(h)] = true
	}
	return anchors
}

var notAnchorChars = regexp.MustCompile(`[^\p{L}\p{N} _-]`)

// githubAnchor is the fragment GitHub gives a Markdown heading: lower
// case, punctuation dropped, spaces turned into hyphens.
func githubAnchor(heading string) string {
	s := notAnchorChars.ReplaceAllString(strings.ToLower(heading), "")
	return strings.ReplaceAll(s, " ", "-")
}
