package statusapi

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/warrenhq/warren/analysis/audit"
	"github.com/warrenhq/warren/pipeline"
)

// AuditSchemaVersion is the version of the audit report's JSON schema
// (docs/audit.md#the-json-report). A change that removes or renames a
// field, or changes its meaning, makes a new version; new fields do not.
const AuditSchemaVersion = 1

// AuditDocument is the report of `warren audit --format json`.
type AuditDocument struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	// MinSeverity is the least severity reported: checks below it are
	// left out.
	MinSeverity audit.Severity `json:"min_severity"`
	// Findings counts every target's findings at or above MinSeverity;
	// `warren audit` exits 1 unless it is 0.
	Findings int           `json:"findings"`
	Targets  []AuditTarget `json:"targets"`
}

// AuditTarget is one target's latest audit.
type AuditTarget struct {
	Target          string `json:"target"`
	RabbitMQVersion string `json:"rabbitmq_version,omitempty"`
	// AuditedAt is when the latest successful audit started; absent
	// before the first.
	AuditedAt       *time.Time `json:"audited_at,omitempty"`
	DurationSeconds float64    `json:"duration_seconds"`
	// WindowSeconds is what the counter-based checks call recent: the
	// time since the audit before, or 0 where there was none (then each
	// object's life).
	WindowSeconds float64 `json:"window_seconds"`
	// Error is why the latest audit failed; the checks are then those of
	// the audit before, if any.
	Error  string       `json:"error,omitempty"`
	Checks []AuditCheck `json:"checks"`
}

// AuditCheck is one check's result. FindingsTotal counts its findings;
// the status API lists at most its limit of them.
type AuditCheck struct {
	audit.Result
	FindingsTotal int `json:"findings_total"`
}

// NewAuditDocument is the report of the targets' audits, with the checks
// at or above min.
func NewAuditDocument(now time.Time, states []*pipeline.TargetState, min audit.Severity) AuditDocument {
	doc := AuditDocument{SchemaVersion: AuditSchemaVersion, GeneratedAt: now.UTC(), MinSeverity: min, Targets: []AuditTarget{}}
	for _, st := range states {
		t := auditTarget(st.Cluster, st.Audit, min, 0)
		for _, c := range t.Checks {
			doc.Findings += c.FindingsTotal
		}
		doc.Targets = append(doc.Targets, t)
	}
	return doc
}

// auditTarget is a target's audit, with the checks at or above min and
// at most limit findings each (0: all).
func auditTarget(cluster string, st *pipeline.AuditState, min audit.Severity, limit int) AuditTarget {
	out := AuditTarget{Target: cluster, Checks: []AuditCheck{}}
	if st == nil {
		return out
	}
	out.Error = st.LastError
	r := st.Report
	if r == nil {
		return out
	}
	at := r.Time.UTC()
	out.AuditedAt, out.RabbitMQVersion = &at, r.RabbitMQVersion
	out.DurationSeconds, out.WindowSeconds = st.Duration.Seconds(), r.Window.Seconds()
	for _, res := range r.Results {
		if res.Severity < min {
			continue
		}
		c := AuditCheck{Result: res, FindingsTotal: len(res.Findings)}
		if limit > 0 && len(c.Findings) > limit {
			c.Findings = c.Findings[:limit]
		}
		out.Checks = append(out.Checks, c)
	}
	return out
}

// RenderAudit writes doc as `warren audit` prints it: per target, the
// failed checks (most severe first), each with its objects, their
// evidence and the fix; then the checks that could not run and why; the
// checks that passed; and the findings that audit.ignore acknowledges.
func RenderAudit(w io.Writer, doc AuditDocument, colour bool) error {
	t := &table{tw: newTabWriter(w), colour: colour}
	for i, tg := range doc.Targets {
		if i > 0 {
			fmt.Fprintln(t.tw)
		}
		t.renderAuditTarget(tg)
	}
	fmt.Fprintf(t.tw, "\n%d finding(s) at or above %s\n", doc.Findings, doc.MinSeverity)
	return t.tw.Flush()
}

