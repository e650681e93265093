package conditions

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
)

// auditedStates is one target whose latest audit has n findings of each
// check named.
func auditedStates(findings map[string]int) func() []*pipeline.TargetState {
	r := &audit.Report{Cluster: "prod"}
	for _, check := range catalog.AuditChecks {
		res := audit.Result{Check: check, Status: audit.Passed}
		for range findings[check] {
			res.Findings = append(res.Findings, audit.Finding{ID: "/orders"})
		}
		r.Results = append(r.Results, res)
	}
	st := &pipeline.TargetState{Cluster: "prod", Audit: &pipeline.AuditState{Report: r}}
	return func() []*pipeline.TargetState { return []*pipeline.TargetState{st} }
}

func TestOnlyTheChecksThatSaySoRaiseAnAuditTicket(t *testing.T) {
	states := auditedStates(map[string]int{
		catalog.CheckRejectsWithoutDLX: 2, catalog.CheckEndlessRetryCycle: 1,
		catalog.CheckAutoAckConsumers: 5, catalog.CheckUnroutableDrops: 3, catalog.CheckDeprecatedFeatures: 1,
	})
	cfg := &config.Config{}
	e := NewEvaluator(cfg, NewHealth(cfg.Alerting.Health, states), nil, "http://warren:9842", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := e.Evaluate(t0); len(got) != 0 {
		t.Fatalf("fired before its 10m: %v", got)
	}
	got := e.Evaluate(t0.Add(10 * time.Minute))
	var checks []string
	for _, a := range got {
		if a.Labels["alertname"] != catalog.AuditFinding || a.Labels["severity"] != "ticket" || a.Labels["cluster"] != "prod" {
			t.Errorf("alert %v", a.Labels)
		}
		checks = append(checks, a.Labels["check"])
	}
	if len(checks) != 2 || checks[0] != catalog.CheckEndlessRetryCycle || checks[1] != catalog.CheckRejectsWithoutDLX {
		t.Errorf("tickets for %v, want endless_retry_cycle and rejects_without_dead_letter_exchange only", checks)
	}
}

// The shipped Prometheus rule tickets the same checks as the agent.
func TestTheShippedAuditRuleSelectsTheChecksThatRaiseATicket(t *testing.T) {
	r, ok := shippedRules(t)[catalog.AuditFinding]
	if !ok {
		t.Fatalf("%s is not shipped", catalog.AuditFinding)
	}
	if want := `check=~"` + strings.Join(catalog.AuditTicketChecks, "|") + `"`; !strings.Contains(r.Expr, want) {
		t.Errorf("%s selects %q, want %s", r.Alert, r.Expr, want)
	}
}
