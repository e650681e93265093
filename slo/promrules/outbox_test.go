package promrules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenhq/warren/internal/config"
)

// An outbox SLO goes through the same rules as every other: `warren
// rules` reads the configuration without its secrets, so the outbox's
// DSN file need not exist where the rules are generated.
func TestOutboxSLOsGetTheSameRulesWithoutTheirDSN(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not installed: run `make deps`")
	}
	cfg, err := config.Parse("warren.yml", []byte(`targets:
  - {name: prod, management_url: "http://rabbit:15672", username: u, password_file: /nonexistent/pw}
outboxes:
  - {name: orders, dsn_file: /nonexistent/dsn, table: outbox, dispatched_at: dispatched_at}
slos:
  - name: orders-dispatched-5s
    objective: 99%
    sli: {outbox_dispatch: {outbox: orders, threshold: 5s}}
  - name: orders-processed-30s-from-commit
    objective: 95%
    sli: {time_in_queue: {queue: orders, threshold: 30s, outbox: orders}}
`), config.WithoutSecrets())
	if err != nil {
		t.Fatal(err)
	}
	rules := Generate(cfg)
	if len(rules.Groups) != 2 || rules.Groups[0].Name != "warren-slo-orders-dispatched-5s" {
		t.Fatalf("groups: %+v", rules.Groups)
	}
	var alerts []string
	for _, r := range rules.Groups[0].Rules {
		if r.Alert != "" {
			alerts = append(alerts, r.Alert+"/"+r.Labels["severity"])
			if !strings.Contains(r.Expr, `warren_slo:error_ratio{slo="orders-dispatched-5s"`) {
				t.Errorf("alert %s does not read the SLO's error ratios: %s", r.Alert, r.Expr)
			}
		}
	}
	if len(alerts) != 2 {
		t.Errorf("alerts %v, want a page and a ticket alert", alerts)
	}
	out, err := Marshal(rules, "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	os.WriteFile(path, out, 0o644)
	if res, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, res)
	}
}