func (t *table) renderAuditTarget(tg AuditTarget) {
	if tg.AuditedAt == nil {
		fmt.Fprintf(t.tw, "AUDIT OF %s: no audit yet", tg.Target)
		if tg.Error != "" {
			fmt.Fprintf(t.tw, " (%s)", tg.Error)
		}
		fmt.Fprintln(t.tw)
		return
	}
	window := "counters over each object's life (no earlier audit)"
	if tg.WindowSeconds > 0 {
		window = "counters since the audit before, " + Ago(time.Duration(tg.WindowSeconds*float64(time.Second)))
	}
	fmt.Fprintf(t.tw, "AUDIT OF %s (RabbitMQ %s) at %s, took %.2fs; %s\n", tg.Target, tg.RabbitMQVersion, tg.AuditedAt.Format(time.RFC3339), tg.DurationSeconds, window)
	if tg.Error != "" {
		fmt.Fprintln(t.tw, t.paint(red, "the latest audit failed: "+tg.Error))
	}
	checks := slices.Clone(tg.Checks)
	slices.SortStableFunc(checks, func(a, b AuditCheck) int { return cmp.Compare(b.Severity, a.Severity) })
	var rest []AuditCheck
	for _, c := range checks {
		if c.Status == audit.Failed {
			t.failedCheck(c)
		} else {
			rest = append(rest, c)
		}
	}
	t.auditRest(checks, rest)
}

// auditRest writes, after the failed checks, the checks that could not
// run, every check's notes, the checks that passed and the ignored
// findings.
func (t *table) auditRest(checks, rest []AuditCheck) {
	var passed []string
	for _, c := range rest {
		if c.Status == audit.NotRun {
			fmt.Fprintf(t.tw, "%s %s: %s\n", t.paint(yellow, "NOT RUN"), c.Check, c.Reason)
		} else {
			passed = append(passed, c.Check)
		}
	}
	for _, c := range checks {
		for _, n := range c.Notes {
			fmt.Fprintf(t.tw, "note: %s: %s\n", c.Check, n)
		}
	}
	if len(passed) > 0 {
		fmt.Fprintf(t.tw, "%s %s\n", t.paint(green, "passed:"), strings.Join(passed, ", "))
	}
	for _, c := range checks {
		for _, ig := range c.Ignored {
			fmt.Fprintf(t.tw, "ignored: %s %s: %s\n", c.Check, ig.ID, ig.Reason)
		}
	}
}

func (t *table) failedCheck(c AuditCheck) {
	colour := yellow
	if c.Severity == audit.Critical {
		colour = red
	}
	fmt.Fprintf(t.tw, "\n%s %s: %s (%d)\n", t.paint(colour, strings.ToUpper(c.Severity.String())), c.Check, c.Title, c.FindingsTotal)
	for _, f := range c.Findings {
		fmt.Fprintf(t.tw, "  %s\t%s\n", f.ID, evidence(f.Evidence))
	}
	if n := c.FindingsTotal - len(c.Findings); n > 0 {
		fmt.Fprintf(t.tw, "  … and %d more\n", n)
	}
	fmt.Fprintf(t.tw, "  fix: %s\n", c.Fix)
}

// evidence writes a finding's field values as name=value, by name.
func evidence(ev map[string]any) string {
	names := make([]string, 0, len(ev))
	for n := range ev {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + evidenceValue(ev[n])
	}
	return strings.Join(parts, " ")
}

func evidenceValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		if x == "" || strings.ContainsAny(x, " \t") {
			return fmt.Sprintf("%q", x)
		}
		return x
	case []string:
		return "[" + strings.Join(x, ",") + "]"
	}
	return fmt.Sprint(v)
}

// audits writes, in `warren status`, each target's latest audit: its
// findings by check, the checks that could not run, and how long ago it
// ran.
func (t *table) audits(targets []TargetStatus, now time.Time) {
	var audited []AuditTarget
	for _, tg := range targets {
		if tg.Audit != nil {
			audited = append(audited, *tg.Audit)
		}
	}
	if len(audited) == 0 {
		return
	}
	fmt.Fprintln(t.tw, "AUDIT")
	t.line("CLUSTER", "SEVERITY", "CHECK", "OBJECT", "EVIDENCE")
	for _, a := range audited {
		if a.AuditedAt == nil {
			t.line(a.Target, "-", "no audit yet", "", a.Error)
			continue
		}
		rows := 0
		for _, c := range a.Checks {
			switch {
			case c.Status == audit.NotRun:
				t.line(a.Target, c.Severity.String(), c.Check, t.paint(yellow, "not run"), c.Reason)
				rows++
			case c.Status == audit.Failed:
				for _, f := range c.Findings {
					t.line(a.Target, c.Severity.String(), c.Check, f.ID, evidence(f.Evidence))
				}
				if n := c.FindingsTotal - len(c.Findings); n > 0 {
					t.line(a.Target, c.Severity.String(), c.Check, fmt.Sprintf("… %d more", n), "")
				}
				rows++
			}
		}
		if rows == 0 {
			t.line(a.Target, "-", "every check passed", "", "")
		}
		status := fmt.Sprintf("audited %s ago", Ago(now.Sub(*a.AuditedAt)))
		if a.Error != "" {
			status += "; the latest audit failed: " + a.Error
		}
		t.line(a.Target, "", "", "", t.paint(dim, status))
	}
	fmt.Fprintln(t.tw)
}
