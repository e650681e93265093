package config

import (
	"errors"
	"strings"
	"testing"
)

const auditTargetHead = "targets:\n  - name: prod\n    management_url: http://h:15672\n    username: u\n    password: p\n"

func TestTheAuditDefaultsToEveryFiveMinutes(t *testing.T) {
	cfg, err := Parse("warren.yml", []byte(auditTargetHead))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Audit.IsEnabled() || cfg.Audit.Interval.Std() != DefaultAuditInterval || len(cfg.Audit.Ignore) != 0 {
		t.Errorf("audit = %+v", cfg.Audit)
	}
	def, err := Default(func(string) string { return "" })
	if err != nil || def.Audit.Interval.Std() != DefaultAuditInterval {
		t.Errorf("the default configuration's audit = %+v, %v", def.Audit, err)
	}
}

func TestAnAuditIgnoreMatchesItsCheckTargetAndObject(t *testing.T) {
	cfg, err := Parse("warren.yml", []byte(auditTargetHead+`audit:
  enabled: false
  interval: 1h
  ignore:
    - check: auto_ack_consumers
      object: "metrics/.*"
      reason: metrics may be lost
    - check: heartbeats_disabled
      object: ".*"
      target: prod
      reason: the load balancer keeps connections alive
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Audit
	if a.IsEnabled() || a.Interval.Std().Hours() != 1 || len(a.Ignore) != 2 {
		t.Fatalf("audit = %+v", a)
	}
	ig := a.Ignore[0]
	if !ig.Matches("any", "auto_ack_consumers", "metrics/cpu") || ig.Matches("any", "auto_ack_consumers", "orders/metrics/cpu") || ig.Matches("any", "unbounded_prefetch", "metrics/cpu") {
		t.Error("an ignore matches its check and its anchored object regex, on every target")
	}
	if !a.Ignore[1].Matches("prod", "heartbeats_disabled", "x") || a.Ignore[1].Matches("staging", "heartbeats_disabled", "x") {
		t.Error("an ignore with a target matches that target only")
	}
}

func TestBadAuditSettingsAreErrorsNamingLineAndField(t *testing.T) {
	cases := map[string]struct {
		body, field, fragment string
		line                  int
	}{
		"interval too short": {"audit:\n  interval: 10s\n", "audit.interval", "at least 1m0s", 7},
		"unknown check":      {"audit:\n  ignore:\n    - check: confirms\n      object: x\n      reason: r\n", "audit.ignore[0].check", `"confirms" is not a check of the audit`, 8},
		"no object":          {"audit:\n  ignore:\n    - check: consumer_timeout\n      reason: r\n", "audit.ignore[0].object", "is required", 8},
		"no reason":          {"audit:\n  ignore:\n    - check: consumer_timeout\n      object: x\n", "audit.ignore[0].reason", "say why", 8},
		"unknown target":     {"audit:\n  ignore:\n    - check: consumer_timeout\n      object: x\n      target: nope\n      reason: r\n", "audit.ignore[0].target", `"nope" is not the name of a target`, 10},
		"bad regex":          {"audit:\n  ignore:\n    - check: consumer_timeout\n      object: \"(\"\n      reason: r\n", "audit.ignore[0].object", "invalid regular expression", 9},
		"unknown key":        {"audit:\n  every: 5m\n", "audit.every", `unknown field "every"`, 7},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("warren.yml", []byte(auditTargetHead+c.body))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v, want Errors", err)
			}
			for _, e := range es {
				if e.Line == c.line && e.Field == c.field && strings.Contains(e.Message, c.fragment) {
					return
				}
			}
			t.Errorf("want line %d, %s: …%s…; got %v", c.line, c.field, c.fragment, err)
		})
	}
}
