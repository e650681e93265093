package config

import (
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"gopkg.in/yaml.v3"
)

// Audit configures the agent's audit of every target against the
// practices that keep messages safe (docs/audit.md), and the findings it
// must not report.
type Audit struct {
	// Enabled turns the agent's audit on (the default); `warren audit`
	// audits whatever it says.
	Enabled *bool `yaml:"enabled"`
	// Interval is how often the agent audits each target (default 5m, at
	// least MinAuditInterval): listing every channel and consumer is
	// expensive on a big broker.
	Interval Duration `yaml:"interval"`
	// Ignore removes the findings it matches from reports and metrics;
	// the report still shows them as ignored, with the reason.
	Ignore []AuditIgnore `yaml:"ignore"`
}

// AuditIgnore acknowledges findings: those of Check whose object matches
// Object (an anchored regular expression over the object's id, as the
// report spells it), on the target named Target or on every target.
type AuditIgnore struct {
	Check  string  `yaml:"check"`
	Object *Regexp `yaml:"object"`
	Target string  `yaml:"target"`
	Reason string  `yaml:"reason"`
}

// Matches reports whether the entry ignores check's finding on object id
// of cluster.
func (i AuditIgnore) Matches(cluster, check, id string) bool {
	return i.Check == check && (i.Target == "" || i.Target == cluster) && i.Object.MatchString(id)
}

// Audit defaults and bounds.
const (
	DefaultAuditInterval = 5 * time.Minute
	MinAuditInterval     = time.Minute
)

// IsEnabled reports whether the agent audits (enabled is unset or true).
func (a Audit) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

func (p *parser) validateAudit(root *yaml.Node, cfg *Config) {
	a := &cfg.Audit
	fail := func(format string, args []any, path ...any) {
		full := append([]any{"audit"}, path...)
		p.add(lineOf(root, full...), pathString(full), format, args...)
	}
	if a.Interval != 0 && a.Interval.Std() < MinAuditInterval {
		fail("must be at least %v: an audit lists every channel and consumer of the broker", []any{MinAuditInterval}, "interval")
	}
	for i, ig := range a.Ignore {
		switch {
		case ig.Check == "":
			fail("is required: one of %s", []any{strings.Join(catalog.AuditChecks, ", ")}, "ignore", i, "check")
		case !catalog.IsAuditCheck(ig.Check):
			fail("%q is not a check of the audit: use one of %s", []any{ig.Check, strings.Join(catalog.AuditChecks, ", ")}, "ignore", i, "check")
		}
		if ig.Object == nil {
			fail("is required: a regular expression of the ids to ignore (.* for every object of the check)", nil, "ignore", i, "object")
		}
		if strings.TrimSpace(ig.Reason) == "" {
			fail("is required: say why the finding is a deliberate exception", nil, "ignore", i, "reason")
		}
		if ig.Target != "" && !slices.ContainsFunc(cfg.Targets, func(t Target) bool { return t.Name == ig.Target }) {
			fail("%q is not the name of a target", []any{ig.Target}, "ignore", i, "target")
		}
	}
	a.applyDefaults()
}

func (a *Audit) applyDefaults() {
	if a.Interval == 0 {
		a.Interval = Duration(DefaultAuditInterval)
	}
}
